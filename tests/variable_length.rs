//! Inputs whose length the data decides (`Input([None, Some(128)])`, Keras' `None`): the
//! guide's siamese LSTM with Keras' parameter count, plans per length that compute what a model
//! built for that length computes, free axes through sequence outputs, model files that keep
//! them, and errors for the axes that are fixed.

mod harness;
#[allow(dead_code)]
#[path = "../examples/models/siamese_lstm.rs"]
mod siamese_lstm;

use wgtrain::cpu::CpuBackend;
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::{
    Array, CompileConfig, Dense, FitConfig, Input, LayerExt, Loss, Model, Optimizer, LSTM,
};

fn compiled(mut m: Model) -> Model {
    m.compile_on(
        CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    m
}

fn sequences(n: usize, steps: usize, width: usize, seed: usize) -> Array {
    let v = (0..n * steps * width)
        .map(|i| ((i * 37 + seed * 101) % 200) as f32 / 100.0 - 1.0)
        .collect();
    Array::new([n, steps, width], v).unwrap()
}

#[test]
fn the_siamese_lstm_trains_and_predicts_on_any_length() {
    let m = siamese_lstm::build_model().unwrap();
    // scripts/keras_reference/param_counts.py (Keras 3.15.1).
    assert_eq!(m.count_params(), 20_673);
    assert_eq!(m.inputs()[0].shape_text(), "(None, None, 128)");
    let mut m = compiled(m);
    let (x, y) = siamese_lstm::random_pairs(16, 12, 0).unwrap();
    let h = m
        .fit(
            &[&x[0], &x[1]],
            &[&y],
            &FitConfig {
                epochs: 2,
                batch_size: 8,
                verbose: Verbosity::Silent,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(h.last("loss").unwrap().is_finite());
    let (xv, yv) = siamese_lstm::random_pairs(8, 20, 1).unwrap();
    let logs = m.evaluate(&[&xv[0], &xv[1]], &[&yv], 4).unwrap();
    assert!(logs.iter().all(|(_, v)| v.is_finite()), "{logs:?}");
    let short = m.predict(&[&x[0], &x[1]], 16).unwrap();
    m.predict(&[&xv[0], &xv[1]], 8).unwrap();
    assert_eq!(short[0].shape.0, vec![16, 1]);
    assert_eq!(
        m.predict(&[&x[0], &x[1]], 16).unwrap(),
        short,
        "going back to a length reuses what it computed"
    );
}

/// Embedding-free sequence model: LSTM(5, return_sequences) -> Dense(3) over (steps, 4).
fn sequence_model(steps: Option<usize>) -> Model {
    wgtrain::nn::set_random_seed(11);
    let x = Input::new([steps, Some(4)]);
    let h = LSTM::new(5).return_sequences(true).apply(&x).unwrap();
    let y = Dense::new(3).apply(&h).unwrap();
    Model::new(&[&x], &[&y]).unwrap()
}

#[test]
fn a_free_length_computes_what_a_fixed_length_model_does() {
    let mut free = compiled(sequence_model(None));
    assert_eq!(free.outputs()[0].shape_text(), "(None, None, 3)");
    let weights = free.weight_values().unwrap();
    for steps in [3, 9] {
        let mut fixed = compiled(sequence_model(Some(steps)));
        fixed.set_weight_values(weights.clone()).unwrap();
        let x = sequences(2, steps, 4, steps);
        let got = free.predict(&[&x], 2).unwrap();
        assert_eq!(got[0].shape.0, vec![2, steps, 3]);
        assert_eq!(got, fixed.predict(&[&x], 2).unwrap(), "{steps} steps");
    }
}

#[test]
fn the_gpu_backend_computes_each_length_as_the_cpu_does() {
    let Some(gpu) = harness::gpu_backend() else {
        return;
    };
    let mut cpu = compiled(sequence_model(None));
    let mut on_gpu = sequence_model(None);
    on_gpu
        .compile_on(
            CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
            Box::new(gpu),
        )
        .unwrap();
    on_gpu
        .set_weight_values(cpu.weight_values().unwrap())
        .unwrap();
    for steps in [5, 11, 5] {
        let x = sequences(3, steps, 4, steps);
        let want = cpu.predict(&[&x], 3).unwrap();
        let got = on_gpu.predict(&[&x], 3).unwrap();
        assert_eq!(got[0].shape, want[0].shape);
        let (g, w) = (got[0].f32s().unwrap(), want[0].f32s().unwrap());
        for (a, b) in g.iter().zip(w) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{steps} steps: {a} vs {b}"
            );
        }
    }
}

#[test]
fn fixed_axes_are_still_checked() {
    let mut m = compiled(siamese_lstm::build_model().unwrap());
    let (x, _) = siamese_lstm::random_pairs(2, 5, 0).unwrap();
    let narrow = sequences(2, 5, 64, 0);
    let err = format!("{:#}", m.predict(&[&x[0], &narrow], 2).unwrap_err());
    assert!(
        err.contains("input 1 ('sequence_b') has samples of shape (None, 5, 64)")
            && err.contains("expects (None, None, 128)"),
        "{err}"
    );
}

#[test]
fn a_model_file_keeps_free_axes() {
    let m = siamese_lstm::build_model().unwrap();
    let text = m.to_json().unwrap();
    assert!(text.contains("null"), "{text}");
    let rebuilt = Model::from_json(&text).unwrap();
    assert_eq!(rebuilt.inputs()[1].shape_text(), "(None, None, 128)");
    assert_eq!(rebuilt.to_json().unwrap(), text);
}
