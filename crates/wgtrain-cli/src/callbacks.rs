//! `wgtrain train`'s callback flags, turned into the library's callbacks.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use wgtrain::nn::callbacks::Mode;
use wgtrain::nn::output_path::check_writable;
use wgtrain::nn::{
    Callback, CsvLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
    TerminateOnNaN,
};

#[derive(Args)]
pub struct CallbackArgs {
    /// The log entry the plateau, early-stopping and best-checkpoint rules watch.
    #[arg(long, default_value = "val_loss")]
    monitor: String,
    /// Which way the monitored value should go: auto (from its name), min or max.
    #[arg(long, default_value = "auto")]
    mode: Mode,
    /// Lower the learning rate after this many epochs without improvement (ReduceLROnPlateau).
    #[arg(long)]
    reduce_lr_patience: Option<usize>,
    /// The factor the learning rate is multiplied by at a plateau.
    #[arg(long, default_value_t = 0.1)]
    reduce_lr_factor: f64,
    /// Epochs to wait after a reduction before counting again.
    #[arg(long, default_value_t = 0)]
    reduce_lr_cooldown: usize,
    /// The smallest change of the monitored value that counts as an improvement for the plateau.
    #[arg(long, default_value_t = 1e-4)]
    reduce_lr_min_delta: f64,
    /// The learning rate is never lowered below this.
    #[arg(long, default_value_t = 0.0)]
    min_lr: f64,
    /// Stop after this many epochs without improvement (EarlyStopping).
    #[arg(long)]
    early_stopping_patience: Option<usize>,
    /// The smallest change that counts as an improvement for early stopping.
    #[arg(long, default_value_t = 0.0)]
    early_stopping_min_delta: f64,
    /// Epochs (from 0) to train before early stopping watches.
    #[arg(long, default_value_t = 0)]
    early_stopping_start_epoch: usize,
    /// At the end, put back the weights of the best epoch (with early stopping).
    #[arg(long)]
    restore_best_weights: bool,
    /// Save the weights after each epoch to this template, e.g.
    /// 'ckpt/w.{epoch:02d}-{val_loss:.2f}.safetensors' (ModelCheckpoint).
    #[arg(long)]
    checkpoint: Option<String>,
    /// Save a checkpoint only when the monitored value improves.
    #[arg(long)]
    save_best_only: bool,
    /// Write one CSV line of logs per epoch to this file (CSVLogger).
    #[arg(long)]
    csv_log: Option<PathBuf>,
    /// Stop training at the first NaN or infinite loss instead of failing (TerminateOnNaN).
    #[arg(long)]
    terminate_on_nan: bool,
    /// Learning rates by epoch, counted from 1 as the progress lines count them:
    /// '1:0.001,10:0.0001' uses 0.001 from epoch 1 and 0.0001 from epoch 10 (LearningRateScheduler).
    #[arg(long)]
    lr_schedule: Option<String>,
}

impl CallbackArgs {
    /// Whether the flags set a plateau or early-stopping rule, replacing the workload's own.
    pub fn replaces_seed_callbacks(&self) -> bool {
        self.reduce_lr_patience.is_some() || self.early_stopping_patience.is_some()
    }

    /// The callbacks the flags ask for, in a fixed order: schedule, plateau, early stopping,
    /// checkpoint, CSV log (so the log sees the rate the others set), NaN check.
    pub fn build(&self) -> Result<Vec<Box<dyn Callback>>> {
        let mut out: Vec<Box<dyn Callback>> = Vec::new();
        if let Some(spec) = &self.lr_schedule {
            let steps = parse_schedule(spec)?;
            out.push(Box::new(LearningRateScheduler::new(move |epoch, lr| {
                steps
                    .iter()
                    .rev()
                    .find(|(from, _)| epoch + 1 >= *from)
                    .map_or(lr, |(_, rate)| *rate)
            })));
        }
        if let Some(patience) = self.reduce_lr_patience {
            let reduce = ReduceLROnPlateau::new()
                .monitor(&self.monitor, self.mode, self.reduce_lr_min_delta)
                .factor(self.reduce_lr_factor)
                .context("--reduce-lr-factor must be below 1")?
                .patience(patience)
                .cooldown(self.reduce_lr_cooldown)
                .min_lr(self.min_lr)
                .verbose(true);
            out.push(Box::new(reduce));
        }
        if let Some(patience) = self.early_stopping_patience {
            let stop = EarlyStopping::new()
                .monitor(&self.monitor, self.mode, self.early_stopping_min_delta)
                .patience(patience)
                .start_from_epoch(self.early_stopping_start_epoch)
                .restore_best_weights(self.restore_best_weights)
                .verbose(true);
            out.push(Box::new(stop));
        } else if self.restore_best_weights {
            bail!("--restore-best-weights needs --early-stopping-patience");
        }
        if let Some(template) = &self.checkpoint {
            let ckpt = ModelCheckpoint::new(template)
                .context("--checkpoint")?
                .monitor(&self.monitor, self.mode)
                .save_best_only(self.save_best_only)
                .verbose(true);
            ckpt.check_writable().context("--checkpoint")?;
            out.push(Box::new(ckpt));
        } else if self.save_best_only {
            bail!("--save-best-only needs --checkpoint");
        }
        if let Some(path) = &self.csv_log {
            check_writable(path, "--csv-log")?;
            out.push(Box::new(CsvLogger::new(path)));
        }
        if self.terminate_on_nan {
            out.push(Box::new(TerminateOnNaN::new()));
        }
        Ok(out)
    }
}

/// `EPOCH:RATE[,EPOCH:RATE...]`, epochs from 1 in increasing order.
fn parse_schedule(spec: &str) -> Result<Vec<(usize, f32)>> {
    let bad =
        || format!("--lr-schedule '{spec}': expected EPOCH:RATE pairs like '1:0.001,10:0.0001'");
    let mut steps: Vec<(usize, f32)> = Vec::new();
    for part in spec.split(',') {
        let (epoch, rate) = part.trim().split_once(':').with_context(bad)?;
        let epoch: usize = epoch
            .trim()
            .parse()
            .ok()
            .filter(|&e| e >= 1)
            .with_context(bad)?;
        let rate: f32 = rate
            .trim()
            .parse()
            .ok()
            .filter(|r: &f32| r.is_finite() && *r >= 0.0)
            .with_context(bad)?;
        if steps.last().is_some_and(|(e, _)| *e >= epoch) {
            bail!("{}: the epochs must increase", bad());
        }
        steps.push((epoch, rate));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_reject_mistakes() {
        assert_eq!(
            parse_schedule("1:0.001, 10:1e-4").unwrap(),
            [(1, 0.001), (10, 1e-4)]
        );
        for bad in ["", "0:0.1", "1:x", "2:0.1,1:0.2", "1:-1", "3"] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
    }
}
