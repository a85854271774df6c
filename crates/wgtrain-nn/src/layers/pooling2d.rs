//! 2-D pooling over the height and width of (batch, height, width, channels) tensors.

use super::conv2d::{image_size, Size2};
use crate::layer::{CallCtx, Layer};
use anyhow::{anyhow, bail, Result};
use serde_json::json;
use wgtrain_graph::{Conv2dGeometry, NodeId, Padding, PoolKind, ReduceOp};

/// Windowed 2-D pooling: `pool_size`, `strides` (default: the pool size) and padding `valid`
/// or `same`, like `keras.layers.MaxPooling2D` / `AveragePooling2D`. With `same` padding a
/// window covers only real positions (padding never wins a max or enters a mean).
pub struct Pooling2D {
    kind: PoolKind,
    pool_size: Size2,
    strides: Option<Size2>,
    padding: Padding,
}

/// `keras.layers.MaxPooling2D`.
pub struct MaxPooling2D;
/// `keras.layers.AveragePooling2D`.
pub struct AveragePooling2D;

impl MaxPooling2D {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(pool_size: impl Into<Size2>) -> Pooling2D {
        Pooling2D::new(PoolKind::Max, pool_size.into())
    }
}
impl AveragePooling2D {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(pool_size: impl Into<Size2>) -> Pooling2D {
        Pooling2D::new(PoolKind::Average, pool_size.into())
    }
}

impl Pooling2D {
    fn new(kind: PoolKind, pool_size: Size2) -> Self {
        Self {
            kind,
            pool_size,
            strides: None,
            padding: Padding::Valid,
        }
    }
    pub fn strides(mut self, strides: impl Into<Size2>) -> Self {
        self.strides = Some(strides.into());
        self
    }
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    fn stride_pair(&self) -> [usize; 2] {
        self.strides.unwrap_or(self.pool_size).pair()
    }
}

impl Layer for Pooling2D {
    fn class_name(&self) -> &str {
        match self.kind {
            PoolKind::Max => "MaxPooling2D",
            PoolKind::Average => "AveragePooling2D",
        }
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let size = image_size(self.class_name(), ctx.graph.shape(inputs[0]))?;
        let geo = Conv2dGeometry::new(
            size,
            self.pool_size.pair(),
            self.stride_pair(),
            [1, 1],
            self.padding,
        )
        .map_err(|e| anyhow!("{}: {e}", self.class_name()))?;
        Ok(vec![ctx.graph.pool2d(inputs[0], self.kind, geo)?])
    }
    fn config(&self) -> serde_json::Value {
        json!({
            "pool_size": self.pool_size.pair(),
            "strides": self.stride_pair(),
            "padding": self.padding.name(),
        })
    }
}

/// The maximum or mean over height and width, like `keras.layers.GlobalMaxPooling2D` /
/// `GlobalAveragePooling2D`: (batch, height, width, channels) -> (batch, channels).
pub struct GlobalPooling2D {
    op: ReduceOp,
}

/// `keras.layers.GlobalMaxPooling2D`.
pub struct GlobalMaxPooling2D;
/// `keras.layers.GlobalAveragePooling2D`.
pub struct GlobalAveragePooling2D;

impl GlobalMaxPooling2D {
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> GlobalPooling2D {
        GlobalPooling2D { op: ReduceOp::Max }
    }
}
impl GlobalAveragePooling2D {
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> GlobalPooling2D {
        GlobalPooling2D { op: ReduceOp::Mean }
    }
}

impl Layer for GlobalPooling2D {
    fn class_name(&self) -> &str {
        match self.op {
            ReduceOp::Max => "GlobalMaxPooling2D",
            _ => "GlobalAveragePooling2D",
        }
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let g = &mut *ctx.graph;
        let s = g.shape(inputs[0]).clone();
        let [h, w] = image_size(self.class_name(), &s)?;
        if h * w == 0 {
            bail!("{} got an empty image {s}", self.class_name());
        }
        let flat = g.reshape(inputs[0], [s.0[0], h * w, s.0[3]])?;
        Ok(vec![match self.op {
            ReduceOp::Max => g.max(flat, 1, false)?,
            _ => g.mean(flat, 1, false)?,
        }])
    }
    fn config(&self) -> serde_json::Value {
        json!({})
    }
}
