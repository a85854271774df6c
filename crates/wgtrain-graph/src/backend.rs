//! The boundary every backend implements. Above it nothing knows whether a plan runs on the CPU
//! or a GPU: the model hands over parameters and plans, feeds step inputs and reads values back.

use crate::dtype::DType;
use crate::graph::NodeId;
use crate::op::Op;
use crate::op::ParamId;
use crate::optim::StepScalars;
use crate::plan::{Plan, Slot};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PlanId(pub usize);

/// The parts of a training plan: the graph (loss, metrics, gradients) and the updates (the
/// optimizer and state assigns). A hand-written training loop runs them apart, reading or
/// changing nothing in between; the gradients wait on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Whole,
    /// The graph only: inputs are fed, the loss and metrics reported, the updates left out.
    Gradients,
    /// The updates only, from the gradients the plan's latest `Gradients` run left; nothing
    /// is fed or reported.
    Updates,
}

impl Phase {
    pub fn computes(self) -> bool {
        self != Phase::Updates
    }
    pub fn updates(self) -> bool {
        self != Phase::Gradients
    }
}

/// What a step needs besides its inputs.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepArgs {
    /// The run's seed (dropout masks).
    pub seed: u64,
    /// The global training step, so each step draws fresh dropout masks.
    pub step: u64,
    /// Optimizer scalars for this step (see `OptimizerClock::tick`).
    pub optimizer: StepScalars,
    /// Which part of a training plan to run.
    pub phase: Phase,
}

/// One step input as the host holds it. Both types are 32-bit, stored in the arena bit for bit.
#[derive(Clone, Copy, Debug)]
pub enum Feed<'a> {
    F32(&'a [f32]),
    I32(&'a [i32]),
}

impl<'a> Feed<'a> {
    pub fn dtype(&self) -> DType {
        match self {
            Feed::F32(_) => DType::F32,
            Feed::I32(_) => DType::I32,
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Feed::F32(v) => v.len(),
            Feed::I32(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The values as 32-bit words in an f32 slice (integers keep their bits).
    pub fn words(&self) -> &'a [f32] {
        match *self {
            Feed::F32(v) => v,
            Feed::I32(v) => bytemuck::cast_slice(v),
        }
    }
}

impl<'a> From<&'a [f32]> for Feed<'a> {
    fn from(v: &'a [f32]) -> Self {
        Feed::F32(v)
    }
}
impl<'a> From<&'a [i32]> for Feed<'a> {
    fn from(v: &'a [i32]) -> Self {
        Feed::I32(v)
    }
}
impl<'a> From<&'a Vec<f32>> for Feed<'a> {
    fn from(v: &'a Vec<f32>) -> Self {
        Feed::F32(v)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

pub type BackendResult<T> = Result<T, BackendError>;

/// Fails unless `len` values fit optimizer slot `k` (0 or 1) of parameter `id`, of `n` values.
pub fn check_slot_values(id: ParamId, k: usize, n: usize, len: usize) -> BackendResult<()> {
    if k > 1 || len != n {
        return Err(BackendError(format!(
            "optimizer slot {k} of parameter {} takes {n} values, got {len}",
            id.0
        )));
    }
    Ok(())
}

pub trait Backend {
    /// A one-line description, e.g. "cpu (2 threads)".
    fn describe(&self) -> String;
    /// Uploads parameter values; they then live in the backend for the whole run.
    fn set_param(&mut self, id: ParamId, values: &[f32]) -> BackendResult<()>;
    fn read_param(&mut self, id: ParamId, out: &mut [f32]) -> BackendResult<()>;
    /// Clears optimizer state (moments, velocities) so training starts afresh.
    fn reset_optimizer(&mut self);
    /// Copies optimizer slot `k` (0 or 1: first and second moments, velocity, ...) of parameter
    /// `id` into `out`; false when no step has made that slot yet.
    fn read_optimizer_slot(
        &mut self,
        id: ParamId,
        k: usize,
        out: &mut [f32],
    ) -> BackendResult<bool>;
    /// Sets optimizer slot `k` of parameter `id`, as a resumed run had it.
    fn write_optimizer_slot(&mut self, id: ParamId, k: usize, values: &[f32]) -> BackendResult<()>;
    /// Prepares a plan once: memory, kernels, everything a step needs.
    fn compile(&mut self, plan: Plan) -> BackendResult<PlanId>;
    fn plan(&self, id: PlanId) -> &Plan;
    /// Runs one execution of a compiled plan. `inputs[i]` feeds `Op::Input { index: i }`.
    fn run(&mut self, id: PlanId, inputs: &[Feed], args: &StepArgs) -> BackendResult<()>;
    /// Copies the value a node held after the last run. This waits for the device.
    fn read(&mut self, id: PlanId, node: NodeId, out: &mut [f32]) -> BackendResult<()>;
    /// Hands `sink` the scalar outputs (the loss, then the metrics, as `plan.outputs` lists them)
    /// of earlier runs, oldest first. With `keep_latest` the latest run stays queued, so a caller
    /// collects each step's values a step late while the device works on the next one. Only the
    /// last `RECENT_RUNS` runs are kept.
    fn take_scalars(
        &mut self,
        keep_latest: bool,
        sink: &mut dyn FnMut(&[f32]),
    ) -> BackendResult<()>;
    /// Runs a compiled plan once and reports where its time went: (kernel name, seconds) for
    /// each kernel it ran, in order. Backends that cannot time kernels say so.
    fn profile(
        &mut self,
        id: PlanId,
        inputs: &[Feed],
        args: &StepArgs,
    ) -> BackendResult<Vec<(String, f64)>> {
        let _ = (id, inputs, args);
        Err(BackendError(format!(
            "{} cannot time its kernels",
            self.describe()
        )))
    }
    /// Counters since the backend was made.
    fn stats(&self) -> BackendStats;
    /// Waits until every submitted run has finished on the device.
    fn synchronize(&mut self) -> BackendResult<()>;
}

/// What runs have cost on the host, for benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackendStats {
    pub runs: u64,
    /// Command buffers submitted by runs (0 for a backend that computes on the host).
    pub submits: u64,
    /// Kernel dispatches recorded by runs.
    pub dispatches: u64,
    /// Seconds spent inside `run` on the host.
    pub host_seconds: f64,
    /// Bytes of device memory held for parameters, optimizer slots and compiled plans' arenas
    /// and scratch (0 for a backend that computes in host memory).
    pub device_bytes: u64,
}

/// How many runs' scalar outputs a backend keeps for `take_scalars`.
pub const RECENT_RUNS: usize = 4;
/// The most scalar outputs (loss plus metrics) a plan may have.
pub const MAX_SCALARS: usize = 16;

/// The scalar outputs of a plan, in the order `take_scalars` reports them.
pub fn scalar_nodes(plan: &Plan) -> impl Iterator<Item = NodeId> + '_ {
    plan.outputs
        .loss
        .iter()
        .chain(plan.outputs.metrics.iter())
        .copied()
}

/// A fixed ring of recent runs' scalar outputs, for backends whose values are on the host.
#[derive(Debug, Default)]
pub struct ScalarQueue {
    runs: [([f32; MAX_SCALARS], usize); RECENT_RUNS],
    first: usize,
    len: usize,
}

impl ScalarQueue {
    pub fn push(&mut self, values: impl Iterator<Item = f32>) {
        if self.len == RECENT_RUNS {
            self.first = (self.first + 1) % RECENT_RUNS;
            self.len -= 1;
        }
        let (slot, n) = &mut self.runs[(self.first + self.len) % RECENT_RUNS];
        *n = 0;
        for (dst, v) in slot.iter_mut().zip(values) {
            *dst = v;
            *n += 1;
        }
        self.len += 1;
    }

    pub fn take(&mut self, keep_latest: bool, sink: &mut dyn FnMut(&[f32])) {
        while self.len > usize::from(keep_latest) {
            let (slot, n) = &self.runs[self.first];
            sink(&slot[..*n]);
            self.first = (self.first + 1) % RECENT_RUNS;
            self.len -= 1;
        }
    }
}

/// Where the value a `read` asks for lives.
pub enum Stored {
    Param(ParamId),
    Slot(Slot),
}

/// Checks a `read` of `len` values of `node` against the plan.
pub fn stored(plan: &Plan, node: NodeId, len: usize) -> BackendResult<Stored> {
    if let Op::Param { id } = plan.graph.node(node).op {
        return Ok(Stored::Param(id));
    }
    let slot = plan.slots[node.0]
        .ok_or_else(|| BackendError(format!("node {} is not kept by the plan", node.0)))?;
    if len != slot.len {
        return Err(BackendError(format!(
            "node {} holds {} values, asked for {len}",
            node.0, slot.len
        )));
    }
    Ok(Stored::Slot(slot))
}

/// Checks that every parameter the plan reads is set, at the size the plan reads it;
/// `len_of` gives a set parameter's length.
pub fn check_params(plan: &Plan, len_of: impl Fn(ParamId) -> Option<usize>) -> BackendResult<()> {
    for (id, shape) in &plan.params {
        let have =
            len_of(*id).ok_or_else(|| BackendError(format!("parameter {} was never set", id.0)))?;
        if have != shape.numel() {
            return Err(BackendError(format!(
                "parameter {} has {have} values but the plan reads it as {shape}",
                id.0
            )));
        }
    }
    Ok(())
}

/// Checks a run's inputs against the plan, then hands each fed one to `write` with its slot,
/// as 32-bit words.
pub fn feed_inputs(
    plan: &Plan,
    inputs: &[Feed],
    mut write: impl FnMut(Slot, &[f32]),
) -> BackendResult<()> {
    let graph = &plan.graph;
    if inputs.len() != graph.input_shapes.len() {
        return Err(BackendError(format!(
            "the plan takes {} inputs, got {}",
            graph.input_shapes.len(),
            inputs.len()
        )));
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if let (Op::Input { index }, Some(slot)) = (&node.op, plan.slots[i]) {
            let data = inputs[*index];
            if data.dtype() != node.dtype {
                return Err(BackendError(format!(
                    "input {index} is fed {} values but the plan reads it as {}",
                    data.dtype(),
                    node.dtype
                )));
            }
            if data.len() != slot.len {
                return Err(BackendError(format!(
                    "input {index} should hold {} values (shape {}), got {}",
                    slot.len,
                    node.shape,
                    data.len()
                )));
            }
            write(slot, data.words());
        }
    }
    Ok(())
}
