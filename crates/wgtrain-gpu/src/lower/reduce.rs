//! Reductions: along one axis and down to a broadcast shape.

use super::*;

/// The kernel that reduces the middle axis of (outer, n, inner).
pub(super) fn reduce_lines(
    op: ReduceOp,
    outer: usize,
    n: usize,
    inner: usize,
    x: Buf,
    out: Buf,
) -> R<Vec<Dispatch>> {
    let scale = if op == ReduceOp::Mean {
        1.0 / n as f32
    } else {
        1.0
    };
    Ok(vec![dispatch(
        Kernel::new(Family::Reduce, "reduce_lines")
            .with("IS_SUM", (op != ReduceOp::Max).to_string()),
        vec![(1, x), (2, out)],
        Builder::new().u(outer * inner).u(n).u(inner).f(scale),
        per_element(outer * inner, 64)?,
    )])
}

/// Sums `sx` down to `so` (which broadcasts up to `sx`).
pub(super) fn lower_sum_to(
    sx: &Shape,
    so: &Shape,
    x: Buf,
    out: Buf,
    tuning: Tuning,
) -> R<Vec<Dispatch>> {
    let r = sx.rank();
    let strides = row_major_strides(&sx.0);
    let aligned: Vec<usize> = std::iter::repeat_n(1, r - so.rank())
        .chain(so.0.iter().copied())
        .collect();
    let summed: Vec<usize> = (0..r).filter(|&ax| aligned[ax] != sx.0[ax]).collect();
    if let (true, Some(&lo), Some(&hi)) = (tuning.serial_reductions, summed.first(), summed.last())
    {
        let n: usize = sx.0[lo..=hi].iter().product();
        if hi - lo + 1 == summed.len() && tuning.fits(n) {
            let outer: usize = sx.0[..lo].iter().product();
            let inner: usize = sx.0[hi + 1..].iter().product();
            return reduce_lines(ReduceOp::Sum, outer, n, inner, x, out);
        }
    }
    let (mut out_dims, mut out_strides, mut red_dims, mut red_strides) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ax in 0..r {
        if sx.0[ax] == 1 {
            continue;
        }
        if aligned[ax] == 1 {
            red_dims.push(sx.0[ax]);
            red_strides.push(strides[ax]);
        } else {
            out_dims.push(sx.0[ax]);
            out_strides.push(strides[ax]);
        }
    }
    if out_dims.len() > MAX_RANK || red_dims.len() > MAX_RANK {
        return Err(format!(
            "summing {sx} to {so} needs rank above {MAX_RANK} on the GPU"
        ));
    }
    let outputs = so.numel();
    let count: usize = red_dims.iter().product();
    tuning.check_loops(
        &format!("summing {sx} to {so}"),
        count.div_ceil(64) * (1 + red_dims.len()) + 12,
    )?;
    Ok(vec![dispatch(
        Kernel::new(Family::Reduce, "reduce").with("IS_SUM", "true"),
        vec![(1, x), (2, out)],
        Builder::new()
            .u(outputs)
            .u(count)
            .u(out_dims.len())
            .u(red_dims.len())
            .f(1.0)
            .dims(&out_dims)
            .dims(&out_strides)
            .dims(&red_dims)
            .dims(&red_strides),
        grid(outputs)?,
    )])
}
