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
    /// Copies the value a node held after the last run.
    fn read(&mut self, id: PlanId, node: NodeId, out: &mut [f32]) -> BackendResult<()>;
}
