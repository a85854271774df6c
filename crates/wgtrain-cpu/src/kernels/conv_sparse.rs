//! Convolution gradients that visit only the nonzero entries of the output gradient.
//!
//! After a max pooling (GlobalMaxPooling1D, MaxPooling1D) the gradient reaching a convolution's
//! output is nonzero at one position in each pooling window, so most of the two backward GEMMs
//! multiply zeros. Where few enough entries are nonzero, each one adds its kernel column into
//! the input gradient and its input window into the kernel gradient instead. Every sum runs in a
//! fixed order, independent of the thread count: the same bits on every run.

use rayon::prelude::*;
use std::cell::RefCell;
use wgtrain_graph::Conv1dGeometry;

/// The sparse paths run when at most one entry in this many is nonzero; above that the GEMMs,
/// which run several times faster per multiply, win.
const SPARSE_RATIO: usize = 16;

/// Entries are scanned in groups of this many; a group of zeros is skipped with one test.
const GROUP: usize = 16;

/// Whether `v` is neither 0.0 nor -0.0 (as bits, so that the scans below vectorize).
fn nonzero_bits(v: f32) -> u32 {
    v.to_bits() << 1
}

/// Whether `dy` looks sparse enough for these paths, judged by its first sample (`sample`
/// entries): where the gradient comes through a max pooling every sample looks alike, and a
/// wrong guess only costs speed, never changes a result.
pub fn is_sparse(dy: &[f32], sample: usize) -> bool {
    let first = &dy[..sample.min(dy.len())];
    let nonzero: usize = first.iter().map(|&v| (nonzero_bits(v) != 0) as usize).sum();
    nonzero * SPARSE_RATIO <= first.len()
}

/// Calls `f(index, value)` for the nonzero entries of `row`, in order.
fn for_nonzero(row: &[f32], mut f: impl FnMut(usize, f32)) {
    for (c, group) in row.chunks(GROUP).enumerate() {
        if group.iter().fold(0, |acc, &v| acc | nonzero_bits(v)) == 0 {
            continue;
        }
        for (i, &v) in group.iter().enumerate() {
            if nonzero_bits(v) != 0 {
                f(c * GROUP + i, v);
            }
        }
    }
}

thread_local! {
    /// The kernel as (out, taps, in) for the input gradient, or the kernel gradient in that
    /// layout before it is written out as (taps, in, out); it grows once.
    static BY_OUTPUT: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The first input row of output `t` when its taps are adjacent rows all inside the input: then
/// its window is `taps * in` contiguous values.
fn window(geo: &Conv1dGeometry, t: usize) -> Option<usize> {
    let first = geo.input_at(t, 0)?;
    (geo.dilation == 1 && first + geo.kernel <= geo.in_len).then_some(first)
}

fn axpy(dst: &mut [f32], g: f32, src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += g * s;
    }
}

/// dx[b, t*s + j*d - pad, :] += dy[b, t, co] * w[j, :, co] over the nonzero dy[b, t, co].
pub fn backward_data(
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
) {
    let (l, lo_len, k) = (geo.in_len, geo.out_len, geo.kernel);
    BY_OUTPUT.with(|wt| {
        let mut wt = wt.borrow_mut();
        wt.resize(cout * k * cin, 0.0);
        for j in 0..k {
            for ci in 0..cin {
                let row = &w[(j * cin + ci) * cout..][..cout];
                for (co, &v) in row.iter().enumerate() {
                    wt[(co * k + j) * cin + ci] = v;
                }
            }
        }
        let wt: &[f32] = &wt;
        dx.fill(0.0);
        dx.par_chunks_mut(l * cin)
            .zip(dy.par_chunks(lo_len * cout))
            .for_each(|(dx, dy)| {
                for (t, row) in dy.chunks(cout).enumerate() {
                    for_nonzero(row, |co, g| {
                        let column = &wt[co * k * cin..][..k * cin];
                        if let Some(i) = window(geo, t) {
                            return axpy(&mut dx[i * cin..][..k * cin], g, column);
                        }
                        for (j, tap) in column.chunks(cin).enumerate() {
                            if let Some(i) = geo.input_at(t, j) {
                                axpy(&mut dx[i * cin..][..cin], g, tap);
                            }
                        }
                    });
                }
            });
    });
}

/// dw[j, :, co] = sum over the nonzero dy[b, t, co] of dy[b, t, co] * x[b, t*s + j*d - pad, :].
pub fn backward_filter(
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
) {
    let (l, lo_len, k) = (geo.in_len, geo.out_len, geo.kernel);
    let batch = x.len() / (l * cin);
    BY_OUTPUT.with(|dwt| {
        let mut dwt = dwt.borrow_mut();
        dwt.resize(cout * k * cin, 0.0);
        dwt.fill(0.0);
        // Each thread owns a range of output channels and sums over the batch in order.
        let per = cout.div_ceil(rayon::current_num_threads().max(1));
        dwt.par_chunks_mut(per * k * cin)
            .enumerate()
            .for_each(|(c, dwt)| {
                let co0 = c * per;
                let channels = dwt.len() / (k * cin);
                for b in 0..batch {
                    let xb = &x[b * l * cin..][..l * cin];
                    for t in 0..lo_len {
                        let row = &dy[(b * lo_len + t) * cout + co0..][..channels];
                        for_nonzero(row, |cc, g| {
                            let column = &mut dwt[cc * k * cin..][..k * cin];
                            if let Some(i) = window(geo, t) {
                                return axpy(column, g, &xb[i * cin..][..k * cin]);
                            }
                            for (j, tap) in column.chunks_mut(cin).enumerate() {
                                if let Some(i) = geo.input_at(t, j) {
                                    axpy(tap, g, &xb[i * cin..][..cin]);
                                }
                            }
                        });
                    }
                }
            });
        for (r, row) in dw.chunks_mut(cout).enumerate() {
            let (j, ci) = (r / cin, r % cin);
            for (co, v) in row.iter_mut().enumerate() {
                *v = dwt[(co * k + j) * cin + ci];
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::conv::{backward_data_gemm, backward_filter_gemm};
    use super::super::test_values::values;
    use super::*;
    use wgtrain_graph::Padding;

    fn close(got: &[f32], want: &[f32], what: &str) {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{what}: element {i}: {g} vs {w}"
            );
        }
    }

    #[test]
    fn the_sparse_gradients_equal_the_gemm_gradients() {
        let geometries = [
            (40, 3, 1, 1, Padding::Valid),
            (40, 3, 1, 2, Padding::Same),
            (41, 4, 1, 1, Padding::Same),
            (40, 3, 1, 2, Padding::Causal),
            (45, 3, 2, 1, Padding::Valid),
        ];
        let (batch, cin, cout) = (3, 5, 7);
        for (len, k, s, d, pad) in geometries {
            let geo = Conv1dGeometry::new(len, k, s, d, pad).unwrap();
            let x = values(batch * len * cin, 1);
            let w = values(k * cin * cout, 2);
            // One nonzero per (sample, channel), as a max pooling over the steps leaves it.
            let mut dy = vec![0.0; batch * geo.out_len * cout];
            let picks = values(batch * cout, 3);
            for b in 0..batch {
                for co in 0..cout {
                    let v = picks[b * cout + co];
                    let t = ((v.abs() * 1e4) as usize) % geo.out_len;
                    dy[(b * geo.out_len + t) * cout + co] = v;
                }
            }
            assert!(is_sparse(&dy, geo.out_len * cout), "{geo:?}");
            let what = format!("{geo:?}");
            let (mut dx, mut dx_gemm) = (vec![1.0; x.len()], vec![2.0; x.len()]);
            backward_data(&dy, &w, &mut dx, &geo, cin, cout);
            backward_data_gemm(&dy, &w, &mut dx_gemm, &geo, cin, cout);
            close(&dx, &dx_gemm, &format!("input gradient {what}"));
            let (mut dw, mut dw_gemm) = (vec![1.0; w.len()], vec![2.0; w.len()]);
            backward_filter(&x, &dy, &mut dw, &geo, cin, cout);
            backward_filter_gemm(&x, &dy, &mut dw_gemm, &geo, cin, cout);
            close(&dw, &dw_gemm, &format!("kernel gradient {what}"));
            assert!(
                dw.iter().any(|&v| v != 0.0),
                "{what}: a vacuous kernel gradient"
            );
        }
    }

    #[test]
    fn a_dense_gradient_is_not_taken_for_sparse() {
        let dy = values(1000, 4);
        assert!(!is_sparse(&dy, 100));
        let mut mostly_zero = vec![0.0; 1000];
        mostly_zero[7] = 1.0;
        assert!(is_sparse(&mostly_zero, 100));
    }
}
