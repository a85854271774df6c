//! What `ReduceLROnPlateau`, `EarlyStopping` and `ModelCheckpoint` share: a monitored value, the
//! direction in which it improves, and Keras' improvement test.

use anyhow::{bail, Result};

/// Which way the monitored value should go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Inferred from the name: losses and errors go down, accuracies go up.
    #[default]
    Auto,
    Min,
    Max,
}

impl std::str::FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Mode::Auto),
            "min" => Ok(Mode::Min),
            "max" => Ok(Mode::Max),
            _ => bail!("mode must be auto, min or max, got '{s}'"),
        }
    }
}

/// The monitored name, its direction and the best value seen.
#[derive(Clone, Debug)]
pub(crate) struct Monitor {
    pub name: String,
    mode: Mode,
    /// Compared in f64, as Keras compares Python floats.
    min_delta: f64,
    /// `Some(true)` when lower is better, once resolved.
    lower_is_better: Option<bool>,
    pub best: Option<f32>,
}

/// Metrics whose value improves downwards, by their Keras names.
const DOWNWARD: [&str; 6] = [
    "loss",
    "mse",
    "mae",
    "mean_squared_error",
    "mean_absolute_error",
    "crossentropy",
];
/// Metrics whose value improves upwards.
const UPWARD: [&str; 4] = ["accuracy", "acc", "auc", "precision"];

impl Monitor {
    /// The best value as bits, for a backup.
    pub fn best_bits(&self) -> Option<u32> {
        self.best.map(f32::to_bits)
    }
    pub fn set_best_bits(&mut self, bits: Option<u32>) {
        self.best = bits.map(f32::from_bits);
    }

    pub fn new(name: &str, mode: Mode, min_delta: f64) -> Self {
        Self {
            name: name.to_string(),
            mode,
            min_delta: min_delta.abs(),
            lower_is_better: None,
            best: None,
        }
    }

    /// Decides the direction the first time it is needed, as Keras does at the first epoch end.
    fn lower_is_better(&mut self, callback: &str) -> Result<bool> {
        if let Some(lower) = self.lower_is_better {
            return Ok(lower);
        }
        let lower = match self.mode {
            Mode::Min => true,
            Mode::Max => false,
            Mode::Auto => {
                let metric = self.name.strip_prefix("val_").unwrap_or(&self.name);
                let ends = |names: &[&str]| {
                    names
                        .iter()
                        .any(|n| metric == *n || metric.ends_with(&format!("_{n}")))
                };
                if ends(&DOWNWARD) {
                    true
                } else if ends(&UPWARD) {
                    false
                } else {
                    bail!(
                        "{callback} callback received monitor={}, but the direction in which it \
                         improves cannot be inferred; pass mode max to monitor the highest value \
                         or mode min to monitor the lowest",
                        self.name
                    )
                }
            }
        };
        self.lower_is_better = Some(lower);
        Ok(lower)
    }

    /// Keras' test: `current - min_delta < reference` when lower is better, `current + ...`
    /// mirrored when higher is; anything beats no reference.
    pub fn is_improvement(
        &mut self,
        callback: &str,
        current: f32,
        reference: Option<f32>,
    ) -> Result<bool> {
        let lower = self.lower_is_better(callback)?;
        let Some(reference) = reference else {
            return Ok(true);
        };
        let (current, reference) = (current as f64, reference as f64);
        Ok(if lower {
            current + self.min_delta < reference
        } else {
            current - self.min_delta > reference
        })
    }

    /// Resolves the direction now (at the first epoch end, as Keras does).
    pub fn resolve(&mut self, callback: &str) -> Result<()> {
        self.lower_is_better(callback).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_mode_reads_the_direction_from_the_name() {
        for (name, lower) in [
            ("val_loss", true),
            ("loss", true),
            ("age_loss", true),
            ("val_accuracy", false),
            ("val_gender_accuracy", false),
        ] {
            let mut m = Monitor::new(name, Mode::Auto, 0.0);
            assert_eq!(m.lower_is_better("Test").unwrap(), lower, "{name}");
        }
        let mut m = Monitor::new("val_weirdness", Mode::Auto, 0.0);
        let e = m.lower_is_better("EarlyStopping").unwrap_err().to_string();
        assert!(e.contains("val_weirdness") && e.contains("mode max"), "{e}");
    }

    #[test]
    fn min_delta_must_be_exceeded() {
        let mut m = Monitor::new("val_loss", Mode::Auto, 0.1);
        assert!(m.is_improvement("T", 5.0, None).unwrap());
        assert!(!m.is_improvement("T", 0.95, Some(1.0)).unwrap());
        assert!(m.is_improvement("T", 0.85, Some(1.0)).unwrap());
        let mut m = Monitor::new("val_accuracy", Mode::Auto, -0.1);
        assert!(!m.is_improvement("T", 0.55, Some(0.5)).unwrap());
        assert!(m.is_improvement("T", 0.65, Some(0.5)).unwrap());
    }
}
