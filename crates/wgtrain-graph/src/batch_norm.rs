//! Batch normalization by the batch's statistics as two ops, `Moments` and `BatchNorm`, and
//! their gradient rules. The gradient of `BatchNorm` with respect to x is the whole derivative,
//! the path through the moments included:
//! `dx = scale * (dy - mean(dy) - (x - mean) * mean(dy * (x - mean)) / (variance + epsilon))`,
//! one reduction and one elementwise pass instead of the chain of ops the formula as written
//! differentiates into.

use crate::error::GraphError;
use crate::graph::{Graph, NodeId};
use crate::op::Op;

type Grads = Result<Vec<Option<NodeId>>, GraphError>;

impl Graph {
    /// Batch normalization of `x` [rows, c] by its own statistics: (the normalized x, the
    /// moments [2, c]: the columns' means, then their biased variances).
    pub fn batch_norm(
        &mut self,
        x: NodeId,
        gamma: NodeId,
        beta: NodeId,
        epsilon: f32,
    ) -> Result<(NodeId, NodeId), GraphError> {
        let moments = self.push(Op::Moments, &[x])?;
        let y = self.push(Op::BatchNorm { epsilon }, &[x, moments, gamma, beta])?;
        Ok((y, moments))
    }
}

/// `d/dx` of `Moments(x)`: `(d mean + 2 * d variance * (x - mean)) / rows`.
pub(crate) fn moments_gradient(g: &mut Graph, moments: NodeId, dy: NodeId) -> Grads {
    let x = g.node(moments).inputs[0];
    let rows = g.shape(x).0[0] as f32;
    let mean = g.slice(moments, 0, 0, 1)?;
    let d_mean = g.slice(dy, 0, 0, 1)?;
    let d_variance = g.slice(dy, 0, 1, 2)?;
    let centered = g.sub(x, mean)?;
    let twice = g.mul_scalar(d_variance, 2.0)?;
    let spread = g.mul(centered, twice)?;
    let total = g.add(spread, d_mean)?;
    Ok(vec![Some(g.mul_scalar(total, 1.0 / rows)?)])
}

/// The gradients of `BatchNorm` with respect to x, its moments (none: x's takes them in),
/// gamma and beta.
pub(crate) fn batch_norm_gradients(g: &mut Graph, y: NodeId, epsilon: f32, dy: NodeId) -> Grads {
    let inputs = g.node(y).inputs.clone();
    let [x, moments, gamma, beta] = inputs[..] else {
        unreachable!("the shape rule gives BatchNorm four inputs")
    };
    let of_x = matches!(g.node(moments).op, Op::Moments) && g.node(moments).inputs == [x];
    if !of_x {
        return Err(GraphError::NoGradient {
            op: "batchnorm".into(),
            message: "its moments must be the Moments of its input x (Graph::batch_norm)".into(),
        });
    }
    let operands = [dy, x, moments, gamma];
    let dx = g.push(Op::BatchNormGrad { epsilon, wrt: 0 }, &operands)?;
    let d_gamma = g.push(Op::BatchNormGrad { epsilon, wrt: 2 }, &operands)?;
    let beta_shape = g.shape(beta).clone();
    let d_beta = g.sum_to(dy, &beta_shape)?;
    Ok(vec![Some(dx), None, Some(d_gamma), Some(d_beta)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::gradients;

    #[test]
    fn batch_norm_builds_its_moments_and_checks_them_when_differentiated() {
        let mut g = Graph::new();
        let x = g.input([6, 3]);
        let gamma = g.input([3]);
        let beta = g.input([3]);
        let (y, moments) = g.batch_norm(x, gamma, beta, 1e-3).unwrap();
        assert_eq!(g.shape(moments).0, [2, 3]);
        assert_eq!(g.shape(y).0, [6, 3]);
        let loss = g.sum(y, 0, false).unwrap();
        let loss = g.sum(loss, 0, false).unwrap();
        let grads = gradients(&mut g, loss, &[x, gamma, beta]).unwrap();
        assert!(grads.iter().all(Option::is_some));

        let other = g.input([2, 3]);
        let y = g
            .push(Op::BatchNorm { epsilon: 1e-3 }, &[x, other, gamma, beta])
            .unwrap();
        let loss = g.sum(y, 0, false).unwrap();
        let loss = g.sum(loss, 0, false).unwrap();
        let err = gradients(&mut g, loss, &[x]).unwrap_err().to_string();
        assert!(err.contains("Moments of its input"), "{err}");
    }

    #[test]
    fn shapes_are_checked() {
        let mut g = Graph::new();
        let x = g.input([6, 3]);
        let gamma = g.input([4]);
        let beta = g.input([3]);
        let err = g.batch_norm(x, gamma, beta, 1e-3).unwrap_err().to_string();
        assert!(err.contains("gamma [3]"), "{err}");
        let x3 = g.input([2, 6, 3]);
        assert!(g.push(Op::Moments, &[x3]).is_err());
    }
}
