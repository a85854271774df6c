//! Keras' training callbacks, with Keras 3's semantics: each watches the epoch logs (or batch
//! logs) through the `Callback` hooks and acts on the run through `Control`.

mod csv_logger;
mod early_stopping;
mod lr_scheduler;
mod model_checkpoint;
mod monitor;
mod reduce_lr;
mod template;
mod tensorboard;
mod terminate_on_nan;

pub use csv_logger::CsvLogger;
pub use early_stopping::EarlyStopping;
pub use lr_scheduler::LearningRateScheduler;
pub use model_checkpoint::{ModelCheckpoint, SaveFreq};
pub use monitor::Mode;
pub use reduce_lr::ReduceLROnPlateau;
pub use template::format_path;
pub use tensorboard::TensorBoard;
pub use terminate_on_nan::TerminateOnNaN;

use crate::callback::Logs;
use anyhow::{Context, Result};
use serde_json::Value;

/// A count a callback's backup state holds.
fn usize_of(state: &Value, name: &str) -> Result<usize> {
    state[name]
        .as_u64()
        .map(|v| v as usize)
        .with_context(|| format!("a callback's backup state lacks '{name}'"))
}

/// A float's bits a callback's backup state may hold.
fn bits_of(state: &Value, name: &str) -> Result<Option<u32>> {
    match &state[name] {
        Value::Null => Ok(None),
        v => v
            .as_u64()
            .map(|b| Some(b as u32))
            .with_context(|| format!("a callback's backup state has a bad '{name}'")),
    }
}

/// The comma-separated names of the logs, as Keras lists the available metrics.
fn available(logs: &Logs) -> String {
    logs.iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
