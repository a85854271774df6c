//! 1-D pooling over the steps axis of (batch, steps, channels) tensors. The windowed poolings
//! are composed from slices, reshapes and elementwise ops, so their gradients come from those.

use crate::layer::{CallCtx, Layer};
use anyhow::{anyhow, bail, Result};
use serde_json::json;
use wgtrain_graph::{Conv1dGeometry, Graph, NodeId, Padding};

fn steps_input(g: &Graph, x: NodeId, layer: &str) -> Result<()> {
    if g.shape(x).rank() != 3 {
        bail!(
            "{layer} needs inputs of shape (batch, steps, channels), got {}",
            g.shape(x)
        );
    }
    Ok(())
}

/// The maximum over the steps axis, like `keras.layers.GlobalMaxPooling1D` (masks are ignored,
/// as in Keras).
#[derive(Default)]
pub struct GlobalMaxPooling1D;

impl GlobalMaxPooling1D {
    pub fn new() -> Self {
        Self
    }
}

impl Layer for GlobalMaxPooling1D {
    fn class_name(&self) -> &str {
        "GlobalMaxPooling1D"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        steps_input(ctx.graph, inputs[0], self.class_name())?;
        Ok(vec![ctx.graph.max(inputs[0], 1, false)?])
    }
    fn supports_masking(&self) -> bool {
        true
    }
    fn compute_mask(
        &self,
        _: &mut CallCtx,
        _: &[NodeId],
        _: &[Option<NodeId>],
    ) -> Result<Option<NodeId>> {
        Ok(None)
    }
}

/// The mean over the steps axis, like `keras.layers.GlobalAveragePooling1D`; with a mask, the
/// mean over the unmasked steps.
#[derive(Default)]
pub struct GlobalAveragePooling1D;

impl GlobalAveragePooling1D {
    pub fn new() -> Self {
        Self
    }
}

impl Layer for GlobalAveragePooling1D {
    fn class_name(&self) -> &str {
        "GlobalAveragePooling1D"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let x = inputs[0];
        steps_input(ctx.graph, x, self.class_name())?;
        let Some(mask) = ctx.mask(0) else {
            return Ok(vec![ctx.graph.mean(x, 1, false)?]);
        };
        let g = &mut *ctx.graph;
        let s = g.shape(x).clone();
        let m = g.reshape(mask, [s.0[0], s.0[1], 1])?;
        let kept = g.mul(x, m)?;
        let total = g.sum(kept, 1, false)?;
        let count = g.sum(m, 1, false)?;
        Ok(vec![g.div(total, count)?])
    }
    fn supports_masking(&self) -> bool {
        true
    }
    fn compute_mask(
        &self,
        _: &mut CallCtx,
        _: &[NodeId],
        _: &[Option<NodeId>],
    ) -> Result<Option<NodeId>> {
        Ok(None)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PoolKind {
    Max,
    Average,
}

/// Windowed pooling along the steps axis: `pool_size`, `strides` (default: the pool size) and
/// padding `valid` or `same`, like `keras.layers.MaxPooling1D` / `AveragePooling1D`. With
/// `same` padding a window only covers real steps (padding never wins a max or enters a mean).
pub struct Pooling1D {
    kind: PoolKind,
    pool_size: usize,
    strides: usize,
    padding: Padding,
}

/// `keras.layers.MaxPooling1D`.
pub struct MaxPooling1D;
/// `keras.layers.AveragePooling1D`.
pub struct AveragePooling1D;

impl MaxPooling1D {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(pool_size: usize) -> Pooling1D {
        Pooling1D::new(PoolKind::Max, pool_size)
    }
}
impl AveragePooling1D {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(pool_size: usize) -> Pooling1D {
        Pooling1D::new(PoolKind::Average, pool_size)
    }
}

impl Pooling1D {
    fn new(kind: PoolKind, pool_size: usize) -> Self {
        Self {
            kind,
            pool_size,
            strides: pool_size,
            padding: Padding::Valid,
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

    /// Steps `j, j + s, j + 2s, ...` (out of them) of `x`: a window's `j`-th element for each
    /// output, by padding to a multiple of the stride and taking column 0 of each row of `s`.
    fn tap(g: &mut Graph, x: NodeId, j: usize, s: usize, out: usize) -> Result<NodeId> {
        let sh = g.shape(x).clone();
        let (n, len, c) = (sh.0[0], sh.0[1], sh.0[2]);
        let need = out * s;
        let avail = len - j;
        let mut w = if avail > need {
            g.slice(x, 1, j, j + need)?
        } else if j > 0 {
            g.slice(x, 1, j, len)?
        } else {
            x
        };
        if avail < need {
            w = g.pad(w, 1, 0, need - avail)?;
        }
        if s == 1 {
            return Ok(w);
        }
        let rows = g.reshape(w, [n, out, s, c])?;
        let first = g.slice(rows, 2, 0, 1)?;
        Ok(g.reshape(first, [n, out, c])?)
    }
}

impl Layer for Pooling1D {
    fn class_name(&self) -> &str {
        match self.kind {
            PoolKind::Max => "MaxPooling1D",
            PoolKind::Average => "AveragePooling1D",
        }
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let x = inputs[0];
        steps_input(ctx.graph, x, self.class_name())?;
        if self.padding == Padding::Causal {
            bail!("pooling takes padding 'valid' or 'same', not 'causal'");
        }
        let g = &mut *ctx.graph;
        let len = g.shape(x).0[1];
        let geo = Conv1dGeometry::new(len, self.pool_size, self.strides, 1, self.padding)
            .map_err(|e| anyhow!(e))?;
        let (k, s, out) = (self.pool_size, self.strides, geo.out_len);
        let padded_len = (out - 1) * s + k;
        let right = padded_len.saturating_sub(len + geo.pad_left);
        let padded = geo.pad_left > 0 || right > 0;
        // 1 on real steps, 0 on padding; only needed when there is padding.
        let (xp, real) = if padded {
            let zero = g.mul_scalar(x, 0.0)?;
            let ones = g.add_scalar(zero, 1.0)?;
            let a = g.pad(x, 1, geo.pad_left, right)?;
            let r = g.pad(ones, 1, geo.pad_left, right)?;
            (a, Some(r))
        } else {
            (x, None)
        };
        let mut acc: Option<NodeId> = None;
        let mut count: Option<NodeId> = None;
        for j in 0..k {
            let mut t = Self::tap(g, xp, j, s, out)?;
            let rt = match real {
                Some(r) => Some(Self::tap(g, r, j, s, out)?),
                None => None,
            };
            if self.kind == PoolKind::Max {
                if let Some(rt) = rt {
                    // Padding gets the lowest float, so it never wins.
                    let off = g.add_scalar(rt, -1.0)?;
                    let low = g.mul_scalar(off, f32::MAX)?;
                    t = g.add(t, low)?;
                }
                acc = Some(match acc {
                    None => t,
                    Some(a) => g.maximum(a, t)?,
                });
            } else {
                acc = Some(match acc {
                    None => t,
                    Some(a) => g.add(a, t)?,
                });
                if let Some(rt) = rt {
                    count = Some(match count {
                        None => rt,
                        Some(c) => g.add(c, rt)?,
                    });
                }
            }
        }
        let acc = acc.ok_or_else(|| anyhow!("pool_size must be at least 1"))?;
        Ok(vec![match (self.kind, count) {
            (PoolKind::Max, _) => acc,
            (PoolKind::Average, Some(c)) => g.div(acc, c)?,
            (PoolKind::Average, None) => g.mul_scalar(acc, 1.0 / k as f32)?,
        }])
    }
    fn config(&self) -> serde_json::Value {
        json!({
            "pool_size": [self.pool_size],
            "strides": [self.strides],
            "padding": self.padding.name(),
        })
    }
}
