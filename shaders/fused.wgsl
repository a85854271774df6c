// Fused elementwise groups. Where the entry points below hold placeholders, each group's
// pipeline gets generated code: loads of its inputs into v0, v1, ..., then the statements that
// compute the result r from them.
@group(0) @binding(1) var<storage, read_write> in0: array<f32>;
@group(0) @binding(2) var<storage, read_write> in1: array<f32>;
@group(0) @binding(3) var<storage, read_write> in2: array<f32>;
@group(0) @binding(4) var<storage, read_write> in3: array<f32>;
@group(0) @binding(5) var<storage, read_write> in4: array<f32>;
@group(0) @binding(6) var<storage, read_write> in5: array<f32>;
@group(0) @binding(7) var<storage, read_write> fused_out: array<f32>;

// Every input is the output's size or a scalar: input k is read at i or at 0.
// params: 0 n.
@compute @workgroup_size(256)
fn fused_flat(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i < P(0u) {
        FLAT_LOADS
        FLAT_BODY
        fused_out[i] = r;
    }
}

// Broadcasting inputs, with the output seen as rows x cols: input k is read at
// row * P(2 + 2k) + col * P(3 + 2k), which covers full, row-broadcast, column-broadcast and
// scalar inputs without divisions. params: 0 rows, 1 cols, then the strides.
@compute @workgroup_size(64, 4)
fn fused_rows(@builtin(global_invocation_id) gid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>) {
    let rows = P(0u);
    let cols = P(1u);
    let col = gid.x;
    if col >= cols {
        return;
    }
    for (var row = gid.y; row < rows; row += nwg.y * 4u) {
        ROWS_LOADS
        ROWS_BODY
        fused_out[row * cols + col] = r;
    }
}
