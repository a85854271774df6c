//! Merge layers: several tensors of one shape combined into one, like Keras' `Add`,
//! `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum` and `Concatenate`.

use crate::layer::{CallCtx, Layer};
use anyhow::{bail, Result};
use serde_json::json;
use wgtrain_graph::{BinaryOp, NodeId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MergeKind {
    Add,
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
}

/// An elementwise merge of its inputs (numpy broadcasting applies).
pub struct Merge {
    kind: MergeKind,
}

macro_rules! merge_layer {
    ($name:ident, $kind:ident) => {
        #[doc = concat!("`keras.layers.", stringify!($name), "`.")]
        pub struct $name;
        impl $name {
            #[allow(clippy::new_ret_no_self)]
            pub fn new() -> Merge {
                Merge {
                    kind: MergeKind::$kind,
                }
            }
        }
    };
}
merge_layer!(Add, Add);
merge_layer!(Subtract, Subtract);
merge_layer!(Multiply, Multiply);
merge_layer!(Average, Average);
merge_layer!(Maximum, Maximum);
merge_layer!(Minimum, Minimum);

/// The product of the masks present (Keras: a step is kept where every input keeps it).
fn merged_mask(ctx: &mut CallCtx, masks: &[Option<NodeId>]) -> Result<Option<NodeId>> {
    let mut out: Option<NodeId> = None;
    for m in masks.iter().flatten() {
        out = Some(match out {
            None => *m,
            Some(acc) => ctx.graph.mul(acc, *m)?,
        });
    }
    Ok(out)
}

impl Layer for Merge {
    fn class_name(&self) -> &str {
        match self.kind {
            MergeKind::Add => "Add",
            MergeKind::Subtract => "Subtract",
            MergeKind::Multiply => "Multiply",
            MergeKind::Average => "Average",
            MergeKind::Maximum => "Maximum",
            MergeKind::Minimum => "Minimum",
        }
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        if self.kind == MergeKind::Subtract && inputs.len() != 2 {
            bail!("Subtract takes exactly 2 inputs, got {}", inputs.len());
        }
        if inputs.len() < 2 && self.kind != MergeKind::Subtract {
            bail!(
                "a merge layer takes at least 2 inputs, got {}",
                inputs.len()
            );
        }
        let op = match self.kind {
            MergeKind::Add | MergeKind::Average => BinaryOp::Add,
            MergeKind::Subtract => BinaryOp::Sub,
            MergeKind::Multiply => BinaryOp::Mul,
            MergeKind::Maximum => BinaryOp::Maximum,
            MergeKind::Minimum => BinaryOp::Minimum,
        };
        let g = &mut *ctx.graph;
        let mut acc = inputs[0];
        for &x in &inputs[1..] {
            acc = g.binary(op, acc, x)?;
        }
        if self.kind == MergeKind::Average {
            acc = g.mul_scalar(acc, 1.0 / inputs.len() as f32)?;
        }
        Ok(vec![acc])
    }
    fn compute_mask(
        &self,
        ctx: &mut CallCtx,
        _inputs: &[NodeId],
        masks: &[Option<NodeId>],
    ) -> Result<Option<NodeId>> {
        merged_mask(ctx, masks)
    }
}

/// Joins its inputs along `axis` (default: the last), like `keras.layers.Concatenate`.
pub struct Concatenate {
    axis: isize,
}

impl Default for Concatenate {
    fn default() -> Self {
        Self { axis: -1 }
    }
}

impl Concatenate {
    pub fn new() -> Self {
        Self::default()
    }
    /// The axis counts the batch axis as 0, as in Keras; negative counts from the end.
    pub fn axis(mut self, axis: isize) -> Self {
        self.axis = axis;
        self
    }
}

impl Layer for Concatenate {
    fn class_name(&self) -> &str {
        "Concatenate"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        if inputs.is_empty() {
            bail!("Concatenate needs at least one input");
        }
        if self.axis == 0 {
            bail!("Concatenate cannot join along the batch axis (axis 0)");
        }
        Ok(vec![ctx.graph.concat(inputs, self.axis)?])
    }
    fn compute_mask(
        &self,
        ctx: &mut CallCtx,
        inputs: &[NodeId],
        masks: &[Option<NodeId>],
    ) -> Result<Option<NodeId>> {
        // Joining along the feature axis keeps the steps: a step is kept where all inputs keep it.
        let rank = ctx.graph.shape(inputs[0]).rank() as isize;
        let last = self.axis == -1 || self.axis == rank - 1;
        if !last && masks.iter().any(Option::is_some) {
            bail!("Concatenate with masked inputs joins along the last axis only");
        }
        merged_mask(ctx, masks)
    }
    fn config(&self) -> serde_json::Value {
        json!({"axis": self.axis})
    }
}
