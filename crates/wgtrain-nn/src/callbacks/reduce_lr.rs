//! `ReduceLROnPlateau`: lowers the learning rate when the monitored value stops improving.

use super::available;
use super::monitor::{Mode, Monitor};
use super::{bits_of, usize_of};
use crate::callback::{log_value, Callback, CallbackState, Control, Logs};
use anyhow::{bail, Result};
use serde_json::json;

/// Like `keras.callbacks.ReduceLROnPlateau`. Defaults: monitor `val_loss`, factor 0.1,
/// patience 10, mode auto, min_delta 1e-4, cooldown 0, min_lr 0.
#[derive(Clone, Debug)]
pub struct ReduceLROnPlateau {
    monitor: Monitor,
    factor: f64,
    patience: usize,
    cooldown: usize,
    min_lr: f64,
    verbose: bool,
    wait: usize,
    cooldown_counter: usize,
}

impl Default for ReduceLROnPlateau {
    fn default() -> Self {
        Self {
            monitor: Monitor::new("val_loss", Mode::Auto, 1e-4),
            factor: 0.1,
            patience: 10,
            cooldown: 0,
            min_lr: 0.0,
            verbose: false,
            wait: 0,
            cooldown_counter: 0,
        }
    }
}

impl ReduceLROnPlateau {
    pub fn new() -> Self {
        Self::default()
    }
    /// The monitored log entry and how it improves, with the smallest change that counts.
    pub fn monitor(mut self, name: &str, mode: Mode, min_delta: f64) -> Self {
        self.monitor = Monitor::new(name, mode, min_delta);
        self
    }
    /// `new_lr = lr * factor`; must be below 1.
    pub fn factor(mut self, factor: f64) -> Result<Self> {
        if factor >= 1.0 {
            bail!("ReduceLROnPlateau does not support a factor >= 1.0, got {factor}");
        }
        self.factor = factor;
        Ok(self)
    }
    /// Epochs without improvement before the rate is lowered.
    pub fn patience(mut self, epochs: usize) -> Self {
        self.patience = epochs;
        self
    }
    /// Epochs to wait after a reduction before counting again.
    pub fn cooldown(mut self, epochs: usize) -> Self {
        self.cooldown = epochs;
        self
    }
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }
    /// Prints a line at each reduction.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    fn in_cooldown(&self) -> bool {
        self.cooldown_counter > 0
    }
}

impl Callback for ReduceLROnPlateau {
    fn state(&self) -> CallbackState {
        CallbackState {
            values: json!({
                "wait": self.wait,
                "cooldown_counter": self.cooldown_counter,
                "best": self.monitor.best_bits(),
            }),
            tensors: Vec::new(),
        }
    }

    fn restore_state(&mut self, state: CallbackState) -> Result<()> {
        let v = &state.values;
        self.wait = usize_of(v, "wait")?;
        self.cooldown_counter = usize_of(v, "cooldown_counter")?;
        self.monitor.set_best_bits(bits_of(v, "best")?);
        Ok(())
    }

    fn on_train_begin(&mut self, _: &mut Control) -> Result<()> {
        self.monitor.best = None;
        self.cooldown_counter = 0;
        self.wait = 0;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctl: &mut Control) -> Result<()> {
        self.monitor.resolve("ReduceLROnPlateau")?;
        let lr = ctl.learning_rate()?;
        set_log(logs, "learning_rate", lr);
        let Some(current) = log_value(logs, &self.monitor.name) else {
            eprintln!(
                "warning: Learning rate reduction is conditioned on metric `{}` which is not \
                 available. Available metrics are: {}.",
                self.monitor.name,
                available(logs)
            );
            return Ok(());
        };
        if self.in_cooldown() {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        let best = self.monitor.best;
        if self
            .monitor
            .is_improvement("ReduceLROnPlateau", current, best)?
        {
            self.monitor.best = Some(current);
            self.wait = 0;
        } else if !self.in_cooldown() {
            self.wait += 1;
            if self.wait >= self.patience && (lr as f64) > self.min_lr as f32 as f64 {
                let new_lr = (lr as f64 * self.factor).max(self.min_lr);
                ctl.set_learning_rate(new_lr as f32)?;
                if self.verbose {
                    println!(
                        "\nEpoch {}: ReduceLROnPlateau reducing learning rate to {new_lr}.",
                        epoch + 1
                    );
                }
                self.cooldown_counter = self.cooldown;
                self.wait = 0;
            }
        }
        Ok(())
    }
}

/// Sets `name` in `logs`, adding it if absent.
pub(super) fn set_log(logs: &mut Logs, name: &str, value: f32) {
    match logs.iter_mut().find(|(k, _)| k == name) {
        Some(entry) => entry.1 = value,
        None => logs.push((name.to_string(), value)),
    }
}
