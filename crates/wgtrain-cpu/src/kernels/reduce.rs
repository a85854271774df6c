use super::PAR_MIN;
use rayon::prelude::*;
use wgtrain_graph::{ReduceOp, Shape};

/// Reduces axis `axis` of `x`; `out` holds outer * inner values (keepdims does not change it).
/// Large inputs split the outer rows across threads.
pub fn reduce(op: ReduceOp, x: &[f32], sx: &Shape, axis: usize, out: &mut [f32]) {
    let (outer, n, inner) = sx.around(axis);
    if x.len() >= PAR_MIN && outer > 1 {
        out.par_chunks_mut(inner)
            .zip(x.par_chunks(n * inner))
            .for_each(|(dst, row)| reduce_row(op, row, n, inner, dst));
    } else {
        for (dst, row) in out.chunks_mut(inner).zip(x.chunks(n * inner)) {
            reduce_row(op, row, n, inner, dst);
        }
    }
}

/// Reduces one (n, inner) block of `x` along n into `dst` (inner values).
fn reduce_row(op: ReduceOp, row: &[f32], n: usize, inner: usize, dst: &mut [f32]) {
    if inner == 1 {
        dst[0] = match op {
            ReduceOp::Sum => row.iter().sum(),
            ReduceOp::Mean => row.iter().sum::<f32>() / n as f32,
            ReduceOp::Max => row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)),
        };
        return;
    }
    match op {
        ReduceOp::Sum | ReduceOp::Mean => {
            dst.fill(0.0);
            for j in 0..n {
                let src = &row[j * inner..(j + 1) * inner];
                dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
            }
            if op == ReduceOp::Mean {
                let inv = 1.0 / n as f32;
                dst.iter_mut().for_each(|d| *d *= inv);
            }
        }
        ReduceOp::Max => {
            dst.copy_from_slice(&row[..inner]);
            for j in 1..n {
                let src = &row[j * inner..(j + 1) * inner];
                dst.iter_mut().zip(src).for_each(|(d, &s)| *d = d.max(s));
            }
        }
    }
}

/// Softmax (or log-softmax) along `axis`, max-shifted for stability.
pub fn softmax(x: &[f32], sx: &Shape, axis: usize, out: &mut [f32], log: bool) {
    let (outer, n, inner) = sx.around(axis);
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| o * n * inner + j * inner + i;
            let mut max = f32::NEG_INFINITY;
            for j in 0..n {
                max = max.max(x[at(j)]);
            }
            let mut sum = 0.0;
            for j in 0..n {
                let e = (x[at(j)] - max).exp();
                out[at(j)] = e;
                sum += e;
            }
            if log {
                let log_sum = sum.ln() + max;
                for j in 0..n {
                    out[at(j)] = x[at(j)] - log_sum;
                }
            } else {
                let inv = 1.0 / sum;
                for j in 0..n {
                    out[at(j)] *= inv;
                }
            }
        }
    }
}
