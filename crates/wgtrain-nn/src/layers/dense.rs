use super::ActivationKind;
use crate::init::Initializer;
use crate::layer::{BuildCtx, CallCtx, Layer, Weight};
use anyhow::{bail, Result};
use serde_json::json;
use wgtrain_graph::{NodeId, Shape};

/// `activation(x @ kernel + bias)` over the last axis, like `keras.layers.Dense`.
pub struct Dense {
    units: usize,
    activation: ActivationKind,
    use_bias: bool,
    kernel: Option<Weight>,
    bias: Option<Weight>,
}

impl Dense {
    pub fn new(units: usize) -> Self {
        Self {
            units,
            activation: ActivationKind::Linear,
            use_bias: true,
            kernel: None,
            bias: None,
        }
    }
    pub fn activation(mut self, kind: ActivationKind) -> Self {
        self.activation = kind;
        self
    }
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }
}

impl Layer for Dense {
    fn class_name(&self) -> &str {
        "Dense"
    }
    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        let Some(input) = input_shapes.first().filter(|s| s.rank() >= 1) else {
            bail!("Dense needs an input with at least one feature axis");
        };
        let fan_in = input.last();
        self.kernel =
            Some(ctx.add_weight("kernel", [fan_in, self.units], Initializer::GlorotUniform));
        if self.use_bias {
            self.bias = Some(ctx.add_weight("bias", [self.units], Initializer::Zeros));
        }
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let Some(kernel) = self.kernel.as_ref() else {
            bail!("Dense is called before it is built");
        };
        let w = ctx.weight(kernel);
        let mut y = ctx.graph.matmul(inputs[0], w)?;
        if let Some(bias) = &self.bias {
            let b = ctx.weight(bias);
            y = ctx.graph.add(y, b)?;
        }
        Ok(vec![self.activation.apply(ctx.graph, y)?])
    }
    fn supports_masking(&self) -> bool {
        true
    }
    fn config(&self) -> serde_json::Value {
        json!({
            "units": self.units,
            "activation": self.activation.name(),
            "use_bias": self.use_bias,
            "kernel_initializer": "glorot_uniform",
            "bias_initializer": "zeros",
        })
    }
}
