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

/// Elements handled by one Philox call in dropout: eight 16-bit uniforms.
pub const DROPOUT_BLOCK: usize = 8;

/// Dropout multipliers of elements `8*block .. 8*block+8`: 0 when dropped, `1 / (1 - rate)` when
/// kept. Element `8*block + j` uses the 16-bit half `j % 2` (low first) of word `j / 2`.
pub fn dropout_block(
    seed: u64,
    step: u64,
    key: u32,
    block: u32,
    rate: f32,
) -> [f32; DROPOUT_BLOCK] {
    let r = philox(seed, step, key, block);
    let keep = kept_scale(rate);
    let threshold = (rate * 65536.0) as u32;
    std::array::from_fn(|j| {
        let half = (r[j / 2] >> (16 * (j % 2))) & 0xffff;
        if half < threshold {
            0.0
        } else {
            keep
        }
    })
}

/// Dropout blocks computed together by `dropout_blocks`.
pub const DROPOUT_LANES: usize = 8;

/// `dropout_block` of blocks `first .. first + DROPOUT_LANES`, one after another.
pub fn dropout_blocks(
    seed: u64,
    step: u64,
    key: u32,
    first: u32,
    rate: f32,
) -> [f32; DROPOUT_BLOCK * DROPOUT_LANES] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dropout_blocks_avx2(seed, step, key, first, rate) };
    }
    dropout_blocks_portable(seed, step, key, first, rate)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dropout_blocks_avx2(
    seed: u64,
    step: u64,
    key: u32,
    first: u32,
    rate: f32,
) -> [f32; DROPOUT_BLOCK * DROPOUT_LANES] {
    dropout_blocks_portable(seed, step, key, first, rate)
}

#[inline(always)]
fn dropout_blocks_portable(
    seed: u64,
    step: u64,
    key: u32,
    first: u32,
    rate: f32,
) -> [f32; DROPOUT_BLOCK * DROPOUT_LANES] {
    let ctr = [
        std::array::from_fn(|i| first.wrapping_add(i as u32)),
        [key; DROPOUT_LANES],
        [step as u32; DROPOUT_LANES],
        [(step >> 32) as u32; DROPOUT_LANES],
    ];
    let r = philox4x32_lanes(ctr, [seed as u32, (seed >> 32) as u32]);
    let keep = kept_scale(rate);
    let threshold = (rate * 65536.0) as u32;
    std::array::from_fn(|e| {
        let (lane, j) = (e / DROPOUT_BLOCK, e % DROPOUT_BLOCK);
        let half = (r[j / 2][lane] >> (16 * (j % 2))) & 0xffff;
        if half < threshold {
            0.0
        } else {
            keep
        }
    })
}

/// The dropout multipliers of elements `start .. start + out.len()`, drawing
/// `DROPOUT_LANES` blocks at once while at least that many remain.
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
    const LANES_LEN: usize = DROPOUT_BLOCK * DROPOUT_LANES;
    let end = start + out.len();
    let mut i = start;
    while i < end {
        let block = i / DROPOUT_BLOCK;
        let first = block * DROPOUT_BLOCK;
        let skip = i - first;
        if end - first >= LANES_LEN {
            let scales = dropout_blocks(seed, step, key, block as u32, rate);
            out[i - start..first + LANES_LEN - start].copy_from_slice(&scales[skip..]);
            i = first + LANES_LEN;
        } else {
            let scales = dropout_block(seed, step, key, block as u32, rate);
            let stop = (first + DROPOUT_BLOCK).min(end);
            out[i - start..stop - start].copy_from_slice(&scales[skip..stop - first]);
            i = stop;
        }
    }
}

/// The dropout multiplier of element `index` alone.
pub fn dropout_scale(seed: u64, step: u64, key: u32, index: usize, rate: f32) -> f32 {
    let block = (index / DROPOUT_BLOCK) as u32;
    dropout_block(seed, step, key, block, rate)[index % DROPOUT_BLOCK]
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
    fn the_lanes_give_the_blocks_one_by_one() {
        let first = u32::MAX - 3;
        let together = dropout_blocks(5, (9 << 32) + 2, 17, first, 0.3);
        for lane in 0..DROPOUT_LANES {
            let one = dropout_block(5, (9 << 32) + 2, 17, first.wrapping_add(lane as u32), 0.3);
            assert_eq!(
                together[lane * DROPOUT_BLOCK..][..DROPOUT_BLOCK],
                one,
                "lane {lane}"
            );
        }
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
        for range in [0..200, 3..5, 60..130, 64..128, 7..8, 100..300, 5..70] {
            let mut got = vec![0.0; range.len()];
            fill_dropout_scales(5, 9, 4, 0.3, range.start, &mut got);
            let want: Vec<f32> = range.map(|i| dropout_scale(5, 9, 4, i, 0.3)).collect();
            assert_eq!(got, want);
        }
    }
}
