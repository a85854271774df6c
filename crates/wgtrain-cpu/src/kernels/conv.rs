//! 1-D convolutions as one GEMM per sample and kernel tap, with the strided rows of the input
//! read in place (no im2col copy), through the `gemm` crate.

use super::{conv_sparse, conv_winograd};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;
use wgtrain_graph::Conv1dGeometry;

/// How the CPU computes convolutions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// `Winograd`, except for convolutions whose outputs a maximum or a comparison reads
    /// (`conv_choice.rs`), which take `Gemm`.
    #[default]
    Auto,
    /// A GEMM per sample and tap (one per sample over all taps where they are adjacent):
    /// rounding close to other frameworks' direct convolutions.
    Gemm,
    /// Three-tap, stride-1 convolutions by Winograd's F(4, 3) (`conv_winograd.rs`), the others
    /// as `Gemm`.
    Winograd,
}

/// A row-major operand: a pointer and its row and column strides, in elements.
#[derive(Clone, Copy)]
pub(super) struct View {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

/// `dst (m x n, row stride dst_rs) += a (m x k) @ b (k x n)`.
///
/// SAFETY: the caller guarantees that the views address memory inside their slices and that
/// `dst` does not overlap `a` or `b`.
pub(super) unsafe fn gemm_acc(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: isize,
    a: View,
    b: View,
) {
    gemm_into(m, n, k, dst, dst_rs, a, b, true)
}

/// `dst = a @ b`, or `dst += a @ b` when `accumulate`.
///
/// SAFETY: as `gemm_acc`; with `accumulate` false and `k` 0, `dst` is left as it was.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_into(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: isize,
    a: View,
    b: View,
    accumulate: bool,
) {
    gemm_with(m, n, k, dst, dst_rs, a, b, accumulate, Parallelism::None)
}

/// `gemm_into` with the given parallelism.
///
/// SAFETY: as `gemm_into`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_with(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: isize,
    a: View,
    b: View,
    accumulate: bool,
    parallelism: Parallelism,
) {
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
        accumulate,
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
        parallelism,
    );
}

/// The outputs whose every tap reads inside the input, when the taps are adjacent (dilation 1):
/// their input windows are rows of `taps * in` contiguous values, so all taps of those outputs
/// are one GEMM with the kernel viewed as a (taps * in, out) matrix.
fn interior(geo: &Conv1dGeometry) -> Option<(usize, usize)> {
    if geo.dilation != 1 || geo.kernel == 1 {
        return None;
    }
    let (lo, hi) = (0..geo.kernel).fold((0, geo.out_len), |(lo, hi), j| {
        let (a, b) = geo.valid_outputs(j);
        (lo.max(a), hi.min(b))
    });
    (hi > lo).then_some((lo, hi))
}

/// The output rows tap `j` still has to cover when rows `inner` are done as one GEMM.
fn outside(geo: &Conv1dGeometry, j: usize, inner: Option<(usize, usize)>) -> [(usize, usize); 2] {
    let (lo, hi) = geo.valid_outputs(j);
    match inner {
        None => [(lo, hi), (0, 0)],
        Some((a, b)) => [(lo, a.max(lo)), (b.min(hi), hi)],
    }
}

/// y[b, t, :] = sum_j x[b, t*s + j*d - pad, :] @ w[j].
pub fn conv1d(
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
    algorithm: ConvAlgorithm,
) {
    if algorithm == ConvAlgorithm::Winograd && conv_winograd::applies(geo) {
        conv_winograd::conv1d(x, w, y, geo, cin, cout)
    } else {
        conv1d_gemm(x, w, y, geo, cin, cout)
    }
}

/// `conv1d` as GEMMs per sample and tap.
pub(crate) fn conv1d_gemm(
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
) {
    let (l, lo_len) = (geo.in_len, geo.out_len);
    let inner = interior(geo);
    y.fill(0.0);
    y.par_chunks_mut(lo_len * cout)
        .zip(x.par_chunks(l * cin))
        .for_each(|(y, x)| {
            if let Some((a, b)) = inner {
                let p0 = geo.input_at(a, 0).expect("an interior output reads inside");
                // SAFETY: interior rows read taps * in values inside the input.
                unsafe {
                    gemm_acc(
                        b - a,
                        cout,
                        geo.kernel * cin,
                        y.as_mut_ptr().add(a * cout),
                        cout as isize,
                        View {
                            ptr: x.as_ptr().add(p0 * cin),
                            rs: (geo.stride * cin) as isize,
                            cs: 1,
                        },
                        View {
                            ptr: w.as_ptr(),
                            rs: cout as isize,
                            cs: 1,
                        },
                    );
                }
            }
            for j in 0..geo.kernel {
                for (lo, hi) in outside(geo, j, inner) {
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
    algorithm: ConvAlgorithm,
) {
    if conv_sparse::is_sparse(dy, geo.out_len * cout) {
        conv_sparse::backward_data(dy, w, dx, geo, cin, cout)
    } else if algorithm == ConvAlgorithm::Winograd && conv_winograd::applies(geo) {
        conv_winograd::conv1d_backward_data(dy, w, dx, geo, cin, cout)
    } else {
        backward_data_gemm(dy, w, dx, geo, cin, cout)
    }
}

/// `conv1d_backward_data` as GEMMs over every entry of `dy`.
pub(crate) fn backward_data_gemm(
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
) {
    let (l, lo_len) = (geo.in_len, geo.out_len);
    dx.fill(0.0);
    // Stride 1 and adjacent taps: input row i gathers output rows i + pad - (k-1) ..= i + pad,
    // a run of k rows of dy, against the kernel reversed along its taps and transposed.
    let k = geo.kernel;
    let inner = (geo.stride == 1 && geo.dilation == 1 && k > 1)
        .then(|| {
            let lo = (k - 1).saturating_sub(geo.pad_left);
            let hi = (lo_len + k - 1).saturating_sub(geo.pad_left + k - 1).min(l);
            (hi > lo).then_some((lo, hi))
        })
        .flatten();
    FLIPPED.with(|flipped| {
        let mut flipped = flipped.borrow_mut();
        if inner.is_some() {
            flipped.resize(k * cout * cin, 0.0);
            for jj in 0..k {
                let j = k - 1 - jj;
                for co in 0..cout {
                    for ci in 0..cin {
                        flipped[(jj * cout + co) * cin + ci] = w[(j * cin + ci) * cout + co];
                    }
                }
            }
        }
        let flipped: &[f32] = &flipped;
        dx.par_chunks_mut(l * cin)
            .zip(dy.par_chunks(lo_len * cout))
            .for_each(|(dx, dy)| {
                if let Some((a, b)) = inner {
                    let r0 = a + geo.pad_left + 1 - k;
                    // SAFETY: rows a..b read k output rows each, all inside dy.
                    unsafe {
                        gemm_acc(
                            b - a,
                            cin,
                            k * cout,
                            dx.as_mut_ptr().add(a * cin),
                            cin as isize,
                            View {
                                ptr: dy.as_ptr().add(r0 * cout),
                                rs: cout as isize,
                                cs: 1,
                            },
                            View {
                                ptr: flipped.as_ptr(),
                                rs: cin as isize,
                                cs: 1,
                            },
                        );
                    }
                }
                for j in 0..k {
                    let (lo, hi) = geo.valid_outputs(j);
                    // Outputs t write input row t + j - pad; leave out the rows done above.
                    let ranges = match inner {
                        None => [(lo, hi), (0, 0)],
                        Some((a, b)) => {
                            let shift = |i: usize| (i + geo.pad_left).saturating_sub(j);
                            [(lo, shift(a).clamp(lo, hi)), (shift(b).clamp(lo, hi), hi)]
                        }
                    };
                    for (lo, hi) in ranges {
                        let Some(p0) = geo.input_at(lo, j).filter(|_| hi > lo) else {
                            continue;
                        };
                        // SAFETY: as in `conv1d`; the kernel is read transposed through its
                        // strides.
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
                }
            });
    });
}

thread_local! {
    /// The kernel reversed along its taps and transposed, reused across calls (it grows once).
    static FLIPPED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// dw[j] = sum_b x_j[b]^T @ dy[b], summed over the batch in order (the same bits every run).
pub fn conv1d_backward_filter(
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
    algorithm: ConvAlgorithm,
) {
    if conv_sparse::is_sparse(dy, geo.out_len * cout) {
        conv_sparse::backward_filter(x, dy, dw, geo, cin, cout)
    } else if algorithm == ConvAlgorithm::Winograd && conv_winograd::applies(geo) {
        conv_winograd::conv1d_backward_filter(x, dy, dw, geo, cin, cout)
    } else {
        backward_filter_gemm(x, dy, dw, geo, cin, cout)
    }
}

/// `conv1d_backward_filter` as GEMMs over every entry of `dy`.
pub(crate) fn backward_filter_gemm(
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
) {
    let (l, lo_len) = (geo.in_len, geo.out_len);
    let batch = x.len() / (l * cin);
    let inner = interior(geo);
    dw.fill(0.0);
    if let Some((a, b_hi)) = inner {
        let p0 = geo.input_at(a, 0).expect("an interior output reads inside");
        let k_cin = geo.kernel * cin;
        // All taps at once: dw as (taps * in, out), split by rows across threads.
        let rows_per = k_cin.div_ceil(rayon::current_num_threads().max(1));
        dw.par_chunks_mut(rows_per * cout)
            .enumerate()
            .for_each(|(c, dw)| {
                let r0 = c * rows_per;
                let rows = dw.len() / cout;
                for b in 0..batch {
                    // SAFETY: columns of the interior windows lie inside the input.
                    unsafe {
                        gemm_acc(
                            rows,
                            cout,
                            b_hi - a,
                            dw.as_mut_ptr(),
                            cout as isize,
                            View {
                                ptr: x.as_ptr().add(b * l * cin + p0 * cin + r0),
                                rs: 1,
                                cs: (geo.stride * cin) as isize,
                            },
                            View {
                                ptr: dy.as_ptr().add(b * lo_len * cout + a * cout),
                                rs: cout as isize,
                                cs: 1,
                            },
                        );
                    }
                }
            });
    }
    // Each tap's rows split in as many parts as threads, so three taps keep two threads busy.
    let rows_per = cin.div_ceil(rayon::current_num_threads().max(1));
    dw.par_chunks_mut(cin * cout)
        .enumerate()
        .flat_map(|(j, tap)| {
            tap.par_chunks_mut(rows_per * cout)
                .enumerate()
                .map(move |(part, dw)| (j, part * rows_per, dw))
        })
        .for_each(|(j, r0, dw)| {
            let rows = dw.len() / cout;
            for (lo, hi) in outside(geo, j, inner) {
                let Some(p0) = geo.input_at(lo, j).filter(|_| hi > lo) else {
                    continue;
                };
                for b in 0..batch {
                    // SAFETY: the input rows are read transposed (columns of x_j^T are its rows),
                    // from input channel r0 on.
                    unsafe {
                        gemm_acc(
                            rows,
                            cout,
                            hi - lo,
                            dw.as_mut_ptr(),
                            cout as isize,
                            View {
                                ptr: x.as_ptr().add(b * l * cin + p0 * cin + r0),
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
            }
        });
}
