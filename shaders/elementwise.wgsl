// Broadcasts that are not rows x cols (the others run as generated kernels, `fused.wgsl`).

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

// Any other broadcasting copy. params: 0 n, 1 rank, 2..8 output dims, 8..14 strides of a.
@compute @workgroup_size(256)
fn broadcast(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i < P(0u) {
        out[i] = a[strided_offset(i, P(1u), 2u, 8u)];
    }
}
