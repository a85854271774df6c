//! The `wgtrain` command-line tool.

mod bench;
mod demo;
mod models;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

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

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DeviceChoice {
    /// The best device available (today: the CPU backend).
    Auto,
    /// The multi-threaded CPU backend.
    Cpu,
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
    Train(train::TrainArgs),
    /// Prints a reference model's layer table.
    Summary {
        /// Model name (see `wgtrain train --help`).
        model: String,
    },
    /// Measures the steady-state training step of a reference model.
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { epochs, seed } => demo::run(epochs, seed),
        Command::Train(args) => train::run(args),
        Command::Summary { model } => {
            models::lookup(&model)?.build()?.summary();
            Ok(())
        }
        Command::Bench(args) => bench::run(args),
    }
}

/// The backend a run uses, said aloud.
pub fn backend_for(device: DeviceChoice) -> Box<dyn wgtrain::graph::Backend> {
    let backend = Box::new(wgtrain::cpu::CpuBackend::new());
    if let DeviceChoice::Auto = device {
        eprintln!("device auto: no GPU backend is available in this build; using the CPU backend");
    }
    backend
}
