//! Running means of the loss and metrics over an epoch or an evaluation. Values arrive from
//! `Backend::take_scalars`, usually a step late, so the device is never left waiting.

use anyhow::{bail, Result};
use std::collections::VecDeque;
use wgtrain_graph::backend::RECENT_RUNS;
use wgtrain_graph::Backend;

pub struct Tally {
    /// Weighted sums of the loss, then each metric.
    sums: Vec<f64>,
    seen: usize,
    /// Batch sizes of runs whose values have not arrived yet.
    pending: VecDeque<usize>,
    collected: usize,
    nonfinite: Option<(f32, usize)>,
}

impl Tally {
    /// Discards values of earlier runs still queued in the backend, then starts from zero.
    pub fn start(backend: &mut dyn Backend, scalars: usize) -> Result<Self> {
        backend.take_scalars(false, &mut |_| {})?;
        Ok(Self {
            sums: vec![0.0; scalars],
            seen: 0,
            pending: VecDeque::with_capacity(RECENT_RUNS + 1),
            collected: 0,
            nonfinite: None,
        })
    }

    /// Notes a run over `rows` samples whose values are still to come.
    pub fn ran(&mut self, rows: usize) {
        self.pending.push_back(rows);
    }

    /// Takes the values that have arrived; with `keep_latest`, all but the latest run's.
    /// Each loss also goes to `step_loss`.
    pub fn collect(
        &mut self,
        backend: &mut dyn Backend,
        keep_latest: bool,
        mut step_loss: Option<&mut Vec<f32>>,
    ) -> Result<()> {
        let Self {
            sums,
            seen,
            pending,
            collected,
            nonfinite,
        } = self;
        backend.take_scalars(keep_latest, &mut |values| {
            let rows = pending.pop_front().unwrap_or(0);
            *collected += 1;
            if let Some(&loss) = values.first() {
                if !loss.is_finite() && nonfinite.is_none() {
                    *nonfinite = Some((loss, *collected));
                }
                if let Some(out) = step_loss.as_deref_mut() {
                    out.push(loss);
                }
            }
            for (s, &v) in sums.iter_mut().zip(values) {
                *s += v as f64 * rows as f64;
            }
            *seen += rows;
        })?;
        Ok(())
    }

    /// Fails if a loss was NaN or infinite, naming the step (counted from 1) in `what`.
    pub fn check_finite(&self, what: impl Fn(usize) -> String) -> Result<()> {
        if let Some((v, step)) = self.nonfinite {
            bail!(
                "the loss became {v} at {}; try a lower learning rate",
                what(step)
            );
        }
        Ok(())
    }

    /// The weighted sums and the samples they cover (for a backup: collect everything first).
    pub fn totals(&self) -> (Vec<f64>, usize) {
        (self.sums.clone(), self.seen)
    }

    /// Continues from `totals` a backup kept.
    pub fn resume(&mut self, sums: Vec<f64>, seen: usize) -> Result<()> {
        if sums.len() != self.sums.len() {
            bail!(
                "the backup holds {} running values, the model reports {}",
                sums.len(),
                self.sums.len()
            );
        }
        self.sums = sums;
        self.seen = seen;
        Ok(())
    }

    /// The means so far: the loss, then each metric.
    pub fn means(&self) -> impl Iterator<Item = f32> + '_ {
        let denom = self.seen.max(1) as f64;
        self.sums.iter().map(move |s| (s / denom) as f32)
    }
}
