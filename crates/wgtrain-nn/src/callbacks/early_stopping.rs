//! `EarlyStopping`: ends training when the monitored value stops improving, optionally putting
//! back the weights of the best epoch.

use super::available;
use super::monitor::{Mode, Monitor};
use super::{bits_of, usize_of};
use crate::array::Array;
use crate::callback::{log_value, Callback, CallbackState, Control, Logs};
use anyhow::Result;
use serde_json::json;

/// Like `keras.callbacks.EarlyStopping`. Defaults: monitor `val_loss`, min_delta 0,
/// patience 0, mode auto, no baseline, restore_best_weights false, start_from_epoch 0.
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    baseline: Option<f32>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    verbose: bool,
    wait: usize,
    stopped_epoch: usize,
    best_epoch: usize,
    best_weights: Option<Vec<Array>>,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            monitor: Monitor::new("val_loss", Mode::Auto, 0.0),
            patience: 0,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            verbose: false,
            wait: 0,
            stopped_epoch: 0,
            best_epoch: 0,
            best_weights: None,
        }
    }
}

impl EarlyStopping {
    pub fn new() -> Self {
        Self::default()
    }
    /// The monitored log entry and how it improves, with the smallest change that counts.
    pub fn monitor(mut self, name: &str, mode: Mode, min_delta: f64) -> Self {
        self.monitor = Monitor::new(name, mode, min_delta);
        self
    }
    /// Epochs without improvement before training stops.
    pub fn patience(mut self, epochs: usize) -> Self {
        self.patience = epochs;
        self
    }
    /// A value the monitored quantity must beat for the wait to start over.
    pub fn baseline(mut self, baseline: f32) -> Self {
        self.baseline = Some(baseline);
        self
    }
    /// At the end of training, put back the weights of the best epoch.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }
    /// Epochs to train before watching (a warm-up).
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }
    /// The epoch (from 0) at which training was stopped, 0 if it was not.
    pub fn stopped_epoch(&self) -> usize {
        self.stopped_epoch
    }
}

impl Callback for EarlyStopping {
    fn state(&self) -> CallbackState {
        CallbackState {
            values: json!({
                "wait": self.wait,
                "stopped_epoch": self.stopped_epoch,
                "best_epoch": self.best_epoch,
                "best": self.monitor.best_bits(),
                "has_best_weights": self.best_weights.is_some(),
            }),
            tensors: self.best_weights.clone().unwrap_or_default(),
        }
    }

    fn restore_state(&mut self, state: CallbackState) -> Result<()> {
        let v = &state.values;
        self.wait = usize_of(v, "wait")?;
        self.stopped_epoch = usize_of(v, "stopped_epoch")?;
        self.best_epoch = usize_of(v, "best_epoch")?;
        self.monitor.set_best_bits(bits_of(v, "best")?);
        self.best_weights = v["has_best_weights"]
            .as_bool()
            .unwrap_or(false)
            .then_some(state.tensors);
        Ok(())
    }

    fn on_train_begin(&mut self, _: &mut Control) -> Result<()> {
        self.wait = 0;
        self.stopped_epoch = 0;
        self.monitor.best = None;
        self.best_weights = None;
        self.best_epoch = 0;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctl: &mut Control) -> Result<()> {
        self.monitor.resolve("EarlyStopping")?;
        let Some(current) = log_value(logs, &self.monitor.name) else {
            eprintln!(
                "warning: Early stopping conditioned on metric `{}` which is not available. \
                 Available metrics are: {}",
                self.monitor.name,
                available(logs)
            );
            return Ok(());
        };
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(ctl.model().get_weights()?);
            self.best_epoch = epoch;
        }
        self.wait += 1;
        let best = self.monitor.best;
        if self
            .monitor
            .is_improvement("EarlyStopping", current, best)?
        {
            self.monitor.best = Some(current);
            self.best_epoch = epoch;
            if self.restore_best_weights {
                self.best_weights = Some(ctl.model().get_weights()?);
            }
            let beats_baseline = match self.baseline {
                None => true,
                Some(b) => self
                    .monitor
                    .is_improvement("EarlyStopping", current, Some(b))?,
            };
            if beats_baseline {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = epoch;
            ctl.stop_training();
        }
        Ok(())
    }

    fn on_train_end(&mut self, _: &Logs, ctl: &mut Control) -> Result<()> {
        if self.stopped_epoch > 0 && self.verbose {
            println!("Epoch {}: early stopping", self.stopped_epoch + 1);
        }
        if let (true, Some(weights)) = (self.restore_best_weights, &self.best_weights) {
            if self.verbose {
                println!(
                    "Restoring model weights from the end of the best epoch: {}.",
                    self.best_epoch + 1
                );
            }
            ctl.model().set_weights(weights)?;
        }
        Ok(())
    }
}
