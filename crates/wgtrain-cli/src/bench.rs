//! Steady-state step time of a reference model, as JSON.

use crate::{backend_for, models, parse_cpu_conv, run_failed, DeviceChoice};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;
use std::time::Instant;
use wgtrain::cpu::ConvAlgorithm;
use wgtrain::graph::DType;
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::{set_random_seed, Array, FitConfig, Loss, Model};

#[derive(Args)]
pub struct BenchArgs {
    /// A reference model, `matmul` for matmul throughput, or `conv1d` / `conv2d` for convolution
    /// throughput.
    model: String,
    /// Batch size (default: the workload's).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Timed steps (after the warm-up).
    #[arg(long, default_value_t = 300)]
    steps: usize,
    #[arg(long, default_value_t = 30)]
    warmup: usize,
    /// auto, gpu, cpu, software or an adapter index (`wgtrain devices`).
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// How the CPU backend computes three-tap, stride-1 convolutions: winograd (half the
    /// multiply-adds, about three times the rounding error), gemm (rounding close to other
    /// frameworks), or auto: winograd except where a maximum reads the outputs.
    #[arg(long, default_value = "auto", value_parser = parse_cpu_conv)]
    cpu_conv: ConvAlgorithm,
    /// Print only the JSON result.
    #[arg(long)]
    json: bool,
    /// matmul: the largest square size (256 to 4096).
    #[arg(long, default_value_t = 4096)]
    max_size: usize,
    /// matmul: seconds to repeat each shape for.
    #[arg(long, default_value_t = 1.0)]
    min_seconds: f64,
    /// On a software adapter, run the kernels chosen for hardware GPUs instead of its own.
    #[arg(long)]
    gpu_kernels: bool,
    /// Also time every kernel of one training step, grouped by kernel (`profile` in the JSON).
    #[arg(long)]
    profile: bool,
}

fn bench_backend(a: &BenchArgs) -> Result<Box<dyn wgtrain::graph::Backend>> {
    match (a.gpu_kernels, a.device) {
        (true, DeviceChoice::Gpu(choice)) => Ok(Box::new(
            wgtrain::gpu::GpuBackend::with_gpu_kernels(choice)?,
        )),
        (true, _) => bail!("--gpu-kernels needs --device gpu, software or an adapter index"),
        (false, device) => backend_for(device, a.cpu_conv),
    }
}

fn print(out: &serde_json::Value, compact: bool) -> Result<()> {
    if compact {
        println!("{out}");
    } else {
        println!("{}", serde_json::to_string_pretty(out)?);
    }
    Ok(())
}

pub fn run(a: BenchArgs) -> Result<()> {
    if a.model == "matmul" {
        let mut backend = bench_backend(&a)?;
        let out = crate::bench_matmul::run(backend.as_mut(), a.max_size, a.min_seconds)?;
        return print(&out, a.json);
    }
    if a.model == "conv2d" {
        let mut backend = bench_backend(&a)?;
        let out = crate::bench_conv2d::run(backend.as_mut(), a.min_seconds)?;
        return print(&out, a.json);
    }
    if a.model == "conv1d" {
        let mut backend = bench_backend(&a)?;
        let out = crate::bench_conv::run(backend.as_mut(), a.min_seconds)?;
        return print(&out, a.json);
    }
    let known = models::lookup(&a.model)?;
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    set_random_seed(7);
    let mut model = known.build()?;
    let batch_size = a.batch_size.unwrap_or(known.batch_size);
    // Random data of the model's shapes and types: the step's work does not depend on the values.
    let n = batch_size * (a.steps + a.warmup);
    let (x, y) = random_data(&model, known, n)?;
    let x: Vec<&Array> = x.iter().collect();
    let y: Vec<&Array> = y.iter().collect();
    let targets: Vec<_> = y.iter().map(|t| t.sample_shape()).collect();
    let started = Instant::now();
    model.compile_on(known.compile_config(), bench_backend(&a)?)?;
    let feeds: Vec<_> = x.iter().map(|t| t.sample_shape()).collect();
    let peak = model.planned_peak_bytes(batch_size, &feeds, &targets)?;
    let compiled_at = Instant::now();
    let failed = run_failed(&model.backend_description());
    let history = model
        .fit(
            &x,
            &y,
            &FitConfig {
                epochs: 1,
                batch_size,
                verbose: Verbosity::Silent,
                ..Default::default()
            },
        )
        .context(failed.clone())?;
    // From compile (kernels built, memory allocated) until the first step's loss is back, which
    // is collected during the second step.
    let first_step_ms = (compiled_at - started).as_secs_f64() * 1e3
        + history.step_seconds.iter().take(2).sum::<f64>() * 1e3;
    let mut ms: Vec<f64> = history.step_seconds[a.warmup..]
        .iter()
        .map(|s| s * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    let median = pct(0.5);
    let profile = if a.profile {
        let lo = batch_size.min(x[0].samples());
        let xb: Vec<Array> = x
            .iter()
            .map(|t| t.slice_rows(0, lo))
            .collect::<Result<_>>()?;
        let yb: Vec<Array> = y
            .iter()
            .map(|t| t.slice_rows(0, lo))
            .collect::<Result<_>>()?;
        let xb: Vec<&Array> = xb.iter().collect();
        let yb: Vec<&Array> = yb.iter().collect();
        Some(grouped(model.profile_train_step(&xb, &yb).context(failed)?))
    } else {
        None
    };
    let stats = model.backend_stats();
    let runs = stats.runs.max(1) as f64;
    let out = json!({
        "model": a.model,
        "device": model.backend_description(),
        "batch_size": batch_size,
        "timed_steps": ms.len(),
        "step_ms_median": median,
        "step_ms_p10": pct(0.1),
        "step_ms_p90": pct(0.9),
        "samples_per_s": batch_size as f64 / (median / 1e3),
        "planned_peak_bytes": peak,
        "params": model.count_params(),
        "first_step_ms": first_step_ms,
        "dispatches_per_step": stats.dispatches as f64 / runs,
        "submits_per_step": stats.submits as f64 / runs,
        "host_us_per_step": stats.host_seconds / runs * 1e6,
    });
    let mut out = out;
    if let Some(p) = profile {
        out["profile"] = p;
    }
    print(&out, a.json)
}

/// `n` samples of random inputs (ids below each table's size for int32 inputs) and targets
/// that fit the loss.
/// Random data of the model's shapes and types (free axes at the workload's length), targets
/// of each output's loss.
fn random_data(model: &Model, known: &models::Known, n: usize) -> Result<(Vec<Array>, Vec<Array>)> {
    let losses = known.losses;
    let limits = model.input_id_limits()?;
    let mut xs = Vec::new();
    for (i, t) in model.inputs().iter().enumerate() {
        let mut shape = vec![n];
        let dims = t.shape().dims().iter().zip(t.free_axes());
        shape.extend(dims.map(|(&d, &free)| if free { known.free_length } else { d }));
        let len: usize = shape.iter().product();
        let u = wgtrain::nn::init::uniform_stream(1, 1 + i as u32, len);
        xs.push(match t.dtype() {
            DType::F32 => Array::new(shape, u)?,
            DType::I32 => {
                let limit = limits[i].unwrap_or(2) as f32;
                Array::from_i32(shape, u.iter().map(|v| (v * limit) as i32).collect())?
            }
        });
    }
    let mut ys = Vec::new();
    for (i, t) in model.outputs().iter().enumerate() {
        let width = t.shape().numel();
        let u = wgtrain::nn::init::uniform_stream(2, 1 + i as u32, n * width);
        let values = match losses[i.min(losses.len() - 1)] {
            Loss::CategoricalCrossentropy => {
                let mut y = vec![0.0; n * width];
                for (r, v) in u.iter().step_by(width.max(1)).enumerate() {
                    y[r * width + (v * width as f32) as usize % width] = 1.0;
                }
                y
            }
            Loss::BinaryCrossentropy => u.iter().map(|v| f32::from(*v >= 0.5)).collect(),
            _ => u,
        };
        let mut shape = vec![n];
        shape.extend(t.shape().dims());
        ys.push(Array::new(shape, values)?);
    }
    Ok((xs, ys))
}

/// Kernel times grouped by name, largest first: {name, calls, ms}.
fn grouped(times: Vec<(String, f64)>) -> serde_json::Value {
    let mut groups: Vec<(String, usize, f64)> = Vec::new();
    for (name, t) in times {
        match groups.iter_mut().find(|g| g.0 == name) {
            Some(g) => {
                g.1 += 1;
                g.2 += t;
            }
            None => groups.push((name, 1, t)),
        }
    }
    groups.sort_by(|a, b| b.2.total_cmp(&a.2));
    let total: f64 = groups.iter().map(|g| g.2).sum();
    json!({
        "total_ms": total * 1e3,
        "kernels": groups
            .iter()
            .map(|(n, c, t)| json!({"kernel": n, "calls": c, "ms": t * 1e3}))
            .collect::<Vec<_>>(),
    })
}
