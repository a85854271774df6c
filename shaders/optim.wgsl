// Fused optimizer updates with Keras semantics, one invocation per parameter element.
// Per-step scalars (learning rate, bias corrections) come from the step block; the
// optimizer's fixed hyperparameters from params: 0 n, then as each entry point says.
// SQUARED_GRAD is what a rule squaring the gradient uses: g[i] * g[i], or, for a table read by
// gathers, gsq[i], the sum of the looked-up rows' squared gradients (Keras' sparse updates).

@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> s0: array<f32>;
@group(0) @binding(4) var<storage, read_write> s1: array<f32>;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<storage, read_write> gsq: array<f32>;

@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i < P(0u) {
        p[i] -= step.optimizer.x * g[i];
    }
}

// params: 1 momentum (f32), 2 nesterov (0 or 1).
@compute @workgroup_size(256)
fn sgd_momentum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i >= P(0u) {
        return;
    }
    let lr = step.optimizer.x;
    let momentum = PF(1u);
    let m = momentum * s0[i] - lr * g[i];
    s0[i] = m;
    if P(2u) != 0u {
        p[i] += momentum * m - lr * g[i];
    } else {
        p[i] += m;
    }
}

// Epsilon inside the square root, as Keras 3. params: 1 rho, 2 momentum, 3 epsilon (f32).
@compute @workgroup_size(256)
fn rmsprop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i >= P(0u) {
        return;
    }
    let rho = PF(1u);
    let momentum = PF(2u);
    let v = rho * s0[i] + (1.0 - rho) * SQUARED_GRAD;
    s0[i] = v;
    let delta = step.optimizer.x * g[i] / sqrt(v + PF(3u));
    if momentum == 0.0 {
        p[i] -= delta;
    } else {
        let m = momentum * s1[i] + delta;
        s1[i] = m;
        p[i] -= m;
    }
}

// Adam and AdamW. params: 1 beta_1, 2 beta_2, 3 epsilon, 4 weight decay (f32, 0 for Adam).
@compute @workgroup_size(256)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i >= P(0u) {
        return;
    }
    let decay = step.optimizer.x * PF(4u);
    let alpha = step.optimizer.y;
    var w = p[i];
    w -= w * decay;
    let m = s0[i] + (g[i] - s0[i]) * (1.0 - PF(1u));
    let v = s1[i] + (SQUARED_GRAD - s1[i]) * (1.0 - PF(2u));
    s0[i] = m;
    s1[i] = v;
    p[i] = w - alpha * m / (sqrt(v) + PF(3u));
}

// params: 1 beta_1, 2 beta_2, 3 epsilon (f32).
@compute @workgroup_size(256)
fn nadam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i >= P(0u) {
        return;
    }
    let m = s0[i] + (g[i] - s0[i]) * (1.0 - PF(1u));
    let v = s1[i] + (SQUARED_GRAD - s1[i]) * (1.0 - PF(2u));
    s0[i] = m;
    s1[i] = v;
    let m_hat = step.optimizer.y * m + step.optimizer.z * g[i];
    let v_hat = v * step.optimizer.w;
    p[i] -= step.optimizer.x * m_hat / (sqrt(v_hat) + PF(3u));
}
