use crate::callbacks::CallbackArgs;
use crate::models::{self, Validates};
use crate::{backend_for, parse_cpu_conv, run_failed, DeviceChoice};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use wgtrain::cpu::ConvAlgorithm;
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::output_path::{check_writable, write_atomically};
use wgtrain::nn::{
    set_random_seed, BackupAndRestore, Callback, FitConfig, TensorBoard, Validation,
};
use wgtrain::nn::{Array, CompileConfig, Loss, Model, Optimizer};

#[derive(Args)]
pub struct TrainArgs {
    /// Model name (mnist-antirectifier, imdb-fm, imdb-cnn or imdb-dgcnn), or a model file
    /// (FILE.json from Model::to_json) trained on your own data with --loss and --optimizer.
    #[arg(required_unless_present = "model_file", conflicts_with = "model_file")]
    model: Option<String>,
    /// A model file (FILE.json from Model::to_json) to train on your own data, as the
    /// MODEL argument FILE.json does.
    #[arg(long = "model")]
    model_file: Option<PathBuf>,
    /// The loss (binary_crossentropy, categorical_crossentropy,
    /// sparse_categorical_crossentropy, mean_squared_error); default: the workload's
    #[arg(long)]
    loss: Option<String>,
    /// The optimizer by Keras name with its defaults (sgd, rmsprop, adam, adamw, nadam);
    /// default: the workload's
    #[arg(long)]
    optimizer: Option<String>,
    /// Epochs (default: the workload's, 40 for MNIST, 2 for IMDB).
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size (default: the workload's, 128 for MNIST, 32 for IMDB).
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Folder holding the dataset files (else WGTRAIN_DATA_DIR, else the download cache).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// auto, gpu, cpu, software or an adapter index (`wgtrain devices`).
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// How the CPU backend computes three-tap, stride-1 convolutions: winograd (half the
    /// multiply-adds, about three times the rounding error), gemm (rounding close to other
    /// frameworks), or auto: winograd except where a maximum reads the outputs.
    #[arg(long, default_value = "auto", value_parser = parse_cpu_conv)]
    cpu_conv: ConvAlgorithm,
    /// Stop after this many training steps.
    #[arg(long)]
    max_steps: Option<usize>,
    /// Write the training history as JSON here.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Draw loss and accuracy per epoch to this .png or .svg file at the end of the run.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Save the trained weights (safetensors) here.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Keep everything the run needs to continue in this folder (at each epoch's end, every
    /// --backup-every steps and on Ctrl-C); running the same command again resumes from it.
    /// Removed when the run finishes.
    #[arg(long)]
    backup_dir: Option<PathBuf>,
    /// What to print as the run goes, as Keras' verbose: 0 nothing, 1 a progress bar (on a
    /// terminal) and a line per epoch, 2 a line per epoch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    verbose: u8,
    /// Write TensorBoard event files here (train/ and validation/): losses, metrics and the
    /// learning rate per epoch, and the model's size and planned memory as text.
    #[arg(long)]
    tensorboard: Option<PathBuf>,
    /// Also write the running values to TensorBoard every this many steps.
    #[arg(long, requires = "tensorboard")]
    tensorboard_every: Option<usize>,
    /// Also back up every this many training steps (with --backup-dir).
    #[arg(long, requires = "backup_dir")]
    backup_every: Option<usize>,
    #[command(flatten)]
    callbacks: CallbackArgs,
    #[command(flatten)]
    data: crate::user_data::DataArgs,
}

pub fn run(a: TrainArgs) -> Result<()> {
    let model_name = match (&a.model, &a.model_file) {
        (Some(name), _) => name.clone(),
        (None, Some(path)) => path.display().to_string(),
        (None, None) => bail!("name a model, or a model file with --model FILE.json"),
    };
    let from_file = a.model_file.is_some() || model_name.ends_with(".json");
    let known = if from_file {
        None
    } else {
        Some(models::lookup(&model_name)?)
    };
    if from_file && !a.data.given() {
        bail!(
            "a model file brings no data: train {} on your own with --x/--y, --npz or --csv",
            model_name
        );
    }
    for (path, flag) in [
        (&a.history, "--history"),
        (&a.save, "--save"),
        (&a.plot, "--plot"),
    ] {
        if let Some(path) = path {
            check_writable(path, flag)?;
        }
    }
    if let Some(path) = &a.plot {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext.to_ascii_lowercase().as_str(), "png" | "svg") {
            bail!("--plot {}: name the picture .png or .svg", path.display());
        }
    }
    let mut backup = a
        .backup_dir
        .as_ref()
        .map(|dir| BackupAndRestore::new(dir).every_steps(a.backup_every.unwrap_or(0)));
    if let Some(b) = &backup {
        b.check_writable()?;
    }
    if let Some(dir) = &a.tensorboard {
        TensorBoard::new(dir)
            .check_writable()
            .context("--tensorboard")?;
    }
    let mut callbacks = a.callbacks.build()?;
    if !a.callbacks.replaces_seed_callbacks() {
        let mut seed = match known {
            Some(k) => (k.seed_callbacks)()?,
            None => Vec::new(),
        };
        if !seed.is_empty() {
            println!(
                "callbacks: the workload's learning-rate plateau and early stopping \
                 (--reduce-lr-patience or --early-stopping-patience replace them)"
            );
        }
        seed.append(&mut callbacks);
        callbacks = seed;
    }
    let epochs = a.epochs.unwrap_or(known.map_or(1, |k| k.epochs));
    let batch_size = a.batch_size.unwrap_or(known.map_or(32, |k| k.batch_size));
    // A model file may carry its training settings: {"compile": {"loss": .., "optimizer": ..}}.
    let file_compile = match known {
        Some(_) => serde_json::Value::Null,
        None => {
            let text = std::fs::read_to_string(&model_name)
                .with_context(|| format!("cannot read the model file {model_name}"))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("model file {model_name} is not JSON"))?;
            v["compile"].clone()
        }
    };
    let loss = a.loss.as_deref().or(file_compile["loss"].as_str());
    let optimizer = a
        .optimizer
        .as_deref()
        .or(file_compile["optimizer"].as_str());
    let compile = compile_config(known, loss, optimizer)?;
    set_random_seed(a.seed);
    let mut model = match known {
        Some(k) => k.build()?,
        None => Model::from_json_file(std::path::Path::new(&model_name))?,
    };
    let user = a.data.load(&model, known.is_some_and(|k| k.pre_padded))?;
    let data = match &user {
        Some(_) => None,
        None => Some(
            known
                .expect("a model file needs data of its own, checked above")
                .load(a.data_dir.as_deref())
                .context("pass the dataset's folder with --data-dir")?,
        ),
    };
    let (x_train, y_train): (Vec<&Array>, Vec<&Array>) = match (&user, &data) {
        (Some(u), _) => (vec![&u.x], vec![&u.y]),
        (None, Some(d)) => (d.x_train.iter().collect(), d.y_train.iter().collect()),
        (None, None) => unreachable!("one of them is loaded"),
    };
    let validation_arrays: Option<(Vec<&Array>, Vec<&Array>)> = match (&user, &data) {
        (Some(u), _) => u.validation.as_ref().map(|(x, y)| (vec![x], vec![y])),
        (None, Some(_)) if known.is_some_and(|k| k.validation != Validates::TestSplit) => None,
        (None, Some(d)) => Some((d.x_test.iter().collect(), d.y_test.iter().collect())),
        (None, None) => None,
    };
    let (vx, vy);
    let validation = match (
        validation_arrays,
        user.as_ref().and_then(|u| u.validation_split).or(
            match known.filter(|_| user.is_none()).map(|k| k.validation) {
                Some(Validates::Split(f)) => Some(f),
                _ => None,
            },
        ),
    ) {
        (Some((x, y)), _) => {
            (vx, vy) = (x, y);
            Validation::Data(&vx, &vy)
        }
        (None, Some(f)) => Validation::Split(f),
        (None, None) => Validation::None,
    };
    model.summary();
    let backend = backend_for(a.device, a.cpu_conv)?;
    let failed = run_failed(&backend.describe());
    model.compile_on(compile, backend).context(failed.clone())?;
    let samples = y_train[0].samples();
    let targets: Vec<_> = y_train.iter().map(|y| y.sample_shape()).collect();
    let feeds: Vec<_> = x_train.iter().map(|x| x.sample_shape()).collect();
    let peak = model.planned_peak_bytes(batch_size.min(samples), &feeds, &targets)?;
    println!(
        "backend: {}; planned peak memory of a training step: {:.2} MiB",
        model.backend_description(),
        peak as f64 / (1024.0 * 1024.0)
    );
    let mut tensorboard = match &a.tensorboard {
        Some(dir) => {
            let train_batch = batch_size.min(samples);
            let ops = model.training_step_ops(train_batch, &feeds, &targets)?;
            let text = format!(
                "{}: {} parameters ({} trainable); a training step of {train_batch} samples \
                 runs {ops} graph ops with a planned peak of {:.2} MiB on {}",
                model_name,
                model.count_params(),
                model.count_trainable_params(),
                peak as f64 / (1024.0 * 1024.0),
                model.backend_description()
            );
            let board = TensorBoard::new(dir).every_steps(a.tensorboard_every.unwrap_or(0));
            Some(board.text("model", &text))
        }
        None => None,
    };
    let mut hooks: Vec<&mut dyn Callback> = Vec::new();
    for c in callbacks.iter_mut() {
        hooks.push(c.as_mut());
    }
    if let Some(t) = tensorboard.as_mut() {
        hooks.push(t);
    }
    if let Some(b) = backup.as_mut() {
        hooks.push(b);
    }
    crate::interrupt::install()?;
    let history = model
        .fit_with_callbacks(
            &x_train,
            &y_train,
            &FitConfig {
                epochs,
                batch_size,
                seed: Some(a.seed),
                validation,
                max_steps: a.max_steps,
                interrupt: Some(&crate::interrupt::REQUESTED),
                verbose: Verbosity::from_level(a.verbose)?,
                ..Default::default()
            },
            &mut hooks,
        )
        .context(failed)?;
    if history.interrupted {
        if let Some(path) = &a.history {
            write_atomically(path, history.to_json().as_bytes(), "the history")?;
        }
        match &backup {
            Some(b) => eprintln!(
                "interrupted; the run is backed up in {}: run the same command again to resume",
                b.dir().display()
            ),
            None => eprintln!("interrupted; without --backup-dir the run cannot be resumed"),
        }
        std::process::exit(crate::interrupt::EXIT_STATUS);
    }
    if let Some(acc) = history.last("val_accuracy") {
        println!("test accuracy: {acc:.4}");
    }
    if let Some(path) = &a.history {
        write_atomically(path, history.to_json().as_bytes(), "the history")?;
    }
    if let Some(path) = &a.plot {
        history.plot(path)?;
        println!("loss and accuracy per epoch drawn to {}", path.display());
    }
    if let Some(path) = &a.save {
        let keep = user.as_ref().map_or(&[][..], |u| u.keep.as_slice());
        model.save_weights_with(path, keep)?;
        println!("weights saved to {}", path.display());
    }
    Ok(())
}

/// The workload's optimizer and losses, or those the flags name (a model file needs a loss).
fn compile_config(
    known: Option<&models::Known>,
    loss: Option<&str>,
    optimizer: Option<&str>,
) -> Result<CompileConfig> {
    let optimizer = match (optimizer, known) {
        (Some(name), _) => Optimizer::from_name(name).with_context(|| {
            format!("--optimizer {name}: known are sgd, rmsprop, adam, adamw and nadam")
        })?,
        (None, Some(k)) => (k.optimizer)(),
        (None, None) => Optimizer::adam(),
    };
    match (loss, known) {
        (Some(name), _) => Ok(CompileConfig::new(
            optimizer,
            Loss::parse(name).context("--loss")?,
        )),
        (None, Some(k)) => Ok(k.compile_with(optimizer)),
        (None, None) => bail!(
            "a model file needs --loss NAME (e.g. binary_crossentropy), or a \"compile\": \
             {{\"loss\": NAME}} entry of its own"
        ),
    }
}
