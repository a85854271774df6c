use crate::layer::{CallCtx, Layer};
use anyhow::Result;
use serde_json::json;
use wgtrain_graph::NodeId;

/// Flattens every axis but the batch axis, like `keras.layers.Flatten`.
pub struct Flatten {}

impl Flatten {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {}
    }
}

impl Layer for Flatten {
    fn class_name(&self) -> &str {
        "Flatten"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let s = ctx.graph.shape(inputs[0]).clone();
        let batch = s.0[0];
        Ok(vec![ctx
            .graph
            .reshape(inputs[0], [batch, s.numel() / batch.max(1)])?])
    }
    fn config(&self) -> serde_json::Value {
        json!({})
    }
}
