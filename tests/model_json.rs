//! Models as JSON (`Model::to_json` / `Model::from_json`): every built-in layer's configuration
//! and the functional graph round-trip, the rebuilt model computes what the original does with
//! the same weights, custom layers load once registered, and a Lambda is refused by name.

use anyhow::Result;
use serde_json::{json, Value};
use wgtrain::cpu::CpuBackend;
use wgtrain::graph::{DType, NodeId, Padding};
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    register_layer, Activation, Add, Array, AveragePooling1D, AveragePooling2D, BatchNormalization,
    CallCtx, CompileConfig, Concatenate, Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten,
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, Input,
    Lambda, Layer, LayerExt, Loss, MaxPooling1D, MaxPooling2D, Model, Optimizer, Sequential,
    SpatialDropout1D,
};

/// Every built-in layer class in one functional model with two branches.
fn every_layer() -> Model {
    wgtrain::nn::set_random_seed(4);
    let ids = Input::named_typed([12], DType::I32, "tokens");
    let x = Embedding::new(50, 8).mask_zero(true).apply(&ids).unwrap();
    let x = BatchNormalization::new().momentum(0.9).apply(&x).unwrap();
    let x = SpatialDropout1D::new(0.1).apply(&x).unwrap();
    let a = Conv1D::new(6, 3)
        .padding(Padding::Same)
        .dilation_rate(2)
        .activation(ActivationKind::Relu)
        .apply(&x)
        .unwrap();
    let b = Conv1D::new(6, 1).use_bias(false).apply(&x).unwrap();
    let sum = Add::new().apply_many(&[&a, &b]).unwrap().remove(0);
    let pooled = MaxPooling1D::new(2).apply(&sum).unwrap();
    let smooth = AveragePooling1D::new(2).strides(1).apply(&pooled).unwrap();
    let flat = Flatten::new().apply(&smooth).unwrap();
    let max = GlobalMaxPooling1D::new().apply(&sum).unwrap();
    let mean = GlobalAveragePooling1D::new().apply(&sum).unwrap();
    let image = Input::named([6, 5, 2], "image");
    let c = Conv2D::new(4, (3, 2))
        .strides((2, 1))
        .padding(Padding::Same)
        .activation(ActivationKind::Relu)
        .apply(&image)
        .unwrap();
    let c = Conv2D::new(3, 2).dilation_rate(2).apply(&c).unwrap();
    let c_max = GlobalMaxPooling2D::new().apply(&c).unwrap();
    let p = MaxPooling2D::new(2)
        .padding(Padding::Same)
        .apply(&image)
        .unwrap();
    let p = AveragePooling2D::new((2, 1)).strides(1).apply(&p).unwrap();
    let p_mean = GlobalAveragePooling2D::new().apply(&p).unwrap();
    let p_flat = Flatten::new().apply(&p).unwrap();
    let joined = Concatenate::new()
        .apply_many(&[&max, &mean, &flat, &c_max, &p_mean, &p_flat])
        .unwrap()
        .remove(0);
    let h = Dense::new(5).apply(&joined).unwrap();
    let h = Activation::new(ActivationKind::Tanh).apply(&h).unwrap();
    let h = Dropout::new(0.2).apply(&h).unwrap();
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&h)
        .unwrap();
    Model::new(&[&ids, &image], &[&out]).unwrap()
}

fn compiled(mut m: Model) -> Model {
    m.compile_on(
        CompileConfig::new(Optimizer::adam(), Loss::BinaryCrossentropy),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    m
}

#[test]
fn every_built_in_layer_round_trips_and_computes_the_same() {
    let original = every_layer();
    let text = original.to_json().unwrap();
    let rebuilt = Model::from_json(&text).unwrap();
    assert_eq!(
        rebuilt.to_json().unwrap(),
        text,
        "a second round trip changes nothing"
    );
    assert_eq!(rebuilt.count_params(), original.count_params());
    let names = |m: &Model| m.layers().iter().map(|l| l.name()).collect::<Vec<_>>();
    assert_eq!(names(&rebuilt), names(&original));
    let (mut original, mut rebuilt) = (compiled(original), compiled(rebuilt));
    rebuilt
        .set_weight_values(original.weight_values().unwrap())
        .unwrap();
    let ids: Vec<i32> = (0..4 * 12).map(|i| i * 7 % 50).collect();
    let x = Array::from_i32([4, 12], ids).unwrap();
    let pixels = (0..4 * 60)
        .map(|i| (i * 13 % 17) as f32 / 8.0 - 1.0)
        .collect();
    let image = Array::new([4, 6, 5, 2], pixels).unwrap();
    let want = original.predict(&[&x, &image], 4).unwrap();
    assert_eq!(rebuilt.predict(&[&x, &image], 4).unwrap(), want);
}

#[test]
fn a_sequential_model_round_trips() {
    wgtrain::nn::set_random_seed(1);
    let mut s = Sequential::new([10]);
    s.add(Dense::new(4).activation(ActivationKind::Relu))
        .unwrap();
    s.add(Dense::new(3).activation(ActivationKind::Softmax))
        .unwrap();
    let m = s.build().unwrap();
    let text = m.to_json().unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["config"]["layers"][0]["config"]["units"], json!(4));
    let rebuilt = Model::from_json(&text).unwrap();
    assert_eq!(rebuilt.count_params(), 10 * 4 + 4 + 4 * 3 + 3);
}

/// `y = x * scale`, a custom layer with a configuration.
struct Scale(f32);

impl Layer for Scale {
    fn class_name(&self) -> &str {
        "Scale"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        Ok(vec![ctx.graph.mul_scalar(inputs[0], self.0)?])
    }
    fn config(&self) -> Value {
        json!({ "scale": self.0 })
    }
}

#[test]
fn custom_layers_load_once_registered_and_lambdas_are_refused() {
    let x = Input::new([3]);
    let y = Scale(2.5).apply(&x).unwrap();
    let y = Dense::new(2).apply(&y).unwrap();
    let text = Model::new(&[&x], &[&y]).unwrap().to_json().unwrap();
    let Err(err) = Model::from_json(&text) else {
        panic!("an unregistered custom layer must not load");
    };
    let err = format!("{err:#}");
    assert!(
        err.contains("'Scale'") && err.contains("register_layer"),
        "{err}"
    );
    register_layer("Scale", |c| {
        Ok(Box::new(Scale(c["scale"].as_f64().unwrap_or(1.0) as f32)))
    });
    let rebuilt = Model::from_json(&text).unwrap();
    assert_eq!(rebuilt.to_json().unwrap(), text);

    let x = Input::new([3]);
    let y = Lambda::new(|g, x| Ok(g.relu(x)?)).apply(&x).unwrap();
    let err = Model::new(&[&x], &[&y])
        .unwrap()
        .to_json()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Lambda") && err.contains("custom layer"),
        "{err}"
    );
}

/// `save` then `load_model`: architecture, weights, compile settings and optimizer state come
/// back, so training continues exactly as it would have (the same bits after more steps).
#[test]
fn a_saved_model_loads_and_trains_on_as_if_never_saved() {
    use wgtrain::nn::fit::Verbosity;
    use wgtrain::nn::{load_model, FitConfig};
    wgtrain::nn::set_random_seed(9);
    let mut s = Sequential::new([6]);
    s.add(Dense::new(8).activation(ActivationKind::Relu))
        .unwrap();
    s.add(Dense::new(1).activation(ActivationKind::Sigmoid))
        .unwrap();
    let mut m = s.build().unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::nadam(), Loss::BinaryCrossentropy),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    let x = Array::new(
        [64, 6],
        (0..384)
            .map(|i| ((i * 5 % 17) as f32) / 17.0 - 0.4)
            .collect(),
    )
    .unwrap();
    let y = Array::new([64, 1], (0..64).map(|i| (i % 2) as f32).collect()).unwrap();
    let cfg = FitConfig {
        epochs: 2,
        batch_size: 16,
        verbose: Verbosity::Silent,
        shuffle: false,
        ..Default::default()
    };
    m.fit(&[&x], &[&y], &cfg).unwrap();
    let path =
        std::env::temp_dir().join(format!("wgtrain-model-{}.safetensors", std::process::id()));
    m.save(&path).unwrap();
    let mut loaded = load_model(&path, Box::new(CpuBackend::new())).unwrap();
    assert_eq!(loaded.weight_values().unwrap(), m.weight_values().unwrap());
    m.fit(&[&x], &[&y], &cfg).unwrap();
    loaded.fit(&[&x], &[&y], &cfg).unwrap();
    assert!(
        loaded.weight_values().unwrap() == m.weight_values().unwrap(),
        "training after loading diverges from training on"
    );
    std::fs::remove_file(&path).unwrap();
}
