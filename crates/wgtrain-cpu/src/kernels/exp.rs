//! `exp` and `sigmoid` written with plain arithmetic so that loops over them vectorize (the
//! standard library's `exp` is a call per element). Range reduction to `2^n * e^r` with
//! `|r| <= ln 2 / 2` and a degree-6 polynomial for `e^r`: within 2 ulp of `f32::exp` over
//! [-87, 88]; the input is clamped there, so the result never overflows to infinity.

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two so that `n * LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding it rounds an f32 below 2^22 to the nearest whole number.
const ROUNDER: f32 = 12_582_912.0;

/// `x = n ln 2 + r`: `(e^r - 1, 2^n, n)`, `e^r - 1` by the polynomial without its leading 1.
#[inline(always)]
fn reduced(x: f32) -> (f32, f32, f32) {
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let two_n =
        f32::from_bits(((shifted.to_bits() as i32 - ROUNDER.to_bits() as i32 + 127) << 23) as u32);
    (p * (r * r) + r, two_n, n)
}

#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let (m, two_n, _) = reduced(x);
    (m + 1.0) * two_n
}

/// `e^x - 1`, accurate near 0 too: where the reduction leaves `n = 0` it is the polynomial
/// without its leading 1.
#[inline(always)]
pub fn exp_m1(x: f32) -> f32 {
    let (m, two_n, n) = reduced(x);
    if n == 0.0 {
        m
    } else {
        (m + 1.0) * two_n - 1.0
    }
}

/// `tanh(x) = m / (m + 2)` with `m = e^(2|x|) - 1`, signed: within a few ulp of `f32::tanh`.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let m = exp_m1(2.0 * x.abs().min(20.0));
    (m / (m + 2.0)).copysign(x)
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32 - b.to_bits() as i32).unsigned_abs()
    }

    #[test]
    fn exp_is_within_two_ulp_of_the_standard_library() {
        let mut worst = 0;
        let mut x = -87.0f32;
        while x <= 88.0 {
            worst = worst.max(ulps(exp(x), x.exp()));
            x += 0.000_37;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(200.0).is_finite() && exp(-200.0) >= 0.0);
    }

    #[test]
    fn tanh_is_within_a_few_ulp_of_the_standard_library() {
        let mut worst = 0;
        let mut x = -12.0f32;
        while x <= 12.0 {
            worst = worst.max(ulps(tanh(x), x.tanh()));
            x += 0.000_37;
        }
        for tiny in [1e-30f32, 1e-10, 1e-6, -3e-4] {
            worst = worst.max(ulps(tanh(tiny), tiny.tanh()));
        }
        assert!(worst <= 4, "worst error {worst} ulp");
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
    }

    #[test]
    fn sigmoid_is_close_to_the_formula_and_saturates() {
        let mut worst = 0.0f32;
        for i in -4000..4000 {
            let x = i as f32 * 0.01;
            let want = 1.0 / (1.0 + (-x).exp());
            worst = worst.max((sigmoid(x) - want).abs() / want);
        }
        assert!(
            worst <= 3.0 * f32::EPSILON,
            "worst relative error {worst:e}"
        );
        assert_eq!(sigmoid(100.0), 1.0);
        assert!(sigmoid(-100.0) < 1e-30);
    }
}
