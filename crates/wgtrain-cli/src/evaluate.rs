//! `wgtrain evaluate` and `wgtrain predict`: a reference model with saved weights, on its test
//! split.

use crate::{backend_for, models, parse_cpu_conv, run_failed, DeviceChoice};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use wgtrain::cpu::ConvAlgorithm;
use wgtrain::nn::output_path::{check_writable, write_atomically};
use wgtrain::nn::{Array, Model};

/// What both commands need: the model, its weights, its data and where to run.
#[derive(Args)]
pub struct ModelArgs {
    /// Model name (see `wgtrain train --help`).
    model: String,
    /// Weights saved by `wgtrain train --save` or a checkpoint (safetensors).
    #[arg(long)]
    weights: PathBuf,
    /// Folder holding the dataset files (else WGTRAIN_DATA_DIR, else the download cache).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Batch size (default: the workload's).
    #[arg(long)]
    batch_size: Option<usize>,
    /// auto, gpu, cpu, software or an adapter index (`wgtrain devices`).
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// How the CPU backend computes three-tap, stride-1 convolutions: auto, gemm or winograd.
    #[arg(long, default_value = "auto", value_parser = parse_cpu_conv)]
    cpu_conv: ConvAlgorithm,
}

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Where to write the predictions (CSV: one row per sample).
    #[arg(long, short)]
    output: PathBuf,
    /// Predict only the first N test samples.
    #[arg(long)]
    limit: Option<usize>,
}

/// The compiled model with its weights loaded, the test inputs and labels, and the batch size.
fn prepared(a: &ModelArgs) -> Result<(Model, Array, Array, usize)> {
    let known = models::lookup(&a.model)?;
    if !a.weights.is_file() {
        bail!(
            "--weights {}: no such file (save weights with `wgtrain train {} --save FILE`)",
            a.weights.display(),
            a.model
        );
    }
    let data = known
        .load(a.data_dir.as_deref())
        .context("pass the dataset's folder with --data-dir")?;
    let mut model = known.build()?;
    let backend = backend_for(a.device, a.cpu_conv)?;
    let failed = run_failed(&backend.describe());
    model
        .compile_on(known.compile_config(), backend)
        .context(failed)?;
    model
        .load_weights(&a.weights)
        .with_context(|| format!("--weights {} for {}", a.weights.display(), a.model))?;
    let batch_size = a.batch_size.unwrap_or(known.batch_size);
    Ok((model, data.x_test, data.y_test, batch_size))
}

/// `wgtrain evaluate`: the loss and metrics on the test split, as Keras prints them.
pub fn evaluate(a: ModelArgs) -> Result<()> {
    let (mut model, x, y, batch_size) = prepared(&a)?;
    let logs = model.evaluate(&[&x], &[&y], batch_size)?;
    let line: Vec<String> = logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
    println!("{} test samples - {}", x.samples(), line.join(" - "));
    Ok(())
}

/// Rows predicted per call, so memory stays bounded and progress can be shown.
const CHUNK: usize = 4096;

/// `wgtrain predict`: probabilities and the predicted class of every test sample, as CSV.
pub fn predict(a: PredictArgs) -> Result<()> {
    check_writable(&a.output, "--output")?;
    let (mut model, x, _, batch_size) = prepared(&a.model)?;
    let n = a.limit.unwrap_or(usize::MAX).min(x.samples());
    let mut csv = Vec::new();
    let mut header_written = false;
    for lo in (0..n).step_by(CHUNK) {
        let hi = (lo + CHUNK).min(n);
        let chunk = x.slice_rows(lo, hi)?;
        let out = model.predict(&[&chunk], batch_size)?.remove(0);
        let width = out.row_len();
        if !header_written {
            csv.extend_from_slice(header(width).as_bytes());
            header_written = true;
        }
        for row in out.f32s()?.chunks(width) {
            csv.extend_from_slice(csv_row(row).as_bytes());
        }
        eprint!("\rpredicted {hi}/{n}");
        std::io::stderr().flush().ok();
    }
    eprintln!();
    write_atomically(&a.output, &csv, "the predictions")?;
    println!("{n} predictions written to {}", a.output.display());
    Ok(())
}

/// A sigmoid output gives `probability,class`; a softmax of k classes `p0,...,p(k-1),class`.
fn header(width: usize) -> String {
    if width == 1 {
        "probability,class\n".to_string()
    } else {
        let cols: Vec<String> = (0..width).map(|k| format!("p{k}")).collect();
        format!("{},class\n", cols.join(","))
    }
}

fn csv_row(row: &[f32]) -> String {
    let class = if row.len() == 1 {
        usize::from(row[0] > 0.5)
    } else {
        row.iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (k, &p)| {
                if p > best.1 {
                    (k, p)
                } else {
                    best
                }
            })
            .0
    };
    let probs: Vec<String> = row.iter().map(|p| format!("{p}")).collect();
    format!("{},{class}\n", probs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_give_the_probabilities_and_the_class() {
        assert_eq!(header(1), "probability,class\n");
        assert_eq!(csv_row(&[0.75]), "0.75,1\n");
        assert_eq!(csv_row(&[0.5]), "0.5,0\n");
        assert_eq!(header(3), "p0,p1,p2,class\n");
        assert_eq!(csv_row(&[0.2, 0.5, 0.3]), "0.2,0.5,0.3,1\n");
    }
}
