//! Losses and the accuracy each implies, as graph builders. A softmax or sigmoid output feeds
//! its logits to the fused cross-entropy op, which is both faster and stable.

use anyhow::{bail, Result};
use wgtrain_graph::{AccuracyKind, Graph, NodeId, Op, UnaryOp};

const EPSILON: f32 = 1e-7;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    MeanSquaredError,
}

impl Loss {
    /// The Keras name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::BinaryCrossentropy => "binary_crossentropy",
            Self::CategoricalCrossentropy => "categorical_crossentropy",
            Self::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Self::MeanSquaredError => "mean_squared_error",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "binary_crossentropy" => Self::BinaryCrossentropy,
            "categorical_crossentropy" => Self::CategoricalCrossentropy,
            "sparse_categorical_crossentropy" => Self::SparseCategoricalCrossentropy,
            "mse" | "mean_squared_error" => Self::MeanSquaredError,
            other => bail!(
                "unknown loss '{other}'; known: binary_crossentropy, categorical_crossentropy, \
                 sparse_categorical_crossentropy, mean_squared_error (mse)"
            ),
        })
    }

    /// The scalar batch-mean loss of `pred` against `target`.
    pub fn build(self, g: &mut Graph, pred: NodeId, target: NodeId) -> Result<NodeId> {
        match self {
            Self::SparseCategoricalCrossentropy => {
                let onehot = g.one_hot(target, g.shape(pred).last())?;
                Self::CategoricalCrossentropy.build(g, pred, onehot)
            }
            Self::CategoricalCrossentropy => {
                let node = g.node(pred).clone();
                let last = node.shape.rank().saturating_sub(1);
                if matches!(node.op, Op::Softmax { axis } if axis == last) {
                    return Ok(g.softmax_cross_entropy(node.inputs[0], target)?);
                }
                let p = g.add_scalar(pred, EPSILON)?;
                let logp = g.log(p)?;
                let t = g.mul(target, logp)?;
                let per_row = g.sum(t, -1, false)?;
                let mean = mean_all(g, per_row)?;
                Ok(g.neg(mean)?)
            }
            Self::BinaryCrossentropy => {
                let node = g.node(pred).clone();
                if node.op == Op::Unary(UnaryOp::Sigmoid) {
                    return Ok(g.sigmoid_binary_cross_entropy(node.inputs[0], target)?);
                }
                let p = g.add_scalar(pred, EPSILON)?;
                let logp = g.log(p)?;
                let one = g.scalar(1.0 + EPSILON);
                let q = g.sub(one, pred)?;
                let logq = g.log(q)?;
                let c1 = g.scalar(1.0);
                let not_t = g.sub(c1, target)?;
                let a = g.mul(target, logp)?;
                let b = g.mul(not_t, logq)?;
                let s = g.add(a, b)?;
                let mean = mean_all(g, s)?;
                Ok(g.neg(mean)?)
            }
            Self::MeanSquaredError => {
                let d = g.sub(pred, target)?;
                let sq = g.square(d)?;
                mean_all(g, sq)
            }
        }
    }

    /// The accuracy Keras picks for this loss.
    pub fn accuracy(self, g: &mut Graph, pred: NodeId, target: NodeId) -> Result<NodeId> {
        let kind = match self {
            Self::BinaryCrossentropy => AccuracyKind::Binary,
            Self::CategoricalCrossentropy => AccuracyKind::Categorical,
            Self::SparseCategoricalCrossentropy => {
                let onehot = g.one_hot(target, g.shape(pred).last())?;
                return Ok(g.accuracy(AccuracyKind::Categorical, pred, onehot)?);
            }
            Self::MeanSquaredError if g.shape(pred).last() == 1 => AccuracyKind::Binary,
            Self::MeanSquaredError => AccuracyKind::Categorical,
        };
        Ok(g.accuracy(kind, pred, target)?)
    }
}

fn mean_all(g: &mut Graph, x: NodeId) -> Result<NodeId> {
    let n = g.shape(x).numel();
    let flat = g.reshape(x, [n])?;
    Ok(g.mean(flat, 0, false)?)
}
