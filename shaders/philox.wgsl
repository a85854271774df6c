// Philox4x32-10, the counter-based generator of `crates/wgtrain-graph/src/rng.rs`, shared by
// the kernels that draw dropout masks.

// (high, low) words of the 64-bit product a * b.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    let hi = a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32(counter: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key_in;
    for (var round = 0; round < 10; round++) {
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

// Element j of Philox block `block` in a dropout stream: a group of 128 elements takes
// sixteen blocks side by side, element e of the group uniform e / 16 of block e % 16
// (`dropout_source` in rng.rs).
fn block_element(block: u32, j: u32) -> u32 {
    return (block / 16u) * 128u + block % 16u + 16u * j;
}

// The dropout multipliers of block `block` of the stream of op `key`, for elements
// block_element(block, 0 .. 8): 0 where the element's 16-bit uniform is below `threshold`,
// else `keep`.
fn dropout_scales(block: u32, key: u32, threshold: u32, keep: f32) -> array<f32, 8> {
    let r = philox4x32(vec4<u32>(block, key, step.step.x, step.step.y), step.seed);
    var scales: array<f32, 8>;
    for (var j = 0u; j < 8u; j++) {
        let half = (r[j / 2u] >> (16u * (j % 2u))) & 0xffffu;
        scales[j] = select(keep, 0.0, half < threshold);
    }
    return scales;
}

// The dropout multiplier of element i alone.
fn dropout_scale_at(i: u32, key: u32, threshold: u32, keep: f32) -> f32 {
    let scales = dropout_scales((i / 128u) * 16u + i % 16u, key, threshold, keep);
    return scales[(i % 128u) / 16u];
}
