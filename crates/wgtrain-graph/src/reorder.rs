//! Rewrites that move a reduction ahead of the elementwise ops before it, where that computes
//! the same values on less data.

use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};

/// One non-decreasing elementwise step between a tensor and its maximum.
enum Monotone {
    Relu,
    /// Adding a tensor that is constant along the reduced axis.
    Add(NodeId),
}

impl Graph {
    /// `max(f(x), axis)` as `f(max(x, axis))` when `f` is a chain of relus and additions of
    /// tensors constant along `axis` (a Conv1D's bias and relu before a max pooling): both are
    /// non-decreasing, so the maxima are the same values, and the elementwise ops run on the
    /// reduced tensor. The gradient reaches the same positions, except where two inputs are
    /// distinct but round to the same value after the addition (the original would share the
    /// gradient between them).
    pub(crate) fn max_before_monotone(
        &mut self,
        x: NodeId,
        axis: usize,
        keepdims: bool,
    ) -> Option<Result<NodeId, crate::GraphError>> {
        let mut chain = Vec::new();
        let mut inner = x;
        while let Some((step, source)) = self.monotone_step(inner, axis) {
            chain.push(step);
            inner = source;
        }
        if chain.is_empty() {
            return None;
        }
        let op = Op::Reduce {
            op: ReduceOp::Max,
            axis,
            keepdims,
        };
        let rebuilt = (|| {
            let mut y = self.push(op, &[inner])?;
            for step in chain.iter().rev() {
                y = match *step {
                    Monotone::Relu => self.relu(y)?,
                    Monotone::Add(b) => self.add(y, b)?,
                };
            }
            Ok(y)
        })();
        Some(rebuilt)
    }

    /// The step that produced `x` and its varying input, if it is one of the `Monotone` kinds.
    fn monotone_step(&self, x: NodeId, axis: usize) -> Option<(Monotone, NodeId)> {
        let node = self.node(x);
        match node.op {
            Op::Unary(UnaryOp::Relu) => Some((Monotone::Relu, node.inputs[0])),
            Op::Binary(BinaryOp::Add) => {
                let (a, b) = (node.inputs[0], node.inputs[1]);
                let rank = node.shape.rank();
                // A tensor that only spans axes after `axis` (a bias) is constant along it and
                // broadcasts the same way against the reduced tensor.
                let after_axis = |t: NodeId| self.shape(t).rank() < rank - axis;
                if self.shape(a) == &node.shape && after_axis(b) {
                    Some((Monotone::Add(b), a))
                } else if self.shape(b) == &node.shape && after_axis(a) {
                    Some((Monotone::Add(a), b))
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}
