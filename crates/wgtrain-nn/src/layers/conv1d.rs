use super::ActivationKind;
use crate::init::Initializer;
use crate::layer::{BuildCtx, CallCtx, Layer, Weight};
use anyhow::{anyhow, bail, Result};
use serde_json::json;
use wgtrain_graph::{Conv1dGeometry, NodeId, Padding, Shape};

/// A 1-D convolution over the steps of (steps, channels) inputs, like `keras.layers.Conv1D`:
/// kernel (kernel_size, channels, filters), glorot-uniform, zero bias.
pub struct Conv1D {
    filters: usize,
    kernel_size: usize,
    strides: usize,
    padding: Padding,
    dilation_rate: usize,
    activation: ActivationKind,
    use_bias: bool,
    kernel: Option<Weight>,
    bias: Option<Weight>,
}

impl Conv1D {
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Self {
            filters,
            kernel_size,
            strides: 1,
            padding: Padding::Valid,
            dilation_rate: 1,
            activation: ActivationKind::Linear,
            use_bias: true,
            kernel: None,
            bias: None,
        }
    }
    pub fn strides(mut self, strides: usize) -> Self {
        self.strides = strides;
        self
    }
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    pub fn dilation_rate(mut self, dilation_rate: usize) -> Self {
        self.dilation_rate = dilation_rate;
        self
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

impl Layer for Conv1D {
    fn class_name(&self) -> &str {
        "Conv1D"
    }
    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        let Some(input) = input_shapes.first().filter(|s| s.rank() == 2) else {
            bail!("Conv1D needs inputs of shape (steps, channels)");
        };
        if self.filters == 0 {
            bail!("filters must be at least 1");
        }
        if self.strides > 1 && self.dilation_rate > 1 {
            bail!("strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)");
        }
        Conv1dGeometry::new(
            input.0[0],
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
        )
        .map_err(|e| anyhow!(e))?;
        self.kernel = Some(ctx.add_weight(
            "kernel",
            [self.kernel_size, input.0[1], self.filters],
            Initializer::GlorotUniform,
        ));
        if self.use_bias {
            self.bias = Some(ctx.add_weight("bias", [self.filters], Initializer::Zeros));
        }
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let Some(kernel) = &self.kernel else {
            bail!("Conv1D is called before it is built");
        };
        let s = ctx.graph.shape(inputs[0]).clone();
        if s.rank() != 3 {
            bail!("Conv1D needs inputs of shape (batch, steps, channels), got {s}");
        }
        let geo = Conv1dGeometry::new(
            s.0[1],
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
        )
        .map_err(|e| anyhow!(e))?;
        let w = ctx.weight(kernel);
        let mut y = ctx.graph.conv1d(inputs[0], w, geo)?;
        if let Some(bias) = &self.bias {
            let b = ctx.weight(bias);
            y = ctx.graph.add(y, b)?;
        }
        Ok(vec![self.activation.apply(ctx.graph, y)?])
    }
    fn config(&self) -> serde_json::Value {
        json!({
            "filters": self.filters,
            "kernel_size": [self.kernel_size],
            "strides": [self.strides],
            "padding": self.padding.name(),
            "dilation_rate": [self.dilation_rate],
            "activation": self.activation.name(),
            "use_bias": self.use_bias,
        })
    }
}
