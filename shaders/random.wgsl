// Dropout from the counter-based Philox4x32-10 generator (`philox.wgsl`), bit for bit the
// CPU's masks: a mask depends only on (seed, step, op key, element index).

@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;

// Each invocation draws one Philox block: eight 16-bit uniforms, for elements
// block_element(b, 0 .. 8).
// params: 0 n, 1 op key, 2 drop threshold (rate * 65536), 3 keep scale (f32).
@compute @workgroup_size(64)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let block = flat_id(wid, nwg, lid, 64u);
    let n = P(0u);
    if block_element(block, 0u) >= n {
        return;
    }
    var scales = dropout_scales(block, P(1u), P(2u), PF(3u));
    for (var j = 0u; j < 8u; j++) {
        let i = block_element(block, j);
        if i < n {
            out[i] = x[i] * scales[j];
        }
    }
}
