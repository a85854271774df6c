//! The multi-output model of Keras' functional-API guide (reference workload 3): a social-media
//! post's words, read by a stack of 1-D convolutions, predict the author's age (regression),
//! income bracket (one of 10) and gender (binary). The guide trains it on random data; so does
//! this.

use anyhow::Result;
use wgtrain::graph::DType;
use wgtrain::nn::init::uniform_stream;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, CompileConfig, Conv1D, Dense, Embedding, GlobalMaxPooling1D, Input, LayerExt, Loss,
    MaxPooling1D, Model, Optimizer,
};

pub const VOCABULARY: usize = 50000;
pub const MAXLEN: usize = 500;
pub const INCOME_GROUPS: usize = 10;
/// Posts in the generated training set.
pub const SAMPLES: usize = 1024;

/// posts (ids, any length; the guide's are 500 long) -> Embedding(vocabulary, 256) -> Conv1D(128, 5, relu) -> MaxPooling1D(5) ->
/// 2 x Conv1D(256, 5, relu) -> MaxPooling1D(5) -> 2 x Conv1D(256, 5, relu) ->
/// GlobalMaxPooling1D -> Dense(128, relu) -> heads age Dense(1), income Dense(10, softmax),
/// gender Dense(1, sigmoid).
pub fn build(vocabulary: usize) -> Result<Model> {
    let posts = Input::named_typed([None], DType::I32, "posts");
    let mut x = Embedding::new(vocabulary, 256).apply(&posts)?;
    let relu = ActivationKind::Relu;
    x = Conv1D::new(128, 5).activation(relu).apply(&x)?;
    x = MaxPooling1D::new(5).apply(&x)?;
    x = Conv1D::new(256, 5).activation(relu).apply(&x)?;
    x = Conv1D::new(256, 5).activation(relu).apply(&x)?;
    x = MaxPooling1D::new(5).apply(&x)?;
    x = Conv1D::new(256, 5).activation(relu).apply(&x)?;
    x = Conv1D::new(256, 5).activation(relu).apply(&x)?;
    x = GlobalMaxPooling1D::new().apply(&x)?;
    x = Dense::new(128).activation(relu).apply(&x)?;
    let age = Dense::new(1).named("age").apply(&x)?;
    let income = Dense::new(INCOME_GROUPS)
        .activation(ActivationKind::Softmax)
        .named("income")
        .apply(&x)?;
    let gender = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .named("gender")
        .apply(&x)?;
    Model::new(&[&posts], &[&age, &income, &gender])
}

pub fn build_model() -> Result<Model> {
    build(VOCABULARY)
}

/// The guide's compile settings: RMSprop, mse / categorical cross-entropy / binary
/// cross-entropy, loss weights 0.25, 1 and 10 by output name.
pub fn compile_config() -> CompileConfig {
    CompileConfig::new(Optimizer::rmsprop(), Loss::MeanSquaredError)
        .losses_by_name(&[
            ("age", Loss::MeanSquaredError),
            ("income", Loss::CategoricalCrossentropy),
            ("gender", Loss::BinaryCrossentropy),
        ])
        .loss_weights_by_name(&[("age", 0.25), ("income", 1.0), ("gender", 10.0)])
}

/// `n` random posts of `maxlen` ids below `vocabulary` and random targets: ages in [18, 80),
/// one-hot income groups, genders 0 or 1 (stream `stream` of a fixed seed).
pub fn random_data(
    n: usize,
    vocabulary: usize,
    maxlen: usize,
    stream: u32,
) -> Result<(Array, [Array; 3])> {
    let u = |k: u32, len: usize| uniform_stream(77, stream * 4 + k, len);
    let ids = u(0, n * maxlen)
        .iter()
        .map(|v| (v * vocabulary as f32) as i32)
        .collect();
    let ages = u(1, n).iter().map(|v| 18.0 + 62.0 * v).collect();
    let mut income = vec![0.0; n * INCOME_GROUPS];
    for (r, v) in u(2, n).iter().enumerate() {
        income[r * INCOME_GROUPS + ((v * INCOME_GROUPS as f32) as usize).min(INCOME_GROUPS - 1)] =
            1.0;
    }
    let genders = u(3, n).iter().map(|v| f32::from(*v >= 0.5)).collect();
    Ok((
        Array::from_i32([n, maxlen], ids)?,
        [
            Array::new([n, 1], ages)?,
            Array::new([n, INCOME_GROUPS], income)?,
            Array::new([n, 1], genders)?,
        ],
    ))
}
