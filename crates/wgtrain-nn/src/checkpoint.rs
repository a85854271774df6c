//! Weights as safetensors, written atomically (a temporary file renamed into place).

use crate::model::Model;
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::path::Path;

/// Metadata key holding the weight names in model order.
const ORDER_KEY: &str = "wgtrain.weight_order";

/// The metadata a weights file holds (the weight order, and what `save_weights_with` added).
pub fn weights_metadata(path: &Path) -> Result<std::collections::HashMap<String, String>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read weights file {}", path.display()))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .with_context(|| format!("{} is not a valid safetensors file", path.display()))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

impl Model {
    /// The name each weight is saved under: "layer/weight".
    pub fn weight_names(&self) -> Vec<String> {
        self.weights
            .iter()
            .map(|(layer, w)| format!("{layer}/{}", w.name))
            .collect()
    }

    /// Saves every weight to `path` as safetensors, like Keras' `save_weights`.
    pub fn save_weights(&mut self, path: &Path) -> Result<()> {
        self.save_weights_with(path, &[])
    }

    /// `save_weights` with more (key, text) metadata kept in the file, e.g. how inputs were
    /// prepared (`weights_metadata` reads it back).
    pub fn save_weights_with(&mut self, path: &Path, extra: &[(String, String)]) -> Result<()> {
        let values = self.weight_values()?;
        let names = self.weight_names();
        let raw: Vec<Vec<u8>> = values
            .iter()
            .map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views = names
            .iter()
            .zip(&self.weights)
            .zip(&raw)
            .map(|((name, (_, w)), bytes)| {
                let view = TensorView::new(Dtype::F32, w.shape.0.clone(), bytes)?;
                Ok((name.clone(), view))
            })
            .collect::<Result<Vec<_>>>()?;
        let order = serde_json::to_string(&names)?;
        let mut metadata = std::collections::HashMap::from([(ORDER_KEY.to_string(), order)]);
        metadata.extend(extra.iter().cloned());
        let data = safetensors::serialize(views, Some(metadata))?;
        crate::output_path::write_atomically(path, &data, "the weights")
    }

    /// Loads weights saved by `save_weights`. Weights are matched by name; when the names differ
    /// (layer names are numbered per process, as in Keras), by position, if every shape agrees.
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read weights file {}", path.display()))?;
        let st = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{} is not a valid safetensors file", path.display()))?;
        let names = self.weight_names();
        let by_name = names.iter().all(|n| st.tensor(n).is_ok());
        let stored: Vec<String> = if by_name {
            names.clone()
        } else {
            // safetensors sorts tensors by name; the model's order is kept in the metadata.
            let order = SafeTensors::read_metadata(&bytes).ok().and_then(|(_, m)| {
                m.metadata()
                    .as_ref()
                    .and_then(|m| m.get(ORDER_KEY).cloned())
            });
            match order.and_then(|o| serde_json::from_str::<Vec<String>>(&o).ok()) {
                Some(order) => order,
                None => st.names().into_iter().map(String::from).collect(),
            }
        };
        if stored.len() != names.len() {
            bail!(
                "{} holds {} weights ({}) but the model has {} ({})",
                path.display(),
                stored.len(),
                stored.join(", "),
                names.len(),
                names.join(", ")
            );
        }
        let mut values = Vec::with_capacity(self.weights.len());
        for ((name, stored_name), (_, w)) in names.iter().zip(&stored).zip(&self.weights) {
            let t = st
                .tensor(stored_name)
                .with_context(|| format!("{} holds no weight '{stored_name}'", path.display()))?;
            if t.dtype() != Dtype::F32 || t.shape() != w.shape.0.as_slice() {
                bail!(
                    "weight '{stored_name}' in {} is {:?} of shape {:?}, but the model's '{name}' needs F32 of shape {}",
                    path.display(),
                    t.dtype(),
                    t.shape(),
                    w.shape
                );
            }
            values.push(
                t.data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            );
        }
        self.set_weight_values(values)
    }
}
