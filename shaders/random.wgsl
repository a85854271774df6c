// Dropout from the counter-based Philox4x32-10 generator, bit for bit the CPU's masks: a
// mask depends only on (seed, step, op key, element index).

@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;

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

// Each invocation draws one Philox block: eight 16-bit uniforms for elements 8b .. 8b+8.
// params: 0 n, 1 op key, 2 drop threshold (rate * 65536), 3 keep scale (f32).
@compute @workgroup_size(64)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let block = flat_id(wid, nwg, lid, 64u);
    let n = P(0u);
    if block * 8u >= n {
        return;
    }
    let r = philox4x32(vec4<u32>(block, P(1u), step.step.x, step.step.y), step.seed);
    let threshold = P(2u);
    let keep = PF(3u);
    for (var j = 0u; j < 8u; j++) {
        let i = block * 8u + j;
        if i < n {
            let half = (r[j / 2u] >> (16u * (j % 2u))) & 0xffffu;
            out[i] = x[i] * select(keep, 0.0, half < threshold);
        }
    }
}
