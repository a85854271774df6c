//! `TensorBoard`: the run's losses, metrics and learning rate as TensorBoard event files.

use crate::callback::{Callback, CallbackState, Control, Logs};
use crate::event_file::EventFile;
use crate::output_path::check_folder_writable;
use anyhow::Result;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Like `keras.callbacks.TensorBoard(log_dir, update_freq)`: event files in `log_dir/train`
/// and `log_dir/validation`, with `epoch_<name>` scalars at each epoch's end (validation
/// values without their `val_` prefix, in the validation folder, as Keras writes them) and
/// `epoch_learning_rate`; with `every_steps(n)`, `batch_<name>` scalars (the epoch's running
/// means) every n training steps. Text entries (`text`) go to the train folder at step 0.
pub struct TensorBoard {
    log_dir: PathBuf,
    every_steps: Option<usize>,
    texts: Vec<(String, String)>,
    files: Option<(EventFile, EventFile)>,
    global_step: u64,
}

impl TensorBoard {
    pub fn new(log_dir: impl AsRef<Path>) -> Self {
        Self {
            log_dir: log_dir.as_ref().to_path_buf(),
            every_steps: None,
            texts: Vec::new(),
            files: None,
            global_step: 0,
        }
    }

    /// Also write the running values every `steps` training steps.
    pub fn every_steps(mut self, steps: usize) -> Self {
        self.every_steps = (steps > 0).then_some(steps);
        self
    }

    /// A Markdown text entry, e.g. the model's size and planned memory.
    pub fn text(mut self, tag: &str, text: &str) -> Self {
        self.texts.push((tag.to_string(), text.to_string()));
        self
    }

    /// Fails unless the log folder can be written (a command line checks before loading data).
    pub fn check_writable(&self) -> Result<()> {
        check_folder_writable(&self.log_dir, "the TensorBoard log folder")
    }

    fn files(&mut self) -> Result<&mut (EventFile, EventFile)> {
        if self.files.is_none() {
            let train = EventFile::create(&self.log_dir.join("train"))?;
            let validation = EventFile::create(&self.log_dir.join("validation"))?;
            self.files = Some((train, validation));
        }
        Ok(self.files.as_mut().expect("just made"))
    }
}

impl Callback for TensorBoard {
    fn on_train_begin(&mut self, _: &mut Control) -> Result<()> {
        self.files = None;
        self.global_step = 0;
        let texts = std::mem::take(&mut self.texts);
        let (train, _) = self.files()?;
        for (tag, text) in &texts {
            train.text(0, tag, text)?;
        }
        self.texts = texts;
        Ok(())
    }

    fn state(&self) -> CallbackState {
        CallbackState {
            values: json!({ "global_step": self.global_step }),
            tensors: Vec::new(),
        }
    }

    fn restore_state(&mut self, state: CallbackState) -> Result<()> {
        self.global_step = state.values["global_step"].as_u64().unwrap_or(0);
        Ok(())
    }

    fn on_train_batch_end(&mut self, _: usize, logs: &Logs, _: &mut Control) -> Result<()> {
        self.global_step += 1;
        let step = self.global_step;
        if self
            .every_steps
            .is_some_and(|n| step.is_multiple_of(n as u64))
        {
            let values: Vec<(String, f32)> = logs
                .iter()
                .map(|(k, v)| (format!("batch_{k}"), *v))
                .collect();
            self.files()?.0.scalars(step, &values)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctl: &mut Control) -> Result<()> {
        let mut train: Vec<(String, f32)> = Vec::new();
        let mut validation: Vec<(String, f32)> = Vec::new();
        for (k, v) in logs.iter() {
            match k.strip_prefix("val_") {
                Some(name) => validation.push((format!("epoch_{name}"), *v)),
                None => train.push((format!("epoch_{k}"), *v)),
            }
        }
        if !logs.iter().any(|(k, _)| k == "learning_rate") {
            train.push(("epoch_learning_rate".into(), ctl.learning_rate()?));
        }
        let (train_file, validation_file) = self.files()?;
        train_file.scalars(epoch as u64, &train)?;
        if !validation.is_empty() {
            validation_file.scalars(epoch as u64, &validation)?;
        }
        Ok(())
    }
}
