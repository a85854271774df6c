//! Optimizers with Keras semantics and defaults. The per-step scalars (bias corrections) are
//! computed here on the host; each backend applies the per-element rule in one fused kernel.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerSpec {
    Sgd {
        learning_rate: f32,
        momentum: f32,
        nesterov: bool,
    },
    RmsProp {
        learning_rate: f32,
        rho: f32,
        momentum: f32,
        epsilon: f32,
    },
    Adam {
        learning_rate: f32,
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
    },
    AdamW {
        learning_rate: f32,
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
        weight_decay: f32,
    },
    Nadam {
        learning_rate: f32,
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
    },
}

impl OptimizerSpec {
    pub fn sgd() -> Self {
        Self::Sgd {
            learning_rate: 0.01,
            momentum: 0.0,
            nesterov: false,
        }
    }
    pub fn rmsprop() -> Self {
        Self::RmsProp {
            learning_rate: 1e-3,
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
        }
    }
    pub fn adam() -> Self {
        Self::Adam {
            learning_rate: 1e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
    pub fn adamw() -> Self {
        Self::AdamW {
            learning_rate: 1e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            weight_decay: 0.004,
        }
    }
    pub fn nadam() -> Self {
        Self::Nadam {
            learning_rate: 1e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }

    /// Parses a Keras optimizer name with its defaults.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "sgd" => Self::sgd(),
            "rmsprop" => Self::rmsprop(),
            "adam" => Self::adam(),
            "adamw" => Self::adamw(),
            "nadam" => Self::nadam(),
            _ => return None,
        })
    }

    pub fn learning_rate(&self) -> f32 {
        match *self {
            Self::Sgd { learning_rate, .. }
            | Self::RmsProp { learning_rate, .. }
            | Self::Adam { learning_rate, .. }
            | Self::AdamW { learning_rate, .. }
            | Self::Nadam { learning_rate, .. } => learning_rate,
        }
    }

    /// Per-parameter state tensors, each the parameter's size.
    pub fn slots(&self) -> usize {
        match *self {
            Self::Sgd { momentum, .. } => usize::from(momentum != 0.0),
            Self::RmsProp { momentum, .. } => 1 + usize::from(momentum != 0.0),
            Self::Adam { .. } | Self::AdamW { .. } | Self::Nadam { .. } => 2,
        }
    }
}

/// Counts optimizer steps and derives each step's scalars.
#[derive(Clone, Debug)]
pub struct OptimizerClock {
    pub step: u64,
    nadam_u_product: f32,
}

impl OptimizerClock {
    /// A clock where a run left it (`state`).
    pub fn resume(step: u64, nadam_u_product: f32) -> Self {
        Self {
            step,
            nadam_u_product,
        }
    }
    /// (step, Nadam's running product of momentum factors): what `resume` takes.
    pub fn state(&self) -> (u64, f32) {
        (self.step, self.nadam_u_product)
    }
}

impl Default for OptimizerClock {
    fn default() -> Self {
        Self {
            step: 0,
            nadam_u_product: 1.0,
        }
    }
}

/// The scalars one update step needs; what each means depends on the optimizer:
/// Adam/AdamW: `[lr, alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)]`;
/// Nadam: `[lr, coefficient of m, coefficient of g, 1 / (1 - b2^t)]`; others: `[lr]`.
pub type StepScalars = [f32; 4];

impl OptimizerClock {
    /// Advances to the next step and returns its scalars.
    pub fn tick(&mut self, spec: &OptimizerSpec, learning_rate: f32) -> StepScalars {
        self.step += 1;
        let t = self.step as f64;
        let lr = learning_rate as f64;
        let s = match *spec {
            OptimizerSpec::Adam { beta_1, beta_2, .. }
            | OptimizerSpec::AdamW { beta_1, beta_2, .. } => {
                let (b1, b2) = (beta_1 as f64, beta_2 as f64);
                [
                    lr,
                    lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t)),
                    0.0,
                    0.0,
                ]
            }
            OptimizerSpec::Nadam { beta_1, beta_2, .. } => {
                // Keras 3's schedule, u_t = beta_1 * (1 - 0.5 * 0.96^t), in float32 as Keras
                // computes it, with the running product of u kept as state.
                let t = self.step as f32;
                let u = |t: f32| beta_1 * (1.0 - 0.5 * 0.96f32.powf(t));
                let (u_t, u_t1) = (u(t), u(t + 1.0));
                let u_prod_t = self.nadam_u_product * beta_1 * (1.0 - 0.5 * 0.96f32.powf(t));
                self.nadam_u_product = u_prod_t;
                let u_prod_t1 = u_prod_t * u_t1;
                return [
                    learning_rate,
                    u_t1 / (1.0 - u_prod_t1),
                    (1.0 - u_t) / (1.0 - u_prod_t),
                    1.0 / (1.0 - beta_2.powf(t)),
                ];
            }
            _ => [lr, 0.0, 0.0, 0.0],
        };
        s.map(|v| v as f32)
    }
}
