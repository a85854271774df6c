//! Elementwise fusion, shared by the backends: a unary or binary node whose only reader is
//! another elementwise node is folded into that reader's group, so a chain such as
//! `relu(a * b + c)` runs as one pass (one GPU dispatch, one CPU loop) that reads `a`, `b` and
//! `c` once and writes only the final result. Every operand of a group is read through a
//! rows x cols view of the group's output (`rows_view`), so a `BroadcastTo` read only by the
//! group is not computed at all: the group reads the broadcast's input through that view.

use crate::backend::scalar_nodes;
use crate::plan::assign_slots;
use crate::shape::rows_view;
use crate::{NodeId, Op, Plan};

/// What a backend's fused kernels can take.
#[derive(Clone, Copy, Debug)]
pub struct FusionLimits {
    /// The most tensors one group reads.
    pub max_inputs: usize,
    /// The longest output row a group may have.
    pub max_row: usize,
    /// Outputs smaller than this stay unfused (the pass costs less than the bookkeeping).
    pub min_len: usize,
}

/// Elementwise nodes computed by one kernel.
#[derive(Clone, Debug)]
pub struct Group {
    /// The nodes of the group in schedule order; the last is the one whose value is stored.
    pub members: Vec<NodeId>,
    /// The tensors the kernel reads, each once per output element.
    pub leaves: Vec<NodeId>,
    /// Broadcasts the group reads through: (the broadcast, its input, which is a leaf).
    pub broadcasts: Vec<(NodeId, NodeId)>,
}

impl Group {
    /// The member or leaf that holds operand `x` of a member.
    pub fn operand(&self, x: NodeId) -> NodeId {
        self.broadcasts.iter().find(|b| b.0 == x).map_or(x, |b| b.1)
    }
}

/// How the plan's elementwise nodes are grouped.
pub struct Fusion {
    /// The group a node stores, by node index.
    pub groups: Vec<Option<Group>>,
    /// Nodes computed inside another node's group (they get no dispatch of their own).
    pub absorbed: Vec<bool>,
}

fn elementwise(op: &Op) -> bool {
    matches!(op, Op::Unary(_) | Op::Binary(_))
}

impl Fusion {
    pub fn of(plan: &Plan, limits: FusionLimits) -> Fusion {
        let graph = &plan.graph;
        let n = graph.nodes.len();
        let mut readers = vec![0usize; n];
        for &id in &plan.schedule {
            for x in &graph.node(id).inputs {
                readers[x.0] += 1;
            }
        }
        // Values read after the run must be stored.
        let kept = scalar_nodes(plan)
            .chain(plan.outputs.predictions.iter().copied())
            .chain(plan.updates.iter().map(|u| u.grad))
            .chain(plan.updates.iter().filter_map(|u| u.grad_sq))
            .chain(plan.assigns.iter().map(|a| a.value));
        for id in kept {
            readers[id.0] += 2;
        }
        let scheduled: Vec<bool> = {
            let mut s = vec![false; n];
            plan.schedule.iter().for_each(|id| s[id.0] = true);
            s
        };

        let mut groups: Vec<Option<Group>> = vec![None; n];
        let mut absorbed = vec![false; n];
        // Readers come after what they read, so walking backwards meets a group's root first.
        for &root in plan.schedule.iter().rev() {
            if absorbed[root.0] || !elementwise(&graph.node(root).op) {
                continue;
            }
            let out_shape = &graph.node(root).shape;
            let mut members = vec![root];
            let mut leaves: Vec<NodeId> = Vec::new();
            let mut broadcasts = Vec::new();
            let mut frontier: Vec<NodeId> = graph.node(root).inputs.clone();
            // A root whose own operands need strided indexing, or whose rows are too long for
            // a rows grid, stays alone.
            let by_rows = frontier
                .iter()
                .all(|i| rows_view(graph.shape(*i), out_shape).is_some());
            let cols = out_shape.0.last().copied().unwrap_or(1);
            if !by_rows || cols > limits.max_row || out_shape.numel() < limits.min_len {
                leaves = frontier;
                leaves.dedup();
                groups[root.0] = Some(Group {
                    members,
                    leaves,
                    broadcasts,
                });
                continue;
            }
            while let Some(x) = frontier.pop() {
                if members.contains(&x) || leaves.contains(&x) {
                    continue;
                }
                let node = graph.node(x);
                let inputs_fit = node
                    .inputs
                    .iter()
                    .all(|i| rows_view(graph.shape(*i), out_shape).is_some());
                let room = leaves.len() + frontier.len() + node.inputs.len() <= limits.max_inputs;
                let alone = scheduled[x.0] && readers[x.0] == 1 && room;
                if alone && matches!(node.op, Op::BroadcastTo { .. }) && inputs_fit {
                    let source = node.inputs[0];
                    absorbed[x.0] = true;
                    broadcasts.push((x, source));
                    if !leaves.contains(&source) {
                        leaves.push(source);
                    }
                    continue;
                }
                if scheduled[x.0]
                    && elementwise(&node.op)
                    && readers[x.0] == 1
                    && inputs_fit
                    && room
                {
                    members.push(x);
                    absorbed[x.0] = true;
                    frontier.extend(node.inputs.iter().copied());
                } else {
                    leaves.push(x);
                }
            }
            members.sort();
            groups[root.0] = Some(Group {
                members,
                leaves,
                broadcasts,
            });
        }
        Fusion { groups, absorbed }
    }
}

impl Fusion {
    /// The plan with its arena laid out again for the fused kernels: absorbed nodes need no
    /// slot, and a group's inputs stay live until the group's kernel has run.
    pub fn relayout(&self, mut plan: Plan) -> Plan {
        let graph = &plan.graph;
        let fed: Vec<NodeId> = (0..graph.nodes.len())
            .filter(|&i| {
                plan.slots[i].is_some()
                    && matches!(graph.nodes[i].op, Op::Input { .. } | Op::Const { .. })
            })
            .map(NodeId)
            .collect();
        let steps: Vec<(NodeId, Vec<NodeId>)> = plan
            .schedule
            .iter()
            .filter(|id| !self.absorbed[id.0])
            .map(|&id| match &self.groups[id.0] {
                Some(g) => (id, g.leaves.clone()),
                None => (id, graph.node(id).inputs.clone()),
            })
            .collect();
        let (slots, arena_len) = assign_slots(graph, &fed, &steps, &plan.roots());
        plan.slots = slots;
        plan.arena_len = arena_len;
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Graph, PlanOutputs};

    const LIMITS: FusionLimits = FusionLimits {
        max_inputs: 6,
        max_row: usize::MAX,
        min_len: 0,
    };

    fn plan_of(g: Graph, out: NodeId) -> Plan {
        let outputs = PlanOutputs {
            predictions: vec![out],
            ..Default::default()
        };
        Plan::new(g, outputs, Vec::new(), None)
    }

    #[test]
    fn a_chain_becomes_one_group_reading_each_input_once() {
        let mut g = Graph::new();
        let a = g.input([4, 8]);
        let b = g.input([4, 8]);
        let c = g.input([8]);
        let ab = g.mul(a, b).unwrap();
        let abc = g.add(ab, c).unwrap();
        let out = g.relu(abc).unwrap();
        let fusion = Fusion::of(&plan_of(g, out), LIMITS);
        let group = fusion.groups[out.0].as_ref().unwrap();
        assert_eq!(group.members, vec![ab, abc, out]);
        let mut leaves = group.leaves.clone();
        leaves.sort();
        assert_eq!(leaves, vec![a, b, c]);
        assert!(fusion.absorbed[ab.0] && fusion.absorbed[abc.0] && !fusion.absorbed[out.0]);
    }

    #[test]
    fn a_broadcast_read_only_by_a_group_is_read_through() {
        let mut g = Graph::new();
        let a = g.input([4, 8]);
        let c = g.input([1, 8]);
        let wide = g.broadcast_to(c, [4, 8]).unwrap();
        let out = g.mul(a, wide).unwrap();
        let plan = plan_of(g, out);
        let fusion = Fusion::of(&plan, LIMITS);
        let group = fusion.groups[out.0].as_ref().unwrap();
        assert_eq!(group.members, vec![out]);
        assert_eq!(group.broadcasts, vec![(wide, c)]);
        assert_eq!(group.operand(wide), c);
        assert!(group.leaves.contains(&c) && !group.leaves.contains(&wide));
        assert!(fusion.absorbed[wide.0]);
        assert!(fusion.relayout(plan).slots[wide.0].is_none());
    }

    #[test]
    fn a_value_read_twice_or_kept_is_stored() {
        let mut g = Graph::new();
        let a = g.input([4]);
        let e = g.exp(a).unwrap();
        let twice = g.mul(e, e).unwrap();
        let out = g.neg(twice).unwrap();
        let plan = plan_of(g, out);
        let fusion = Fusion::of(&plan, LIMITS);
        assert!(!fusion.absorbed[e.0], "exp is read twice");
        assert!(fusion.absorbed[twice.0]);
        let relaid = fusion.relayout(plan);
        assert!(relaid.slots[twice.0].is_none() && relaid.slots[e.0].is_some());
    }
}
