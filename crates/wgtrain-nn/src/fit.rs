//! fit, evaluate and predict: feeding batches to compiled plans and reading results back.

use crate::array::Array;
use crate::history::History;
use crate::init::uniform_stream;
use crate::model::{Model, PlanKind};
use crate::progress::{format_metrics, EpochProgress};
use crate::tally::Tally;
use anyhow::{bail, Result};
use std::time::Instant;
use wgtrain_graph::{Shape, StepArgs};

/// Most arrays (inputs plus targets) one step takes.
const MAX_ARRAYS: usize = 8;

/// Where validation data comes from.
#[derive(Clone, Copy, Default)]
pub enum Validation<'a> {
    #[default]
    None,
    /// Held-out arrays, like Keras' `validation_data=(x, y)`.
    Data(&'a [&'a Array], &'a [&'a Array]),
    /// The last fraction of the training arrays, taken before shuffling.
    Split(f32),
}

#[derive(Clone)]
pub struct FitConfig<'a> {
    pub epochs: usize,
    pub batch_size: usize,
    pub shuffle: bool,
    /// Seeds shuffling and dropout; `None` uses the model's seed.
    pub seed: Option<u64>,
    pub validation: Validation<'a>,
    /// Stop after this many training steps in all.
    pub max_steps: Option<usize>,
    /// Print a progress bar and one line per epoch.
    pub verbose: bool,
}

impl Default for FitConfig<'_> {
    fn default() -> Self {
        Self {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            seed: None,
            validation: Validation::None,
            max_steps: None,
            verbose: true,
        }
    }
}

/// A view of arrays restricted to a range of samples.
#[derive(Clone, Copy)]
struct Rows<'a> {
    arrays: &'a [&'a Array],
    start: usize,
}

fn check_arrays(what: &str, arrays: &[&Array], expected: usize) -> Result<usize> {
    if arrays.len() != expected {
        bail!(
            "the model takes {expected} {what} arrays, got {}",
            arrays.len()
        );
    }
    let n = arrays[0].samples();
    for (i, a) in arrays.iter().enumerate() {
        if a.samples() != n {
            bail!(
                "{what} array {i} has {} samples but array 0 has {n}; every array needs the same number of samples",
                a.samples()
            );
        }
    }
    Ok(n)
}

/// Host buffers for one batch of every array, allocated once per call.
struct Batcher {
    buffers: Vec<Vec<f32>>,
}

impl Batcher {
    fn new(arrays: &[&Array], batch: usize) -> Self {
        Self {
            buffers: arrays
                .iter()
                .map(|a| vec![0.0; a.row_len() * batch])
                .collect(),
        }
    }

    /// Gathers samples `order[..]` (indices into `rows`) into the buffers.
    fn fill(&mut self, rows: &Rows, order: &[usize]) {
        for (buf, a) in self.buffers.iter_mut().zip(rows.arrays) {
            let w = a.row_len();
            for (j, &i) in order.iter().enumerate() {
                buf[j * w..(j + 1) * w].copy_from_slice(a.row(rows.start + i));
            }
        }
    }
}

impl Model {
    fn check_inputs(&self, x: &[&Array]) -> Result<usize> {
        let n = check_arrays("input", x, self.inputs.len())?;
        for (i, (a, t)) in x.iter().zip(&self.inputs).enumerate() {
            if a.sample_shape() != t.shape {
                bail!(
                    "input {i} has samples of shape {} but the model expects {}",
                    a.sample_shape(),
                    t.shape
                );
            }
        }
        Ok(n)
    }

    fn check_data(&self, x: &[&Array], y: &[&Array]) -> Result<usize> {
        let n = self.check_inputs(x)?;
        let ny = check_arrays("target", y, self.outputs.len())?;
        if n != ny {
            bail!("the inputs have {n} samples but the targets have {ny}");
        }
        if x.len() + y.len() > MAX_ARRAYS {
            bail!("at most {MAX_ARRAYS} input and target arrays are supported");
        }
        Ok(n)
    }

    /// Trains the model, like Keras' `fit`. Every sample is used: the last batch may be smaller.
    pub fn fit(&mut self, x: &[&Array], y: &[&Array], cfg: &FitConfig) -> Result<History> {
        self.require_compiled()?;
        let n = self.check_data(x, y)?;
        if cfg.batch_size == 0 {
            bail!("batch_size must be at least 1");
        }
        let (train_len, validation) = match cfg.validation {
            Validation::None => (n, None),
            Validation::Data(vx, vy) => {
                let vn = self.check_data(vx, vy)?;
                (n, Some((vx, vy, 0, vn)))
            }
            Validation::Split(f) => {
                if !(0.0..1.0).contains(&f) {
                    bail!("validation_split must be in [0, 1), got {f}");
                }
                let val = (n as f64 * f as f64).floor() as usize;
                (n - val, (val > 0).then_some((x, y, n - val, val)))
            }
        };
        if train_len == 0 {
            bail!("no training samples are left after the validation split");
        }
        let seed = cfg.seed.unwrap_or(self.seed);
        let targets: Vec<Shape> = y.iter().map(|a| a.sample_shape()).collect();
        let mut xy: Vec<&Array> = x.to_vec();
        xy.extend_from_slice(y);
        let rows = Rows {
            arrays: &xy,
            start: 0,
        };
        let batch = cfg.batch_size.min(train_len);
        let full = self.plan(PlanKind::Train, batch, &targets)?;
        let tail_len = train_len % batch;
        let tail = if tail_len > 0 {
            Some(self.plan(PlanKind::Train, tail_len, &targets)?)
        } else {
            None
        };
        let steps = train_len.div_ceil(batch);
        let mut batcher = Batcher::new(&xy, batch);
        let mut order: Vec<usize> = (0..train_len).collect();
        let mut history = History::default();
        let names = self.metric_names();
        let labelled = |means: &mut dyn Iterator<Item = f32>| -> Vec<(String, f32)> {
            std::iter::once("loss".to_string())
                .chain(names.iter().cloned())
                .zip(means)
                .collect()
        };
        let mut global_step = 0usize;

        'epochs: for epoch in 0..cfg.epochs {
            if cfg.shuffle {
                shuffle(&mut order, seed, epoch as u32);
            }
            let progress = EpochProgress::new(epoch, cfg.epochs, steps, cfg.verbose);
            let start = Instant::now();
            let rt = self.runtime.as_mut().expect("compiled");
            let mut tally = Tally::start(rt.backend.as_mut(), 1 + names.len())?;
            let at_step = |s: usize| format!("epoch {} step {s}", epoch + 1);
            let mut steps_done = 0;
            for s in 0..steps {
                if cfg.max_steps.is_some_and(|m| global_step >= m) {
                    break;
                }
                let step_start = Instant::now();
                let lo = s * batch;
                let hi = (lo + batch).min(train_len);
                let plan = if hi - lo == batch {
                    &full
                } else {
                    tail.as_ref().expect("a tail plan")
                };
                batcher.fill(&rows, &order[lo..hi]);
                let mut inputs: [&[f32]; MAX_ARRAYS] = [&[]; MAX_ARRAYS];
                for (k, b) in batcher.buffers.iter().enumerate() {
                    let w = xy[k].row_len();
                    inputs[k] = &b[..(hi - lo) * w];
                }
                let rt = self.runtime.as_mut().expect("compiled");
                let optimizer = rt.clock.tick(&rt.config.optimizer, rt.learning_rate);
                let args = StepArgs {
                    seed,
                    step: rt.clock.step,
                    optimizer,
                };
                rt.backend.run(plan.id, &inputs[..xy.len()], &args)?;
                tally.ran(hi - lo);
                // The previous step's values: the device already has this step queued.
                tally.collect(rt.backend.as_mut(), true, Some(&mut history.step_loss))?;
                tally.check_finite(at_step)?;
                history
                    .step_seconds
                    .push(step_start.elapsed().as_secs_f64());
                global_step += 1;
                steps_done += 1;
                progress.step(steps_done, || format_metrics(&labelled(&mut tally.means())));
            }
            let rt = self.runtime.as_mut().expect("compiled");
            tally.collect(rt.backend.as_mut(), false, Some(&mut history.step_loss))?;
            tally.check_finite(at_step)?;
            if steps_done == 0 {
                break;
            }
            history.epoch_seconds.push(start.elapsed().as_secs_f64());
            let mut line = labelled(&mut tally.means());
            if let Some((vx, vy, vstart, vlen)) = validation {
                let vals = self.evaluate_rows(vx, vy, vstart, vlen, cfg.batch_size)?;
                line.extend(vals.into_iter().map(|(k, v)| (format!("val_{k}"), v)));
            }
            for (k, v) in &line {
                history.push(k, *v);
            }
            progress.finish(steps_done, &line);
            if cfg.max_steps.is_some_and(|m| global_step >= m) {
                break 'epochs;
            }
        }
        Ok(history)
    }

    /// Loss and metrics over the given data, like Keras' `evaluate`.
    pub fn evaluate(
        &mut self,
        x: &[&Array],
        y: &[&Array],
        batch_size: usize,
    ) -> Result<Vec<(String, f32)>> {
        self.require_compiled()?;
        let n = self.check_data(x, y)?;
        self.evaluate_rows(x, y, 0, n, batch_size)
    }

    fn evaluate_rows(
        &mut self,
        x: &[&Array],
        y: &[&Array],
        start: usize,
        len: usize,
        batch_size: usize,
    ) -> Result<Vec<(String, f32)>> {
        let targets: Vec<Shape> = y.iter().map(|a| a.sample_shape()).collect();
        let mut xy: Vec<&Array> = x.to_vec();
        xy.extend_from_slice(y);
        let rows = Rows { arrays: &xy, start };
        let names = self.metric_names();
        let batch = batch_size.max(1).min(len.max(1));
        let mut batcher = Batcher::new(&xy, batch);
        let order: Vec<usize> = (0..len).collect();
        let rt = self.runtime.as_mut().expect("compiled");
        let mut tally = Tally::start(rt.backend.as_mut(), 1 + names.len())?;
        for lo in (0..len).step_by(batch) {
            let hi = (lo + batch).min(len);
            let plan = self.plan(PlanKind::Evaluate, hi - lo, &targets)?;
            batcher.fill(&rows, &order[lo..hi]);
            let inputs: Vec<&[f32]> = batcher
                .buffers
                .iter()
                .zip(&xy)
                .map(|(b, a)| &b[..(hi - lo) * a.row_len()])
                .collect();
            let rt = self.runtime.as_mut().expect("compiled");
            rt.backend.run(plan.id, &inputs, &StepArgs::default())?;
            tally.ran(hi - lo);
            tally.collect(rt.backend.as_mut(), true, None)?;
        }
        let rt = self.runtime.as_mut().expect("compiled");
        tally.collect(rt.backend.as_mut(), false, None)?;
        Ok(std::iter::once("loss".to_string())
            .chain(names)
            .zip(tally.means())
            .collect())
    }

    /// The model's outputs for every sample, like Keras' `predict`.
    pub fn predict(&mut self, x: &[&Array], batch_size: usize) -> Result<Vec<Array>> {
        self.require_compiled()?;
        let n = self.check_inputs(x)?;
        let rows = Rows {
            arrays: x,
            start: 0,
        };
        let batch = batch_size.max(1).min(n.max(1));
        let mut batcher = Batcher::new(x, batch);
        let order: Vec<usize> = (0..n).collect();
        let mut outs: Vec<Vec<f32>> = self
            .outputs
            .iter()
            .map(|t| Vec::with_capacity(n * t.shape.numel()))
            .collect();
        for lo in (0..n).step_by(batch) {
            let hi = (lo + batch).min(n);
            let plan = self.plan(PlanKind::Predict, hi - lo, &[])?;
            batcher.fill(&rows, &order[lo..hi]);
            let inputs: Vec<&[f32]> = batcher
                .buffers
                .iter()
                .zip(x)
                .map(|(b, a)| &b[..(hi - lo) * a.row_len()])
                .collect();
            let rt = self.runtime.as_mut().expect("compiled");
            rt.backend.run(plan.id, &inputs, &StepArgs::default())?;
            for ((out, node), t) in outs.iter_mut().zip(&plan.predictions).zip(&self.outputs) {
                let start = out.len();
                out.resize(start + (hi - lo) * t.shape.numel(), 0.0);
                rt.backend.read(plan.id, *node, &mut out[start..])?;
            }
        }
        outs.into_iter()
            .zip(&self.outputs)
            .map(|(data, t)| {
                let mut shape = vec![n];
                shape.extend(&t.shape.0);
                Array::new(shape, data)
            })
            .collect()
    }
}

/// Fisher-Yates shuffle from stream `epoch` of `seed`.
fn shuffle(order: &mut [usize], seed: u64, epoch: u32) {
    order.sort_unstable();
    let u = uniform_stream(seed ^ 0x5eed_5eed, epoch, order.len());
    for i in (1..order.len()).rev() {
        let j = ((u[i] as f64) * (i + 1) as f64) as usize;
        order.swap(i, j.min(i));
    }
}
