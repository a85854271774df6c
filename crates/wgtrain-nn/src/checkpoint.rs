//! Weights as safetensors, written atomically (a temporary file renamed into place).

use crate::model::Model;
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::path::Path;

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
        let data = safetensors::serialize(views, None)?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("weights")
        ));
        std::fs::write(&tmp, data).with_context(|| format!("cannot write weights to {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot move the weights into place at {}", path.display()))?;
        Ok(())
    }

    /// Loads weights saved by `save_weights` into this model; names and shapes must match.
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read weights file {}", path.display()))?;
        let st = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{} is not a valid safetensors file", path.display()))?;
        let mut values = Vec::with_capacity(self.weights.len());
        for (name, (_, w)) in self.weight_names().iter().zip(&self.weights) {
            let t = st.tensor(name).with_context(|| {
                format!(
                    "{} has no weight '{name}'; it holds: {}",
                    path.display(),
                    st.names().join(", ")
                )
            })?;
            if t.dtype() != Dtype::F32 || t.shape() != w.shape.0.as_slice() {
                bail!(
                    "weight '{name}' in {} is {:?} of shape {:?}, but the model needs F32 of shape {}",
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
