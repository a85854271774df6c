//! The guide's two-input QA model on its random data falls as Keras' does: ten epochs of the
//! training loss inside the band of five Keras runs (`tests/fixtures/functional_qa_keras_losses.json`,
//! from `../shared/peers/functional_qa.py --framework keras`). Inputs by name train as inputs
//! by position.

#[path = "../examples/models/functional_qa.rs"]
mod functional_qa;

use wgtrain::cpu::CpuBackend;
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::{CompileConfig, FitConfig, History, Loss, Model, Optimizer};

fn model(seed: u64) -> Model {
    wgtrain::nn::set_random_seed(seed);
    let mut m = functional_qa::build_model().unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::rmsprop(), Loss::CategoricalCrossentropy),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    m
}

fn config(epochs: usize) -> FitConfig<'static> {
    FitConfig {
        epochs,
        batch_size: 128,
        seed: Some(3),
        verbose: Verbosity::Silent,
        ..Default::default()
    }
}

#[test]
fn ten_epochs_of_loss_fall_inside_keras_band() {
    let text = std::fs::read_to_string("tests/fixtures/functional_qa_keras_losses.json").unwrap();
    let keras: serde_json::Value = serde_json::from_str(&text).unwrap();
    let curves: Vec<Vec<f32>> = serde_json::from_value(keras["train_loss"].clone()).unwrap();
    let (x, y) = functional_qa::random_data(functional_qa::SAMPLES, 0).unwrap();
    let mut m = model(1);
    let h: History = m.fit(&[&x[0], &x[1]], &[&y], &config(10)).unwrap();
    let ours = &h.history["loss"];
    assert_eq!(ours.len(), 10);
    for (epoch, loss) in ours.iter().enumerate() {
        let at = curves.iter().map(|c| c[epoch]);
        let lo = at.clone().fold(f32::INFINITY, f32::min);
        let hi = at.fold(f32::NEG_INFINITY, f32::max);
        assert!(
            (lo - 0.015..=hi + 0.015).contains(loss),
            "epoch {}: loss {loss} outside Keras' {lo}..{hi} (ours {ours:?})",
            epoch + 1
        );
    }
    assert!(ours[9] < ours[0] - 0.1, "the loss falls: {ours:?}");
}

#[test]
fn inputs_by_name_train_as_inputs_by_position() {
    let (x, y) = functional_qa::random_data(256, 0).unwrap();
    let by_position = model(2).fit(&[&x[0], &x[1]], &[&y], &config(1)).unwrap();
    let mut m = model(2);
    let named = m
        .inputs_by_name(&[("question", &x[1]), ("text", &x[0])])
        .unwrap();
    let by_name = m.fit(&named, &[&y], &config(1)).unwrap();
    assert_eq!(by_name.history["loss"], by_position.history["loss"]);
    let err = format!(
        "{:#}",
        m.inputs_by_name(&[("txt", &x[0]), ("question", &x[1])])
            .unwrap_err()
    );
    assert!(
        err.contains("'txt'") && err.contains("text, question"),
        "{err}"
    );
}
