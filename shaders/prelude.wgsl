// Shared by every kernel: the per-dispatch parameter block and index helpers.

struct Params {
    v: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> params: Params;

// The per-step block (seed, step, optimizer scalars), for the kernels that bind it.
struct Step {
    seed: vec2<u32>,
    step: vec2<u32>,
    optimizer: vec4<f32>,
}

fn P(i: u32) -> u32 {
    return params.v[i / 4u][i % 4u];
}

fn PF(i: u32) -> f32 {
    return bitcast<f32>(P(i));
}

// The linear id of an invocation in a grid of 1-D workgroups laid out over x and y.
fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, size: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * size + lid;
}

// The offset of element `i` of a row-major shape (dims at P(dims_at..)) in a tensor addressed
// through strides (at P(strides_at..)); a stride of 0 repeats along that axis.
fn strided_offset(i: u32, rank: u32, dims_at: u32, strides_at: u32) -> u32 {
    var rem = i;
    var off = 0u;
    for (var k = i32(rank) - 1; k >= 0; k--) {
        let d = P(dims_at + u32(k));
        off += (rem % d) * P(strides_at + u32(k));
        rem /= d;
    }
    return off;
}
