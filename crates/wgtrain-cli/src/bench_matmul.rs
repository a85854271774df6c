//! `wgtrain bench matmul`: f32 matmul throughput at square sizes and at the Antirectifier
//! model's shapes, as JSON.

use anyhow::Result;
use serde_json::{json, Value};
use std::time::Instant;
use wgtrain::graph::{Backend, Graph, Op, ParamId, Plan, PlanOutputs, StepArgs};

/// (label, m, k, n, transpose a, transpose b).
type Case = (String, usize, usize, usize, bool, bool);

fn cases(max_size: usize) -> Vec<Case> {
    let mut out: Vec<Case> = [256, 512, 1024, 2048, 4096]
        .into_iter()
        .filter(|&s| s <= max_size)
        .map(|s| (format!("square {s}"), s, s, s, false, false))
        .collect();
    // The Antirectifier's dense layers at batch 128: forward, input gradient, weight gradient.
    for (k, n) in [(784, 256), (512, 256), (512, 10)] {
        out.push((
            format!("model fwd 128x{k} @ {k}x{n}"),
            128,
            k,
            n,
            false,
            false,
        ));
        out.push((
            format!("model dx 128x{n} @ ({k}x{n})^T"),
            128,
            n,
            k,
            false,
            true,
        ));
        out.push((
            format!("model dw (128x{k})^T @ 128x{n}"),
            k,
            128,
            n,
            true,
            false,
        ));
    }
    out
}

fn one(backend: &mut dyn Backend, case: &Case, min_seconds: f64) -> Result<Value> {
    let (label, m, k, n, ta, tb) = case.clone();
    let mut g = Graph::new();
    let sa = if ta { [k, m] } else { [m, k] };
    let sb = if tb { [n, k] } else { [k, n] };
    let a = g.param(ParamId(0), sa.to_vec());
    let b = g.param(ParamId(1), sb.to_vec());
    let c = g.push(Op::MatMul { ta, tb }, &[a, b])?;
    backend.set_param(ParamId(0), &wgtrain::nn::init::uniform_stream(3, 1, m * k))?;
    backend.set_param(ParamId(1), &wgtrain::nn::init::uniform_stream(3, 2, k * n))?;
    let outputs = PlanOutputs {
        predictions: vec![c],
        ..Default::default()
    };
    let id = backend.compile(Plan::new(g, outputs, Vec::new(), None))?;
    let args = StepArgs::default();
    backend.run(id, &[], &args)?;
    backend.synchronize()?;
    let start = Instant::now();
    let mut reps = 0u32;
    while reps < 3 || start.elapsed().as_secs_f64() < min_seconds {
        backend.run(id, &[], &args)?;
        reps += 1;
        if reps.is_multiple_of(8) {
            backend.synchronize()?;
        }
    }
    backend.synchronize()?;
    let seconds = start.elapsed().as_secs_f64() / reps as f64;
    let flops = 2.0 * (m * n * k) as f64;
    Ok(json!({
        "shape": label, "m": m, "k": k, "n": n, "ta": ta, "tb": tb,
        "reps": reps,
        "ms": seconds * 1e3,
        "gflops": flops / seconds / 1e9,
    }))
}

pub fn run(backend: &mut dyn Backend, max_size: usize, min_seconds: f64) -> Result<Value> {
    let mut results = Vec::new();
    for case in cases(max_size) {
        results.push(one(backend, &case, min_seconds)?);
    }
    Ok(json!({ "device": backend.describe(), "matmul": results }))
}
