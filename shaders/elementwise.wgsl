// Elementwise maps. UNARY_EXPR (of x) and BINARY_EXPR (of x and y) are substituted per op when
// a pipeline is built.

@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i < P(0u) {
        let x = a[i];
        out[i] = UNARY_EXPR;
    }
}

@compute @workgroup_size(256)
fn binary_same(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i < P(0u) {
        let x = a[i];
        let y = b[i];
        out[i] = BINARY_EXPR;
    }
}

// Broadcasting seen as rows x cols: each operand is read at row * row_stride + col * col_stride,
// which covers full, row-broadcast, column-broadcast and scalar operands without divisions.
// params: 0 rows, 1 cols, 2 row stride of a, 3 col stride of a, 4 row stride of b, 5 col stride
// of b.
@compute @workgroup_size(64, 4)
fn binary_rows(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
    let rows = P(0u);
    let cols = P(1u);
    let col = gid.x;
    if col >= cols {
        return;
    }
    for (var row = gid.y; row < rows; row += nwg.y * 4u) {
        let x = a[row * P(2u) + col * P(3u)];
        let y = b[row * P(4u) + col * P(5u)];
        out[row * cols + col] = BINARY_EXPR;
    }
}

// Any other broadcast. params: 0 n, 1 rank, 2..8 output dims, 8..14 strides of a, 14..20 of b.
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
