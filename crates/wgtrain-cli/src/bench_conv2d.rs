//! `wgtrain bench conv2d`: Conv2D forward, backward-data and backward-filter throughput at the
//! inception block's shapes (batch 32, 32 x 32 x 64 images), as JSON.

use crate::bench_conv::time_passes;
use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use wgtrain::graph::{Backend, Conv2dGeometry, Op, Padding, Shape};

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
    // Multiply-adds of one pass, counting only taps that read inside the image.
    let inside = (0..geo.out_positions())
        .flat_map(|o| (0..geo.taps()).map(move |t| (o, t)))
        .filter(|&(o, t)| geo.input_at(o, t).is_some())
        .count();
    let flops = 2.0 * (n * inside * cin * cout) as f64;
    let passes = [
        ("forward", Op::Conv2d(geo)),
        ("backward_data", Op::Conv2dBackwardData(geo)),
        ("backward_filter", Op::Conv2dBackwardFilter(geo)),
    ];
    let (oh, ow) = (geo.rows.out_len, geo.cols.out_len);
    let shapes = [
        Shape(vec![n, side, side, cin]),
        Shape(vec![k, k, cin, cout]),
        Shape(vec![n, oh, ow, cout]),
    ];
    let out = json!({ "shape": label, "batch": n });
    time_passes(backend, min_seconds, flops, shapes, passes, out)
}

pub fn run(backend: &mut dyn Backend, min_seconds: f64) -> Result<Value> {
    let mut results = Vec::new();
    for case in &CASES {
        results.push(one(backend, case, min_seconds)?);
    }
    Ok(json!({ "device": backend.describe(), "conv2d": results }))
}
