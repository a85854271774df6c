//! Functional graphs step for step against Keras 3.15 (TensorFlow): Keras' initial weights, the
//! same batches, 10 steps of
//!
//! * `conv2d_stack`: 2-D convolutions and pools with 'same' padding (an even kernel, stride 2 on
//!   an even size, a max pool and an average pool over odd sizes, a dilated non-square kernel),
//!   a valid stride-2 convolution, global average and max pooling concatenated, Adam;
//! * `multi_output`: the guide's three-headed model made small (Embedding -> Conv1D stack ->
//!   age / income / gender heads with mse, categorical and binary cross-entropy weighted 0.25, 1
//!   and 10), RMSprop, every head's loss and accuracy compared under Keras' log names;
//!
//! then the logs on batch 0 after training; then the same steps on the GPU backend. The
//! references come from `scripts/keras_reference/functional_steps.py`.

mod harness;
mod keras_fixture;

use keras_fixture::Reference;
use wgtrain::cpu::CpuBackend;
use wgtrain::graph::{Backend, DType, Padding};
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    log_value, Array, AveragePooling2D, CompileConfig, Concatenate, Conv1D, Conv2D, Dense,
    Embedding, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, Input, LayerExt,
    Logs, Loss, MaxPooling1D, MaxPooling2D, Model, Optimizer, Tensor,
};

const CASES: [&str; 2] = ["conv2d_stack", "multi_output"];

/// The model and its layers' outputs by Keras layer name.
fn conv2d_stack() -> (Model, Vec<(&'static str, Tensor)>) {
    let relu = ActivationKind::Relu;
    let images = Input::new([10, 10, 3]);
    let c1 = Conv2D::new(6, 3)
        .padding(Padding::Same)
        .activation(relu)
        .apply(&images)
        .unwrap();
    let c2 = Conv2D::new(6, 2).padding(Padding::Same).apply(&c1).unwrap();
    let a1 = Conv2D::new(8, 3)
        .strides(2)
        .padding(Padding::Same)
        .apply(&c2)
        .unwrap();
    let a2 = MaxPooling2D::new(2)
        .padding(Padding::Same)
        .apply(&a1)
        .unwrap();
    let a3 = AveragePooling2D::new(2)
        .strides(1)
        .padding(Padding::Same)
        .apply(&a2)
        .unwrap();
    let ga = GlobalAveragePooling2D::new().apply(&a3).unwrap();
    let b1 = Conv2D::new(8, (2, 3))
        .dilation_rate(2)
        .padding(Padding::Same)
        .activation(relu)
        .apply(&c1)
        .unwrap();
    let b2 = Conv2D::new(8, 3)
        .strides(2)
        .padding(Padding::Valid)
        .apply(&b1)
        .unwrap();
    let gb = GlobalMaxPooling2D::new().apply(&b2).unwrap();
    let joined = Concatenate::new()
        .apply_many(&[&ga, &gb])
        .unwrap()
        .remove(0);
    let out = Dense::new(4)
        .activation(ActivationKind::Softmax)
        .apply(&joined)
        .unwrap();
    let model = Model::new(&[&images], &[&out]).unwrap();
    let named = vec![
        ("c1", c1),
        ("c2", c2),
        ("a1", a1),
        ("a2", a2),
        ("a3", a3),
        ("ga", ga),
        ("b1", b1),
        ("b2", b2),
        ("gb", gb),
        ("joined", joined),
        ("out", out),
    ];
    (model, named)
}

fn multi_output() -> (Model, Vec<(&'static str, Tensor)>) {
    let relu = ActivationKind::Relu;
    let posts = Input::named_typed([20], DType::I32, "posts");
    let e = Embedding::new(50, 8).apply(&posts).unwrap();
    let conv1 = Conv1D::new(8, 3).activation(relu).apply(&e).unwrap();
    let pool1 = MaxPooling1D::new(2).apply(&conv1).unwrap();
    let conv2 = Conv1D::new(8, 3).activation(relu).apply(&pool1).unwrap();
    let gmp = GlobalMaxPooling1D::new().apply(&conv2).unwrap();
    let hidden = Dense::new(16).activation(relu).apply(&gmp).unwrap();
    let age = Dense::new(1).named("age").apply(&hidden).unwrap();
    let income = Dense::new(4)
        .activation(ActivationKind::Softmax)
        .named("income")
        .apply(&hidden)
        .unwrap();
    let gender = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .named("gender")
        .apply(&hidden)
        .unwrap();
    let model = Model::new(&[&posts], &[&age, &income, &gender]).unwrap();
    let named = vec![
        ("embedding", e),
        ("conv1", conv1),
        ("pool1", pool1),
        ("conv2", conv2),
        ("gmp", gmp),
        ("hidden", hidden),
        ("age", age),
        ("income", income),
        ("gender", gender),
    ];
    (model, named)
}

fn build(case: &str) -> (Model, Vec<(&'static str, Tensor)>) {
    match case {
        "conv2d_stack" => conv2d_stack(),
        "multi_output" => multi_output(),
        other => panic!("no case {other}"),
    }
}

/// Keras' compile: Adam and categorical cross-entropy; RMSprop and one loss per head in output
/// order (age, income, gender), weighted as the fixture records.
fn compile_config(case: &str, r: &Reference) -> CompileConfig {
    match case {
        "conv2d_stack" => CompileConfig::new(Optimizer::adam(), Loss::CategoricalCrossentropy),
        "multi_output" => CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError)
            .losses(&[
                Loss::MeanSquaredError,
                Loss::CategoricalCrossentropy,
                Loss::BinaryCrossentropy,
            ])
            .loss_weights(&r.list("loss_weights")),
        other => panic!("no case {other}"),
    }
}

fn names(r: &Reference, key: &str) -> Vec<String> {
    let v = r.meta[key].as_array().unwrap();
    v.iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// Batch `i` of the fixture's inputs and targets, in the model's input and output order.
fn batch(r: &Reference, i: usize) -> (Vec<Array>, Vec<Array>) {
    let rows = |key: &str| -> Vec<Array> { names(r, key).iter().map(|k| r.rows(k, i)).collect() };
    (rows("inputs"), rows("targets"))
}

/// The logs of every step and the test logs on batch 0 after training.
fn run_steps(case: &str, r: &Reference, backend: Box<dyn Backend>) -> (Vec<Logs>, Logs) {
    let (mut m, _) = build(case);
    assert_eq!(
        m.count_params(),
        r.n("count_params"),
        "{case}: parameter count"
    );
    m.compile_on(compile_config(case, r), backend).unwrap();
    m.set_weights(&r.weights).unwrap();
    let steps: Vec<Logs> = (0..r.n("steps"))
        .map(|i| {
            let (x, y) = batch(r, i);
            let (x, y): (Vec<&Array>, Vec<&Array>) = (x.iter().collect(), y.iter().collect());
            m.train_on_batch(&x, &y).unwrap()
        })
        .collect();
    let (x, y) = batch(r, 0);
    let (x, y): (Vec<&Array>, Vec<&Array>) = (x.iter().collect(), y.iter().collect());
    (steps, m.test_on_batch(&x, &y).unwrap())
}

fn rel(a: f32, b: f32) -> f32 {
    (a - b).abs() / b.abs().max(1e-12)
}

/// Compares one log value with Keras': losses within relative 1e-5, accuracies exactly.
fn compare(what: &str, name: &str, logs: &Logs, keras: f32, failures: &mut Vec<String>) -> f32 {
    let Some(v) = log_value(logs, name) else {
        let ours: Vec<&str> = logs.iter().map(|(k, _)| k.as_str()).collect();
        failures.push(format!(
            "{what}: no log named {name} (the logs are {ours:?})"
        ));
        return 0.0;
    };
    if name.ends_with("accuracy") {
        if v != keras {
            failures.push(format!("{what}: {name} {v} vs Keras {keras}"));
        }
        return 0.0;
    }
    let e = rel(v, keras);
    if e > 1e-5 {
        failures.push(format!(
            "{what}: {name} {v} vs Keras {keras} (relative {e:e})"
        ));
    }
    e
}

#[test]
fn layer_output_shapes_and_parameter_counts_match_keras() {
    for case in CASES {
        let r = Reference::load(&format!("functional_{case}_keras"));
        let (mut m, named) = build(case);
        assert_eq!(
            m.count_params(),
            r.n("count_params"),
            "{case}: parameter count"
        );
        for layer in r.meta["layers"].as_array().unwrap() {
            let name = layer["name"].as_str().unwrap();
            let Some((_, t)) = named.iter().find(|(n, _)| *n == name) else {
                continue; // the input layer
            };
            let keras: Vec<usize> = layer["output_shape"].as_array().unwrap()[1..]
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(t.shape().0, keras, "{case}: output shape of {name}");
        }
        let shapes: Vec<Vec<usize>> = r.weights.iter().map(|w| w.shape.0.clone()).collect();
        let ours: Vec<Vec<usize>> = m
            .get_weights()
            .unwrap()
            .iter()
            .map(|w| w.shape.0.clone())
            .collect();
        assert_eq!(ours, shapes, "{case}: weight shapes in get_weights order");
    }
}

#[test]
fn ten_steps_of_each_functional_model_match_keras() {
    let mut failures = Vec::new();
    for case in CASES {
        let r = Reference::load(&format!("functional_{case}_keras"));
        let (steps, after) = run_steps(case, &r, Box::new(CpuBackend::new()));
        let mut worst = 0.0f32;
        for name in names(&r, "log_names") {
            let keras = r.meta["logs"][name.as_str()].as_array().unwrap();
            assert_eq!(keras.len(), steps.len(), "{case}: steps of {name}");
            for (i, (logs, k)) in steps.iter().zip(keras).enumerate() {
                let k = k.as_f64().unwrap() as f32;
                let e = compare(&format!("{case} step {i}"), &name, logs, k, &mut failures);
                worst = worst.max(e);
            }
        }
        let k_after = r.meta["test_logs_batch0_after"].as_object().unwrap();
        for (name, k) in k_after {
            let k = k.as_f64().unwrap() as f32;
            compare(
                &format!("{case} after training, batch 0"),
                name,
                &after,
                k,
                &mut failures,
            );
        }
        eprintln!("{case}: worst relative loss difference from Keras over 10 steps {worst:e}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_same_steps_on_the_gpu_match_the_cpu() {
    let Some(_) = harness::gpu_backend() else {
        return;
    };
    for case in CASES {
        let r = Reference::load(&format!("functional_{case}_keras"));
        let gpu = harness::gpu_backend().expect("the adapter opened once");
        let (cpu_steps, cpu_after) = run_steps(case, &r, Box::new(CpuBackend::new()));
        let (gpu_steps, gpu_after) = run_steps(case, &r, Box::new(gpu));
        let mut runs: Vec<(String, &Logs, &Logs)> = cpu_steps
            .iter()
            .zip(&gpu_steps)
            .enumerate()
            .map(|(i, (c, g))| (format!("step {i}"), c, g))
            .collect();
        runs.push(("after training".into(), &cpu_after, &gpu_after));
        for (at, cpu, gpu) in runs {
            for (name, c) in cpu.iter().filter(|(k, _)| k.ends_with("loss")) {
                let g = log_value(gpu, name).unwrap_or(f32::NAN);
                assert!(rel(g, *c) <= 1e-4, "{case} {at}: GPU {name} {g} vs CPU {c}");
            }
        }
    }
}
