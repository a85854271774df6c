//! Ops that move data without arithmetic (beyond the sums of `sum_to`).

use super::elementwise::{is_column, middle_axis, strided};
use super::PAR_MIN;
use rayon::prelude::*;
use wgtrain_graph::Shape;

/// Copies `x` (axis length `n_in`) into `out` (axis length `n_out`) at axis offset `at`.
pub fn copy_along(x: &[f32], sx: &Shape, axis: usize, out: &mut [f32], n_out: usize, at: usize) {
    let (_, n_in, inner) = sx.around(axis);
    let place = |(dst, src): (&mut [f32], &[f32])| {
        dst[at * inner..(at + n_in) * inner].copy_from_slice(src)
    };
    if x.len() >= PAR_MIN {
        out.par_chunks_mut(n_out * inner)
            .zip(x.par_chunks(n_in * inner))
            .for_each(place);
    } else {
        out.chunks_mut(n_out * inner)
            .zip(x.chunks(n_in * inner))
            .for_each(place);
    }
}

/// `out = x[.., start..start + len, ..]` along `axis`.
pub fn slice(x: &[f32], sx: &Shape, axis: usize, start: usize, out: &mut [f32], len: usize) {
    let (_, n, inner) = sx.around(axis);
    let take = |(dst, src): (&mut [f32], &[f32])| {
        dst.copy_from_slice(&src[start * inner..(start + len) * inner])
    };
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(len * inner)
            .zip(x.par_chunks(n * inner))
            .for_each(take);
    } else {
        out.chunks_mut(len * inner)
            .zip(x.chunks(n * inner))
            .for_each(take);
    }
}

pub fn broadcast_to(x: &[f32], sx: &Shape, out: &mut [f32], so: &Shape) {
    if x.len() == 1 {
        out.fill(x[0]);
        return;
    }
    let w = so.last();
    if is_column(sx, so) {
        for (row, &v) in out.chunks_mut(w).zip(x) {
            row.fill(v);
        }
        return;
    }
    if let Some((mid, inner)) = middle_axis(sx, so) {
        for (k, o) in out.chunks_mut(mid * inner).enumerate() {
            for row in o.chunks_mut(inner) {
                row.copy_from_slice(&x[k * inner..(k + 1) * inner]);
            }
        }
        return;
    }
    strided(so, sx, sx, |i, ix, _| out[i] = x[ix]);
}

/// Sums `x` over the axes where `so` broadcasts up to `sx`.
pub fn sum_to(x: &[f32], sx: &Shape, out: &mut [f32], so: &Shape) {
    out.fill(0.0);
    if out.len() == 1 {
        out[0] = x.iter().sum();
        return;
    }
    let n = out.len();
    let lead_ones = so.0.iter().take_while(|&&d| d == 1).count();
    if x.len().is_multiple_of(n) && sx.0.ends_with(&so.0[lead_ones..]) {
        for row in x.chunks(n) {
            out.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
        }
        return;
    }
    if is_column(so, sx) {
        let w = sx.last();
        for (o, row) in out.iter_mut().zip(x.chunks(w)) {
            *o = row.iter().sum();
        }
        return;
    }
    if let Some((mid, inner)) = middle_axis(so, sx) {
        for (k, o) in out.chunks_mut(inner).enumerate() {
            for row in x[k * mid * inner..(k + 1) * mid * inner].chunks(inner) {
                o.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
            }
        }
        return;
    }
    strided(sx, so, so, |i, io, _| out[io] += x[i]);
}
