//! Reference workload 1: IMDB sentiment with a dilated gated CNN (DGCNN), written as a user
//! would write it. The gated residual block is a custom layer; the explicit padding mask is a
//! Lambda.

use anyhow::{bail, Result};
use serde_json::json;
use std::path::Path;
use wgtrain::data::{load_imdb, pad_sequences, ImdbOptions, Padding as Pad, Truncating};
use wgtrain::graph::{Conv1dGeometry, DType, NodeId, Padding, Shape};
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, BatchNormalization, BuildCtx, CallCtx, Callback, Concatenate, Dense, Dropout,
    EarlyStopping, Embedding, GlobalAveragePooling1D, GlobalMaxPooling1D, Initializer, Input,
    Lambda, Layer, LayerExt, Model, ReduceLROnPlateau, SpatialDropout1D, Weight,
};

/// Words kept (the most frequent), the embedding table's rows, review length, channels.
pub const NUM_WORDS: usize = 20000;
pub const VOCAB: usize = 20001;
pub const MAXLEN: usize = 300;
pub const DIM: usize = 100;
pub const DILATIONS: [usize; 5] = [1, 2, 4, 1, 1];

/// `h = Conv1D(2d, 3, same, dilation)(s)`; `g, h = h[..., :d], h[..., d:]`;
/// `g = sigmoid(dropout(g, 0.1))`; `out = (g * s + (1 - g) * h) * mask`.
pub struct GatedBlock {
    dim: usize,
    dilation: usize,
    gate_dropout: f32,
    weights: Option<[Weight; 2]>,
}

impl GatedBlock {
    pub fn new(dim: usize, dilation: usize) -> Self {
        Self {
            dim,
            dilation,
            gate_dropout: 0.1,
            weights: None,
        }
    }
}

impl Layer for GatedBlock {
    fn class_name(&self) -> &str {
        "GatedBlock"
    }
    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        if input_shapes[0].last() != self.dim {
            bail!(
                "GatedBlock({}) needs {} channels, got input shape {}",
                self.dim,
                self.dim,
                input_shapes[0]
            );
        }
        let kernel = ctx.add_weight(
            "kernel",
            [3, self.dim, 2 * self.dim],
            Initializer::GlorotUniform,
        );
        let bias = ctx.add_weight("bias", [2 * self.dim], Initializer::Zeros);
        self.weights = Some([kernel, bias]);
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let Some([kernel, bias]) = &self.weights else {
            bail!("GatedBlock is called before it is built");
        };
        let [s, mask] = inputs else {
            bail!("GatedBlock takes [x, mask], got {} inputs", inputs.len());
        };
        let (kernel, bias) = (ctx.weight(kernel), ctx.weight(bias));
        let key = ctx.random_key();
        let training = ctx.training;
        let g = &mut *ctx.graph;
        let steps = g.shape(*s).0[1];
        let geo = Conv1dGeometry::new(steps, 3, 1, self.dilation, Padding::Same)
            .map_err(anyhow::Error::msg)?;
        let h = g.conv1d(*s, kernel, geo)?;
        let h = g.add(h, bias)?;
        let d = self.dim;
        let gate = g.slice(h, -1, 0, d)?;
        let h = g.slice(h, -1, d, 2 * d)?;
        let gate = if training && self.gate_dropout > 0.0 {
            g.dropout(gate, self.gate_dropout, key)?
        } else {
            gate
        };
        let gate = g.sigmoid(gate)?;
        let one = g.scalar(1.0);
        let keep = g.sub(one, gate)?;
        let a = g.mul(gate, *s)?;
        let b = g.mul(keep, h)?;
        let out = g.add(a, b)?;
        Ok(vec![g.mul(out, *mask)?])
    }
    fn config(&self) -> serde_json::Value {
        json!({"dim": self.dim, "dilation": self.dilation})
    }
}

/// Workload 1's network over `vocab` ids and `steps` steps; `dropout` false sets every dropout
/// rate to 0 (for step-by-step comparisons).
pub fn build_with(vocab: usize, steps: usize, dropout: bool) -> Result<Model> {
    build_blocks(vocab, steps, dropout, &DILATIONS)
}

/// `build_with` with one gated block per entry of `dilations`.
pub fn build_blocks(
    vocab: usize,
    steps: usize,
    dropout: bool,
    dilations: &[usize],
) -> Result<Model> {
    let rate = |r: f32| if dropout { r } else { 0.0 };
    let ids = Input::typed([steps], DType::I32);
    // mask = (x > 0) as float, shape (batch, steps, 1).
    let mask = Lambda::new(|g, x| {
        let f = g.cast(x, DType::F32)?;
        let m = g.step(f)?;
        let s = g.shape(m).clone();
        Ok(g.reshape(m, [s.0[0], s.0[1], 1])?)
    })
    .apply(&ids)?;
    let mut x = Embedding::new(vocab, DIM).apply(&ids)?;
    x = BatchNormalization::new().apply(&x)?;
    x = SpatialDropout1D::new(rate(0.2)).apply(&x)?;
    for &dilation in dilations {
        let mut block = GatedBlock::new(DIM, dilation);
        block.gate_dropout = rate(0.1);
        x = block.apply_many(&[&x, &mask])?.remove(0);
    }
    let avg = GlobalAveragePooling1D::new().apply(&x)?;
    let max = GlobalMaxPooling1D::new().apply(&x)?;
    let x = Concatenate::new().apply_many(&[&avg, &max])?.remove(0);
    let x = Dense::new(100).activation(ActivationKind::Relu).apply(&x)?;
    let x = Dropout::new(rate(0.5)).apply(&x)?;
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&x)?;
    Model::new(&[&ids], &[&out])
}

pub fn build_model() -> Result<Model> {
    build_with(VOCAB, MAXLEN, true)
}

/// The seed's learning-rate and stopping callbacks: ReduceLROnPlateau(factor sqrt(0.1),
/// patience 2, cooldown 0, min_lr 0.5e-6) and EarlyStopping(min_delta 0.001, patience 5). Its
/// third, ModelCheckpoint of the best val_loss (weights only), needs a path:
/// `ModelCheckpoint::new(path)?.save_best_only(true)`.
pub fn seed_callbacks() -> Result<Vec<Box<dyn Callback>>> {
    Ok(vec![
        Box::new(
            ReduceLROnPlateau::new()
                .factor(0.1f64.sqrt())?
                .patience(2)
                .cooldown(0)
                .min_lr(0.5e-6)
                .verbose(true),
        ),
        Box::new(
            EarlyStopping::new()
                .monitor("val_loss", Default::default(), 0.001)
                .patience(5)
                .verbose(true),
        ),
    ])
}

/// IMDB as the seed feeds it: the top 20000 words, post-padded and post-truncated to
/// `steps` ids, labels as (n, 1) floats.
pub struct ImdbArrays {
    pub x_train: Array,
    pub y_train: Array,
    pub x_test: Array,
    pub y_test: Array,
}

pub fn load_data(dir: &Path, steps: usize) -> Result<ImdbArrays> {
    let imdb = load_imdb(
        dir,
        &ImdbOptions {
            num_words: Some(NUM_WORDS),
            ..Default::default()
        },
    )?;
    let pad = |seqs: &[Vec<i32>]| -> Result<Array> {
        let (ids, rows, cols) = pad_sequences(seqs, Some(steps), Pad::Post, Truncating::Post, 0);
        Array::from_i32([rows, cols], ids)
    };
    Ok(ImdbArrays {
        x_train: pad(&imdb.x_train)?,
        y_train: Array::new([imdb.n_train(), 1], imdb.y_train_f32())?,
        x_test: pad(&imdb.x_test)?,
        y_test: Array::new([imdb.n_test(), 1], imdb.y_test_f32())?,
    })
}
