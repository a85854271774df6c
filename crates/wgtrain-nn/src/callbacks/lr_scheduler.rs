//! `LearningRateScheduler`: sets the learning rate at the start of each epoch from a function.

use super::reduce_lr::set_log;
use crate::callback::{Callback, Control, Logs};
use anyhow::{bail, Result};

type Schedule = Box<dyn FnMut(usize, f32) -> f32>;

/// Like `keras.callbacks.LearningRateScheduler`: `schedule(epoch, current_lr)` (epoch from 0)
/// gives the rate for the epoch; the rate used is recorded as `learning_rate` in the History.
pub struct LearningRateScheduler {
    schedule: Schedule,
    verbose: bool,
}

impl LearningRateScheduler {
    pub fn new(schedule: impl FnMut(usize, f32) -> f32 + 'static) -> Self {
        Self {
            schedule: Box::new(schedule),
            verbose: false,
        }
    }
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, epoch: usize, ctl: &mut Control) -> Result<()> {
        let lr = (self.schedule)(epoch, ctl.learning_rate()?);
        if !lr.is_finite() || lr < 0.0 {
            bail!("the learning-rate schedule gave {lr} for epoch {epoch}; it must be a finite rate >= 0");
        }
        ctl.set_learning_rate(lr)?;
        if self.verbose {
            println!(
                "\nEpoch {}: LearningRateScheduler setting learning rate to {lr}.",
                epoch + 1
            );
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, _: usize, logs: &mut Logs, ctl: &mut Control) -> Result<()> {
        set_log(logs, "learning_rate", ctl.learning_rate()?);
        Ok(())
    }
}
