use gemm::{gemm, Parallelism};
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
    let (a_step, b_step, o_step) = (ar * ac, if rb == 2 { 0 } else { br * bc }, m * n);
    for bi in 0..batches {
        let a = &a[bi * a_step..];
        let b = &b[bi * b_step..];
        let o = &mut out[bi * o_step..(bi + 1) * o_step];
        if k == 0 {
            o.fill(0.0);
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
