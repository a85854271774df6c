//! 2-D convolutions over channels-last images as GEMMs: each chunk of samples is copied to a
//! (positions, taps * in) matrix of its windows (im2col) and multiplied by the kernel viewed as
//! (taps * in, out). A 1x1 stride-1 convolution reads its input in place.

use super::conv::{gemm_with, View};
use super::gemm_avx512;
use gemm::Parallelism;
use rayon::prelude::*;
use std::cell::RefCell;
use wgtrain_graph::Conv2dGeometry;

/// The most values one chunk's window matrix holds.
const CHUNK_VALUES: usize = 1 << 22;
/// Below this many multiply-adds a product runs on one thread.
const PAR_MIN_FLOPS: usize = 1 << 21;

thread_local! {
    /// The window matrix of the chunk in hand, reused across calls (it grows once).
    static WINDOWS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The kernel transposed to (out, taps * in), for the input's gradient (it grows once).
    static TRANSPOSED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A 1x1 kernel at stride 1: output position p reads input position p.
fn pointwise(geo: &Conv2dGeometry) -> bool {
    geo.taps() == 1 && geo.rows.stride == 1 && geo.cols.stride == 1
}

fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    if m * n * k >= PAR_MIN_FLOPS {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// `dst (m x n) = a (m x k) @ b (k x n)`, or `+=` when `accumulate`: with AVX-512 where the CPU
/// has it and b's columns are adjacent, else through the `gemm` crate.
///
/// SAFETY: the views address memory inside their buffers and `dst` (m x n, row-major) overlaps
/// neither.
unsafe fn product(m: usize, n: usize, k: usize, dst: &mut [f32], a: View, b: View, acc: bool) {
    debug_assert!(dst.len() >= m * n);
    #[cfg(target_arch = "x86_64")]
    if gemm_avx512::available() && b.cs == 1 && a.cs == 1 && a.rs >= 0 {
        let a = gemm_avx512::Operand {
            ptr: a.ptr,
            rs: a.rs as usize,
            cs: a.cs as usize,
        };
        let (ldb, c) = (b.rs as usize, dst.as_mut_ptr());
        gemm_avx512::product_on_threads(m, n, k, a, b.ptr, ldb, c, n, acc);
        return;
    }
    gemm_with(
        m,
        n,
        k,
        dst.as_mut_ptr(),
        n as isize,
        a,
        b,
        acc,
        parallelism(m, n, k),
    )
}

fn rows_of(ptr: &[f32], width: usize) -> View {
    View {
        ptr: ptr.as_ptr(),
        rs: width as isize,
        cs: 1,
    }
}

/// The transpose of a row-major matrix `width` values wide.
fn transposed(ptr: &[f32], width: usize) -> View {
    View {
        ptr: ptr.as_ptr(),
        rs: 1,
        cs: width as isize,
    }
}

/// Samples per chunk, so that a chunk's window matrix stays within `CHUNK_VALUES`.
fn chunk_samples(geo: &Conv2dGeometry, cin: usize) -> usize {
    (CHUNK_VALUES / (geo.out_positions() * geo.taps() * cin).max(1)).max(1)
}

/// Fills `windows` with the windows of samples `first..` of `x`: row (sample, output position),
/// column (tap, input channel); zero where a tap falls in the padding.
fn gather_windows(x: &[f32], geo: &Conv2dGeometry, cin: usize, first: usize, windows: &mut [f32]) {
    let (outs, ins, taps) = (geo.out_positions(), geo.in_positions(), geo.taps());
    windows
        .par_chunks_mut(taps * cin)
        .enumerate()
        .for_each(|(r, row)| {
            let (b, o) = (first + r / outs, r % outs);
            for (t, dst) in row.chunks_exact_mut(cin).enumerate() {
                match geo.input_at(o, t) {
                    Some(p) => dst.copy_from_slice(&x[(b * ins + p) * cin..][..cin]),
                    None => dst.fill(0.0),
                }
            }
        });
}

/// Runs `f(first sample, samples, window matrix)` over the batch in chunks, the window matrix
/// sized for the chunk.
fn by_chunks(
    batch: usize,
    geo: &Conv2dGeometry,
    cin: usize,
    mut f: impl FnMut(usize, usize, &mut [f32]),
) {
    let per = chunk_samples(geo, cin);
    let row = geo.taps() * cin;
    WINDOWS.with(|w| {
        let mut w = w.borrow_mut();
        let need = per.min(batch) * geo.out_positions() * row;
        if w.len() < need {
            w.resize(need, 0.0);
        }
        for first in (0..batch).step_by(per) {
            let n = per.min(batch - first);
            f(first, n, &mut w[..n * geo.out_positions() * row]);
        }
    });
}

/// y[b, o, :] = sum over taps t of x[b, input_at(o, t), :] @ w[t].
pub fn conv2d(x: &[f32], w: &[f32], y: &mut [f32], geo: &Conv2dGeometry, cin: usize, cout: usize) {
    let batch = x.len() / (geo.in_positions() * cin);
    let (outs, k) = (geo.out_positions(), geo.taps() * cin);
    if pointwise(geo) {
        // SAFETY: x is (batch * positions, in), w (in, out), y (batch * positions, out).
        unsafe {
            product(
                batch * outs,
                cout,
                cin,
                y,
                rows_of(x, cin),
                rows_of(w, cout),
                false,
            )
        };
        return;
    }
    by_chunks(batch, geo, cin, |first, n, windows| {
        gather_windows(x, geo, cin, first, windows);
        let y = &mut y[first * outs * cout..][..n * outs * cout];
        // SAFETY: windows is (n * outs, k), w (k, out), y's chunk (n * outs, out).
        unsafe {
            product(
                n * outs,
                cout,
                k,
                y,
                rows_of(windows, k),
                rows_of(w, cout),
                false,
            )
        };
    });
}

/// dx[b, input_at(o, t), :] += dy[b, o, :] @ w[t]^T.
pub fn conv2d_backward_data(
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    geo: &Conv2dGeometry,
    cin: usize,
    cout: usize,
) {
    let (outs, ins, taps) = (geo.out_positions(), geo.in_positions(), geo.taps());
    let batch = dy.len() / (outs * cout);
    let k = taps * cin;
    if pointwise(geo) {
        // SAFETY: dy is (batch * positions, out), w^T (out, in), dx (batch * positions, in).
        unsafe {
            product(
                batch * outs,
                cin,
                cout,
                dx,
                rows_of(dy, cout),
                transposed(w, cout),
                false,
            )
        };
        return;
    }
    dx.fill(0.0);
    TRANSPOSED.with(|wt| {
        let mut wt = wt.borrow_mut();
        if wt.len() < k * cout {
            wt.resize(k * cout, 0.0);
        }
        let wt = &mut wt[..k * cout];
        super::transpose(w, cout, wt);
        let wt = &*wt;
        by_chunks(batch, geo, cin, |first, n, windows| {
            let dy = &dy[first * outs * cout..][..n * outs * cout];
            // SAFETY: dy's chunk is (n * outs, out), w^T (out, k), windows (n * outs, k).
            unsafe {
                product(
                    n * outs,
                    k,
                    cout,
                    windows,
                    rows_of(dy, cout),
                    rows_of(wt, k),
                    false,
                )
            };
            let windows = &*windows;
            dx[first * ins * cin..][..n * ins * cin]
                .par_chunks_mut(ins * cin)
                .enumerate()
                .for_each(|(b, dx)| {
                    for o in 0..outs {
                        let row = &windows[(b * outs + o) * k..][..k];
                        for (t, src) in row.chunks_exact(cin).enumerate() {
                            if let Some(p) = geo.input_at(o, t) {
                                for (d, s) in dx[p * cin..][..cin].iter_mut().zip(src) {
                                    *d += s;
                                }
                            }
                        }
                    }
                });
        });
    });
}

/// dw[t] = sum over b, o of x[b, input_at(o, t), :]^T @ dy[b, o, :], chunk by chunk in order.
pub fn conv2d_backward_filter(
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    geo: &Conv2dGeometry,
    cin: usize,
    cout: usize,
) {
    let (outs, ins) = (geo.out_positions(), geo.in_positions());
    let batch = x.len() / (ins * cin);
    let k = geo.taps() * cin;
    if pointwise(geo) {
        // SAFETY: x^T is (in, batch * positions), dy (batch * positions, out), dw (in, out).
        unsafe {
            product(
                cin,
                cout,
                batch * outs,
                dw,
                transposed(x, cin),
                rows_of(dy, cout),
                false,
            )
        };
        return;
    }
    by_chunks(batch, geo, cin, |first, n, windows| {
        gather_windows(x, geo, cin, first, windows);
        let dy = &dy[first * outs * cout..][..n * outs * cout];
        // SAFETY: windows^T is (k, n * outs), dy's chunk (n * outs, out), dw (k, out).
        unsafe {
            product(
                k,
                cout,
                n * outs,
                dw,
                transposed(windows, k),
                rows_of(dy, cout),
                first > 0,
            )
        };
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgtrain_graph::Padding;

    /// The definition, one multiply-add at a time.
    fn direct(x: &[f32], w: &[f32], geo: &Conv2dGeometry, cin: usize, cout: usize) -> Vec<f32> {
        let batch = x.len() / (geo.in_positions() * cin);
        let mut y = vec![0.0; batch * geo.out_positions() * cout];
        for b in 0..batch {
            for o in 0..geo.out_positions() {
                for t in 0..geo.taps() {
                    let Some(p) = geo.input_at(o, t) else {
                        continue;
                    };
                    for ci in 0..cin {
                        for co in 0..cout {
                            y[(b * geo.out_positions() + o) * cout + co] += x
                                [(b * geo.in_positions() + p) * cin + ci]
                                * w[(t * cin + ci) * cout + co];
                        }
                    }
                }
            }
        }
        y
    }

    #[test]
    fn matches_the_definition() {
        for (size, k, s, d, pad) in [
            ([7, 6], [3, 3], [1, 1], [1, 1], Padding::Same),
            ([7, 6], [3, 2], [2, 1], [1, 2], Padding::Valid),
            ([5, 5], [1, 1], [2, 2], [1, 1], Padding::Same),
            ([4, 3], [1, 1], [1, 1], [1, 1], Padding::Valid),
        ] {
            let geo = Conv2dGeometry::new(size, k, s, d, pad).unwrap();
            let (cin, cout, batch) = (3, 4, 2);
            let x: Vec<f32> = (0..batch * geo.in_positions() * cin)
                .map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0)
                .collect();
            let w: Vec<f32> = (0..geo.taps() * cin * cout)
                .map(|i| ((i * 5 % 9) as f32 - 4.0) / 3.0)
                .collect();
            let mut y = vec![f32::NAN; batch * geo.out_positions() * cout];
            conv2d(&x, &w, &mut y, &geo, cin, cout);
            let want = direct(&x, &w, &geo, cin, cout);
            for (a, b) in y.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "{geo:?}: {a} vs {b}");
            }
        }
    }
}
