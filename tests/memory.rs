//! Memory over a run: ten epochs keep the process's resident memory flat on each backend (a
//! step allocates nothing that lives on), sampled from /proc at every epoch's end; on the GPU
//! the device memory held is the planned peak.

mod harness;

use wgtrain::cpu::CpuBackend;
use wgtrain::graph::Backend;
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, Callback, CompileConfig, Control, Dense, Dropout, FitConfig, Logs, Loss, Optimizer,
    Sequential, Validation,
};

/// Resident memory is the whole process's, so the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The process's resident set, in bytes.
fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux's /proc");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kb: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number of kB");
    kb * 1024
}

#[derive(Default)]
struct Samples(Vec<usize>);

impl Callback for Samples {
    fn on_epoch_end(&mut self, _: usize, _: &mut Logs, _: &mut Control) -> anyhow::Result<()> {
        self.0.push(resident_bytes());
        Ok(())
    }
}

/// Resident memory after each of ten epochs (about 300 steps with validation).
fn ten_epochs(backend: Box<dyn Backend>) -> Vec<usize> {
    wgtrain::nn::set_random_seed(2);
    let mut s = Sequential::new([32]);
    s.add(Dense::new(64).activation(ActivationKind::Relu))
        .unwrap();
    s.add(Dropout::new(0.2)).unwrap();
    s.add(Dense::new(10).activation(ActivationKind::Softmax))
        .unwrap();
    let mut m = s.build().unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::adam(), Loss::SparseCategoricalCrossentropy),
        backend,
    )
    .unwrap();
    let n = 1000;
    let x = Array::new(
        [n, 32],
        (0..n * 32).map(|i| ((i * 13 % 29) as f32) / 29.0).collect(),
    )
    .unwrap();
    let y = Array::new([n, 1], (0..n).map(|i| (i % 10) as f32).collect()).unwrap();
    let mut samples = Samples::default();
    let cfg = FitConfig {
        epochs: 10,
        batch_size: 32,
        verbose: Verbosity::Silent,
        validation: Validation::Split(0.2),
        ..Default::default()
    };
    m.fit_with_callbacks(&[&x], &[&y], &cfg, &mut [&mut samples])
        .unwrap();
    samples.0
}

/// From the second epoch on (the first builds plans and caches), resident memory may grow by
/// no more than 1 MiB in all over the next nine.
fn assert_flat(what: &str, rss: &[usize]) {
    let after_first = rss[0];
    let highest = *rss[1..].iter().max().unwrap();
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    eprintln!(
        "{what}: resident MiB by epoch {:?}",
        rss.iter()
            .map(|&b| (mib(b) * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
    assert!(
        highest <= after_first + (1 << 20),
        "{what}: resident memory grew from {:.1} MiB to {:.1} MiB",
        mib(after_first),
        mib(highest)
    );
}

#[test]
fn ten_epochs_keep_resident_memory_flat() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert_flat("cpu", &ten_epochs(Box::new(CpuBackend::new())));
    if let Some(gpu) = harness::gpu_backend() {
        assert_flat("gpu", &ten_epochs(Box::new(gpu)));
    }
}

/// On the GPU, the device memory a training run holds — parameters, optimizer slots, the
/// plan's arena — is the planned peak of its step, to the byte (a dense model needs no
/// scratch).
#[test]
fn gpu_device_memory_is_the_planned_peak() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(gpu) = harness::gpu_backend() else {
        return;
    };
    wgtrain::nn::set_random_seed(2);
    let mut s = Sequential::new([32]);
    s.add(Dense::new(64).activation(ActivationKind::Relu))
        .unwrap();
    s.add(Dense::new(10).activation(ActivationKind::Softmax))
        .unwrap();
    let mut m = s.build().unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::adam(), Loss::SparseCategoricalCrossentropy),
        Box::new(gpu),
    )
    .unwrap();
    let n = 256;
    let x = Array::new([n, 32], (0..n * 32).map(|i| (i % 7) as f32 / 7.0).collect()).unwrap();
    let y = Array::new([n, 1], (0..n).map(|i| (i % 10) as f32).collect()).unwrap();
    let cfg = FitConfig {
        epochs: 2,
        batch_size: 32,
        verbose: Verbosity::Silent,
        ..Default::default()
    };
    m.fit(&[&x], &[&y], &cfg).unwrap();
    let held = m.backend_stats().device_bytes as usize;
    let planned = m
        .planned_peak_bytes(32, &[x.sample_shape()], &[y.sample_shape()])
        .unwrap();
    eprintln!("device bytes {held}, planned peak {planned}");
    assert_eq!(held, planned);
}
