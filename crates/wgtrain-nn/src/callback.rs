//! Callbacks: code that runs at the start and end of training, of each epoch and of each batch,
//! with a handle on the model to stop training, change the learning rate or save weights.

use crate::array::Array;
use crate::backup::BackupAndRestore;
use crate::model::Model;
use anyhow::Result;
use std::path::Path;

/// Metric values by Keras name ("loss", "accuracy", "val_loss", ...), in order.
pub type Logs = Vec<(String, f32)>;

/// Looks a value up in `logs` by name.
pub fn log_value(logs: &Logs, name: &str) -> Option<f32> {
    logs.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

/// What a callback may do to the run it watches.
pub struct Control<'a> {
    pub(crate) model: &'a mut Model,
    pub(crate) stop: &'a mut bool,
}

impl Control<'_> {
    /// Ends training after the current batch (like setting `model.stop_training`).
    pub fn stop_training(&mut self) {
        *self.stop = true;
    }
    pub fn stopping(&self) -> bool {
        *self.stop
    }
    pub fn learning_rate(&self) -> Result<f32> {
        Ok(self.model.runtime()?.learning_rate)
    }
    /// Takes effect from the next training step.
    pub fn set_learning_rate(&mut self, learning_rate: f32) -> Result<()> {
        self.model.runtime_mut()?.learning_rate = learning_rate;
        Ok(())
    }
    pub fn save_weights(&mut self, path: &Path) -> Result<()> {
        self.model.save_weights(path)
    }
    /// The model itself, for anything else (weights, evaluation).
    pub fn model(&mut self) -> &mut Model {
        self.model
    }
}

/// What a callback needs to continue a run where a backup left it (`BackupAndRestore`): values
/// as JSON and any tensors (e.g. the best weights so far).
#[derive(Clone, Debug, Default)]
pub struct CallbackState {
    pub values: serde_json::Value,
    pub tensors: Vec<Array>,
}

/// Hooks called by `fit`; every one does nothing unless overridden. `epoch` and `batch` count
/// from 0, as in Keras.
pub trait Callback {
    /// The callback's state for a backup; a stateless callback keeps the default.
    fn state(&self) -> CallbackState {
        CallbackState::default()
    }
    /// Takes back a state `state` gave, when a run resumes (after `on_train_begin`).
    fn restore_state(&mut self, state: CallbackState) -> Result<()> {
        let _ = state;
        Ok(())
    }
    /// The backup this callback is, if it is one: `fit` restores from it at the start and
    /// writes it as it goes.
    fn backup(&mut self) -> Option<&mut BackupAndRestore> {
        None
    }
    /// Whether this callback deals with a NaN or infinite loss itself (`TerminateOnNaN`);
    /// without one that does, `fit` fails with an error at such a loss.
    fn handles_nonfinite_loss(&self) -> bool {
        false
    }
    fn on_train_begin(&mut self, ctl: &mut Control) -> Result<()> {
        let _ = ctl;
        Ok(())
    }
    fn on_train_end(&mut self, logs: &Logs, ctl: &mut Control) -> Result<()> {
        let _ = (logs, ctl);
        Ok(())
    }
    fn on_epoch_begin(&mut self, epoch: usize, ctl: &mut Control) -> Result<()> {
        let _ = (epoch, ctl);
        Ok(())
    }
    /// `logs` holds the epoch's training and validation values; a callback may add entries
    /// (they go into the History).
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctl: &mut Control) -> Result<()> {
        let _ = (epoch, logs, ctl);
        Ok(())
    }
    fn on_train_batch_begin(&mut self, batch: usize, ctl: &mut Control) -> Result<()> {
        let _ = (batch, ctl);
        Ok(())
    }
    /// `logs` holds the epoch's running means as far as they have arrived from the device
    /// (the values of the latest step arrive with the next one).
    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, ctl: &mut Control) -> Result<()> {
        let _ = (batch, logs, ctl);
        Ok(())
    }
}
