//! Fused per-element optimizer updates with Keras semantics.

use super::{PAR_CHUNK, PAR_MIN};
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
    let n = p.len();
    if n < PAR_MIN {
        update(spec, s, p, g, g_sq, s0, s1);
        return;
    }
    let (pp, p0, p1) = (
        SendPtr(p.as_mut_ptr()),
        SendPtr(s0.as_mut_ptr()),
        SendPtr(s1.as_mut_ptr()),
    );
    let (used0, used1) = (!s0.is_empty(), !s1.is_empty());
    (0..n.div_ceil(PAR_CHUNK)).into_par_iter().for_each(|c| {
        let lo = c * PAR_CHUNK;
        let len = PAR_CHUNK.min(n - lo);
        // SAFETY: chunk `c` covers elements lo..lo+len of each buffer, disjoint across chunks.
        let part = |ptr: &SendPtr, used: bool| unsafe {
            if used {
                std::slice::from_raw_parts_mut(ptr.0.add(lo), len)
            } else {
                &mut []
            }
        };
        update(
            spec,
            s,
            part(&pp, true),
            &g[lo..lo + len],
            g_sq.map(|q| &q[lo..lo + len]),
            part(&p0, used0),
            part(&p1, used1),
        );
    });
}

struct SendPtr(*mut f32);
// SAFETY: used only to hand disjoint chunks of one buffer to worker threads.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

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
    let sq = |i: usize| g_sq.map_or(g[i] * g[i], |q| q[i]);
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
            for i in 0..p.len() {
                let v = rho * s0[i] + (1.0 - rho) * sq(i);
                s0[i] = v;
                // Keras 3 puts epsilon inside the square root.
                let step = lr * g[i] / (v + epsilon).sqrt();
                if momentum == 0.0 {
                    p[i] -= step;
                } else {
                    let m = momentum * s1[i] + step;
                    s1[i] = m;
                    p[i] -= m;
                }
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
            let step = |p: &mut f32, g: f32, g2: f32, m: &mut f32, v: &mut f32| {
                *p -= *p * decay;
                *m += (g - *m) * (1.0 - beta_1);
                *v += (g2 - *v) * (1.0 - beta_2);
                *p -= alpha * *m / (v.sqrt() + epsilon);
            };
            // Two loops, so each vectorizes without a branch per element.
            match g_sq {
                Some(q) => {
                    for i in 0..p.len() {
                        step(&mut p[i], g[i], q[i], &mut s0[i], &mut s1[i]);
                    }
                }
                None => {
                    for i in 0..p.len() {
                        step(&mut p[i], g[i], g[i] * g[i], &mut s0[i], &mut s1[i]);
                    }
                }
            }
        }
        OptimizerSpec::Nadam {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => {
            let (cm, cg, cv) = (s[1], s[2], s[3]);
            for i in 0..p.len() {
                let m = s0[i] + (g[i] - s0[i]) * (1.0 - beta_1);
                let v = s1[i] + (sq(i) - s1[i]) * (1.0 - beta_2);
                s0[i] = m;
                s1[i] = v;
                let m_hat = cm * m + cg * g[i];
                let v_hat = v * cv;
                p[i] -= lr * m_hat / (v_hat.sqrt() + epsilon);
            }
        }
    }
}
