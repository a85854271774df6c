//! Batch normalization over the last axis: the batch's moments in training (`Graph::batch_norm`,
//! or graph ops weighted by a mask; the moving statistics updated after the step), the moving
//! statistics in inference.

use crate::init::Initializer;
use crate::layer::{BuildCtx, CallCtx, Layer, Weight};
use anyhow::{bail, Result};
use serde_json::json;
use wgtrain_graph::{NodeId, Shape};

/// Like `keras.layers.BatchNormalization(axis=-1)`: momentum 0.99, epsilon 1e-3; `gamma` and
/// `beta` trainable, `moving_mean` (zeros) and `moving_variance` (ones) non-trainable and saved
/// with the weights. The moving variance takes the biased batch variance, as Keras' does; with
/// a mask the moments are mask-weighted.
pub struct BatchNormalization {
    momentum: f32,
    epsilon: f32,
    weights: Option<[Weight; 4]>,
}

impl Default for BatchNormalization {
    fn default() -> Self {
        Self {
            momentum: 0.99,
            epsilon: 1e-3,
            weights: None,
        }
    }
}

impl BatchNormalization {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }
}

impl Layer for BatchNormalization {
    fn class_name(&self) -> &str {
        "BatchNormalization"
    }

    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        let Some(&channels) = input_shapes[0].0.last() else {
            bail!("BatchNormalization needs inputs with a channel axis, got a scalar");
        };
        if !(0.0..1.0).contains(&self.momentum) || self.epsilon <= 0.0 {
            bail!(
                "BatchNormalization needs a momentum in [0, 1) and epsilon > 0, got {} and {}",
                self.momentum,
                self.epsilon
            );
        }
        self.weights = Some([
            ctx.add_weight("gamma", [channels], Initializer::Ones),
            ctx.add_weight("beta", [channels], Initializer::Zeros),
            ctx.add_non_trainable_weight("moving_mean", [channels], Initializer::Zeros),
            ctx.add_non_trainable_weight("moving_variance", [channels], Initializer::Ones),
        ]);
        Ok(())
    }

    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let [gamma, beta, moving_mean, moving_variance] =
            self.weights.as_ref().expect("build ran before call");
        let x = inputs[0];
        let shape = ctx.graph.shape(x).clone();
        let channels = shape.last();
        let rows = shape.numel() / channels;
        let mask = ctx.mask(0);
        let x2 = ctx.graph.reshape(x, [rows, channels])?;
        let (gamma, beta) = (ctx.weight(gamma), ctx.weight(beta));
        let g = &mut *ctx.graph;
        // Unmasked in training: the batch's own statistics, as two ops (`Moments`,
        // `BatchNorm`) whose gradient takes one reduction and one elementwise pass.
        let normalized = match mask {
            None if ctx.training => Some(g.batch_norm(x2, gamma, beta, self.epsilon)?),
            _ => None,
        };
        let (mean, variance) = match (normalized, mask) {
            (Some((_, moments)), _) => (g.slice(moments, 0, 0, 1)?, g.slice(moments, 0, 1, 2)?),
            (None, Some(m)) if ctx.training => {
                // Keras' weighted moments: sums over the unmasked rows, over their count
                // plus Keras' epsilon 1e-7.
                let m = g.reshape(m, [rows, 1])?;
                let count = g.sum(m, 0, true)?;
                let count = g.add_scalar(count, 1e-7)?;
                let xm = g.mul(x2, m)?;
                let total = g.sum(xm, 0, true)?;
                let mean = g.div(total, count)?;
                let d = g.sub(x2, mean)?;
                let d = g.mul(d, m)?;
                let d2 = g.square(d)?;
                let total = g.sum(d2, 0, true)?;
                (mean, g.div(total, count)?)
            }
            _ => (ctx.weight(moving_mean), ctx.weight(moving_variance)),
        };
        if ctx.training {
            let momentum = self.momentum;
            let mut moving = |w: &Weight, batch: NodeId| -> Result<NodeId> {
                let old = ctx.weight(w);
                let g = &mut *ctx.graph;
                let kept = g.mul_scalar(old, momentum)?;
                let batch = g.reshape(batch, [channels])?;
                let added = g.mul_scalar(batch, 1.0 - momentum)?;
                Ok(g.add(kept, added)?)
            };
            let new_mean = moving(moving_mean, mean)?;
            let new_variance = moving(moving_variance, variance)?;
            ctx.assign(moving_mean, new_mean);
            ctx.assign(moving_variance, new_variance);
        }
        let g = &mut *ctx.graph;
        if let Some((y, _)) = normalized {
            return Ok(vec![g.reshape(y, shape)?]);
        }
        // TensorFlow's form: x * (gamma / sqrt(var + eps)) + (beta - mean * that).
        let var_eps = g.add_scalar(variance, self.epsilon)?;
        let root = g.sqrt(var_eps)?;
        let scale = g.div(gamma, root)?;
        let shifted = g.mul(mean, scale)?;
        let offset = g.sub(beta, shifted)?;
        let y = g.mul(x2, scale)?;
        let y = g.add(y, offset)?;
        Ok(vec![g.reshape(y, shape)?])
    }

    fn supports_masking(&self) -> bool {
        true
    }

    fn config(&self) -> serde_json::Value {
        json!({"axis": -1, "momentum": self.momentum, "epsilon": self.epsilon})
    }
}
