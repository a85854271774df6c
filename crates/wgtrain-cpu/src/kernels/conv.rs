//! 1-D convolutions as one GEMM per sample and kernel tap, with the strided rows of the input
//! read in place (no im2col copy), through the `gemm` crate.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;
use wgtrain_graph::Conv1dGeometry;

/// A row-major operand: a pointer and its row and column strides, in elements.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

/// `dst (m x n, row stride dst_rs) += a (m x k) @ b (k x n)`.
///
/// SAFETY: the caller guarantees that the views address memory inside their slices and that
/// `dst` does not overlap `a` or `b`.
unsafe fn gemm_acc(m: usize, n: usize, k: usize, dst: *mut f32, dst_rs: isize, a: View, b: View) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs,
        true,
        a.ptr,
        a.cs,
        a.rs,
        b.ptr,
        b.cs,
        b.rs,
        1.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    );
}

/// y[b, t, :] = sum_j x[b, t*s + j*d - pad, :] @ w[j].
pub fn conv1d(x: &[f32], w: &[f32], y: &mut [f32], geo: &Conv1dGeometry, cin: usize, cout: usize) {
    let (l, lo_len) = (geo.in_len, geo.out_len);
    y.fill(0.0);
    y.par_chunks_mut(lo_len * cout)
        .zip(x.par_chunks(l * cin))
        .for_each(|(y, x)| {
            for j in 0..geo.kernel {
                let (lo, hi) = geo.valid_outputs(j);
                let Some(p0) = geo.input_at(lo, j).filter(|_| hi > lo) else {
                    continue;
                };
                // SAFETY: rows lo..hi of y and their input rows lie inside the slices.
                unsafe {
                    gemm_acc(
                        hi - lo,
                        cout,
                        cin,
                        y.as_mut_ptr().add(lo * cout),
                        cout as isize,
                        View {
                            ptr: x.as_ptr().add(p0 * cin),
                            rs: (geo.stride * cin) as isize,
                            cs: 1,
                        },
                        View {
                            ptr: w.as_ptr().add(j * cin * cout),
                            rs: cout as isize,
                            cs: 1,
                        },
                    );
                }
            }
        });
}

/// dx[b, t*s + j*d - pad, :] += dy[b, t, :] @ w[j]^T.
pub fn conv1d_backward_data(
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
) {
    let (l, lo_len) = (geo.in_len, geo.out_len);
    dx.fill(0.0);
    dx.par_chunks_mut(l * cin)
        .zip(dy.par_chunks(lo_len * cout))
        .for_each(|(dx, dy)| {
            for j in 0..geo.kernel {
                let (lo, hi) = geo.valid_outputs(j);
                let Some(p0) = geo.input_at(lo, j).filter(|_| hi > lo) else {
                    continue;
                };
                // SAFETY: as in `conv1d`; the kernel is read transposed through its strides.
                unsafe {
                    gemm_acc(
                        hi - lo,
                        cin,
                        cout,
                        dx.as_mut_ptr().add(p0 * cin),
                        (geo.stride * cin) as isize,
                        View {
                            ptr: dy.as_ptr().add(lo * cout),
                            rs: cout as isize,
                            cs: 1,
                        },
                        View {
                            ptr: w.as_ptr().add(j * cin * cout),
                            rs: 1,
                            cs: cout as isize,
                        },
                    );
                }
            }
        });
}

/// dw[j] = sum_b x_j[b]^T @ dy[b], summed over the batch in order (the same bits every run).
pub fn conv1d_backward_filter(
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
) {
    let (l, lo_len) = (geo.in_len, geo.out_len);
    let batch = x.len() / (l * cin);
    dw.fill(0.0);
    dw.par_chunks_mut(cin * cout)
        .enumerate()
        .for_each(|(j, dw)| {
            let (lo, hi) = geo.valid_outputs(j);
            let Some(p0) = geo.input_at(lo, j).filter(|_| hi > lo) else {
                return;
            };
            for b in 0..batch {
                // SAFETY: the input rows are read transposed (columns of x_j^T are its rows).
                unsafe {
                    gemm_acc(
                        cin,
                        cout,
                        hi - lo,
                        dw.as_mut_ptr(),
                        cout as isize,
                        View {
                            ptr: x.as_ptr().add(b * l * cin + p0 * cin),
                            rs: 1,
                            cs: (geo.stride * cin) as isize,
                        },
                        View {
                            ptr: dy.as_ptr().add(b * lo_len * cout + lo * cout),
                            rs: cout as isize,
                            cs: 1,
                        },
                    );
                }
            }
        });
}
