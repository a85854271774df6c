//! Bad input is tried, not assumed, for the files a model reads: weights (safetensors, by
//! `load_weights`) and run backups (`BackupAndRestore`, read when `fit` starts). Thousands of
//! truncated, bit-flipped, overwritten and random files made from valid ones must each load or
//! fail with an error naming the file — never a panic, a hang or a huge allocation (the
//! harness of `crates/wgtrain-data/tests/mutation_harness`). `docs/reliability.md` lists the
//! cases.

#[path = "../crates/wgtrain-data/tests/mutation_harness/mod.rs"]
mod mutation_harness;

use mutation_harness::{mutations, try_all_files};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use wgtrain::cpu::CpuBackend;
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, BackupAndRestore, CompileConfig, Dense, FitConfig, History, Loss, Model, Optimizer,
    Sequential,
};

fn model() -> Model {
    wgtrain::nn::set_random_seed(3);
    let mut s = Sequential::new([4]);
    s.add(Dense::new(5).activation(ActivationKind::Relu))
        .unwrap();
    s.add(Dense::new(1)).unwrap();
    let mut m = s.build().unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::adam(), Loss::MeanSquaredError),
        Box::new(CpuBackend::with_threads(1)),
    )
    .unwrap();
    m
}

fn scratch_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wgtrain-mutate-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn weights_files_never_panic_or_overallocate() {
    let dir = scratch_dir("weights");
    let valid_path = dir.join("valid.safetensors");
    model().save_weights(&valid_path).unwrap();
    let valid = std::fs::read(&valid_path).unwrap();
    let mut m = model();
    let load = |p: &Path| model().load_weights(p);
    try_all_files(
        "weights",
        &mutations(&valid, 3000, 40),
        &dir,
        "w.safetensors",
        load,
    );
    // A header claiming a tensor of 10^12 floats in a file of a few hundred bytes.
    let header = r#"{"dense/kernel":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}}"#;
    let mut claim = (header.len() as u64).to_le_bytes().to_vec();
    claim.extend_from_slice(header.as_bytes());
    claim.extend_from_slice(&[0; 16]);
    try_all_files("weights claim", &[claim], &dir, "claim.safetensors", load);
    m.load_weights(&valid_path).expect("the valid file loads");
}

#[test]
fn backups_never_panic_or_overallocate() {
    let dir = scratch_dir("backup");
    let x = Array::new([40, 4], (0..160).map(|i| (i % 7) as f32 * 0.1).collect()).unwrap();
    let y = Array::new([40, 1], (0..40).map(|i| (i % 3) as f32).collect()).unwrap();
    let stop = AtomicBool::new(true);
    let fit = |folder: &Path, interrupt: Option<&AtomicBool>| {
        let mut backup = BackupAndRestore::new(folder);
        let cfg = FitConfig {
            epochs: 2,
            batch_size: 8,
            verbose: Verbosity::Silent,
            interrupt,
            ..Default::default()
        };
        model()
            .fit_with_callbacks(&[&x], &[&y], &cfg, &mut [&mut backup])
            .map(|_| ())
    };
    let made = dir.join("made");
    fit(&made, Some(&stop)).unwrap();
    let valid = std::fs::read(made.join("backup.safetensors")).unwrap();
    let tried = dir.join("tried");
    std::fs::create_dir_all(&tried).unwrap();
    let resume = |_: &Path| fit(&tried, None);
    let inputs = mutations(&valid, 1200, 41);
    try_all_files("backup", &inputs, &tried, "backup.safetensors", resume);
}

#[test]
fn model_files_never_panic_or_overallocate() {
    let dir = scratch_dir("model-json");
    let text = model().to_json().unwrap();
    let read = |p: &Path| Model::from_json_file(p).map(|_| ());
    let inputs = mutations(text.as_bytes(), 3000, 42);
    try_all_files("model json", &inputs, &dir, "m.json", read);
    // A layer claiming 10^12 units, and an input of 10^12 features: refused as too large
    // before anything that size is asked for.
    let huge_layer = text.replacen("\"units\": 5", "\"units\": 1000000000000", 1);
    let huge_input = text.replacen("4\n", "1000000000000\n", 1);
    for claim in [&huge_layer, &huge_input] {
        assert_ne!(claim, &text);
        let Err(err) = Model::from_json(claim) else {
            panic!("a 10^12-value weight must be refused");
        };
        assert!(
            format!("{err:#}").contains("larger than one weight may be"),
            "{err:#}"
        );
    }
    let claims = [huge_layer.into_bytes(), huge_input.into_bytes()];
    try_all_files("model json claims", &claims, &dir, "claim.json", read);
}

#[test]
fn history_files_never_panic_or_overallocate() {
    let dir = scratch_dir("history");
    let mut h = History::default();
    for (k, v) in [
        ("loss", [0.69f32, 0.45, 0.31]),
        ("accuracy", [0.57, 0.79, 0.87]),
        ("val_loss", [0.55, 0.43, 0.38]),
        ("val_accuracy", [0.73, 0.81, 0.84]),
    ] {
        for x in v {
            h.push(k, x);
        }
    }
    h.step_loss = vec![0.7, 0.6, 0.5];
    let picture = dir.join("curves.svg");
    let read_and_plot = |p: &Path| History::from_json_file(p)?.plot(&picture);
    let inputs = mutations(h.to_json().as_bytes(), 1500, 43);
    try_all_files("history json", &inputs, &dir, "h.json", read_and_plot);
    // Values no axis can span are refused by name.
    let huge = h
        .to_json()
        .replacen("0.69", "3e38", 1)
        .replacen("0.45", "-3e38", 1);
    std::fs::write(dir.join("huge.json"), &huge).unwrap();
    let err = read_and_plot(&dir.join("huge.json")).unwrap_err();
    assert!(
        format!("{err:#}").contains("'loss' holds values too large to plot"),
        "{err:#}"
    );
}
