//! `wgtrain evaluate` and `wgtrain predict`: a reference model with saved weights, on its test
//! split or on data of your own (`--x`, `--npz`, `--csv`; texts through the vocabulary saved
//! with the weights, classes named by the saved label names).

use crate::{backend_for, models, parse_cpu_conv, run_failed, DeviceChoice};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use wgtrain::cpu::ConvAlgorithm;
use wgtrain::nn::checkpoint::weights_metadata;
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
    #[command(flatten)]
    source: crate::user_data::SourceArgs,
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

/// What `prepared` gives: the compiled model with its weights, the inputs, their labels when
/// known, the class names when the weights carry them, and the batch size.
struct Prepared {
    model: Model,
    x: Vec<Array>,
    y: Option<Vec<Array>>,
    names: Option<Vec<String>>,
    batch_size: usize,
}

fn prepared(a: &ModelArgs) -> Result<Prepared> {
    let known = models::lookup(&a.model)?;
    if !a.weights.is_file() {
        bail!(
            "--weights {}: no such file (save weights with `wgtrain train {} --save FILE`)",
            a.weights.display(),
            a.model
        );
    }
    let mut model = known.build()?;
    let (x, y, names) = if a.source.given() {
        let meta = weights_metadata(&a.weights)?;
        let (x, y, names) = a.source.load_for(&model, &meta)?;
        (vec![x], y.map(|y| vec![y]), names)
    } else {
        let data = known
            .load(a.data_dir.as_deref())
            .context("pass the dataset's folder with --data-dir")?;
        (data.x_test, Some(data.y_test), None)
    };
    let backend = backend_for(a.device, a.cpu_conv)?;
    let failed = run_failed(&backend.describe());
    model
        .compile_on(known.compile_config(), backend)
        .context(failed)?;
    model
        .load_weights(&a.weights)
        .with_context(|| format!("--weights {} for {}", a.weights.display(), a.model))?;
    let batch_size = a.batch_size.unwrap_or(known.batch_size);
    Ok(Prepared {
        model,
        x,
        y,
        names,
        batch_size,
    })
}

/// `wgtrain evaluate`: the loss and metrics on the test split, as Keras prints them.
pub fn evaluate(a: ModelArgs) -> Result<()> {
    let Prepared {
        mut model,
        x,
        y,
        batch_size,
        ..
    } = prepared(&a)?;
    let y = y.context(
        "evaluate needs labels: --label-column with --csv, --y with --x, or a --y-key array in \
         the .npz",
    )?;
    let x: Vec<&Array> = x.iter().collect();
    let y: Vec<&Array> = y.iter().collect();
    let logs = model.evaluate(&x, &y, batch_size)?;
    let line: Vec<String> = logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
    let which = if a.source.given() { "" } else { "test " };
    println!("{} {which}samples - {}", x[0].samples(), line.join(" - "));
    Ok(())
}

/// Rows predicted per call, so memory stays bounded and progress can be shown.
const CHUNK: usize = 4096;

/// `wgtrain predict`: probabilities and the predicted class of every test sample, as CSV.
pub fn predict(a: PredictArgs) -> Result<()> {
    check_writable(&a.output, "--output")?;
    let Prepared {
        mut model,
        x,
        names,
        batch_size,
        ..
    } = prepared(&a.model)?;
    let n = a.limit.unwrap_or(usize::MAX).min(x[0].samples());
    let mut csv = Vec::new();
    let mut header_written = false;
    // A progress line redrawn in place on a terminal; whole lines in a pipe or log file.
    let terminal = std::io::stderr().is_terminal();
    for lo in (0..n).step_by(CHUNK) {
        let hi = (lo + CHUNK).min(n);
        let chunk: Vec<Array> = x
            .iter()
            .map(|a| a.slice_rows(lo, hi))
            .collect::<Result<_>>()?;
        let chunk: Vec<&Array> = chunk.iter().collect();
        let out = model.predict(&chunk, batch_size)?.remove(0);
        let width = out.row_len();
        if !header_written {
            csv.extend_from_slice(header(width).as_bytes());
            header_written = true;
        }
        for row in out.f32s()?.chunks(width) {
            csv.extend_from_slice(csv_row(row, names.as_deref()).as_bytes());
        }
        if terminal {
            eprint!("\rpredicted {hi}/{n}");
            std::io::stderr().flush().ok();
        } else {
            eprintln!("predicted {hi}/{n}");
        }
    }
    if terminal {
        eprintln!();
    }
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

/// One prediction's row; the class by its saved name when the weights carry the label names.
fn csv_row(row: &[f32], names: Option<&[String]>) -> String {
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
    match names.and_then(|n| n.get(class)) {
        Some(name) => format!("{},{name}\n", probs.join(",")),
        None => format!("{},{class}\n", probs.join(",")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_give_the_probabilities_and_the_class() {
        assert_eq!(header(1), "probability,class\n");
        assert_eq!(csv_row(&[0.75], None), "0.75,1\n");
        assert_eq!(csv_row(&[0.5], None), "0.5,0\n");
        assert_eq!(header(3), "p0,p1,p2,class\n");
        assert_eq!(csv_row(&[0.2, 0.5, 0.3], None), "0.2,0.5,0.3,1\n");
        let names = ["cat".to_string(), "dog".to_string(), "eel".to_string()];
        assert_eq!(csv_row(&[0.2, 0.5, 0.3], Some(&names)), "0.2,0.5,0.3,dog\n");
    }
}
