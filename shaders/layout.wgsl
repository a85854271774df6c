// Data movement along one axis, with a tensor viewed as (outer, n, inner).

@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Both kernels below run over a grid of rows (outer) x cols (positions along the axis times
// inner); `split` turns a col into (j, i) and divides only when inner > 1.
fn split(c: u32, inner: u32) -> vec2<u32> {
    if inner == 1u {
        return vec2<u32>(c, 0u);
    }
    return vec2<u32>(c / inner, c % inner);
}

// Slice and pad: out[o, j, i] = x[o, j + shift, i], zero outside x.
// params: 0 outer, 1 output n, 2 inner, 3 input n, 4 shift (i32).
@compute @workgroup_size(64, 4)
fn window(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n_out = P(1u);
    let inner = P(2u);
    let n_in = P(3u);
    let c = gid.x;
    if c >= n_out * inner {
        return;
    }
    let ji = split(c, inner);
    let src = i32(ji.x) + bitcast<i32>(P(4u));
    let inside = src >= 0 && src < i32(n_in);
    for (var o = gid.y; o < P(0u); o += nwg.y * 4u) {
        var v = 0.0;
        if inside {
            v = x[(o * n_in + u32(src)) * inner + ji.y];
        }
        out[o * n_out * inner + c] = v;
    }
}

// One part of a concatenation: out[o, at + j, i] = x[o, j, i].
// params: 0 outer, 1 input n, 2 inner, 3 output n, 4 at.
@compute @workgroup_size(64, 4)
fn place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n_in = P(1u);
    let inner = P(2u);
    let c = gid.x;
    if c >= n_in * inner {
        return;
    }
    let ji = split(c, inner);
    for (var o = gid.y; o < P(0u); o += nwg.y * 4u) {
        out[(o * P(3u) + P(4u) + ji.x) * inner + ji.y] = x[o * n_in * inner + c];
    }
}

// Class indices to one-hot rows. params: 0 output size, 1 depth.
@compute @workgroup_size(256)
fn one_hot(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let idx = flat_id(wid, nwg, lid, 256u);
    if idx >= P(0u) {
        return;
    }
    let depth = P(1u);
    out[idx] = select(0.0, 1.0, u32(x[idx / depth]) == idx % depth);
}
