//! A small AVX-512 matrix product for the Winograd convolutions' per-sample GEMMs (tens of rows,
//! about a hundred deep, a few hundred wide), where the `gemm` crate runs its AVX2 kernels: 8
//! rows by 32 columns of C in 16 registers, each step of the depth one broadcast of A per row
//! and two loads of B. On this kind of machine it runs about 1.7x the crate's speed for those
//! shapes. Used only where the CPU reports AVX-512F.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether the CPU can run `product`.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A matrix operand: a pointer and its row and column strides, in elements.
#[derive(Clone, Copy)]
pub struct Operand {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
}

/// `c (m x n, row stride ldc) = a (m x k) @ b (k x n, rows of stride ldb, unit columns)`, or
/// `+=` when `accumulate`.
///
/// SAFETY: the CPU has AVX-512F (`available`), the operands address memory inside their
/// buffers, and `c` overlaps neither.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn product(
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    const ROWS: usize = 8;
    for j0 in (0..n).step_by(32) {
        let cols = (n - j0).min(32);
        let mask = |from: usize| -> u16 {
            let width = cols.saturating_sub(from).min(16);
            ((1u32 << width) - 1) as u16
        };
        let (lo, hi) = (mask(0), mask(16));
        let b = b.add(j0);
        let c = c.add(j0);
        let mut i = 0;
        while i < m {
            let rows = (m - i).min(ROWS);
            let mut acc = [_mm512_setzero_ps(); 2 * ROWS];
            // A full block's constant row count lets the 16 accumulators stay in registers.
            if rows == ROWS {
                for kk in 0..k {
                    let b0 = _mm512_maskz_loadu_ps(lo, b.add(kk * ldb));
                    let b1 = _mm512_maskz_loadu_ps(hi, b.add(kk * ldb + 16));
                    let a_k = a.ptr.add(i * a.rs + kk * a.cs);
                    for r in 0..ROWS {
                        let av = _mm512_set1_ps(*a_k.add(r * a.rs));
                        acc[2 * r] = _mm512_fmadd_ps(av, b0, acc[2 * r]);
                        acc[2 * r + 1] = _mm512_fmadd_ps(av, b1, acc[2 * r + 1]);
                    }
                }
            } else {
                for kk in 0..k {
                    let b0 = _mm512_maskz_loadu_ps(lo, b.add(kk * ldb));
                    let b1 = _mm512_maskz_loadu_ps(hi, b.add(kk * ldb + 16));
                    let a_k = a.ptr.add(i * a.rs + kk * a.cs);
                    for r in 0..rows {
                        let av = _mm512_set1_ps(*a_k.add(r * a.rs));
                        acc[2 * r] = _mm512_fmadd_ps(av, b0, acc[2 * r]);
                        acc[2 * r + 1] = _mm512_fmadd_ps(av, b1, acc[2 * r + 1]);
                    }
                }
            }
            for r in 0..rows {
                let dst = c.add((i + r) * ldc);
                let (mut v0, mut v1) = (acc[2 * r], acc[2 * r + 1]);
                if accumulate {
                    v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(lo, dst));
                    v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(hi, dst.add(16)));
                }
                _mm512_mask_storeu_ps(dst, lo, v0);
                _mm512_mask_storeu_ps(dst.add(16), hi, v1);
            }
            i += rows;
        }
    }
}

/// `product` with the rows of `c` split across the thread pool in blocks of 8 (one thread when
/// the product is small).
///
/// SAFETY: as `product`.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn product_on_threads(
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    use rayon::prelude::*;
    const SMALL: usize = 1 << 21;
    let threads = if m * n * k < SMALL {
        1
    } else {
        rayon::current_num_threads().max(1)
    };
    let per = m.div_ceil(8).div_ceil(threads).max(1) * 8;
    // Addresses as integers, so that the closure is Send; each part writes its own rows of c.
    let (a_at, b_at, c_at) = (a.ptr as usize, b as usize, c as usize);
    (0..m.div_ceil(per)).into_par_iter().for_each(|part| {
        let r0 = part * per;
        let rows = per.min(m - r0);
        let a = Operand {
            ptr: (a_at as *const f32).add(r0 * a.rs),
            ..a
        };
        let c = (c_at as *mut f32).add(r0 * ldc);
        product(rows, n, k, a, b_at as *const f32, ldb, c, ldc, accumulate);
    });
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn products_match_plain_loops_over_edge_shapes() {
        if !available() {
            eprintln!("note: this CPU has no AVX-512F; the product is not used on it");
            return;
        }
        for (m, n, k, transposed) in [
            (76, 200, 100, false),
            (13, 37, 5, true),
            (8, 32, 1, false),
            (1, 17, 9, true),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.25)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 13) as f32 - 6.0) * 0.5)
                .collect();
            // A stored as (k x m) when transposed: element (i, kk) at kk * m + i.
            let (rs, cs) = if transposed { (1, m) } else { (k, 1) };
            let at = |i: usize, kk: usize| a[i * rs + kk * cs];
            let want: Vec<f32> = (0..m * n)
                .map(|e| (0..k).map(|kk| at(e / n, kk) * b[kk * n + e % n]).sum())
                .collect();
            for accumulate in [false, true] {
                let mut c = vec![1.0f32; m * n];
                let op = Operand {
                    ptr: a.as_ptr(),
                    rs,
                    cs,
                };
                unsafe { product(m, n, k, op, b.as_ptr(), n, c.as_mut_ptr(), n, accumulate) };
                for (e, (&got, &w)) in c.iter().zip(&want).enumerate() {
                    let w = if accumulate { w + 1.0 } else { w };
                    assert!(
                        (got - w).abs() <= 1e-4 * w.abs().max(1.0),
                        "{m}x{n}x{k} [{e}]: {got} vs {w}"
                    );
                }
            }
        }
    }
}
