//! The recurrent walks (`shaders/recurrent.wgsl`): one dispatch per walk, a workgroup per batch
//! row, however long the sequence.

use super::*;
use crate::kernels::binding::recurrent as binding;
use wgtrain_graph::recurrent::{Cell, Packing, Part, RecurrentSpec, UPSTREAM};

/// What a workgroup may hold in workgroup memory on every adapter (WebGPU's default limit).
const WORKGROUP_BYTES: usize = 16_384;

/// The dispatch of a `Recurrent` or `RecurrentGrad` node.
pub(super) fn lower(plan: &Plan, id: NodeId, tuning: Tuning) -> R<Vec<Dispatch>> {
    let graph = &plan.graph;
    let node = graph.node(id);
    let buf = |k: usize| buf_of(plan, node.inputs[k]);
    let out = buf_of(plan, id);
    let (spec, upstream, batch, steps) = match &node.op {
        Op::Recurrent(spec) => {
            let s = graph.shape(node.inputs[0]);
            (*spec, [false; 4], s.0[0], s.0[1])
        }
        Op::RecurrentGrad {
            spec,
            upstream,
            steps,
        } => (*spec, *upstream, graph.shape(node.inputs[0]).0[0], *steps),
        _ => unreachable!("recurrent::lower takes recurrent walks"),
    };
    let (u, gu) = (spec.units, spec.gate_width());
    let units_cap = u.next_multiple_of(64);
    let gates_cap = gu.next_multiple_of(64);
    let memory = (2 * units_cap + gates_cap) * 4;
    if memory > WORKGROUP_BYTES {
        return Err(format!(
            "a {:?} of {u} units needs {memory} bytes of workgroup memory, more than the \
             {WORKGROUP_BYTES} every adapter offers; use fewer units or the CPU backend",
            spec.cell
        ));
    }
    let lanes = u.div_ceil(64);
    let matvec = gu.div_ceil(4) + 4;
    let forward = matches!(node.op, Op::Recurrent(_));
    let trips = if forward {
        steps * (lanes * (spec.cell.gates() * (u.div_ceil(4) + 4) + 1) + 1) + 2 * lanes
    } else {
        steps * (lanes * (spec.cell.gates() + 2) + lanes * matvec + 1) + lanes
    };
    tuning.check_loops(
        &format!("a {:?} walk over {steps} steps of {u} units", spec.cell),
        trips,
    )?;
    let kernel = |entry| {
        Kernel::new(Family::Recurrent, entry)
            .with("UNITS_CAP_VALUE", format!("{units_cap}u"))
            .with("GATES_CAP_VALUE", format!("{gates_cap}u"))
    };
    let params = params(&spec, batch, steps, upstream);
    if forward {
        let at = spec.input_positions();
        // Absent operands are never read, but every binding must hold some buffer.
        let or_first = |k: Option<usize>| k.map_or(buf(0), buf);
        let bindings = vec![
            (binding::XW, buf(0)),
            (binding::KERNEL, buf(1)),
            (binding::H0, or_first(at.h0)),
            (binding::C0, or_first(at.c0)),
            (binding::RBIAS, or_first(at.bias)),
            (binding::MASK, or_first(at.mask)),
            (binding::OUT, out),
        ];
        return Ok(vec![dispatch(
            kernel("recurrent_forward"),
            bindings,
            params,
            grid(batch)?,
        )]);
    }
    let ups = upstream.iter().filter(|p| **p).count();
    let mut k = 0;
    let mut grads = [buf(0); 4];
    for (slot, present) in grads.iter_mut().zip(upstream) {
        if present {
            *slot = buf(k);
            k += 1;
        }
    }
    let mut bindings = vec![
        (binding::D_OUTPUTS, grads[0]),
        (binding::D_LAST, grads[1]),
        (binding::D_STATE, grads[2]),
        (binding::D_CELL, grads[3]),
        (binding::SAVED, buf(ups)),
        (binding::KERNEL, buf(ups + 1)),
        (binding::OUT, out),
    ];
    bindings.push((
        binding::MASK,
        if spec.masked { buf(ups + 2) } else { buf(0) },
    ));
    Ok(vec![dispatch(
        kernel("recurrent_backward"),
        bindings,
        params,
        grid(batch)?,
    )])
}

fn params(spec: &RecurrentSpec, batch: usize, steps: usize, upstream: [bool; 4]) -> Builder {
    let cell = match spec.cell {
        Cell::SimpleRnn => 0,
        Cell::Lstm => 1,
        Cell::Gru => 2,
    };
    let mut b = Builder::new()
        .u(batch)
        .u(steps)
        .u(spec.units)
        .u(spec.gate_width())
        .u(cell)
        .u(spec.activation.code() as usize)
        .u(spec.recurrent_activation.code() as usize)
        .u(spec.go_backwards as usize)
        .u(spec.outputs_in_walk_order as usize)
        .u(spec.initial_state as usize)
        .u((spec.initial_state && spec.cell == Cell::Lstm) as usize)
        .u(spec.recurrent_bias as usize)
        .u(spec.masked as usize);
    for present in upstream {
        b = b.u(present as usize);
    }
    let offsets = |b: Builder, packing: &Packing, parts: &[Part]| {
        parts
            .iter()
            .fold(b, |b, p| b.u(packing.find(*p).map_or(0, |(at, _)| at)))
    };
    let forward = [
        Part::Outputs,
        Part::Last,
        Part::State,
        Part::CellState,
        Part::PrevState,
        Part::Gates,
        Part::PrevCell,
        Part::Extra,
    ];
    debug_assert_eq!(forward[..4], UPSTREAM);
    let backward = [
        Part::DInput,
        Part::DRecurrent,
        Part::DState,
        Part::DCellState,
        Part::Scratch,
    ];
    let b = offsets(b, &spec.forward_packing(batch, steps), &forward);
    let b = offsets(b, &spec.backward_packing(batch, steps), &backward);
    b.u(spec.zero_output_for_mask as usize)
}
