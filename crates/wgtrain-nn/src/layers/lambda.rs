use crate::layer::{CallCtx, Layer};
use anyhow::{bail, Result};
use wgtrain_graph::{Graph, NodeId};

type LambdaFn = dyn Fn(&mut Graph, &[NodeId]) -> Result<Vec<NodeId>>;

/// A layer from a closure over graph ops, for one-off code, like `keras.layers.Lambda`:
/// `Lambda::new(|g, x| Ok(g.relu(x)?))`. It has no weights.
pub struct Lambda {
    f: Box<LambdaFn>,
    supports_masking: bool,
}

impl Lambda {
    /// A single-input, single-output function.
    pub fn new(f: impl Fn(&mut Graph, NodeId) -> Result<NodeId> + 'static) -> Self {
        Self::many(move |g, xs| {
            if xs.len() != 1 {
                bail!("this Lambda takes one input, got {}", xs.len());
            }
            Ok(vec![f(g, xs[0])?])
        })
    }
    /// A function of several inputs with several outputs.
    pub fn many(f: impl Fn(&mut Graph, &[NodeId]) -> Result<Vec<NodeId>> + 'static) -> Self {
        Self {
            f: Box::new(f),
            supports_masking: false,
        }
    }
    /// Passes the input mask on (for functions that keep the steps axis).
    pub fn keep_mask(mut self) -> Self {
        self.supports_masking = true;
        self
    }
}

impl Layer for Lambda {
    fn class_name(&self) -> &str {
        "Lambda"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        (self.f)(ctx.graph, inputs)
    }
    fn supports_masking(&self) -> bool {
        self.supports_masking
    }
}
