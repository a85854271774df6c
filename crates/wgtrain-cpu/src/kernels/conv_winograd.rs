//! Three-tap, stride-1 convolutions (any dilation and padding) by Winograd's minimal filtering
//! F(4, 3): four outputs of a tap-spaced run from six inputs with six products instead of
//! twelve. Each sample's tiles are transformed into six small matrices, multiplied by the six
//! transformed kernel matrices (GEMMs that stay in cache), and transformed back, so the
//! convolution does half the multiply-adds of the direct GEMMs. A tile is four outputs
//! `t0, t0 + d, t0 + 2d, t0 + 3d` (d the dilation) and reads inputs `t0 - pad + q d`, q < 6.
//!
//! The input gradient is the same correlation of `dy` with the kernel reversed along its taps
//! and transposed; the kernel gradient sums, over tiles, products of the transformed input tile
//! and the output gradient transformed by `A` (the output transform, transposed).

use super::conv::{gemm_into, View};
use super::gemm_avx512;
use rayon::prelude::*;
use std::cell::RefCell;
use wgtrain_graph::Conv1dGeometry;

/// Outputs per tile.
const M: usize = 4;
/// Inputs per tile, and products per tile and channel pair.
const ALPHA: usize = M + 2;

// The transforms of interpolation points 0, 1, -1, 1/2, -2 and infinity: of the usual choices
// for F(4, 3), the one with the smallest worst-case rounding error in float32.

/// Input transform: `v = BT x` for a tile's six inputs.
const BT: [[f32; ALPHA]; ALPHA] = [
    [1.0, -1.5, -2.0, 1.5, 1.0, 0.0],
    [0.0, -1.0, 0.5, 2.5, 1.0, 0.0],
    [0.0, 1.0, -2.5, 0.5, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 0.5, -1.0, -0.5, 1.0, 0.0],
    [0.0, 1.0, -1.5, -2.0, 1.5, 1.0],
];
/// Kernel transform: `u = G w` for a tap triple.
const G: [[f32; 3]; ALPHA] = [
    [1.0, 0.0, 0.0],
    [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
    [-1.0 / 3.0, 1.0 / 3.0, -1.0 / 3.0],
    [-16.0 / 15.0, -8.0 / 15.0, -4.0 / 15.0],
    [1.0 / 15.0, -2.0 / 15.0, 4.0 / 15.0],
    [0.0, 0.0, 1.0],
];
/// Output transform: `y = AT m` for a tile's six products.
const AT: [[f32; ALPHA]; M] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 0.5, -2.0, 0.0],
    [0.0, 1.0, 1.0, 0.25, 4.0, 0.0],
    [0.0, 1.0, -1.0, 0.125, -8.0, 1.0],
];

/// Whether the convolution is one this module computes.
pub fn applies(geo: &Conv1dGeometry) -> bool {
    geo.kernel == 3 && geo.stride == 1
}

/// The first output of every tile: tiles run along each of the `d` interleaved phases.
fn tile_starts(out_len: usize, d: usize) -> impl Iterator<Item = usize> {
    (0..d.min(out_len)).flat_map(move |phase| {
        let outputs = (out_len - phase).div_ceil(d);
        (0..outputs.div_ceil(M)).map(move |u| phase + u * M * d)
    })
}

fn grown(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

/// `out[k][i] = sum_q matrix[k][q] * rows[q][i]` for every column `i`: a transform of one tile,
/// unrolled over the constant matrix.
#[inline(always)]
fn apply<const K: usize, const Q: usize>(
    matrix: &[[f32; Q]; K],
    rows: [&[f32]; Q],
    out: [&mut [f32]; K],
) {
    let c = out[0].len();
    let rows: [&[f32]; Q] = rows.map(|r| &r[..c]);
    let mut out = out.map(|o| &mut o[..c]);
    for i in 0..c {
        let x: [f32; Q] = std::array::from_fn(|q| rows[q][i]);
        for (o, coefficients) in out.iter_mut().zip(matrix) {
            o[i] = coefficients.iter().zip(&x).map(|(a, x)| a * x).sum();
        }
    }
}

/// `v[k][u][:] = (BT x_u)[k]` for every tile `u`, where `x_u` is the six rows
/// `x[t0_u - pad + q d]` (zeros outside `x`, which is `len` rows of `c` values).
#[allow(clippy::too_many_arguments)]
fn transform_input(
    x: &[f32],
    len: usize,
    c: usize,
    d: usize,
    pad: usize,
    starts: &[usize],
    zeros: &[f32],
    v: &mut [f32],
) {
    let tiles = starts.len();
    for (u, &t0) in starts.iter().enumerate() {
        let row = |q: usize| match (t0 + q * d).checked_sub(pad).filter(|&p| p < len) {
            Some(p) => &x[p * c..(p + 1) * c],
            None => &zeros[..c],
        };
        apply(&BT, std::array::from_fn(row), tile_rows(v, tiles, u, c));
    }
}

/// Row `u` of each of the six `tiles x c` blocks of `m`.
fn tile_rows(m: &mut [f32], tiles: usize, u: usize, c: usize) -> [&mut [f32]; ALPHA] {
    let mut blocks = m.chunks_exact_mut(tiles * c);
    std::array::from_fn(|_| {
        let block = blocks.next().expect("six blocks");
        &mut block[u * c..(u + 1) * c]
    })
}

/// `y[t0_u + i d] = (AT m_u)[i]` for the outputs of every tile inside `y` (`c` values a row),
/// where `m_u` is the tile's six product rows. The rows of a tile that fall past the end of `y`
/// go to `spill`.
fn transform_output(
    m: &mut [f32],
    c: usize,
    d: usize,
    starts: &[usize],
    spill: &mut [f32],
    y: &mut [f32],
) {
    let (tiles, y_len) = (starts.len(), y.len() / c);
    for (u, &t0) in starts.iter().enumerate() {
        let products = tile_rows(m, tiles, u, c).map(|r| &*r);
        let mut spill = spill.chunks_exact_mut(c);
        let mut rest = &mut y[t0 * c..];
        let out: [&mut [f32]; M] = std::array::from_fn(|i| {
            if t0 + i * d < y_len {
                let skip = if i == 0 { 0 } else { (d - 1) * c };
                let taken = std::mem::take(&mut rest);
                let (row, tail) = taken[skip..].split_at_mut(c);
                rest = tail;
                row
            } else {
                spill.next().expect("four spill rows")
            }
        });
        apply(&AT, products, out);
    }
}

/// The output transform transposed, `A = AT^T`.
const A: [[f32; M]; ALPHA] = {
    let mut a = [[0.0; M]; ALPHA];
    let mut k = 0;
    while k < ALPHA {
        let mut i = 0;
        while i < M {
            a[k][i] = AT[i][k];
            i += 1;
        }
        k += 1;
    }
    a
};

/// `a[k][u][:] = (A g_u)[k]` for every tile `u`, where `g_u` is the four rows `g[t0_u + i d]`
/// (zeros past the end of `g`, `c` values a row).
fn transform_gradient(
    g: &[f32],
    c: usize,
    d: usize,
    starts: &[usize],
    zeros: &[f32],
    a: &mut [f32],
) {
    let (tiles, len) = (starts.len(), g.len() / c);
    for (u, &t0) in starts.iter().enumerate() {
        let row = |i: usize| {
            let t = t0 + i * d;
            if t < len {
                &g[t * c..(t + 1) * c]
            } else {
                &zeros[..c]
            }
        };
        apply(&A, std::array::from_fn(row), tile_rows(a, tiles, u, c));
    }
}

/// `u[k] = sum_j G[k][j] * w_j` for kernels given as `tap(j)`: `rows x cols` matrices.
fn transform_kernel(
    tap: impl Fn(usize, usize, usize) -> f32,
    rows: usize,
    cols: usize,
    u: &mut [f32],
) {
    for k in 0..ALPHA {
        let uk = &mut u[k * rows * cols..(k + 1) * rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                uk[r * cols + c] = (0..3).map(|j| G[k][j] * tap(j, r, c)).sum();
            }
        }
    }
}

/// `out[k] = lhs[k] @ rhs[k]` (`+=` when `accumulate`) for the six blocks, `lhs[k]` being
/// `rows x inner` with the given strides and `rhs[k]` `inner x cols` row-major.
#[allow(clippy::too_many_arguments)]
fn products(
    out: &mut [f32],
    lhs: &[f32],
    lhs_strides: (isize, isize),
    rhs: &[f32],
    rows: usize,
    inner: usize,
    cols: usize,
    accumulate: bool,
) {
    let avx512 = gemm_avx512::available();
    for k in 0..ALPHA {
        let (lhs_k, rhs_k) = (&lhs[k * rows * inner..], &rhs[k * inner * cols..]);
        let out_k = out[k * rows * cols..].as_mut_ptr();
        #[cfg(target_arch = "x86_64")]
        if avx512 {
            let a = gemm_avx512::Operand {
                ptr: lhs_k.as_ptr(),
                rs: lhs_strides.0 as usize,
                cs: lhs_strides.1 as usize,
            };
            // SAFETY: AVX-512F is present; the blocks are as below.
            unsafe {
                gemm_avx512::product(
                    rows,
                    cols,
                    inner,
                    a,
                    rhs_k.as_ptr(),
                    cols,
                    out_k,
                    cols,
                    accumulate,
                )
            };
            continue;
        }
        // SAFETY: block k of each operand lies inside its slice (`rows * inner`,
        // `inner * cols` and `rows * cols` values a block), and `out` overlaps neither.
        unsafe {
            gemm_into(
                rows,
                cols,
                inner,
                out_k,
                cols as isize,
                View {
                    ptr: lhs_k.as_ptr(),
                    rs: lhs_strides.0,
                    cs: lhs_strides.1,
                },
                View {
                    ptr: rhs_k.as_ptr(),
                    rs: cols as isize,
                    cs: 1,
                },
                accumulate,
            );
        }
    }
}

thread_local! {
    /// Per-thread scratch: transformed tiles, their products and a row of zeros; the caller's
    /// transformed kernel and tile starts; the kernel gradient's per-chunk sums. Each grows once.
    static TILES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static PRODUCTS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static ZEROS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static KERNEL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static STARTS: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    static CHUNK_SUMS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f(tiles, products, zeros)` with this thread's scratch grown to the given lengths.
/// `zeros` is refilled with zeros on every call; a caller may write into it once it no longer
/// needs the zeros.
fn with_scratch<R>(
    tiles: usize,
    products: usize,
    zeros: usize,
    f: impl FnOnce(&mut [f32], &mut [f32], &mut [f32]) -> R,
) -> R {
    TILES.with(|t| {
        PRODUCTS.with(|p| {
            ZEROS.with(|z| {
                let (mut t, mut p, mut z) = (t.borrow_mut(), p.borrow_mut(), z.borrow_mut());
                let z = grown(&mut z, zeros);
                z.fill(0.0);
                f(grown(&mut t, tiles), grown(&mut p, products), z)
            })
        })
    })
}

/// The tile starts of outputs `0..out_len`, in this thread's buffer.
fn with_starts<R>(out_len: usize, d: usize, f: impl FnOnce(&[usize]) -> R) -> R {
    STARTS.with(|s| {
        let mut s = s.borrow_mut();
        s.clear();
        s.extend(tile_starts(out_len, d));
        f(&s)
    })
}

/// `y[b, t, :] = sum_j x[b, t + j d - pad, :] @ w_j` over every sample in parallel, the kernel
/// given as `tap(j, r, c)` (`c_in x c_out` a tap).
#[allow(clippy::too_many_arguments)]
fn correlate(
    x: &[f32],
    x_len: usize,
    c_in: usize,
    tap: impl Fn(usize, usize, usize) -> f32,
    y: &mut [f32],
    y_len: usize,
    c_out: usize,
    d: usize,
    pad: usize,
) {
    KERNEL.with(|kernel| {
        let mut kernel = kernel.borrow_mut();
        let kernel = grown(&mut kernel, ALPHA * c_in * c_out);
        transform_kernel(tap, c_in, c_out, kernel);
        let kernel: &[f32] = kernel;
        with_starts(y_len, d, |starts| {
            let tiles = starts.len();
            y.par_chunks_mut(y_len * c_out)
                .zip(x.par_chunks(x_len * c_in))
                .for_each(|(y, x)| {
                    let (v_len, m_len) = (ALPHA * tiles * c_in, ALPHA * tiles * c_out);
                    let zeros_len = c_in.max(M * c_out);
                    with_scratch(v_len, m_len, zeros_len, |v, m, zeros| {
                        transform_input(x, x_len, c_in, d, pad, starts, &zeros[..c_in], v);
                        products(m, v, (c_in as isize, 1), kernel, tiles, c_in, c_out, false);
                        transform_output(m, c_out, d, starts, zeros, y);
                    })
                });
        })
    });
}

/// y[b, t, :] = sum_j x[b, t + j d - pad, :] @ w[j].
pub fn conv1d(x: &[f32], w: &[f32], y: &mut [f32], geo: &Conv1dGeometry, cin: usize, cout: usize) {
    let tap = |j: usize, r: usize, c: usize| w[(j * cin + r) * cout + c];
    correlate(
        x,
        geo.in_len,
        cin,
        tap,
        y,
        geo.out_len,
        cout,
        geo.dilation,
        geo.pad_left,
    );
}

/// dx[b, p, :] = sum_j dy[b, p + pad - j d, :] @ w[j]^T: the same correlation over `dy` with
/// the taps reversed (tap j' = 2 - j) and the padding `2d - pad`.
pub fn conv1d_backward_data(
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
) {
    let d = geo.dilation;
    let tap = |j: usize, r: usize, c: usize| w[((2 - j) * cin + c) * cout + r];
    correlate(
        dy,
        geo.out_len,
        cout,
        tap,
        dx,
        geo.in_len,
        cin,
        d,
        2 * d - geo.pad_left,
    );
}

/// dw[j] = sum_b sum_t x[b, t + j d - pad]^T dy[b, t] as `sum_k G[k][j] F[k]`, where
/// `F[k] = sum over tiles of (BT x)_k^T (A dy)_k`. The batch is cut into one contiguous chunk
/// per thread; each chunk's sums are added in chunk order.
pub fn conv1d_backward_filter(
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    geo: &Conv1dGeometry,
    cin: usize,
    cout: usize,
) {
    let (l, lo_len, d, pad) = (geo.in_len, geo.out_len, geo.dilation, geo.pad_left);
    let batch = x.len() / (l * cin);
    let per_chunk = batch.div_ceil(rayon::current_num_threads().max(1));
    let f_len = ALPHA * cin * cout;
    CHUNK_SUMS.with(|sums| {
        let mut sums = sums.borrow_mut();
        let sums = grown(&mut sums, batch.div_ceil(per_chunk) * f_len);
        with_starts(lo_len, d, |starts| {
            let tiles = starts.len();
            sums.par_chunks_mut(f_len)
                .zip(x.par_chunks(per_chunk * l * cin))
                .zip(dy.par_chunks(per_chunk * lo_len * cout))
                .for_each(|((f, x), dy)| {
                    f.fill(0.0);
                    let (v_len, a_len) = (ALPHA * tiles * cin, ALPHA * tiles * cout);
                    with_scratch(v_len, a_len, cin.max(cout), |v, a, zeros| {
                        for (x, dy) in x.chunks(l * cin).zip(dy.chunks(lo_len * cout)) {
                            transform_input(x, l, cin, d, pad, starts, zeros, v);
                            transform_gradient(dy, cout, d, starts, zeros, a);
                            // v[k] read transposed: (tiles x cin) as (cin x tiles).
                            products(f, v, (1, cin as isize), a, cin, tiles, cout, true);
                        }
                    })
                });
        });
        dw.par_chunks_mut(cout).enumerate().for_each(|(row, out)| {
            let (j, r) = (row / cin, row % cin);
            out.fill(0.0);
            for f in sums.chunks(f_len) {
                for (k, g) in G.iter().enumerate() {
                    if g[j] != 0.0 {
                        let fk = &f[(k * cin + r) * cout..][..cout];
                        for (o, &v) in out.iter_mut().zip(fk) {
                            *o += g[j] * v;
                        }
                    }
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::super::conv::{backward_data_gemm, backward_filter_gemm, conv1d_gemm};
    use super::super::test_values::values;
    use super::*;
    use wgtrain_graph::Padding;

    /// The largest difference relative to the largest magnitude of `want`.
    fn relative_error(got: &[f32], want: &[f32]) -> f32 {
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
        let worst = got
            .iter()
            .zip(want)
            .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
        worst / scale
    }

    #[test]
    fn winograd_convolutions_match_the_direct_gemms() {
        let geometries = [
            (300, 1, Padding::Same),
            (300, 2, Padding::Same),
            (300, 4, Padding::Same),
            (37, 3, Padding::Same),
            (41, 1, Padding::Valid),
            (23, 2, Padding::Causal),
            (9, 5, Padding::Same),
            (5, 1, Padding::Valid),
        ];
        let (batch, cin, cout) = (3, 20, 24);
        for (l, d, padding) in geometries {
            let geo = Conv1dGeometry::new(l, 3, 1, d, padding).unwrap();
            assert!(applies(&geo));
            let x = values(batch * l * cin, 1);
            let w = values(3 * cin * cout, 2);
            let dy = values(batch * geo.out_len * cout, 3);
            let what = format!("length {l}, dilation {d}, {padding:?}");

            let (mut y, mut y_ref) = (vec![0.0; dy.len()], vec![0.0; dy.len()]);
            conv1d(&x, &w, &mut y, &geo, cin, cout);
            conv1d_gemm(&x, &w, &mut y_ref, &geo, cin, cout);
            let e = relative_error(&y, &y_ref);
            assert!(e < 2e-6, "forward, {what}: relative error {e:e}");

            let (mut dx, mut dx_ref) = (vec![1.0; x.len()], vec![0.0; x.len()]);
            conv1d_backward_data(&dy, &w, &mut dx, &geo, cin, cout);
            backward_data_gemm(&dy, &w, &mut dx_ref, &geo, cin, cout);
            let e = relative_error(&dx, &dx_ref);
            assert!(e < 2e-6, "input gradient, {what}: relative error {e:e}");

            let (mut dw, mut dw_ref) = (vec![1.0; w.len()], vec![0.0; w.len()]);
            conv1d_backward_filter(&x, &dy, &mut dw, &geo, cin, cout);
            backward_filter_gemm(&x, &dy, &mut dw_ref, &geo, cin, cout);
            let e = relative_error(&dw, &dw_ref);
            assert!(e < 2e-6, "kernel gradient, {what}: relative error {e:e}");
        }
    }
}
