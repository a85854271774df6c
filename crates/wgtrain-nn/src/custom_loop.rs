//! A training loop written by hand, like Keras' `tf.GradientTape` with
//! `optimizer.apply_gradients`: the loss and gradients of a batch, then an optimizer step with
//! them, and running means of the loss and metrics. The gradients stay on the device between
//! the two calls; both run the compiled training plan (its graph, then its updates), so nothing
//! is compiled or allocated per step.

use crate::array::Array;
use crate::callback::Logs;
use crate::model::{Model, PlanKind};
use anyhow::{bail, Result};
use wgtrain_graph::{Phase, PlanId, StepArgs};

/// The gradients of one batch, waiting on the device for `Model::apply_gradients`.
#[must_use = "gradients do nothing until they are applied"]
pub struct Gradients {
    number: u64,
    plan: PlanId,
    /// Samples in the batch.
    pub rows: usize,
}

impl Model {
    /// Runs the model on a batch and differentiates the compiled loss with respect to every
    /// trainable weight (the forward pass under a tape and `tape.gradient`). The loss and
    /// metrics of the batch come from `latest_logs`; the gradients from `gradient_arrays`.
    pub fn compute_gradients(&mut self, x: &[&Array], y: &[&Array]) -> Result<Gradients> {
        let (plan, n) = self.batch_plan(PlanKind::Train, x, y)?;
        let xy = [x, y].concat();
        let feeds = self.whole_batch(&xy)?;
        let seed = self.seed;
        let rt = self.runtime_mut()?;
        rt.backend.take_scalars(false, &mut |_| {})?;
        // Dropout draws for the step these gradients are for, as `train_on_batch` would.
        let args = StepArgs {
            seed,
            step: rt.clock.step + 1,
            phase: Phase::Gradients,
            ..Default::default()
        };
        rt.backend.run(plan.id, &feeds, &args)?;
        rt.gradient_runs += 1;
        rt.pending_gradients = Some((rt.gradient_runs, plan.id));
        Ok(Gradients {
            number: rt.gradient_runs,
            plan: plan.id,
            rows: n,
        })
    }

    /// One optimizer step with `gradients`, which must be the latest this model computed and
    /// not yet applied (like `optimizer.apply_gradients(zip(gradients, weights))`).
    pub fn apply_gradients(&mut self, gradients: Gradients) -> Result<()> {
        let seed = self.seed;
        let rt = self.runtime_mut()?;
        if rt.pending_gradients != Some((gradients.number, gradients.plan)) {
            bail!(
                "these gradients are no longer on the device: a later compute_gradients or \
                 training step replaced them; apply each batch's gradients before the next"
            );
        }
        rt.pending_gradients = None;
        let optimizer = rt.clock.tick(&rt.config.optimizer, rt.learning_rate);
        let args = StepArgs {
            seed,
            step: rt.clock.step,
            optimizer,
            phase: Phase::Updates,
        };
        rt.backend.run(gradients.plan, &[], &args)?;
        Ok(())
    }

    /// The gradients of every trainable weight, by weight name, read back from the device.
    pub fn gradient_arrays(&mut self, gradients: &Gradients) -> Result<Vec<(String, Array)>> {
        let names = self.weight_names();
        let ids: Vec<_> = self
            .weights
            .iter()
            .map(|(_, w)| (self.param_ids.get(&w.uid).copied(), w.shape.clone()))
            .collect();
        let rt = self.runtime_mut()?;
        if rt.pending_gradients.map(|p| p.0) != Some(gradients.number) {
            bail!("these gradients were applied or replaced; read them before apply_gradients");
        }
        let updates = rt.backend.plan(gradients.plan).updates.clone();
        let mut out = Vec::new();
        for (name, (id, shape)) in names.into_iter().zip(ids) {
            let Some(u) = updates.iter().find(|u| Some(u.param) == id) else {
                continue;
            };
            let mut values = vec![0.0; shape.numel()];
            rt.backend.read(gradients.plan, u.grad, &mut values)?;
            out.push((name, Array::new(shape.0.clone(), values)?));
        }
        Ok(out)
    }
}

/// Running means of the loss and metrics over the batches seen, each batch weighted by its
/// samples (Keras' metric objects' `update_state` / `result` / `reset_state`).
#[derive(Clone, Debug, Default)]
pub struct RunningLogs {
    sums: Vec<(String, f64)>,
    samples: usize,
}

impl RunningLogs {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn update(&mut self, logs: &Logs, samples: usize) {
        if self.sums.is_empty() {
            self.sums = logs.iter().map(|(k, _)| (k.clone(), 0.0)).collect();
        }
        for ((_, sum), (_, v)) in self.sums.iter_mut().zip(logs) {
            *sum += *v as f64 * samples as f64;
        }
        self.samples += samples;
    }
    pub fn result(&self) -> Logs {
        let n = self.samples.max(1) as f64;
        self.sums
            .iter()
            .map(|(k, s)| (k.clone(), (s / n) as f32))
            .collect()
    }
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}
