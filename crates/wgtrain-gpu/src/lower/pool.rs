//! 2-D max and average pooling and their gradients (`shaders/pool.wgsl`): one dispatch per op.

use super::*;
use crate::kernels::binding::pool::{DY, OUT, X};
use crate::params::PoolParams;
use wgtrain_graph::PoolKind;

/// The dispatch of a `Pool2d` or `Pool2dGrad` node.
pub(super) fn lower(plan: &Plan, id: NodeId, tuning: Tuning) -> R<Vec<Dispatch>> {
    let node = plan.graph.node(id);
    let input = |k: usize| buf_of(plan, node.inputs[k]);
    let (entry, kind, geo, bindings) = match node.op {
        Op::Pool2d { kind, geo } => ("pool2d", kind, geo, vec![(X, input(0))]),
        Op::Pool2dGrad { kind, geo } => {
            let mut bindings = vec![(DY, input(0))];
            let entry = match kind {
                PoolKind::Max => {
                    bindings.push((X, input(1)));
                    "pool2d_grad_max"
                }
                PoolKind::Average => "pool2d_grad_mean",
            };
            (entry, kind, geo, bindings)
        }
        _ => unreachable!("pool::lower takes pooling ops"),
    };
    let (rows, cols) = (geo.rows, geo.cols);
    // A gradient value visits the windows covering it and scans each.
    let covering = rows.kernel.div_ceil(rows.stride) * cols.kernel.div_ceil(cols.stride);
    tuning.check_loops(
        &format!("a {} x {} pooling window", rows.kernel, cols.kernel),
        (covering + 1) * (rows.kernel * cols.kernel + rows.kernel + 2) + 8,
    )?;
    let n = node.shape.numel();
    let params = PoolParams {
        n: n as u32,
        channels: node.shape.last() as u32,
        in_h: rows.in_len as u32,
        in_w: cols.in_len as u32,
        out_h: rows.out_len as u32,
        out_w: cols.out_len as u32,
        kh: rows.kernel as u32,
        kw: cols.kernel as u32,
        stride_h: rows.stride as u32,
        stride_w: cols.stride as u32,
        pad_top: rows.pad_left as u32,
        pad_left: cols.pad_left as u32,
        average: (kind == PoolKind::Average) as u32,
    };
    let mut bindings = bindings;
    bindings.push((OUT, buf_of(plan, id)));
    Ok(vec![typed(
        Kernel::new(Family::Pool, entry),
        bindings,
        params,
        per_element(n, 64)?,
    )])
}
