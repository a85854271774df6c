//! Workload 1 step for step against Keras 3.15 (TensorFlow): Keras' initial weights, the same
//! batches, dropout 0, 10 Nadam steps through BatchNormalization, the explicit mask and the gated
//! blocks, then the inference-mode loss (moving statistics); then the same steps on the GPU
//! backend. The reference comes from `scripts/keras_reference/imdb_dgcnn_steps.py` (vocabulary
//! shrunk to 1000 ids and reviews to 60 steps to keep the fixture small).

mod harness;
mod keras_fixture;

#[allow(dead_code)]
#[path = "../examples/models/imdb_dgcnn.rs"]
mod imdb_dgcnn;

use keras_fixture::Reference;
use wgtrain::cpu::{ConvAlgorithm, CpuBackend};
use wgtrain::graph::Backend;
use wgtrain::nn::{Array, CompileConfig, Loss, Model, Optimizer};

/// What a run gives: (loss, accuracy) per step, the inference loss on batch 0 after training
/// and the sums of the moving mean and variance.
struct Run {
    steps: Vec<(f32, f32)>,
    inference: f32,
    moving: (f32, f32),
}

fn run_steps(r: &Reference, backend: Box<dyn Backend>) -> Run {
    let mut model: Model = imdb_dgcnn::build_with(r.n("vocab"), r.n("maxlen"), false).unwrap();
    model
        .compile_on(
            CompileConfig::new(Optimizer::nadam(), Loss::BinaryCrossentropy),
            backend,
        )
        .unwrap();
    model.set_weights(&r.weights).unwrap();
    let steps = (0..r.n("steps"))
        .map(|i| {
            let (x, y) = r.batch(i);
            let logs = model.train_on_batch(&[&x], &[&y]).unwrap();
            (logs[0].1, logs[1].1)
        })
        .collect();
    let (x0, y0) = r.batch(0);
    let inference = model.test_on_batch(&[&x0], &[&y0]).unwrap()[0].1;
    let weights = model.get_weights().unwrap();
    let sum = |k: usize| weights[k].f32s().unwrap().iter().sum::<f32>();
    // Keras' order: embeddings, then gamma, beta, moving_mean, moving_variance.
    Run {
        steps,
        inference,
        moving: (sum(3), sum(4)),
    }
}

fn rel(a: f32, b: f32) -> f32 {
    (a - b).abs() / b.abs().max(1e-12)
}

#[test]
fn ten_nadam_steps_with_batch_norm_and_masks_match_keras() {
    check_against_keras(CpuBackend::new());
}

/// The default (`ConvAlgorithm::Auto`) takes Winograd for this model's convolutions (no
/// maximum reads them); the direct GEMMs match Keras as well.
#[test]
fn the_same_steps_with_gemm_convolutions_match_keras() {
    check_against_keras(CpuBackend::new().with_conv_algorithm(ConvAlgorithm::Gemm));
}

fn check_against_keras(backend: CpuBackend) {
    let r = Reference::load("imdb_dgcnn_keras");
    let what = backend.describe();
    let run = run_steps(&r, Box::new(backend));
    let (losses, accs) = (r.list("losses"), r.list("accuracies"));
    let mut worst = 0.0f32;
    for (i, (&(loss, acc), (&k_loss, &k_acc))) in
        run.steps.iter().zip(losses.iter().zip(&accs)).enumerate()
    {
        let e = rel(loss, k_loss);
        worst = worst.max(e);
        assert!(
            e <= 1e-5,
            "step {i}: loss {loss} vs Keras {k_loss} (relative {e:e})"
        );
        assert_eq!(acc, k_acc, "step {i}: batch accuracy");
    }
    let k_inf = r.f("inference_loss_batch0");
    assert!(
        rel(run.inference, k_inf) <= 1e-5,
        "inference loss with the moving statistics {} vs Keras {k_inf}",
        run.inference
    );
    let (mean, var) = run.moving;
    let (k_mean, k_var) = (r.f("moving_mean_sum"), r.f("moving_variance_sum"));
    assert!(
        (mean - k_mean).abs() <= 1e-5 * k_var,
        "moving mean sum {mean} vs {k_mean}"
    );
    assert!(
        rel(var, k_var) <= 1e-5,
        "moving variance sum {var} vs {k_var}"
    );
    eprintln!("{what}: worst relative loss difference from Keras over 10 steps: {worst:e}");
}

#[test]
fn the_same_steps_on_the_gpu_match_the_cpu() {
    let Some(gpu) = harness::gpu_backend() else {
        return;
    };
    let r = Reference::load("imdb_dgcnn_keras");
    let cpu = run_steps(&r, Box::new(CpuBackend::new()));
    let gpu = run_steps(&r, Box::new(gpu));
    for (i, (c, g)) in cpu.steps.iter().zip(&gpu.steps).enumerate() {
        assert!(
            rel(g.0, c.0) <= 1e-4,
            "step {i}: GPU loss {} vs CPU {} (relative {:e})",
            g.0,
            c.0,
            rel(g.0, c.0)
        );
    }
    assert!(
        rel(gpu.inference, cpu.inference) <= 1e-4,
        "inference loss: GPU {} vs CPU {}",
        gpu.inference,
        cpu.inference
    );
}

/// The gated blocks' elementwise tails cost a few GPU dispatches each: what a step adds per block
/// (the three convolutions included) is 10, where it was 19 when the tail's elementwise ops
/// were dispatched group by group (176 dispatches a step for workload 1 then, 131 now).
#[test]
fn each_gated_block_adds_few_gpu_dispatches() {
    let Some(_) = harness::gpu_backend() else {
        return;
    };
    let dispatches = |blocks: &[usize]| {
        let mut model = imdb_dgcnn::build_blocks(50, 12, true, blocks).unwrap();
        let gpu = harness::gpu_backend().expect("the adapter opened once");
        model
            .compile_on(
                CompileConfig::new(Optimizer::nadam(), Loss::BinaryCrossentropy),
                Box::new(gpu),
            )
            .unwrap();
        let x = Array::from_i32([2, 12], (0..24).map(|i| i % 50).collect()).unwrap();
        let y = Array::new([2, 1], vec![0.0, 1.0]).unwrap();
        model.train_on_batch(&[&x], &[&y]).unwrap();
        let before = model.backend_stats().dispatches;
        model.train_on_batch(&[&x], &[&y]).unwrap();
        model.backend_stats().dispatches - before
    };
    let one = dispatches(&[1]);
    let five = dispatches(&[1, 2, 4, 1, 1]);
    let per_block = (five - one) as f64 / 4.0;
    eprintln!("dispatches a step: {one} with one block, {five} with five ({per_block} a block)");
    assert!(per_block <= 12.0, "{per_block} dispatches a block");
}
