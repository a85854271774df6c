//! `TerminateOnNaN`: stops training at the first batch whose loss is NaN or infinite.

use crate::callback::{log_value, Callback, Control, Logs};
use anyhow::{bail, Result};

/// Like `keras.callbacks.TerminateOnNaN`. Without it, `fit` fails with an error at a
/// non-finite loss; with it, training stops and `fit` returns the History so far (or, with
/// `raise_error`, fails at once).
#[derive(Clone, Debug, Default)]
pub struct TerminateOnNaN {
    raise_error: bool,
}

impl TerminateOnNaN {
    pub fn new() -> Self {
        Self::default()
    }
    /// Fail with an error instead of stopping quietly.
    pub fn raise_error(mut self, raise: bool) -> Self {
        self.raise_error = raise;
        self
    }
}

impl Callback for TerminateOnNaN {
    fn handles_nonfinite_loss(&self) -> bool {
        true
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, ctl: &mut Control) -> Result<()> {
        if let Some(loss) = log_value(logs, "loss").filter(|l| !l.is_finite()) {
            if self.raise_error {
                bail!(
                    "NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. \
                     Terminating training immediately."
                );
            }
            println!("Batch {batch}: Invalid loss, terminating training");
            ctl.stop_training();
        }
        Ok(())
    }
}
