//! The planner: turns a graph and the values wanted from it into a schedule and a static memory
//! plan. Every intermediate gets a slot in one arena, reused once its last reader has run.

use crate::graph::{Graph, NodeId};
use crate::op::{Op, ParamId};
use crate::optim::OptimizerSpec;
use crate::shape::Shape;

/// Where a node's value lives in the arena, in f32 elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub offset: usize,
    pub len: usize,
}

/// The values a plan exposes after each run.
#[derive(Clone, Debug, Default)]
pub struct PlanOutputs {
    pub loss: Option<NodeId>,
    pub metrics: Vec<NodeId>,
    pub predictions: Vec<NodeId>,
}

/// Apply the optimizer to `param` with the gradient computed by node `grad`.
#[derive(Clone, Copy, Debug)]
pub struct Update {
    pub param: ParamId,
    pub grad: NodeId,
    /// What the optimizer uses where its rule squares the gradient, when that is not
    /// `grad * grad`: for a table read by `Gather`, Keras (TensorFlow) squares each looked-up
    /// row's gradient before summing duplicates.
    pub grad_sq: Option<NodeId>,
}

impl Update {
    pub fn new(param: ParamId, grad: NodeId) -> Self {
        Self {
            param,
            grad,
            grad_sq: None,
        }
    }
}

/// After the optimizer has run, set `param` to the value node `value` computed in this run
/// (state such as moving statistics).
#[derive(Clone, Copy, Debug)]
pub struct Assign {
    pub param: ParamId,
    pub value: NodeId,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub graph: Graph,
    /// Non-leaf nodes in execution order.
    pub schedule: Vec<NodeId>,
    /// Arena slot of every input, constant and scheduled node; `None` for params and dead nodes.
    pub slots: Vec<Option<Slot>>,
    pub arena_len: usize,
    pub outputs: PlanOutputs,
    pub updates: Vec<Update>,
    pub optimizer: Option<OptimizerSpec>,
    /// State updates, applied after the optimizer in the same run.
    pub assigns: Vec<Assign>,
    /// Every parameter the plan reads, with its shape.
    pub params: Vec<(ParamId, Shape)>,
}

impl Plan {
    pub fn new(
        graph: Graph,
        outputs: PlanOutputs,
        updates: Vec<Update>,
        optimizer: Option<OptimizerSpec>,
    ) -> Plan {
        Self::with_state(graph, outputs, updates, optimizer, Vec::new())
    }

    /// The same plan with state updates after the optimizer.
    pub fn with_assigns(self, assigns: Vec<Assign>) -> Plan {
        Self::with_state(
            self.graph,
            self.outputs,
            self.updates,
            self.optimizer,
            assigns,
        )
    }

    fn with_state(
        graph: Graph,
        outputs: PlanOutputs,
        updates: Vec<Update>,
        optimizer: Option<OptimizerSpec>,
        assigns: Vec<Assign>,
    ) -> Plan {
        let n = graph.nodes.len();
        let mut roots: Vec<NodeId> = outputs.loss.into_iter().collect();
        roots.extend(&outputs.metrics);
        roots.extend(&outputs.predictions);
        roots.extend(updates.iter().map(|u| u.grad));
        roots.extend(updates.iter().filter_map(|u| u.grad_sq));
        roots.extend(assigns.iter().map(|a| a.value));

        let mut live = vec![false; n];
        for r in &roots {
            live[r.0] = true;
        }
        for i in (0..n).rev() {
            if live[i] {
                for x in &graph.nodes[i].inputs {
                    live[x.0] = true;
                }
            }
        }
        // Inputs always get a slot: the caller feeds every one of them.
        for (i, node) in graph.nodes.iter().enumerate() {
            if matches!(node.op, Op::Input { .. }) {
                live[i] = true;
            }
        }

        let schedule: Vec<NodeId> = (0..n)
            .filter(|&i| live[i] && !graph.nodes[i].op.is_leaf())
            .map(NodeId)
            .collect();

        let fed: Vec<NodeId> = (0..n)
            .filter(|&i| {
                live[i] && matches!(graph.nodes[i].op, Op::Input { .. } | Op::Const { .. })
            })
            .map(NodeId)
            .collect();
        let steps: Vec<(NodeId, Vec<NodeId>)> = schedule
            .iter()
            .map(|&id| (id, graph.node(id).inputs.clone()))
            .collect();
        let (slots, arena_len) = assign_slots(&graph, &fed, &steps, &roots);

        let mut params: Vec<(ParamId, Shape)> = graph
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, nd)| match nd.op {
                Op::Param { id } if live[i] => Some((id, nd.shape.clone())),
                _ => None,
            })
            .collect();
        params.sort_by_key(|p| p.0);
        params.dedup_by_key(|p| p.0);

        Plan {
            graph,
            schedule,
            slots,
            arena_len,
            outputs,
            updates,
            optimizer,
            assigns,
            params,
        }
    }

    /// Planned peak bytes of the arena (activations, gradients, inputs, constants).
    pub fn arena_bytes(&self) -> usize {
        self.arena_len * 4
    }

    /// Bytes of the parameters the plan reads plus their optimizer slots.
    pub fn state_bytes(&self) -> usize {
        let slots = self.optimizer.as_ref().map_or(0, |o| o.slots());
        let per_param: usize = self.params.iter().map(|(_, s)| s.numel()).sum();
        per_param * 4 * (1 + slots)
    }

    pub fn peak_bytes(&self) -> usize {
        self.arena_bytes() + self.state_bytes()
    }

    /// The values read after a run: loss, metrics, predictions and gradients.
    pub fn roots(&self) -> Vec<NodeId> {
        let mut roots: Vec<NodeId> = self.outputs.loss.into_iter().collect();
        roots.extend(&self.outputs.metrics);
        roots.extend(&self.outputs.predictions);
        roots.extend(self.updates.iter().map(|u| u.grad));
        roots.extend(self.updates.iter().filter_map(|u| u.grad_sq));
        roots.extend(self.assigns.iter().map(|a| a.value));
        roots
    }
}

/// Places values in one arena: the `fed` values (inputs, constants) first, then the output of
/// each step, in order. `steps` lists what each step computes and the values it reads; a slot
/// is reused once its last reader has run, except for constants and the `keep` values.
/// Returns every node's slot and the arena's length in f32 elements.
pub fn assign_slots(
    graph: &Graph,
    fed: &[NodeId],
    steps: &[(NodeId, Vec<NodeId>)],
    keep: &[NodeId],
) -> (Vec<Option<Slot>>, usize) {
    let n = graph.nodes.len();
    // Position 0 is "before the first step"; step k runs at position k + 1.
    const FOREVER: usize = usize::MAX;
    let mut def = vec![0usize; n];
    let mut last_use = vec![0usize; n];
    for (k, (id, reads)) in steps.iter().enumerate() {
        def[id.0] = k + 1;
        for x in reads {
            last_use[x.0] = last_use[x.0].max(k + 1);
        }
    }
    for r in keep {
        last_use[r.0] = FOREVER;
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if matches!(node.op, Op::Const { .. }) {
            last_use[i] = FOREVER;
        }
    }
    // A reshape is a view: it shares the slot of the tensor it reshapes; a part of a packed
    // tensor shares a range of the packed tensor's slot. The viewed tensor then lives as long
    // as any of its views is read.
    let views = slot_views(graph, steps);
    for (i, view) in views.iter().enumerate().rev() {
        if let Some((root, _)) = view {
            last_use[root.0] = last_use[root.0].max(last_use[i]);
        }
    }

    let mut arena = Arena::default();
    let mut slots: Vec<Option<Slot>> = vec![None; n];
    let mut frees: Vec<Vec<usize>> = vec![Vec::new(); steps.len() + 1];
    let order = fed.iter().chain(steps.iter().map(|(id, _)| id));
    for &NodeId(i) in order {
        if let Some((root, offset)) = views[i] {
            slots[i] = slots[root.0].map(|s: Slot| Slot {
                offset: s.offset + offset,
                len: graph.nodes[i].shape.numel().max(1),
            });
        } else {
            let len = graph.nodes[i].shape.numel().max(1);
            slots[i] = Some(Slot {
                offset: arena.alloc(len),
                len,
            });
            if last_use[i] != FOREVER {
                frees[last_use[i].max(def[i])].push(i);
            }
        }
        // Free only after the output is placed, so no step writes over its own inputs.
        if def[i] > 0 {
            for dead in std::mem::take(&mut frees[def[i]]) {
                if let Some(s) = slots[dead] {
                    arena.free(s.offset);
                }
            }
        }
    }
    (slots, arena.high_water)
}

/// For each scheduled view, the tensor whose slot it shares (through chains of views) and
/// the view's offset in that slot: reshapes of a tensor that has a slot (not a parameter) and
/// parts of packed tensors.
fn slot_views(graph: &Graph, steps: &[(NodeId, Vec<NodeId>)]) -> Vec<Option<(NodeId, usize)>> {
    let mut views: Vec<Option<(NodeId, usize)>> = vec![None; graph.nodes.len()];
    for (id, _) in steps {
        let node = graph.node(*id);
        let x = node.inputs.first().copied();
        let at = |x: NodeId| views[x.0].unwrap_or((x, 0));
        views[id.0] = match (&node.op, x) {
            (Op::Reshape { .. }, Some(x)) if !matches!(graph.node(x).op, Op::Param { .. }) => {
                Some(at(x))
            }
            (Op::Part { offset, .. }, Some(x)) => {
                let (root, base) = at(x);
                Some((root, base + offset))
            }
            _ => None,
        };
    }
    views
}

/// Whether node `id` shares the slot of the tensor it views (and so needs no kernel).
pub fn is_view(plan: &Plan, id: NodeId) -> bool {
    let node = plan.graph.node(id);
    match node.op {
        Op::Part { .. } => true,
        Op::Reshape { .. } => {
            plan.slots[id.0].is_some() && plan.slots[id.0] == plan.slots[node.inputs[0].0]
        }
        _ => false,
    }
}

/// Slot alignment in f32 elements: 256 bytes, so a GPU backend can bind every slot as its own
/// storage range (the largest `min_storage_buffer_offset_alignment` adapters report) and kernels
/// may use wide loads.
pub const SLOT_ALIGN: usize = 64;

/// First-fit allocator over one growing block of f32 elements.
#[derive(Default)]
struct Arena {
    /// Live blocks as (offset, len), sorted by offset.
    blocks: Vec<(usize, usize)>,
    high_water: usize,
}

impl Arena {
    fn alloc(&mut self, len: usize) -> usize {
        let len = len.next_multiple_of(SLOT_ALIGN);
        let mut cursor = 0;
        let mut at = self.blocks.len();
        for (i, &(off, l)) in self.blocks.iter().enumerate() {
            if off - cursor >= len {
                at = i;
                break;
            }
            cursor = off + l;
        }
        self.blocks.insert(at, (cursor, len));
        self.high_water = self.high_water.max(cursor + len);
        cursor
    }

    fn free(&mut self, offset: usize) {
        if let Some(i) = self.blocks.iter().position(|b| b.0 == offset) {
            self.blocks.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_after_the_last_reader() {
        let mut g = Graph::new();
        let x = g.input([4, 64]);
        let a = g.relu(x).unwrap();
        let b = g.exp(a).unwrap();
        let c = g.tanh(b).unwrap();
        let d = g.neg(c).unwrap();
        let outputs = PlanOutputs {
            predictions: vec![d],
            ..Default::default()
        };
        let plan = Plan::new(g, outputs, vec![], None);
        // A chain needs only two live buffers at a time, the fed input included.
        assert_eq!(plan.arena_len, 2 * 256);
        let (sa, sc) = (plan.slots[a.0].unwrap(), plan.slots[c.0].unwrap());
        assert_eq!(sa.offset, sc.offset);
        assert_eq!(plan.schedule.len(), 4);
    }

    #[test]
    fn a_reshape_shares_its_tensors_slot_which_lives_until_the_view_is_read() {
        let mut g = Graph::new();
        let x = g.input([4, 64]);
        let a = g.relu(x).unwrap();
        let view = g.reshape(a, [256]).unwrap();
        let twice = g.reshape(view, [2, 128]).unwrap();
        let b = g.exp(x).unwrap();
        let c = g.tanh(b).unwrap();
        let d = g.reshape(c, [2, 128]).unwrap();
        let out = g.add(twice, d).unwrap();
        let outputs = PlanOutputs {
            predictions: vec![out],
            ..Default::default()
        };
        let plan = Plan::new(g, outputs, vec![], None);
        let slot = |n: NodeId| plan.slots[n.0].unwrap();
        assert_eq!(slot(view), slot(a));
        assert_eq!(slot(twice), slot(a));
        assert!(is_view(&plan, view) && is_view(&plan, twice) && !is_view(&plan, b));
        // `a` is read (through its views) by the last step, so nothing computed meanwhile
        // takes its slot.
        for n in [b, c, out] {
            assert_ne!(slot(n).offset, slot(a).offset, "node {n:?}");
        }
    }

    #[test]
    fn dead_nodes_are_not_scheduled() {
        let mut g = Graph::new();
        let x = g.input([2, 3]);
        let used = g.relu(x).unwrap();
        let _unused = g.exp(x).unwrap();
        let outputs = PlanOutputs {
            predictions: vec![used],
            ..Default::default()
        };
        let plan = Plan::new(g, outputs, vec![], None);
        assert_eq!(plan.schedule, vec![used]);
    }
}
