// Fused losses and metrics. Scalar results come from one workgroup tree (`tree.wgsl`);
// gradients run one invocation per row or element.

@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> upstream: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn row_max(base: u32, width: u32) -> f32 {
    var m = -3.4028235e38;
    for (var j = 0u; j < width; j++) {
        m = max(m, logits[base + j]);
    }
    return m;
}

// Mean over rows of -sum(labels * log_softmax(logits)). params: 0 rows, 1 width.
@compute @workgroup_size(WG)
fn softmax_cross_entropy(@builtin(local_invocation_index) lid: u32) {
    let rows = P(0u);
    let width = P(1u);
    var acc = 0.0;
    for (var r = lid; r < rows; r += WG) {
        let base = r * width;
        let m = row_max(base, width);
        var s = 0.0;
        for (var j = 0u; j < width; j++) {
            s += exp(logits[base + j] - m);
        }
        let log_sum = log(s) + m;
        for (var j = 0u; j < width; j++) {
            acc += labels[base + j] * (log_sum - logits[base + j]);
        }
    }
    let total = tree_sum(lid, acc);
    if lid == 0u {
        out[0] = total / f32(rows);
    }
}

// params: 0 rows, 1 width.
@compute @workgroup_size(64)
fn softmax_cross_entropy_grad(@builtin(workgroup_id) wid: vec3<u32>,
                              @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) lid: u32) {
    let r = flat_id(wid, nwg, lid, 64u);
    let rows = P(0u);
    if r >= rows {
        return;
    }
    let width = P(1u);
    let base = r * width;
    let scale = upstream[0] / f32(rows);
    let m = row_max(base, width);
    var s = 0.0;
    var label_sum = 0.0;
    for (var j = 0u; j < width; j++) {
        s += exp(logits[base + j] - m);
        label_sum += labels[base + j];
    }
    for (var j = 0u; j < width; j++) {
        out[base + j] = (exp(logits[base + j] - m) / s * label_sum - labels[base + j]) * scale;
    }
}

// Mean over elements of max(z, 0) - z * t + log(1 + exp(-|z|)). params: 0 n.
@compute @workgroup_size(WG)
fn sigmoid_bce(@builtin(local_invocation_index) lid: u32) {
    let n = P(0u);
    var acc = 0.0;
    for (var i = lid; i < n; i += WG) {
        let z = logits[i];
        acc += max(z, 0.0) - z * labels[i] + log(1.0 + exp(-abs(z)));
    }
    let total = tree_sum(lid, acc);
    if lid == 0u {
        out[0] = total / f32(n);
    }
}

// params: 0 n.
@compute @workgroup_size(256)
fn sigmoid_bce_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    let n = P(0u);
    if i < n {
        out[i] = (1.0 / (1.0 + exp(-logits[i])) - labels[i]) * (upstream[0] / f32(n));
    }
}

fn argmax(base: u32, width: u32, categorical_of_labels: bool) -> u32 {
    var best = 0u;
    for (var j = 1u; j < width; j++) {
        if categorical_of_labels {
            if labels[base + j] > labels[base + best] {
                best = j;
            }
        } else if logits[base + j] > logits[base + best] {
            best = j;
        }
    }
    return best;
}

// Fraction of rows whose argmax matches. params: 0 rows, 1 width.
@compute @workgroup_size(WG)
fn categorical_accuracy(@builtin(local_invocation_index) lid: u32) {
    let rows = P(0u);
    let width = P(1u);
    var hits = 0.0;
    for (var r = lid; r < rows; r += WG) {
        hits += select(0.0, 1.0, argmax(r * width, width, false) == argmax(r * width, width, true));
    }
    let total = tree_sum(lid, hits);
    if lid == 0u {
        out[0] = total / f32(max(rows, 1u));
    }
}

// Fraction of elements on the same side of 0.5. params: 0 n.
@compute @workgroup_size(WG)
fn binary_accuracy(@builtin(local_invocation_index) lid: u32) {
    let n = P(0u);
    var hits = 0.0;
    for (var i = lid; i < n; i += WG) {
        hits += select(0.0, 1.0, (logits[i] > 0.5) == (labels[i] > 0.5));
    }
    let total = tree_sum(lid, hits);
    if lid == 0u {
        out[0] = total / f32(max(n, 1u));
    }
}
