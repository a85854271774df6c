// Data movement along one axis, with a tensor viewed as (outer, n, inner).

@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Slice and pad: out[o, j, i] = x[o, j + shift, i], zero outside x.
// params: 0 output size, 1 output n, 2 inner, 3 input n, 4 shift (i32).
@compute @workgroup_size(256)
fn window(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let idx = flat_id(wid, nwg, lid, 256u);
    if idx >= P(0u) {
        return;
    }
    let n_out = P(1u);
    let inner = P(2u);
    let n_in = P(3u);
    let i = idx % inner;
    let j = (idx / inner) % n_out;
    let o = idx / (inner * n_out);
    let src = i32(j) + bitcast<i32>(P(4u));
    var v = 0.0;
    if src >= 0 && src < i32(n_in) {
        v = x[(o * n_in + u32(src)) * inner + i];
    }
    out[idx] = v;
}

// One part of a concatenation: out[o, at + j, i] = x[o, j, i].
// params: 0 input size, 1 input n, 2 inner, 3 output n, 4 at.
@compute @workgroup_size(256)
fn place(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let idx = flat_id(wid, nwg, lid, 256u);
    if idx >= P(0u) {
        return;
    }
    let n_in = P(1u);
    let inner = P(2u);
    let i = idx % inner;
    let j = (idx / inner) % n_in;
    let o = idx / (inner * n_in);
    out[(o * P(3u) + P(4u) + j) * inner + i] = x[idx];
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
