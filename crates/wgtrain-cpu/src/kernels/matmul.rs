use super::gemm_avx512::{self, Operand};
use super::SendPtr;
use gemm::{gemm, Parallelism};
use rayon::prelude::*;
use std::cell::RefCell;
use wgtrain_graph::Shape;

/// Below this many multiply-adds a matmul runs on one thread.
const PAR_MIN_FLOPS: usize = 1 << 21;

/// `out = op(a) @ op(b)` over the last two axes, batched over leading axes; transposed operands
/// are read in place through strides.
pub fn matmul(a: &[f32], sa: &Shape, b: &[f32], sb: &Shape, out: &mut [f32], ta: bool, tb: bool) {
    let (ra, rb) = (sa.rank(), sb.rank());
    let (ar, ac) = (sa.0[ra - 2], sa.0[ra - 1]);
    let (br, bc) = (sb.0[rb - 2], sb.0[rb - 1]);
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let n = if tb { br } else { bc };
    // A 2-D right operand shared by every batch: fold the batch into rows.
    let (batches, m) = if rb == 2 {
        (1, sa.numel() / (ar * ac) * m)
    } else {
        (sa.numel() / (ar * ac), m)
    };
    let (a_rs, a_cs) = if ta {
        (1, ac as isize)
    } else {
        (ac as isize, 1)
    };
    let (b_rs, b_cs) = if tb {
        (1, bc as isize)
    } else {
        (bc as isize, 1)
    };
    let par = if m * n * k >= PAR_MIN_FLOPS {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    if ta && !tb && batches == 1 && deep_and_narrow(m, n, k) && gemm_avx512::available() {
        // SAFETY: AVX-512F is present and the operands hold the elements the strides address.
        unsafe { split_depth_product(a, b, out, m, n, k) };
        return;
    }
    let (a_step, b_step, o_step) = (ar * ac, if rb == 2 { 0 } else { br * bc }, m * n);
    for bi in 0..batches {
        let a = &a[bi * a_step..];
        let b = &b[bi * b_step..];
        let o = &mut out[bi * o_step..(bi + 1) * o_step];
        if k == 0 {
            o.fill(0.0);
            continue;
        }
        #[cfg(target_arch = "x86_64")]
        if !ta && tall_and_shallow(m, k) && gemm_avx512::available() {
            // SAFETY: AVX-512F is present; the operands hold the elements the strides address.
            unsafe { tall_product(a, b, o, m, n, k, tb) };
            continue;
        }
        // SAFETY: the slices hold at least the elements the strides address, and `o` does not
        // overlap `a` or `b` (the planner never gives an output the slot of a live input).
        unsafe {
            gemm(
                m,
                n,
                k,
                o.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                a_cs,
                a_rs,
                b.as_ptr(),
                b_cs,
                b_rs,
                0.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
    }
}

/// A product whose depth dwarfs its output (a weight's gradient summed over every row of a
/// batch of sequences: `a^T @ b` with `k` in the thousands and `m x n` in the thousands).
/// Many rows against a shallow right operand (the input projection of every step of a batch of
/// sequences, and its gradient).
fn tall_and_shallow(m: usize, k: usize) -> bool {
    m >= 4096 && k <= 256
}

thread_local! {
    /// A shallow right operand turned to rows, reused across calls (it grows once).
    static RIGHT_ROWS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `out = a @ op(b)` for a tall `a` (rows of `k`) with the AVX-512 product, its rows split
/// across the threads; a transposed `b` (at most 256 x n) is first copied to rows.
///
/// SAFETY: the CPU has AVX-512F; `a` holds m x k values, `b` k x n, `out` m x n.
#[cfg(target_arch = "x86_64")]
unsafe fn tall_product(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    tb: bool,
) {
    let a = Operand {
        ptr: a.as_ptr(),
        rs: k,
        cs: 1,
    };
    let mut product = |b: &[f32]| {
        gemm_avx512::product_on_threads(m, n, k, a, b.as_ptr(), n, out.as_mut_ptr(), n, false)
    };
    if !tb {
        return product(b);
    }
    RIGHT_ROWS.with(|rows| {
        let mut rows = rows.borrow_mut();
        rows.resize(k * n, 0.0);
        super::transpose(&b[..n * k], k, &mut rows);
        product(&rows)
    })
}

fn deep_and_narrow(m: usize, n: usize, k: usize) -> bool {
    k >= 2048 && m * n <= 1 << 16 && k >= 16 * m.max(n)
}

/// Rows of the depth each pass of `split_depth_product` keeps in cache.
const DEPTH_CHUNK: usize = 256;

thread_local! {
    /// Partial sums of the threads of `split_depth_product` beyond the first.
    static PARTIALS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `out (m x n) = a^T @ b` for `a` stored (k x m) and `b` (k x n): the depth split between the
/// pool's threads, each summing chunks of `DEPTH_CHUNK` rows with the AVX-512 product into its
/// own partial (the first thread's is `out`), then the partials added.
///
/// SAFETY: the CPU has AVX-512F; `a` holds k x m and `b` k x n elements, `out` m x n.
unsafe fn split_depth_product(a: &[f32], b: &[f32], out: &mut [f32], m: usize, n: usize, k: usize) {
    let threads = rayon::current_num_threads().clamp(1, k.div_ceil(DEPTH_CHUNK));
    let per = k.div_ceil(threads).next_multiple_of(DEPTH_CHUNK);
    PARTIALS.with(|cell| {
        let mut partials = cell.borrow_mut();
        if partials.len() < (threads - 1) * m * n {
            partials.resize((threads - 1) * m * n, 0.0);
        }
        let (out_ptr, partial_ptr) = (SendPtr(out.as_mut_ptr()), SendPtr(partials.as_mut_ptr()));
        (0..threads).into_par_iter().for_each(|t| {
            let c = if t == 0 {
                out_ptr.get()
            } else {
                partial_ptr.get().add((t - 1) * m * n)
            };
            let (lo, hi) = (t * per, ((t + 1) * per).min(k));
            if lo >= hi {
                std::slice::from_raw_parts_mut(c, m * n).fill(0.0);
                return;
            }
            for (pass, start) in (lo..hi).step_by(DEPTH_CHUNK).enumerate() {
                let depth = DEPTH_CHUNK.min(hi - start);
                let a_t = Operand {
                    ptr: a.as_ptr().add(start * m),
                    rs: 1,
                    cs: m,
                };
                let b_rows = b.as_ptr().add(start * n);
                gemm_avx512::product(m, n, depth, a_t, b_rows, n, c, n, pass > 0);
            }
        });
        for part in partials[..(threads - 1) * m * n].chunks_exact(m * n) {
            for (o, p) in out.iter_mut().zip(part) {
                *o += p;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_products_split_by_depth_match_plain_sums() {
        for (m, n, k) in [
            (13, 37, 3000),
            (64, 128, 12_800),
            (8, 32, 2048),
            (3, 5, 4099),
        ] {
            assert!(deep_and_narrow(m, n, k), "{m}x{n}x{k} takes the split path");
            let a: Vec<f32> = (0..k * m)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.1)
                .collect();
            let mut out = vec![f32::NAN; m * n];
            matmul(
                &a,
                &Shape(vec![k, m]),
                &b,
                &Shape(vec![k, n]),
                &mut out,
                true,
                false,
            );
            for (e, got) in out.iter().enumerate() {
                let (i, j) = (e / n, e % n);
                let want: f64 = (0..k)
                    .map(|kk| a[kk * m + i] as f64 * b[kk * n + j] as f64)
                    .sum();
                assert!(
                    (*got as f64 - want).abs() <= 1e-3 * want.abs().max(1.0),
                    "{m}x{n}x{k} [{i}, {j}]: {got} vs {want}"
                );
            }
        }
    }
}
