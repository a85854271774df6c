// The gated mix `(g * s + (1 - g) * v) * mask`, g = sigmoid(dropout(gate half of h + bias)),
// v the other half of h + bias, and its gradients (`Op::GatedMix`, `Op::GatedMixGrad`). The gate's dropout
// multipliers come from `philox.wgsl` by the gate half's element index, as the CPU's do.
//
// params: 0 elements of s (rows * w), 1 w, 2 first gate column, 3 first value column,
// 4 op key, 5 drop threshold (rate * 65536), 6 keep scale (f32), 7 whether a mask is bound,
// 8 whether a bias is bound.

@group(0) @binding(1) var<storage, read_write> h: array<f32>;
@group(0) @binding(2) var<storage, read_write> s: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<storage, read_write> bias: array<f32>;

struct Mixed {
    row: u32,
    col: u32,
    scale: f32,
    g: f32,
    v: f32,
    m: f32,
}

// Everything the mix needs at element i of s, given the dropout multiplier there.
fn mixed(i: u32, scale: f32) -> Mixed {
    let w = P(1u);
    let row = i / w;
    let col = i % w;
    let biased = P(8u) != 0u;
    let x = (h[row * 2u * w + P(2u) + col] + select(0.0, bias[P(2u) + col], biased)) * scale;
    let g = 1.0 / (1.0 + exp(-x));
    let v = h[row * 2u * w + P(3u) + col] + select(0.0, bias[P(3u) + col], biased);
    let m = select(1.0, mask[row], P(7u) != 0u);
    return Mixed(row, col, scale, g, v, m);
}

fn block_scales(block: u32) -> array<f32, 8> {
    return dropout_scales(block, P(4u), P(5u), PF(6u));
}

// One invocation per Philox block: eight elements of s (`block_element`).
@compute @workgroup_size(64)
fn gated_mix(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let block = flat_id(wid, nwg, lid, 64u);
    let n = P(0u);
    if block_element(block, 0u) >= n {
        return;
    }
    var scales = block_scales(block);
    for (var j = 0u; j < 8u; j++) {
        let i = block_element(block, j);
        if i < n {
            let e = mixed(i, scales[j]);
            let y = e.g * s[i] + (1.0 - e.g) * e.v;
            out[i] = select(y, y * e.m, P(7u) != 0u);
        }
    }
}

// d/dh: both halves of h's row, written at once.
@compute @workgroup_size(64)
fn gated_mix_grad_h(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let block = flat_id(wid, nwg, lid, 64u);
    let n = P(0u);
    if block_element(block, 0u) >= n {
        return;
    }
    var scales = block_scales(block);
    let w = P(1u);
    for (var j = 0u; j < 8u; j++) {
        let i = block_element(block, j);
        if i < n {
            let e = mixed(i, scales[j]);
            let dm = dy[i] * e.m;
            let at = e.row * 2u * w + e.col;
            out[at + P(2u)] = dm * (s[i] - e.v) * e.g * (1.0 - e.g) * e.scale;
            out[at + P(3u)] = dm * (1.0 - e.g);
        }
    }
}

// d/ds.
@compute @workgroup_size(64)
fn gated_mix_grad_s(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let block = flat_id(wid, nwg, lid, 64u);
    let n = P(0u);
    if block_element(block, 0u) >= n {
        return;
    }
    var scales = block_scales(block);
    for (var j = 0u; j < 8u; j++) {
        let i = block_element(block, j);
        if i < n {
            let e = mixed(i, scales[j]);
            out[i] = dy[i] * e.m * e.g;
        }
    }
}

// d/dmask: one invocation per row, summing over the row's w elements.
@compute @workgroup_size(64)
fn gated_mix_grad_mask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let row = flat_id(wid, nwg, lid, 64u);
    let w = P(1u);
    if row * w >= P(0u) {
        return;
    }
    var total = 0.0;
    for (var col = 0u; col < w; col++) {
        let i = row * w + col;
        let e = mixed(i, dropout_scale_at(i, P(4u), P(5u), PF(6u)));
        total += dy[i] * (e.g * s[i] + (1.0 - e.g) * e.v);
    }
    out[row] = total;
}
