use crate::layer::{CallCtx, Layer};
use anyhow::{bail, Result};
use serde_json::json;
use wgtrain_graph::NodeId;

/// Inverted dropout during training, identity otherwise, like `keras.layers.Dropout`.
pub struct Dropout {
    rate: f32,
}

impl Dropout {
    pub fn new(rate: f32) -> Self {
        Self { rate }
    }
}

impl Layer for Dropout {
    fn class_name(&self) -> &str {
        "Dropout"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        if !(0.0..1.0).contains(&self.rate) {
            bail!("the dropout rate must be in [0, 1), got {}", self.rate);
        }
        let key = ctx.random_key();
        if !ctx.training || self.rate == 0.0 {
            return Ok(vec![inputs[0]]);
        }
        Ok(vec![ctx.graph.dropout(inputs[0], self.rate, key)?])
    }
    fn supports_masking(&self) -> bool {
        true
    }
    fn config(&self) -> serde_json::Value {
        json!({"rate": self.rate})
    }
}

/// Drops whole channels per sample, like `keras.layers.SpatialDropout1D`: the noise has shape
/// (batch, 1, channels), drawn from the same counter generator as `Dropout`.
pub struct SpatialDropout1D {
    rate: f32,
}

impl SpatialDropout1D {
    pub fn new(rate: f32) -> Self {
        Self { rate }
    }
}

impl Layer for SpatialDropout1D {
    fn class_name(&self) -> &str {
        "SpatialDropout1D"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        if !(0.0..1.0).contains(&self.rate) {
            bail!("the dropout rate must be in [0, 1), got {}", self.rate);
        }
        let x = inputs[0];
        let shape = ctx.graph.shape(x).clone();
        if shape.rank() != 3 {
            bail!("SpatialDropout1D needs inputs of shape (batch, steps, channels), got {shape}");
        }
        let key = ctx.random_key();
        if !ctx.training || self.rate == 0.0 {
            return Ok(vec![x]);
        }
        let g = &mut *ctx.graph;
        let one = g.scalar(1.0);
        let ones = g.broadcast_to(one, [shape.0[0], 1, shape.0[2]])?;
        let noise = g.dropout(ones, self.rate, key)?;
        Ok(vec![g.mul(x, noise)?])
    }
    fn supports_masking(&self) -> bool {
        true
    }
    fn config(&self) -> serde_json::Value {
        json!({"rate": self.rate})
    }
}
