//! Weight initializers with Keras' defaults, drawn from the counter-based RNG so that a run is
//! reproducible from its seed.

use std::sync::atomic::{AtomicU64, Ordering};
use wgtrain_graph::rng::uniform4;
use wgtrain_graph::Shape;

static GLOBAL_SEED: AtomicU64 = AtomicU64::new(1234);

/// Sets the seed that new models use for weight initialization (like `keras.utils.set_random_seed`).
pub fn set_random_seed(seed: u64) {
    GLOBAL_SEED.store(seed, Ordering::Relaxed);
}

pub fn global_seed() -> u64 {
    GLOBAL_SEED.load(Ordering::Relaxed)
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Initializer {
    /// uniform(-l, l) with l = sqrt(6 / (fan_in + fan_out)).
    GlorotUniform,
    Zeros,
    Ones,
    Uniform {
        low: f32,
        high: f32,
    },
    Constant(f32),
}

/// Random stream `stream` of `seed`, as uniform numbers in [0, 1).
pub fn uniform_stream(seed: u64, stream: u32, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    let mut block = 0u32;
    while out.len() < n {
        for u in uniform4(seed, u64::MAX, stream, block) {
            if out.len() < n {
                out.push(u);
            }
        }
        block += 1;
    }
    out
}

impl Initializer {
    /// Values for a weight of `shape`, from stream `stream` of `seed`.
    pub fn values(&self, shape: &Shape, seed: u64, stream: u32) -> Vec<f32> {
        let n = shape.numel();
        match *self {
            Initializer::Zeros => vec![0.0; n],
            Initializer::Ones => vec![1.0; n],
            Initializer::Constant(c) => vec![c; n],
            Initializer::Uniform { low, high } => uniform_stream(seed, stream, n)
                .into_iter()
                .map(|u| low + (high - low) * u)
                .collect(),
            Initializer::GlorotUniform => {
                let (fan_in, fan_out) = fans(shape);
                let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
                uniform_stream(seed, stream, n)
                    .into_iter()
                    .map(|u| (2.0 * u - 1.0) * limit)
                    .collect()
            }
        }
    }
}

/// Keras' fan computation: the last two axes, with leading axes as a receptive field.
fn fans(shape: &Shape) -> (usize, usize) {
    match shape.rank() {
        0 => (1, 1),
        1 => (shape.0[0], shape.0[0]),
        r => {
            let receptive: usize = shape.0[..r - 2].iter().product();
            (shape.0[r - 2] * receptive, shape.0[r - 1] * receptive)
        }
    }
}
