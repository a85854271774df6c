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
}
