//! `wgtrain bench conv1d`: Conv1D forward, backward-data and backward-filter throughput at the
//! reference workloads' shapes, as JSON.

use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use std::time::Instant;
use wgtrain::graph::{
    Backend, Conv1dGeometry, Graph, Op, Padding, ParamId, Plan, PlanOutputs, Shape, StepArgs,
};

/// (label, batch, length, in, out, kernel, dilation, padding).
type Case = (
    &'static str,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    Padding,
);

const CASES: [Case; 2] = [
    (
        "workload 1: 128x300, 100->200, k3, dilation 2, same",
        128,
        300,
        100,
        200,
        3,
        2,
        Padding::Same,
    ),
    (
        "workload 4: 32x100, 50->250, k3, valid",
        32,
        100,
        50,
        250,
        3,
        1,
        Padding::Valid,
    ),
];

/// Seconds per run of a plan, repeated for at least `min_seconds`.
fn time_plan(backend: &mut dyn Backend, plan: Plan, min_seconds: f64) -> Result<(f64, u32)> {
    let id = backend.compile(plan)?;
    let args = StepArgs::default();
    backend.run(id, &[], &args)?;
    backend.synchronize()?;
    let start = Instant::now();
    let mut reps = 0u32;
    while reps < 3 || start.elapsed().as_secs_f64() < min_seconds {
        backend.run(id, &[], &args)?;
        reps += 1;
        if reps.is_multiple_of(4) {
            backend.synchronize()?;
        }
    }
    backend.synchronize()?;
    Ok((start.elapsed().as_secs_f64() / reps as f64, reps))
}

fn one(backend: &mut dyn Backend, case: &Case, min_seconds: f64) -> Result<Value> {
    let &(label, n, l, cin, cout, k, d, padding) = case;
    let geo = Conv1dGeometry::new(l, k, 1, d, padding).map_err(|e| anyhow!(e))?;
    // Multiply-adds of one pass, counting only taps that read inside the input.
    let taps: usize = (0..k)
        .map(|j| {
            let (lo, hi) = geo.valid_outputs(j);
            hi - lo
        })
        .sum();
    let flops = 2.0 * (n * taps * cin * cout) as f64;
    let passes = [
        ("forward", Op::Conv1d(geo)),
        ("backward_data", Op::Conv1dBackwardData(geo)),
        ("backward_filter", Op::Conv1dBackwardFilter(geo)),
    ];
    let shapes = [
        Shape(vec![n, l, cin]),
        Shape(vec![k, cin, cout]),
        Shape(vec![n, geo.out_len, cout]),
    ];
    let out = json!({ "shape": label });
    time_passes(backend, min_seconds, flops, shapes, passes, out)
}

/// Times a convolution's three passes, each its own plan over random parameters 0 (x), 1
/// (kernel) and 2 (dy) of `shapes`: the forward pass reads x and the kernel, the input's
/// gradient dy and the kernel, the kernel's gradient x and dy. `flops` is one pass's work; the
/// times go into `out`.
pub(crate) fn time_passes(
    backend: &mut dyn Backend,
    min_seconds: f64,
    flops: f64,
    shapes: [Shape; 3],
    passes: [(&str, Op); 3],
    mut out: Value,
) -> Result<Value> {
    for (i, s) in shapes.iter().enumerate() {
        let values = wgtrain::nn::init::uniform_stream(5, 1 + i as u32, s.numel());
        backend.set_param(ParamId(i), &values)?;
    }
    let mut total = 0.0;
    for (pass, (name, op)) in passes.into_iter().enumerate() {
        let mut g = Graph::new();
        let [x, w, dy] = [0, 1, 2].map(|i| g.param(ParamId(i), shapes[i].clone()));
        let inputs = [[x, w], [dy, w], [x, dy]][pass];
        let y = g.push(op, &inputs)?;
        let outputs = PlanOutputs {
            predictions: vec![y],
            ..Default::default()
        };
        let (seconds, reps) = time_plan(backend, Plan::new(g, outputs, vec![], None), min_seconds)?;
        total += seconds;
        out[name] = json!({ "ms": seconds * 1e3, "gflops": flops / seconds / 1e9, "reps": reps });
    }
    out["forward_backward_ms"] = json!(total * 1e3);
    out["forward_backward_gflops"] = json!(3.0 * flops / total / 1e9);
    Ok(out)
}

pub fn run(backend: &mut dyn Backend, min_seconds: f64) -> Result<Value> {
    let mut results = Vec::new();
    for case in &CASES {
        results.push(one(backend, case, min_seconds)?);
    }
    Ok(json!({ "device": backend.describe(), "conv1d": results }))
}
