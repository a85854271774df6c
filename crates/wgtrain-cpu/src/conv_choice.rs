//! Which algorithm each convolution of a plan runs with. `ConvAlgorithm::Auto` takes Winograd
//! except where a maximum or a comparison reads the convolution's outputs (through elementwise
//! and layout ops): there a rounding difference becomes a different selection, and the direct
//! GEMMs' rounding keeps the steps with Keras'.

use crate::kernels::conv::ConvAlgorithm;
use wgtrain_graph::{BinaryOp, NodeId, Op, Plan, ReduceOp};

/// The algorithm of every node (only convolutions read theirs).
pub fn per_node(plan: &Plan, setting: ConvAlgorithm) -> Vec<ConvAlgorithm> {
    let graph = &plan.graph;
    let n = graph.nodes.len();
    let resolved = |id: usize| match setting {
        ConvAlgorithm::Auto if selects(plan, NodeId(id)) => ConvAlgorithm::Gemm,
        ConvAlgorithm::Auto => ConvAlgorithm::Winograd,
        other => other,
    };
    (0..n)
        .map(|i| match graph.nodes[i].op {
            Op::Conv1d(_) | Op::Conv1dBackwardData(_) | Op::Conv1dBackwardFilter(_) => resolved(i),
            _ => ConvAlgorithm::Gemm,
        })
        .collect()
}

/// Whether a maximum or comparison reads `conv`'s values through ops that carry them along.
fn selects(plan: &Plan, conv: NodeId) -> bool {
    let graph = &plan.graph;
    let mut frontier = vec![conv];
    let mut seen = vec![false; graph.nodes.len()];
    while let Some(x) = frontier.pop() {
        for &reader in &plan.schedule {
            let node = graph.node(reader);
            if seen[reader.0] || !node.inputs.contains(&x) {
                continue;
            }
            seen[reader.0] = true;
            match node.op {
                Op::Reduce {
                    op: ReduceOp::Max, ..
                }
                | Op::Binary(
                    BinaryOp::Maximum
                    | BinaryOp::Minimum
                    | BinaryOp::Equal
                    | BinaryOp::GreaterEqual,
                ) => return true,
                Op::Unary(_)
                | Op::Binary(_)
                | Op::Slice { .. }
                | Op::Pad { .. }
                | Op::Reshape { .. }
                | Op::Concat { .. }
                | Op::BroadcastTo { .. }
                | Op::Dropout { .. } => frontier.push(reader),
                _ => {}
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgtrain_graph::{Conv1dGeometry, Graph, Padding, ParamId, PlanOutputs};

    fn plan_of(g: Graph, out: NodeId) -> Plan {
        let outputs = PlanOutputs {
            predictions: vec![out],
            ..Default::default()
        };
        Plan::new(g, outputs, Vec::new(), None)
    }

    fn conv(g: &mut Graph) -> NodeId {
        let x = g.input([2, 10, 3]);
        let w = g.param(ParamId(0), [3, 3, 4]);
        let geo = Conv1dGeometry::new(10, 3, 1, 1, Padding::Same).unwrap();
        g.conv1d(x, w, geo).unwrap()
    }

    #[test]
    fn auto_keeps_the_direct_gemms_where_a_maximum_reads_the_outputs() {
        // conv -> bias -> relu -> two pooling taps -> maximum.
        let mut g = Graph::new();
        let y = conv(&mut g);
        let b = g.param(ParamId(1), [4]);
        let y2 = g.add(y, b).unwrap();
        let r = g.relu(y2).unwrap();
        let even = g.slice(r, 1, 0, 5).unwrap();
        let odd = g.slice(r, 1, 5, 10).unwrap();
        let out = g.binary(BinaryOp::Maximum, even, odd).unwrap();
        let choice = per_node(&plan_of(g, out), ConvAlgorithm::Auto);
        assert_eq!(choice[y.0], ConvAlgorithm::Gemm);

        // conv -> global max pooling.
        let mut g = Graph::new();
        let y = conv(&mut g);
        let out = g.max(y, 1, false).unwrap();
        let plan = plan_of(g, out);
        assert_eq!(
            per_node(&plan, ConvAlgorithm::Auto)[y.0],
            ConvAlgorithm::Gemm
        );
        assert_eq!(
            per_node(&plan, ConvAlgorithm::Winograd)[y.0],
            ConvAlgorithm::Winograd
        );
    }

    #[test]
    fn auto_takes_winograd_where_no_maximum_reads_the_outputs() {
        let mut g = Graph::new();
        let y = conv(&mut g);
        let t = g.tanh(y).unwrap();
        let out = g.mean(t, 1, false).unwrap();
        let plan = plan_of(g, out);
        assert_eq!(
            per_node(&plan, ConvAlgorithm::Auto)[y.0],
            ConvAlgorithm::Winograd
        );
        assert_eq!(
            per_node(&plan, ConvAlgorithm::Gemm)[y.0],
            ConvAlgorithm::Gemm
        );
    }
}
