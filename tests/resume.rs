//! Resumable runs (`BackupAndRestore`): a run interrupted at chosen steps and resumed from its
//! backup in a fresh model ends where an uninterrupted run ends — the same bits on the CPU,
//! within float tolerance on the GPU — with the same History, callback decisions and CSV log.

mod harness;

use std::sync::atomic::{AtomicBool, Ordering};
use wgtrain::cpu::CpuBackend;
use wgtrain::graph::Backend;
use wgtrain::nn::callbacks::Mode;
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, BackupAndRestore, Callback, CompileConfig, Control, CsvLogger, Dense, Dropout,
    EarlyStopping, FitConfig, History, Logs, Loss, Model, Optimizer, ReduceLROnPlateau, Sequential,
    Validation,
};

fn model(backend: Box<dyn Backend>) -> Model {
    wgtrain::nn::set_random_seed(11);
    let mut s = Sequential::new([6]);
    s.add(Dense::new(16).activation(ActivationKind::Relu))
        .unwrap();
    s.add(Dropout::new(0.3)).unwrap();
    s.add(Dense::new(1).activation(ActivationKind::Sigmoid))
        .unwrap();
    let mut m = s.build().unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::nadam(), Loss::BinaryCrossentropy),
        backend,
    )
    .unwrap();
    m
}

/// 300 samples: batches of 32 leave a short last batch, so both plans run.
fn data() -> (Array, Array) {
    let n = 300;
    let x: Vec<f32> = (0..n * 6)
        .map(|i| (((i * 37 + 11) % 97) as f32 / 97.0 - 0.5) * 2.0)
        .collect();
    let y: Vec<f32> = x
        .chunks(6)
        .map(|r| f32::from(r[0] - r[2] + 0.5 * r[4] > 0.0))
        .collect();
    (
        Array::new([n, 6], x).unwrap(),
        Array::new([n, 1], y).unwrap(),
    )
}

fn scratch_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wgtrain-resume-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Raises the interrupt flag after the run's `at`-th training step (counted from 1 across
/// epochs and across resumed runs, since a resumed run starts counting where its backup was).
struct InterruptAt<'a> {
    at: usize,
    seen: usize,
    flag: &'a AtomicBool,
}

impl Callback for InterruptAt<'_> {
    fn on_train_batch_end(&mut self, _: usize, _: &Logs, _: &mut Control) -> anyhow::Result<()> {
        self.seen += 1;
        if self.seen == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

struct Outcome {
    weights: Vec<Vec<f32>>,
    history: History,
    csv: String,
}

/// Trains 5 epochs with the callbacks a resumed run must carry over, backing up every 4 steps;
/// interrupts after each count of steps in `stops` (steps run since that start), resuming
/// each time in a new model.
fn train(backend: &dyn Fn() -> Box<dyn Backend>, stops: &[usize], tag: &str) -> Outcome {
    let (x, y) = data();
    let dir = scratch_dir(tag);
    let csv = dir.join("log.csv");
    let mut attempts = stops.iter().map(Some).chain([None]);
    loop {
        let stop_after = attempts.next().expect("the last attempt runs to the end");
        let flag = AtomicBool::new(false);
        let mut m = model(backend());
        let mut interrupt = InterruptAt {
            at: stop_after.copied().unwrap_or(usize::MAX),
            seen: 0,
            flag: &flag,
        };
        let mut plateau = ReduceLROnPlateau::new()
            .monitor("val_loss", Mode::Auto, 0.05)
            .patience(2);
        let mut early = EarlyStopping::new()
            .monitor("val_loss", Mode::Auto, 0.0)
            .patience(10)
            .restore_best_weights(true);
        let mut log = CsvLogger::new(&csv);
        let mut backup = BackupAndRestore::new(dir.join("backup")).every_steps(4);
        let cfg = FitConfig {
            epochs: 5,
            batch_size: 32,
            verbose: Verbosity::Silent,
            validation: Validation::Split(0.2),
            interrupt: Some(&flag),
            ..Default::default()
        };
        let history = m
            .fit_with_callbacks(
                &[&x],
                &[&y],
                &cfg,
                &mut [
                    &mut interrupt,
                    &mut plateau,
                    &mut early,
                    &mut log,
                    &mut backup,
                ],
            )
            .unwrap();
        assert_eq!(history.interrupted, stop_after.is_some(), "{tag}");
        if history.interrupted {
            assert!(
                backup.path().exists(),
                "{tag}: an interrupted run leaves its backup"
            );
            continue;
        }
        assert!(
            !backup.path().exists(),
            "{tag}: a finished run removes its backup"
        );
        return Outcome {
            weights: m.weight_values().unwrap(),
            history,
            csv: std::fs::read_to_string(&csv).unwrap(),
        };
    }
}

fn same_history(a: &History, b: &History, tag: &str) {
    assert_eq!(a.history, b.history, "{tag}: per-epoch logs");
    assert_eq!(a.step_loss, b.step_loss, "{tag}: step losses");
    assert_eq!(
        a.epoch_seconds.len(),
        b.epoch_seconds.len(),
        "{tag}: epochs"
    );
}

/// Interrupted mid-epoch, right after an epoch's last step, and several times in one run:
/// the resumed runs end with the uninterrupted run's bits, History and CSV log.
#[test]
fn a_resumed_cpu_run_ends_with_the_same_bits() {
    let cpu = || Box::new(CpuBackend::new()) as Box<dyn Backend>;
    let whole = train(&cpu, &[], "cpu-whole");
    assert!(
        whole.history.history["learning_rate"]
            .windows(2)
            .any(|w| w[1] < w[0]),
        "the plateau rule lowers the rate in this run, so its state matters"
    );
    // 8 steps an epoch (240 training samples in batches of 32).
    for (stops, tag) in [
        (&[3][..], "mid-epoch"),
        (&[8][..], "epoch-end"),
        (&[5, 6, 13, 1][..], "four-times"),
    ] {
        let resumed = train(&cpu, stops, tag);
        assert!(
            resumed.weights == whole.weights,
            "{tag}: the resumed run's weights differ from the uninterrupted run's"
        );
        same_history(&resumed.history, &whole.history, tag);
        assert_eq!(resumed.csv, whole.csv, "{tag}: CSV log");
    }
}

#[test]
fn a_resumed_gpu_run_ends_within_float_tolerance() {
    if harness::gpu_backend().is_none() {
        return;
    }
    let gpu =
        || Box::new(harness::gpu_backend().expect("the adapter opened above")) as Box<dyn Backend>;
    let whole = train(&gpu, &[], "gpu-whole");
    let resumed = train(&gpu, &[6, 9], "gpu-resumed");
    for (a, b) in resumed.weights.iter().zip(&whole.weights) {
        for (p, q) in a.iter().zip(b) {
            assert!((p - q).abs() <= 1e-5 * q.abs().max(1.0), "{p} vs {q}");
        }
    }
    assert_eq!(
        resumed.history.history.keys().collect::<Vec<_>>(),
        whole.history.history.keys().collect::<Vec<_>>()
    );
}

/// A backup from other settings is refused with a message naming the file, not used.
#[test]
fn a_backup_from_other_settings_is_refused() {
    let (x, y) = data();
    let dir = scratch_dir("other-settings");
    let flag = AtomicBool::new(false);
    let run = |batch: usize, stop: bool| {
        let mut m = model(Box::new(CpuBackend::new()));
        let mut interrupt = InterruptAt {
            at: if stop { 2 } else { usize::MAX },
            seen: 0,
            flag: &flag,
        };
        let mut backup = BackupAndRestore::new(&dir);
        let cfg = FitConfig {
            epochs: 2,
            batch_size: batch,
            verbose: Verbosity::Silent,
            interrupt: Some(&flag),
            ..Default::default()
        };
        m.fit_with_callbacks(&[&x], &[&y], &cfg, &mut [&mut interrupt, &mut backup])
    };
    assert!(run(32, true).unwrap().interrupted);
    flag.store(false, Ordering::SeqCst);
    let err = run(16, false).unwrap_err().to_string();
    assert!(
        err.contains("backup.safetensors") && err.contains("delete it"),
        "{err}"
    );
}
