//! Lowers each scheduled node of a plan, and each optimizer update, to kernel dispatches: which
//! kernel, which buffers at which bindings, the parameter block and the workgroup grid.

mod conv;
mod elementwise;
mod gate;
mod gather;
mod matmul;
mod norm;
mod optim;
mod pool;
mod recurrent;
mod reduce;

use crate::tuning::Tuning;
pub use wgtrain_graph::shape::rows_view;

/// What a generated fused kernel can take: at most 6 inputs (bindings 1 to 6; 0 holds the
/// parameter block and 7 the output, within the 8 storage buffers every adapter allows), rows
/// up to the 65535 workgroups of 64 a rows x cols grid covers.
pub const FUSION_LIMITS: FusionLimits = FusionLimits {
    max_inputs: 6,
    max_row: 64 * 65_535,
    min_len: 0,
};
pub use matmul::{LARGE_MATMUL, SCALAR_RUN_A, SCALAR_RUN_B};
pub use optim::lower_update;

use crate::kernels::{Family, Kernel};
use crate::params::ParamBlock;
use elementwise::{broadcast_strides, fused_kernel, lower_group, lower_strided_binary, rows_grid};
use matmul::lower_matmul;
use reduce::{lower_sum_to, reduce_lines};
use wgtrain_graph::fusion::{Fusion, FusionLimits, Group};
use wgtrain_graph::rng::{drop_threshold, kept_scale, DROPOUT_GROUP, DROPOUT_LANES};
use wgtrain_graph::{
    AccuracyKind, BinaryOp, NodeId, Op, OptimizerSpec, ParamId, Plan, ReduceOp, Shape, UnaryOp,
    Update,
};

/// Words in a dispatch's parameter block (`Params` in `shaders/prelude.wgsl`).
pub const PARAM_WORDS: usize = 32;
/// The highest tensor rank the strided kernels index: the graph's, so every node fits.
pub use wgtrain_graph::shape::MAX_RANK;
const MAX_GROUPS: usize = 65_535;

/// A buffer (or range of one) a dispatch binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    /// A range of the plan's arena, in f32 elements.
    Arena {
        offset: usize,
        len: usize,
    },
    Param(ParamId),
    /// Optimizer state tensor `k` of a parameter.
    OptimizerSlot(ParamId, usize),
    /// The per-step block: seed, step and optimizer scalars.
    Step,
    /// A range of the compiled plan's scratch buffer, in f32 elements: values one node's
    /// dispatches pass between them (split-k partial products), dead once the node is done.
    Scratch {
        offset: usize,
        len: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Dispatch {
    pub kernel: Kernel,
    pub bindings: Vec<(u32, Buf)>,
    pub params: [u32; PARAM_WORDS],
    pub groups: [u32; 3],
}

pub(crate) type R<T> = Result<T, String>;

struct Builder {
    params: [u32; PARAM_WORDS],
    at: usize,
}

impl Builder {
    fn new() -> Self {
        Self {
            params: [0; PARAM_WORDS],
            at: 0,
        }
    }
    fn u(mut self, v: usize) -> Self {
        self.params[self.at] = v as u32;
        self.at += 1;
        self
    }
    fn f(mut self, v: f32) -> Self {
        self.params[self.at] = v.to_bits();
        self.at += 1;
        self
    }
    /// `values` padded to MAX_RANK words.
    fn dims(mut self, values: &[usize]) -> Self {
        for (k, v) in values.iter().enumerate() {
            self.params[self.at + k] = *v as u32;
        }
        self.at += MAX_RANK;
        self
    }
}

/// A grid of `groups` one-dimensional workgroups spread over x and y.
fn grid(groups: usize) -> R<[u32; 3]> {
    let groups = groups.max(1);
    let x = groups.min(MAX_GROUPS);
    let y = groups.div_ceil(x);
    if y > MAX_GROUPS {
        return Err(format!("{groups} workgroups exceed one dispatch"));
    }
    Ok([x as u32, y as u32, 1])
}

fn per_element(n: usize, size: usize) -> R<[u32; 3]> {
    grid(n.div_ceil(size))
}

/// The Philox blocks a dropout stream of `n` elements draws, one per invocation
/// (`rng::dropout_source`).
fn dropout_blocks(n: usize) -> usize {
    n.div_ceil(DROPOUT_GROUP) * DROPOUT_LANES
}

fn row_major_strides(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; dims.len()];
    let mut acc = 1;
    for k in (0..dims.len()).rev() {
        strides[k] = acc;
        acc *= dims[k];
    }
    strides
}

fn check_rank(what: &str, s: &Shape) -> R<()> {
    if s.rank() > MAX_RANK {
        return Err(format!(
            "{what} has rank {} ({s}); the GPU backend indexes tensors of rank up to {MAX_RANK}",
            s.rank()
        ));
    }
    Ok(())
}

pub fn buf_of(plan: &Plan, node: NodeId) -> Buf {
    match plan.graph.node(node).op {
        Op::Param { id } => Buf::Param(id),
        _ => {
            let s = plan.slots[node.0].expect("a live node has a slot");
            Buf::Arena {
                offset: s.offset,
                len: s.len,
            }
        }
    }
}

fn dispatch(kernel: Kernel, bindings: Vec<(u32, Buf)>, b: Builder, groups: [u32; 3]) -> Dispatch {
    Dispatch {
        kernel,
        bindings,
        params: b.params,
        groups,
    }
}

/// A dispatch whose parameter block is a typed struct (`crate::params`).
fn typed<T: ParamBlock>(
    kernel: Kernel,
    bindings: Vec<(u32, Buf)>,
    block: T,
    groups: [u32; 3],
) -> Dispatch {
    Dispatch {
        kernel,
        bindings,
        params: block.words(),
        groups,
    }
}

/// The dispatches that compute node `id`.
pub fn lower_node(plan: &Plan, id: NodeId, tuning: Tuning, fusion: &Fusion) -> R<Vec<Dispatch>> {
    if fusion.absorbed[id.0] || wgtrain_graph::plan::is_view(plan, id) {
        return Ok(Vec::new());
    }
    let graph = &plan.graph;
    let node = graph.node(id);
    let out = buf_of(plan, id);
    let input = |k: usize| buf_of(plan, node.inputs[k]);
    let shape = |k: usize| graph.shape(node.inputs[k]);
    let n = node.shape.numel();
    let one = |kernel: Kernel, bindings: Vec<(u32, Buf)>, b: Builder, groups: [u32; 3]| {
        Ok(vec![dispatch(kernel, bindings, b, groups)])
    };
    match &node.op {
        Op::Input { .. } | Op::Param { .. } | Op::Const { .. } => Ok(Vec::new()),
        Op::Unary(_) | Op::Binary(_) => {
            let group = fusion.groups[id.0]
                .as_ref()
                .expect("every stored elementwise node has a group");
            match lower_group(plan, group, out) {
                Ok(d) => Ok(d),
                Err(_) if group.members.len() == 1 => lower_strided_binary(plan, id, out),
                Err(e) => Err(e),
            }
        }
        Op::Reshape { .. } => {
            fused_kernel(plan, &node.shape, &node.inputs, "let r = v0;".into(), out)
        }
        Op::BroadcastTo { .. } => {
            let so = &node.shape;
            match fused_kernel(plan, so, &node.inputs, "let r = v0;".into(), out) {
                Ok(d) => Ok(d),
                Err(_) => {
                    check_rank("a broadcast", so)?;
                    one(
                        Kernel::new(Family::Elementwise, "broadcast"),
                        vec![(1, input(0)), (3, out)],
                        Builder::new()
                            .u(n)
                            .u(so.rank())
                            .dims(&so.0)
                            .dims(&broadcast_strides(shape(0), so)),
                        per_element(n, 256)?,
                    )
                }
            }
        }
        Op::MatMul { ta, tb } => lower_matmul(
            shape(0),
            shape(1),
            *ta,
            *tb,
            [input(0), input(1), out],
            tuning,
        ),
        Op::Reduce { op, axis, .. } => {
            let (outer, len, inner) = shape(0).around(*axis);
            if tuning.serial_reductions && tuning.fits(len) {
                return reduce_lines(*op, outer, len, inner, input(0), out);
            }
            tuning.check_loops("a reduction", 2 * len.div_ceil(64) + 12)?;
            one(
                Kernel::new(Family::Reduce, "reduce")
                    .with("IS_SUM", (*op != ReduceOp::Max).to_string()),
                vec![(1, input(0)), (2, out)],
                Builder::new()
                    .u(outer * inner)
                    .u(len)
                    .u(2)
                    .u(1)
                    .f(if *op == ReduceOp::Mean {
                        1.0 / len as f32
                    } else {
                        1.0
                    })
                    .dims(&[outer, inner])
                    .dims(&[len * inner, 1])
                    .dims(&[len])
                    .dims(&[inner]),
                grid(outer * inner)?,
            )
        }
        Op::SumTo { shape: so } => lower_sum_to(shape(0), so, input(0), out, tuning),
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            let (outer, len, inner) = shape(0).around(*axis);
            let log = matches!(node.op, Op::LogSoftmax { .. });
            tuning.check_loops(
                &format!("softmax over {len} values"),
                3 * len.div_ceil(64) + 12,
            )?;
            one(
                Kernel::new(Family::Reduce, "softmax").with("IS_LOG", log.to_string()),
                vec![(1, input(0)), (2, out)],
                Builder::new().u(outer * inner).u(len).u(inner),
                grid(outer * inner)?,
            )
        }
        Op::Concat { axis } => {
            let n_out = node.shape.0[*axis];
            let mut at = 0;
            let mut parts = Vec::new();
            for k in 0..node.inputs.len() {
                let (outer, n_in, inner) = shape(k).around(*axis);
                if shape(k).numel() > 0 {
                    parts.push(dispatch(
                        Kernel::new(Family::Layout, "place"),
                        vec![(1, input(k)), (2, out)],
                        Builder::new().u(outer).u(n_in).u(inner).u(n_out).u(at),
                        rows_grid(outer, n_in * inner)?,
                    ));
                }
                at += n_in;
            }
            Ok(parts)
        }
        Op::Slice { axis, start, end } => {
            let (outer, n_in, inner) = shape(0).around(*axis);
            one(
                Kernel::new(Family::Layout, "window"),
                vec![(1, input(0)), (2, out)],
                Builder::new()
                    .u(outer)
                    .u(end - start)
                    .u(inner)
                    .u(n_in)
                    .u(*start),
                rows_grid(outer, (end - start) * inner)?,
            )
        }
        Op::Pad { axis, before, .. } => {
            let (outer, n_in, inner) = shape(0).around(*axis);
            let n_out = node.shape.0[*axis];
            one(
                Kernel::new(Family::Layout, "window"),
                vec![(1, input(0)), (2, out)],
                Builder::new()
                    .u(outer)
                    .u(n_out)
                    .u(inner)
                    .u(n_in)
                    .u((-(*before as i64)) as i32 as u32 as usize),
                rows_grid(outer, n_out * inner)?,
            )
        }
        Op::Dropout { rate, key } => one(
            Kernel::new(Family::Random, "dropout"),
            vec![(1, input(0)), (2, out), (3, Buf::Step)],
            Builder::new()
                .u(n)
                .u(*key as usize)
                .u(drop_threshold(*rate) as usize)
                .f(kept_scale(*rate)),
            per_element(dropout_blocks(n), 64)?,
        ),
        Op::Cast { .. } | Op::Gather | Op::ScatterAddRows { .. } => gather::lower(plan, id, tuning),
        Op::GatedMix(_) | Op::GatedMixGrad { .. } => gate::lower(plan, id, tuning),
        Op::Moments | Op::BatchNorm { .. } | Op::BatchNormGrad { .. } => {
            norm::lower(plan, id, tuning)
        }
        Op::Conv1d(_)
        | Op::Conv1dBackwardData(_)
        | Op::Conv1dBackwardFilter(_)
        | Op::Conv2d(_)
        | Op::Conv2dBackwardData(_)
        | Op::Conv2dBackwardFilter(_) => conv::lower(plan, id, tuning),
        Op::Pool2d { .. } | Op::Pool2dGrad { .. } => pool::lower(plan, id, tuning),
        Op::Recurrent(_) | Op::RecurrentGrad { .. } => recurrent::lower(plan, id, tuning),
        Op::Part { .. } => unreachable!("a part is a view of its packed tensor"),
        Op::OneHot { depth } => one(
            Kernel::new(Family::Layout, "one_hot"),
            vec![(1, input(0)), (2, out)],
            Builder::new().u(n).u(*depth),
            per_element(n, 256)?,
        ),
        Op::SoftmaxCrossEntropy => {
            let width = shape(0).last();
            let rows = shape(0).numel() / width.max(1);
            tuning.check_loops(
                &format!("softmax cross-entropy over {}", shape(0)),
                rows.div_ceil(64) * 3 * width,
            )?;
            one(
                Kernel::new(Family::Loss, "softmax_cross_entropy"),
                vec![(1, input(0)), (2, input(1)), (4, out)],
                Builder::new().u(rows).u(width),
                [1, 1, 1],
            )
        }
        Op::SoftmaxCrossEntropyGrad => {
            let width = shape(0).last();
            let rows = shape(0).numel() / width.max(1);
            tuning.check_loops(
                &format!("softmax cross-entropy over {}", shape(0)),
                3 * width,
            )?;
            one(
                Kernel::new(Family::Loss, "softmax_cross_entropy_grad"),
                vec![(1, input(0)), (2, input(1)), (3, input(2)), (4, out)],
                Builder::new().u(rows).u(width),
                per_element(rows, 64)?,
            )
        }
        Op::SigmoidBinaryCrossEntropy => {
            let n = shape(0).numel();
            tuning.check_loops(
                &format!("binary cross-entropy over {}", shape(0)),
                n / 256 + 8,
            )?;
            one(
                Kernel::new(Family::Loss, "sigmoid_bce"),
                vec![(1, input(0)), (2, input(1)), (4, out)],
                Builder::new().u(n),
                [1, 1, 1],
            )
        }
        Op::SigmoidBinaryCrossEntropyGrad => one(
            Kernel::new(Family::Loss, "sigmoid_bce_grad"),
            vec![(1, input(0)), (2, input(1)), (3, input(2)), (4, out)],
            Builder::new().u(n),
            per_element(n, 256)?,
        ),
        Op::Accuracy { kind } => {
            let width = shape(0).last();
            tuning.check_loops(
                &format!("accuracy over {}", shape(0)),
                shape(0).numel().div_ceil(64) * 2,
            )?;
            let (entry, b) = match kind {
                AccuracyKind::Categorical => (
                    "categorical_accuracy",
                    Builder::new().u(shape(0).numel() / width.max(1)).u(width),
                ),
                AccuracyKind::Binary => ("binary_accuracy", Builder::new().u(shape(0).numel())),
            };
            one(
                Kernel::new(Family::Loss, entry),
                vec![(1, input(0)), (2, input(1)), (4, out)],
                b,
                [1, 1, 1],
            )
        }
    }
}
