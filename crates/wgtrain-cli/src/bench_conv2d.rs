//! `wgtrain bench conv2d`: Conv2D forward, backward-data and backward-filter throughput at the
//! inception block's shapes (batch 32, 32 x 32 x 64 images), as JSON.

use crate::bench_conv::time_plan;
use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use wgtrain::graph::{Backend, Conv2dGeometry, Graph, Op, Padding, ParamId, Plan, PlanOutputs};

/// (label, image side, in, out, kernel, stride).
type Case = (&'static str, usize, usize, usize, usize, usize);

const BATCH: usize = 32;

const CASES: [Case; 4] = [
    ("1x1, 32x32, 64->64", 32, 64, 64, 1, 1),
    ("3x3, 32x32, 64->64, same", 32, 64, 64, 3, 1),
    (
        "3x3 stride 2, 32x32 -> 16x16, 64->64, same",
        32,
        64,
        64,
        3,
        2,
    ),
    ("3x3, 16x16, 64->64, same", 16, 64, 64, 3, 1),
];

fn one(backend: &mut dyn Backend, case: &Case, min_seconds: f64) -> Result<Value> {
    let &(label, side, cin, cout, k, s) = case;
    let geo = Conv2dGeometry::new([side, side], [k, k], [s, s], [1, 1], Padding::Same)
        .map_err(|e| anyhow!(e))?;
    let n = BATCH;
    let stream = |k: u32, len: usize| wgtrain::nn::init::uniform_stream(6, k, len);
    backend.set_param(ParamId(0), &stream(1, n * geo.in_positions() * cin))?;
    backend.set_param(ParamId(1), &stream(2, geo.taps() * cin * cout))?;
    backend.set_param(ParamId(2), &stream(3, n * geo.out_positions() * cout))?;
    // Multiply-adds of one pass, counting only taps that read inside the image.
    let inside = (0..geo.out_positions())
        .flat_map(|o| (0..geo.taps()).map(move |t| (o, t)))
        .filter(|&(o, t)| geo.input_at(o, t).is_some())
        .count();
    let flops = 2.0 * (n * inside * cin * cout) as f64;
    let mut out = json!({ "shape": label, "batch": n });
    let mut total = 0.0;
    for (name, op) in [
        ("forward", Op::Conv2d(geo)),
        ("backward_data", Op::Conv2dBackwardData(geo)),
        ("backward_filter", Op::Conv2dBackwardFilter(geo)),
    ] {
        let mut g = Graph::new();
        let x = g.param(ParamId(0), [n, side, side, cin]);
        let w = g.param(ParamId(1), [k, k, cin, cout]);
        let (oh, ow) = (geo.rows.out_len, geo.cols.out_len);
        let dy = g.param(ParamId(2), [n, oh, ow, cout]);
        let inputs = match op {
            Op::Conv2d(_) => [x, w],
            Op::Conv2dBackwardData(_) => [dy, w],
            _ => [x, dy],
        };
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
    Ok(json!({ "device": backend.describe(), "conv2d": results }))
}
