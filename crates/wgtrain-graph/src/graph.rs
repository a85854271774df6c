use crate::conv::{Conv1dGeometry, Conv2dGeometry, PoolKind};
use crate::dtype::DType;
use crate::error::GraphError;
use crate::infer::{infer_dtype, infer_shape};
use crate::op::{AccuracyKind, BinaryOp, Op, ParamId, ReduceOp, UnaryOp};
use crate::shape::Shape;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<NodeId>,
    pub shape: Shape,
    pub dtype: DType,
}

/// A static dataflow graph. Nodes are appended in dependency order, so the node list is
/// already a topological order.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// Shapes of the step inputs, by `Op::Input` index.
    pub input_shapes: Vec<Shape>,
    /// Element types of the step inputs, by `Op::Input` index.
    pub input_dtypes: Vec<DType>,
}

type R = Result<NodeId, GraphError>;

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }
    pub fn shape(&self, id: NodeId) -> &Shape {
        &self.nodes[id.0].shape
    }
    pub fn dtype(&self, id: NodeId) -> DType {
        self.nodes[id.0].dtype
    }

    /// Appends a node after checking its shape and type rules. A node with an empty dimension
    /// is rejected: no kernel is asked to handle zero-sized tensors.
    pub fn push(&mut self, op: Op, inputs: &[NodeId]) -> R {
        if let Some(x) = inputs.iter().find(|i| i.0 >= self.nodes.len()) {
            return Err(GraphError::Invalid(format!(
                "{}: input node {} does not exist in this graph",
                op.name(),
                x.0
            )));
        }
        let shapes: Vec<&Shape> = inputs.iter().map(|i| &self.nodes[i.0].shape).collect();
        let shape = infer_shape(&op, &shapes)?;
        let dtypes: Vec<DType> = inputs.iter().map(|i| self.nodes[i.0].dtype).collect();
        let dtype = infer_dtype(&op, &dtypes)?;
        if shape.rank() > crate::shape::MAX_RANK {
            return Err(GraphError::Shape {
                op: op.name(),
                message: format!(
                    "its output {shape} has rank {}; tensors of rank up to {} are supported",
                    shape.rank(),
                    crate::shape::MAX_RANK
                ),
            });
        }
        if shape.0.contains(&0) {
            return Err(GraphError::Shape {
                op: op.name(),
                message: format!("its output would have an empty dimension: {shape}"),
            });
        }
        self.nodes.push(Node {
            op,
            inputs: inputs.to_vec(),
            shape,
            dtype,
        });
        Ok(NodeId(self.nodes.len() - 1))
    }

    fn leaf(&mut self, op: Op, shape: Shape, dtype: DType) -> NodeId {
        self.nodes.push(Node {
            op,
            inputs: Vec::new(),
            shape,
            dtype,
        });
        NodeId(self.nodes.len() - 1)
    }

    /// A new float32 step input of the given shape (batch dimension included).
    pub fn input(&mut self, shape: impl Into<Shape>) -> NodeId {
        self.typed_input(shape, DType::F32)
    }

    /// A new step input of the given shape and element type.
    pub fn typed_input(&mut self, shape: impl Into<Shape>, dtype: DType) -> NodeId {
        let shape = shape.into();
        let index = self.input_shapes.len();
        self.input_shapes.push(shape.clone());
        self.input_dtypes.push(dtype);
        self.leaf(Op::Input { index }, shape, dtype)
    }
    pub fn param(&mut self, id: ParamId, shape: impl Into<Shape>) -> NodeId {
        self.leaf(Op::Param { id }, shape.into(), DType::F32)
    }
    pub fn scalar(&mut self, value: f32) -> NodeId {
        self.leaf(Op::Const { value }, Shape::scalar(), DType::F32)
    }

    pub fn unary(&mut self, op: UnaryOp, x: NodeId) -> R {
        self.push(Op::Unary(op), &[x])
    }
    pub fn neg(&mut self, x: NodeId) -> R {
        self.unary(UnaryOp::Neg, x)
    }
    pub fn relu(&mut self, x: NodeId) -> R {
        self.unary(UnaryOp::Relu, x)
    }
    pub fn sigmoid(&mut self, x: NodeId) -> R {
        self.unary(UnaryOp::Sigmoid, x)
    }
    pub fn tanh(&mut self, x: NodeId) -> R {
        self.unary(UnaryOp::Tanh, x)
    }
    pub fn exp(&mut self, x: NodeId) -> R {
        self.unary(UnaryOp::Exp, x)
    }
    pub fn log(&mut self, x: NodeId) -> R {
        self.unary(UnaryOp::Log, x)
    }
    pub fn sqrt(&mut self, x: NodeId) -> R {
        self.unary(UnaryOp::Sqrt, x)
    }
    pub fn square(&mut self, x: NodeId) -> R {
        self.unary(UnaryOp::Square, x)
    }
    pub fn step(&mut self, x: NodeId) -> R {
        self.unary(UnaryOp::Step, x)
    }

    pub fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> R {
        self.push(Op::Binary(op), &[a, b])
    }
    pub fn add(&mut self, a: NodeId, b: NodeId) -> R {
        if let Some(mix) = self.recognize_gated_mix(a, b) {
            return mix;
        }
        self.binary(BinaryOp::Add, a, b)
    }
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> R {
        self.binary(BinaryOp::Sub, a, b)
    }
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> R {
        if let Some(masked) = self.recognize_masked_gated_mix(a, b) {
            return masked;
        }
        self.binary(BinaryOp::Mul, a, b)
    }
    pub fn div(&mut self, a: NodeId, b: NodeId) -> R {
        self.binary(BinaryOp::Div, a, b)
    }
    pub fn equal(&mut self, a: NodeId, b: NodeId) -> R {
        self.binary(BinaryOp::Equal, a, b)
    }
    pub fn greater_equal(&mut self, a: NodeId, b: NodeId) -> R {
        self.binary(BinaryOp::GreaterEqual, a, b)
    }
    pub fn maximum(&mut self, a: NodeId, b: NodeId) -> R {
        self.binary(BinaryOp::Maximum, a, b)
    }
    pub fn minimum(&mut self, a: NodeId, b: NodeId) -> R {
        self.binary(BinaryOp::Minimum, a, b)
    }
    pub fn mul_scalar(&mut self, a: NodeId, s: f32) -> R {
        let c = self.scalar(s);
        self.mul(a, c)
    }
    pub fn add_scalar(&mut self, a: NodeId, s: f32) -> R {
        let c = self.scalar(s);
        self.add(a, c)
    }

    pub fn matmul(&mut self, a: NodeId, b: NodeId) -> R {
        self.matmul_t(a, b, false, false)
    }
    pub fn matmul_t(&mut self, a: NodeId, b: NodeId, ta: bool, tb: bool) -> R {
        self.push(Op::MatMul { ta, tb }, &[a, b])
    }

    fn axis(&self, x: NodeId, axis: isize) -> Result<usize, GraphError> {
        let rank = self.shape(x).rank() as isize;
        let a = if axis < 0 { axis + rank } else { axis };
        if a < 0 || a >= rank {
            return Err(GraphError::Invalid(format!(
                "axis {axis} is out of range for a tensor of shape {}",
                self.shape(x)
            )));
        }
        Ok(a as usize)
    }

    /// Reductions take a signed axis (-1 is the last axis).
    pub fn reduce(&mut self, op: ReduceOp, x: NodeId, axis: isize, keepdims: bool) -> R {
        let axis = self.axis(x, axis)?;
        self.push(Op::Reduce { op, axis, keepdims }, &[x])
    }
    pub fn sum(&mut self, x: NodeId, axis: isize, keepdims: bool) -> R {
        self.reduce(ReduceOp::Sum, x, axis, keepdims)
    }
    pub fn mean(&mut self, x: NodeId, axis: isize, keepdims: bool) -> R {
        self.reduce(ReduceOp::Mean, x, axis, keepdims)
    }
    pub fn max(&mut self, x: NodeId, axis: isize, keepdims: bool) -> R {
        let axis = self.axis(x, axis)?;
        if let Some(reordered) = self.max_before_monotone(x, axis, keepdims) {
            return reordered;
        }
        self.reduce(ReduceOp::Max, x, axis as isize, keepdims)
    }
    pub fn softmax(&mut self, x: NodeId, axis: isize) -> R {
        let axis = self.axis(x, axis)?;
        self.push(Op::Softmax { axis }, &[x])
    }
    pub fn log_softmax(&mut self, x: NodeId, axis: isize) -> R {
        let axis = self.axis(x, axis)?;
        self.push(Op::LogSoftmax { axis }, &[x])
    }

    pub fn concat(&mut self, xs: &[NodeId], axis: isize) -> R {
        let first = *xs
            .first()
            .ok_or_else(|| GraphError::Invalid("concat needs at least one tensor".into()))?;
        let axis = self.axis(first, axis)?;
        self.push(Op::Concat { axis }, xs)
    }
    pub fn slice(&mut self, x: NodeId, axis: isize, start: usize, end: usize) -> R {
        let axis = self.axis(x, axis)?;
        self.push(Op::Slice { axis, start, end }, &[x])
    }
    pub fn pad(&mut self, x: NodeId, axis: usize, before: usize, after: usize) -> R {
        self.push(
            Op::Pad {
                axis,
                before,
                after,
            },
            &[x],
        )
    }
    pub fn reshape(&mut self, x: NodeId, shape: impl Into<Shape>) -> R {
        self.push(
            Op::Reshape {
                shape: shape.into(),
            },
            &[x],
        )
    }
    pub fn broadcast_to(&mut self, x: NodeId, shape: impl Into<Shape>) -> R {
        self.push(
            Op::BroadcastTo {
                shape: shape.into(),
            },
            &[x],
        )
    }
    /// Sums `x` down to `shape`; returns `x` itself when the shapes already agree.
    pub fn sum_to(&mut self, x: NodeId, shape: &Shape) -> R {
        if self.shape(x) == shape {
            return Ok(x);
        }
        self.push(
            Op::SumTo {
                shape: shape.clone(),
            },
            &[x],
        )
    }
    pub fn dropout(&mut self, x: NodeId, rate: f32, key: u32) -> R {
        self.push(Op::Dropout { rate, key }, &[x])
    }
    pub fn cast(&mut self, x: NodeId, to: DType) -> R {
        if self.dtype(x) == to {
            return Ok(x);
        }
        self.push(Op::Cast { to }, &[x])
    }
    /// Rows of `table` picked by the int32 `ids`.
    pub fn gather(&mut self, table: NodeId, ids: NodeId) -> R {
        self.push(Op::Gather, &[table, ids])
    }
    pub fn scatter_add_rows(&mut self, values: NodeId, ids: NodeId, rows: usize) -> R {
        self.push(Op::ScatterAddRows { rows }, &[values, ids])
    }
    pub fn conv1d(&mut self, x: NodeId, kernel: NodeId, geometry: Conv1dGeometry) -> R {
        self.push(Op::Conv1d(geometry), &[x, kernel])
    }
    pub fn conv2d(&mut self, x: NodeId, kernel: NodeId, geometry: Conv2dGeometry) -> R {
        self.push(Op::Conv2d(geometry), &[x, kernel])
    }
    pub fn pool2d(&mut self, x: NodeId, kind: PoolKind, geo: Conv2dGeometry) -> R {
        self.push(Op::Pool2d { kind, geo }, &[x])
    }
    pub fn one_hot(&mut self, indices: NodeId, depth: usize) -> R {
        self.push(Op::OneHot { depth }, &[indices])
    }
    pub fn softmax_cross_entropy(&mut self, logits: NodeId, labels: NodeId) -> R {
        self.push(Op::SoftmaxCrossEntropy, &[logits, labels])
    }
    pub fn sigmoid_binary_cross_entropy(&mut self, logits: NodeId, targets: NodeId) -> R {
        self.push(Op::SigmoidBinaryCrossEntropy, &[logits, targets])
    }
    pub fn accuracy(&mut self, kind: AccuracyKind, pred: NodeId, labels: NodeId) -> R {
        self.push(Op::Accuracy { kind }, &[pred, labels])
    }

    /// `x / sqrt(max(sum(x^2, axis), 1e-12))`, as Keras' `l2_normalize`.
    pub fn l2_normalize(&mut self, x: NodeId, axis: isize) -> R {
        let sq = self.square(x)?;
        let ss = self.sum(sq, axis, true)?;
        let floor = self.add_scalar(ss, 1e-12)?;
        let norm = self.sqrt(floor)?;
        self.div(x, norm)
    }
}
