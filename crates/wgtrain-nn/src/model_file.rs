//! A whole model in one file, like Keras' `model.save` / `load_model`: the architecture
//! (`to_json`), the compile settings, the weights and the optimizer's state (its slots and
//! step count), as safetensors with the rest in the metadata; written atomically.

use crate::model::{CompileConfig, Model};
use crate::output_path::write_atomically;
use anyhow::{Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use wgtrain_graph::optim::OptimizerClock;
use wgtrain_graph::{Backend, OptimizerSpec, ParamId};

const MODEL_KEY: &str = "wgtrain.model_json";
const COMPILE_KEY: &str = "wgtrain.compile";

impl Model {
    /// Writes the architecture, compile settings, weights and optimizer state to `path`.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        let architecture = self.to_json()?;
        let values = self.weight_values()?;
        let shapes: Vec<Vec<usize>> = self
            .weights
            .iter()
            .map(|(_, w)| w.shape.0.clone())
            .collect();
        let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
        let mut metadata = HashMap::from([(MODEL_KEY.to_string(), architecture)]);
        if let Ok(rt) = self.runtime_mut() {
            let (step, product) = rt.clock.state();
            let config = &rt.config;
            let losses: Vec<&str> = config.losses.iter().map(|l| l.name()).collect();
            let compile = json!({
                "optimizer": config.optimizer,
                "losses": losses,
                "loss_weights": config.loss_weights,
                "learning_rate_bits": rt.learning_rate.to_bits(),
                "step": step,
                "nadam_u_product_bits": product.to_bits(),
            });
            metadata.insert(COMPILE_KEY.to_string(), compile.to_string());
            for (i, (v, shape)) in values.iter().zip(&shapes).enumerate() {
                for k in 0..2 {
                    let mut slot = vec![0.0; v.len()];
                    if rt.backend.read_optimizer_slot(ParamId(i), k, &mut slot)? {
                        tensors.push((format!("optimizer/slot{k}/{i}"), shape.clone(), slot));
                    }
                }
            }
        }
        for (i, (v, shape)) in values.into_iter().zip(shapes).enumerate() {
            tensors.push((format!("weight/{i}"), shape, v));
        }
        let raw: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views = tensors
            .iter()
            .zip(&raw)
            .map(|((name, shape, _), bytes)| {
                Ok((
                    name.clone(),
                    TensorView::new(Dtype::F32, shape.clone(), bytes)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let data = safetensors::serialize(views, Some(metadata))?;
        write_atomically(path, &data, "the model")
    }
}

/// Reads a model `Model::save` wrote: rebuilt from its architecture (custom layers must be
/// registered), compiled with its saved settings on `backend` when it was saved compiled, with
/// its weights and optimizer state.
pub fn load_model(path: &Path, backend: Box<dyn Backend>) -> Result<Model> {
    let shown = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the model {shown}"))?;
    let st = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{shown} is not a model file (safetensors)"))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .with_context(|| format!("{shown} is not a model file (safetensors)"))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let architecture = meta.get(MODEL_KEY).with_context(|| {
        format!("{shown} holds no architecture; weights alone load with Model::load_weights")
    })?;
    let mut model =
        Model::from_json(architecture).with_context(|| format!("model file {shown}"))?;
    let read = |name: &str| -> Result<Option<Vec<f32>>> {
        let Ok(t) = st.tensor(name) else {
            return Ok(None);
        };
        Ok(Some(
            t.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    };
    let mut weights = Vec::new();
    for i in 0..model.weights.len() {
        weights.push(
            read(&format!("weight/{i}"))?
                .with_context(|| format!("{shown}: weight {i} is missing"))?,
        );
    }
    model
        .set_weight_values(weights)
        .with_context(|| format!("model file {shown}"))?;
    let Some(compile) = meta.get(COMPILE_KEY) else {
        return Ok(model);
    };
    let c: serde_json::Value =
        serde_json::from_str(compile).with_context(|| format!("{shown}: compile settings"))?;
    let optimizer: OptimizerSpec = serde_json::from_value(c["optimizer"].clone())
        .with_context(|| format!("{shown}: the optimizer"))?;
    let losses = c["losses"]
        .as_array()
        .with_context(|| format!("{shown}: the losses"))?
        .iter()
        .map(|l| crate::loss::Loss::parse(l.as_str().unwrap_or("")))
        .collect::<Result<Vec<_>>>()?;
    let mut config = CompileConfig::new(optimizer, losses[0]);
    config.losses = losses;
    config.loss_weights = serde_json::from_value(c["loss_weights"].clone()).unwrap_or_default();
    model.compile_on(config, backend)?;
    let bits = |k: &str| c[k].as_u64().map(|b| f32::from_bits(b as u32));
    let rt = model.runtime_mut()?;
    if let Some(lr) = bits("learning_rate_bits") {
        rt.learning_rate = lr;
    }
    rt.clock = OptimizerClock::resume(
        c["step"].as_u64().unwrap_or(0),
        bits("nadam_u_product_bits").unwrap_or(1.0),
    );
    for i in 0..model.weights.len() {
        for k in 0..2 {
            if let Some(slot) = read(&format!("optimizer/slot{k}/{i}"))? {
                model
                    .runtime_mut()?
                    .backend
                    .write_optimizer_slot(ParamId(i), k, &slot)?;
            }
        }
    }
    Ok(model)
}
