//! The boundary every backend implements. Above it nothing knows whether a plan runs on the CPU
//! or a GPU: the model hands over parameters and plans, feeds step inputs and reads values back.

use crate::graph::NodeId;
use crate::op::ParamId;
use crate::optim::StepScalars;
use crate::plan::Plan;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PlanId(pub usize);

/// What a step needs besides its inputs.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepArgs {
    /// The run's seed (dropout masks).
    pub seed: u64,
    /// The global training step, so each step draws fresh dropout masks.
    pub step: u64,
    /// Optimizer scalars for this step (see `OptimizerClock::tick`).
    pub optimizer: StepScalars,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

pub type BackendResult<T> = Result<T, BackendError>;

pub trait Backend {
    /// A one-line description, e.g. "cpu (2 threads)".
    fn describe(&self) -> String;
    /// Uploads parameter values; they then live in the backend for the whole run.
    fn set_param(&mut self, id: ParamId, values: &[f32]) -> BackendResult<()>;
    fn read_param(&mut self, id: ParamId, out: &mut [f32]) -> BackendResult<()>;
    /// Clears optimizer state (moments, velocities) so training starts afresh.
    fn reset_optimizer(&mut self);
    /// Prepares a plan once: memory, kernels, everything a step needs.
    fn compile(&mut self, plan: Plan) -> BackendResult<PlanId>;
    fn plan(&self, id: PlanId) -> &Plan;
    /// Runs one execution of a compiled plan. `inputs[i]` feeds `Op::Input { index: i }`.
    fn run(&mut self, id: PlanId, inputs: &[&[f32]], args: &StepArgs) -> BackendResult<()>;
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
