//! A model used as a layer, like calling a Keras model on new inputs: its layer calls are
//! replayed on the new inputs and its layers' weights are shared (each use reads the same
//! weights, and the model using it starts them from the values they have).

use crate::layer::{BuildCtx, CallCtx, Layer, LayerHandle, Weight};
use crate::model::{replay, tensor_key, Model};
use crate::tensor::{with_batch, LayerCall, Tensor};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::rc::Rc;
use wgtrain_graph::{NodeId, Shape};

pub(crate) struct NestedModel {
    class: &'static str,
    name: String,
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
    calls: Vec<Rc<LayerCall>>,
    weights: Vec<Weight>,
    /// The model as `Model::to_json` writes it; `None` when it cannot be written.
    json: Option<Value>,
}

impl Model {
    /// The model as a layer to apply to new inputs (`model.as_layer()?.apply(&x)`), like
    /// calling a Keras model on tensors: every application shares the model's layers and
    /// weights, and a model built on it starts those weights from their current values.
    pub fn as_layer(&mut self) -> Result<LayerHandle> {
        let nested = self.nested()?;
        Ok(LayerHandle::named(
            nested,
            &crate::layer::unique_name(&self.name),
        ))
    }

    /// Copies into this model the current values of its weights that `other` shares (through
    /// `as_layer`), such as a base model's weights after training a model built on it; returns
    /// how many were copied.
    pub fn copy_shared_weights_from(&mut self, other: &mut Model) -> Result<usize> {
        let theirs = other.weight_values()?;
        let mut mine = self.weight_values()?;
        let mut copied = 0;
        for ((_, w), v) in self.weights.iter().zip(mine.iter_mut()) {
            if let Some(i) = other.weights.iter().position(|(_, o)| o.uid == w.uid) {
                v.clone_from(&theirs[i]);
                copied += 1;
            }
        }
        self.set_weight_values(mine)?;
        Ok(copied)
    }

    /// The model as a layer, not yet named.
    pub(crate) fn nested(&mut self) -> Result<NestedModel> {
        let values = self.weight_values()?;
        let weights = self
            .weights
            .iter()
            .zip(values)
            .map(|((layer, w), v)| Weight {
                name: format!("{layer}/{}", w.name),
                preset: Some(v.into()),
                ..w.clone()
            })
            .collect();
        let class = if self.name.starts_with("sequential") {
            "Sequential"
        } else {
            "Functional"
        };
        let json = self
            .to_json()
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        Ok(NestedModel {
            class,
            name: self.name.clone(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            calls: self.calls.clone(),
            weights,
            json,
        })
    }
}

impl Layer for NestedModel {
    fn class_name(&self) -> &str {
        self.class
    }
    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        if input_shapes.len() != self.inputs.len() {
            bail!(
                "model '{}' takes {} input(s), got {}",
                self.name,
                self.inputs.len(),
                input_shapes.len()
            );
        }
        for (k, (s, t)) in input_shapes.iter().zip(&self.inputs).enumerate() {
            if !t.accepts(s) {
                bail!(
                    "model '{}' expects input {k} ('{}') of shape {}, got {}",
                    self.name,
                    t.input_name().unwrap_or("?"),
                    t.shape_text(),
                    with_batch(s)
                );
            }
        }
        for w in &self.weights {
            ctx.share_weight(w.clone());
        }
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let mut values = HashMap::new();
        let mut masks = HashMap::new();
        let outer_masks = std::mem::take(&mut ctx.masks);
        for (k, (t, &n)) in self.inputs.iter().zip(inputs).enumerate() {
            values.insert(tensor_key(t), n);
            masks.insert(tensor_key(t), outer_masks.get(k).copied().flatten());
        }
        let name = std::mem::take(&mut ctx.layer_name);
        replay(&self.calls, ctx, &mut values, &mut masks)?;
        ctx.layer_name = name;
        ctx.masks = outer_masks;
        Ok(self
            .outputs
            .iter()
            .map(|t| values[&tensor_key(t)])
            .collect())
    }
    fn config(&self) -> Value {
        json!({ "model": self.json.clone().unwrap_or(Value::Null) })
    }
}
