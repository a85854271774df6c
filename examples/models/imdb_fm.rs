//! Reference workload 4: IMDB sentiment with a CNN and a Factorization Machine layer, written
//! as a user would write it. The FM layer is a custom layer; the engine knows nothing of it.

use anyhow::Result;
use serde_json::json;
use std::path::Path;
use wgtrain::data::{load_imdb, pad_sequences, ImdbOptions, Padding as Pad, Truncating};
use wgtrain::graph::{DType, NodeId, Shape};
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, BuildCtx, CallCtx, Conv1D, Dense, Dropout, Embedding, GlobalMaxPooling1D, Initializer,
    Input, Layer, Model, Sequential, Weight,
};

/// Words kept (the most frequent), review length, embedding width: the tutorial's values.
pub const NUM_WORDS: usize = 20000;
pub const MAXLEN: usize = 100;
pub const EMBEDDING_DIM: usize = 50;

/// A Factorization Machine: `x @ w + b` plus the pairwise-interaction term
/// `0.5 * sum((x @ v)^2 - x^2 @ v^2)` shared by every output, with `v` of `factor_order`
/// latent factors per feature.
pub struct FactorizationMachine {
    output_dim: usize,
    factor_order: usize,
    weights: Option<[Weight; 3]>,
}

impl FactorizationMachine {
    pub fn new(output_dim: usize, factor_order: usize) -> Self {
        Self {
            output_dim,
            factor_order,
            weights: None,
        }
    }
}

impl Layer for FactorizationMachine {
    fn class_name(&self) -> &str {
        "FM"
    }
    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        let d = input_shapes[0].last();
        let w = ctx.add_weight("w", [d, self.output_dim], Initializer::GlorotUniform);
        let v = ctx.add_weight("v", [d, self.factor_order], Initializer::GlorotUniform);
        let b = ctx.add_weight("b", [self.output_dim], Initializer::Zeros);
        self.weights = Some([w, v, b]);
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let Some([w, v, b]) = &self.weights else {
            anyhow::bail!("FM is called before it is built");
        };
        let (w, v, b) = (ctx.weight(w), ctx.weight(v), ctx.weight(b));
        let g = &mut *ctx.graph;
        let x = inputs[0];
        let linear = g.matmul(x, w)?;
        let xv = g.matmul(x, v)?;
        let xv_sq = g.square(xv)?;
        let x_sq = g.square(x)?;
        let v_sq = g.square(v)?;
        let x_sq_v_sq = g.matmul(x_sq, v_sq)?;
        let diff = g.sub(xv_sq, x_sq_v_sq)?;
        let total = g.sum(diff, 1, true)?;
        let pairwise = g.mul_scalar(total, 0.5)?;
        let out = g.add(linear, pairwise)?;
        Ok(vec![g.add(out, b)?])
    }
    fn config(&self) -> serde_json::Value {
        json!({"output_dim": self.output_dim, "factor_order": self.factor_order})
    }
}

/// Which head sits between the pooled convolution features and the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// FM(200, 100): the tutorial's model.
    FactorizationMachine,
    /// Dense(250, relu): the tutorial's baseline.
    Dense,
}

/// Input(100, int32) -> Embedding(num_words, 50) -> Dropout -> Conv1D(250, 3, relu) ->
/// GlobalMaxPooling1D -> head -> Dropout -> Dense(1, sigmoid).
pub fn build(head: Head, num_words: usize, dropout: f32) -> Result<Model> {
    let mut model = Sequential::from_input(Input::typed([MAXLEN], DType::I32));
    model.add(Embedding::new(num_words, EMBEDDING_DIM))?;
    model.add(Dropout::new(dropout))?;
    model.add(Conv1D::new(250, 3).activation(ActivationKind::Relu))?;
    model.add(GlobalMaxPooling1D::new())?;
    match head {
        Head::FactorizationMachine => model.add(FactorizationMachine::new(200, 100))?,
        Head::Dense => model.add(Dense::new(250).activation(ActivationKind::Relu))?,
    };
    model.add(Dropout::new(dropout))?;
    model.add(Dense::new(1).activation(ActivationKind::Sigmoid))?;
    model.build()
}

pub fn build_fm_model() -> Result<Model> {
    build(Head::FactorizationMachine, NUM_WORDS, 0.2)
}

pub fn build_cnn_model() -> Result<Model> {
    build(Head::Dense, NUM_WORDS, 0.2)
}

/// IMDB as the model takes it: the top `num_words` words, pre-padded and pre-truncated to 100
/// ids (Keras' defaults), labels as (n, 1) floats.
pub struct ImdbArrays {
    pub x_train: Array,
    pub y_train: Array,
    pub x_test: Array,
    pub y_test: Array,
}

pub fn load_data(dir: &Path, num_words: usize) -> Result<ImdbArrays> {
    let imdb = load_imdb(
        dir,
        &ImdbOptions {
            num_words: Some(num_words),
            ..Default::default()
        },
    )?;
    let pad = |seqs: &[Vec<i32>]| -> Result<Array> {
        let (ids, rows, cols) = pad_sequences(seqs, Some(MAXLEN), Pad::Pre, Truncating::Pre, 0);
        Array::from_i32([rows, cols], ids)
    };
    Ok(ImdbArrays {
        x_train: pad(&imdb.x_train)?,
        y_train: Array::new([imdb.n_train(), 1], imdb.y_train_f32())?,
        x_test: pad(&imdb.x_test)?,
        y_test: Array::new([imdb.n_test(), 1], imdb.y_test_f32())?,
    })
}
