//! Batch normalization by the batch's statistics (`shaders/norm.wgsl`): one dispatch per op.

use super::*;
use crate::kernels::binding::norm::{BETA, DY, GAMMA, MOMENTS, OUT, X};

/// The dispatch of a `Moments`, `BatchNorm` or `BatchNormGrad` node.
pub(super) fn lower(plan: &Plan, id: NodeId, tuning: Tuning) -> R<Vec<Dispatch>> {
    let graph = &plan.graph;
    let node = graph.node(id);
    let input = |k: usize| buf_of(plan, node.inputs[k]);
    let out = buf_of(plan, id);
    let x_shape = match node.op {
        Op::BatchNormGrad { .. } => graph.shape(node.inputs[1]),
        _ => graph.shape(node.inputs[0]),
    };
    let (rows, c) = (x_shape.0[0], x_shape.last());
    let epsilon = match node.op {
        Op::BatchNorm { epsilon } | Op::BatchNormGrad { epsilon, .. } => epsilon,
        _ => 0.0,
    };
    let params = Builder::new().u(rows).u(c).f(epsilon);
    // A column's workgroup walks its rows twice, 64 at a time, then sums two trees.
    let column_loops = |what: &str| {
        let trips = 2 * rows.div_ceil(64) + 12;
        tuning.check_loops(&format!("{what} over {x_shape}"), trips)
    };
    let (entry, bindings, groups) = match node.op {
        Op::Moments => {
            column_loops("the batch moments")?;
            ("column_moments", vec![(X, input(0)), (OUT, out)], grid(c)?)
        }
        Op::BatchNorm { .. } => (
            "batch_norm",
            vec![
                (X, input(0)),
                (MOMENTS, input(1)),
                (GAMMA, input(2)),
                (BETA, input(3)),
                (OUT, out),
            ],
            per_element(rows * c, 64)?,
        ),
        Op::BatchNormGrad { wrt, .. } => {
            column_loops("the batch normalization's gradient")?;
            let mut bindings = vec![(DY, input(0)), (X, input(1)), (MOMENTS, input(2))];
            bindings.push((OUT, out));
            let entry = if wrt == 0 {
                bindings.push((GAMMA, input(3)));
                "batch_norm_grad_x"
            } else {
                "batch_norm_grad_gamma"
            };
            (entry, bindings, grid(c)?)
        }
        _ => unreachable!("norm::lower takes batch normalization ops"),
    };
    Ok(vec![dispatch(
        Kernel::new(Family::Norm, entry),
        bindings,
        params,
        groups,
    )])
}
