//! SimpleRNN, LSTM, GRU and Bidirectional step for step against Keras 3.15 (TensorFlow):
//! Keras' initial weights, the same batches, 20 RMSprop steps of Embedding -> recurrent ->
//! recurrent -> Dense(1, sigmoid), with and without the Embedding's mask (rows pre-padded and
//! post-padded, two with no valid step), then the loss on batch 0 after training; then the same
//! steps on the GPU backend. The references come from `scripts/keras_reference/rnn_steps.py`.

mod harness;
mod keras_fixture;

use keras_fixture::Reference;
use wgtrain::cpu::CpuBackend;
use wgtrain::graph::{Backend, DType};
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Bidirectional, CompileConfig, Dense, Embedding, Input, LayerExt, Loss, MergeMode, Model,
    Optimizer, Recurrent, SimpleRNN, GRU, LSTM,
};

const CASES: [&str; 7] = [
    "simplernn",
    "simplernn_masked",
    "lstm",
    "lstm_masked",
    "gru",
    "gru_masked",
    "bilstm_masked",
];

fn model(case: &str, r: &Reference) -> Model {
    let (words, dim, units) = (r.n("num_words"), r.n("embedding_dim"), r.n("units"));
    let masked = case.ends_with("_masked");
    let ids = Input::typed([r.n("maxlen")], DType::I32);
    let x = Embedding::new(words, dim)
        .mask_zero(masked)
        .apply(&ids)
        .unwrap();
    let layer = |u: usize| -> Recurrent {
        match case.trim_end_matches("_masked") {
            "simplernn" => SimpleRNN::new(u),
            "lstm" => LSTM::new(u),
            "gru" => GRU::new(u),
            other => panic!("no single-layer case {other}"),
        }
    };
    let h = if case == "bilstm_masked" {
        let x = Bidirectional::new(LSTM::new(units).return_sequences(true))
            .apply(&x)
            .unwrap();
        Bidirectional::new(GRU::new(units))
            .merge_mode(MergeMode::Sum)
            .apply(&x)
            .unwrap()
    } else {
        let x = layer(units).return_sequences(true).apply(&x).unwrap();
        layer(units).apply(&x).unwrap()
    };
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&h)
        .unwrap();
    Model::new(&[&ids], &[&out]).unwrap()
}

/// (loss, accuracy) per step and the loss on batch 0 after training.
fn run_steps(case: &str, r: &Reference, backend: Box<dyn Backend>) -> (Vec<(f32, f32)>, f32) {
    let mut m = model(case, r);
    assert_eq!(
        m.count_params(),
        r.n("count_params"),
        "{case}: parameter count"
    );
    m.compile_on(
        CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
        backend,
    )
    .unwrap();
    m.set_weights(&r.weights).unwrap();
    let steps = (0..r.n("steps"))
        .map(|i| {
            let (x, y) = r.batch(i);
            let logs = m.train_on_batch(&[&x], &[&y]).unwrap();
            (logs[0].1, logs[1].1)
        })
        .collect();
    let (x0, y0) = r.batch(0);
    (steps, m.test_on_batch(&[&x0], &[&y0]).unwrap()[0].1)
}

fn rel(a: f32, b: f32) -> f32 {
    (a - b).abs() / b.abs().max(1e-12)
}

#[test]
fn twenty_rmsprop_steps_match_keras_for_every_cell_masked_and_unmasked() {
    let mut failures = Vec::new();
    for case in CASES {
        let r = Reference::load(&format!("rnn_{case}_keras"));
        let (steps, inference) = run_steps(case, &r, Box::new(CpuBackend::new()));
        let (losses, accuracies) = (r.list("losses"), r.list("accuracies"));
        let mut worst = 0.0f32;
        for (i, ((loss, acc), (k_loss, k_acc))) in
            steps.iter().zip(losses.iter().zip(&accuracies)).enumerate()
        {
            worst = worst.max(rel(*loss, *k_loss));
            if rel(*loss, *k_loss) > 1e-5 {
                failures.push(format!("{case} step {i}: loss {loss} vs Keras {k_loss}"));
            }
            if acc != k_acc {
                failures.push(format!("{case} step {i}: accuracy {acc} vs Keras {k_acc}"));
            }
        }
        let k_inference = r.f("inference_loss_batch0");
        if rel(inference, k_inference) > 1e-5 {
            failures.push(format!(
                "{case}: loss after training {inference} vs Keras {k_inference}"
            ));
        }
        eprintln!("{case}: worst relative loss difference from Keras over 20 steps {worst:e}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_same_steps_on_the_gpu_match_the_cpu() {
    let Some(_) = harness::gpu_backend() else {
        return;
    };
    for case in CASES {
        let r = Reference::load(&format!("rnn_{case}_keras"));
        let gpu = harness::gpu_backend().expect("the adapter opened once");
        let (cpu_steps, cpu_inf) = run_steps(case, &r, Box::new(CpuBackend::new()));
        let (gpu_steps, gpu_inf) = run_steps(case, &r, Box::new(gpu));
        for (i, ((c, _), (g, _))) in cpu_steps.iter().zip(&gpu_steps).enumerate() {
            assert!(
                rel(*g, *c) <= 1e-4,
                "{case} step {i}: GPU loss {g} vs CPU {c}"
            );
        }
        assert!(
            rel(gpu_inf, cpu_inf) <= 1e-4,
            "{case}: GPU loss after training {gpu_inf} vs CPU {cpu_inf}"
        );
    }
}
