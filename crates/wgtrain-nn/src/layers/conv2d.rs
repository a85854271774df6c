use super::ActivationKind;
use crate::init::Initializer;
use crate::layer::{BuildCtx, CallCtx, Layer, Weight};
use anyhow::{anyhow, bail, Result};
use serde_json::json;
use wgtrain_graph::{Conv2dGeometry, NodeId, Padding, Shape};

/// A (height, width) pair, given as one number for both or as a tuple, as Keras' `kernel_size`,
/// `strides`, `dilation_rate` and `pool_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size2(pub usize, pub usize);

impl Size2 {
    pub fn pair(self) -> [usize; 2] {
        [self.0, self.1]
    }
}
impl From<usize> for Size2 {
    fn from(n: usize) -> Self {
        Size2(n, n)
    }
}
impl From<(usize, usize)> for Size2 {
    fn from((h, w): (usize, usize)) -> Self {
        Size2(h, w)
    }
}
impl From<[usize; 2]> for Size2 {
    fn from([h, w]: [usize; 2]) -> Self {
        Size2(h, w)
    }
}

/// The (height, width, channels) of an image input, or an error naming the layer.
pub(crate) fn image_size(layer: &str, s: &Shape) -> Result<[usize; 2]> {
    if s.rank() != 4 {
        bail!("{layer} needs inputs of shape (batch, height, width, channels), got {s}");
    }
    Ok([s.0[1], s.0[2]])
}

/// A 2-D convolution over channels-last images, like `keras.layers.Conv2D`: kernel
/// (kh, kw, channels, filters), glorot-uniform, zero bias.
pub struct Conv2D {
    filters: usize,
    kernel_size: Size2,
    strides: Size2,
    padding: Padding,
    dilation_rate: Size2,
    activation: ActivationKind,
    use_bias: bool,
    kernel: Option<Weight>,
    bias: Option<Weight>,
}

impl Conv2D {
    pub fn new(filters: usize, kernel_size: impl Into<Size2>) -> Self {
        Self {
            filters,
            kernel_size: kernel_size.into(),
            strides: Size2(1, 1),
            padding: Padding::Valid,
            dilation_rate: Size2(1, 1),
            activation: ActivationKind::Linear,
            use_bias: true,
            kernel: None,
            bias: None,
        }
    }
    pub fn strides(mut self, strides: impl Into<Size2>) -> Self {
        self.strides = strides.into();
        self
    }
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    pub fn dilation_rate(mut self, dilation_rate: impl Into<Size2>) -> Self {
        self.dilation_rate = dilation_rate.into();
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

    fn geometry(&self, size: [usize; 2]) -> Result<Conv2dGeometry> {
        Conv2dGeometry::new(
            size,
            self.kernel_size.pair(),
            self.strides.pair(),
            self.dilation_rate.pair(),
            self.padding,
        )
        .map_err(|e| anyhow!("Conv2D: {e}"))
    }
}

impl Layer for Conv2D {
    fn class_name(&self) -> &str {
        "Conv2D"
    }
    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        let Some(input) = input_shapes.first().filter(|s| s.rank() == 3) else {
            bail!("Conv2D needs inputs of shape (height, width, channels)");
        };
        if self.filters == 0 {
            bail!("Conv2D: filters must be at least 1");
        }
        let strided = self.strides.0 > 1 || self.strides.1 > 1;
        if strided && (self.dilation_rate.0 > 1 || self.dilation_rate.1 > 1) {
            bail!("Conv2D: strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)");
        }
        self.geometry([input.0[0], input.0[1]])?;
        let Size2(kh, kw) = self.kernel_size;
        self.kernel = Some(ctx.add_weight(
            "kernel",
            [kh, kw, input.0[2], self.filters],
            Initializer::GlorotUniform,
        ));
        if self.use_bias {
            self.bias = Some(ctx.add_weight("bias", [self.filters], Initializer::Zeros));
        }
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let Some(kernel) = &self.kernel else {
            bail!("Conv2D is called before it is built");
        };
        let s = ctx.graph.shape(inputs[0]).clone();
        let geo = self.geometry(image_size("Conv2D", &s)?)?;
        let w = ctx.weight(kernel);
        let mut y = ctx.graph.conv2d(inputs[0], w, geo)?;
        if let Some(bias) = &self.bias {
            let b = ctx.weight(bias);
            y = ctx.graph.add(y, b)?;
        }
        Ok(vec![self.activation.apply(ctx.graph, y)?])
    }
    fn config(&self) -> serde_json::Value {
        json!({
            "filters": self.filters,
            "kernel_size": self.kernel_size.pair(),
            "strides": self.strides.pair(),
            "padding": self.padding.name(),
            "dilation_rate": self.dilation_rate.pair(),
            "activation": self.activation.name(),
            "use_bias": self.use_bias,
        })
    }
}
