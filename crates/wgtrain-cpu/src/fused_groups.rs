//! The plan's elementwise groups (`wgtrain_graph::fusion`) as programs for `kernels::fused`:
//! which nodes are computed inside another node's group, and what each group's root runs.
//! Also the gated mixes' gradient pairs: a gated mix's s-gradient scheduled right after its
//! h-gradient is computed in the same pass (the two read the same tensors, and since the first
//! frees none of them, the second's slot holds nothing live while the first runs). When the
//! h-gradient's sum over rows (the convolution bias's gradient) comes right after the pair, the
//! pass sums it too, into scratch, and writes it only once every read of the pass is done.

use crate::kernels::fused::{self, Arg, Leaf, Step};
use crate::kernels::PAR_MIN;
use wgtrain_graph::fusion::{Fusion, FusionLimits};
use wgtrain_graph::shape::rows_view;
use wgtrain_graph::{NodeId, Op, Plan};

/// Groups read at most this many tensors.
const MAX_LEAVES: usize = 6;

/// Groups of the CPU: any row length, and only outputs large enough that one pass instead of
/// several pays for the chunk bookkeeping.
pub const LIMITS: FusionLimits = FusionLimits {
    max_inputs: MAX_LEAVES,
    max_row: usize::MAX,
    min_len: PAR_MIN,
};

struct Program {
    steps: Vec<Step>,
    /// Each leaf with its (row stride, col stride) in the output's rows x cols view.
    leaves: Vec<(NodeId, usize, usize)>,
    cols: usize,
}

#[derive(Default)]
pub struct FusedGroups {
    absorbed: Vec<bool>,
    /// The program of each group root of two or more nodes (a broadcast read through counts),
    /// by node index.
    programs: Vec<Option<Program>>,
    /// The s-gradient computed with each gated mix's h-gradient, by the h-gradient's index.
    gradient_pairs: Vec<Option<NodeId>>,
    /// The bias gradient (a sum of the h-gradient's rows) computed in the same pass.
    bias_sums: Vec<Option<NodeId>>,
}

impl FusedGroups {
    pub fn of(plan: &Plan, fusion: &Fusion) -> Self {
        let graph = &plan.graph;
        let programs = fusion
            .groups
            .iter()
            .map(|g| {
                let g = g
                    .as_ref()
                    .filter(|g| g.members.len() > 1 || !g.broadcasts.is_empty())?;
                let root = *g.members.last()?;
                let out = graph.shape(root);
                let leaves: Vec<(NodeId, usize, usize)> = g
                    .leaves
                    .iter()
                    .map(|&l| {
                        let (rs, cs) = rows_view(graph.shape(l), out).expect("a fused leaf fits");
                        (l, rs, cs)
                    })
                    .collect();
                let arg = |x: NodeId| match g.members.iter().position(|&m| m == x) {
                    Some(k) => Arg::Step(k),
                    None => Arg::Leaf(leaves.iter().position(|l| l.0 == x).expect("a leaf")),
                };
                let steps = g
                    .members
                    .iter()
                    .map(|&m| {
                        let node = graph.node(m);
                        match node.op {
                            Op::Unary(u) => Step::Unary(u, arg(g.operand(node.inputs[0]))),
                            Op::Binary(b) => Step::Binary(
                                b,
                                arg(g.operand(node.inputs[0])),
                                arg(g.operand(node.inputs[1])),
                            ),
                            _ => unreachable!("fusion groups hold elementwise nodes only"),
                        }
                    })
                    .collect();
                Some(Program {
                    steps,
                    leaves,
                    cols: out.0.last().copied().unwrap_or(1),
                })
            })
            .collect();
        let mut absorbed = fusion.absorbed.clone();
        let mut gradient_pairs = vec![None; graph.nodes.len()];
        let executed: Vec<NodeId> = plan
            .schedule
            .iter()
            .copied()
            .filter(|n| !absorbed[n.0])
            .collect();
        let mut bias_sums = vec![None; graph.nodes.len()];
        for (k, pair) in executed.windows(2).enumerate() {
            let (h, s) = (graph.node(pair[0]), graph.node(pair[1]));
            if let (Op::GatedMixGrad { mix, wrt: 0 }, Op::GatedMixGrad { mix: mix_s, wrt: 1 }) =
                (&h.op, &s.op)
            {
                if mix == mix_s && h.inputs == s.inputs {
                    gradient_pairs[pair[0].0] = Some(pair[1]);
                    absorbed[pair[1].0] = true;
                    let bias = executed.get(k + 2).copied().filter(|&b| {
                        let node = graph.node(b);
                        matches!(node.op, Op::SumTo { .. })
                            && node.inputs == [pair[0]]
                            && node.shape.0 == [h.shape.last()]
                    });
                    if let Some(b) = bias {
                        bias_sums[pair[0].0] = Some(b);
                        absorbed[b.0] = true;
                    }
                }
            }
        }
        Self {
            absorbed,
            programs,
            gradient_pairs,
            bias_sums,
        }
    }

    /// The bias gradient to sum in the pass of the h-gradient `id`, if any.
    pub fn bias_sum(&self, id: NodeId) -> Option<NodeId> {
        self.bias_sums.get(id.0).copied().flatten()
    }

    /// The gated mix s-gradient to compute with the h-gradient `id`, if any.
    pub fn gradient_pair(&self, id: NodeId) -> Option<NodeId> {
        self.gradient_pairs.get(id.0).copied().flatten()
    }

    /// Whether `id` is computed inside another node's group or pass (and so is skipped).
    pub fn absorbed(&self, id: NodeId) -> bool {
        self.absorbed.get(id.0).copied().unwrap_or(false)
    }

    /// Runs the group rooted at `id` into `out`, if there is one; `input` gives a node's values.
    pub fn run<'a>(
        &self,
        id: NodeId,
        input: impl Fn(NodeId) -> &'a [f32],
        out: &mut [f32],
    ) -> bool {
        let Some(Some(p)) = self.programs.get(id.0) else {
            return false;
        };
        let mut views = [Leaf::default(); MAX_LEAVES];
        for (v, &(node, rs, cs)) in views.iter_mut().zip(&p.leaves) {
            *v = Leaf {
                data: input(node),
                row_stride: rs,
                col_stride: cs,
            };
        }
        fused::run(&p.steps, &views[..p.leaves.len()], out, p.cols);
        true
    }
}
