//! `ModelCheckpoint`: saves the weights after every epoch (or every N batches), optionally only
//! when the monitored value improves, to a path made from a template.

use super::monitor::{Mode, Monitor};
use super::template::format_path;
use super::{bits_of, usize_of};
use crate::callback::{log_value, Callback, CallbackState, Control, Logs};
use crate::output_path::check_folder_writable;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

/// When to save.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SaveFreq {
    #[default]
    Epoch,
    /// Every this many training batches.
    Batches(usize),
}

/// Like `keras.callbacks.ModelCheckpoint` with `save_weights_only=True`: the weights go to a
/// safetensors file (written to a temporary file and renamed, so a crash never leaves half a
/// checkpoint) at `template` filled with `{epoch}`, `{batch}` and the logs, e.g.
/// `weights.{epoch:02d}-{val_loss:.2f}.safetensors`. Defaults: monitor `val_loss`, mode auto,
/// every epoch, every save kept.
#[derive(Clone, Debug)]
pub struct ModelCheckpoint {
    template: String,
    monitor: Monitor,
    save_best_only: bool,
    save_freq: SaveFreq,
    verbose: bool,
    epoch: usize,
    batches_since_save: usize,
    last_batch: Option<usize>,
}

impl ModelCheckpoint {
    /// Fails unless the template names a `.safetensors` file. Whole-model files (architecture
    /// and optimizer state too, Keras' `save_weights_only=False`) are not written by this
    /// version.
    pub fn new(template: &str) -> Result<Self> {
        if !template.ends_with(".safetensors") {
            bail!(
                "a checkpoint path must end in .safetensors (the weights file format), got '{template}'"
            );
        }
        Ok(Self {
            template: template.to_string(),
            monitor: Monitor::new("val_loss", Mode::Auto, 0.0),
            save_best_only: false,
            save_freq: SaveFreq::Epoch,
            verbose: false,
            epoch: 0,
            batches_since_save: 0,
            last_batch: None,
        })
    }
    /// Fails unless checkpoints can be written where the template puts them (`fit` checks
    /// this too, before the first epoch; a command line can check before loading data).
    pub fn check_writable(&self) -> Result<()> {
        check_writable(&self.template)
    }
    pub fn monitor(mut self, name: &str, mode: Mode) -> Self {
        self.monitor = Monitor::new(name, mode, 0.0);
        self
    }
    /// Save only when the monitored value improves on the best so far.
    pub fn save_best_only(mut self, best_only: bool) -> Self {
        self.save_best_only = best_only;
        self
    }
    /// A value the monitored quantity must beat before the first save (`save_best_only`).
    pub fn initial_value_threshold(mut self, threshold: f32) -> Self {
        self.monitor.best = Some(threshold);
        self
    }
    pub fn save_freq(mut self, freq: SaveFreq) -> Result<Self> {
        if freq == SaveFreq::Batches(0) {
            bail!("save_freq must be at least 1 batch");
        }
        self.save_freq = freq;
        Ok(self)
    }
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Saves now if the rules say so; `batch` counts from 0 within the epoch.
    fn save(&mut self, batch: Option<usize>, logs: &Logs, ctl: &mut Control) -> Result<()> {
        let path = format_path(&self.template, self.epoch + 1, batch.map(|b| b + 1), logs)?;
        let epoch = self.epoch + 1;
        if self.save_best_only {
            match log_value(logs, &self.monitor.name) {
                None => eprintln!(
                    "warning: Can save best model only with {} available.",
                    self.monitor.name
                ),
                Some(current) => {
                    let best = self.monitor.best;
                    let shown = best.map_or("None".to_string(), |b| format!("{b:.5}"));
                    if !self
                        .monitor
                        .is_improvement("ModelCheckpoint", current, best)?
                    {
                        if self.verbose {
                            println!(
                                "\nEpoch {epoch}: {} did not improve from {shown}",
                                self.monitor.name
                            );
                        }
                        return Ok(());
                    }
                    if self.verbose {
                        println!(
                            "\nEpoch {epoch}: {} improved from {shown} to {current:.5}, saving model to {path}",
                            self.monitor.name
                        );
                    }
                    self.monitor.best = Some(current);
                }
            }
        } else if self.verbose {
            println!("\nEpoch {epoch}: saving model to {path}");
        }
        let path = PathBuf::from(path);
        if path.is_dir() {
            bail!(
                "the checkpoint path {} is an existing directory; give a file path",
                path.display()
            );
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the checkpoint folder {}", dir.display())
            })?;
        }
        ctl.save_weights(&path)
    }
}

/// Fails unless a file can be created in the folder of `template` (the part before any field):
/// a checkpoint that cannot be written is found before training, not after the first epoch.
fn check_writable(template: &str) -> Result<()> {
    let fixed = &template[..template.find('{').unwrap_or(template.len())];
    let dir = match Path::new(fixed) {
        p if fixed.ends_with('/') => p.to_path_buf(),
        p => p.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    check_folder_writable(&dir, "checkpoints (ModelCheckpoint)")
}

impl Callback for ModelCheckpoint {
    fn state(&self) -> CallbackState {
        CallbackState {
            values: json!({
                "epoch": self.epoch,
                "batches_since_save": self.batches_since_save,
                "last_batch": self.last_batch,
                "best": self.monitor.best_bits(),
            }),
            tensors: Vec::new(),
        }
    }

    fn restore_state(&mut self, state: CallbackState) -> Result<()> {
        let v = &state.values;
        self.epoch = usize_of(v, "epoch")?;
        self.batches_since_save = usize_of(v, "batches_since_save")?;
        self.last_batch = v["last_batch"].as_u64().map(|b| b as usize);
        self.monitor.set_best_bits(bits_of(v, "best")?);
        Ok(())
    }

    fn on_train_begin(&mut self, _: &mut Control) -> Result<()> {
        check_writable(&self.template)
    }

    fn on_epoch_begin(&mut self, epoch: usize, _: &mut Control) -> Result<()> {
        self.epoch = epoch;
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &Logs, ctl: &mut Control) -> Result<()> {
        let SaveFreq::Batches(every) = self.save_freq else {
            return Ok(());
        };
        let added = match self.last_batch {
            Some(last) if batch > last => batch - last,
            _ => batch + 1,
        };
        self.batches_since_save += added;
        self.last_batch = Some(batch);
        if self.batches_since_save >= every {
            self.batches_since_save = 0;
            self.save(Some(batch), logs, ctl)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, _: usize, logs: &mut Logs, ctl: &mut Control) -> Result<()> {
        self.monitor.resolve("ModelCheckpoint")?;
        if self.save_freq == SaveFreq::Epoch {
            self.save(None, logs, ctl)?;
        }
        Ok(())
    }
}
