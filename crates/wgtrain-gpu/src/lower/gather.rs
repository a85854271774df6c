//! Int32 ids: row gathers (Embedding), their deterministic scatter-add and casts
//! (`shaders/gather.wgsl`).

use super::*;
use crate::kernels::binding::gather::{DST, IDS, SRC};
use crate::params::{CastParams, GatherParams, ScatterParams};
use wgtrain_graph::DType;

/// The dispatches of a `Cast`, `Gather` or `ScatterAddRows` node.
pub(super) fn lower(plan: &Plan, id: NodeId, tuning: Tuning) -> R<Vec<Dispatch>> {
    let graph = &plan.graph;
    let node = graph.node(id);
    let out = buf_of(plan, id);
    let input = |k: usize| buf_of(plan, node.inputs[k]);
    let n = node.shape.numel();
    if n == 0 {
        return Ok(Vec::new());
    }
    match node.op {
        Op::Cast { to } => {
            let expr = match (graph.dtype(node.inputs[0]), to) {
                (DType::I32, DType::F32) => "f32(bitcast<i32>(v))",
                (DType::F32, DType::I32) => "bitcast<f32>(i32(v))",
                _ => "v",
            };
            Ok(vec![typed(
                Kernel::new(Family::Gather, "cast_values").with("CAST_EXPR", expr),
                vec![(SRC, input(0)), (DST, out)],
                CastParams { n: n as u32 },
                per_element(n, 256)?,
            )])
        }
        Op::Gather => {
            let table = graph.shape(node.inputs[0]);
            let rows = table.0[0];
            let width = table.numel() / rows.max(1);
            Ok(vec![typed(
                Kernel::new(Family::Gather, "gather"),
                vec![(SRC, input(0)), (IDS, input(1)), (DST, out)],
                GatherParams {
                    n: n as u32,
                    width: width as u32,
                    rows: rows as u32,
                },
                per_element(n, 256)?,
            )])
        }
        Op::ScatterAddRows { rows } => {
            let positions = graph.shape(node.inputs[1]).numel();
            lower_scatter(rows, n / rows, positions, [input(0), input(1), out], tuning)
        }
        _ => Err(format!("{} is not a gather op", node.op.name())),
    }
}

/// `out[ids[p]] += values[p]` over `positions` ids into `rows` rows of `width` values. Each
/// invocation owns one column of a block of rows, so the row blocks trade parallelism against
/// the id reads every invocation makes; on an adapter with a loop budget the positions are
/// split over dispatches that continue the same sums in order.
fn lower_scatter(
    rows: usize,
    width: usize,
    positions: usize,
    [values, ids, out]: [Buf; 3],
    tuning: Tuning,
) -> R<Vec<Dispatch>> {
    let mut blocks = (tuning.scatter_invocations / width.max(1)).clamp(1, rows);
    let mut block_rows = rows.div_ceil(blocks);
    // Zeroing a block and walking a run of positions share the loop budget half and half.
    let run = match tuning.loop_budget {
        Some(budget) => {
            let half = budget / 2 - 8;
            if block_rows > half {
                block_rows = half;
            }
            half
        }
        None => positions.max(1),
    };
    blocks = rows.div_ceil(block_rows);
    let invocations = blocks * width;
    let groups = per_element(invocations, 64)?;
    let mut out_list = Vec::new();
    let mut first = 0;
    loop {
        let end = (first + run).min(positions);
        tuning.check_loops("a scatter-add", block_rows + (end - first))?;
        out_list.push(typed(
            Kernel::new(Family::Gather, "scatter_add_rows"),
            vec![(SRC, values), (IDS, ids), (DST, out)],
            ScatterParams {
                width: width as u32,
                rows: rows as u32,
                block_rows: block_rows as u32,
                invocations: invocations as u32,
                first: first as u32,
                end: end as u32,
                zero: u32::from(first == 0),
            },
            groups,
        ));
        first = end;
        if first >= positions {
            break;
        }
    }
    Ok(out_list)
}
