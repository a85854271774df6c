//! The shared-layer model of Keras' functional-API guide (reference workload 3): one LSTM(32)
//! reads two sequences of 128-wide vectors of any length (its weights shared by both reads),
//! and a sigmoid unit says whether they come from the same source. The guide gives no data;
//! this trains on generated sequences whose length the data decides: the training pairs and
//! the validation pairs differ in length, and each length gets its own plan.

use anyhow::Result;
use wgtrain::nn::init::uniform_stream;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{Array, Concatenate, Dense, Input, LayerExt, Model, LSTM};

pub const WIDTH: usize = 128;
/// Pairs in the generated training set.
pub const SAMPLES: usize = 512;
/// Steps of the generated training and validation sequences.
pub const TRAIN_STEPS: usize = 40;
pub const TEST_STEPS: usize = 60;

/// a, b: Input((None, 128)) -> one LSTM(32) applied to both -> concatenate -> Dense(1, sigmoid).
pub fn build_model() -> Result<Model> {
    let shared = LSTM::new(32).shared();
    let a = Input::named([None, Some(WIDTH)], "sequence_a");
    let b = Input::named([None, Some(WIDTH)], "sequence_b");
    let ha = shared.apply(&a)?;
    let hb = shared.apply(&b)?;
    let joined = Concatenate::new().apply_many(&[&ha, &hb])?.remove(0);
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&joined)?;
    Model::new(&[&a, &b], &[&out])
}

/// `n` pairs of `steps` x 128 sequences in [-1, 1) and labels: 1 where both sequences lean the
/// same way (their first features' sums share a sign), so the pairs can be learnt.
pub fn random_pairs(n: usize, steps: usize, stream: u32) -> Result<(Vec<Array>, Array)> {
    let values = |k: u32| -> Vec<f32> {
        uniform_stream(53, stream * 2 + k, n * steps * WIDTH)
            .iter()
            .map(|u| 2.0 * u - 1.0)
            .collect()
    };
    let (a, b) = (values(0), values(1));
    let lean = |v: &[f32], r: usize| -> f32 {
        (0..steps).map(|t| v[(r * steps + t) * WIDTH]).sum::<f32>()
    };
    let labels = (0..n)
        .map(|r| f32::from((lean(&a, r) >= 0.0) == (lean(&b, r) >= 0.0)))
        .collect();
    Ok((
        vec![
            Array::new([n, steps, WIDTH], a)?,
            Array::new([n, steps, WIDTH], b)?,
        ],
        Array::new([n, 1], labels)?,
    ))
}
