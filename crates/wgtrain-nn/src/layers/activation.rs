use crate::layer::{CallCtx, Layer};
use anyhow::{bail, Result};
use serde_json::json;
use wgtrain_graph::{Graph, NodeId};

/// The activations Keras layers accept by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationKind {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
}

impl ActivationKind {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "linear" | "" => Self::Linear,
            "relu" => Self::Relu,
            "sigmoid" => Self::Sigmoid,
            "tanh" => Self::Tanh,
            "softmax" => Self::Softmax,
            other => {
                bail!("unknown activation '{other}'; known: linear, relu, sigmoid, tanh, softmax")
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Relu => "relu",
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
            Self::Softmax => "softmax",
        }
    }

    pub fn apply(self, g: &mut Graph, x: NodeId) -> Result<NodeId> {
        Ok(match self {
            Self::Linear => x,
            Self::Relu => g.relu(x)?,
            Self::Sigmoid => g.sigmoid(x)?,
            Self::Tanh => g.tanh(x)?,
            Self::Softmax => g.softmax(x, -1)?,
        })
    }
}

/// Applies an activation function, like `keras.layers.Activation`.
pub struct Activation {
    kind: ActivationKind,
}

impl Activation {
    pub fn new(kind: ActivationKind) -> Self {
        Self { kind }
    }
    /// By Keras name ("relu", "softmax", ...).
    pub fn named(activation: &str) -> Result<Self> {
        Ok(Self::new(ActivationKind::parse(activation)?))
    }
}

impl Layer for Activation {
    fn class_name(&self) -> &str {
        "Activation"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        Ok(vec![self.kind.apply(ctx.graph, inputs[0])?])
    }
    fn config(&self) -> serde_json::Value {
        json!({"activation": self.kind.name()})
    }
}

/// Softmax over the last axis, like `keras.layers.Softmax`.
pub struct Softmax {}

impl Softmax {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {}
    }
}

impl Layer for Softmax {
    fn class_name(&self) -> &str {
        "Softmax"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        Ok(vec![ctx.graph.softmax(inputs[0], -1)?])
    }
    fn config(&self) -> serde_json::Value {
        json!({"axis": -1})
    }
}
