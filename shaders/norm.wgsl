// Batch normalization by the batch's statistics over x [rows, c] (`Op::Moments`,
// `Op::BatchNorm`, `Op::BatchNormGrad`): one workgroup per column for the column sums
// (`tree.wgsl`), one invocation per element for the normalization.
//
// params: 0 rows, 1 columns, 2 epsilon (f32).

@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> moments: array<f32>;
@group(0) @binding(3) var<storage, read_write> gamma: array<f32>;
@group(0) @binding(4) var<storage, read_write> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// The column of the workgroup, uniform across it.
fn column(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// moments [2, c]: the column's mean, then the mean of its squared deviations from it.
@compute @workgroup_size(64)
fn column_moments(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let k = column(wid, nwg);
    let rows = P(0u);
    let c = P(1u);
    if k >= c {
        return;
    }
    var total = 0.0;
    for (var r = lid; r < rows; r += WG) {
        total += x[r * c + k];
    }
    let mean = tree_sum(lid, total) / f32(rows);
    var squares = 0.0;
    for (var r = lid; r < rows; r += WG) {
        let d = x[r * c + k] - mean;
        squares += d * d;
    }
    let variance = tree_sum(lid, squares) / f32(rows);
    if lid == 0u {
        out[k] = mean;
        out[c + k] = variance;
    }
}

// x * scale + (beta - mean * scale), scale = gamma / sqrt(variance + epsilon).
@compute @workgroup_size(64)
fn batch_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 64u);
    let c = P(1u);
    if i >= P(0u) * c {
        return;
    }
    let k = i % c;
    let scale = gamma[k] / sqrt(moments[c + k] + PF(2u));
    out[i] = x[i] * scale + (beta[k] - moments[k] * scale);
}

// This invocation's share of column k's sums of dy and of dy * (x - mean).
fn dy_partial_sums(k: u32, lid: u32) -> vec2<f32> {
    let rows = P(0u);
    let c = P(1u);
    let mean = moments[k];
    var sums = vec2<f32>(0.0, 0.0);
    for (var r = lid; r < rows; r += WG) {
        let i = r * c + k;
        sums += vec2<f32>(dy[i], dy[i] * (x[i] - mean));
    }
    return sums;
}

// d/dx: the column's sums of dy and dy * (x - mean), then
// scale * (dy - mean(dy) - (x - mean) * mean(dy * (x - mean)) / (variance + epsilon)).
@compute @workgroup_size(64)
fn batch_norm_grad_x(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let k = column(wid, nwg);
    let rows = P(0u);
    let c = P(1u);
    if k >= c {
        return;
    }
    let mean = moments[k];
    let partial = dy_partial_sums(k, lid);
    let n = f32(rows);
    let shift = tree_sum(lid, partial.x) / n;
    let var_eps = moments[c + k] + PF(2u);
    let slope = tree_sum(lid, partial.y) / (n * var_eps);
    let scale = gamma[k] / sqrt(var_eps);
    for (var r = lid; r < rows; r += WG) {
        let i = r * c + k;
        out[i] = scale * (dy[i] - shift - (x[i] - mean) * slope);
    }
}

// d/dgamma: the column's sum of dy * (x - mean) / sqrt(variance + epsilon).
@compute @workgroup_size(64)
fn batch_norm_grad_gamma(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
    let k = column(wid, nwg);
    let c = P(1u);
    if k >= c {
        return;
    }
    let total = tree_sum(lid, dy_partial_sums(k, lid).y);
    if lid == 0u {
        out[k] = total / sqrt(moments[c + k] + PF(2u));
    }
}
