//! Recurrent layers beyond the Keras step references: a training step's dispatches do not grow
//! with the sequence, Keras' rule at masked steps on left- and right-padded sequences, initial
//! and returned states, the hand-written training loop, model files, and the errors a wrong
//! model gets when it is built.

mod harness;

use wgtrain::cpu::CpuBackend;
use wgtrain::graph::{Backend, DType, NodeId, Shape};
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, Bidirectional, BuildCtx, CallCtx, CompileConfig, Dense, Embedding, Input, Layer,
    LayerExt, Loss, Masking, MergeMode, Model, Optimizer, Recurrent, SimpleRNN, Tensor, GRU, LSTM,
};

fn ids(rows: usize, steps: usize, seed: usize) -> Array {
    let v = (0..rows * steps)
        .map(|i| ((i * 7919 + seed * 104_729) % 97) as i32 + 1)
        .collect();
    Array::from_i32([rows, steps], v).unwrap()
}

fn labels(rows: usize) -> Array {
    Array::new([rows, 1], (0..rows).map(|i| (i % 2) as f32).collect()).unwrap()
}

/// `kind` over x: a SimpleRNN, LSTM or GRU of 6 units, or a bidirectional SimpleRNN.
fn recurrent(kind: &str, x: &Tensor, sequences: bool) -> Tensor {
    let layer = match kind {
        "LSTM" => LSTM::new(6),
        "GRU" => GRU::new(6),
        _ => SimpleRNN::new(6),
    }
    .return_sequences(sequences);
    if kind == "Bidirectional" {
        Bidirectional::new(layer).apply(x).unwrap()
    } else {
        layer.apply(x).unwrap()
    }
}

/// Embedding(100, 8, mask_zero) -> two `kind` layers -> Dense(1, sigmoid).
fn stacked(steps: usize, kind: &str) -> Model {
    let input = Input::typed([steps], DType::I32);
    let x = Embedding::new(100, 8)
        .mask_zero(true)
        .apply(&input)
        .unwrap();
    let x = recurrent(kind, &x, true);
    let x = recurrent(kind, &x, false);
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&x)
        .unwrap();
    Model::new(&[&input], &[&out]).unwrap()
}

type MakeBackend = Box<dyn Fn() -> Box<dyn Backend>>;

fn backends() -> Vec<(String, MakeBackend)> {
    let mut list: Vec<(String, MakeBackend)> =
        vec![("cpu".into(), Box::new(|| Box::new(CpuBackend::new())))];
    if harness::gpu_backend().is_some() {
        list.push((
            "gpu".into(),
            Box::new(|| Box::new(harness::gpu_backend().expect("the adapter opened once"))),
        ));
    }
    list
}

#[test]
fn a_training_steps_dispatches_do_not_grow_with_the_sequence_length() {
    for (name, backend) in backends() {
        for kind in ["SimpleRNN", "LSTM", "GRU", "Bidirectional"] {
            let per_step = |steps: usize| {
                let mut model = stacked(steps, kind);
                model
                    .compile_on(
                        CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
                        backend(),
                    )
                    .unwrap();
                let (x, y) = (ids(16, steps, 1), labels(16));
                model.train_on_batch(&[&x], &[&y]).unwrap();
                let before = model.backend_stats();
                model.train_on_batch(&[&x], &[&y]).unwrap();
                let after = model.backend_stats();
                after.dispatches - before.dispatches
            };
            let (short, long) = (per_step(10), per_step(60));
            assert!(short > 0, "{name} {kind}: no dispatches counted");
            assert_eq!(
                short, long,
                "{name} {kind}: {short} dispatches a step at length 10, {long} at length 60"
            );
        }
    }
}

/// Embedding(100, 4, mask_zero) -> `layer` over `steps` ids, predicting the layer's output.
fn layer_model(steps: usize, layer: Recurrent) -> Model {
    let input = Input::typed([steps], DType::I32);
    let x = Embedding::new(100, 4)
        .mask_zero(true)
        .apply(&input)
        .unwrap();
    let out = layer.apply(&x).unwrap();
    let mut m = Model::new(&[&input], &[&out]).unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    m
}

fn predict(m: &mut Model, row: &[i32]) -> Vec<f32> {
    let x = Array::from_i32([1, row.len()], row.to_vec()).unwrap();
    m.predict(&[&x], 1).unwrap()[0].f32s().unwrap().to_vec()
}

#[test]
fn masked_steps_carry_the_state_and_repeat_the_output_on_either_side() {
    for make in [SimpleRNN::new, LSTM::new, GRU::new] {
        let mut short = layer_model(3, make(5).return_sequences(true));
        let mut long = layer_model(6, make(5).return_sequences(true));
        long.set_weights(&short.get_weights().unwrap()).unwrap();
        let seq = predict(&mut short, &[7, 3, 9]);
        let right = predict(&mut long, &[7, 3, 9, 0, 0, 0]);
        let left = predict(&mut long, &[0, 0, 0, 7, 3, 9]);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(
            close(&right[..15], &seq),
            "right-padded: the valid steps as unpadded"
        );
        for t in 3..6 {
            assert!(
                close(&right[t * 5..t * 5 + 5], &seq[10..15]),
                "right-padded: step {t} repeats the last valid output"
            );
        }
        assert!(
            left[..15].iter().all(|v| *v == 0.0),
            "left-padded: zeros before the first valid step"
        );
        assert!(
            close(&left[15..], &seq),
            "left-padded: the valid steps as unpadded"
        );
        assert!(
            seq.iter().any(|v| v.abs() > 1e-3),
            "the outputs are not all zero"
        );
    }
}

#[test]
fn masking_masks_steps_whose_features_all_equal_the_value() {
    let input = Input::new([4, 2]);
    let x = Masking::new(-1.0).apply(&input).unwrap();
    assert!(x.has_mask());
    let out = GRU::new(3).apply(&x).unwrap();
    let mut m = Model::new(&[&input], &[&out]).unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    let run = |m: &mut Model, v: Vec<f32>| {
        let x = Array::new([1, 4, 2], v).unwrap();
        m.predict(&[&x], 1).unwrap()[0].f32s().unwrap().to_vec()
    };
    let masked = run(&mut m, vec![0.5, 0.2, -1.0, -1.0, 0.3, -1.0, -1.0, -1.0]);
    let unmasked_steps = run(&mut m, vec![0.5, 0.2, 0.3, -1.0, 0.3, -1.0, 0.3, -1.0]);
    // A step with one feature off the mask value counts; trailing masked steps keep the state.
    let kept = run(&mut m, vec![0.5, 0.2, 0.0, 0.0, 0.3, -1.0, 0.0, 0.0]);
    assert_ne!(masked, unmasked_steps);
    assert_ne!(masked, kept);
    let only_two = run(&mut m, vec![0.5, 0.2, 0.3, -1.0, -1.0, -1.0, -1.0, -1.0]);
    let reordered = run(&mut m, vec![0.5, 0.2, -1.0, -1.0, 0.3, -1.0, -1.0, -1.0]);
    assert!(only_two
        .iter()
        .zip(&reordered)
        .all(|(a, b)| (a - b).abs() < 1e-6));
}

#[test]
fn initial_states_are_inputs_and_final_states_are_outputs() {
    let seq = Input::new([5, 3]);
    let h0 = Input::new([4]);
    let c0 = Input::new([4]);
    let outs = LSTM::new(4)
        .return_state(true)
        .apply_many(&[&seq, &h0, &c0])
        .unwrap();
    assert_eq!(outs.len(), 3);
    for t in &outs {
        assert_eq!(t.shape().0, vec![4]);
    }
    let mut m = Model::new(&[&seq, &h0, &c0], &[&outs[0], &outs[1], &outs[2]]).unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    let x = Array::new(
        [2, 5, 3],
        (0..30).map(|i| (i as f32 * 0.37).sin()).collect(),
    )
    .unwrap();
    let zeros = Array::new([2, 4], vec![0.0; 8]).unwrap();
    let ones = Array::new([2, 4], vec![1.0; 8]).unwrap();
    let a = m.predict(&[&x, &zeros, &zeros], 2).unwrap();
    let b = m.predict(&[&x, &ones, &ones], 2).unwrap();
    assert_eq!(
        a[0].f32s().unwrap(),
        a[1].f32s().unwrap(),
        "the output is the final h"
    );
    assert_ne!(
        a[0].f32s().unwrap(),
        b[0].f32s().unwrap(),
        "the initial state is read"
    );
}

#[test]
fn the_hand_written_loop_trains_as_train_on_batch_does() {
    for (name, backend) in backends() {
        let mut by_steps = stacked(12, "LSTM");
        let mut by_hand = stacked(12, "LSTM");
        by_hand
            .set_weights(&by_steps.get_weights().unwrap())
            .unwrap();
        for m in [&mut by_steps, &mut by_hand] {
            m.compile_on(
                CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
                backend(),
            )
            .unwrap();
        }
        let mut running = wgtrain::nn::RunningLogs::new();
        for step in 0..4 {
            let (x, y) = (ids(16, 12, step), labels(16));
            let want = by_steps.train_on_batch(&[&x], &[&y]).unwrap();
            let g = by_hand.compute_gradients(&[&x], &[&y]).unwrap();
            let grads = by_hand.gradient_arrays(&g).unwrap();
            assert_eq!(grads.len(), by_hand.get_weights().unwrap().len());
            assert!(grads
                .iter()
                .any(|(_, a)| a.f32s().unwrap().iter().any(|v| *v != 0.0)));
            by_hand.apply_gradients(g).unwrap();
            let got = by_hand.latest_logs().unwrap();
            running.update(&got, 16);
            assert!(
                (got[0].1 - want[0].1).abs() <= 1e-6 * want[0].1.abs().max(1.0),
                "{name} step {step}: loss {} by hand vs {} by train_on_batch",
                got[0].1,
                want[0].1
            );
        }
        for (a, b) in by_steps
            .get_weights()
            .unwrap()
            .iter()
            .zip(by_hand.get_weights().unwrap())
        {
            let (a, b) = (a.f32s().unwrap(), b.f32s().unwrap());
            assert!(
                a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6),
                "{name}: weights differ after four steps"
            );
        }
        assert_eq!(running.result().len(), 2, "loss and accuracy are kept");
        // Gradients replaced before they were applied are refused.
        let (x, y) = (ids(16, 12, 9), labels(16));
        let first = by_hand.compute_gradients(&[&x], &[&y]).unwrap();
        let second = by_hand.compute_gradients(&[&x], &[&y]).unwrap();
        let err = by_hand.apply_gradients(first).unwrap_err().to_string();
        assert!(err.contains("no longer on the device"), "{err}");
        by_hand.apply_gradients(second).unwrap();
    }
}

#[test]
fn recurrent_models_survive_a_model_file() {
    let input = Input::typed([7], DType::I32);
    let x = Embedding::new(30, 4).mask_zero(true).apply(&input).unwrap();
    let x = Bidirectional::new(LSTM::new(3).return_sequences(true))
        .merge_mode(MergeMode::Ave)
        .apply(&x)
        .unwrap();
    let x = GRU::new(3)
        .return_sequences(true)
        .go_backwards(true)
        .apply(&x)
        .unwrap();
    let x = SimpleRNN::new(2)
        .activation(wgtrain::nn::CellActivation::Relu)
        .apply(&x)
        .unwrap();
    let out = Dense::new(1).apply(&x).unwrap();
    let mut a = Model::new(&[&input], &[&out]).unwrap();
    let mut b = Model::from_json(&a.to_json().unwrap()).unwrap();
    b.set_weights(&a.get_weights().unwrap()).unwrap();
    for m in [&mut a, &mut b] {
        m.compile_on(
            CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError),
            Box::new(CpuBackend::new()),
        )
        .unwrap();
    }
    let x = Array::from_i32([2, 7], vec![0, 0, 3, 4, 5, 6, 7, 1, 2, 3, 4, 0, 0, 0]).unwrap();
    assert_eq!(
        a.predict(&[&x], 2).unwrap()[0].f32s().unwrap(),
        b.predict(&[&x], 2).unwrap()[0].f32s().unwrap()
    );
    assert_eq!(a.count_params(), b.count_params());
}

/// A layer that passes its input on with a mask of the wrong length.
struct WrongMask;
impl Layer for WrongMask {
    fn class_name(&self) -> &str {
        "WrongMask"
    }
    fn call(&self, _ctx: &mut CallCtx, inputs: &[NodeId]) -> anyhow::Result<Vec<NodeId>> {
        Ok(vec![inputs[0]])
    }
    fn build(&mut self, _s: &[Shape], _c: &mut BuildCtx) -> anyhow::Result<()> {
        Ok(())
    }
    fn compute_mask(
        &self,
        ctx: &mut CallCtx,
        inputs: &[NodeId],
        _masks: &[Option<NodeId>],
    ) -> anyhow::Result<Option<NodeId>> {
        let first = ctx.graph.slice(inputs[0], 1, 0, 2)?;
        Ok(Some(ctx.graph.sum(first, -1, false)?))
    }
}

#[test]
fn wrong_models_are_refused_when_built_with_the_fix_named() {
    let err = |r: anyhow::Result<wgtrain::nn::Tensor>| format!("{:#}", r.err().expect("an error"));
    let flat = Input::new([7]);
    let e = err(LSTM::new(3).apply(&flat));
    assert!(e.contains("(batch, timesteps, features)"), "{e}");

    let seq = Input::new([5, 2]);
    let h = Input::new([6]);
    let e = format!(
        "{:#}",
        GRU::new(3).apply_many(&[&seq, &h]).err().expect("an error")
    );
    assert!(e.contains("initial state must have shape (1, 3)"), "{e}");
    let e = format!(
        "{:#}",
        LSTM::new(3)
            .apply_many(&[&seq, &h])
            .err()
            .expect("an error")
    );
    assert!(
        e.contains("takes 2 initial state tensor(s) (h and c)"),
        "{e}"
    );

    // The mask's shape is known once the model is traced for a batch.
    let masked = WrongMask.apply(&seq).unwrap();
    let out = SimpleRNN::new(3).apply(&masked).unwrap();
    let e = match Model::new(&[&seq], &[&out]) {
        Err(e) => format!("{e:#}"),
        Ok(mut m) => {
            m.compile_on(
                CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError),
                Box::new(CpuBackend::new()),
            )
            .unwrap();
            let x = Array::new([2, 5, 2], vec![0.5; 20]).unwrap();
            format!("{:#}", m.predict(&[&x], 2).expect_err("an error"))
        }
    };
    assert!(e.contains("mask must have shape (2, 5)"), "{e}");

    let x = Bidirectional::new(LSTM::new(3)).apply(&seq).unwrap();
    let text = Model::new(&[&seq], &[&x]).unwrap().to_json().unwrap();
    let wrapped_dense = text.replace("\"class_name\": \"LSTM\"", "\"class_name\": \"Dense\"");
    assert_ne!(
        text, wrapped_dense,
        "the model file names the wrapped layer's class"
    );
    let with_dropout = text.replace(
        "\"stateful\": false",
        "\"stateful\": false, \"dropout\": 0.2",
    );
    assert_ne!(text, with_dropout);
    let e = format!(
        "{:#}",
        Model::from_json(&with_dropout).err().expect("an error")
    );
    assert!(e.contains("LSTM: dropout 0.2 is not supported"), "{e}");
    let e = format!(
        "{:#}",
        Model::from_json(&wrapped_dense).err().expect("an error")
    );
    assert!(
        e.contains("Bidirectional wraps a recurrent layer (SimpleRNN, LSTM or GRU), not 'Dense'"),
        "{e}"
    );
}

#[test]
fn predicted_classes_of_a_sigmoid_output() {
    let mut m = layer_model(
        4,
        SimpleRNN::new(1).activation(wgtrain::nn::CellActivation::Linear),
    );
    let x = ids(6, 4, 3);
    let p = m.predict(&[&x], 6).unwrap()[0].f32s().unwrap().to_vec();
    let classes = m.predict_classes(&[&x], 6).unwrap();
    assert_eq!(classes.len(), 6);
    for (c, v) in classes.iter().zip(p) {
        assert_eq!(*c, usize::from(v > 0.5));
    }
}
