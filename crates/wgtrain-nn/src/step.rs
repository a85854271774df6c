//! The public training step: one batch at a time, like Keras' `train_on_batch`,
//! `test_on_batch` and `predict_on_batch`, and the weights as arrays (`get_weights`).

use crate::array::Array;
use crate::batch::MAX_ARRAYS;
use crate::callback::Logs;
use crate::model::{Model, PlanHandle, PlanKind};
use anyhow::{bail, Result};
use wgtrain_graph::{Feed, PlanId, Shape, StepArgs};

impl Model {
    /// Queues one optimizer step of plan `plan` on `feeds`; its loss and metrics arrive later
    /// through `Backend::take_scalars`.
    pub(crate) fn queue_train_step(
        &mut self,
        plan: PlanId,
        feeds: &[Feed],
        seed: u64,
    ) -> Result<()> {
        let rt = self.runtime_mut()?;
        // The step overwrites the gradients a hand-written loop may be holding.
        rt.pending_gradients = None;
        let optimizer = rt.clock.tick(&rt.config.optimizer, rt.learning_rate);
        let args = StepArgs {
            seed,
            step: rt.clock.step,
            optimizer,
            ..Default::default()
        };
        rt.backend.run(plan, feeds, &args)?;
        Ok(())
    }

    /// The loss and metrics of the latest step or evaluation (or `compute_gradients`),
    /// waiting for the device.
    pub fn latest_logs(&mut self) -> Result<Logs> {
        let names: Vec<String> = std::iter::once("loss".to_string())
            .chain(self.metric_names())
            .collect();
        let mut last = Vec::new();
        self.runtime_mut()?.backend.take_scalars(false, &mut |v| {
            last.clear();
            last.extend_from_slice(v);
        })?;
        Ok(names.into_iter().zip(last).collect())
    }

    /// The plan of `kind` for this batch of inputs and targets, once they are checked, and the
    /// batch's sample count.
    pub(crate) fn batch_plan(
        &mut self,
        kind: PlanKind,
        x: &[&Array],
        y: &[&Array],
    ) -> Result<(PlanHandle, usize)> {
        self.require_compiled()?;
        let n = self.check_data(x, y)?;
        let targets: Vec<Shape> = y.iter().map(|a| a.sample_shape()).collect();
        let feeds = crate::fit::sample_shapes(x);
        Ok((self.plan(kind, n, &feeds, &targets)?, n))
    }

    pub(crate) fn whole_batch<'a>(&self, arrays: &'a [&'a Array]) -> Result<Vec<Feed<'a>>> {
        if arrays.len() > MAX_ARRAYS {
            bail!("at most {MAX_ARRAYS} input and target arrays are supported");
        }
        Ok(arrays.iter().map(|a| a.rows(0, a.samples())).collect())
    }

    /// One optimizer step on this batch; returns the batch's loss and metrics, computed before
    /// the update, like Keras' `train_on_batch`.
    pub fn train_on_batch(&mut self, x: &[&Array], y: &[&Array]) -> Result<Logs> {
        let (plan, _) = self.batch_plan(PlanKind::Train, x, y)?;
        let xy = [x, y].concat();
        let feeds = self.whole_batch(&xy)?;
        self.runtime_mut()?
            .backend
            .take_scalars(false, &mut |_| {})?;
        self.queue_train_step(plan.id, &feeds, self.seed)?;
        self.latest_logs()
    }

    /// Runs one training step on this batch with every kernel timed by the backend:
    /// (kernel name, seconds) in execution order. The step trains the model, as
    /// `train_on_batch` does.
    pub fn profile_train_step(&mut self, x: &[&Array], y: &[&Array]) -> Result<Vec<(String, f64)>> {
        let (plan, _) = self.batch_plan(PlanKind::Train, x, y)?;
        let xy = [x, y].concat();
        let feeds = self.whole_batch(&xy)?;
        let seed = self.seed;
        let rt = self.runtime_mut()?;
        let optimizer = rt.clock.tick(&rt.config.optimizer, rt.learning_rate);
        let args = StepArgs {
            seed,
            step: rt.clock.step,
            optimizer,
            ..Default::default()
        };
        Ok(rt.backend.profile(plan.id, &feeds, &args)?)
    }

    /// The loss and metrics on this batch without training, like Keras' `test_on_batch`.
    pub fn test_on_batch(&mut self, x: &[&Array], y: &[&Array]) -> Result<Logs> {
        let (plan, _) = self.batch_plan(PlanKind::Evaluate, x, y)?;
        let xy = [x, y].concat();
        let feeds = self.whole_batch(&xy)?;
        let rt = self.runtime_mut()?;
        rt.backend.take_scalars(false, &mut |_| {})?;
        rt.backend.run(plan.id, &feeds, &StepArgs::default())?;
        self.latest_logs()
    }

    /// The model's outputs for this batch, like Keras' `predict_on_batch`.
    pub fn predict_on_batch(&mut self, x: &[&Array]) -> Result<Vec<Array>> {
        self.require_compiled()?;
        let n = self.check_inputs(x)?;
        let plan = self.plan(PlanKind::Predict, n, &crate::fit::sample_shapes(x), &[])?;
        let feeds = self.whole_batch(x)?;
        let shapes = self.predicted_shapes(&plan)?;
        let rt = self.runtime_mut()?;
        rt.backend.run(plan.id, &feeds, &StepArgs::default())?;
        plan.predictions
            .iter()
            .zip(shapes)
            .map(|(node, s)| {
                let mut out = vec![0.0; n * s.numel()];
                rt.backend.read(plan.id, *node, &mut out)?;
                let mut shape = vec![n];
                shape.extend(&s.0);
                Array::new(shape, out)
            })
            .collect()
    }

    /// Every weight as an array, in the model's weight order, like Keras' `get_weights`.
    pub fn get_weights(&mut self) -> Result<Vec<Array>> {
        let shapes: Vec<Shape> = self.weights.iter().map(|(_, w)| w.shape.clone()).collect();
        self.weight_values()?
            .into_iter()
            .zip(shapes)
            .map(|(v, s)| Array::new(weight_array_shape(&s), v))
            .collect()
    }

    /// Replaces every weight, in the order of `get_weights`, like Keras' `set_weights`.
    pub fn set_weights(&mut self, weights: &[Array]) -> Result<()> {
        let names = self.weight_names();
        if weights.len() != names.len() {
            bail!(
                "set_weights got {} arrays but the model has {} weights ({})",
                weights.len(),
                names.len(),
                names.join(", ")
            );
        }
        let mut values = Vec::with_capacity(weights.len());
        for ((a, (_, w)), name) in weights.iter().zip(&self.weights).zip(&names) {
            if a.shape.0 != weight_array_shape(&w.shape).0 {
                bail!(
                    "set_weights: weight '{name}' has shape {} but the array has shape {}",
                    w.shape,
                    a.shape
                );
            }
            values.push(a.f32s()?.to_vec());
        }
        self.set_weight_values(values)
    }
}

/// Arrays need a leading axis; a scalar weight is held as shape (1,).
fn weight_array_shape(s: &Shape) -> Shape {
    if s.rank() == 0 {
        Shape(vec![1])
    } else {
        s.clone()
    }
}
