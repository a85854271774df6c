use crate::layer::{unique_name, CallCtx, Layer};
use anyhow::{bail, Result};
use serde_json::json;
use wgtrain_graph::NodeId;

/// Inverted dropout during training, identity otherwise, like `keras.layers.Dropout`.
pub struct Dropout {
    name: String,
    rate: f32,
}

impl Dropout {
    pub fn new(rate: f32) -> Self {
        Self {
            name: unique_name("dropout"),
            rate,
        }
    }
}

impl Layer for Dropout {
    fn name(&self) -> &str {
        &self.name
    }
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
    fn config(&self) -> serde_json::Value {
        json!({"name": self.name, "rate": self.rate})
    }
}
