//! Batch normalization by the batch's statistics (`Op::Moments`, `Op::BatchNorm`,
//! `Op::BatchNormGrad`) over x [rows, c]. Column sums run over chunks of rows across threads,
//! each chunk summed in f64 and the chunks added in order, so results do not depend on the
//! thread count.

use super::PAR_CHUNK;
use rayon::prelude::*;
use std::cell::RefCell;

thread_local! {
    /// Per-chunk column sums, then their total; grows once.
    static SUMS: RefCell<(Vec<f64>, Vec<f64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

fn rows_per_chunk(c: usize) -> usize {
    (PAR_CHUNK / c).max(1)
}

/// Sums `K` terms per column over `rows` rows of `c` columns, then calls `done` with the sums
/// (term-major, `K * c`). `terms(row, sums)` adds row `row`'s terms to `sums`.
fn column_sums<const K: usize>(
    rows: usize,
    c: usize,
    terms: impl Fn(usize, &mut [f64]) + Sync,
    done: impl FnOnce(&[f64]),
) {
    let per = rows_per_chunk(c);
    let chunks = rows.div_ceil(per);
    SUMS.with(|sums| {
        let (parts, total) = &mut *sums.borrow_mut();
        if parts.len() < chunks * K * c {
            parts.resize(chunks * K * c, 0.0);
        }
        if total.len() < K * c {
            total.resize(K * c, 0.0);
        }
        let (parts, total) = (&mut parts[..chunks * K * c], &mut total[..K * c]);
        parts
            .par_chunks_mut(K * c)
            .enumerate()
            .for_each(|(k, part)| {
                part.fill(0.0);
                for r in k * per..((k + 1) * per).min(rows) {
                    terms(r, part);
                }
            });
        total.fill(0.0);
        for part in parts.chunks_exact(K * c) {
            for (t, &p) in total.iter_mut().zip(part) {
                *t += p;
            }
        }
        done(total);
    });
}

/// `out = [means; biased variances]` of the columns of `x`: the variance as the mean of the
/// squared deviations from the mean.
pub fn moments(x: &[f32], c: usize, out: &mut [f32]) {
    let rows = x.len() / c;
    let (mean, variance) = out.split_at_mut(c);
    column_sums::<1>(
        rows,
        c,
        |r, sums| {
            for (s, &v) in sums.iter_mut().zip(&x[r * c..(r + 1) * c]) {
                *s += v as f64;
            }
        },
        |sums| {
            for (m, &s) in mean.iter_mut().zip(sums) {
                *m = (s / rows as f64) as f32;
            }
        },
    );
    let mean = &*mean;
    column_sums::<1>(
        rows,
        c,
        |r, sums| {
            for ((s, &v), &m) in sums.iter_mut().zip(&x[r * c..(r + 1) * c]).zip(mean) {
                let d = (v - m) as f64;
                *s += d * d;
            }
        },
        |sums| {
            for (var, &s) in variance.iter_mut().zip(sums) {
                *var = (s / rows as f64) as f32;
            }
        },
    );
}

thread_local! {
    /// Three per-column coefficients of a pass; grows once.
    static COEFFICIENTS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with three per-column coefficients `(a, b, d)` that `fill(column)` gives.
fn per_column(
    c: usize,
    fill: impl Fn(usize) -> (f32, f32, f32),
    f: impl FnOnce(&[f32], &[f32], &[f32]),
) {
    COEFFICIENTS.with(|k| {
        let mut k = k.borrow_mut();
        if k.len() < 3 * c {
            k.resize(3 * c, 0.0);
        }
        let (a, rest) = k[..3 * c].split_at_mut(c);
        let (b, d) = rest.split_at_mut(c);
        for col in 0..c {
            (a[col], b[col], d[col]) = fill(col);
        }
        f(a, b, d)
    })
}

/// A column's `variance + epsilon` and `gamma / sqrt(variance + epsilon)`, as TensorFlow
/// computes them.
fn scale(moments: &[f32], gamma: &[f32], epsilon: f32, k: usize) -> (f32, f32) {
    let var_eps = moments[gamma.len() + k] + epsilon;
    (var_eps, gamma[k] / var_eps.sqrt())
}

/// `x * scale + offset` per column, `scale = gamma / sqrt(variance + epsilon)`,
/// `offset = beta - mean * scale`.
pub fn batch_norm(
    x: &[f32],
    moments: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
    out: &mut [f32],
) {
    let c = gamma.len();
    let fill = |k: usize| {
        let (_, scale) = scale(moments, gamma, epsilon, k);
        (scale, beta[k] - moments[k] * scale, 0.0)
    };
    per_column(c, fill, |scale, offset, _| {
        let per = rows_per_chunk(c) * c;
        out.par_chunks_mut(per)
            .zip(x.par_chunks(per))
            .for_each(|(o, x)| {
                for (o, x) in o.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                    for k in 0..c {
                        o[k] = x[k] * scale[k] + offset[k];
                    }
                }
            });
    });
}

/// The gradient of `batch_norm` (with the moments of `x`) with respect to x (`wrt` 0) or gamma
/// (`wrt` 2), from `dy`.
pub fn batch_norm_grad(
    dy: &[f32],
    x: &[f32],
    moments: &[f32],
    gamma: &[f32],
    epsilon: f32,
    wrt: usize,
    out: &mut [f32],
) {
    let c = gamma.len();
    let rows = x.len() / c;
    let mean = &moments[..c];
    column_sums::<2>(
        rows,
        c,
        |r, sums| {
            let (sum_dy, sum_dy_centered) = sums.split_at_mut(c);
            let (dy, x) = (&dy[r * c..(r + 1) * c], &x[r * c..(r + 1) * c]);
            for k in 0..c {
                sum_dy[k] += dy[k] as f64;
                sum_dy_centered[k] += (dy[k] * (x[k] - mean[k])) as f64;
            }
        },
        |sums| {
            let (sum_dy, sum_dy_centered) = sums.split_at(c);
            if wrt == 2 {
                for (k, o) in out.iter_mut().enumerate() {
                    let (var_eps, _) = scale(moments, gamma, epsilon, k);
                    *o = (sum_dy_centered[k] / var_eps.sqrt() as f64) as f32;
                }
                return;
            }
            let n = rows as f64;
            let fill = |k: usize| {
                let (var_eps, scale) = scale(moments, gamma, epsilon, k);
                let shift = (sum_dy[k] / n) as f32;
                let slope = (sum_dy_centered[k] / (n * var_eps as f64)) as f32;
                (scale, shift, slope)
            };
            per_column(c, fill, |scale, shift, slope| {
                let per = rows_per_chunk(c) * c;
                out.par_chunks_mut(per)
                    .zip(dy.par_chunks(per).zip(x.par_chunks(per)))
                    .for_each(|(o, (dy, x))| {
                        let o = o.chunks_exact_mut(c);
                        for (o, (dy, x)) in o.zip(dy.chunks_exact(c).zip(x.chunks_exact(c))) {
                            for k in 0..c {
                                let centered = x[k] - mean[k];
                                o[k] = scale[k] * (dy[k] - shift[k] - centered * slope[k]);
                            }
                        }
                    });
            });
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values::values;

    /// Plain per-column loops in f64, over rows split across threads.
    #[test]
    fn kernels_match_the_formulas() {
        let (rows, c) = (700, 30);
        let x: Vec<f32> = values(rows * c, 1).iter().map(|v| 3.0 * v + 0.5).collect();
        let dy = values(rows * c, 2);
        let (gamma, beta) = (values(c, 3), values(c, 4));
        let eps = 1e-3;
        fn col(t: &[f32], c: usize, k: usize) -> impl Iterator<Item = f64> + '_ {
            t.iter().skip(k).step_by(c).map(|&v| v as f64)
        }
        let mut m = vec![0.0; 2 * c];
        moments(&x, c, &mut m);
        let (mut y, mut dx, mut dgamma) = (vec![0.0; rows * c], vec![0.0; rows * c], vec![0.0; c]);
        batch_norm(&x, &m, &gamma, &beta, eps, &mut y);
        batch_norm_grad(&dy, &x, &m, &gamma, eps, 0, &mut dx);
        batch_norm_grad(&dy, &x, &m, &gamma, eps, 2, &mut dgamma);
        let close = |got: f32, want: f64, what: &str| {
            assert!(
                (got as f64 - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{what}: {got} vs {want}"
            );
        };
        let n = rows as f64;
        for k in 0..c {
            let mean = col(&x, c, k).sum::<f64>() / n;
            let var = col(&x, c, k).map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            close(m[k], mean, "mean");
            close(m[c + k], var, "variance");
            let inv = 1.0 / (var + eps as f64).sqrt();
            let xhat: Vec<f64> = col(&x, c, k).map(|v| (v - mean) * inv).collect();
            let dys: Vec<f64> = col(&dy, c, k).collect();
            let mean_dy = dys.iter().sum::<f64>() / n;
            let mean_dy_xhat = dys.iter().zip(&xhat).map(|(d, h)| d * h).sum::<f64>() / n;
            close(dgamma[k], mean_dy_xhat * n, "dgamma");
            for r in 0..rows {
                let g = gamma[k] as f64;
                close(y[r * c + k], g * xhat[r] + beta[k] as f64, "y");
                let want = g * inv * (dys[r] - mean_dy - xhat[r] * mean_dy_xhat);
                close(dx[r * c + k], want, "dx");
            }
        }
    }
}
