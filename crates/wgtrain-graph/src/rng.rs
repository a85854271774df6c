//! Counter-based random numbers (Philox4x32-10). The same function is written in WGSL, so a
//! dropout mask depends only on (seed, step, op key, element index), never on the backend.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

pub fn philox4x32(mut ctr: [u32; 4], mut key: [u32; 2]) -> [u32; 4] {
    for _ in 0..10 {
        let (hi0, lo0) = mulhilo(M0, ctr[0]);
        let (hi1, lo1) = mulhilo(M1, ctr[2]);
        ctr = [hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0];
        key = [key[0].wrapping_add(W0), key[1].wrapping_add(W1)];
    }
    ctr
}

/// `philox4x32` of `L` counters at once, held word by word so that the rounds vectorize across
/// the counters.
#[inline(always)]
pub fn philox4x32_lanes<const L: usize>(mut c: [[u32; L]; 4], mut key: [u32; 2]) -> [[u32; L]; 4] {
    for _ in 0..10 {
        let mut next = [[0u32; L]; 4];
        for i in 0..L {
            let p0 = M0 as u64 * c[0][i] as u64;
            let p1 = M1 as u64 * c[2][i] as u64;
            next[0][i] = (p1 >> 32) as u32 ^ c[1][i] ^ key[0];
            next[1][i] = p1 as u32;
            next[2][i] = (p0 >> 32) as u32 ^ c[3][i] ^ key[1];
            next[3][i] = p0 as u32;
        }
        c = next;
        key = [key[0].wrapping_add(W0), key[1].wrapping_add(W1)];
    }
    c
}

/// Four uniform numbers in [0, 1) with 24-bit resolution: block `block` of the stream of op `key`.
pub fn uniform4(seed: u64, step: u64, key: u32, block: u32) -> [f32; 4] {
    philox(seed, step, key, block).map(|u| (u >> 8) as f32 * (1.0 / 16_777_216.0))
}

fn philox(seed: u64, step: u64, key: u32, block: u32) -> [u32; 4] {
    philox4x32(
        [block, key, step as u32, (step >> 32) as u32],
        [seed as u32, (seed >> 32) as u32],
    )
}

/// The multiplier of a kept element under dropout at `rate`.
pub fn kept_scale(rate: f32) -> f32 {
    1.0 / (1.0 - rate)
}

/// Philox calls drawn side by side for one group of dropout elements.
pub const DROPOUT_LANES: usize = 16;
/// Elements of one dropout group: each of the `DROPOUT_LANES` calls gives eight 16-bit
/// uniforms.
pub const DROPOUT_GROUP: usize = 8 * DROPOUT_LANES;

/// Where element `index` of a dropout stream comes from: (Philox block, uniform `j` of the
/// block's eight, the 16-bit half `j % 2`, low first, of word `j / 2`). Element `e` of group
/// `G` takes lane `e % 16` and uniform `e / 16`, so sixteen neighbouring elements read the
/// same uniform of sixteen calls made side by side.
pub fn dropout_source(index: usize) -> (u32, usize) {
    let (group, e) = (index / DROPOUT_GROUP, index % DROPOUT_GROUP);
    (
        (group * DROPOUT_LANES + e % DROPOUT_LANES) as u32,
        e / DROPOUT_LANES,
    )
}

/// The multiplier of a uniform: 0 when dropped, `kept_scale(rate)` when kept.
#[inline(always)]
fn multiplier(half: u32, threshold: u32, keep: f32) -> f32 {
    if half < threshold {
        0.0
    } else {
        keep
    }
}

/// The 16-bit uniform below which an element is dropped.
pub fn drop_threshold(rate: f32) -> u32 {
    (rate * 65536.0) as u32
}

/// The dropout multiplier of element `index` alone.
pub fn dropout_scale(seed: u64, step: u64, key: u32, index: usize, rate: f32) -> f32 {
    let (block, j) = dropout_source(index);
    let r = philox(seed, step, key, block);
    let half = (r[j / 2] >> (16 * (j % 2))) & 0xffff;
    multiplier(half, drop_threshold(rate), kept_scale(rate))
}

/// The dropout multipliers of group `group` (elements `128 * group ..` of the stream).
pub fn dropout_group(
    seed: u64,
    step: u64,
    key: u32,
    group: usize,
    rate: f32,
    out: &mut [f32; DROPOUT_GROUP],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { dropout_group_avx512(seed, step, key, group, rate, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { dropout_group_avx2(seed, step, key, group, rate, out) };
        }
    }
    dropout_group_portable(seed, step, key, group, rate, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dropout_group_avx512(
    seed: u64,
    step: u64,
    key: u32,
    group: usize,
    rate: f32,
    out: &mut [f32; DROPOUT_GROUP],
) {
    dropout_group_portable(seed, step, key, group, rate, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dropout_group_avx2(
    seed: u64,
    step: u64,
    key: u32,
    group: usize,
    rate: f32,
    out: &mut [f32; DROPOUT_GROUP],
) {
    dropout_group_portable(seed, step, key, group, rate, out)
}

#[inline(always)]
fn dropout_group_portable(
    seed: u64,
    step: u64,
    key: u32,
    group: usize,
    rate: f32,
    out: &mut [f32; DROPOUT_GROUP],
) {
    let first = (group * DROPOUT_LANES) as u32;
    let ctr = [
        std::array::from_fn(|lane| first.wrapping_add(lane as u32)),
        [key; DROPOUT_LANES],
        [step as u32; DROPOUT_LANES],
        [(step >> 32) as u32; DROPOUT_LANES],
    ];
    let r = philox4x32_lanes(ctr, [seed as u32, (seed >> 32) as u32]);
    let (threshold, keep) = (drop_threshold(rate), kept_scale(rate));
    for (j, uniforms) in out.chunks_exact_mut(DROPOUT_LANES).enumerate() {
        let word = &r[j / 2];
        for (o, &w) in uniforms.iter_mut().zip(word) {
            *o = multiplier((w >> (16 * (j % 2))) & 0xffff, threshold, keep);
        }
    }
}

/// The dropout multipliers of elements `start .. start + out.len()`.
pub fn fill_dropout_scales(
    seed: u64,
    step: u64,
    key: u32,
    rate: f32,
    start: usize,
    out: &mut [f32],
) {
    if rate == 0.0 {
        out.fill(1.0);
        return;
    }
    let end = start + out.len();
    let mut i = start;
    let mut partial = [0.0; DROPOUT_GROUP];
    while i < end {
        let group = i / DROPOUT_GROUP;
        let first = group * DROPOUT_GROUP;
        let stop = (first + DROPOUT_GROUP).min(end);
        let here = &mut out[i - start..stop - start];
        match <&mut [f32; DROPOUT_GROUP]>::try_from(&mut *here) {
            Ok(whole) => dropout_group(seed, step, key, group, rate, whole),
            Err(_) => {
                dropout_group(seed, step, key, group, rate, &mut partial);
                here.copy_from_slice(&partial[i - first..stop - first]);
            }
        }
        i = stop;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_the_published_known_answer() {
        // Random123's kat_vectors: philox4x32_10 with zero counter and key.
        assert_eq!(
            philox4x32([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
    }

    #[test]
    fn a_group_draws_the_scales_of_its_elements() {
        for (group, step) in [(0, 2), (33_554_431, (9 << 32) + 2)] {
            let mut together = [0.0; DROPOUT_GROUP];
            dropout_group(5, step, 17, group, 0.3, &mut together);
            for (e, &got) in together.iter().enumerate() {
                let want = dropout_scale(5, step, 17, group * DROPOUT_GROUP + e, 0.3);
                assert_eq!(got, want, "group {group} element {e}");
            }
        }
    }

    #[test]
    fn each_uniform_of_each_block_feeds_one_element() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..4 * DROPOUT_GROUP {
            let (block, j) = dropout_source(i);
            assert!(block < 4 * DROPOUT_LANES as u32 && j < 8);
            assert!(seen.insert((block, j)), "element {i} repeats a uniform");
        }
        assert_eq!(dropout_source(17), (1, 1));
    }

    #[test]
    fn dropout_keeps_about_one_minus_rate() {
        let n = 100_000;
        let kept = (0..n)
            .filter(|&i| dropout_scale(7, 3, 11, i, 0.25) > 0.0)
            .count();
        let frac = kept as f64 / n as f64;
        assert!((frac - 0.75).abs() < 0.01, "kept fraction {frac}");
    }

    #[test]
    fn scales_over_a_range_are_the_scales_of_its_elements() {
        for range in [
            0..200,
            3..5,
            60..130,
            64..128,
            7..8,
            100..300,
            5..70,
            128..512,
            130..700,
        ] {
            let mut got = vec![0.0; range.len()];
            fill_dropout_scales(5, 9, 4, 0.3, range.start, &mut got);
            let want: Vec<f32> = range.map(|i| dropout_scale(5, 9, 4, i, 0.3)).collect();
            assert_eq!(got, want);
        }
    }
}
