//! Reference workload 5: the Antirectifier MLP on MNIST, written as a user would write it.
//! The Antirectifier is a custom layer composed from primitive ops; the engine knows nothing of it.

use anyhow::Result;
use std::path::Path;
use wgtrain::data::{load_mnist, one_hot};
use wgtrain::graph::NodeId;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{Activation, Array, CallCtx, Dense, Dropout, Layer, Model, Sequential};

/// `concat(relu(x'), relu(-x'))` with `x' = l2_normalize(x - mean(x))` per sample:
/// all-positive outputs that keep the information ReLU would drop. Doubles the width.
#[derive(Default)]
pub struct Antirectifier;

impl Antirectifier {
    pub fn new() -> Self {
        Self
    }
}

impl Layer for Antirectifier {
    fn class_name(&self) -> &str {
        "Antirectifier"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let g = &mut *ctx.graph;
        let x = inputs[0];
        let mean = g.mean(x, 1, true)?;
        let centered = g.sub(x, mean)?;
        let normalized = g.l2_normalize(centered, 1)?;
        let pos = g.relu(normalized)?;
        let negated = g.neg(normalized)?;
        let neg = g.relu(negated)?;
        Ok(vec![g.concat(&[pos, neg], 1)?])
    }
}

/// Dense(256) -> Antirectifier -> Dropout(0.1) -> Dense(256) -> Antirectifier -> Dropout(0.1)
/// -> Dense(10) -> softmax, on 784 inputs.
pub fn build_model() -> Result<Model> {
    let mut model = Sequential::new([784]);
    model.add(Dense::new(256))?;
    model.add(Antirectifier::new())?;
    model.add(Dropout::new(0.1))?;
    model.add(Dense::new(256))?;
    model.add(Antirectifier::new())?;
    model.add(Dropout::new(0.1))?;
    model.add(Dense::new(10))?;
    model.add(Activation::new(ActivationKind::Softmax))?;
    model.build()
}

/// MNIST as the model takes it: pixels scaled to [0, 1] in rows of 784, labels one-hot.
pub struct MnistArrays {
    pub x_train: Array,
    pub y_train: Array,
    pub x_test: Array,
    pub y_test: Array,
}

pub fn load_data(dir: &Path) -> Result<MnistArrays> {
    let m = load_mnist(dir)?;
    let (n_train, n_test) = (m.n_train(), m.n_test());
    Ok(MnistArrays {
        y_train: Array::new([n_train, 10], one_hot(&m.train_labels, 10))?,
        y_test: Array::new([n_test, 10], one_hot(&m.test_labels, 10))?,
        x_train: Array::new([n_train, 784], m.train_images)?,
        x_test: Array::new([n_test, 784], m.test_images)?,
    })
}
