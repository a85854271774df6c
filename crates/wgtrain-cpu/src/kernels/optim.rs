//! Fused per-element optimizer updates with Keras semantics.

use super::{SendPtr, PAR_CHUNK, PAR_MIN};
use rayon::prelude::*;
use wgtrain_graph::optim::StepScalars;
use wgtrain_graph::OptimizerSpec;

/// Updates `p` in place from gradient `g`; `s0`, `s1` are the optimizer's slots (empty when
/// unused). `g_sq`, when given, replaces `g * g` where the rule squares the gradient (the sum
/// of squared per-occurrence gradients of a gathered table, as Keras computes it).
pub fn apply(
    spec: &OptimizerSpec,
    s: StepScalars,
    p: &mut [f32],
    g: &[f32],
    g_sq: Option<&[f32]>,
    s0: &mut [f32],
    s1: &mut [f32],
) {
    in_chunks(p, s0, s1, PAR_CHUNK, |lo, p, s0, s1| {
        let len = p.len();
        update(
            spec,
            s,
            p,
            &g[lo..lo + len],
            g_sq.map(|q| &q[lo..lo + len]),
            s0,
            s1,
        )
    });
}

/// `apply` for a table whose gradient holds only the rows flagged in `touched` (rows of `width`
/// values); every other row's gradient is zero and is read from `zeros` instead, which holds at
/// least `rows_per_chunk(width) * width` zeros.
#[allow(clippy::too_many_arguments)]
pub fn apply_rows(
    spec: &OptimizerSpec,
    s: StepScalars,
    p: &mut [f32],
    g: &[f32],
    g_sq: Option<&[f32]>,
    s0: &mut [f32],
    s1: &mut [f32],
    (width, touched): (usize, &[bool]),
    zeros: &[f32],
) {
    let chunk = rows_per_chunk(width) * width;
    in_chunks(p, s0, s1, chunk, |lo, p, s0, s1| {
        let first_row = lo / width;
        let rows = p.len() / width;
        // Runs of rows that are all touched or all untouched, each one update.
        let mut a = 0;
        while a < rows {
            let kind = touched[first_row + a];
            let mut b = a + 1;
            while b < rows && touched[first_row + b] == kind {
                b += 1;
            }
            let (x, y) = (a * width, b * width);
            let (gs, qs) = if kind {
                let at = lo + x..lo + y;
                (&g[at.clone()], g_sq.map(|q| &q[at]))
            } else {
                (&zeros[..y - x], g_sq.map(|_| &zeros[..y - x]))
            };
            let t0 = if s0.is_empty() {
                &mut [][..]
            } else {
                &mut s0[x..y]
            };
            let t1 = if s1.is_empty() {
                &mut [][..]
            } else {
                &mut s1[x..y]
            };
            update(spec, s, &mut p[x..y], gs, qs, t0, t1);
            a = b;
        }
    });
}

/// Rows of a table updated together (one task when the update is split across threads).
pub fn rows_per_chunk(width: usize) -> usize {
    (PAR_CHUNK / width).max(1)
}

/// Calls `f(offset, p, s0, s1)` over chunks of `chunk` elements (the slots may be empty), on
/// several threads when the parameter is large.
fn in_chunks(
    p: &mut [f32],
    s0: &mut [f32],
    s1: &mut [f32],
    chunk: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32], &mut [f32]) + Sync,
) {
    let n = p.len();
    let (pp, p0, p1) = (
        SendPtr(p.as_mut_ptr()),
        SendPtr(s0.as_mut_ptr()),
        SendPtr(s1.as_mut_ptr()),
    );
    let (used0, used1) = (!s0.is_empty(), !s1.is_empty());
    let run = |c: usize| {
        let lo = c * chunk;
        let len = chunk.min(n - lo);
        // SAFETY: chunk `c` covers elements lo..lo+len of each buffer, disjoint across chunks.
        let part = |ptr: &SendPtr, used: bool| unsafe {
            if used {
                std::slice::from_raw_parts_mut(ptr.0.add(lo), len)
            } else {
                &mut []
            }
        };
        f(lo, part(&pp, true), part(&p0, used0), part(&p1, used1));
    };
    let chunks = n.div_ceil(chunk);
    if n < PAR_MIN {
        (0..chunks).for_each(run);
    } else {
        (0..chunks).into_par_iter().for_each(run);
    }
}

fn update(
    spec: &OptimizerSpec,
    s: StepScalars,
    p: &mut [f32],
    g: &[f32],
    g_sq: Option<&[f32]>,
    s0: &mut [f32],
    s1: &mut [f32],
) {
    let lr = s[0];
    match *spec {
        OptimizerSpec::Sgd {
            momentum, nesterov, ..
        } => {
            if momentum == 0.0 {
                p.iter_mut().zip(g).for_each(|(p, &g)| *p -= lr * g);
            } else {
                for i in 0..p.len() {
                    let m = momentum * s0[i] - lr * g[i];
                    s0[i] = m;
                    p[i] += if nesterov {
                        momentum * m - lr * g[i]
                    } else {
                        m
                    };
                }
            }
        }
        OptimizerSpec::RmsProp {
            rho,
            momentum,
            epsilon,
            ..
        } => {
            // Keras 3 puts epsilon inside the square root.
            if momentum == 0.0 {
                with_squares(g, g_sq, |i, g, g2| {
                    let v = rho * s0[i] + (1.0 - rho) * g2;
                    s0[i] = v;
                    p[i] -= lr * g / (v + epsilon).sqrt();
                });
            } else {
                with_squares(g, g_sq, |i, g, g2| {
                    let v = rho * s0[i] + (1.0 - rho) * g2;
                    s0[i] = v;
                    let m = momentum * s1[i] + lr * g / (v + epsilon).sqrt();
                    s1[i] = m;
                    p[i] -= m;
                });
            }
        }
        OptimizerSpec::Adam {
            beta_1,
            beta_2,
            epsilon,
            ..
        }
        | OptimizerSpec::AdamW {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => {
            let decay = match *spec {
                OptimizerSpec::AdamW { weight_decay, .. } => lr * weight_decay,
                _ => 0.0,
            };
            let alpha = s[1];
            with_squares(g, g_sq, |i, g, g2| {
                p[i] -= p[i] * decay;
                s0[i] += (g - s0[i]) * (1.0 - beta_1);
                s1[i] += (g2 - s1[i]) * (1.0 - beta_2);
                p[i] -= alpha * s0[i] / (s1[i].sqrt() + epsilon);
            });
        }
        OptimizerSpec::Nadam {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => {
            let (cm, cg, cv) = (s[1], s[2], s[3]);
            with_squares(g, g_sq, |i, g, g2| {
                let m = s0[i] + (g - s0[i]) * (1.0 - beta_1);
                let v = s1[i] + (g2 - s1[i]) * (1.0 - beta_2);
                s0[i] = m;
                s1[i] = v;
                let m_hat = cm * m + cg * g;
                let v_hat = v * cv;
                p[i] -= lr * m_hat / (v_hat.sqrt() + epsilon);
            });
        }
    }
}

/// Calls `step(i, g[i], g2)` for every element, where `g2` is `g_sq[i]` when given and
/// `g[i] * g[i]` otherwise: one loop for each case, so each vectorizes without a branch per
/// element.
fn with_squares(g: &[f32], g_sq: Option<&[f32]>, mut step: impl FnMut(usize, f32, f32)) {
    match g_sq {
        Some(q) => {
            for (i, (&g, &g2)) in g.iter().zip(q).enumerate() {
                step(i, g, g2);
            }
        }
        None => {
            for (i, &g) in g.iter().enumerate() {
                step(i, g, g * g);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgtrain_graph::optim::OptimizerClock;

    fn ramp(n: usize, scale: f32, offset: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * scale + offset)
            .collect()
    }

    /// A table's update from its touched rows equals, bit for bit, the dense update of a gradient
    /// that is zero in every other row, for each optimizer and with or without squared rows.
    #[test]
    fn the_touched_rows_update_equals_the_dense_update() {
        let (rows, width) = (3000, 7);
        let n = rows * width;
        let touched: Vec<bool> = (0..rows).map(|r| r % 5 == 1 || r / 100 == 7).collect();
        let keep = |v: Vec<f32>| -> Vec<f32> {
            v.iter()
                .enumerate()
                .map(|(i, &x)| if touched[i / width] { x } else { 0.0 })
                .collect()
        };
        let g = keep(ramp(n, 1e-3, 0.01));
        let g_sq = keep(ramp(n, 1e-4, 0.2).iter().map(|x| x.abs()).collect());
        let zeros = vec![0.0; rows_per_chunk(width) * width];
        for spec in [
            OptimizerSpec::adam(),
            OptimizerSpec::rmsprop(),
            OptimizerSpec::nadam(),
        ] {
            for sq in [None, Some(&g_sq[..])] {
                let mut clock = OptimizerClock::default();
                clock.tick(&spec, 1e-3);
                let s = clock.tick(&spec, 1e-3);
                let slots = spec.slots();
                let fresh = || {
                    let p = ramp(n, 1e-2, 0.5);
                    let s0 = if slots > 0 {
                        ramp(n, 1e-3, 0.1)
                    } else {
                        vec![]
                    };
                    let s1 = if slots > 1 {
                        ramp(n, 1e-5, 0.3)
                    } else {
                        vec![]
                    };
                    (p, s0, s1)
                };
                let (mut p, mut s0, mut s1) = fresh();
                apply(&spec, s, &mut p, &g, sq, &mut s0, &mut s1);
                let (mut q, mut t0, mut t1) = fresh();
                let table = (width, &touched[..]);
                apply_rows(&spec, s, &mut q, &g, sq, &mut t0, &mut t1, table, &zeros);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&p), bits(&q), "{spec:?} params");
                assert_eq!(bits(&s0), bits(&t0), "{spec:?} first slot");
                assert_eq!(bits(&s1), bits(&t1), "{spec:?} second slot");
            }
        }
    }
}
