//! The Keras-style per-epoch progress line.

use crate::fit::Verbosity;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Instant;

pub struct EpochProgress {
    bar: Option<ProgressBar>,
    verbosity: Verbosity,
    steps: usize,
    start: Instant,
}

/// "loss: 0.1234 - accuracy: 0.9876"
pub fn format_metrics(values: &[(String, f32)]) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k}: {v:.4}"))
        .collect::<Vec<_>>()
        .join(" - ")
}

impl EpochProgress {
    pub fn new(epoch: usize, epochs: usize, steps: usize, verbosity: Verbosity) -> Self {
        if verbosity != Verbosity::Silent {
            println!("Epoch {}/{}", epoch + 1, epochs);
        }
        let bar = (verbosity == Verbosity::ProgressBar).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{pos}/{len} [{bar:30}] - {elapsed} {msg}")
                    .expect("the progress template parses")
                    .progress_chars("=> "),
            );
            bar
        });
        Self {
            bar,
            verbosity,
            steps,
            start: Instant::now(),
        }
    }

    /// Refreshes the bar; `values` are only formatted when the bar is shown.
    pub fn step(&self, done: usize, values: impl FnOnce() -> String) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            if !bar.is_hidden() {
                bar.set_message(values());
            }
        }
    }

    /// Ends the epoch with the final line, as Keras prints it.
    pub fn finish(self, steps_done: usize, values: &[(String, f32)]) {
        let secs = self.start.elapsed().as_secs_f64();
        let per_step = secs * 1000.0 / steps_done.max(1) as f64;
        if self.verbosity == Verbosity::EpochLines {
            println!(
                "{steps_done}/{} - {secs:.0}s - {per_step:.0}ms/step - {}",
                self.steps,
                format_metrics(values)
            );
            return;
        }
        let Some(bar) = self.bar else { return };
        bar.finish_and_clear();
        let bar_text = if steps_done >= self.steps {
            "=".repeat(30)
        } else {
            let filled = 30 * steps_done / self.steps.max(1);
            format!("{}>{}", "=".repeat(filled), " ".repeat(29 - filled.min(29)))
        };
        println!(
            "{steps_done}/{} [{bar_text}] - {:.0}s {:.0}ms/step - {}",
            self.steps,
            secs,
            per_step,
            format_metrics(values)
        );
    }
}
