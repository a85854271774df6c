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
    /// Normal numbers of the given mean and standard deviation (Keras' `RandomNormal`; its
    /// default, `"random_normal"`, is mean 0 and deviation 0.05).
    Normal {
        mean: f32,
        stddev: f32,
    },
    /// An orthogonal matrix (rows or columns orthonormal, whichever are fewer) over the last
    /// axis, as Keras' `Orthogonal(gain=1)`: the Q factor of a standard normal matrix with the
    /// signs that make R's diagonal positive.
    Orthogonal,
    /// An LSTM's bias with `unit_forget_bias`: zeros, and ones over the forget gate's block
    /// (the second of four blocks of `units`).
    UnitForgetBias {
        units: usize,
    },
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
            Initializer::Orthogonal => orthogonal(shape, seed, stream),
            Initializer::Normal { mean, stddev } => normal_stream(seed, stream, n)
                .into_iter()
                .map(|z| mean + stddev * z as f32)
                .collect(),
            Initializer::UnitForgetBias { units } => (0..n)
                .map(|i| {
                    if (units..2 * units).contains(&i) {
                        1.0
                    } else {
                        0.0
                    }
                })
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

/// Standard normal numbers from stream `stream` of `seed` (Box-Muller on pairs of uniforms).
fn normal_stream(seed: u64, stream: u32, n: usize) -> Vec<f64> {
    let uniforms = uniform_stream(seed, stream, n.next_multiple_of(2));
    let mut out = Vec::with_capacity(n + 1);
    for pair in uniforms.chunks_exact(2) {
        let radius = (-2.0 * (1.0 - pair[0] as f64).ln()).sqrt();
        let angle = std::f64::consts::TAU * pair[1] as f64;
        out.push(radius * angle.cos());
        out.push(radius * angle.sin());
    }
    out.truncate(n);
    out
}

/// Keras' orthogonal initializer: a normal matrix of (product of the leading axes) x (the
/// last axis), taken with its longer side as rows, orthonormalized column by column
/// (Gram-Schmidt in f64, which gives Q with R's diagonal positive, as Keras' sign fix does).
fn orthogonal(shape: &Shape, seed: u64, stream: u32) -> Vec<f32> {
    let n = shape.numel();
    let cols = if shape.rank() == 0 { 1 } else { shape.last() };
    let rows = n / cols.max(1);
    let (tall, wide) = (rows.max(cols), rows.min(cols));
    let draws = normal_stream(seed, stream, n);
    // Column j of the tall matrix, as the rows x cols matrix (or its transpose) holds it.
    let mut q: Vec<Vec<f64>> = (0..wide)
        .map(|j| {
            (0..tall)
                .map(|i| {
                    if rows >= cols {
                        draws[i * cols + j]
                    } else {
                        draws[j * cols + i]
                    }
                })
                .collect()
        })
        .collect();
    for j in 0..wide {
        for k in 0..j {
            let d: f64 = q[j].iter().zip(&q[k]).map(|(a, b)| a * b).sum();
            let (done, rest) = q.split_at_mut(j);
            for (a, b) in rest[0].iter_mut().zip(&done[k]) {
                *a -= d * b;
            }
        }
        let norm = q[j].iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
        q[j].iter_mut().for_each(|a| *a /= norm);
    }
    (0..n)
        .map(|e| {
            let (i, j) = (e / cols, e % cols);
            (if rows >= cols { q[j][i] } else { q[i][j] }) as f32
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_weights_have_orthonormal_rows_or_columns() {
        for dims in [[8usize, 32], [32, 8], [5, 5]] {
            let shape = Shape(dims.to_vec());
            let w = Initializer::Orthogonal.values(&shape, 7, 3);
            let (r, c) = (dims[0], dims[1]);
            // Gram matrix of the shorter side.
            let (outer, inner) = if r <= c { (r, c) } else { (c, r) };
            let at = |a: usize, k: usize| if r <= c { w[a * c + k] } else { w[k * c + a] };
            for a in 0..outer {
                for b in 0..outer {
                    let d: f32 = (0..inner).map(|k| at(a, k) * at(b, k)).sum();
                    let want = if a == b { 1.0 } else { 0.0 };
                    assert!((d - want).abs() < 1e-5, "{dims:?}: <{a}, {b}> = {d}");
                }
            }
        }
    }
}
