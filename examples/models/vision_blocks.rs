//! The graph models of Keras' functional-API guide on images (reference workload 3): an
//! inception module, residual blocks, and one convolutional base model applied as a layer to
//! two images. The guide gives no data for them; these train on generated images of its shapes.

use anyhow::Result;
use wgtrain::graph::Padding;
use wgtrain::nn::init::uniform_stream;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Add, Array, AveragePooling2D, Concatenate, Conv2D, Dense, GlobalAveragePooling2D,
    GlobalMaxPooling2D, Input, LayerExt, MaxPooling2D, Model, Tensor,
};

/// Images in the generated training set.
pub const SAMPLES: usize = 256;
/// Classes of the inception and residual heads.
pub const CLASSES: usize = 10;

fn relu_conv(filters: usize, k: usize, strides: usize, x: &Tensor) -> Result<Tensor> {
    Conv2D::new(filters, k)
        .strides(strides)
        .padding(Padding::Same)
        .activation(ActivationKind::Relu)
        .apply(x)
}

fn joined(xs: &[&Tensor]) -> Result<Tensor> {
    Ok(Concatenate::new().apply_many(xs)?.remove(0))
}

fn added(xs: &[&Tensor]) -> Result<Tensor> {
    Ok(Add::new().apply_many(xs)?.remove(0))
}

fn classes(x: &Tensor) -> Result<Tensor> {
    let x = GlobalAveragePooling2D::new().apply(x)?;
    Dense::new(CLASSES)
        .activation(ActivationKind::Softmax)
        .apply(&x)
}

/// Input(32, 32, 64) -> four branches, every layer padding 'same' (as the guide writes them,
/// with 'valid' steps, their outputs would not concatenate): Conv2D 1x1 stride 2; 1x1 then 3x3
/// stride 2; AveragePooling2D(3, stride 2) then 3x3; 1x1, 3x3, 3x3 stride 2 -> concatenate ->
/// GlobalAveragePooling2D -> Dense(10, softmax).
pub fn inception_block() -> Result<Model> {
    let image = Input::new([32, 32, 64]);
    let a = relu_conv(64, 1, 2, &image)?;
    let b = relu_conv(64, 1, 1, &image)?;
    let b = relu_conv(64, 3, 2, &b)?;
    let c = AveragePooling2D::new(3)
        .strides(2)
        .padding(Padding::Same)
        .apply(&image)?;
    let c = relu_conv(64, 3, 1, &c)?;
    let d = relu_conv(64, 1, 1, &image)?;
    let d = relu_conv(64, 3, 1, &d)?;
    let d = relu_conv(64, 3, 2, &d)?;
    let out = classes(&joined(&[&a, &b, &c, &d])?)?;
    Model::new(&[&image], &[&out])
}

/// Input(32, 32, 64) -> 2 x Conv2D(128, 3, relu, same) -> MaxPooling2D(2), plus
/// Conv2D(128, 1, strides 2) of the input (a projection where the shapes differ), added; then
/// 3 x Conv2D(128, 3, relu, same) added to their input (identity) -> GlobalAveragePooling2D ->
/// Dense(10, softmax).
pub fn residual_block() -> Result<Model> {
    let image = Input::new([32, 32, 64]);
    let x = relu_conv(128, 3, 1, &image)?;
    let x = relu_conv(128, 3, 1, &x)?;
    let x = MaxPooling2D::new(2).apply(&x)?;
    let projected = Conv2D::new(128, 1)
        .strides(2)
        .padding(Padding::Same)
        .apply(&image)?;
    let x = added(&[&x, &projected])?;
    let mut y = x.clone();
    for _ in 0..3 {
        y = relu_conv(128, 3, 1, &y)?;
    }
    let out = classes(&added(&[&y, &x])?)?;
    Model::new(&[&image], &[&out])
}

/// The shared base: Input(64, 64, 3) -> Conv2D(32, 3, relu) -> MaxPooling2D(2) ->
/// Conv2D(64, 3, relu) -> GlobalMaxPooling2D.
pub fn vision_base() -> Result<Model> {
    let image = Input::named([64, 64, 3], "image");
    let relu = ActivationKind::Relu;
    let x = Conv2D::new(32, 3).activation(relu).apply(&image)?;
    let x = MaxPooling2D::new(2).apply(&x)?;
    let x = Conv2D::new(64, 3).activation(relu).apply(&x)?;
    let x = GlobalMaxPooling2D::new().apply(&x)?;
    Model::new(&[&image], &[&x])
}

/// The base model applied as one layer to two images (weights shared) -> concatenate ->
/// Dense(1, sigmoid): whether the two show the same thing.
pub fn shared_vision() -> Result<Model> {
    let base = vision_base()?.as_layer()?;
    let a = Input::named([64, 64, 3], "image_a");
    let b = Input::named([64, 64, 3], "image_b");
    let fa = base.apply(&a)?;
    let fb = base.apply(&b)?;
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&joined(&[&fa, &fb])?)?;
    Model::new(&[&a, &b], &[&out])
}

fn uniform_array(shape: &[usize], stream: u32) -> Result<Array> {
    let n = shape.iter().product();
    Array::new(shape.to_vec(), uniform_stream(31, stream, n))
}

/// `n` images of 32 x 32 x 64 values in [0, 1) and one-hot classes (stream `stream`).
pub fn random_images(n: usize, stream: u32) -> Result<(Array, Array)> {
    let images = uniform_array(&[n, 32, 32, 64], stream * 4)?;
    let mut y = vec![0.0; n * CLASSES];
    for (r, v) in uniform_stream(31, stream * 4 + 1, n).iter().enumerate() {
        y[r * CLASSES + ((v * CLASSES as f32) as usize).min(CLASSES - 1)] = 1.0;
    }
    Ok((images, Array::new([n, CLASSES], y)?))
}

/// `n` pairs of 64 x 64 x 3 images and 0 / 1 labels (stream `stream`).
pub fn random_pairs(n: usize, stream: u32) -> Result<(Vec<Array>, Array)> {
    let a = uniform_array(&[n, 64, 64, 3], stream * 4 + 2)?;
    let b = uniform_array(&[n, 64, 64, 3], stream * 4 + 3)?;
    let labels = uniform_stream(31, stream * 4 + 4, n)
        .iter()
        .map(|v| f32::from(*v >= 0.5))
        .collect();
    Ok((vec![a, b], Array::new([n, 1], labels)?))
}
