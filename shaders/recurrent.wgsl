// The recurrent walks (`Op::Recurrent`, `Op::RecurrentGrad`; layouts and equations in
// `crates/wgtrain-graph/src/recurrent.rs`). One workgroup per batch row walks the whole
// sequence; invocation `lid` owns units lid, lid + 64, ... The forward walk keeps the state in
// workgroup memory (two halves, read one and write the other, one barrier a step); the reverse
// walk keeps the step's gate gradients there for the product with the recurrent kernel.
//
// params: 0 batch, 1 steps, 2 units, 3 gate width, 4 cell (0 SimpleRNN, 1 LSTM, 2 GRU),
// 5 activation, 6 gate activation, 7 go_backwards, 8 outputs in walk order, 9 has h0,
// 10 has c0, 11 has recurrent bias, 12 masked, 13..16 upstream present (outputs, last, state,
// cell state), 17..24 forward part offsets (outputs, last, state, cell state, prev state, gates,
// prev cell, extra), 25..29 backward part offsets (d input, d recurrent, d state, d cell state,
// scratch), 30 zero output at masked steps (else the previous output).

@group(0) @binding(1) var<storage, read_write> xw: array<f32>;
@group(0) @binding(2) var<storage, read_write> kernel: array<f32>;
@group(0) @binding(3) var<storage, read_write> h0: array<f32>;
@group(0) @binding(4) var<storage, read_write> c0: array<f32>;
@group(0) @binding(5) var<storage, read_write> rbias: array<f32>;
@group(0) @binding(6) var<storage, read_write> mask: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> d_outputs: array<f32>;
@group(0) @binding(9) var<storage, read_write> d_last: array<f32>;
@group(0) @binding(10) var<storage, read_write> d_state: array<f32>;
@group(0) @binding(11) var<storage, read_write> d_cell: array<f32>;
@group(0) @binding(12) var<storage, read_write> saved: array<f32>;

const LANES: u32 = 64u;
// Units rounded up to a multiple of 64, and the gate width likewise (set per kernel).
const UNITS_CAP: u32 = UNITS_CAP_VALUE;
const GATES_CAP: u32 = GATES_CAP_VALUE;

var<workgroup> state: array<f32, 2u * UNITS_CAP>;
var<workgroup> d_gates: array<f32, GATES_CAP>;

fn activate(code: u32, x: f32) -> f32 {
    switch code {
        // tanh of a clamped argument: 1 to f32 precision beyond 15, and never NaN.
        case 0u: { return tanh(clamp(x, -15.0, 15.0)); }
        case 1u: { return 1.0 / (1.0 + exp(-x)); }
        case 2u: { return clamp(x / 6.0 + 0.5, 0.0, 1.0); }
        case 3u: { return max(x, 0.0); }
        default: { return x; }
    }
}

// The derivative at the input that gave output y.
fn derivative(code: u32, y: f32) -> f32 {
    switch code {
        case 0u: { return 1.0 - y * y; }
        case 1u: { return y * (1.0 - y); }
        case 2u: { return select(0.0, 1.0 / 6.0, y > 0.0 && y < 1.0); }
        case 3u: { return select(0.0, 1.0, y > 0.0); }
        default: { return 1.0; }
    }
}

fn step_at(k: u32) -> u32 {
    return select(k, P(1u) - 1u - k, P(7u) == 1u);
}

fn output_at(k: u32) -> u32 {
    return select(step_at(k), k, P(8u) == 1u);
}

fn is_valid(b: u32, t: u32) -> bool {
    return P(12u) == 0u || mask[b * P(1u) + t] != 0.0;
}

// Offset of row b (and step t) of a part of width w at offset P(part).
fn row_at(part: u32, b: u32, w: u32) -> u32 {
    return P(part) + b * w;
}
fn seq_at(part: u32, b: u32, t: u32, w: u32) -> u32 {
    return P(part) + (b * P(1u) + t) * w;
}

// sum over k of state[half + k] * kernel[k * gw + col], four k at a time.
fn state_times_kernel(half: u32, col: u32) -> f32 {
    let u = P(2u);
    let gw = P(3u);
    var acc = 0.0;
    var k = 0u;
    for (; k + 4u <= u; k += 4u) {
        acc += state[half + k] * kernel[k * gw + col] + state[half + k + 1u] * kernel[(k + 1u) * gw + col]
             + state[half + k + 2u] * kernel[(k + 2u) * gw + col] + state[half + k + 3u] * kernel[(k + 3u) * gw + col];
    }
    for (; k < u; k++) {
        acc += state[half + k] * kernel[k * gw + col];
    }
    return acc;
}

@compute @workgroup_size(64)
fn recurrent_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let b = wid.y * nwg.x + wid.x;
    let steps = P(1u);
    let u = P(2u);
    let gw = P(3u);
    let cell = P(4u);
    let act = P(5u);
    let gact = P(6u);
    // Rows past the batch run the loop without writing, so every barrier is reached.
    let live = b < P(0u);
    for (var j = lid; j < u; j += LANES) {
        var h = 0.0;
        var c = 0.0;
        if live {
            if P(9u) == 1u {
                h = h0[b * u + j];
            }
            if P(10u) == 1u {
                c = c0[b * u + j];
            }
            out[row_at(18u, b, u) + j] = 0.0;
            if cell == 1u {
                out[row_at(20u, b, u) + j] = c;
            }
        }
        state[j] = h;
    }
    workgroupBarrier();
    var half = 0u;
    for (var k = 0u; k < steps; k++) {
        let t = step_at(k);
        let next = UNITS_CAP - half;
        let valid = live && is_valid(b, t);
        for (var j = lid; j < u; j += LANES) {
            let prev = state[half + j];
            var h = prev;
            if live {
                out[seq_at(21u, b, t, u) + j] = prev;
            }
            if valid {
                let xrow = (b * steps + t) * gw;
                let g = seq_at(22u, b, t, gw);
                if cell == 0u {
                    h = activate(act, xw[xrow + j] + state_times_kernel(half, j));
                    out[g + j] = h;
                } else if cell == 1u {
                    let cp = out[row_at(20u, b, u) + j];
                    out[seq_at(23u, b, t, u) + j] = cp;
                    let i = activate(gact, xw[xrow + j] + state_times_kernel(half, j));
                    let f = activate(gact, xw[xrow + u + j] + state_times_kernel(half, u + j));
                    let cc = activate(act, xw[xrow + 2u * u + j] + state_times_kernel(half, 2u * u + j));
                    let o = activate(gact, xw[xrow + 3u * u + j] + state_times_kernel(half, 3u * u + j));
                    let cn = f * cp + i * cc;
                    out[g + j] = i;
                    out[g + u + j] = f;
                    out[g + 2u * u + j] = cc;
                    out[g + 3u * u + j] = o;
                    out[seq_at(24u, b, t, u) + j] = cn;
                    out[row_at(20u, b, u) + j] = cn;
                    h = o * activate(act, cn);
                } else {
                    var bz = 0.0;
                    var br = 0.0;
                    var bh = 0.0;
                    if P(11u) == 1u {
                        bz = rbias[j];
                        br = rbias[u + j];
                        bh = rbias[2u * u + j];
                    }
                    let rh = state_times_kernel(half, 2u * u + j) + bh;
                    let z = activate(gact, xw[xrow + j] + state_times_kernel(half, j) + bz);
                    let r = activate(gact, xw[xrow + u + j] + state_times_kernel(half, u + j) + br);
                    let hh = activate(act, xw[xrow + 2u * u + j] + r * rh);
                    out[g + j] = z;
                    out[g + u + j] = r;
                    out[g + 2u * u + j] = hh;
                    out[seq_at(24u, b, t, u) + j] = rh;
                    h = z * prev + (1.0 - z) * hh;
                }
                out[row_at(18u, b, u) + j] = h;
            }
            state[next + j] = h;
            if live && !valid && P(30u) == 1u {
                out[row_at(18u, b, u) + j] = 0.0;
            }
            if live {
                out[seq_at(17u, b, output_at(k), u) + j] = out[row_at(18u, b, u) + j];
            }
        }
        workgroupBarrier();
        half = next;
    }
    if live {
        for (var j = lid; j < u; j += LANES) {
            out[row_at(19u, b, u) + j] = state[half + j];
        }
    }
}

// sum over j of d_gates[j] * kernel[k * gw + j], four j at a time.
fn gates_times_kernel_row(k: u32) -> f32 {
    let gw = P(3u);
    var acc = 0.0;
    var j = 0u;
    for (; j + 4u <= gw; j += 4u) {
        acc += d_gates[j] * kernel[k * gw + j] + d_gates[j + 1u] * kernel[k * gw + j + 1u]
             + d_gates[j + 2u] * kernel[k * gw + j + 2u] + d_gates[j + 3u] * kernel[k * gw + j + 3u];
    }
    for (; j < gw; j++) {
        acc += d_gates[j] * kernel[k * gw + j];
    }
    return acc;
}

@compute @workgroup_size(64)
fn recurrent_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let b = wid.y * nwg.x + wid.x;
    let steps = P(1u);
    let u = P(2u);
    let gw = P(3u);
    let cell = P(4u);
    let act = P(5u);
    let gact = P(6u);
    let live = b < P(0u);
    // Scratch row: the carried output gradient, then dh * z (GRU).
    let scratch = row_at(29u, b, 3u * u);
    let ds = row_at(27u, b, u);
    let dc = row_at(28u, b, u);
    if live {
        for (var j = lid; j < u; j += LANES) {
            out[ds + j] = select(0.0, d_state[b * u + j], P(15u) == 1u);
            out[scratch + j] = select(0.0, d_last[b * u + j], P(14u) == 1u);
            if cell == 1u {
                out[dc + j] = select(0.0, d_cell[b * u + j], P(16u) == 1u);
            }
        }
    }
    for (var kk = 0u; kk < steps; kk++) {
        let k = steps - 1u - kk;
        let t = step_at(k);
        let valid = live && is_valid(b, t);
        let di = seq_at(25u, b, t, gw);
        let dr = seq_at(26u, b, t, gw);
        let g = seq_at(22u, b, t, gw);
        for (var j = lid; j < u; j += LANES) {
            if !live {
                continue;
            }
            if P(13u) == 1u {
                out[scratch + j] += d_outputs[(b * steps + output_at(k)) * u + j];
            }
            if !valid {
                if P(30u) == 1u {
                    out[scratch + j] = 0.0;
                }
                for (var q = 0u; q < gw / u; q++) {
                    out[di + q * u + j] = 0.0;
                    if cell == 2u {
                        out[dr + q * u + j] = 0.0;
                    }
                }
                continue;
            }
            let dh = out[scratch + j] + out[ds + j];
            out[scratch + j] = 0.0;
            if cell == 0u {
                let d = dh * derivative(act, saved[g + j]);
                out[di + j] = d;
                d_gates[j] = d;
            } else if cell == 1u {
                let i = saved[g + j];
                let f = saved[g + u + j];
                let cc = saved[g + 2u * u + j];
                let o = saved[g + 3u * u + j];
                let a = activate(act, saved[seq_at(24u, b, t, u) + j]);
                let dct = out[dc + j] + dh * o * derivative(act, a);
                let gi = dct * cc * derivative(gact, i);
                let gf = dct * saved[seq_at(23u, b, t, u) + j] * derivative(gact, f);
                let gc = dct * i * derivative(act, cc);
                let go = dh * a * derivative(gact, o);
                out[di + j] = gi;
                out[di + u + j] = gf;
                out[di + 2u * u + j] = gc;
                out[di + 3u * u + j] = go;
                d_gates[j] = gi;
                d_gates[u + j] = gf;
                d_gates[2u * u + j] = gc;
                d_gates[3u * u + j] = go;
                out[dc + j] = dct * f;
            } else {
                let z = saved[g + j];
                let r = saved[g + u + j];
                let hh = saved[g + 2u * u + j];
                let prev = saved[seq_at(21u, b, t, u) + j];
                let rh = saved[seq_at(24u, b, t, u) + j];
                let ghh = dh * (1.0 - z) * derivative(act, hh);
                let gz = dh * (prev - hh) * derivative(gact, z);
                let gr = ghh * rh * derivative(gact, r);
                out[di + j] = gz;
                out[di + u + j] = gr;
                out[di + 2u * u + j] = ghh;
                out[dr + j] = gz;
                out[dr + u + j] = gr;
                out[dr + 2u * u + j] = ghh * r;
                d_gates[j] = gz;
                d_gates[u + j] = gr;
                d_gates[2u * u + j] = ghh * r;
                out[scratch + u + j] = dh * z;
            }
        }
        workgroupBarrier();
        if valid {
            for (var j = lid; j < u; j += LANES) {
                var d = gates_times_kernel_row(j);
                if cell == 2u {
                    d += out[scratch + u + j];
                }
                out[ds + j] = d;
            }
        }
        workgroupBarrier();
    }
}
