//! Datasets generated in code, for demos and tests that must run without files.

/// Interleaved spirals: `classes` arms of `per_class` 2-D points each, with Gaussian-ish noise.
/// Returns (points as n*2 values, labels), shuffled deterministically by `seed`.
pub fn spirals(per_class: usize, classes: usize, noise: f32, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = SplitMix(seed);
    let n = per_class * classes;
    let mut points = Vec::with_capacity(n * 2);
    let mut labels = Vec::with_capacity(n);
    for c in 0..classes {
        for i in 0..per_class {
            let r = i as f32 / per_class as f32;
            let theta = c as f32 * std::f32::consts::TAU / classes as f32 + r * 4.0;
            let jitter =
                |rng: &mut SplitMix| (rng.uniform() + rng.uniform() + rng.uniform() - 1.5) * noise;
            points.push(r * theta.cos() + jitter(&mut rng));
            points.push(r * theta.sin() + jitter(&mut rng));
            labels.push(c as u8);
        }
    }
    for i in (1..n).rev() {
        let j = (rng.uniform() * (i + 1) as f32) as usize % (i + 1);
        points.swap(2 * i, 2 * j);
        points.swap(2 * i + 1, 2 * j + 1);
        labels.swap(i, j);
    }
    (points, labels)
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spirals_have_balanced_labels_and_bounded_points() {
        let (x, y) = spirals(100, 3, 0.1, 7);
        assert_eq!(x.len(), 600);
        for c in 0..3u8 {
            assert_eq!(y.iter().filter(|&&l| l == c).count(), 100);
        }
        assert!(x.iter().all(|v| v.abs() < 2.0));
        assert_eq!(spirals(100, 3, 0.1, 7), (x, y));
    }
}
