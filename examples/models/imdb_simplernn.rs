//! Reference workload 2: IMDB sentiment with two stacked SimpleRNN layers, as the post builds
//! it with Keras' built-in layers.

use anyhow::Result;
use std::path::Path;
use wgtrain::data::{load_imdb, pad_sequences, ImdbOptions, Padding as Pad, Truncating};
use wgtrain::graph::DType;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{Array, Dense, Embedding, Input, Model, Sequential, SimpleRNN};

/// Words kept (the most frequent), review length, embedding width and units: the post's values.
pub const NUM_WORDS: usize = 10000;
pub const MAXLEN: usize = 500;
pub const EMBEDDING_DIM: usize = 32;
pub const UNITS: usize = 32;

/// Input(500, int32) -> Embedding(10000, 32) -> SimpleRNN(32, return_sequences) ->
/// SimpleRNN(32) -> Dense(1, sigmoid): 324,193 parameters, as Keras counts them.
pub fn build(num_words: usize, maxlen: usize) -> Result<Model> {
    let mut model = Sequential::from_input(Input::typed([maxlen], DType::I32));
    model.add(Embedding::new(num_words, EMBEDDING_DIM))?;
    model.add(SimpleRNN::new(UNITS).return_sequences(true))?;
    model.add(SimpleRNN::new(UNITS))?;
    model.add(Dense::new(1).activation(ActivationKind::Sigmoid))?;
    model.build()
}

pub fn build_model() -> Result<Model> {
    build(NUM_WORDS, MAXLEN)
}

/// IMDB as the model takes it: the top 10000 words, pre-padded and pre-truncated to 500 ids
/// (Keras' `pad_sequences` defaults), labels as (n, 1) floats.
pub struct ImdbArrays {
    pub x_train: Array,
    pub y_train: Array,
    pub x_test: Array,
    pub y_test: Array,
}

pub fn load_data(dir: &Path) -> Result<ImdbArrays> {
    let imdb = load_imdb(
        dir,
        &ImdbOptions {
            num_words: Some(NUM_WORDS),
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
