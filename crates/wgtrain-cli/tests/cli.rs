//! The `wgtrain` binary: the demo learns, and user mistakes give a clear message and a non-zero exit.

use std::process::Command;

fn wgtrain(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wgtrain"))
        .args(args)
        .env_remove("WGTRAIN_DATA_DIR")
        .output()
        .expect("the wgtrain binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn an_unknown_model_lists_the_known_ones() {
    let (ok, text) = wgtrain(&["summary", "mnist-resnet"]);
    assert!(!ok);
    assert!(text.contains("unknown model 'mnist-resnet'"), "{text}");
    assert!(text.contains("mnist-antirectifier"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn a_missing_data_directory_is_named() {
    let (ok, text) = wgtrain(&[
        "train",
        "mnist-antirectifier",
        "--data-dir",
        "/nonexistent/mnist",
    ]);
    assert!(!ok);
    assert!(text.contains("/nonexistent/mnist"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn summary_prints_the_keras_table() {
    let (ok, text) = wgtrain(&["summary", "mnist-antirectifier"]);
    assert!(ok, "{text}");
    assert!(text.contains("antirectifier (Antirectifier)"), "{text}");
    assert!(text.contains("(None, 512)"), "{text}");
    assert!(text.contains("Total params: 337,418"), "{text}");
}

#[test]
fn the_demo_learns_the_spirals() {
    let (ok, text) = wgtrain(&["demo", "--epochs", "10"]);
    assert!(ok, "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("validation accuracy"))
        .expect("a final line");
    let last: f32 = line
        .split("-> ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(last > 0.8, "{line}");
}

#[test]
fn train_writes_history_with_every_step_loss() {
    let Some(dir) = mnist_dir() else { return };
    let hist = std::env::temp_dir().join(format!("wgtrain-history-{}.json", std::process::id()));
    let (ok, text) = wgtrain(&[
        "train",
        "mnist-antirectifier",
        "--data-dir",
        &dir,
        "--epochs",
        "1",
        "--max-steps",
        "20",
        "--device",
        "cpu",
        "--history",
        hist.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&hist).unwrap()).unwrap();
    assert_eq!(h["step_loss"].as_array().unwrap().len(), 20);
    for k in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        assert_eq!(h["history"][k].as_array().unwrap().len(), 1, "{k}");
    }
    assert_eq!(h["epoch_seconds"].as_array().unwrap().len(), 1);
    std::fs::remove_file(hist).unwrap();
}

fn mnist_dir() -> Option<String> {
    let dir = std::env::var("WGTRAIN_MNIST_DIR").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/datasets/mnist"
        )
        .to_string()
    });
    if std::path::Path::new(&dir).is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "real MNIST is required under CI: {dir} is missing"
    );
    eprintln!("note: {dir} is missing; this test did not run");
    None
}
