// Elementwise maps and broadcasting copies.

@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// A binary op whose broadcast is not rows x cols, unfused. BINARY_EXPR (of x and y) is
// substituted per op. params: 0 n, 1 rank, 2..8 output dims, 8..14 strides of a, 14..20 of b.
@compute @workgroup_size(256)
fn binary_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i < P(0u) {
        let x = a[strided_offset(i, P(1u), 2u, 8u)];
        let y = b[strided_offset(i, P(1u), 2u, 14u)];
        out[i] = BINARY_EXPR;
    }
}

// Broadcasting copy, as rows x cols (see binary_rows). params: 0 rows, 1 cols, 2 row stride,
// 3 col stride.
@compute @workgroup_size(64, 4)
fn broadcast_rows(@builtin(global_invocation_id) gid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
    let rows = P(0u);
    let cols = P(1u);
    let col = gid.x;
    if col >= cols {
        return;
    }
    for (var row = gid.y; row < rows; row += nwg.y * 4u) {
        out[row * cols + col] = a[row * P(2u) + col * P(3u)];
    }
}

// Any other broadcasting copy. params: 0 n, 1 rank, 2..8 output dims, 8..14 strides of a.
@compute @workgroup_size(256)
fn broadcast(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i < P(0u) {
        out[i] = a[strided_offset(i, P(1u), 2u, 8u)];
    }
}
