//! The text layers and the public training step through the model API: values against plain
//! loops, masks passed and consumed by Keras' rules, and the mistakes a user can make.

use anyhow::Result;
use std::cell::RefCell;
use std::rc::Rc;
use wgtrain::cpu::CpuBackend;
use wgtrain::graph::{DType, NodeId, Shape};
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Add, Array, AveragePooling1D, BuildCtx, CallCtx, Callback, CompileConfig, Concatenate, Control,
    Dense, Dropout, Embedding, FitConfig, GlobalAveragePooling1D, GlobalMaxPooling1D, Initializer,
    Input, Lambda, Layer, LayerExt, Logs, MaxPooling1D, Maximum, Minimum, Model, Multiply,
    Optimizer, Padding, Sequential, Subtract, Weight,
};
use wgtrain::nn::{Average, Conv1D, Loss};

fn compiled(mut m: Model) -> Model {
    m.compile_on(
        CompileConfig::new(Optimizer::adam(), Loss::BinaryCrossentropy),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    m
}

fn predict1(m: &mut Model, x: &Array) -> Vec<f32> {
    m.predict(&[x], 16).unwrap()[0].f32s().unwrap().to_vec()
}

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

fn ramp(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * scale)
        .collect()
}

#[test]
fn embedding_rows_and_the_masked_mean_match_plain_loops() {
    let ids = Input::typed([5], DType::I32);
    let emb = Embedding::new(7, 3).mask_zero(true).shared();
    let e = emb.apply(&ids).unwrap();
    assert!(e.has_mask(), "mask_zero attaches a mask");
    let dropped = Dropout::new(0.5).apply(&e).unwrap();
    assert!(dropped.has_mask(), "Dropout passes the mask on");
    let pooled = GlobalAveragePooling1D::new().apply(&dropped).unwrap();
    assert!(!pooled.has_mask(), "pooling consumes the mask");
    let mut m = compiled(Model::new(&[&ids], &[&pooled, &e]).unwrap());
    let table = m.get_weights().unwrap()[0].f32s().unwrap().to_vec();
    let x = Array::from_i32([2, 5], vec![0, 0, 3, 6, 1, 2, 2, 0, 5, 4]).unwrap();
    let out = m.predict(&[&x], 8).unwrap();
    let rows = out[1].f32s().unwrap();
    for (p, &id) in x.i32s().unwrap().iter().enumerate() {
        close(
            &rows[p * 3..p * 3 + 3],
            &table[id as usize * 3..id as usize * 3 + 3],
            "row",
        );
    }
    let mut want = Vec::new();
    for sample in x.i32s().unwrap().chunks(5) {
        let kept: Vec<i32> = sample.iter().copied().filter(|&i| i != 0).collect();
        for c in 0..3 {
            let s: f32 = kept.iter().map(|&i| table[i as usize * 3 + c]).sum();
            want.push(s / kept.len() as f32);
        }
    }
    close(out[0].f32s().unwrap(), &want, "masked mean");
}

#[test]
fn a_layer_without_masking_drops_the_mask() {
    let ids = Input::typed([6], DType::I32);
    let e = Embedding::new(5, 4).mask_zero(true).apply(&ids).unwrap();
    let c = Conv1D::new(2, 3).apply(&e).unwrap();
    assert!(!c.has_mask());
    let d = Dense::new(2).apply(&e).unwrap();
    assert!(d.has_mask(), "Dense supports masking in Keras 3");
}

#[test]
fn token_ids_outside_the_table_are_an_error_naming_the_layer() {
    let ids = Input::typed([4], DType::I32);
    let e = Embedding::new(10, 2).named("words").apply(&ids).unwrap();
    let out = GlobalMaxPooling1D::new().apply(&e).unwrap();
    let mut m = compiled(Model::new(&[&ids], &[&out]).unwrap());
    let x = Array::from_i32([2, 4], vec![1, 2, 3, 4, 5, 6, 10, 8]).unwrap();
    let err = format!("{:#}", m.predict(&[&x], 2).expect_err("id 10 is rejected"));
    assert!(
        err.contains("10") && err.contains("words") && err.contains("input_dim 10"),
        "{err}"
    );
    let neg = Array::from_i32([1, 4], vec![1, -1, 0, 0]).unwrap();
    assert!(m.predict(&[&neg], 2).is_err());
    let floats = Array::new([1, 4], vec![1.0; 4]).unwrap();
    let err = format!("{:#}", m.predict(&[&floats], 2).err().unwrap());
    assert!(err.contains("int32"), "{err}");
}

#[test]
fn an_embedding_fed_floats_fails_at_build() {
    let x = Input::new([4]);
    let err = format!("{:#}", Embedding::new(10, 2).apply(&x).err().unwrap());
    assert!(
        err.contains("int32") && err.contains("Input::typed"),
        "{err}"
    );
}

#[test]
fn zero_sized_layers_fail_at_build() {
    let x = Input::new([4]);
    let err = format!("{:#}", Dense::new(0).apply(&x).err().unwrap());
    assert!(err.contains("empty dimension"), "{err}");
}

/// A pooling window: `k` steps every `s`, `same` or valid padding, max or mean.
#[derive(Clone, Copy)]
struct Window {
    k: usize,
    s: usize,
    same: bool,
    max: bool,
}

/// max or mean over the windows of `x` ([n, l, c]), with padding excluded.
fn naive_pool(x: &[f32], (n, l, c): (usize, usize, usize), w: Window) -> Vec<f32> {
    let Window { k, s, same, max } = w;
    let out = if same { l.div_ceil(s) } else { (l - k) / s + 1 };
    let total = if same {
        ((out - 1) * s + k).saturating_sub(l)
    } else {
        0
    };
    let left = total / 2;
    let mut y = Vec::new();
    for b in 0..n {
        for t in 0..out {
            for ch in 0..c {
                let vals: Vec<f32> = (0..k)
                    .filter_map(|j| (t * s + j).checked_sub(left).filter(|&p| p < l))
                    .map(|p| x[(b * l + p) * c + ch])
                    .collect();
                y.push(if max {
                    vals.iter().copied().fold(f32::MIN, f32::max)
                } else {
                    vals.iter().sum::<f32>() / vals.len() as f32
                });
            }
        }
    }
    y
}

#[test]
fn windowed_pooling_matches_plain_loops() {
    let (n, l, c) = (2, 11, 3);
    let data = ramp(n * l * c, 0.1);
    for (k, s, same) in [
        (2, 2, false),
        (3, 2, false),
        (3, 1, true),
        (4, 3, true),
        (5, 5, false),
    ] {
        for max in [true, false] {
            let x = Input::new([l, c]);
            let padding = if same { Padding::Same } else { Padding::Valid };
            let y = if max {
                MaxPooling1D::new(k).strides(s).padding(padding).apply(&x)
            } else {
                AveragePooling1D::new(k)
                    .strides(s)
                    .padding(padding)
                    .apply(&x)
            }
            .unwrap();
            let mut m = compiled(Model::new(&[&x], &[&y]).unwrap());
            let got = predict1(&mut m, &Array::new([n, l, c], data.clone()).unwrap());
            let want = naive_pool(&data, (n, l, c), Window { k, s, same, max });
            close(
                &got,
                &want,
                &format!("pool k{k} s{s} same {same} max {max}"),
            );
        }
    }
}

#[test]
fn merge_layers_combine_their_inputs() {
    let a = Input::new([4]);
    let b = Input::new([4]);
    let outs = [
        Add::new().apply_many(&[&a, &b]).unwrap(),
        Subtract::new().apply_many(&[&a, &b]).unwrap(),
        Multiply::new().apply_many(&[&a, &b]).unwrap(),
        Average::new().apply_many(&[&a, &b]).unwrap(),
        Maximum::new().apply_many(&[&a, &b]).unwrap(),
        Minimum::new().apply_many(&[&a, &b]).unwrap(),
        Concatenate::new().apply_many(&[&a, &b]).unwrap(),
    ];
    let outs: Vec<_> = outs.into_iter().map(|mut v| v.remove(0)).collect();
    let refs: Vec<&_> = outs.iter().collect();
    let mut m = compiled(Model::new(&[&a, &b], &refs).unwrap());
    let xa = vec![1.0, -2.0, 3.0, 0.5];
    let xb = vec![2.0, 1.0, -1.0, 0.5];
    let got = m
        .predict(
            &[
                &Array::new([1, 4], xa.clone()).unwrap(),
                &Array::new([1, 4], xb.clone()).unwrap(),
            ],
            1,
        )
        .unwrap();
    let zip = |f: fn(f32, f32) -> f32| -> Vec<f32> {
        xa.iter().zip(&xb).map(|(a, b)| f(*a, *b)).collect()
    };
    close(got[0].f32s().unwrap(), &zip(|a, b| a + b), "add");
    close(got[1].f32s().unwrap(), &zip(|a, b| a - b), "subtract");
    close(got[2].f32s().unwrap(), &zip(|a, b| a * b), "multiply");
    close(
        got[3].f32s().unwrap(),
        &zip(|a, b| (a + b) / 2.0),
        "average",
    );
    close(got[4].f32s().unwrap(), &zip(f32::max), "maximum");
    close(got[5].f32s().unwrap(), &zip(f32::min), "minimum");
    let cat: Vec<f32> = xa.iter().chain(&xb).copied().collect();
    close(got[6].f32s().unwrap(), &cat, "concatenate");
}

#[test]
fn a_lambda_builds_the_explicit_mask_of_workload_1() {
    let ids = Input::typed([5], DType::I32);
    let mask = Lambda::new(|g, x| {
        let f = g.cast(x, DType::F32)?;
        let m = g.step(f)?;
        let s = g.shape(m).clone();
        Ok(g.reshape(m, [s.0[0], s.0[1], 1])?)
    })
    .apply(&ids)
    .unwrap();
    assert_eq!(mask.shape(), &Shape::new(&[5, 1]));
    let mut m = compiled(Model::new(&[&ids], &[&mask]).unwrap());
    let x = Array::from_i32([1, 5], vec![0, 4, 0, 9, 1]).unwrap();
    assert_eq!(
        m.predict(&[&x], 1).unwrap()[0].f32s().unwrap(),
        &[0.0, 1.0, 0.0, 1.0, 1.0]
    );
}

fn small_classifier() -> Model {
    wgtrain::nn::set_random_seed(3);
    let mut s = Sequential::new([3]);
    s.add(Dense::new(4).activation(ActivationKind::Relu))
        .unwrap();
    s.add(Dense::new(1).activation(ActivationKind::Sigmoid))
        .unwrap();
    compiled(s.build().unwrap())
}

fn toy_data(n: usize) -> (Array, Array) {
    let x = ramp(n * 3, 0.02);
    let y: Vec<f32> = x.chunks(3).map(|r| f32::from(r[0] + r[1] > 0.0)).collect();
    (
        Array::new([n, 3], x).unwrap(),
        Array::new([n, 1], y).unwrap(),
    )
}

#[test]
fn train_on_batch_reports_the_batch_before_its_update() {
    let (x, y) = toy_data(16);
    let mut m = small_classifier();
    let before = m.test_on_batch(&[&x], &[&y]).unwrap();
    let stepped = m.train_on_batch(&[&x], &[&y]).unwrap();
    assert_eq!(stepped[0].0, "loss");
    assert!(
        (stepped[0].1 - before[0].1).abs() < 1e-6,
        "{stepped:?} vs {before:?}"
    );
    let after = m.test_on_batch(&[&x], &[&y]).unwrap();
    assert!(
        after[0].1 < before[0].1,
        "one Adam step lowers the batch loss"
    );
    let eval = m.evaluate(&[&x], &[&y], 16).unwrap();
    assert!((eval[0].1 - after[0].1).abs() < 1e-6);
    let p = m.predict_on_batch(&[&x]).unwrap();
    assert_eq!(
        p[0].f32s().unwrap(),
        m.predict(&[&x], 5).unwrap()[0].f32s().unwrap()
    );
}

#[test]
fn get_and_set_weights_round_trip_and_check_shapes() {
    let mut a = small_classifier();
    let mut b = small_classifier();
    let (x, y) = toy_data(8);
    a.train_on_batch(&[&x], &[&y]).unwrap();
    let w = a.get_weights().unwrap();
    assert_eq!(w.len(), 4);
    b.set_weights(&w).unwrap();
    assert_eq!(a.predict(&[&x], 8).unwrap(), b.predict(&[&x], 8).unwrap());
    let err = format!("{:#}", b.set_weights(&w[..3]).err().unwrap());
    assert!(
        err.contains("3 arrays") && err.contains("4 weights"),
        "{err}"
    );
    let mut wrong = w.clone();
    wrong[0] = Array::new([2, 4], vec![0.0; 8]).unwrap();
    assert!(b.set_weights(&wrong).is_err());
}

/// Stops after two epochs and halves the learning rate at each epoch's end.
struct Recorder {
    events: Rc<RefCell<Vec<String>>>,
}

impl Callback for Recorder {
    fn on_train_begin(&mut self, _: &mut Control) -> Result<()> {
        self.events.borrow_mut().push("train_begin".into());
        Ok(())
    }
    fn on_epoch_begin(&mut self, epoch: usize, _: &mut Control) -> Result<()> {
        self.events
            .borrow_mut()
            .push(format!("epoch_begin {epoch}"));
        Ok(())
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, _: &mut Control) -> Result<()> {
        assert_eq!(logs[0].0, "loss");
        self.events.borrow_mut().push(format!("batch_end {batch}"));
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctl: &mut Control) -> Result<()> {
        let lr = ctl.learning_rate()?;
        ctl.set_learning_rate(lr / 2.0)?;
        logs.push(("learning_rate".into(), lr));
        self.events.borrow_mut().push(format!("epoch_end {epoch}"));
        if epoch == 1 {
            ctl.stop_training();
        }
        Ok(())
    }
    fn on_train_end(&mut self, _: &Logs, _: &mut Control) -> Result<()> {
        self.events.borrow_mut().push("train_end".into());
        Ok(())
    }
}

#[test]
fn callbacks_see_every_hook_and_can_stop_and_change_the_learning_rate() {
    let (x, y) = toy_data(20);
    let mut m = small_classifier();
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut rec = Recorder {
        events: events.clone(),
    };
    let cfg = FitConfig {
        epochs: 5,
        batch_size: 10,
        verbose: Verbosity::Silent,
        ..Default::default()
    };
    let h = m
        .fit_with_callbacks(&[&x], &[&y], &cfg, &mut [&mut rec])
        .unwrap();
    assert_eq!(h.history["loss"].len(), 2, "stopped after two epochs");
    assert_eq!(h.history["learning_rate"], vec![1e-3, 5e-4]);
    let e = events.borrow();
    assert_eq!(
        e.as_slice(),
        [
            "train_begin",
            "epoch_begin 0",
            "batch_end 0",
            "batch_end 1",
            "epoch_end 0",
            "epoch_begin 1",
            "batch_end 0",
            "batch_end 1",
            "epoch_end 1",
            "train_end",
        ]
    );
}

/// Counts its training steps in a non-trainable weight updated by an assign.
struct StepCounter {
    count: Option<Weight>,
}

impl Layer for StepCounter {
    fn class_name(&self) -> &str {
        "StepCounter"
    }
    fn build(&mut self, _: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        self.count = Some(ctx.add_non_trainable_weight("count", [1], Initializer::Zeros));
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let w = self.count.as_ref().unwrap();
        let c = ctx.weight(w);
        let next = ctx.graph.add_scalar(c, 1.0)?;
        ctx.assign(w, next);
        Ok(vec![inputs[0]])
    }
}

#[test]
fn non_trainable_weights_take_assigned_state_after_each_step() {
    wgtrain::nn::set_random_seed(5);
    let x = Input::new([3]);
    let h = StepCounter { count: None }.apply(&x).unwrap();
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&h)
        .unwrap();
    let mut m = compiled(Model::new(&[&x], &[&out]).unwrap());
    assert_eq!(m.count_params(), 5);
    assert_eq!(m.count_trainable_params(), 4);
    assert!(m.summary_text().contains("Non-trainable params: 1"));
    let (xs, ys) = toy_data(6);
    for _ in 0..3 {
        m.train_on_batch(&[&xs], &[&ys]).unwrap();
    }
    m.evaluate(&[&xs], &[&ys], 6).unwrap();
    assert_eq!(m.get_weights().unwrap()[0].f32s().unwrap(), &[3.0]);
}
