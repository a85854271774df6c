// Reductions: as workgroup trees (one workgroup per output value, `tree.wgsl`), or with one
// invocation per output value where invocations run on CPU cores and rows are short.

@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// out[g] = reduction over r of x[base(g) + offset(r)].
// params: 0 outputs, 1 reduced count, 2 output rank, 3 reduced rank, 4 scale (f32),
// 5..11 output dims, 11..17 their input strides, 17..23 reduced dims, 23..29 their strides.
// IS_SUM selects sum (true) or max (false).
@compute @workgroup_size(WG)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let g = wid.y * nwg.x + wid.x;
    if g >= P(0u) {
        return;
    }
    let count = P(1u);
    let base = strided_offset(g, P(2u), 5u, 11u);
    if IS_SUM {
        var acc = 0.0;
        for (var r = lid; r < count; r += WG) {
            acc += x[base + strided_offset(r, P(3u), 17u, 23u)];
        }
        let total = tree_sum(lid, acc);
        if lid == 0u {
            out[g] = total * PF(4u);
        }
    } else {
        var acc = -3.4028235e38;
        for (var r = lid; r < count; r += WG) {
            acc = max(acc, x[base + strided_offset(r, P(3u), 17u, 23u)]);
        }
        let total = tree_max(lid, acc);
        if lid == 0u {
            out[g] = total;
        }
    }
}

// Softmax (IS_LOG false) or log-softmax (IS_LOG true) along an axis of a tensor seen as
// (outer, n, inner). params: 0 outer * inner, 1 n, 2 inner.
@compute @workgroup_size(WG)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let g = wid.y * nwg.x + wid.x;
    if g >= P(0u) {
        return;
    }
    let n = P(1u);
    let inner = P(2u);
    let base = (g / inner) * n * inner + g % inner;
    var m = -3.4028235e38;
    for (var j = lid; j < n; j += WG) {
        m = max(m, x[base + j * inner]);
    }
    m = tree_max(lid, m);
    var s = 0.0;
    for (var j = lid; j < n; j += WG) {
        s += exp(x[base + j * inner] - m);
    }
    s = tree_sum(lid, s);
    if IS_LOG {
        let log_sum = log(s) + m;
        for (var j = lid; j < n; j += WG) {
            out[base + j * inner] = x[base + j * inner] - log_sum;
        }
    } else {
        let inv = 1.0 / s;
        for (var j = lid; j < n; j += WG) {
            out[base + j * inner] = exp(x[base + j * inner] - m) * inv;
        }
    }
}

// out[o, i] = reduction over j of x[o, j, i], one invocation per output.
// params: 0 outer * inner, 1 n, 2 inner, 3 scale (f32).
@compute @workgroup_size(64)
fn reduce_lines(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let g = flat_id(wid, nwg, lid, 64u);
    if g >= P(0u) {
        return;
    }
    let n = P(1u);
    let inner = P(2u);
    var base = g * n;
    if inner != 1u {
        base = (g / inner) * n * inner + g % inner;
    }
    if IS_SUM {
        var acc = 0.0;
        for (var j = 0u; j < n; j++) {
            acc += x[base + j * inner];
        }
        out[g] = acc * PF(3u);
    } else {
        var acc = -3.4028235e38;
        for (var j = 0u; j < n; j++) {
            acc = max(acc, x[base + j * inner]);
        }
        out[g] = acc;
    }
}
