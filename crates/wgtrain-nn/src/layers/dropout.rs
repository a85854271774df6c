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
