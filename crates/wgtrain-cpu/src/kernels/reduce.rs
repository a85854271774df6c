use wgtrain_graph::{ReduceOp, Shape};

/// Reduces axis `axis` of `x`; `out` holds outer * inner values (keepdims does not change it).
pub fn reduce(op: ReduceOp, x: &[f32], sx: &Shape, axis: usize, out: &mut [f32]) {
    let (outer, n, inner) = sx.around(axis);
    for o in 0..outer {
        let row = &x[o * n * inner..(o + 1) * n * inner];
        let dst = &mut out[o * inner..(o + 1) * inner];
        if inner == 1 {
            dst[0] = match op {
                ReduceOp::Sum => row.iter().sum(),
                ReduceOp::Mean => row.iter().sum::<f32>() / n as f32,
                ReduceOp::Max => row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)),
            };
            continue;
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
