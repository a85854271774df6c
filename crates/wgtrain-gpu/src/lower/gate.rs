//! The gated mix and its gradients (`shaders/gate.wgsl`): one dispatch each.

use super::*;
use crate::kernels::binding::gate::{BIAS, DY, H, MASK, OUT, S, STEP};
use wgtrain_graph::GatedMix;

/// The dispatch of a `GatedMix` or `GatedMixGrad` node.
pub(super) fn lower(plan: &Plan, id: NodeId, tuning: Tuning) -> R<Vec<Dispatch>> {
    let graph = &plan.graph;
    let node = graph.node(id);
    let buf = |k: usize| buf_of(plan, node.inputs[k]);
    let (mix, wrt, first) = match node.op {
        Op::GatedMix(mix) => (mix, None, 0),
        Op::GatedMixGrad { mix, wrt } => (mix, Some(wrt), 1),
        _ => unreachable!("gate::lower takes gated mixes"),
    };
    let masked = node.inputs.len() == first + 3 + mix.biased as usize;
    let s_shape = graph.shape(node.inputs[first + 1]);
    let (elements, w) = (s_shape.numel(), s_shape.last());
    // Without a mask or bias the kernels read none, but the binding must hold some buffer.
    let optional = |present: bool, k: usize| if present { buf(first + k) } else { buf(first) };
    let mut bindings = vec![
        (H, buf(first)),
        (BIAS, optional(mix.biased, 2)),
        (MASK, optional(masked, 2 + mix.biased as usize)),
        (OUT, buf_of(plan, id)),
        (STEP, Buf::Step),
    ];
    if wrt != Some(1) {
        bindings.push((S, buf(first + 1)));
    }
    if first == 1 {
        bindings.push((DY, buf(0)));
    }
    let (entry, groups) = match wrt {
        None => ("gated_mix", per_element(dropout_blocks(elements), 64)?),
        Some(0) => (
            "gated_mix_grad_h",
            per_element(dropout_blocks(elements), 64)?,
        ),
        Some(1) => (
            "gated_mix_grad_s",
            per_element(dropout_blocks(elements), 64)?,
        ),
        Some(_) => {
            tuning.check_loops(&format!("the gated mix's mask gradient over {s_shape}"), w)?;
            ("gated_mix_grad_mask", per_element(elements / w, 64)?)
        }
    };
    Ok(vec![dispatch(
        Kernel::new(Family::Gate, entry),
        bindings,
        params(mix, elements, w, masked),
        groups,
    )])
}

fn params(mix: GatedMix, elements: usize, w: usize, masked: bool) -> Builder {
    Builder::new()
        .u(elements)
        .u(w)
        .u(mix.gate)
        .u(mix.value)
        .u(mix.key as usize)
        .u(drop_threshold(mix.rate) as usize)
        .f(kept_scale(mix.rate))
        .u(masked as usize)
        .u(mix.biased as usize)
}
