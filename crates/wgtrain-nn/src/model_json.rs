//! Models as JSON, like Keras' `to_json` / `model_from_json`: the inputs, every layer's class
//! and configuration, the calls that connect them and the outputs. Built-in layers are rebuilt
//! from their configurations; a custom layer registers a constructor under its class name
//! (`register_layer`). A `Lambda` holds Rust code, so a model with one cannot be written.

use crate::layer::{Layer, LayerHandle};
use crate::layers::{
    Activation, ActivationKind, Add, Average, AveragePooling1D, AveragePooling2D,
    BatchNormalization, Bidirectional, Concatenate, Conv1D, Conv2D, Dense, Dropout, Embedding,
    Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
    GlobalMaxPooling2D, Masking, MaxPooling1D, MaxPooling2D, Maximum, Minimum, Multiply, Recurrent,
    Size2, Softmax, SpatialDropout1D, Subtract,
};
use crate::model::Model;
use crate::tensor::{Input, Source, Tensor};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use wgtrain_graph::{DType, Padding};

/// Makes a layer from its configuration (as `Layer::config` wrote it).
pub type LayerConstructor = fn(&Value) -> Result<Box<dyn Layer>>;

thread_local! {
    static REGISTERED: RefCell<HashMap<String, LayerConstructor>> = RefCell::new(HashMap::new());
}

/// Lets `Model::from_json` rebuild layers of class `class_name` (a custom layer's).
pub fn register_layer(class_name: &str, make: LayerConstructor) {
    REGISTERED.with(|r| r.borrow_mut().insert(class_name.to_string(), make));
}

fn usize_of(config: &Value, key: &str) -> Result<usize> {
    let v = match &config[key] {
        Value::Array(a) if a.len() == 1 => &a[0],
        v => v,
    };
    v.as_u64()
        .map(|v| v as usize)
        .with_context(|| format!("'{key}' must be a whole number, got {}", config[key]))
}

/// A (height, width) pair written as `[h, w]` or as one number.
fn size2_of(config: &Value, key: &str) -> Result<Size2> {
    match &config[key] {
        Value::Array(a) if a.len() == 2 => {
            let v = |i: usize| {
                a[i].as_u64().map(|v| v as usize).with_context(|| {
                    format!("'{key}' must be two whole numbers, got {}", config[key])
                })
            };
            Ok(Size2(v(0)?, v(1)?))
        }
        _ => Ok(usize_of(config, key)?.into()),
    }
}

fn f32_of(config: &Value, key: &str) -> Result<f32> {
    config[key]
        .as_f64()
        .map(|v| v as f32)
        .with_context(|| format!("'{key}' must be a number, got {}", config[key]))
}

fn activation_of(config: &Value) -> Result<ActivationKind> {
    ActivationKind::parse(config["activation"].as_str().unwrap_or("linear"))
}

fn padding_of(config: &Value) -> Result<Padding> {
    let name = config["padding"].as_str().unwrap_or("valid");
    Padding::from_name(name).with_context(|| format!("padding must be valid or same, got {name}"))
}

/// A built-in layer from its class name and configuration.
fn built_in(class: &str, c: &Value) -> Result<Option<Box<dyn Layer>>> {
    let bias = c["use_bias"].as_bool().unwrap_or(true);
    Ok(Some(match class {
        "Dense" => Box::new(
            Dense::new(usize_of(c, "units")?)
                .activation(activation_of(c)?)
                .use_bias(bias),
        ),
        "Conv1D" => Box::new(
            Conv1D::new(usize_of(c, "filters")?, usize_of(c, "kernel_size")?)
                .strides(usize_of(c, "strides")?)
                .padding(padding_of(c)?)
                .dilation_rate(usize_of(c, "dilation_rate")?)
                .activation(activation_of(c)?)
                .use_bias(bias),
        ),
        "Conv2D" => Box::new(
            Conv2D::new(usize_of(c, "filters")?, size2_of(c, "kernel_size")?)
                .strides(size2_of(c, "strides")?)
                .padding(padding_of(c)?)
                .dilation_rate(size2_of(c, "dilation_rate")?)
                .activation(activation_of(c)?)
                .use_bias(bias),
        ),
        "MaxPooling2D" | "AveragePooling2D" => {
            let size = size2_of(c, "pool_size")?;
            let pool = if class == "MaxPooling2D" {
                MaxPooling2D::new(size)
            } else {
                AveragePooling2D::new(size)
            };
            Box::new(
                pool.strides(size2_of(c, "strides")?)
                    .padding(padding_of(c)?),
            )
        }
        "GlobalMaxPooling2D" => Box::new(GlobalMaxPooling2D::new()),
        "GlobalAveragePooling2D" => Box::new(GlobalAveragePooling2D::new()),
        "Embedding" => Box::new(
            Embedding::new(usize_of(c, "input_dim")?, usize_of(c, "output_dim")?)
                .mask_zero(c["mask_zero"].as_bool().unwrap_or(false)),
        ),
        "Dropout" => Box::new(Dropout::new(f32_of(c, "rate")?)),
        "SpatialDropout1D" => Box::new(SpatialDropout1D::new(f32_of(c, "rate")?)),
        "BatchNormalization" => Box::new(
            BatchNormalization::new()
                .momentum(f32_of(c, "momentum")?)
                .epsilon(f32_of(c, "epsilon")?),
        ),
        "Activation" => Box::new(Activation::new(activation_of(c)?)),
        "Softmax" => Box::new(Softmax::new()),
        "Flatten" => Box::new(Flatten::new()),
        "Add" => Box::new(Add::new()),
        "Subtract" => Box::new(Subtract::new()),
        "Multiply" => Box::new(Multiply::new()),
        "Average" => Box::new(Average::new()),
        "Maximum" => Box::new(Maximum::new()),
        "Minimum" => Box::new(Minimum::new()),
        "Concatenate" => {
            Box::new(Concatenate::new().axis(c["axis"].as_i64().unwrap_or(-1) as isize))
        }
        "SimpleRNN" | "LSTM" | "GRU" => Box::new(Recurrent::from_config(class, c)?),
        "Bidirectional" => Box::new(Bidirectional::from_config(c)?),
        "Masking" => Box::new(Masking::new(f32_of(c, "mask_value")?)),
        "GlobalMaxPooling1D" => Box::new(GlobalMaxPooling1D::new()),
        "GlobalAveragePooling1D" => Box::new(GlobalAveragePooling1D::new()),
        "MaxPooling1D" | "AveragePooling1D" => {
            let size = usize_of(c, "pool_size")?;
            let pool = if class == "MaxPooling1D" {
                MaxPooling1D::new(size)
            } else {
                AveragePooling1D::new(size)
            };
            Box::new(
                pool.strides(usize_of(c, "strides")?)
                    .padding(padding_of(c)?),
            )
        }
        "Functional" | "Sequential" => {
            let mut model =
                Model::from_json(&c["model"].to_string()).context("the model used as a layer")?;
            return Ok(Some(Box::new(model.nested()?)));
        }
        _ => return Ok(None),
    }))
}

fn layer_from(class: &str, config: &Value) -> Result<Box<dyn Layer>> {
    if let Some(layer) = built_in(class, config)? {
        return Ok(layer);
    }
    match REGISTERED.with(|r| r.borrow().get(class).copied()) {
        Some(make) => make(config),
        None => bail!(
            "the model file uses layer class '{class}', which is neither built in nor \
             registered; call wgtrain::nn::register_layer(\"{class}\", constructor) first"
        ),
    }
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::I32 => "int32",
    }
}

impl Model {
    /// The architecture as JSON (no weights), like Keras' `model.to_json()`.
    pub fn to_json(&self) -> Result<String> {
        let position = |t: &Tensor| -> Value {
            match &t.source {
                Source::Input { name } => json!({ "input": name }),
                Source::Call { call, index } => {
                    let at = self.calls.iter().position(|c| c.id == call.id);
                    json!({ "call": at, "output": index })
                }
            }
        };
        let mut layers = Vec::new();
        for l in &self.layers {
            let class = l.class_name();
            if class == "Lambda" {
                bail!(
                    "layer '{}' is a Lambda, which holds Rust code and cannot be written to a \
                     model file; write it as a custom layer with a class name and register it",
                    l.name()
                );
            }
            let config = l.config();
            if matches!(class.as_str(), "Functional" | "Sequential") && config["model"].is_null() {
                bail!(
                    "layer '{}' is a model that cannot be written to a model file (it holds a \
                     Lambda)",
                    l.name()
                );
            }
            layers.push(json!({"class_name": class, "name": l.name(), "config": config}));
        }
        let calls: Vec<Value> = self
            .calls
            .iter()
            .map(|c| {
                let inputs: Vec<Value> = c.inputs.iter().map(position).collect();
                json!({ "layer": c.layer.name(), "inputs": inputs })
            })
            .collect();
        let inputs: Vec<Value> = self
            .inputs
            .iter()
            .map(|t| {
                json!({
                    "name": t.input_name(),
                    "shape": t.input_shape().0,
                    "dtype": dtype_name(t.dtype),
                })
            })
            .collect();
        let outputs: Vec<Value> = self.outputs.iter().map(position).collect();
        let model = json!({
            "class_name": "Functional",
            "format": "wgtrain.model.v1",
            "config": {
                "name": self.name,
                "inputs": inputs,
                "layers": layers,
                "calls": calls,
                "outputs": outputs,
            },
        });
        Ok(serde_json::to_string_pretty(&model)?)
    }

    /// `from_json` of a file, errors naming it.
    pub fn from_json_file(path: &std::path::Path) -> Result<Model> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the model file {}", path.display()))?;
        Model::from_json(&text).with_context(|| format!("model file {}", path.display()))
    }

    /// A model from `to_json`'s text, like Keras' `model_from_json`: fresh weights, same
    /// architecture and layer names.
    pub fn from_json(text: &str) -> Result<Model> {
        let model: Value = serde_json::from_str(text).context("a model file must be JSON")?;
        let c = &model["config"];
        let bad = |what: &str| format!("the model file's {what} is missing or malformed");
        let mut inputs: HashMap<String, Tensor> = HashMap::new();
        let mut input_order = Vec::new();
        for i in c["inputs"].as_array().with_context(|| bad("inputs"))? {
            let name = i["name"].as_str().with_context(|| bad("input name"))?;
            let shape: Vec<Option<usize>> =
                serde_json::from_value(i["shape"].clone()).with_context(|| bad("input shape"))?;
            let dtype = match i["dtype"].as_str() {
                Some("int32") => DType::I32,
                Some("float32") | None => DType::F32,
                Some(other) => bail!("input '{name}' has dtype {other}; int32 or float32"),
            };
            inputs.insert(name.to_string(), Input::named_typed(shape, dtype, name));
            input_order.push(name.to_string());
        }
        let mut handles: HashMap<String, LayerHandle> = HashMap::new();
        for l in c["layers"].as_array().with_context(|| bad("layers"))? {
            let class = l["class_name"]
                .as_str()
                .with_context(|| bad("layer class"))?;
            let name = l["name"].as_str().with_context(|| bad("layer name"))?;
            let layer = layer_from(class, &l["config"])
                .with_context(|| format!("layer '{name}' ({class})"))?;
            handles.insert(name.to_string(), LayerHandle::boxed(layer, name));
        }
        let mut produced: Vec<Vec<Tensor>> = Vec::new();
        let resolve = |r: &Value, produced: &[Vec<Tensor>]| -> Result<Tensor> {
            if let Some(name) = r["input"].as_str() {
                return inputs.get(name).cloned().with_context(|| {
                    format!("the model file calls for an unknown input '{name}'")
                });
            }
            let call = r["call"]
                .as_u64()
                .with_context(|| bad("tensor reference"))? as usize;
            let output = r["output"].as_u64().unwrap_or(0) as usize;
            produced
                .get(call)
                .and_then(|outs| outs.get(output))
                .cloned()
                .with_context(|| format!("the model file reads call {call} before it is made"))
        };
        for call in c["calls"].as_array().with_context(|| bad("calls"))? {
            let name = call["layer"]
                .as_str()
                .with_context(|| bad("call's layer"))?;
            let handle = handles
                .get(name)
                .with_context(|| format!("a call names layer '{name}', which is not listed"))?;
            let args: Vec<Tensor> = call["inputs"]
                .as_array()
                .with_context(|| bad("call inputs"))?
                .iter()
                .map(|r| resolve(r, &produced))
                .collect::<Result<_>>()?;
            let refs: Vec<&Tensor> = args.iter().collect();
            produced.push(handle.apply_many(&refs)?);
        }
        let outputs: Vec<Tensor> = c["outputs"]
            .as_array()
            .with_context(|| bad("outputs"))?
            .iter()
            .map(|r| resolve(r, &produced))
            .collect::<Result<_>>()?;
        let ins: Vec<&Tensor> = input_order.iter().map(|n| &inputs[n]).collect();
        let outs: Vec<&Tensor> = outputs.iter().collect();
        let mut m = Model::new(&ins, &outs)?;
        if let Some(name) = c["name"].as_str() {
            m.name = name.to_string();
        }
        Ok(m)
    }
}
