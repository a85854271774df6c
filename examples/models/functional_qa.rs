//! The two-input question-answering model of Keras' functional-API guide (reference workload
//! 3): a text and a question, each embedded and read by an LSTM, joined, and an answer word
//! chosen by a softmax. The guide trains it on random data; so does this.

use anyhow::Result;
use wgtrain::graph::DType;
use wgtrain::nn::init::uniform_stream;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{Array, Concatenate, Dense, Embedding, Input, LayerExt, Model, LSTM};

pub const TEXT_VOCAB: usize = 10000;
pub const QUESTION_VOCAB: usize = 10000;
pub const ANSWER_VOCAB: usize = 500;
pub const MAXLEN: usize = 100;
pub const SAMPLES: usize = 1000;

/// text (ids, any length) -> Embedding(10000, 64) -> LSTM(32); question (ids, any length) ->
/// Embedding(10000, 32) -> LSTM(16); concatenate -> Dense(500, softmax). The guide's data has
/// 100 ids per text and question.
pub fn build_model() -> Result<Model> {
    let text = Input::named_typed([None], DType::I32, "text");
    let t = Embedding::new(TEXT_VOCAB, 64).apply(&text)?;
    let t = LSTM::new(32).apply(&t)?;
    let question = Input::named_typed([None], DType::I32, "question");
    let q = Embedding::new(QUESTION_VOCAB, 32).apply(&question)?;
    let q = LSTM::new(16).apply(&q)?;
    let joined = Concatenate::new().apply_many(&[&t, &q])?.remove(0);
    let answer = Dense::new(ANSWER_VOCAB)
        .activation(ActivationKind::Softmax)
        .apply(&joined)?;
    Model::new(&[&text, &question], &[&answer])
}

/// `n` random samples as the guide makes them: ids in [1, vocabulary) for both inputs and
/// one-hot answers, drawn from stream `stream` of a fixed seed.
pub fn random_data(n: usize, stream: u32) -> Result<(Vec<Array>, Array)> {
    let ids = |vocab: usize, k: u32| -> Result<Array> {
        let u = uniform_stream(2024, stream * 3 + k, n * MAXLEN);
        let v = u
            .iter()
            .map(|x| 1 + (x * (vocab - 1) as f32) as i32)
            .collect();
        Array::from_i32([n, MAXLEN], v)
    };
    let answers = uniform_stream(2024, stream * 3 + 2, n);
    let mut y = vec![0.0; n * ANSWER_VOCAB];
    for (r, a) in answers.iter().enumerate() {
        y[r * ANSWER_VOCAB + ((a * ANSWER_VOCAB as f32) as usize).min(ANSWER_VOCAB - 1)] = 1.0;
    }
    Ok((
        vec![ids(TEXT_VOCAB, 0)?, ids(QUESTION_VOCAB, 1)?],
        Array::new([n, ANSWER_VOCAB], y)?,
    ))
}
