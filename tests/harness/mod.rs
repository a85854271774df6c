//! Shared by the gradient-check and parity suites: deterministic test data, the op cases both
//! suites run, and a runner that differentiates a case on any backend.

#![allow(dead_code)]

use wgtrain::cpu::CpuBackend;
use wgtrain::gpu::{AdapterChoice, GpuBackend};
use wgtrain::graph::{
    gradients, Activation, Backend, BinaryOp, Cell, Conv1dGeometry, Conv2dGeometry, DType, Feed,
    Graph, GraphError, NodeId, Op, Padding, ParamId, Phase, Plan, PlanId, PlanOutputs, PoolKind,
    RecurrentSpec, ReduceOp, Shape, StepArgs, UnaryOp,
};

/// The step arguments of every run, so a dropout mask is the same in every run of a case.
pub const ARGS: StepArgs = StepArgs {
    seed: 7,
    step: 3,
    optimizer: [0.0; 4],
    phase: Phase::Whole,
};

/// The backend every other backend is compared against.
pub fn reference_backend() -> CpuBackend {
    CpuBackend::with_threads(1)
}

/// The backends the parity suite compares against `reference_backend()`: the threaded CPU
/// backend and the GPU backend on `test_adapter()`.
pub fn backends_under_test() -> Vec<(String, Box<dyn Backend>)> {
    let cpu = CpuBackend::new();
    let mut list: Vec<(String, Box<dyn Backend>)> = vec![(cpu.describe(), Box::new(cpu))];
    if let Some(gpu) = gpu_backend() {
        let software = gpu.describe().contains("Cpu)");
        list.push((gpu.describe(), Box::new(gpu)));
        // A software adapter runs its own matmul and reduction kernels; the ones hardware GPUs
        // run are tested on it too.
        if software {
            let gpu =
                GpuBackend::with_gpu_kernels(test_adapter()).expect("the adapter opened once");
            list.push((gpu.describe(), Box::new(gpu)));
        }
    }
    list
}

/// The adapter GPU tests run on: `WGTRAIN_TEST_ADAPTER` (gpu, software or an index), else the
/// software adapter, which every CI machine has once mesa-vulkan-drivers is installed.
pub fn test_adapter() -> AdapterChoice {
    match std::env::var("WGTRAIN_TEST_ADAPTER").as_deref() {
        Ok("gpu") => AdapterChoice::Gpu,
        Ok(other) if other.parse::<usize>().is_ok() => {
            AdapterChoice::Index(other.parse().expect("checked"))
        }
        _ => AdapterChoice::Software,
    }
}

/// The GPU backend on `test_adapter()`. Under `CI=true` a missing adapter fails the test;
/// elsewhere it is reported and the GPU half is left out.
pub fn gpu_backend() -> Option<GpuBackend> {
    match GpuBackend::new(test_adapter()) {
        Ok(b) => Some(b),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true needs a GPU adapter for the GPU tests: {e}")
        }
        Err(e) => {
            eprintln!("GPU tests left out: {e}");
            None
        }
    }
}

/// SplitMix64: a small deterministic generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Seeded by a name (FNV-1a), so a case draws the same values whatever runs before it.
    pub fn from_name(name: &str) -> Self {
        let hash = name.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)
        });
        Rng(hash)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn values(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// How the values of a leaf are drawn.
#[derive(Clone, Copy, Debug)]
pub enum Init {
    /// Uniform in [lo, hi).
    Uniform(f32, f32),
    /// Magnitude uniform in [lo, hi) with a random sign: clear of the kinks at 0.
    Signed(f32, f32),
    /// A shuffle of evenly spaced values from lo to hi: no ties, no near-ties.
    Spaced(f32, f32),
    /// One-hot rows along the last axis.
    OneHot,
    /// Whole numbers in [lo, hi]: sums of them are exact in any order.
    Integers(i32, i32),
    /// int32 ids in [0, n), fed as an int32 input.
    Ids(i32),
}

pub const ANY: Init = Init::Uniform(-1.0, 1.0);

/// Values fed to a plan input.
#[derive(Clone, Debug)]
pub enum Fed {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

impl Fed {
    pub fn feed(&self) -> Feed<'_> {
        match self {
            Fed::F32(v) => Feed::F32(v),
            Fed::I32(v) => Feed::I32(v),
        }
    }
}

impl Init {
    /// Values for an input leaf: ids for `Ids`, floats otherwise.
    pub fn fed(self, shape: &[usize], rng: &mut Rng) -> Fed {
        match self {
            Init::Ids(n) => {
                let count: usize = shape.iter().product();
                Fed::I32((0..count).map(|_| rng.below(n as usize) as i32).collect())
            }
            other => Fed::F32(other.sample(shape, rng)),
        }
    }
    pub fn dtype(self) -> DType {
        match self {
            Init::Ids(_) => DType::I32,
            _ => DType::F32,
        }
    }

    pub fn sample(self, shape: &[usize], rng: &mut Rng) -> Vec<f32> {
        let n: usize = shape.iter().product();
        match self {
            Init::Uniform(lo, hi) => rng.values(n, lo, hi),
            Init::Signed(lo, hi) => (0..n)
                .map(|_| {
                    let v = rng.uniform(lo, hi);
                    if rng.below(2) == 0 {
                        v
                    } else {
                        -v
                    }
                })
                .collect(),
            Init::Spaced(lo, hi) => {
                let gap = if n > 1 {
                    (hi - lo) / (n - 1) as f32
                } else {
                    0.0
                };
                let mut v: Vec<f32> = (0..n).map(|i| lo + gap * i as f32).collect();
                for i in (1..n).rev() {
                    v.swap(i, rng.below(i + 1));
                }
                v
            }
            Init::Integers(lo, hi) => (0..n)
                .map(|_| (lo + rng.below((hi - lo + 1) as usize) as i32) as f32)
                .collect(),
            Init::Ids(_) => unreachable!("ids are drawn by Init::ids"),
            Init::OneHot => {
                let width = *shape.last().unwrap_or(&1);
                let mut v = vec![0.0; n];
                for row in v.chunks_mut(width) {
                    row[rng.below(width)] = 1.0;
                }
                v
            }
        }
    }
}

/// A tensor a case takes: its shape and how its values are drawn.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub shape: Vec<usize>,
    pub init: Init,
}

pub fn leaf(shape: &[usize], init: Init) -> Leaf {
    Leaf {
        shape: shape.to_vec(),
        init,
    }
}

pub type Built = Result<NodeId, GraphError>;
type Build = Box<dyn Fn(&mut Graph, &[NodeId]) -> Built>;

/// One op under test: the graph it builds from its leaves.
pub struct OpCase {
    pub name: String,
    /// Differentiated: each becomes a `Param` node.
    pub params: Vec<Leaf>,
    /// Fed each run but not differentiated (labels, targets).
    pub inputs: Vec<Leaf>,
    /// Builds the op from the param nodes followed by the input nodes.
    pub build: Build,
    /// The gradient check's central-difference step, where the default would move a maximum
    /// from one element to another.
    pub difference_step: Option<f32>,
}

impl OpCase {
    pub fn new(
        name: impl Into<String>,
        params: Vec<Leaf>,
        build: impl Fn(&mut Graph, &[NodeId]) -> Built + 'static,
    ) -> Self {
        OpCase {
            name: name.into(),
            params,
            inputs: Vec::new(),
            build: Box::new(build),
            difference_step: None,
        }
    }

    pub fn with_difference_step(mut self, step: f32) -> Self {
        self.difference_step = Some(step);
        self
    }

    pub fn with_inputs(mut self, inputs: Vec<Leaf>) -> Self {
        self.inputs = inputs;
        self
    }
}

/// What one run of a case produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub loss: f32,
    pub output: Vec<f32>,
    /// d loss / d param, one per param of the case.
    pub grads: Vec<Vec<f32>>,
}

/// A case compiled on one backend: the op, `loss = sum(output * weights)` with fixed random
/// weights, and the gradients of the loss with respect to every param, in one plan.
pub struct Prepared {
    /// The param values drawn for the case.
    pub params: Vec<Vec<f32>>,
    plan: PlanId,
    loss: NodeId,
    output: NodeId,
    output_len: usize,
    grads: Vec<NodeId>,
    feeds: Vec<Fed>,
}

impl Prepared {
    pub fn new(case: &OpCase, backend: &mut dyn Backend) -> Prepared {
        let fail =
            |what: &str, e: &dyn std::fmt::Display| -> ! { panic!("{}: {what}: {e}", case.name) };
        let mut rng = Rng::from_name(&case.name);
        let mut g = Graph::new();
        let mut params = Vec::new();
        let mut nodes = Vec::new();
        for (i, p) in case.params.iter().enumerate() {
            params.push(p.init.sample(&p.shape, &mut rng));
            nodes.push(g.param(ParamId(i), p.shape.clone()));
        }
        let param_nodes = nodes.clone();
        let mut feeds = Vec::new();
        for x in &case.inputs {
            feeds.push(x.init.fed(&x.shape, &mut rng));
            nodes.push(g.typed_input(x.shape.clone(), x.init.dtype()));
        }
        let output = (case.build)(&mut g, &nodes).unwrap_or_else(|e| fail("build", &e));
        let output_len = g.shape(output).numel();
        let weights = g.input(g.shape(output).clone());
        feeds.push(Fed::F32(rng.values(output_len, -1.0, 1.0)));
        let loss = weighted_sum(&mut g, output, weights).unwrap_or_else(|e| fail("loss", &e));
        let grads: Vec<NodeId> = gradients(&mut g, loss, &param_nodes)
            .unwrap_or_else(|e| fail("gradients", &e))
            .into_iter()
            .map(|d| d.unwrap_or_else(|| fail("gradients", &"a param does not reach the loss")))
            .collect();
        let mut kept = vec![output];
        kept.extend(&grads);
        let outputs = PlanOutputs {
            loss: Some(loss),
            metrics: Vec::new(),
            predictions: kept,
        };
        let plan = Plan::new(g, outputs, Vec::new(), None);
        for (i, v) in params.iter().enumerate() {
            backend
                .set_param(ParamId(i), v)
                .unwrap_or_else(|e| fail("set_param", &e));
        }
        let plan = backend
            .compile(plan)
            .unwrap_or_else(|e| fail("compile", &e));
        Prepared {
            params,
            plan,
            loss,
            output,
            output_len,
            grads,
            feeds,
        }
    }

    /// Uploads `params`, runs the plan and reads the loss.
    pub fn loss(&self, backend: &mut dyn Backend, params: &[Vec<f32>]) -> f32 {
        for (i, v) in params.iter().enumerate() {
            backend.set_param(ParamId(i), v).expect("set_param");
        }
        let feeds: Vec<Feed> = self.feeds.iter().map(Fed::feed).collect();
        backend.run(self.plan, &feeds, &ARGS).expect("run");
        read(backend, self.plan, self.loss, 1)[0]
    }

    /// Uploads `params`, runs the plan and reads the loss, the output and the gradients.
    pub fn run(&self, backend: &mut dyn Backend, params: &[Vec<f32>]) -> Outcome {
        let loss = self.loss(backend, params);
        let output = read(backend, self.plan, self.output, self.output_len);
        let grads = self
            .grads
            .iter()
            .zip(params)
            .map(|(&d, p)| read(backend, self.plan, d, p.len()))
            .collect();
        Outcome {
            loss,
            output,
            grads,
        }
    }
}

/// Builds, differentiates and runs `case` on `backend` with the case's own param values.
pub fn differentiate(backend: &mut dyn Backend, case: &OpCase) -> Outcome {
    let prepared = Prepared::new(case, backend);
    prepared.run(backend, &prepared.params)
}

/// `sum(x * w)` over every element, as a scalar.
fn weighted_sum(g: &mut Graph, x: NodeId, w: NodeId) -> Built {
    let n = g.shape(x).numel();
    let xw = g.mul(x, w)?;
    let flat = g.reshape(xw, [n])?;
    g.sum(flat, 0, false)
}

fn read(backend: &mut dyn Backend, plan: PlanId, node: NodeId, len: usize) -> Vec<f32> {
    let mut out = vec![0.0; len];
    backend.read(plan, node, &mut out).expect("read");
    out
}

/// Runs a graph whose leaves are inputs and constants on the single-threaded CPU backend and
/// reads `outputs`.
pub fn evaluate(g: Graph, feeds: &[&[f32]], outputs: &[NodeId]) -> Vec<Vec<f32>> {
    let lens: Vec<usize> = outputs.iter().map(|&o| g.shape(o).numel()).collect();
    let plan = Plan::new(
        g,
        PlanOutputs {
            predictions: outputs.to_vec(),
            ..Default::default()
        },
        Vec::new(),
        None,
    );
    let mut backend = reference_backend();
    let id = backend.compile(plan).expect("compile");
    let feeds: Vec<Feed> = feeds.iter().map(|f| Feed::F32(f)).collect();
    backend.run(id, &feeds, &ARGS).expect("run");
    outputs
        .iter()
        .zip(lens)
        .map(|(&o, len)| read(&mut backend, id, o, len))
        .collect()
}

/// Plain-loop `op(a) @ op(b)` over the last two axes, batched like the `MatMul` op.
pub fn naive_matmul(
    a: &[f32],
    sa: &[usize],
    b: &[f32],
    sb: &[usize],
    ta: bool,
    tb: bool,
) -> Vec<f32> {
    let (ra, rb) = (sa.len(), sb.len());
    let (ar, ac) = (sa[ra - 2], sa[ra - 1]);
    let (br, bc) = (sb[rb - 2], sb[rb - 1]);
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let n = if tb { br } else { bc };
    let batches = a.len() / (ar * ac);
    let b_step = if rb == 2 { 0 } else { br * bc };
    let mut out = vec![0.0; batches * m * n];
    for bi in 0..batches {
        let a = &a[bi * ar * ac..];
        let b = &b[bi * b_step..];
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f64;
                for p in 0..k {
                    let av = if ta { a[p * ac + i] } else { a[i * ac + p] };
                    let bv = if tb { b[j * bc + p] } else { b[p * bc + j] };
                    acc += av as f64 * bv as f64;
                }
                out[(bi * m + i) * n + j] = acc as f32;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The op cases. Each family is one function; `all_cases` is every family, `large_cases` are
// sized to take the multi-threaded kernel paths and are only compared between backends.

pub fn matmul_cases() -> Vec<OpCase> {
    let mut cases = Vec::new();
    let flags = [(false, false), (false, true), (true, false), (true, true)];
    for (ta, tb) in flags {
        let sa: &[usize] = if ta { &[4, 3] } else { &[3, 4] };
        let sb: &[usize] = if tb { &[5, 4] } else { &[4, 5] };
        cases.push(matmul_case("2d", sa, sb, ta, tb));
        let sa: &[usize] = if ta { &[2, 4, 3] } else { &[2, 3, 4] };
        let sb: &[usize] = if tb { &[2, 5, 4] } else { &[2, 4, 5] };
        cases.push(matmul_case("batched", sa, sb, ta, tb));
    }
    for tb in [false, true] {
        let sb: &[usize] = if tb { &[5, 4] } else { &[4, 5] };
        cases.push(matmul_case("shared", &[2, 3, 4], sb, false, tb));
        cases.push(matmul_case("shared_4d", &[2, 2, 3, 4], sb, false, tb));
    }
    cases.push(matmul_case(
        "batched_4d",
        &[2, 2, 3, 4],
        &[2, 2, 4, 5],
        false,
        false,
    ));
    cases
}

pub fn matmul_case(kind: &str, sa: &[usize], sb: &[usize], ta: bool, tb: bool) -> OpCase {
    OpCase::new(
        format!("matmul_{kind} {sa:?}{} @ {sb:?}{}", t(ta), t(tb)),
        vec![leaf(sa, ANY), leaf(sb, ANY)],
        move |g, p| g.matmul_t(p[0], p[1], ta, tb),
    )
}

fn t(transposed: bool) -> &'static str {
    if transposed {
        "^T"
    } else {
        ""
    }
}

pub fn binary_cases() -> Vec<OpCase> {
    let shapes: [(&[usize], &[usize]); 9] = [
        (&[3, 4], &[3, 4]),
        (&[3, 4], &[4]),
        (&[4], &[3, 4]),
        (&[3, 4], &[3, 1]),
        (&[3, 1], &[3, 4]),
        (&[3, 4], &[]),
        (&[], &[3, 4]),
        (&[2, 1, 3], &[4, 1]),
        (&[1, 3, 4], &[2, 1, 4]),
    ];
    let ops = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div];
    let mut cases = Vec::new();
    for op in ops {
        for (sa, sb) in shapes {
            let denominator = if op == BinaryOp::Div {
                Init::Signed(0.5, 1.5)
            } else {
                ANY
            };
            cases.push(OpCase::new(
                format!("{op:?} {sa:?} {sb:?}").to_lowercase(),
                vec![leaf(sa, ANY), leaf(sb, denominator)],
                move |g, p| g.binary(op, p[0], p[1]),
            ));
        }
    }
    for op in [BinaryOp::Maximum, BinaryOp::Minimum] {
        for (sa, sb) in [(&[3, 4][..], &[3, 4][..]), (&[3, 4], &[4])] {
            cases.push(OpCase::new(
                format!("{op:?} {sa:?} {sb:?}").to_lowercase(),
                vec![
                    leaf(sa, Init::Spaced(-1.0, 1.0)),
                    leaf(sb, Init::Spaced(-0.93, 0.97)),
                ],
                move |g, p| g.binary(op, p[0], p[1]),
            ));
        }
    }
    cases.push(OpCase::new(
        "mul x * x",
        vec![leaf(&[3, 4], ANY)],
        |g, p| g.mul(p[0], p[0]),
    ));
    cases
}

pub fn unary_cases() -> Vec<OpCase> {
    let ops = [
        (UnaryOp::Neg, Init::Uniform(-2.0, 2.0)),
        (UnaryOp::Relu, Init::Signed(0.1, 2.0)),
        (UnaryOp::Sigmoid, Init::Uniform(-3.0, 3.0)),
        (UnaryOp::Tanh, Init::Uniform(-2.0, 2.0)),
        (UnaryOp::Exp, Init::Uniform(-1.5, 1.5)),
        (UnaryOp::Log, Init::Uniform(0.5, 2.0)),
        (UnaryOp::Sqrt, Init::Uniform(0.5, 2.0)),
        (UnaryOp::Square, Init::Uniform(-2.0, 2.0)),
    ];
    ops.into_iter()
        .map(|(op, init)| {
            OpCase::new(
                format!("{op:?}").to_lowercase(),
                vec![leaf(&[3, 4], init)],
                move |g, p| g.unary(op, p[0]),
            )
        })
        .collect()
}

pub fn reduce_cases() -> Vec<OpCase> {
    let mut cases = Vec::new();
    for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
        for axis in 0..3 {
            for keepdims in [false, true] {
                cases.push(OpCase::new(
                    format!("{op:?} axis {axis} keepdims {keepdims}").to_lowercase(),
                    vec![leaf(&[2, 3, 4], Init::Spaced(-2.0, 2.0))],
                    move |g, p| g.reduce(op, p[0], axis, keepdims),
                ));
            }
        }
    }
    cases
}

pub fn softmax_cases() -> Vec<OpCase> {
    let mut cases = Vec::new();
    for log in [false, true] {
        let name = if log { "log_softmax" } else { "softmax" };
        for (shape, axis) in [(&[3usize, 5][..], -1), (&[2, 4, 3], 1), (&[4, 3], 0)] {
            cases.push(OpCase::new(
                format!("{name} {shape:?} axis {axis}"),
                vec![leaf(shape, Init::Uniform(-2.0, 2.0))],
                move |g, p| {
                    if log {
                        g.log_softmax(p[0], axis)
                    } else {
                        g.softmax(p[0], axis)
                    }
                },
            ));
        }
    }
    cases
}

pub fn layout_cases() -> Vec<OpCase> {
    let mut cases = vec![
        OpCase::new(
            "concat [2, 3] [2, 4] axis 1",
            vec![leaf(&[2, 3], ANY), leaf(&[2, 4], ANY)],
            |g, p| g.concat(&[p[0], p[1]], 1),
        ),
        OpCase::new(
            "concat [2, 3, 4] [2, 2, 4] axis 1",
            vec![leaf(&[2, 3, 4], ANY), leaf(&[2, 2, 4], ANY)],
            |g, p| g.concat(&[p[0], p[1]], 1),
        ),
        OpCase::new(
            "concat [1, 3] [2, 3] [3, 3] axis 0",
            vec![leaf(&[1, 3], ANY), leaf(&[2, 3], ANY), leaf(&[3, 3], ANY)],
            |g, p| g.concat(&[p[0], p[1], p[2]], 0),
        ),
    ];
    for (axis, start, end) in [(0, 1, 3), (1, 1, 4), (2, 0, 2)] {
        cases.push(OpCase::new(
            format!("slice [3, 5, 4] axis {axis} {start}..{end}"),
            vec![leaf(&[3, 5, 4], ANY)],
            move |g, p| g.slice(p[0], axis, start, end),
        ));
    }
    // A tensor split into adjacent slices used apart: their gradients meet in one concat.
    for (cut, end) in [(2, 5), (2, 4)] {
        cases.push(OpCase::new(
            format!("split [3, 5, 4] axis 1 at {cut}, up to {end}, recombined"),
            vec![leaf(&[3, 5, 4], ANY)],
            move |g, p| {
                let a = g.slice(p[0], 1, 0, cut)?;
                let b = g.slice(p[0], 1, cut, end)?;
                let a = g.sum(a, 1, true)?;
                let b = g.sum(b, 1, true)?;
                g.mul(a, b)
            },
        ));
    }
    for (axis, before, after) in [(0, 1, 0), (1, 1, 2), (2, 0, 3)] {
        cases.push(OpCase::new(
            format!("pad [2, 3, 4] axis {axis} {before}+{after}"),
            vec![leaf(&[2, 3, 4], ANY)],
            move |g, p| g.pad(p[0], axis, before, after),
        ));
    }
    for to in [vec![6, 4], vec![24], vec![4, 3, 2]] {
        cases.push(OpCase::new(
            format!("reshape [2, 3, 4] to {to:?}"),
            vec![leaf(&[2, 3, 4], ANY)],
            move |g, p| g.reshape(p[0], to.clone()),
        ));
    }
    let broadcasts: [(&[usize], &[usize]); 7] = [
        (&[4], &[3, 4]),
        (&[3, 1], &[3, 4]),
        (&[2, 3, 1], &[2, 3, 4]),
        (&[3, 1], &[2, 3, 4]),
        (&[2, 1, 4], &[2, 3, 4]),
        (&[1, 3, 1], &[2, 3, 4]),
        (&[], &[2, 3]),
    ];
    for (from, to) in broadcasts {
        let to_shape = Shape::new(to);
        cases.push(OpCase::new(
            format!("broadcast_to {from:?} to {to:?}"),
            vec![leaf(from, ANY)],
            move |g, p| g.broadcast_to(p[0], to_shape.clone()),
        ));
        let from_shape = Shape::new(from);
        cases.push(OpCase::new(
            format!("sum_to {to:?} to {from:?}"),
            vec![leaf(to, ANY)],
            move |g, p| g.sum_to(p[0], &from_shape),
        ));
    }
    cases
}

pub fn l2_normalize_cases() -> Vec<OpCase> {
    [-1isize, 0]
        .into_iter()
        .map(|axis| {
            OpCase::new(
                format!("l2_normalize [3, 4] axis {axis}"),
                vec![leaf(&[3, 4], Init::Signed(0.3, 2.0))],
                move |g, p| g.l2_normalize(p[0], axis),
            )
        })
        .collect()
}

pub fn dropout_cases() -> Vec<OpCase> {
    [(0.3, 5), (0.5, 11)]
        .into_iter()
        .map(|(rate, key)| {
            OpCase::new(
                format!("dropout [4, 6] rate {rate} key {key}"),
                vec![leaf(&[4, 6], ANY)],
                move |g, p| g.dropout(p[0], rate, key),
            )
        })
        .collect()
}

/// A gated residual block's tail written out op by op (recognized as one gated mix unless
/// `as_written`, which builds the sum and the mask product as plain binary ops) from
/// `p = [h, s, bias when biased, optional mask]`: the gate is half `gate_half` of `h`'s last
/// axis, dropped out at `rate`.
pub fn gated_tail(
    g: &mut Graph,
    p: &[NodeId],
    gate_half: usize,
    rate: f32,
    biased: bool,
    as_written: bool,
) -> Built {
    let (h, s) = (p[0], p[1]);
    let h = if biased { g.add(h, p[2])? } else { h };
    let p = if biased { &p[1..] } else { p };
    let w = g.shape(s).last();
    let gate = g.slice(h, -1, gate_half * w, gate_half * w + w)?;
    let value = g.slice(h, -1, (1 - gate_half) * w, (1 - gate_half) * w + w)?;
    let gate = if rate > 0.0 {
        g.dropout(gate, rate, 13)?
    } else {
        gate
    };
    let gate = g.sigmoid(gate)?;
    let one = g.scalar(1.0);
    let keep = g.sub(one, gate)?;
    let a = g.mul(s, gate)?;
    let b = g.mul(value, keep)?;
    let sum = if as_written {
        g.binary(BinaryOp::Add, b, a)?
    } else {
        g.add(b, a)?
    };
    match p.get(2) {
        Some(&mask) if as_written => g.binary(BinaryOp::Mul, sum, mask),
        Some(&mask) => g.mul(mask, sum),
        None => Ok(sum),
    }
}

/// The params of a gated tail over `rows` x `w`: h, s, a bias and a mask as asked.
pub fn gate_leaves(rows: &[usize], w: usize, biased: bool, masked: bool) -> Vec<Leaf> {
    let with = |last: usize| [rows, &[last]].concat();
    let mut params = vec![
        leaf(&with(2 * w), Init::Uniform(-3.0, 3.0)),
        leaf(&with(w), ANY),
    ];
    if biased {
        params.push(leaf(&[2 * w], ANY));
    }
    if masked {
        params.push(leaf(&with(1), Init::Uniform(0.0, 1.0)));
    }
    params
}

/// Gated mixes with and without a bias, a mask and dropout, the gate in either half.
pub fn gate_cases() -> Vec<OpCase> {
    let case = |rows: &[usize], w, gate_half, rate, biased, masked| {
        OpCase::new(
            format!(
                "gated mix {rows:?} x {w} gate half {gate_half} rate {rate} bias {biased} \
                 mask {masked}"
            ),
            gate_leaves(rows, w, biased, masked),
            move |g, p| gated_tail(g, p, gate_half, rate, biased, false),
        )
    };
    vec![
        case(&[3, 5], 4, 0, 0.3, true, true),
        case(&[2, 3], 5, 1, 0.0, false, false),
        case(&[7], 3, 0, 0.5, true, false),
        case(&[2, 3], 6, 1, 0.2, false, true),
    ]
}

/// Batch normalization by the batch's statistics, and the moments alone (their own gradient
/// rule).
pub fn batch_norm_cases() -> Vec<OpCase> {
    let norm = |rows: usize, c: usize, epsilon: f32| {
        OpCase::new(
            format!("batch_norm [{rows}, {c}] epsilon {epsilon}"),
            vec![
                leaf(&[rows, c], Init::Uniform(-2.0, 3.0)),
                leaf(&[c], Init::Signed(0.5, 1.5)),
                leaf(&[c], ANY),
            ],
            move |g, p| Ok(g.batch_norm(p[0], p[1], p[2], epsilon)?.0),
        )
    };
    vec![
        norm(6, 4, 1e-3),
        norm(3, 5, 0.5),
        OpCase::new(
            "moments [7, 3]",
            vec![leaf(&[7, 3], Init::Uniform(-2.0, 3.0))],
            |g, p| g.push(Op::Moments, &[p[0]]),
        ),
    ]
}

pub fn loss_cases() -> Vec<OpCase> {
    vec![
        OpCase::new(
            "softmax_cross_entropy one-hot labels",
            vec![leaf(&[4, 5], Init::Uniform(-2.0, 2.0))],
            |g, p| g.softmax_cross_entropy(p[0], p[1]),
        )
        .with_inputs(vec![leaf(&[4, 5], Init::OneHot)]),
        OpCase::new(
            "softmax_cross_entropy soft labels",
            vec![leaf(&[3, 2, 4], Init::Uniform(-2.0, 2.0))],
            |g, p| g.softmax_cross_entropy(p[0], p[1]),
        )
        .with_inputs(vec![leaf(&[3, 2, 4], Init::Uniform(0.0, 1.0))]),
        OpCase::new(
            "sigmoid_binary_cross_entropy",
            vec![leaf(&[3, 4], Init::Uniform(-3.0, 3.0))],
            |g, p| g.sigmoid_binary_cross_entropy(p[0], p[1]),
        )
        .with_inputs(vec![leaf(&[3, 4], Init::Uniform(0.0, 1.0))]),
    ]
}

/// Small networks: gradients that flow through several ops and accumulate.
pub fn composite_cases() -> Vec<OpCase> {
    vec![
        OpCase::new(
            "a tensor read step by step (its gradient one concat of six pieces)",
            vec![leaf(&[2, 6, 3], ANY)],
            |g, p| {
                let mut total = None;
                for t in 0..6 {
                    let s = g.slice(p[0], 1, t, t + 1)?;
                    let s = g.tanh(s)?;
                    let s = g.mul_scalar(s, 1.0 + t as f32)?;
                    total = Some(match total {
                        Some(acc) => g.add(acc, s)?,
                        None => s,
                    });
                }
                Ok(total.expect("six steps"))
            },
        ),
        OpCase::new(
            "dense relu dense softmax_cross_entropy",
            vec![
                leaf(&[4, 3], ANY),
                leaf(&[3, 5], ANY),
                leaf(&[5], Init::Uniform(0.5, 1.0)),
                leaf(&[5, 3], ANY),
                leaf(&[3], ANY),
            ],
            |g, p| {
                let h = g.matmul(p[0], p[1])?;
                let h = g.add(h, p[2])?;
                let h = g.relu(h)?;
                let z = g.matmul(h, p[3])?;
                let z = g.add(z, p[4])?;
                g.softmax_cross_entropy(z, p[5])
            },
        )
        .with_inputs(vec![leaf(&[4, 3], Init::OneHot)]),
    ]
}

/// Row gathers by int32 ids, their scatter-add and casts (ids repeat, so rows accumulate).
pub fn gather_cases() -> Vec<OpCase> {
    vec![
        OpCase::new(
            "gather [7, 3] by ids [4, 5]",
            vec![leaf(&[7, 3], ANY)],
            |g, p| g.gather(p[0], p[1]),
        )
        .with_inputs(vec![leaf(&[4, 5], Init::Ids(7))]),
        OpCase::new(
            "gather [5, 2, 3] by ids [6]",
            vec![leaf(&[5, 2, 3], ANY)],
            |g, p| g.gather(p[0], p[1]),
        )
        .with_inputs(vec![leaf(&[6], Init::Ids(5))]),
        OpCase::new(
            "scatter_add_rows [3, 4, 2] into 6 rows",
            vec![leaf(&[3, 4, 2], ANY)],
            |g, p| g.scatter_add_rows(p[0], p[1], 6),
        )
        .with_inputs(vec![leaf(&[3, 4], Init::Ids(6))]),
        OpCase::new(
            "cast ids to float32 times x",
            vec![leaf(&[3, 4], ANY)],
            |g, p| {
                let c = g.cast(p[1], DType::F32)?;
                g.mul(p[0], c)
            },
        )
        .with_inputs(vec![leaf(&[3, 4], Init::Ids(9))]),
    ]
}

/// `Conv1d` over (batch, length, in) with a (taps, in, out) kernel, and its two gradient ops
/// as ops of their own (so their gradient rules are checked too).
pub fn conv_cases() -> Vec<OpCase> {
    let geometries = [
        ("valid k3", 9, 3, 1, 1, Padding::Valid),
        ("same k3", 8, 3, 1, 1, Padding::Same),
        ("same k4 (odd pad on the right)", 7, 4, 1, 1, Padding::Same),
        ("same k3 dilation 2", 9, 3, 1, 2, Padding::Same),
        ("causal k3 dilation 2", 8, 3, 1, 2, Padding::Causal),
        ("valid k3 stride 2", 10, 3, 2, 1, Padding::Valid),
        ("same k2 stride 3", 10, 2, 3, 1, Padding::Same),
    ];
    let mut cases = Vec::new();
    for (name, len, k, s, d, pad) in geometries {
        let geo = Conv1dGeometry::new(len, k, s, d, pad).expect("a valid geometry");
        let (cin, cout) = (3, 4);
        cases.push(OpCase::new(
            format!("conv1d {name} [2, {len}, {cin}] -> {cout}"),
            vec![leaf(&[2, len, cin], ANY), leaf(&[k, cin, cout], ANY)],
            move |g, p| g.conv1d(p[0], p[1], geo),
        ));
    }
    // Biased relu convolutions under a max over the steps, as Conv1D -> GlobalMaxPooling1D: the
    // max moves ahead of the bias and relu, and the convolution's gradients are sparse (one step
    // per sample and channel), which takes the CPU's sparse gradient kernels.
    for (name, len, k, s, d, pad) in [
        ("valid k3", 40, 3, 1, 1, Padding::Valid),
        ("same k3 dilation 2", 40, 3, 1, 2, Padding::Same),
        ("causal k2 stride 2", 41, 2, 2, 1, Padding::Causal),
    ] {
        let geo = Conv1dGeometry::new(len, k, s, d, pad).expect("a valid geometry");
        let (cin, cout) = (3, 4);
        cases.push(
            OpCase::new(
                format!("conv1d {name} [2, {len}, {cin}] -> {cout}, bias, relu, max over steps"),
                vec![
                    leaf(&[2, len, cin], Init::Spaced(-1.0, 1.0)),
                    leaf(&[k, cin, cout], ANY),
                    leaf(&[cout], Init::Uniform(0.5, 1.0)),
                ],
                move |g, p| {
                    let y = g.conv1d(p[0], p[1], geo)?;
                    let y = g.add(y, p[2])?;
                    let y = g.relu(y)?;
                    g.max(y, 1, false)
                },
            )
            .with_difference_step(1e-3),
        );
    }
    let geo = Conv1dGeometry::new(9, 3, 2, 1, Padding::Same).expect("a valid geometry");
    cases.push(OpCase::new(
        "conv1d_backward_data same k3 stride 2",
        vec![leaf(&[2, geo.out_len, 4], ANY), leaf(&[3, 3, 4], ANY)],
        move |g, p| g.push(wgtrain::graph::Op::Conv1dBackwardData(geo), &[p[0], p[1]]),
    ));
    cases.push(OpCase::new(
        "conv1d_backward_filter same k3 stride 2",
        vec![leaf(&[2, 9, 3], ANY), leaf(&[2, geo.out_len, 4], ANY)],
        move |g, p| g.push(wgtrain::graph::Op::Conv1dBackwardFilter(geo), &[p[0], p[1]]),
    ));
    cases
}

/// `Conv2d` over (batch, height, width, in) with a (kh, kw, in, out) kernel, its two gradient
/// ops as ops of their own, and max and average pooling with their gradients.
pub fn conv2d_cases() -> Vec<OpCase> {
    type Window = ([usize; 2], [usize; 2], [usize; 2], [usize; 2], Padding);
    let geometries: [(&str, Window); 6] = [
        ("same 3x3", ([5, 6], [3, 3], [1, 1], [1, 1], Padding::Same)),
        (
            "same 2x2 (odd pads after)",
            ([5, 4], [2, 2], [1, 1], [1, 1], Padding::Same),
        ),
        (
            "valid 3x2 stride (2, 1) dilation (1, 2)",
            ([7, 6], [3, 2], [2, 1], [1, 2], Padding::Valid),
        ),
        (
            "same 3x3 stride 2",
            ([7, 6], [3, 3], [2, 2], [1, 1], Padding::Same),
        ),
        (
            "same 1x1 stride 2",
            ([5, 5], [1, 1], [2, 2], [1, 1], Padding::Same),
        ),
        ("1x1", ([3, 4], [1, 1], [1, 1], [1, 1], Padding::Valid)),
    ];
    let geo = |(size, k, s, d, pad): Window| {
        Conv2dGeometry::new(size, k, s, d, pad).expect("a valid geometry")
    };
    let (cin, cout) = (3, 4);
    let mut cases = Vec::new();
    for (name, window) in geometries {
        let geo = geo(window);
        let (h, w) = (geo.rows.in_len, geo.cols.in_len);
        let (kh, kw) = (geo.rows.kernel, geo.cols.kernel);
        cases.push(OpCase::new(
            format!("conv2d {name} [2, {h}, {w}, {cin}] -> {cout}"),
            vec![leaf(&[2, h, w, cin], ANY), leaf(&[kh, kw, cin, cout], ANY)],
            move |g, p| g.conv2d(p[0], p[1], geo),
        ));
    }
    let strided = geo(geometries[3].1);
    let out = [2, strided.rows.out_len, strided.cols.out_len, cout];
    cases.push(OpCase::new(
        "conv2d_backward_data same 3x3 stride 2",
        vec![leaf(&out, ANY), leaf(&[3, 3, cin, cout], ANY)],
        move |g, p| g.push(Op::Conv2dBackwardData(strided), &[p[0], p[1]]),
    ));
    cases.push(OpCase::new(
        "conv2d_backward_filter same 3x3 stride 2",
        vec![leaf(&[2, 7, 6, cin], ANY), leaf(&out, ANY)],
        move |g, p| g.push(Op::Conv2dBackwardFilter(strided), &[p[0], p[1]]),
    ));
    let pools: [(&str, Window); 4] = [
        ("2x2", ([6, 4], [2, 2], [2, 2], [1, 1], Padding::Valid)),
        (
            "3x3 stride 2 same, odd size",
            ([7, 5], [3, 3], [2, 2], [1, 1], Padding::Same),
        ),
        (
            "2x2 stride 1 same",
            ([4, 5], [2, 2], [1, 1], [1, 1], Padding::Same),
        ),
        (
            "3x2 stride (1, 2) valid",
            ([5, 6], [3, 2], [1, 2], [1, 1], Padding::Valid),
        ),
    ];
    for (name, window) in pools {
        let geo = geo(window);
        let (h, w) = (geo.rows.in_len, geo.cols.in_len);
        for kind in [PoolKind::Max, PoolKind::Average] {
            // Max pooling: no two values close, so no window's maximum moves under the
            // finite differences.
            let init = match kind {
                PoolKind::Max => Init::Spaced(-1.0, 1.0),
                PoolKind::Average => ANY,
            };
            cases.push(
                OpCase::new(
                    format!("pool2d {kind:?} {name} [2, {h}, {w}, 3]"),
                    vec![leaf(&[2, h, w, 3], init)],
                    move |g, p| g.pool2d(p[0], kind, geo),
                )
                .with_difference_step(1e-3),
            );
        }
    }
    let avg = geo(pools[1].1);
    cases.push(OpCase::new(
        "pool2d_grad Average 3x3 stride 2 same",
        vec![leaf(&[2, avg.rows.out_len, avg.cols.out_len, 3], ANY)],
        move |g, p| {
            let op = Op::Pool2dGrad {
                kind: PoolKind::Average,
                geo: avg,
            };
            g.push(op, &[p[0]])
        },
    ));
    // Conv2D(relu) -> MaxPooling2D -> Conv2D -> AveragePooling2D(same): the maxima of relu
    // outputs that are 0 tie; their gradient is 0 whichever wins.
    let first = geo(([6, 6], [3, 3], [1, 1], [1, 1], Padding::Same));
    let pool = geo(([6, 6], [2, 2], [2, 2], [1, 1], Padding::Valid));
    let second = geo(([3, 3], [2, 2], [1, 1], [1, 1], Padding::Same));
    let avg = geo(([3, 3], [2, 2], [2, 2], [1, 1], Padding::Same));
    cases.push(
        OpCase::new(
            "conv2d relu -> max pool -> conv2d -> average pool",
            vec![
                leaf(&[2, 6, 6, 2], Init::Spaced(-1.0, 1.0)),
                leaf(&[3, 3, 2, 3], ANY),
                leaf(&[2, 2, 3, 2], ANY),
            ],
            move |g, p| {
                let y = g.conv2d(p[0], p[1], first)?;
                let y = g.relu(y)?;
                let y = g.pool2d(y, PoolKind::Max, pool)?;
                let y = g.conv2d(y, p[2], second)?;
                g.pool2d(y, PoolKind::Average, avg)
            },
        )
        .with_difference_step(1e-3),
    );
    cases
}

/// How a recurrent case is set up.
#[derive(Clone, Copy)]
pub struct Walk {
    pub cell: Cell,
    pub batch: usize,
    pub steps: usize,
    pub units: usize,
    pub activation: Activation,
    pub gate_activation: Activation,
    pub go_backwards: bool,
    pub outputs_in_walk_order: bool,
    pub zero_output_for_mask: bool,
    pub initial_state: bool,
    pub recurrent_bias: bool,
    pub masked: bool,
}

impl Walk {
    pub fn new(cell: Cell, batch: usize, steps: usize, units: usize) -> Walk {
        Walk {
            cell,
            batch,
            steps,
            units,
            activation: Activation::Tanh,
            gate_activation: Activation::Sigmoid,
            go_backwards: false,
            outputs_in_walk_order: false,
            zero_output_for_mask: false,
            initial_state: false,
            recurrent_bias: false,
            masked: false,
        }
    }

    /// The walk as an op case: params xw, the recurrent kernel, then the initial states and
    /// the recurrent bias when present; the mask (random 0/1 steps) fed as an input. The output
    /// joins every result (sequence, last output, final states), so each one's gradient is
    /// checked.
    pub fn case(self) -> OpCase {
        let (b, t, u) = (self.batch, self.steps, self.units);
        let gu = self.cell.gates() * u;
        let name = format!(
            "{:?} [{b}, {t}, {u}] {:?}/{:?}{}{}{}{}{}{}",
            self.cell,
            self.activation,
            self.gate_activation,
            if self.go_backwards { " backwards" } else { "" },
            if self.outputs_in_walk_order {
                " walk-order"
            } else {
                ""
            },
            if self.zero_output_for_mask {
                " zero-masked"
            } else {
                ""
            },
            if self.initial_state {
                " initial-state"
            } else {
                ""
            },
            if self.recurrent_bias {
                " recurrent-bias"
            } else {
                ""
            },
            if self.masked { " masked" } else { "" },
        );
        let mut params = vec![
            leaf(&[b, t, gu], Init::Uniform(-1.5, 1.5)),
            leaf(&[u, gu], Init::Uniform(-0.8, 0.8)),
        ];
        let states = if self.initial_state {
            if self.cell == Cell::Lstm {
                2
            } else {
                1
            }
        } else {
            0
        };
        for _ in 0..states {
            params.push(leaf(&[b, u], ANY));
        }
        if self.recurrent_bias {
            params.push(leaf(&[gu], ANY));
        }
        let case = OpCase::new(name, params, move |g, p| {
            let spec = RecurrentSpec {
                cell: self.cell,
                units: u,
                activation: self.activation,
                recurrent_activation: self.gate_activation,
                go_backwards: self.go_backwards,
                outputs_in_walk_order: self.outputs_in_walk_order,
                zero_output_for_mask: self.zero_output_for_mask,
                initial_state: false,
                recurrent_bias: false,
                masked: false,
            };
            let bias = self.recurrent_bias.then(|| p[2 + states]);
            let mask = self.masked.then(|| p[p.len() - 1]);
            let r = g.recurrent(spec, p[0], p[1], &p[2..2 + states], bias, mask)?;
            let seq = g.reshape(r.outputs, [b, t * u])?;
            let mut all = vec![seq, r.last, r.state];
            all.extend(r.cell_state);
            g.concat(&all, 1)
        });
        if self.masked {
            case.with_inputs(vec![leaf(&[b, t], Init::Integers(0, 1))])
        } else {
            case
        }
    }
}

/// Recurrent walks with smooth activations: every cell, direction, mask rule and optional
/// input.
pub fn recurrent_cases() -> Vec<OpCase> {
    let w = Walk::new;
    vec![
        w(Cell::SimpleRnn, 3, 5, 4).case(),
        Walk {
            go_backwards: true,
            outputs_in_walk_order: true,
            initial_state: true,
            masked: true,
            activation: Activation::Sigmoid,
            ..w(Cell::SimpleRnn, 3, 6, 5)
        }
        .case(),
        Walk {
            initial_state: true,
            masked: true,
            ..w(Cell::Lstm, 2, 5, 3)
        }
        .case(),
        Walk {
            go_backwards: true,
            zero_output_for_mask: true,
            masked: true,
            ..w(Cell::Lstm, 3, 4, 2)
        }
        .case(),
        Walk {
            initial_state: true,
            recurrent_bias: true,
            masked: true,
            ..w(Cell::Gru, 2, 5, 3)
        }
        .case(),
        Walk {
            recurrent_bias: true,
            go_backwards: true,
            ..w(Cell::Gru, 3, 4, 2)
        }
        .case(),
        // More rows than the CPU walks together in one block.
        Walk {
            initial_state: true,
            masked: true,
            ..w(Cell::Lstm, 19, 3, 2)
        }
        .case(),
        Walk {
            recurrent_bias: true,
            masked: true,
            ..w(Cell::Gru, 11, 3, 2)
        }
        .case(),
        Walk {
            masked: true,
            ..w(Cell::SimpleRnn, 10, 4, 3)
        }
        .case(),
    ]
}

/// Recurrent walks with kinked activations (relu, hard sigmoid) and more units than a GPU
/// workgroup has invocations: compared across backends, not by finite differences.
pub fn recurrent_kinked_cases() -> Vec<OpCase> {
    let w = Walk::new;
    vec![
        Walk {
            activation: Activation::Relu,
            masked: true,
            ..w(Cell::SimpleRnn, 4, 7, 70)
        }
        .case(),
        Walk {
            gate_activation: Activation::HardSigmoid,
            initial_state: true,
            masked: true,
            ..w(Cell::Lstm, 3, 6, 67)
        }
        .case(),
        Walk {
            activation: Activation::Linear,
            recurrent_bias: true,
            masked: true,
            zero_output_for_mask: true,
            ..w(Cell::Gru, 5, 9, 65)
        }
        .case(),
    ]
}

pub fn all_cases() -> Vec<OpCase> {
    [
        gather_cases(),
        conv_cases(),
        conv2d_cases(),
        matmul_cases(),
        binary_cases(),
        unary_cases(),
        reduce_cases(),
        softmax_cases(),
        layout_cases(),
        l2_normalize_cases(),
        dropout_cases(),
        gate_cases(),
        batch_norm_cases(),
        recurrent_cases(),
        recurrent_kinked_cases(),
        loss_cases(),
        composite_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Cases past the CPU kernels' threading thresholds (32768 elements for elementwise work,
/// 2^18 multiply-adds for a matmul).
pub fn large_cases() -> Vec<OpCase> {
    vec![
        OpCase::new(
            "large gated mix [32, 25] x 16 (rows past one thread's chunk), biased, masked, dropout 0.1",
            gate_leaves(&[32, 25], 16, true, true),
            |g, p| gated_tail(g, p, 0, 0.1, true, false),
        ),
        // Rows past one thread's chunk; past 65535 loop trips if one invocation walked a column.
        OpCase::new(
            "large batch_norm [70000, 3]",
            vec![
                leaf(&[70_000, 3], Init::Uniform(-2.0, 3.0)),
                leaf(&[3], Init::Signed(0.5, 1.5)),
                leaf(&[3], ANY),
            ],
            |g, p| Ok(g.batch_norm(p[0], p[1], p[2], 1e-3)?.0),
        ),
        OpCase::new(
            "large relu [128, 512]",
            vec![leaf(&[128, 512], Init::Signed(0.1, 2.0))],
            |g, p| g.relu(p[0]),
        ),
        OpCase::new(
            "large sigmoid [256, 256]",
            vec![leaf(&[256, 256], Init::Uniform(-3.0, 3.0))],
            |g, p| g.sigmoid(p[0]),
        ),
        OpCase::new(
            "large mul [256, 256] * [256, 256]",
            vec![leaf(&[256, 256], ANY), leaf(&[256, 256], ANY)],
            |g, p| g.mul(p[0], p[1]),
        ),
        OpCase::new(
            "large add [128, 512] + [512]",
            vec![leaf(&[128, 512], ANY), leaf(&[512], ANY)],
            |g, p| g.add(p[0], p[1]),
        ),
        OpCase::new(
            "large dropout [256, 256] rate 0.5",
            vec![leaf(&[256, 256], ANY)],
            |g, p| g.dropout(p[0], 0.5, 3),
        ),
        // Past 65535 loop trips per invocation if run serially, which lavapipe cuts short.
        OpCase::new(
            "large sum [140000]",
            vec![leaf(&[140_000], Init::Integers(-3, 3))],
            |g, p| g.sum(p[0], 0, true),
        ),
        OpCase::new(
            "large softmax [2, 70000]",
            vec![leaf(&[2, 70_000], Init::Uniform(-3.0, 3.0))],
            |g, p| g.softmax(p[0], -1),
        ),
        OpCase::new(
            "large softmax_cross_entropy [2, 20000]",
            vec![leaf(&[2, 20_000], Init::Uniform(-3.0, 3.0))],
            |g, p| g.softmax_cross_entropy(p[0], p[1]),
        )
        .with_inputs(vec![leaf(&[2, 20_000], Init::OneHot)]),
        matmul_case("large", &[128, 784], &[784, 256], false, false),
        // Large enough an output for the big-block tiles of the hardware-GPU kernels.
        matmul_case("large_output", &[64, 520], &[512, 64], true, true),
        matmul_case("large", &[784, 128], &[256, 784], true, true),
        matmul_case("large_batched", &[8, 128, 96], &[8, 96, 128], false, false),
        matmul_case("large_shared", &[16, 64, 256], &[128, 256], false, true),
        // Many rows against a shallow operand, plain and transposed (a sequence's projection).
        matmul_case("large_tall", &[4100, 64], &[64, 8], false, false),
        matmul_case("large_tall", &[4100, 64], &[8, 64], false, true),
        matmul_case("large_tall_shared", &[2, 2100, 64], &[64, 8], false, false),
        OpCase::new(
            "large dense relu dense softmax_cross_entropy",
            vec![
                leaf(&[128, 784], ANY),
                leaf(&[784, 256], Init::Uniform(-0.1, 0.1)),
                leaf(&[256], ANY),
                leaf(&[256, 10], Init::Uniform(-0.1, 0.1)),
            ],
            |g, p| {
                let h = g.matmul(p[0], p[1])?;
                let h = g.add(h, p[2])?;
                let h = g.relu(h)?;
                let z = g.matmul(h, p[3])?;
                g.softmax_cross_entropy(z, p[4])
            },
        )
        .with_inputs(vec![leaf(&[128, 10], Init::OneHot)]),
    ]
}
