use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What `fit` returns: per-epoch metrics under Keras' names, every step's loss and epoch times.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct History {
    pub history: BTreeMap<String, Vec<f32>>,
    pub step_loss: Vec<f32>,
    pub epoch_seconds: Vec<f64>,
    /// Wall time of every training step: batch gathering, the step itself and reading results.
    pub step_seconds: Vec<f64>,
    /// Whether the run was interrupted (`FitConfig::interrupt`) before its end.
    #[serde(default)]
    pub interrupted: bool,
}

impl History {
    pub fn push(&mut self, name: &str, value: f32) {
        self.history
            .entry(name.to_string())
            .or_default()
            .push(value);
    }
    pub fn last(&self, name: &str) -> Option<f32> {
        self.history.get(name).and_then(|v| v.last().copied())
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a history serializes")
    }

    /// A History from `to_json`'s text (what `wgtrain train --history` writes), or from a plain
    /// map of metric names to per-epoch values (Keras' `history.history` dumped as JSON).
    pub fn from_json(text: &str) -> anyhow::Result<History> {
        use anyhow::Context;
        let value: serde_json::Value =
            serde_json::from_str(text).context("a history file must be JSON")?;
        if value.get("history").is_some() {
            return serde_json::from_value(value)
                .context("the history file's 'history' must map metric names to lists of numbers");
        }
        let history: BTreeMap<String, Vec<f32>> = serde_json::from_value(value)
            .context("a history file maps metric names to lists of numbers, per epoch")?;
        Ok(History {
            history,
            ..Default::default()
        })
    }

    /// `from_json` of a file; errors name it.
    pub fn from_json_file(path: &std::path::Path) -> anyhow::Result<History> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the history file {}", path.display()))?;
        History::from_json(&text).with_context(|| format!("history file {}", path.display()))
    }

    /// Draws loss and accuracy per epoch to a `.png` or `.svg` file (`plot::plot_history`).
    pub fn plot(&self, path: &std::path::Path) -> anyhow::Result<()> {
        crate::plot::plot_history(self, path)
    }
}
