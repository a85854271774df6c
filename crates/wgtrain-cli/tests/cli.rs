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
    let plot = std::env::temp_dir().join(format!("wgtrain-curves-{}.svg", std::process::id()));
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
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("Training and validation loss"), "{svg}");
    assert!(svg.contains("Training and validation accuracy"), "{svg}");
    std::fs::remove_file(&plot).unwrap();
    let h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&hist).unwrap()).unwrap();
    assert_eq!(h["step_loss"].as_array().unwrap().len(), 20);
    for k in ["loss", "accuracy", "val_loss", "val_accuracy"] {
        assert_eq!(h["history"][k].as_array().unwrap().len(), 1, "{k}");
    }
    assert_eq!(h["epoch_seconds"].as_array().unwrap().len(), 1);
    std::fs::remove_file(hist).unwrap();
}

/// Weights saved by `train --save` evaluate to the run's last validation numbers, and `predict`
/// writes one CSV row of class probabilities per test sample.
#[test]
fn evaluate_and_predict_use_saved_weights() {
    let Some(dir) = mnist_dir() else { return };
    let out = std::env::temp_dir().join(format!("wgtrain-eval-{}", std::process::id()));
    let weights = out.join("w.safetensors");
    let common = ["--data-dir", &dir, "--device", "cpu"];
    let (ok, text) = wgtrain(
        &[
            &[
                "train",
                "mnist-antirectifier",
                "--epochs",
                "1",
                "--max-steps",
                "30",
            ][..],
            &common,
            &["--save", weights.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(ok, "{text}");
    let val_accuracy = format!("{:.4}", test_accuracy(&text));
    let weights_args = ["--weights", weights.to_str().unwrap()];
    let (ok, text) = wgtrain(
        &[
            &["evaluate", "mnist-antirectifier"][..],
            &common,
            &weights_args,
        ]
        .concat(),
    );
    assert!(ok, "{text}");
    assert!(text.contains("10000 test samples - loss: "), "{text}");
    assert!(
        text.contains(&format!("accuracy: {val_accuracy}")),
        "{text}"
    );
    let preds = out.join("p.csv");
    let (ok, text) = wgtrain(
        &[
            &[
                "predict",
                "mnist-antirectifier",
                "--limit",
                "100",
                "-o",
                preds.to_str().unwrap(),
            ][..],
            &common,
            &weights_args,
        ]
        .concat(),
    );
    assert!(ok, "{text}");
    let csv = std::fs::read_to_string(&preds).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("p0,p1,p2,p3,p4,p5,p6,p7,p8,p9,class"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 100);
    for row in rows {
        let values: Vec<f64> = row.split(',').map(|v| v.parse().unwrap()).collect();
        let sum: f64 = values[..10].iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "{row}");
        let argmax = (0..10).fold(0, |b, k| if values[k] > values[b] { k } else { b });
        assert_eq!(values[10] as usize, argmax, "{row}");
    }
    let (ok, text) = wgtrain(
        &[
            &[
                "evaluate",
                "mnist-antirectifier",
                "--weights",
                "/nonexistent.safetensors",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert!(!ok);
    assert!(text.contains("no such file"), "{text}");
    std::fs::remove_dir_all(&out).unwrap();
}

/// Real MNIST, found as the command line finds it (`wgtrain::data::real_data`).
/// The accuracy `train` prints at its end ("test accuracy: 0.9123").
fn test_accuracy(text: &str) -> f32 {
    text.lines()
        .find_map(|l| l.strip_prefix("test accuracy: "))
        .expect("train prints the test accuracy")
        .trim()
        .parse()
        .expect("a number")
}

fn mnist_dir() -> Option<String> {
    use wgtrain::data::real_data::{real_dataset_dir, RealDataset};
    real_dataset_dir(RealDataset::Mnist).map(|d| d.to_string_lossy().into_owned())
}

/// The `--device` GPU tests use: `WGTRAIN_TEST_ADAPTER`, else the software adapter. `None` (with
/// a note) when `wgtrain devices` lists no such adapter, which fails the test under `CI=true`.
fn gpu_device() -> Option<String> {
    let device = std::env::var("WGTRAIN_TEST_ADAPTER").unwrap_or_else(|_| "software".into());
    let (ok, text) = wgtrain(&["devices", "--json"]);
    assert!(ok, "{text}");
    let json = text
        .lines()
        .find(|l| l.starts_with('['))
        .expect("a JSON list");
    let adapters: serde_json::Value = serde_json::from_str(json).unwrap();
    let adapters = adapters.as_array().unwrap();
    let present = match device.as_str() {
        "software" => adapters.iter().any(|a| a["device_type"] == "Cpu"),
        "gpu" => adapters
            .iter()
            .any(|a| a["device_type"] == "DiscreteGpu" || a["device_type"] == "IntegratedGpu"),
        index => index.parse::<usize>().is_ok_and(|i| i < adapters.len()),
    };
    if present {
        return Some(device);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true needs the '{device}' adapter (install mesa-vulkan-drivers); found: {adapters:?}"
    );
    eprintln!("note: no '{device}' adapter; this test did not run");
    None
}

fn step_losses(dir: &str, device: &str, steps: usize) -> Vec<f64> {
    let hist = std::env::temp_dir().join(format!(
        "wgtrain-parity-{device}-{}.json",
        std::process::id()
    ));
    let (ok, text) = wgtrain(&[
        "train",
        "mnist-antirectifier",
        "--data-dir",
        dir,
        "--epochs",
        "1",
        "--max-steps",
        &steps.to_string(),
        "--device",
        device,
        "--history",
        hist.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&hist).unwrap()).unwrap();
    std::fs::remove_file(hist).unwrap();
    h["step_loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn fifty_steps_give_the_same_losses_on_cpu_and_gpu() {
    let Some(dir) = mnist_dir() else { return };
    let Some(device) = gpu_device() else { return };
    let cpu = step_losses(&dir, "cpu", 50);
    let gpu = step_losses(&dir, &device, 50);
    assert_eq!(cpu.len(), 50);
    assert_eq!(gpu.len(), 50);
    assert!(cpu[49] < cpu[0] * 0.8, "the loss does not fall: {cpu:?}");
    for (step, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
        let rel = (c - g).abs() / c.abs().max(1e-6);
        assert!(
            rel <= 1e-3,
            "step {step}: cpu loss {c}, {device} loss {g} (relative difference {rel:e})"
        );
    }
}

#[test]
fn devices_lists_adapters_with_their_limits() {
    let (ok, text) = wgtrain(&["devices"]);
    assert!(ok, "{text}");
    assert!(text.contains("cpu: cpu ("), "{text}");
    if gpu_device().is_some() {
        for field in ["backend Vulkan", "max storage binding", "f16", "subgroups"] {
            assert!(text.contains(field), "{field} missing from:\n{text}");
        }
    }
}

#[test]
fn a_bad_device_is_named_with_the_fix() {
    let (ok, text) = wgtrain(&["summary", "mnist-antirectifier"]);
    assert!(ok, "{text}");
    let (ok, text) = wgtrain(&["bench", "matmul", "--device", "tpu"]);
    assert!(!ok);
    assert!(text.contains("unknown device 'tpu'"), "{text}");
    assert!(text.contains("wgtrain devices"), "{text}");
    let (ok, text) = wgtrain(&["bench", "matmul", "--device", "99"]);
    assert!(!ok);
    assert!(text.contains("there is no adapter 99"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn cpu_conv_picks_the_convolution_algorithm_and_names_the_choices() {
    let args = |conv: &'static str| {
        [
            "bench",
            "imdb-cnn",
            "--json",
            "--device",
            "cpu",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--cpu-conv",
            conv,
        ]
    };
    let (ok, text) = wgtrain(&args("winograd"));
    assert!(ok, "{text}");
    let json: serde_json::Value = serde_json::from_str(text.trim()).expect("JSON");
    assert!(
        json["device"].as_str().unwrap().contains("Winograd"),
        "{text}"
    );
    let (ok, text) = wgtrain(&args("fft"));
    assert!(!ok);
    assert!(
        text.contains("use auto (the default), gemm or winograd"),
        "{text}"
    );
}

#[test]
fn outputs_that_cannot_be_written_fail_before_the_data_is_read() {
    for (flag, path) in [
        ("--save", "/proc/wgtrain/out.file"),
        ("--history", "/proc/wgtrain/out.file"),
        ("--csv-log", "/proc/wgtrain/out.file"),
        ("--checkpoint", "/proc/wgtrain/w.{epoch:02d}.safetensors"),
        ("--backup-dir", "/proc/wgtrain/backup"),
        ("--tensorboard", "/proc/wgtrain/logs"),
    ] {
        let (ok, text) = wgtrain(&[
            "train",
            "mnist-antirectifier",
            "--data-dir",
            "/nonexistent/wgtrain-data",
            flag,
            path,
        ]);
        assert!(!ok);
        assert!(
            text.contains(flag) && text.contains("/proc/wgtrain"),
            "{text}"
        );
        assert!(
            !text.contains("nonexistent"),
            "checked before the data: {text}"
        );
    }
}

#[test]
fn device_auto_says_which_backend_it_took() {
    let (ok, text) = wgtrain(&[
        "bench",
        "matmul",
        "--device",
        "auto",
        "--max-size",
        "256",
        "--min-seconds",
        "0",
        "--json",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("device auto: "), "{text}");
}

#[test]
fn summary_shows_keras_parameter_counts_for_the_imdb_models() {
    for (model, params) in [("imdb-fm", "1,113,151"), ("imdb-cnn", "1,100,751")] {
        let (ok, text) = wgtrain(&["summary", model]);
        assert!(ok, "{text}");
        assert!(
            text.contains(&format!("Total params: {params}")),
            "{model}: {text}"
        );
    }
}

#[test]
fn bench_runs_every_model_on_random_data() {
    for model in ["mnist-antirectifier", "imdb-fm", "imdb-cnn"] {
        let (ok, text) = wgtrain(&[
            "bench",
            model,
            "--json",
            "--device",
            "cpu",
            "--steps",
            "3",
            "--warmup",
            "1",
            "--profile",
        ]);
        assert!(ok, "{model}: {text}");
        let json: serde_json::Value = serde_json::from_str(text.trim()).expect("JSON");
        assert!(json["step_ms_median"].as_f64().unwrap() > 0.0, "{text}");
        assert!(json["planned_peak_bytes"].as_u64().unwrap() > 0, "{text}");
        assert!(
            !json["profile"]["kernels"].as_array().unwrap().is_empty(),
            "{text}"
        );
    }
}

#[test]
fn a_corrupt_imdb_file_is_named_and_exits_non_zero() {
    let dir = std::env::temp_dir().join(format!("wgtrain-bad-imdb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("imdb.npz"),
        b"PK\x03\x04 this is not a zip archive",
    )
    .unwrap();
    let (ok, text) = wgtrain(&["train", "imdb-fm", "--data-dir", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!ok);
    assert!(text.contains("imdb.npz"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn train_runs_the_callbacks_its_flags_ask_for() {
    let Some(dir) = mnist_dir() else { return };
    let out = std::env::temp_dir().join(format!("wgtrain-cli-callbacks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let hist = out.join("history.json");
    let csv = out.join("log.csv");
    let template = format!(
        "{}/ckpt/w.{{epoch:02d}}-{{val_loss:.2f}}.safetensors",
        out.display()
    );
    std::fs::create_dir_all(&out).unwrap();
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
        "--lr-schedule",
        "1:0.0005",
        "--reduce-lr-patience",
        "1",
        "--early-stopping-patience",
        "1",
        "--checkpoint",
        &template,
        "--csv-log",
        csv.to_str().unwrap(),
        "--terminate-on-nan",
    ]);
    assert!(ok, "{text}");
    let h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&hist).unwrap()).unwrap();
    assert_eq!(h["history"]["learning_rate"], serde_json::json!([0.0005]));
    let log = std::fs::read_to_string(&csv).unwrap();
    let mut lines = log.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,accuracy,learning_rate,loss,val_accuracy,val_loss")
    );
    assert!(lines.next().unwrap().starts_with("0,"), "{log}");
    let saved: Vec<String> = std::fs::read_dir(out.join("ckpt"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(saved[0].starts_with("w.01-") && saved[0].ends_with(".safetensors"));
    std::fs::remove_dir_all(&out).unwrap();
    let (ok, text) = wgtrain(&[
        "train",
        "mnist-antirectifier",
        "--lr-schedule",
        "2:0.1,1:0.2",
    ]);
    assert!(!ok && text.contains("--lr-schedule"), "{text}");
}

/// Keras' verbose levels, with output to a pipe: 0 prints no epoch lines, 1 and 2 one line per
/// epoch, and none of them a carriage return.
#[test]
fn verbose_levels_print_as_keras_and_a_pipe_gets_no_carriage_returns() {
    let Some(dir) = mnist_dir() else {
        return;
    };
    let run = |level: &str| {
        let (ok, text) = wgtrain(&[
            "train",
            "mnist-antirectifier",
            "--device",
            "cpu",
            "--data-dir",
            &dir,
            "--epochs",
            "2",
            "--max-steps",
            "30",
            "--verbose",
            level,
        ]);
        assert!(ok, "{text}");
        assert!(!text.contains('\r'), "verbose {level}: {text}");
        text
    };
    assert!(!run("0").contains("Epoch 1/2"));
    let bar = run("1");
    assert_eq!(bar.matches("30/469 [").count(), 1, "{bar}");
    let lines = run("2");
    assert_eq!(lines.matches("Epoch 1/2").count(), 1, "{lines}");
    assert_eq!(lines.matches("30/469 - ").count(), 1, "{lines}");
    let (ok, text) = wgtrain(&["train", "mnist-antirectifier", "--verbose", "3"]);
    assert!(!ok && text.contains("--verbose"), "{text}");
}

/// CRC-32C by a lookup table (not the writer's bitwise loop), masked as TFRecord frames are.
fn masked_crc32c(bytes: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|i| {
            (0..8).fold(i, |c, _| {
                if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    let crc = !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8)
    });
    crc.rotate_right(15).wrapping_add(0xA282_EAD8)
}

/// The records of a TensorBoard event file, each frame's checksums verified.
fn event_records(path: &std::path::Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len_bytes = &bytes[at..at + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let crc = |k: usize| u32::from_le_bytes(bytes[k..k + 4].try_into().unwrap());
        assert_eq!(crc(at + 8), masked_crc32c(len_bytes), "length checksum");
        let data = &bytes[at + 12..at + 12 + len];
        assert_eq!(crc(at + 12 + len), masked_crc32c(data), "data checksum");
        records.push(data.to_vec());
        at += 16 + len;
    }
    records
}

/// `--tensorboard`: event files in train/ and validation/ whose frames check out, with the
/// file version first, a scalar event per epoch, the step scalars and the model text.
#[test]
fn tensorboard_logs_are_framed_event_files() {
    let Some(dir) = mnist_dir() else {
        return;
    };
    let logs = std::env::temp_dir().join(format!("wgtrain-tb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&logs);
    let (ok, text) = wgtrain(&[
        "train",
        "mnist-antirectifier",
        "--device",
        "cpu",
        "--data-dir",
        &dir,
        "--epochs",
        "2",
        "--max-steps",
        "40",
        "--tensorboard",
        logs.to_str().unwrap(),
        "--tensorboard-every",
        "10",
    ]);
    assert!(ok, "{text}");
    let only_file = |run: &str| {
        let files: Vec<_> = std::fs::read_dir(logs.join(run))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{run}: {files:?}");
        assert!(files[0].to_str().unwrap().contains("tfevents"));
        event_records(&files[0])
    };
    let contains = |r: &[u8], s: &str| r.windows(s.len()).any(|w| w == s.as_bytes());
    let count = |records: &[Vec<u8>], s: &str| records.iter().filter(|r| contains(r, s)).count();
    let train = only_file("train");
    assert!(contains(&train[0], "brain.Event:2"));
    assert_eq!(count(&train, "epoch_loss"), 1, "40 steps end in epoch 1");
    assert_eq!(count(&train, "batch_loss"), 4);
    assert_eq!(count(&train, "epoch_learning_rate"), 1);
    assert_eq!(count(&train, "graph ops"), 1);
    let validation = only_file("validation");
    assert_eq!(count(&validation, "epoch_accuracy"), 1);
    assert_eq!(count(&validation, "val_"), 0, "Keras drops the prefix");
    std::fs::remove_dir_all(&logs).unwrap();
}

/// A `.npy` file (format 1.0) of `descr` values with `shape`, C or Fortran order.
fn npy_file(path: &std::path::Path, descr: &str, fortran: bool, shape: &[usize], data: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let order = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wgtrain-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `--x/--y` .npy files (Fortran-order inputs, int64 class ids made one-hot for the model's ten
/// outputs) and a CSV of numeric features train MNIST's model; a wrong feature count is named
/// before training.
#[test]
fn train_takes_npy_arrays_and_names_a_shape_mismatch() {
    let dir = scratch("npy");
    let n = 64;
    let x: Vec<u8> = (0..n * 784)
        .flat_map(|i| ((i % 13) as f32 / 13.0).to_le_bytes())
        .collect();
    let y: Vec<u8> = (0..n as i64).flat_map(|i| (i % 10).to_le_bytes()).collect();
    let (xp, yp) = (dir.join("x.npy"), dir.join("y.npy"));
    npy_file(&xp, "<f4", true, &[n, 784], &x);
    npy_file(&yp, "<i8", false, &[n], &y);
    let (xs, ys) = (xp.to_str().unwrap(), yp.to_str().unwrap());
    let args = [
        "train",
        "mnist-antirectifier",
        "--device",
        "cpu",
        "--epochs",
        "1",
    ];
    let (ok, text) = wgtrain(
        &[
            &args[..],
            &["--x", xs, "--y", ys, "--validation-split", "0.25"],
        ]
        .concat(),
    );
    assert!(ok, "{text}");
    assert!(text.contains("val_accuracy"), "{text}");
    // The same samples as a CSV of numeric features with the label in its own column.
    let header: Vec<String> = (0..784)
        .map(|c| format!("p{c}"))
        .chain(["digit".into()])
        .collect();
    let mut csv = header.join(",") + "\n";
    for i in 0..n {
        let row: Vec<String> = (0..784)
            .map(|c| format!("{}", ((i * 784 + c) % 13) as f32 / 13.0))
            .collect();
        csv += &format!("{},{}\n", row.join(","), i % 10);
    }
    let csv_path = dir.join("digits.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let csv_args = [
        "--csv",
        csv_path.to_str().unwrap(),
        "--label-column",
        "digit",
    ];
    let (ok, text) = wgtrain(&[&args[..], &csv_args[..]].concat());
    assert!(ok, "{text}");
    // A model file of built-in layers trains on the same arrays with the loss from the flags.
    let model = {
        use wgtrain::nn::layers::ActivationKind;
        let mut s = wgtrain::nn::Sequential::new([784]);
        s.add(wgtrain::nn::Dense::new(16).activation(ActivationKind::Relu))
            .unwrap();
        s.add(wgtrain::nn::Dense::new(10).activation(ActivationKind::Softmax))
            .unwrap();
        s.build().unwrap().to_json().unwrap()
    };
    let model_path = dir.join("model.json");
    std::fs::write(&model_path, model).unwrap();
    let m = model_path.to_str().unwrap();
    let file_args = ["train", m, "--device", "cpu", "--x", xs, "--y", ys];
    let (ok, text) = wgtrain(&[&file_args[..], &["--loss", "categorical_crossentropy"]].concat());
    assert!(ok, "{text}");
    assert!(text.contains("dense") && text.contains("loss:"), "{text}");
    let (ok, text) = wgtrain(&file_args);
    assert!(!ok && text.contains("--loss NAME"), "{text}");
    // The training settings may come with the file instead of the flags.
    let with_compile = {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&model_path).unwrap()).unwrap();
        v["compile"] =
            serde_json::json!({"loss": "categorical_crossentropy", "optimizer": "rmsprop"});
        v.to_string()
    };
    let compiled_path = dir.join("compiled.json");
    std::fs::write(&compiled_path, with_compile).unwrap();
    let c = compiled_path.to_str().unwrap();
    let (ok, text) = wgtrain(&["train", c, "--device", "cpu", "--x", xs, "--y", ys]);
    assert!(ok, "{text}");
    let flag_args = [
        "train", "--model", m, "--device", "cpu", "--x", xs, "--y", ys,
    ];
    let (ok, text) = wgtrain(&[&flag_args[..], &["--loss", "categorical_crossentropy"]].concat());
    assert!(ok, "{text}");
    let (ok, text) = wgtrain(&["train", m, "--loss", "mse"]);
    assert!(!ok && text.contains("brings no data"), "{text}");
    let narrow = dir.join("narrow.npy");
    npy_file(&narrow, "<f4", false, &[n, 5], &x[..n * 5 * 4]);
    let (ok, text) = wgtrain(&[&args[..], &["--x", narrow.to_str().unwrap(), "--y", ys]].concat());
    assert!(!ok);
    assert!(
        text.contains("shape (None, 5)") && text.contains("(None, 784)"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A CSV of texts with string labels trains a text model through the vectorizer: the labels'
/// names and the vocabulary are saved with the weights; a missing column is named with the
/// ones there are.
#[test]
fn train_takes_a_csv_of_texts_with_named_labels() {
    let dir = scratch("text-csv");
    let mut csv = String::from("text,label\n");
    for i in 0..300 {
        let (words, label) = if i % 2 == 0 {
            ("a great and fine film, truly wonderful!", "positive")
        } else {
            ("a bad film<br />awful and dull.", "negative")
        };
        csv += &format!("\"{words} take {i}\",{label}\n");
    }
    let path = dir.join("texts.csv");
    std::fs::write(&path, csv).unwrap();
    let weights = dir.join("w.safetensors");
    let (csv_path, w) = (path.to_str().unwrap(), weights.to_str().unwrap());
    let args = [
        "train", "imdb-cnn", "--device", "cpu", "--epochs", "2", "--csv", csv_path,
    ];
    let (ok, text) = wgtrain(
        &[
            &args[..],
            &[
                "--text-column",
                "text",
                "--label-column",
                "label",
                "--validation-split",
                "0.2",
            ],
            &["--save", w],
        ]
        .concat(),
    );
    assert!(ok, "{text}");
    assert!(test_accuracy(&text) > 0.95, "{text}");
    let meta = wgtrain::nn::checkpoint::weights_metadata(&weights).unwrap();
    assert_eq!(meta["wgtrain.label_names"], r#"["negative","positive"]"#);
    assert!(meta["wgtrain.text_vectorization"].contains(r#""wonderful""#));
    // Predict and evaluate through the saved vocabulary, naming the classes.
    let new_texts = dir.join("new.csv");
    std::fs::write(
        &new_texts,
        "text\n\"A wonderful, fine film!\"\nawful and dull<br />bad\n",
    )
    .unwrap();
    let preds = dir.join("preds.csv");
    let (ok, text) = wgtrain(&[
        "predict",
        "imdb-cnn",
        "--device",
        "cpu",
        "--weights",
        w,
        "--csv",
        new_texts.to_str().unwrap(),
        "-o",
        preds.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let rows = std::fs::read_to_string(&preds).unwrap();
    let classes: Vec<&str> = rows
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(classes, ["positive", "negative"], "{rows}");
    let (ok, text) = wgtrain(&[
        "evaluate",
        "imdb-cnn",
        "--device",
        "cpu",
        "--weights",
        w,
        "--csv",
        csv_path,
        "--label-column",
        "label",
    ]);
    assert!(ok && text.contains("300 samples - loss"), "{text}");
    let (ok, text) = wgtrain(
        &[
            &args[..],
            &["--text-column", "review", "--label-column", "label"],
        ]
        .concat(),
    );
    assert!(!ok);
    assert!(
        text.contains("no column 'review'") && text.contains("text, label"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The real review CSV through the text route reaches the accuracy of the npz route (within a
/// point and a half) in one epoch: the CSV's last half is the test split.
#[test]
fn the_review_csv_trains_as_well_as_the_npz() {
    let Some(imdb) =
        wgtrain::data::real_data::real_dataset_dir(wgtrain::data::real_data::RealDataset::Imdb)
    else {
        return;
    };
    let accuracy = |extra: &[&str]| -> f32 {
        let args = [
            "train",
            "imdb-cnn",
            "--device",
            "cpu",
            "--epochs",
            "1",
            "--verbose",
            "2",
        ];
        let (ok, text) = wgtrain(&[&args[..], extra].concat());
        assert!(ok, "{text}");
        test_accuracy(&text)
    };
    let npz = accuracy(&["--data-dir", imdb.to_str().unwrap()]);
    let csv = imdb.join("imdb_reviews.csv.gz");
    let text = accuracy(&[
        "--csv",
        csv.to_str().unwrap(),
        "--text-column",
        "review",
        "--label-column",
        "sentiment",
        "--validation-split",
        "0.5",
    ]);
    eprintln!("imdb-cnn, 1 epoch: npz route {npz}, text route {text}");
    assert!(text >= npz - 0.015, "text route {text} vs npz route {npz}");
}

#[test]
fn plot_draws_a_history_file_and_names_what_is_wrong() {
    let dir = std::env::temp_dir().join(format!("wgtrain-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Keras' `history.history`, dumped as JSON.
    let keras = dir.join("keras.json");
    std::fs::write(
        &keras,
        r#"{"loss": [0.69, 0.45, 0.31], "accuracy": [0.57, 0.79, 0.87],
            "val_loss": [0.55, 0.43, 0.38], "val_accuracy": [0.73, 0.81, 0.84]}"#,
    )
    .unwrap();
    let png = dir.join("curves.png");
    let (ok, text) = wgtrain(&["plot", keras.to_str().unwrap(), "-o", png.to_str().unwrap()]);
    assert!(ok, "{text}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1280, 480), "two panels side by side");

    let (ok, text) = wgtrain(&["plot", keras.to_str().unwrap(), "-o", "curves.jpg"]);
    assert!(!ok && text.contains("name it .png or .svg"), "{text}");
    let missing = dir.join("missing.json");
    let (ok, text) = wgtrain(&[
        "plot",
        missing.to_str().unwrap(),
        "-o",
        png.to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("missing.json"), "{text}");
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{\"loss\": [0.5, \"x\"]}").unwrap();
    let (ok, text) = wgtrain(&[
        "plot",
        broken.to_str().unwrap(),
        "-o",
        png.to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("broken.json"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    let (ok, text) = wgtrain(&["train", "mnist-antirectifier", "--plot", "curves.gif"]);
    assert!(!ok && text.contains("--plot curves.gif"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}
