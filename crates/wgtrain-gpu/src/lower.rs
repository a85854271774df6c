//! Lowers each scheduled node of a plan, and each optimizer update, to kernel dispatches: which
//! kernel, which buffers at which bindings, the parameter block and the workgroup grid.

use crate::fuse::{Fusion, Group};
use crate::kernels::{Family, Kernel};
use wgtrain_graph::{
    AccuracyKind, BinaryOp, NodeId, Op, OptimizerSpec, ParamId, Plan, ReduceOp, Shape, UnaryOp,
    Update,
};

/// A run of four values of a matmul operand read as scalars (`run_of_a` in `shaders/matmul.wgsl`).
pub const SCALAR_RUN_A: &str =
    "for (var j = 0u; j < 4u; j++) { if col + j < cols { v[j] = a[at + j]; } }";
pub const SCALAR_RUN_B: &str =
    "for (var j = 0u; j < 4u; j++) { if col + j < cols { v[j] = b[at + j]; } }";

/// Output values from which a matmul uses `Tuning::matmul_large_block`.
pub const LARGE_MATMUL: usize = 512 * 512;

/// Words in a dispatch's parameter block (`Params` in `shaders/prelude.wgsl`).
pub const PARAM_WORDS: usize = 32;
/// The highest tensor rank the strided kernels index.
pub const MAX_RANK: usize = 6;
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
}

#[derive(Clone, Debug)]
pub struct Dispatch {
    pub kernel: Kernel,
    pub bindings: Vec<(u32, Buf)>,
    pub params: [u32; PARAM_WORDS],
    pub groups: [u32; 3],
}

/// Adapter-dependent choices.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// `matmul_direct` (no workgroup memory) rather than the tiled `matmul`.
    pub matmul_direct: bool,
    /// Invocations per side of a matmul workgroup.
    pub matmul_tile_side: usize,
    /// Rows and columns of the output block each invocation accumulates.
    pub matmul_block: usize,
    /// The block for outputs of `LARGE_MATMUL` values or more, where bigger tiles still leave
    /// every core a workgroup.
    pub matmul_large_block: usize,
    /// One invocation per reduced value rather than a workgroup tree.
    pub serial_reductions: bool,
    /// The most loop iterations one invocation may run in all: Mesa's llvmpipe (lavapipe)
    /// silently ends every loop of an invocation once 65535 back-edges have been taken.
    pub loop_budget: Option<usize>,
}

impl Tuning {
    /// The kernels chosen for hardware GPUs (tiled matmul, workgroup-tree reductions), keeping
    /// this adapter's limits: how the GPU kernels are tested on a software adapter.
    pub fn with_gpu_kernels(self, limits: &wgpu::Limits) -> Self {
        let gpu = Self::hardware(limits);
        Self {
            loop_budget: self.loop_budget,
            ..gpu
        }
    }

    fn fits(&self, trips: usize) -> bool {
        self.loop_budget.is_none_or(|b| trips <= b)
    }

    /// An error naming the op when one invocation would loop past the adapter's budget.
    fn check_loops(&self, what: &str, trips: usize) -> R<()> {
        match self.loop_budget {
            Some(budget) if trips > budget => Err(format!(
                "{what} needs {trips} loop iterations in one invocation, more than this software \
                 adapter runs ({budget}); use --device cpu or a hardware GPU"
            )),
            _ => Ok(()),
        }
    }

    pub fn for_adapter(info: &wgpu::AdapterInfo, limits: &wgpu::Limits) -> Self {
        // Measured on lavapipe: barriers and workgroup memory cost more than they save when
        // invocations run on CPU cores, and 8 x 8 blocks per invocation run fastest there.
        // Reductions there run one invocation per value, with no barriers at all.
        if info.device_type == wgpu::DeviceType::Cpu {
            return Self {
                matmul_direct: true,
                matmul_tile_side: 8,
                matmul_block: 8,
                matmul_large_block: 8,
                serial_reductions: true,
                loop_budget: Some(65_535),
            };
        }
        Self::hardware(limits)
    }

    /// Tiles sized from the adapter's limits: 16 x 16 invocations when a workgroup may be that
    /// large, 8 x 8 blocks for large outputs when two 16-deep tiles of 128 rows fit in workgroup
    /// memory.
    fn hardware(limits: &wgpu::Limits) -> Self {
        let fits = |side: u32, block: u32| {
            let tile = side * block;
            limits.max_compute_invocations_per_workgroup >= side * side
                && limits.max_compute_workgroup_size_x >= side
                && limits.max_compute_workgroup_size_y >= side
                && limits.max_compute_workgroup_storage_size >= 2 * 16 * tile * 4
        };
        let side = if fits(16, 4) { 16 } else { 8 };
        Self {
            matmul_direct: false,
            matmul_tile_side: side as usize,
            matmul_block: 4,
            matmul_large_block: if fits(side, 8) { 8 } else { 4 },
            serial_reductions: false,
            loop_budget: None,
        }
    }
}

type R<T> = Result<T, String>;

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

fn row_major_strides(dims: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; dims.len()];
    let mut acc = 1;
    for k in (0..dims.len()).rev() {
        strides[k] = acc;
        acc *= dims[k];
    }
    strides
}

/// Strides that read `s` broadcast up to `o` (0 along broadcast axes).
fn broadcast_strides(s: &Shape, o: &Shape) -> Vec<usize> {
    let r = o.rank();
    let mut out = vec![0; r];
    let lead = r - s.rank();
    for (k, (&d, stride)) in s.0.iter().zip(row_major_strides(&s.0)).enumerate() {
        if d != 1 {
            out[lead + k] = stride;
        }
    }
    out
}

/// `s` read inside an output of shape `o` seen as rows x cols (cols = the last axis): the
/// (row stride, col stride) that address it, if two strides can.
pub fn rows_view(s: &Shape, o: &Shape) -> Option<(usize, usize)> {
    let r = o.rank();
    if s.rank() > r {
        return None;
    }
    if r == 0 {
        return Some((0, 0));
    }
    let cols = o.0[r - 1];
    let aligned: Vec<usize> = std::iter::repeat_n(1, r - s.rank())
        .chain(s.0.iter().copied())
        .collect();
    let last = aligned[r - 1];
    let col_stride = usize::from(last != 1);
    let lead = &aligned[..r - 1];
    let row_stride = if lead.iter().all(|&d| d == 1) {
        0
    } else if lead == &o.0[..r - 1] {
        if last == 1 {
            1
        } else {
            cols
        }
    } else {
        return None;
    };
    Some((row_stride, col_stride))
}

/// The grid of a rows x cols kernel with 64 x 4 workgroups; rows past the grid loop.
fn rows_grid(rows: usize, cols: usize) -> R<[u32; 3]> {
    let x = cols.div_ceil(64).max(1);
    if x > MAX_GROUPS {
        return Err(format!("rows of {cols} values exceed one dispatch"));
    }
    Ok([x as u32, rows.div_ceil(4).clamp(1, MAX_GROUPS) as u32, 1])
}

fn rows_cols(o: &Shape) -> (usize, usize) {
    let cols = if o.rank() == 0 { 1 } else { o.last() };
    (o.numel() / cols.max(1), cols)
}

/// The kernel that reduces the middle axis of (outer, n, inner).
fn reduce_lines(
    op: ReduceOp,
    outer: usize,
    n: usize,
    inner: usize,
    x: Buf,
    out: Buf,
) -> R<Vec<Dispatch>> {
    let scale = if op == ReduceOp::Mean {
        1.0 / n as f32
    } else {
        1.0
    };
    Ok(vec![dispatch(
        Kernel::new(Family::Reduce, "reduce_lines")
            .with("IS_SUM", (op != ReduceOp::Max).to_string()),
        vec![(1, x), (2, out)],
        Builder::new().u(outer * inner).u(n).u(inner).f(scale),
        per_element(outer * inner, 64)?,
    )])
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

fn unary_wgsl(op: UnaryOp, x: &str) -> String {
    match op {
        UnaryOp::Neg => format!("-{x}"),
        UnaryOp::Relu => format!("max({x}, 0.0)"),
        UnaryOp::Sigmoid => format!("1.0 / (1.0 + exp(-{x}))"),
        UnaryOp::Tanh => format!("tanh({x})"),
        UnaryOp::Exp => format!("exp({x})"),
        UnaryOp::Log => format!("log({x})"),
        UnaryOp::Sqrt => format!("sqrt({x})"),
        UnaryOp::Square => format!("{x} * {x}"),
        UnaryOp::Step => format!("select(0.0, 1.0, {x} > 0.0)"),
    }
}

fn binary_wgsl(op: BinaryOp, x: &str, y: &str) -> String {
    match op {
        BinaryOp::Add => format!("{x} + {y}"),
        BinaryOp::Sub => format!("{x} - {y}"),
        BinaryOp::Mul => format!("{x} * {y}"),
        BinaryOp::Div => format!("{x} / {y}"),
        BinaryOp::Equal => format!("select(0.0, 1.0, {x} == {y})"),
    }
}

/// One kernel for a fused group: loads of its leaves, then one `let` per member.
fn lower_group(plan: &Plan, group: &Group, out: Buf) -> R<Vec<Dispatch>> {
    let graph = &plan.graph;
    let root = *group.members.last().expect("a group has a root");
    let name = |x: NodeId| match group.leaves.iter().position(|l| *l == x) {
        Some(k) => format!("v{k}"),
        None => format!("t{}", x.0),
    };
    let mut body = String::new();
    for &m in &group.members {
        let node = graph.node(m);
        let expr = match node.op {
            Op::Unary(op) => unary_wgsl(op, &name(node.inputs[0])),
            Op::Binary(op) => binary_wgsl(op, &name(node.inputs[0]), &name(node.inputs[1])),
            _ => return Err(format!("{} is not elementwise", node.op.name())),
        };
        body += &format!("let t{} = {expr};\n", m.0);
    }
    body += &format!("let r = t{};", root.0);
    fused_kernel(plan, graph.shape(root), &group.leaves, body, out)
}

/// A generated kernel that reads `leaves` as v0, v1, ... at each element of an output of shape
/// `so` and stores the `r` that `body` computes: flat when every leaf has the output's size or
/// is a scalar, else over rows x cols.
fn fused_kernel(
    plan: &Plan,
    so: &Shape,
    leaves: &[NodeId],
    body: String,
    out: Buf,
) -> R<Vec<Dispatch>> {
    let graph = &plan.graph;
    let n = so.numel();
    let flat = leaves.iter().all(|l| {
        let m = graph.shape(*l).numel();
        m == n || m == 1
    });
    let (rows, cols) = rows_cols(so);
    let mut loads = String::new();
    let mut b = if flat {
        Builder::new().u(n)
    } else {
        Builder::new().u(rows).u(cols)
    };
    for (k, leaf) in leaves.iter().enumerate() {
        if flat {
            let at = if graph.shape(*leaf).numel() == n {
                "i"
            } else {
                "0u"
            };
            loads += &format!("let v{k} = in{k}[{at}];\n");
        } else {
            let (rs, cs) = rows_view(graph.shape(*leaf), so).ok_or_else(|| {
                format!("{} does not broadcast to {so} by rows", graph.shape(*leaf))
            })?;
            loads += &format!(
                "let v{k} = in{k}[row * P({}u) + col * P({}u)];\n",
                2 + 2 * k,
                3 + 2 * k
            );
            b = b.u(rs).u(cs);
        }
    }
    let mut bindings: Vec<(u32, Buf)> = leaves
        .iter()
        .enumerate()
        .map(|(k, l)| (1 + k as u32, buf_of(plan, *l)))
        .collect();
    bindings.push((7, out));
    let (entry, placeholders, groups) = if flat {
        (
            "fused_flat",
            ["FLAT_LOADS", "FLAT_BODY"],
            per_element(n, 256)?,
        )
    } else {
        (
            "fused_rows",
            ["ROWS_LOADS", "ROWS_BODY"],
            rows_grid(rows, cols)?,
        )
    };
    Ok(vec![dispatch(
        Kernel::new(Family::Fused, entry)
            .with(placeholders[0], loads)
            .with(placeholders[1], body),
        bindings,
        b,
        groups,
    )])
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

/// The dispatches that compute node `id`.
pub fn lower_node(plan: &Plan, id: NodeId, tuning: Tuning, fusion: &Fusion) -> R<Vec<Dispatch>> {
    if fusion.absorbed[id.0] {
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
                .u((rate * 65536.0) as u32 as usize)
                .f(1.0 / (1.0 - rate)),
            per_element(n.div_ceil(8), 64)?,
        ),
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

/// A binary op whose operands broadcast other than by rows x cols.
fn lower_strided_binary(plan: &Plan, id: NodeId, out: Buf) -> R<Vec<Dispatch>> {
    let node = plan.graph.node(id);
    let Op::Binary(op) = node.op else {
        return Err(format!("{} is not a binary op", node.op.name()));
    };
    let so = &node.shape;
    let (sa, sb) = (
        plan.graph.shape(node.inputs[0]),
        plan.graph.shape(node.inputs[1]),
    );
    check_rank("a broadcasting operand", so)?;
    Ok(vec![dispatch(
        Kernel::new(Family::Elementwise, "binary_strided")
            .with("BINARY_EXPR", binary_wgsl(op, "x", "y")),
        vec![
            (1, buf_of(plan, node.inputs[0])),
            (2, buf_of(plan, node.inputs[1])),
            (3, out),
        ],
        Builder::new()
            .u(so.numel())
            .u(so.rank())
            .dims(&so.0)
            .dims(&broadcast_strides(sa, so))
            .dims(&broadcast_strides(sb, so)),
        per_element(so.numel(), 256)?,
    )])
}

fn lower_matmul(
    sa: &Shape,
    sb: &Shape,
    ta: bool,
    tb: bool,
    [a, b, out]: [Buf; 3],
    tuning: Tuning,
) -> R<Vec<Dispatch>> {
    let (ra, rb) = (sa.rank(), sb.rank());
    let (ar, ac) = (sa.0[ra - 2], sa.0[ra - 1]);
    let (br, bc) = (sb.0[rb - 2], sb.0[rb - 1]);
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let n = if tb { br } else { bc };
    let per_a = sa.numel() / (ar * ac).max(1);
    // A 2-D right operand shared by every batch: untransposed batches fold into rows.
    let (batches, m, a_step, b_step) = match (rb == 2, ta) {
        (true, false) => (1, per_a * m, 0, 0),
        (true, true) => (per_a, m, ar * ac, 0),
        (false, _) => (per_a, m, ar * ac, br * bc),
    };
    let trips = if tuning.matmul_direct {
        k + 16
    } else {
        (k / 16 + 1) * 25
    };
    tuning.check_loops(&format!("a matmul with inner size {k}"), trips)?;
    let block = if m * n >= LARGE_MATMUL {
        tuning.matmul_large_block
    } else {
        tuning.matmul_block
    };
    let tile = tuning.matmul_tile_side * block;
    let groups = [n.div_ceil(tile), m.div_ceil(tile), batches];
    if groups.iter().any(|&g| g > MAX_GROUPS) {
        return Err(format!(
            "a {m}x{k} @ {k}x{n} matmul over {batches} batches needs more workgroups than one \
             dispatch allows"
        ));
    }
    Ok(vec![dispatch(
        Kernel::new(
            Family::Matmul,
            if tuning.matmul_direct {
                "matmul_direct"
            } else {
                "matmul"
            },
        )
        .with("TILE_SIDE", format!("{}u", tuning.matmul_tile_side))
        // vec4 loads need the contiguous axis, and so every run's start, a multiple of 4.
        .with(
            "LOAD_A_RUN",
            if (if ta { m } else { k }) % 4 == 0 && a_step % 4 == 0 {
                "return a4[at / 4u];"
            } else {
                SCALAR_RUN_A
            },
        )
        .with(
            "LOAD_B_RUN",
            if (if tb { k } else { n }) % 4 == 0 && b_step % 4 == 0 {
                "return b4[at / 4u];"
            } else {
                SCALAR_RUN_B
            },
        )
        .with("REG_M", format!("{block}u"))
        .with("REG_N", format!("{block}u"))
        .with("TRANSPOSE_A", ta.to_string())
        .with("TRANSPOSE_B", tb.to_string()),
        vec![(1, a), (2, b), (3, out)],
        Builder::new().u(m).u(n).u(k).u(a_step).u(b_step).u(m * n),
        groups.map(|g| g.max(1) as u32),
    )])
}

/// Sums `sx` down to `so` (which broadcasts up to `sx`).
fn lower_sum_to(sx: &Shape, so: &Shape, x: Buf, out: Buf, tuning: Tuning) -> R<Vec<Dispatch>> {
    let r = sx.rank();
    let strides = row_major_strides(&sx.0);
    let aligned: Vec<usize> = std::iter::repeat_n(1, r - so.rank())
        .chain(so.0.iter().copied())
        .collect();
    let summed: Vec<usize> = (0..r).filter(|&ax| aligned[ax] != sx.0[ax]).collect();
    if let (true, Some(&lo), Some(&hi)) = (tuning.serial_reductions, summed.first(), summed.last())
    {
        let n: usize = sx.0[lo..=hi].iter().product();
        if hi - lo + 1 == summed.len() && tuning.fits(n) {
            let outer: usize = sx.0[..lo].iter().product();
            let inner: usize = sx.0[hi + 1..].iter().product();
            return reduce_lines(ReduceOp::Sum, outer, n, inner, x, out);
        }
    }
    let (mut out_dims, mut out_strides, mut red_dims, mut red_strides) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ax in 0..r {
        if sx.0[ax] == 1 {
            continue;
        }
        if aligned[ax] == 1 {
            red_dims.push(sx.0[ax]);
            red_strides.push(strides[ax]);
        } else {
            out_dims.push(sx.0[ax]);
            out_strides.push(strides[ax]);
        }
    }
    if out_dims.len() > MAX_RANK || red_dims.len() > MAX_RANK {
        return Err(format!(
            "summing {sx} to {so} needs rank above {MAX_RANK} on the GPU"
        ));
    }
    let outputs = so.numel();
    let count: usize = red_dims.iter().product();
    tuning.check_loops(
        &format!("summing {sx} to {so}"),
        count.div_ceil(64) * (1 + red_dims.len()) + 12,
    )?;
    Ok(vec![dispatch(
        Kernel::new(Family::Reduce, "reduce").with("IS_SUM", "true"),
        vec![(1, x), (2, out)],
        Builder::new()
            .u(outputs)
            .u(count)
            .u(out_dims.len())
            .u(red_dims.len())
            .f(1.0)
            .dims(&out_dims)
            .dims(&out_strides)
            .dims(&red_dims)
            .dims(&red_strides),
        grid(outputs)?,
    )])
}

/// The optimizer kernel for `spec` and the state tensors it binds.
pub fn lower_update(spec: &OptimizerSpec, plan: &Plan, u: &Update, n: usize) -> R<Dispatch> {
    let p = Buf::Param(u.param);
    let g = buf_of(plan, u.grad);
    let slot = |k| Buf::OptimizerSlot(u.param, k);
    let base = Builder::new().u(n);
    let (entry, bindings, b) = match *spec {
        OptimizerSpec::Sgd {
            momentum, nesterov, ..
        } => {
            if momentum == 0.0 {
                ("sgd", vec![(1, p), (2, g), (5, Buf::Step)], base)
            } else {
                (
                    "sgd_momentum",
                    vec![(1, p), (2, g), (3, slot(0)), (5, Buf::Step)],
                    base.f(momentum).u(usize::from(nesterov)),
                )
            }
        }
        OptimizerSpec::RmsProp {
            rho,
            momentum,
            epsilon,
            ..
        } => (
            "rmsprop",
            vec![(1, p), (2, g), (3, slot(0)), (4, slot(1)), (5, Buf::Step)],
            base.f(rho).f(momentum).f(epsilon),
        ),
        OptimizerSpec::Adam {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => (
            "adam",
            vec![(1, p), (2, g), (3, slot(0)), (4, slot(1)), (5, Buf::Step)],
            base.f(beta_1).f(beta_2).f(epsilon).f(0.0),
        ),
        OptimizerSpec::AdamW {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            ..
        } => (
            "adam",
            vec![(1, p), (2, g), (3, slot(0)), (4, slot(1)), (5, Buf::Step)],
            base.f(beta_1).f(beta_2).f(epsilon).f(weight_decay),
        ),
        OptimizerSpec::Nadam {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => (
            "nadam",
            vec![(1, p), (2, g), (3, slot(0)), (4, slot(1)), (5, Buf::Step)],
            base.f(beta_1).f(beta_2).f(epsilon),
        ),
    };
    Ok(dispatch(
        Kernel::new(Family::Optim, entry),
        bindings,
        b,
        per_element(n, 256)?,
    ))
}
