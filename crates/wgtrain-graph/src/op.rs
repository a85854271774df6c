use crate::conv::{Conv1dGeometry, Conv2dGeometry, PoolKind};
use crate::dtype::DType;
use crate::recurrent::RecurrentSpec;
use crate::shape::Shape;
use serde::{Deserialize, Serialize};

/// Index of a trainable parameter in the model's parameter store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ParamId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Relu,
    Sigmoid,
    Tanh,
    Exp,
    Log,
    Sqrt,
    Square,
    /// 1 where x > 0, else 0: the derivative of relu.
    Step,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// 1 where a == b, else 0.
    Equal,
    /// 1 where a >= b, else 0.
    GreaterEqual,
    Maximum,
    Minimum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccuracyKind {
    /// argmax(prediction) == argmax(one-hot label), over the last axis.
    Categorical,
    /// (prediction > 0.5) == (label > 0.5), elementwise.
    Binary,
}

/// The whole op set. Every op has a shape rule (`infer.rs`), a gradient rule (`autodiff.rs`)
/// and a kernel in every backend.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A value fed each step (a batch of features or labels), by position.
    Input {
        index: usize,
    },
    /// A trainable parameter that lives in the backend for the whole run.
    Param {
        id: ParamId,
    },
    /// A scalar constant.
    Const {
        value: f32,
    },
    Unary(UnaryOp),
    /// Elementwise with numpy broadcasting.
    Binary(BinaryOp),
    /// `op(a) @ op(b)` over the last two axes; leading axes are batch axes of equal size,
    /// or `b` is 2-D and shared by every batch.
    MatMul {
        ta: bool,
        tb: bool,
    },
    Reduce {
        op: ReduceOp,
        axis: usize,
        keepdims: bool,
    },
    Softmax {
        axis: usize,
    },
    LogSoftmax {
        axis: usize,
    },
    Concat {
        axis: usize,
    },
    Slice {
        axis: usize,
        start: usize,
        end: usize,
    },
    /// Zero padding along one axis: the gradient of `Slice`.
    Pad {
        axis: usize,
        before: usize,
        after: usize,
    },
    Reshape {
        shape: Shape,
    },
    BroadcastTo {
        shape: Shape,
    },
    /// Sums broadcast axes away: the gradient of broadcasting.
    SumTo {
        shape: Shape,
    },
    /// Inverted dropout; the mask comes from the counter-based RNG keyed by (seed, step, key, index).
    Dropout {
        rate: f32,
        key: u32,
    },
    /// Converts element types: int32 to float32 exactly, float32 to int32 toward zero.
    Cast {
        to: DType,
    },
    /// (table [rows, ...], int32 ids [...]) -> rows of the table, shape ids ++ table[1..].
    /// An id outside the table reads zeros (callers reject such ids before a run).
    Gather,
    /// (values [ids..., ...], int32 ids) -> [rows, ...]: each id's values summed into its row,
    /// in ascending position order. The gradient of `Gather` with respect to the table.
    ScatterAddRows {
        rows: usize,
    },
    /// (x [batch, length, in], kernel [taps, in, out]) -> [batch, out_len, out]: a 1-D
    /// convolution (cross-correlation, as Keras) over the length axis.
    Conv1d(Conv1dGeometry),
    /// (dy [batch, out_len, out], kernel) -> dx [batch, length, in].
    Conv1dBackwardData(Conv1dGeometry),
    /// (x, dy) -> dkernel [taps, in, out].
    Conv1dBackwardFilter(Conv1dGeometry),
    /// (x [batch, height, width, in], kernel [kh, kw, in, out]) -> [batch, out_h, out_w, out]:
    /// a 2-D convolution (cross-correlation, as Keras) over channels-last images.
    Conv2d(Conv2dGeometry),
    /// (dy [batch, out_h, out_w, out], kernel) -> dx [batch, height, width, in].
    Conv2dBackwardData(Conv2dGeometry),
    /// (x, dy) -> dkernel [kh, kw, in, out].
    Conv2dBackwardFilter(Conv2dGeometry),
    /// x [batch, height, width, c] -> [batch, out_h, out_w, c]: the maximum or the mean of each
    /// window, per channel; padded positions never enter.
    Pool2d {
        kind: PoolKind,
        geo: Conv2dGeometry,
    },
    /// The gradient of `Pool2d` with respect to x: (dy, x) for a maximum, each window's dy going
    /// to its first maximum; (dy) for a mean, each window's dy shared by its inside positions.
    Pool2dGrad {
        kind: PoolKind,
        geo: Conv2dGeometry,
    },
    /// Class indices (stored as f32) to one-hot rows.
    OneHot {
        depth: usize,
    },
    /// Mean over rows of -sum(labels * log_softmax(logits)) along the last axis.
    SoftmaxCrossEntropy,
    /// (logits, labels, upstream scalar) -> d loss / d logits.
    SoftmaxCrossEntropyGrad,
    /// Mean over all elements of the binary cross-entropy of sigmoid(logits) against targets.
    SigmoidBinaryCrossEntropy,
    /// (logits, targets, upstream scalar) -> d loss / d logits.
    SigmoidBinaryCrossEntropyGrad,
    /// Fraction of correct predictions in the batch.
    Accuracy {
        kind: AccuracyKind,
    },
    /// (h [..., 2w], s [..., w], bias [2w] when `biased`, optional mask [..., 1]) ->
    /// `(g * s + (1 - g) * v) * mask`, where `g = sigmoid(dropout(gate half of h + bias))` and
    /// `v` is the other half (plus bias): the elementwise tail of a gated residual block in one
    /// pass. The dropout draws from the stream of `key` with the
    /// gate half's element index, as a `Dropout` of that half would.
    GatedMix(GatedMix),
    /// (dy, h, s, optional mask) -> the gradient of `GatedMix` with respect to its input `wrt`.
    GatedMixGrad {
        mix: GatedMix,
        wrt: usize,
    },
    /// x [rows, c] -> [2, c]: each column's mean (row 0) and biased variance (row 1), the
    /// batch statistics of batch normalization.
    Moments,
    /// (x [rows, c], `Moments` of x, gamma [c], beta [c]) -> `x * scale + (beta - mean *
    /// scale)` with `scale = gamma / sqrt(variance + epsilon)`: batch normalization by the
    /// batch's own statistics. Its gradient with respect to x takes in the path through the
    /// moments, so the moments input gets none.
    BatchNorm {
        epsilon: f32,
    },
    /// (dy, x, moments, gamma) -> the gradient of `BatchNorm` with respect to x (`wrt` 0) or
    /// gamma (`wrt` 2).
    BatchNormGrad {
        epsilon: f32,
        wrt: usize,
    },
    /// A recurrent layer's walk over the whole sequence (`recurrent.rs`): one packed output
    /// whose parts are read through `Part` views.
    Recurrent(RecurrentSpec),
    /// (the upstream gradients `upstream` marks present, the forward op's packed output, the
    /// recurrent kernel, the mask when masked) -> the packed gradients of the reverse walk.
    RecurrentGrad {
        spec: RecurrentSpec,
        upstream: [bool; 4],
        steps: usize,
    },
    /// The region of a packed tensor starting at element `offset`, of shape `shape`: a view
    /// that shares the packed tensor's slot.
    Part {
        offset: usize,
        shape: Shape,
    },
}

/// Which half of `h`'s last axis a gated mix reads as the gate and which as the value, and the
/// gate's dropout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GatedMix {
    /// The first column of the gate half (0 or w).
    pub gate: usize,
    /// The first column of the value half (w or 0).
    pub value: usize,
    /// Whether a bias is added to h first (the block's convolution bias).
    pub biased: bool,
    pub rate: f32,
    pub key: u32,
}

impl Op {
    pub fn name(&self) -> String {
        match self {
            Op::Unary(u) => format!("{u:?}").to_lowercase(),
            Op::Binary(b) => format!("{b:?}").to_lowercase(),
            Op::Reduce { op, .. } => format!("reduce_{op:?}").to_lowercase(),
            other => {
                let s = format!("{other:?}");
                let head = s.split([' ', '{', '(']).next().unwrap_or("op").to_string();
                head.to_lowercase()
            }
        }
    }

    pub fn is_leaf(&self) -> bool {
        matches!(self, Op::Input { .. } | Op::Param { .. } | Op::Const { .. })
    }
}
