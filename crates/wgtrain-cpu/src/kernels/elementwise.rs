use super::{exp, PAR_CHUNK, PAR_MIN};
use rayon::prelude::*;
use wgtrain_graph::rng::{fill_dropout_scales, DROPOUT_GROUP};
use wgtrain_graph::shape::MAX_RANK;
use wgtrain_graph::{BinaryOp, Shape, UnaryOp};

/// Dispatches once per kernel on the op, so each loop below is compiled for one concrete
/// function and vectorizes.
pub fn unary(op: UnaryOp, x: &[f32], out: &mut [f32]) {
    match op {
        UnaryOp::Neg => map(x, out, |x| -x),
        UnaryOp::Relu => map(x, out, |x| x.max(0.0)),
        UnaryOp::Sigmoid => map(x, out, exp::sigmoid),
        UnaryOp::Tanh => map(x, out, exp::tanh),
        UnaryOp::Exp => map(x, out, exp::exp),
        UnaryOp::Log => map(x, out, f32::ln),
        UnaryOp::Sqrt => map(x, out, f32::sqrt),
        UnaryOp::Square => map(x, out, |x| x * x),
        UnaryOp::Step => map(x, out, |x| if x > 0.0 { 1.0 } else { 0.0 }),
    }
}

fn map(x: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(PAR_CHUNK)
            .zip(x.par_chunks(PAR_CHUNK))
            .for_each(|(o, x)| o.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x)));
    } else {
        out.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x));
    }
}

/// Runs `$body` with `$f` bound to binary op `$op`'s formula, a closure of its own per op so
/// each loop is compiled for one concrete function and vectorizes.
macro_rules! with_formula {
    ($op:expr, $f:ident => $body:expr) => {
        match $op {
            BinaryOp::Add => {
                let $f = |a: f32, b: f32| a + b;
                $body
            }
            BinaryOp::Sub => {
                let $f = |a: f32, b: f32| a - b;
                $body
            }
            BinaryOp::Mul => {
                let $f = |a: f32, b: f32| a * b;
                $body
            }
            BinaryOp::Div => {
                let $f = |a: f32, b: f32| a / b;
                $body
            }
            BinaryOp::Equal => {
                let $f = |a: f32, b: f32| if a == b { 1.0 } else { 0.0 };
                $body
            }
            BinaryOp::GreaterEqual => {
                let $f = |a: f32, b: f32| if a >= b { 1.0 } else { 0.0 };
                $body
            }
            BinaryOp::Maximum => {
                let $f = f32::max;
                $body
            }
            BinaryOp::Minimum => {
                let $f = f32::min;
                $body
            }
        }
    };
}

/// Elementwise `a op b` with numpy broadcasting.
pub fn binary(
    op: BinaryOp,
    a: &[f32],
    sa: &Shape,
    b: &[f32],
    sb: &Shape,
    out: &mut [f32],
    so: &Shape,
) {
    with_formula!(op, f => zip_with(a, sa, b, sb, out, so, f))
}

/// `a op b` over slices of one length, on the calling thread (a fused group's chunk).
pub fn binary_flat(op: BinaryOp, a: &[f32], b: &[f32], out: &mut [f32]) {
    with_formula!(op, f => {
        for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
            *o = f(a, b);
        }
    })
}

/// Common layouts (same shape, a scalar side, a trailing-row side, a per-row column side) take
/// direct loops; others use strided indexing.
fn zip_with(
    a: &[f32],
    sa: &Shape,
    b: &[f32],
    sb: &Shape,
    out: &mut [f32],
    so: &Shape,
    f: impl Fn(f32, f32) -> f32 + Sync,
) {
    let n = out.len();
    if a.len() == n && b.len() == n {
        if n >= PAR_MIN {
            out.par_chunks_mut(PAR_CHUNK)
                .zip(a.par_chunks(PAR_CHUNK).zip(b.par_chunks(PAR_CHUNK)))
                .for_each(|(o, (a, b))| {
                    for i in 0..o.len() {
                        o[i] = f(a[i], b[i]);
                    }
                });
        } else {
            for i in 0..n {
                out[i] = f(a[i], b[i]);
            }
        }
    } else if b.len() == 1 {
        let bv = b[0];
        map(a, out, |x| f(x, bv));
    } else if a.len() == 1 {
        let av = a[0];
        map(b, out, |y| f(av, y));
    } else if a.len() == n && is_trailing(sb, so) {
        let w = b.len();
        per_block(out, w, |k, o| {
            let a = &a[k * w..(k + 1) * w];
            for i in 0..w {
                o[i] = f(a[i], b[i]);
            }
        });
    } else if b.len() == n && is_trailing(sa, so) {
        let w = a.len();
        per_block(out, w, |k, o| {
            let b = &b[k * w..(k + 1) * w];
            for i in 0..w {
                o[i] = f(a[i], b[i]);
            }
        });
    } else if a.len() == n && is_column(sb, so) {
        let w = so.last();
        per_block(out, w, |k, o| {
            let (a, bv) = (&a[k * w..(k + 1) * w], b[k]);
            for i in 0..w {
                o[i] = f(a[i], bv);
            }
        });
    } else if b.len() == n && is_column(sa, so) {
        let w = so.last();
        per_block(out, w, |k, o| {
            let (b, av) = (&b[k * w..(k + 1) * w], a[k]);
            for i in 0..w {
                o[i] = f(av, b[i]);
            }
        });
    } else if let (true, Some((mid, inner))) = (a.len() == n, middle_axis(sb, so)) {
        per_block(out, mid * inner, |k, o| {
            let bs = &b[k * inner..(k + 1) * inner];
            for (o, a) in o.chunks_mut(inner).zip(a[k * mid * inner..].chunks(inner)) {
                for i in 0..inner {
                    o[i] = f(a[i], bs[i]);
                }
            }
        });
    } else if let (true, Some((mid, inner))) = (b.len() == n, middle_axis(sa, so)) {
        per_block(out, mid * inner, |k, o| {
            let as_ = &a[k * inner..(k + 1) * inner];
            for (o, b) in o.chunks_mut(inner).zip(b[k * mid * inner..].chunks(inner)) {
                for i in 0..inner {
                    o[i] = f(as_[i], b[i]);
                }
            }
        });
    } else {
        strided(so, sa, sb, |i, ia, ib| out[i] = f(a[ia], b[ib]));
    }
}

/// Calls `f(k, block)` for each `len`-element block of `out`, across threads when `out` is large.
fn per_block(out: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(len)
            .enumerate()
            .for_each(|(k, o)| f(k, o));
    } else {
        out.chunks_mut(len).enumerate().for_each(|(k, o)| f(k, o));
    }
}

/// `s` is `o` with one axis before the last collapsed to 1: `o` is (outer, mid, inner) and `s`
/// (outer, 1, inner). Returns (mid, inner).
pub fn middle_axis(s: &Shape, o: &Shape) -> Option<(usize, usize)> {
    if s.rank() != o.rank() || s.rank() < 2 {
        return None;
    }
    let differ: Vec<usize> = (0..s.rank()).filter(|&k| s.0[k] != o.0[k]).collect();
    match differ[..] {
        [k] if k + 1 < s.rank() && s.0[k] == 1 => Some((o.0[k], o.0[k + 1..].iter().product())),
        _ => None,
    }
}

/// `s` broadcasts to `o` by repeating it along leading axes only.
fn is_trailing(s: &Shape, o: &Shape) -> bool {
    let r = s.rank();
    let lead_ones = s.0.iter().take_while(|&&d| d == 1).count();
    r <= o.rank() && s.0[lead_ones..] == o.0[o.rank() - (r - lead_ones)..]
}

/// `s` is `o` with the last axis collapsed to 1.
pub fn is_column(s: &Shape, o: &Shape) -> bool {
    s.rank() == o.rank() && s.last() == 1 && s.0[..s.rank() - 1] == o.0[..o.rank() - 1]
}

/// Calls `f(out_index, a_index, b_index)` for every element of `so`, where `sa` and `sb`
/// broadcast to `so`.
pub fn strided(so: &Shape, sa: &Shape, sb: &Shape, mut f: impl FnMut(usize, usize, usize)) {
    // The graph rejects higher ranks when it is built.
    let r = so.rank().min(MAX_RANK);
    let mut stride_a = [0usize; MAX_RANK];
    let mut stride_b = [0usize; MAX_RANK];
    fill_strides(sa, so, &mut stride_a);
    fill_strides(sb, so, &mut stride_b);
    let mut idx = [0usize; MAX_RANK];
    let (mut ia, mut ib) = (0usize, 0usize);
    for i in 0..so.numel() {
        f(i, ia, ib);
        for ax in (0..r).rev() {
            idx[ax] += 1;
            ia += stride_a[ax];
            ib += stride_b[ax];
            if idx[ax] < so.0[ax] {
                break;
            }
            ia -= stride_a[ax] * idx[ax];
            ib -= stride_b[ax] * idx[ax];
            idx[ax] = 0;
        }
    }
}

fn fill_strides(s: &Shape, o: &Shape, out: &mut [usize; MAX_RANK]) {
    let r = o.rank();
    let mut acc = 1;
    for k in 0..s.rank() {
        let d = s.0[s.rank() - 1 - k];
        out[r - 1 - k] = if d == 1 { 0 } else { acc };
        acc *= d;
    }
}

/// Thread chunks start at a dropout group.
const _: () = assert!(PAR_CHUNK.is_multiple_of(DROPOUT_GROUP));

pub fn dropout(x: &[f32], out: &mut [f32], rate: f32, seed: u64, step: u64, key: u32) {
    let body = |first_group: usize, o: &mut [f32], x: &[f32]| {
        let mut scale = [0.0; DROPOUT_GROUP];
        let groups = o.chunks_mut(DROPOUT_GROUP).zip(x.chunks(DROPOUT_GROUP));
        for (k, (o, x)) in groups.enumerate() {
            let group = first_group + k;
            fill_dropout_scales(
                seed,
                step,
                key,
                rate,
                group * DROPOUT_GROUP,
                &mut scale[..o.len()],
            );
            for ((o, &x), &s) in o.iter_mut().zip(x).zip(&scale) {
                *o = x * s;
            }
        }
    };
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(PAR_CHUNK)
            .zip(x.par_chunks(PAR_CHUNK))
            .enumerate()
            .for_each(|(c, (o, x))| body(c * PAR_CHUNK / DROPOUT_GROUP, o, x));
    } else {
        body(0, out, x);
    }
}
