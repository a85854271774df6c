//! Workload 4 step for step against Keras 3.15 (TensorFlow): Keras' initial weights, the same
//! batches, dropout 0, 20 Adam steps of the FM model; then the same steps on the GPU backend.
//! The reference comes from `scripts/keras_reference/imdb_fm_steps.py` (vocabulary shrunk to
//! 1000 words to keep the fixture small).

mod harness;

#[allow(dead_code)]
#[path = "../examples/models/imdb_fm.rs"]
mod imdb_fm;

use safetensors::SafeTensors;
use wgtrain::cpu::CpuBackend;
use wgtrain::graph::Backend;
use wgtrain::nn::{Array, CompileConfig, Loss, Model, Optimizer};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/imdb_fm_keras");

struct Reference {
    weights: Vec<Array>,
    x: Vec<i32>,
    y: Vec<f32>,
    losses: Vec<f32>,
    accuracies: Vec<f32>,
    inference_loss: f32,
    batch: usize,
    maxlen: usize,
    num_words: usize,
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

fn reference() -> Reference {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURE}.json")).unwrap()).unwrap();
    let bytes = std::fs::read(format!("{FIXTURE}.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let le = |name: &str| -> (Vec<usize>, Vec<[u8; 4]>) {
        let t = st.tensor(name).unwrap();
        let words = t
            .data()
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect();
        (t.shape().to_vec(), words)
    };
    let n_weights = meta["weight_names"].as_array().unwrap().len();
    let weights = (0..n_weights)
        .map(|i| {
            let (shape, words) = le(&format!("weight.{i:02}"));
            Array::new(shape, words.into_iter().map(f32::from_le_bytes).collect()).unwrap()
        })
        .collect();
    let x = le("x").1.into_iter().map(i32::from_le_bytes).collect();
    let y = le("y").1.into_iter().map(f32::from_le_bytes).collect();
    let n = |k: &str| meta[k].as_u64().unwrap() as usize;
    Reference {
        weights,
        x,
        y,
        losses: floats(&meta["losses"]),
        accuracies: floats(&meta["accuracies"]),
        inference_loss: meta["inference_loss_batch0"].as_f64().unwrap() as f32,
        batch: n("batch_size"),
        maxlen: n("maxlen"),
        num_words: n("num_words"),
    }
}

fn batch(r: &Reference, i: usize) -> (Array, Array) {
    let (b, l) = (r.batch, r.maxlen);
    let x = Array::from_i32([b, l], r.x[i * b * l..(i + 1) * b * l].to_vec()).unwrap();
    let y = Array::new([b, 1], r.y[i * b..(i + 1) * b].to_vec()).unwrap();
    (x, y)
}

/// Keras' weights loaded, 20 steps: (loss, accuracy) per step and the inference loss after.
fn run_steps(r: &Reference, backend: Box<dyn Backend>) -> (Vec<(f32, f32)>, f32) {
    assert_eq!(r.maxlen, imdb_fm::MAXLEN);
    let mut model: Model =
        imdb_fm::build(imdb_fm::Head::FactorizationMachine, r.num_words, 0.0).unwrap();
    model
        .compile_on(
            CompileConfig::new(Optimizer::adam(), Loss::BinaryCrossentropy),
            backend,
        )
        .unwrap();
    model.set_weights(&r.weights).unwrap();
    let steps = (0..r.losses.len())
        .map(|i| {
            let (x, y) = batch(r, i);
            let logs = model.train_on_batch(&[&x], &[&y]).unwrap();
            (logs[0].1, logs[1].1)
        })
        .collect();
    let (x0, y0) = batch(r, 0);
    let eval = model.test_on_batch(&[&x0], &[&y0]).unwrap();
    (steps, eval[0].1)
}

fn rel(a: f32, b: f32) -> f32 {
    (a - b).abs() / b.abs().max(1e-12)
}

#[test]
fn twenty_adam_steps_match_keras_per_step_losses() {
    let r = reference();
    let (steps, inference) = run_steps(&r, Box::new(CpuBackend::new()));
    let worst = steps
        .iter()
        .zip(&r.losses)
        .map(|((l, _), k)| rel(*l, *k))
        .fold(0.0f32, f32::max);
    for (i, ((loss, acc), (k_loss, k_acc))) in steps
        .iter()
        .zip(r.losses.iter().zip(&r.accuracies))
        .enumerate()
    {
        assert!(
            rel(*loss, *k_loss) <= 1e-5,
            "step {i}: loss {loss} vs Keras {k_loss} (relative {:e})",
            rel(*loss, *k_loss)
        );
        assert_eq!(acc, k_acc, "step {i}: batch accuracy");
    }
    assert!(
        rel(inference, r.inference_loss) <= 1e-5,
        "inference loss after training {inference} vs Keras {}",
        r.inference_loss
    );
    eprintln!("worst relative loss difference from Keras over 20 steps: {worst:e}");
}

#[test]
fn the_same_steps_on_the_gpu_match_the_cpu() {
    let Some(gpu) = harness::gpu_backend() else {
        return;
    };
    let r = reference();
    let (cpu_steps, cpu_inf) = run_steps(&r, Box::new(CpuBackend::new()));
    let (gpu_steps, gpu_inf) = run_steps(&r, Box::new(gpu));
    for (i, ((c, _), (g, _))) in cpu_steps.iter().zip(&gpu_steps).enumerate() {
        assert!(
            rel(*g, *c) <= 1e-4,
            "step {i}: GPU loss {g} vs CPU {c} (relative {:e})",
            rel(*g, *c)
        );
    }
    assert!(
        rel(gpu_inf, cpu_inf) <= 1e-4,
        "inference loss: GPU {gpu_inf} vs CPU {cpu_inf}"
    );
}
