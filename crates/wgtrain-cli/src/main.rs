//! The `wgtrain` command-line tool.

mod bench;
mod bench_conv;
mod bench_conv2d;
mod bench_matmul;
mod callbacks;
mod demo;
mod device;
mod evaluate;
mod interrupt;
mod models;
mod train;
mod user_data;

use anyhow::Result;
use clap::{Parser, Subcommand};
pub use device::{backend_for, parse_cpu_conv, run_failed, DeviceChoice};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "wgtrain",
    version,
    about = "Keras-style deep-learning training on any GPU, with a real CPU fallback"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Trains a small classifier on spirals generated in code: no download, under a minute.
    Demo {
        #[arg(long, default_value_t = 40)]
        epochs: usize,
        #[arg(long, default_value_t = 1234)]
        seed: u64,
    },
    /// Trains a reference model on its real dataset.
    Train(Box<train::TrainArgs>),
    /// Evaluates a reference model with saved weights on its test split.
    Evaluate(evaluate::ModelArgs),
    /// Writes a reference model's predictions on its test split as CSV.
    Predict(evaluate::PredictArgs),
    /// Prints a reference model's layer table.
    Summary {
        /// Model name (see `wgtrain train --help`).
        model: String,
    },
    /// Measures the steady-state training step of a reference model, or matmul / convolution
    /// throughput.
    Bench(bench::BenchArgs),
    /// Draws a run's loss and accuracy per epoch (a `train --history` file, or Keras'
    /// `history.history` as JSON) to a .png or .svg file.
    Plot {
        /// The history file.
        history: PathBuf,
        /// The picture to write: .png or .svg.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Lists the GPU adapters (name, backend, type, driver, limits, f16 and subgroup support).
    Devices {
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    // Mesa's Vulkan window-system layer prints an error when this is missing; wgtrain draws
    // nothing on screen, so any existing folder does. Set before any thread starts.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { epochs, seed } => demo::run(epochs, seed),
        Command::Train(args) => train::run(*args),
        Command::Summary { model } => {
            models::lookup(&model)?.build()?.summary();
            Ok(())
        }
        Command::Bench(args) => bench::run(args),
        Command::Evaluate(args) => evaluate::evaluate(args),
        Command::Predict(args) => evaluate::predict(args),
        Command::Plot { history, output } => plot(&history, &output),
        Command::Devices { json } => device::list(json),
    }
}

fn plot(history: &std::path::Path, output: &std::path::Path) -> Result<()> {
    wgtrain::nn::output_path::check_writable(output, "--output")?;
    wgtrain::nn::History::from_json_file(history)?.plot(output)?;
    println!("plotted {} to {}", history.display(), output.display());
    Ok(())
}
