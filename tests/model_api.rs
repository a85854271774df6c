//! The Keras-style API: building, shape errors, fit with partial batches and validation splits,
//! evaluate, predict, custom layers, optimizers and checkpoints.

use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, CompileConfig, Dense, FitConfig, Flatten, Input, Layer, LayerExt, Loss, Model,
    Optimizer, Sequential, Validation,
};

/// A linearly separable two-class problem: label = x0 + x1 > 0.
fn blobs(n: usize) -> (Array, Array) {
    let u = wgtrain::nn::init::uniform_stream(3, 9, 2 * n);
    let x: Vec<f32> = u.iter().map(|v| 2.0 * v - 1.0).collect();
    let y: Vec<f32> = x.chunks(2).map(|p| f32::from(p[0] + p[1] > 0.0)).collect();
    (
        Array::new([n, 2], x).unwrap(),
        Array::new([n, 1], y).unwrap(),
    )
}

fn classifier() -> Model {
    let mut m = Sequential::new([2]);
    m.add(Dense::new(16).activation(ActivationKind::Tanh))
        .unwrap();
    m.add(Dense::new(1).activation(ActivationKind::Sigmoid))
        .unwrap();
    m.build().unwrap()
}

fn quiet(epochs: usize, batch_size: usize) -> FitConfig<'static> {
    FitConfig {
        epochs,
        batch_size,
        verbose: Verbosity::Silent,
        ..Default::default()
    }
}

#[test]
fn a_shape_mismatch_fails_at_build_time_naming_the_layer_and_both_shapes() {
    let a = Input::new([4]);
    let b = Input::new([5]);
    let ha = Dense::new(3).named("left").apply(&a).unwrap();
    let hb = Dense::new(6).named("right").apply(&b).unwrap();
    let add = wgtrain::nn::layer::LayerHandle::named(AddLayer, "add_layer");
    let err = add
        .apply_many(&[&ha, &hb])
        .err()
        .expect("mismatched shapes are rejected");
    let msg = format!("{err:#}");
    assert!(msg.contains("add_layer"), "{msg}");
    assert!(msg.contains("(1, 3)") && msg.contains("(1, 6)"), "{msg}");
}

struct AddLayer;
impl Layer for AddLayer {
    fn class_name(&self) -> &str {
        "Add"
    }
    fn call(
        &self,
        ctx: &mut wgtrain::nn::CallCtx,
        inputs: &[wgtrain::graph::NodeId],
    ) -> anyhow::Result<Vec<wgtrain::graph::NodeId>> {
        Ok(vec![ctx.graph.add(inputs[0], inputs[1])?])
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

#[test]
fn fit_uses_every_sample_including_a_smaller_last_batch() {
    let (x, y) = blobs(1000);
    let mut model = classifier();
    model
        .compile(CompileConfig::new(
            Optimizer::Adam {
                learning_rate: 0.01,
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
            },
            Loss::BinaryCrossentropy,
        ))
        .unwrap();
    let h = model.fit(&[&x], &[&y], &quiet(10, 64)).unwrap();
    // 1000 = 15 * 64 + 40: 16 steps an epoch.
    assert_eq!(h.step_loss.len(), 160);
    assert_eq!(h.history["loss"].len(), 10);
    let first = h.step_loss[0];
    let last = *h.step_loss.last().unwrap();
    assert!(last < first * 0.7, "loss did not fall: {first} -> {last}");
    let scores = model.evaluate(&[&x], &[&y], 300).unwrap();
    assert_eq!(scores[0].0, "loss");
    assert!(scores[1].1 > 0.9, "accuracy {scores:?}");
    let p = model.predict(&[&x], 300).unwrap();
    assert_eq!(p[0].shape.dims(), &[1000, 1]);
    assert!(p[0].f32s().unwrap().iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn validation_split_takes_the_last_fraction_and_reports_val_metrics() {
    let (x, y) = blobs(500);
    let mut model = classifier();
    model
        .compile(CompileConfig::new(
            Optimizer::rmsprop(),
            Loss::BinaryCrossentropy,
        ))
        .unwrap();
    let cfg = FitConfig {
        validation: Validation::Split(0.2),
        ..quiet(2, 100)
    };
    let h = model.fit(&[&x], &[&y], &cfg).unwrap();
    // 400 training samples at 100 a batch.
    assert_eq!(h.step_loss.len(), 8);
    for k in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        assert_eq!(h.history[k].len(), 2, "{k}");
    }
    let tail_x = Array::new([100, 2], x.f32s().unwrap()[800..].to_vec()).unwrap();
    let tail_y = Array::new([100, 1], y.f32s().unwrap()[400..].to_vec()).unwrap();
    let scores = model.evaluate(&[&tail_x], &[&tail_y], 100).unwrap();
    assert!((scores[0].1 - h.last("val_loss").unwrap()).abs() < 1e-5);
}

#[test]
fn every_optimizer_trains_the_classifier() {
    for opt in [
        Optimizer::sgd(),
        Optimizer::Sgd {
            learning_rate: 0.05,
            momentum: 0.9,
            nesterov: true,
        },
        Optimizer::rmsprop(),
        Optimizer::adam(),
        Optimizer::adamw(),
        Optimizer::nadam(),
    ] {
        let (x, y) = blobs(512);
        let mut model = classifier();
        model
            .compile(CompileConfig::new(opt.clone(), Loss::BinaryCrossentropy))
            .unwrap();
        let h = model.fit(&[&x], &[&y], &quiet(8, 32)).unwrap();
        let (first, last) = (h.history["loss"][0], h.last("loss").unwrap());
        assert!(last < first, "{opt:?}: loss {first} -> {last}");
    }
}

#[test]
fn sparse_and_categorical_losses_agree_on_the_same_labels() {
    let x = Array::new([6, 3], (0..18).map(|i| (i as f32 * 0.37).sin()).collect()).unwrap();
    let labels = [0.0, 2.0, 1.0, 1.0, 0.0, 2.0];
    let sparse = Array::new([6, 1], labels.to_vec()).unwrap();
    let mut onehot = vec![0.0; 18];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * 3 + l as usize] = 1.0;
    }
    let onehot = Array::new([6, 3], onehot).unwrap();
    let mut scores = Vec::new();
    for (loss, y) in [
        (Loss::SparseCategoricalCrossentropy, &sparse),
        (Loss::CategoricalCrossentropy, &onehot),
    ] {
        wgtrain::nn::set_random_seed(5);
        let mut m = Sequential::new([3]);
        m.add(Dense::new(3).activation(ActivationKind::Softmax))
            .unwrap();
        let mut m = m.build().unwrap();
        m.compile(CompileConfig::new(Optimizer::sgd(), loss))
            .unwrap();
        scores.push(m.evaluate(&[&x], &[y], 4).unwrap());
    }
    assert!((scores[0][0].1 - scores[1][0].1).abs() < 1e-6, "{scores:?}");
    assert_eq!(scores[0][1].1, scores[1][1].1);
}

#[test]
fn weights_round_trip_through_safetensors() {
    let (x, y) = blobs(256);
    let mut a = classifier();
    a.compile(CompileConfig::new(
        Optimizer::adam(),
        Loss::BinaryCrossentropy,
    ))
    .unwrap();
    a.fit(&[&x], &[&y], &quiet(2, 32)).unwrap();
    let dir = std::env::temp_dir().join(format!("wgtrain-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.safetensors");
    a.save_weights(&path).unwrap();
    let mut b = classifier();
    b.compile(CompileConfig::new(
        Optimizer::adam(),
        Loss::BinaryCrossentropy,
    ))
    .unwrap();
    b.load_weights(&path).unwrap();
    let (pa, pb) = (a.predict(&[&x], 64).unwrap(), b.predict(&[&x], 64).unwrap());
    assert_eq!(pa[0].values, pb[0].values);

    let mut wrong = Sequential::new([2]);
    wrong.add(Dense::new(3)).unwrap();
    let mut wrong = wrong.build().unwrap();
    let err = format!("{:#}", wrong.load_weights(&path).unwrap_err());
    assert!(err.contains("holds 4 weights"), "{err}");
    let bad = dir.join("bad.safetensors");
    std::fs::write(&bad, b"not a safetensors file").unwrap();
    let err = format!("{:#}", b.load_weights(&bad).unwrap_err());
    assert!(err.contains("not a valid safetensors file"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn functional_model_with_two_inputs_and_a_shared_layer() {
    let a = Input::new([4]);
    let b = Input::new([4]);
    let shared = Dense::new(3).activation(ActivationKind::Relu).shared();
    let ha = shared.apply(&a).unwrap();
    let hb = shared.apply(&b).unwrap();
    let both = wgtrain::nn::layer::LayerHandle::new(Concat)
        .apply_many(&[&ha, &hb])
        .unwrap()
        .remove(0);
    assert_eq!(both.shape().dims(), &[6]);
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&both)
        .unwrap();
    let mut model = Model::new(&[&a, &b], &[&out]).unwrap();
    // The shared layer's weights are counted once: 4*3+3 + 6*1+1.
    assert_eq!(model.count_params(), 22);
    assert!(model.summary_text().contains("Total params: 22"));
    let xa = Array::new([8, 4], vec![0.5; 32]).unwrap();
    let xb = Array::new([8, 4], vec![-0.5; 32]).unwrap();
    let y = Array::new([8, 1], vec![1.0; 8]).unwrap();
    model
        .compile(CompileConfig::new(
            Optimizer::adam(),
            Loss::BinaryCrossentropy,
        ))
        .unwrap();
    let h = model.fit(&[&xa, &xb], &[&y], &quiet(2, 4)).unwrap();
    assert_eq!(h.step_loss.len(), 4);
    let err = format!("{:#}", model.fit(&[&xa], &[&y], &quiet(1, 4)).unwrap_err());
    assert!(err.contains("takes 2 input arrays"), "{err}");
}

struct Concat;
impl Layer for Concat {
    fn class_name(&self) -> &str {
        "Concatenate"
    }
    fn call(
        &self,
        ctx: &mut wgtrain::nn::CallCtx,
        inputs: &[wgtrain::graph::NodeId],
    ) -> anyhow::Result<Vec<wgtrain::graph::NodeId>> {
        Ok(vec![ctx.graph.concat(inputs, -1)?])
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({"axis": -1})
    }
}

#[test]
fn summary_matches_keras_for_the_antirectifier_shapes() {
    let mut m = Sequential::new([28, 28]);
    m.add(Flatten::new()).unwrap();
    m.add(Dense::new(10)).unwrap();
    let m = m.build().unwrap();
    let text = m.summary_text();
    assert!(text.contains("(None, 784)"), "{text}");
    assert!(text.contains("7,850"), "{text}");
}

#[test]
fn bad_data_is_an_error_not_a_panic() {
    let mut model = classifier();
    let (x, y) = blobs(10);
    let err = format!("{:#}", model.fit(&[&x], &[&y], &quiet(1, 4)).unwrap_err());
    assert!(err.contains("compile"), "{err}");
    model
        .compile(CompileConfig::new(
            Optimizer::adam(),
            Loss::BinaryCrossentropy,
        ))
        .unwrap();
    let x3 = Array::new([10, 3], vec![0.0; 30]).unwrap();
    let err = format!("{:#}", model.fit(&[&x3], &[&y], &quiet(1, 4)).unwrap_err());
    assert!(
        err.contains("(None, 3)") && err.contains("(None, 2)"),
        "{err}"
    );
    let y_short = Array::new([9, 1], vec![0.0; 9]).unwrap();
    let err = format!(
        "{:#}",
        model.fit(&[&x], &[&y_short], &quiet(1, 4)).unwrap_err()
    );
    assert!(err.contains("10 samples") && err.contains("9"), "{err}");
    assert!(Array::new([3, 2], vec![0.0; 5]).is_err());
    assert!(Loss::parse("hinge").is_err());
}

/// posts (8) -> Dense(6, relu) -> three heads: age Dense(1), income Dense(3, softmax), gender
/// Dense(1, sigmoid); and 64 samples with targets for each.
fn three_heads() -> (Model, Array, [Array; 3]) {
    wgtrain::nn::set_random_seed(11);
    let posts = Input::named([8], "posts");
    let h = Dense::new(6)
        .activation(ActivationKind::Relu)
        .apply(&posts)
        .unwrap();
    let age = Dense::new(1).named("age").apply(&h).unwrap();
    let income = Dense::new(3)
        .activation(ActivationKind::Softmax)
        .named("income")
        .apply(&h)
        .unwrap();
    let gender = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .named("gender")
        .apply(&h)
        .unwrap();
    let m = Model::new(&[&posts], &[&age, &income, &gender]).unwrap();
    let n = 64;
    let u = wgtrain::nn::init::uniform_stream(5, 1, n * 8);
    let x = Array::new([n, 8], u).unwrap();
    let ya = Array::new([n, 1], (0..n).map(|i| (i % 7) as f32 / 7.0).collect()).unwrap();
    let yi = Array::new(
        [n, 3],
        (0..n * 3)
            .map(|e| f32::from(e % 3 == (e / 3) % 3))
            .collect(),
    )
    .unwrap();
    let yg = Array::new([n, 1], (0..n).map(|i| (i % 2) as f32).collect()).unwrap();
    (m, x, [ya, yi, yg])
}

const HEAD_LOSSES: [Loss; 3] = [
    Loss::MeanSquaredError,
    Loss::CategoricalCrossentropy,
    Loss::BinaryCrossentropy,
];

/// A model with three heads reports each head's own loss and accuracy under Keras' names
/// (`age_loss`, `income_accuracy`, ..., and `val_` ones), and the loss is their weighted sum.
#[test]
fn several_outputs_report_their_losses_and_accuracies_by_name() {
    let (mut m, x, [ya, yi, yg]) = three_heads();
    m.compile(
        CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError)
            .losses(&HEAD_LOSSES)
            .loss_weights(&[0.25, 1.0, 10.0]),
    )
    .unwrap();
    let cfg = FitConfig {
        validation: Validation::Split(0.25),
        ..quiet(2, 16)
    };
    let h = m.fit(&[&x], &[&ya, &yi, &yg], &cfg).unwrap();
    let keys: Vec<&str> = h.history.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "age_accuracy",
            "age_loss",
            "gender_accuracy",
            "gender_loss",
            "income_accuracy",
            "income_loss",
            "loss",
            "val_age_accuracy",
            "val_age_loss",
            "val_gender_accuracy",
            "val_gender_loss",
            "val_income_accuracy",
            "val_income_loss",
            "val_loss"
        ],
        "Keras 3's names for this model"
    );
    for prefix in ["", "val_"] {
        for epoch in 0..2 {
            let at = |k: &str| h.history[&format!("{prefix}{k}")][epoch];
            let weighted = 0.25 * at("age_loss") + at("income_loss") + 10.0 * at("gender_loss");
            assert!(
                (at("loss") - weighted).abs() <= 1e-4 * weighted.abs(),
                "{prefix}loss {} is the weighted sum {weighted}",
                at("loss")
            );
        }
    }
}

/// Inputs, targets, losses and loss weights given by name train exactly as given by position;
/// wrong names are refused naming them and the model's names.
#[test]
fn inputs_targets_losses_and_weights_by_name_train_as_by_position() {
    let run = |by_name: bool| {
        let (mut m, x, [ya, yi, yg]) = three_heads();
        let config = CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError);
        let config = if by_name {
            config
                .losses_by_name(&[
                    ("gender", Loss::BinaryCrossentropy),
                    ("age", Loss::MeanSquaredError),
                    ("income", Loss::CategoricalCrossentropy),
                ])
                .loss_weights_by_name(&[("gender", 10.0), ("age", 0.25)])
        } else {
            config.losses(&HEAD_LOSSES).loss_weights(&[0.25, 1.0, 10.0])
        };
        m.compile(config).unwrap();
        let (xs, ys) = if by_name {
            (
                m.inputs_by_name(&[("posts", &x)]).unwrap(),
                m.targets_by_name(&[("income", &yi), ("gender", &yg), ("age", &ya)])
                    .unwrap(),
            )
        } else {
            (vec![&x], vec![&ya, &yi, &yg])
        };
        m.fit(&xs, &ys, &quiet(2, 16)).unwrap().history
    };
    assert_eq!(run(true), run(false));

    let (mut m, x, [ya, yi, _]) = three_heads();
    let e = m.inputs_by_name(&[("post", &x)]).unwrap_err().to_string();
    assert!(
        e.contains("no input is named 'post'; the model's inputs are posts"),
        "{e}"
    );
    let e = m
        .targets_by_name(&[("age", &ya), ("income", &yi)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("output 'gender' is given no array"), "{e}");
    let e = m
        .targets_by_name(&[("age", &ya), ("age", &ya)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("output 'age' is given twice"), "{e}");
    let config = CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError)
        .loss_weights_by_name(&[("ages", 0.25)]);
    let e = m.compile(config).unwrap_err().to_string();
    assert!(
        e.contains(
            "a loss weight names output 'ages', but the model's outputs are age, income, gender"
        ),
        "{e}"
    );
    let config = CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError)
        .losses_by_name(&[("age", Loss::MeanSquaredError)]);
    let e = m.compile(config).unwrap_err().to_string();
    assert!(e.contains("output 'income' has no loss"), "{e}");
    let config =
        CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError).losses(&HEAD_LOSSES[..2]);
    let e = m.compile(config).unwrap_err().to_string();
    assert!(
        e.contains("the model has 3 outputs but 2 losses were given"),
        "{e}"
    );
    let config =
        CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError).loss_weights(&[0.25, 1.0]);
    let e = m.compile(config).unwrap_err().to_string();
    assert!(
        e.contains("the model has 3 outputs but 2 loss weights were given"),
        "{e}"
    );
    m.compile(CompileConfig::new(
        Optimizer::rmsprop(),
        Loss::MeanSquaredError,
    ))
    .unwrap();
    let e = format!("{:#}", m.fit(&[&x, &x], &[&ya], &quiet(1, 4)).unwrap_err());
    assert!(e.contains("the model takes 1 input arrays, got 2"), "{e}");
}

/// A functional model's summary has Keras' `Connected to` column: a shared layer shows both
/// of its calls, and what reads it names which call it reads.
#[test]
fn a_functional_summary_shows_what_each_layer_is_connected_to() {
    let left = Input::named([7, 16], "left");
    let right = Input::named([7, 16], "right");
    let lstm = wgtrain::nn::LSTM::new(4).shared();
    let a = lstm.apply(&left).unwrap();
    let b = lstm.apply(&right).unwrap();
    let joined = wgtrain::nn::Concatenate::new()
        .apply_many(&[&a, &b])
        .unwrap()
        .remove(0);
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&joined)
        .unwrap();
    let m = Model::new(&[&left, &right], &[&out]).unwrap();
    let text = m.summary_text();
    let row = |start: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("│ {start}")))
            .unwrap_or_else(|| panic!("no row for {start}:\n{text}"))
            .to_string()
    };
    assert!(text.contains("Connected to"), "{text}");
    assert!(row("left (InputLayer)").contains("│ -"), "{text}");
    let lstm_row = row("lstm");
    assert!(lstm_row.contains("left[0][0], right[0][0]"), "{text}");
    assert!(
        lstm_row.contains("(None, 4)") && lstm_row.contains("336"),
        "{text}"
    );
    assert!(
        row("concatenate").contains("lstm[0][0], lstm[1][0]"),
        "{text}"
    );
    assert!(row("dense").contains("concatenate[0][0]"), "{text}");
    assert_eq!(
        text.matches("(LSTM)").count(),
        1,
        "a shared layer has one row"
    );
}
