//! fit, evaluate and predict: loops over batches of host arrays, on top of the compiled plans.

use crate::array::Array;
use crate::backup::{RunKey, RunState};
use crate::batch::{Batcher, Rows};
use crate::callback::{Callback, Control, Logs};
use crate::history::History;
use crate::init::uniform_stream;
use crate::model::{Model, PlanKind};
use crate::progress::{format_metrics, EpochProgress};
use crate::tally::Tally;
use anyhow::{bail, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use wgtrain_graph::{Shape, StepArgs};

/// How `fit` reports progress, as Keras' `verbose`: 0 nothing, 1 a progress bar and the
/// epoch's line (the bar only where stderr is a terminal, so a log file gets the lines alone,
/// with no carriage returns), 2 one line per epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verbosity {
    Silent,
    #[default]
    ProgressBar,
    EpochLines,
}

impl Verbosity {
    /// Keras' numbers: 0, 1 or 2.
    pub fn from_level(level: u8) -> Result<Self> {
        match level {
            0 => Ok(Self::Silent),
            1 => Ok(Self::ProgressBar),
            2 => Ok(Self::EpochLines),
            _ => bail!("verbose must be 0 (silent), 1 (progress bar) or 2 (one line per epoch), got {level}"),
        }
    }
}

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
    /// What to print as the run goes, as Keras' `verbose`.
    pub verbose: Verbosity,
    /// When this turns true (a Ctrl-C handler sets it), `fit` ends after the current step:
    /// it writes the backup of a `BackupAndRestore` callback, if there is one, and returns the
    /// History so far marked `interrupted`, skipping the epoch's end.
    pub interrupt: Option<&'a AtomicBool>,
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
            verbose: Verbosity::ProgressBar,
            interrupt: None,
        }
    }
}

impl Model {
    /// Trains the model, like Keras' `fit`. Every sample is used: the last batch may be smaller.
    pub fn fit(&mut self, x: &[&Array], y: &[&Array], cfg: &FitConfig) -> Result<History> {
        self.fit_with_callbacks(x, y, cfg, &mut [])
    }

    /// `fit` with callbacks, like Keras' `fit(..., callbacks=[...])`.
    pub fn fit_with_callbacks(
        &mut self,
        x: &[&Array],
        y: &[&Array],
        cfg: &FitConfig,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
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
        let feeds = sample_shapes(x);
        let mut xy: Vec<&Array> = x.to_vec();
        xy.extend_from_slice(y);
        let rows = Rows {
            arrays: &xy,
            start: 0,
        };
        let batch = cfg.batch_size.min(train_len);
        let full = self.plan(PlanKind::Train, batch, &feeds, &targets)?;
        let tail_len = train_len % batch;
        let tail = if tail_len > 0 {
            Some(self.plan(PlanKind::Train, tail_len, &feeds, &targets)?)
        } else {
            None
        };
        let steps = train_len.div_ceil(batch);
        let mut batcher = Batcher::new(&xy, batch);
        let mut order: Vec<usize> = (0..train_len).collect();
        let mut history = History::default();
        let names = self.metric_names();
        let labelled = |means: &mut dyn Iterator<Item = f32>| -> Logs {
            std::iter::once("loss".to_string())
                .chain(names.iter().cloned())
                .zip(means)
                .collect()
        };
        let mut stop = false;
        let nonfinite_handled = callbacks.iter().any(|c| c.handles_nonfinite_loss());
        let mut global_step = 0usize;
        let mut last_logs = Logs::new();
        macro_rules! hook {
            ($cb:ident => $call:expr) => {
                for $cb in callbacks.iter_mut() {
                    let mut ctl = Control {
                        model: &mut *self,
                        stop: &mut stop,
                    };
                    let ctl = &mut ctl;
                    $call(ctl)?;
                }
            };
        }
        let backup_at = callbacks.iter_mut().position(|c| c.backup().is_some());
        if let Some(b) = backup_at {
            callbacks[b]
                .backup()
                .expect("just found")
                .check_writable()?;
        }
        let key = RunKey {
            seed,
            batch_size: batch,
            samples: train_len,
            shuffle: cfg.shuffle,
        };
        hook!(cb => |ctl| cb.on_train_begin(ctl));

        // Where a backup left the run, if one did.
        let mut resumed: Option<RunState> = None;
        if let Some(b) = backup_at {
            let backup = callbacks[b].backup().expect("found above");
            if let Some((state, states)) = backup.restore(self, &key)? {
                if states.len() != callbacks.len() {
                    bail!(
                        "the backup holds the state of {} callbacks, this run has {}; resume with                          the same callbacks, or delete {} to start afresh",
                        states.len(),
                        callbacks.len(),
                        callbacks[b].backup().expect("found above").path().display()
                    );
                }
                for (cb, st) in callbacks.iter_mut().zip(states) {
                    cb.restore_state(st)?;
                }
                let rt = self.runtime_mut()?;
                rt.clock = state.clock();
                rt.learning_rate = f32::from_bits(state.learning_rate_bits);
                history = state.history.clone();
                global_step = state.global_step;
                stop = state.stopped;
                if cfg.verbose != Verbosity::Silent {
                    println!(
                        "Resuming from the backup: epoch {}, step {} of {steps}",
                        state.epoch + 1,
                        state.steps_done
                    );
                }
                resumed = Some(state);
            }
        }
        let first_epoch = resumed.as_ref().map_or(0, |r| r.epoch);

        for epoch in first_epoch..cfg.epochs {
            if stop {
                break;
            }
            // A backup made mid-epoch continues the epoch; one made at its end starts the next.
            let resume = resumed
                .take()
                .filter(|r| r.epoch == epoch && r.steps_done > 0);
            if resume.is_none() {
                hook!(cb => |ctl| cb.on_epoch_begin(epoch, ctl));
            }
            if cfg.shuffle {
                shuffle(&mut order, seed, epoch as u32);
            }
            let progress = EpochProgress::new(epoch, cfg.epochs, steps, cfg.verbose);
            let start = Instant::now();
            let mut tally = Tally::start(self.runtime_mut()?.backend.as_mut(), 1 + names.len())?;
            let at_step = |s: usize| format!("epoch {} step {s}", epoch + 1);
            let (mut steps_done, earlier_seconds) = match &resume {
                Some(r) => {
                    tally.resume(r.sums.clone(), r.seen)?;
                    (r.steps_done, r.epoch_seconds)
                }
                None => (0, 0.0),
            };
            let mut interrupted = false;
            let first_step = steps_done;
            for s in first_step..steps {
                if stop || cfg.max_steps.is_some_and(|m| global_step >= m) {
                    break;
                }
                hook!(cb => |ctl| cb.on_train_batch_begin(s, ctl));
                let step_start = Instant::now();
                let lo = s * batch;
                let hi = (lo + batch).min(train_len);
                let plan = if hi - lo == batch {
                    &full
                } else {
                    tail.as_ref()
                        .expect("a tail plan exists when a batch is short")
                };
                batcher.fill(&rows, &order[lo..hi]);
                let feeds = batcher.feeds();
                self.queue_train_step(plan.id, &feeds[..batcher.count()], seed)?;
                tally.ran(hi - lo);
                // The previous step's values: the device already has this step queued.
                let backend = self.runtime_mut()?.backend.as_mut();
                tally.collect(backend, true, Some(&mut history.step_loss))?;
                if !nonfinite_handled {
                    tally.check_finite(at_step)?;
                }
                history
                    .step_seconds
                    .push(step_start.elapsed().as_secs_f64());
                global_step += 1;
                steps_done += 1;
                progress.step(steps_done, || format_metrics(&labelled(&mut tally.means())));
                if !callbacks.is_empty() {
                    let logs = labelled(&mut tally.means());
                    hook!(cb => |ctl| cb.on_train_batch_end(s, &logs, ctl));
                }
                interrupted = cfg.interrupt.is_some_and(|i| i.load(Ordering::SeqCst));
                let due = backup_at
                    .is_some_and(|b| callbacks[b].backup().is_some_and(|bk| bk.due(global_step)));
                if let (Some(b), true) = (backup_at, due || interrupted) {
                    let backend = self.runtime_mut()?.backend.as_mut();
                    tally.collect(backend, false, Some(&mut history.step_loss))?;
                    let (sums, seen) = tally.totals();
                    let position = Position {
                        epoch,
                        steps_done,
                        global_step,
                        sums,
                        seen,
                        epoch_seconds: earlier_seconds + start.elapsed().as_secs_f64(),
                        stopped: stop,
                    };
                    self.write_backup(callbacks, b, &key, position, &history)?;
                }
                if interrupted {
                    break;
                }
            }
            let backend = self.runtime_mut()?.backend.as_mut();
            tally.collect(backend, false, Some(&mut history.step_loss))?;
            if !nonfinite_handled {
                tally.check_finite(at_step)?;
            }
            if interrupted {
                progress.finish(steps_done, &labelled(&mut tally.means()));
                history.interrupted = true;
                return Ok(history);
            }
            if steps_done == 0 {
                break;
            }
            history
                .epoch_seconds
                .push(earlier_seconds + start.elapsed().as_secs_f64());
            let mut line = labelled(&mut tally.means());
            if let Some((vx, vy, vstart, vlen)) = validation {
                let vals = self.evaluate_rows(vx, vy, vstart, vlen, cfg.batch_size)?;
                line.extend(vals.into_iter().map(|(k, v)| (format!("val_{k}"), v)));
            }
            hook!(cb => |ctl| cb.on_epoch_end(epoch, &mut line, ctl));
            for (k, v) in &line {
                history.push(k, *v);
            }
            progress.finish(steps_done, &line);
            last_logs = line;
            if let Some(b) = backup_at {
                let position = Position {
                    epoch: epoch + 1,
                    steps_done: 0,
                    global_step,
                    sums: vec![0.0; 1 + names.len()],
                    seen: 0,
                    epoch_seconds: 0.0,
                    stopped: stop,
                };
                self.write_backup(callbacks, b, &key, position, &history)?;
            }
            if cfg.max_steps.is_some_and(|m| global_step >= m) {
                break;
            }
        }
        hook!(cb => |ctl| cb.on_train_end(&last_logs, ctl));
        if let Some(b) = backup_at {
            callbacks[b].backup().expect("found above").finish()?;
        }
        Ok(history)
    }

    /// Writes the backup of callback `b` for a run at `position`.
    fn write_backup(
        &mut self,
        callbacks: &mut [&mut dyn Callback],
        b: usize,
        key: &RunKey,
        position: Position,
        history: &History,
    ) -> Result<()> {
        let states = callbacks.iter().map(|c| c.state()).collect();
        let rt = self.runtime()?;
        let (clock_step, nadam_u_product) = rt.clock.state();
        let state = RunState {
            format: crate::backup::FORMAT,
            key: key.clone(),
            epoch: position.epoch,
            steps_done: position.steps_done,
            global_step: position.global_step,
            clock_step,
            nadam_u_product_bits: nadam_u_product.to_bits(),
            learning_rate_bits: rt.learning_rate.to_bits(),
            sums: position.sums,
            seen: position.seen,
            epoch_seconds: position.epoch_seconds,
            stopped: position.stopped,
            history: history.clone(),
            callbacks: Vec::new(),
            callback_tensors: Vec::new(),
        };
        let backup = callbacks[b].backup().expect("the backup's index");
        backup.save(self, state, states)
    }

    /// Loss and metrics over the given data, like Keras' `evaluate`.
    pub fn evaluate(&mut self, x: &[&Array], y: &[&Array], batch_size: usize) -> Result<Logs> {
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
    ) -> Result<Logs> {
        let targets: Vec<Shape> = y.iter().map(|a| a.sample_shape()).collect();
        let feeds = sample_shapes(x);
        let mut xy: Vec<&Array> = x.to_vec();
        xy.extend_from_slice(y);
        let rows = Rows { arrays: &xy, start };
        let names = self.metric_names();
        let batch = batch_size.max(1).min(len.max(1));
        let mut batcher = Batcher::new(&xy, batch);
        let order: Vec<usize> = (0..len).collect();
        let mut tally = Tally::start(self.runtime_mut()?.backend.as_mut(), 1 + names.len())?;
        for lo in (0..len).step_by(batch) {
            let hi = (lo + batch).min(len);
            let plan = self.plan(PlanKind::Evaluate, hi - lo, &feeds, &targets)?;
            batcher.fill(&rows, &order[lo..hi]);
            let feeds = batcher.feeds();
            let rt = self.runtime_mut()?;
            rt.backend
                .run(plan.id, &feeds[..batcher.count()], &StepArgs::default())?;
            tally.ran(hi - lo);
            tally.collect(rt.backend.as_mut(), true, None)?;
        }
        tally.collect(self.runtime_mut()?.backend.as_mut(), false, None)?;
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
        let feeds = sample_shapes(x);
        let first = self.plan(PlanKind::Predict, batch, &feeds, &[])?;
        let shapes = self.predicted_shapes(&first)?;
        let mut outs: Vec<Vec<f32>> = shapes
            .iter()
            .map(|s| Vec::with_capacity(n * s.numel()))
            .collect();
        for lo in (0..n).step_by(batch) {
            let hi = (lo + batch).min(n);
            let plan = self.plan(PlanKind::Predict, hi - lo, &feeds, &[])?;
            batcher.fill(&rows, &order[lo..hi]);
            let feeds = batcher.feeds();
            let rt = self.runtime_mut()?;
            rt.backend
                .run(plan.id, &feeds[..batcher.count()], &StepArgs::default())?;
            for ((out, node), s) in outs.iter_mut().zip(&plan.predictions).zip(&shapes) {
                let start = out.len();
                out.resize(start + (hi - lo) * s.numel(), 0.0);
                rt.backend.read(plan.id, *node, &mut out[start..])?;
            }
        }
        outs.into_iter()
            .zip(&shapes)
            .map(|(data, s)| {
                let mut shape = vec![n];
                shape.extend(&s.0);
                Array::new(shape, data)
            })
            .collect()
    }

    /// The per-sample shapes of a plan's predictions (they follow the inputs' free axes).
    pub(crate) fn predicted_shapes(&self, plan: &crate::model::PlanHandle) -> Result<Vec<Shape>> {
        let graph = &self.runtime()?.backend.plan(plan.id).graph;
        Ok(plan
            .predictions
            .iter()
            .map(|&node| Shape(graph.shape(node).0[1..].to_vec()))
            .collect())
    }

    /// The predicted class of every sample, from the first output: 1 where a single sigmoid
    /// unit exceeds 0.5, else the index of the largest value (the `predict_classes` of older
    /// Keras).
    pub fn predict_classes(&mut self, x: &[&Array], batch_size: usize) -> Result<Vec<usize>> {
        let out = self.predict(x, batch_size)?.remove(0);
        let width = out.sample_shape().numel().max(1);
        let values = out.f32s()?;
        Ok(values
            .chunks(width)
            .map(|row| {
                if width == 1 {
                    usize::from(row[0] > 0.5)
                } else {
                    row.iter()
                        .enumerate()
                        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                            if v > best.1 {
                                (i, v)
                            } else {
                                best
                            }
                        })
                        .0
                }
            })
            .collect())
    }
}

/// Where a run is, for a backup.
struct Position {
    epoch: usize,
    steps_done: usize,
    global_step: usize,
    sums: Vec<f64>,
    seen: usize,
    epoch_seconds: f64,
    stopped: bool,
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

/// The per-sample shapes of arrays.
pub(crate) fn sample_shapes(arrays: &[&Array]) -> Vec<Shape> {
    arrays.iter().map(|a| a.sample_shape()).collect()
}
