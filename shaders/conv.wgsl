// 1-D convolutions over channels-last tensors as implicit GEMMs: out (m x n) = A (m x k) @
// B (k x n), where the A operand's values are read in place from the input (or output
// gradient) through the convolution's geometry, with no im2col buffer. Output t, tap j reads
// input t * stride + j * dilation - pad_left; the kernel is [taps, in, out].
//
//   CONV_MODE 0, forward:         m = batch * out_len, k = taps * in,  n = out
//       A[(b, t), (j, ci)] = x[b, t*s + j*d - pad, ci] (0 outside), B = kernel as [k, n]
//   CONV_MODE 1, backward data:   m = batch * in_len,  k = taps * out, n = in
//       A[(b, i), (j, co)] = dy[b, t, co] where t*s + j*d - pad == i (0 where no t does),
//       B[(j, co), ci] = kernel[j, ci, co]
//   CONV_MODE 2, backward filter: m = taps * in,       k = batch * out_len, n = out
//       A[(j, ci), (b, t)] = x[b, t*s + j*d - pad, ci], B = dy as [k, n]
//
// Workgroup z sums k over its chunk (`ConvParams` in crates/wgtrain-gpu/src/params.rs); with
// more than one chunk the partial products go to scratch and `conv_sum_chunks` adds them in
// chunk order, so every result is formed in one fixed order: the same bits every run.
// CONV_MODE, CONV_TS (invocations per side), CONV_RM and CONV_RN (the block each invocation
// accumulates) are substituted when the pipeline is built.
// Bindings: `binding::conv` in crates/wgtrain-gpu/src/kernels.rs.

struct ConvParams {
    m: u32,
    n: u32,
    k: u32,
    k_chunk: u32,
    chunk_stride: u32,
    in_len: u32,
    out_len: u32,
    cin: u32,
    cout: u32,
    stride: u32,
    dilation: u32,
    pad_left: u32,
}

struct ChunkSumParams {
    n: u32,
    chunks: u32,
}

const MODE: u32 = CONV_MODE;
const TS: u32 = CONV_TS;
const RM: u32 = CONV_RM;
const RN: u32 = CONV_RN;
const BM: u32 = TS * RM;
const BN: u32 = TS * RN;
const BK: u32 = 16u;
const THREADS: u32 = TS * TS;
// What a result whose loop an adapter cut short reads (llvmpipe ends an invocation's loops
// past its iteration limit): NaN, never a wrong number.
fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

@group(0) @binding(0) var<uniform> cfg: ConvParams;
@group(0) @binding(0) var<uniform> sum_cfg: ChunkSumParams;
// x (modes 0 and 2) or dy (mode 1); the partial products for `conv_sum_chunks`.
@group(0) @binding(1) var<storage, read_write> a_src: array<f32>;
// The kernel (modes 0 and 1) or dy (mode 2).
@group(0) @binding(2) var<storage, read_write> b_src: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> a_tile: array<f32, BK * BM>;
var<workgroup> b_tile: array<f32, BK * BN>;

// The row half of an A address: (offset, position), added to the k half's (`a_col`).
fn a_row(r: u32) -> vec2<i32> {
    if MODE == 0u {
        let b = r / cfg.out_len;
        let t = r - b * cfg.out_len;
        return vec2<i32>(i32(b * cfg.in_len * cfg.cin), i32(t * cfg.stride) - i32(cfg.pad_left));
    } else if MODE == 1u {
        let b = r / cfg.in_len;
        let i = r - b * cfg.in_len;
        return vec2<i32>(i32(b * cfg.out_len * cfg.cout), i32(i + cfg.pad_left));
    }
    let j = r / cfg.cin;
    let ci = r - j * cfg.cin;
    return vec2<i32>(i32(ci), i32(j * cfg.dilation) - i32(cfg.pad_left));
}

fn a_col(k: u32) -> vec2<i32> {
    if MODE == 0u {
        let j = k / cfg.cin;
        return vec2<i32>(i32(k - j * cfg.cin), i32(j * cfg.dilation));
    } else if MODE == 1u {
        let j = k / cfg.cout;
        return vec2<i32>(i32(k - j * cfg.cout), -i32(j * cfg.dilation));
    }
    let b = k / cfg.out_len;
    let t = k - b * cfg.out_len;
    return vec2<i32>(i32(b * cfg.in_len * cfg.cin), i32(t * cfg.stride));
}

// A at (row, k) from the halves of its address; 0 where the tap falls outside the input.
// Branch-free: the load is always made, at a clamped position, so loops around it unroll.
fn a_value(row: vec2<i32>, col: vec2<i32>) -> f32 {
    let p = row.y + col.y;
    let base = u32(row.x + col.x);
    if MODE == 1u {
        // p = i + pad - j*d: the output position times the stride, when one reads input i.
        let s = cfg.stride;
        let q = u32(max(p, 0));
        let t = q / s;
        let inside = p >= 0 && q == t * s && t < cfg.out_len;
        let v = a_src[base + min(t, cfg.out_len - 1u) * cfg.cout];
        return select(0.0, v, inside);
    }
    let inside = p >= 0 && p < i32(cfg.in_len);
    let v = a_src[base + u32(clamp(p, 0, i32(cfg.in_len) - 1)) * cfg.cin];
    return select(0.0, v, inside);
}

// Where B's row k starts, and the step between its columns.
fn b_row(k: u32) -> u32 {
    if MODE == 1u {
        let j = k / cfg.cout;
        return j * cfg.cin * cfg.cout + (k - j * cfg.cout);
    }
    return k * cfg.n;
}

fn b_col_step() -> u32 {
    if MODE == 1u {
        return cfg.cout;
    }
    return 1u;
}

// Workgroup-memory tiles (GPUs): each workgroup computes a BM x BN tile from BK-deep slices of
// A and B staged by all its invocations, each invocation an RM x RN block.
@compute @workgroup_size(TS, TS)
fn conv_gemm(@builtin(workgroup_id) wid: vec3<u32>,
             @builtin(local_invocation_id) lid3: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let M = cfg.m;
    let N = cfg.n;
    let k_lo = wid.z * cfg.k_chunk;
    let k_hi = min(k_lo + cfg.k_chunk, cfg.k);
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let step = b_col_step();
    var acc: array<array<f32, RN>, RM>;
    var k0 = k_lo;
    for (; k0 < k_hi; k0 += BK) {
        // Neighbouring invocations load along the axis that is contiguous in memory: k for
        // the input rows of modes 0 and 1, the input channel (m) for mode 2.
        for (var e = lid; e < BK * BM; e += THREADS) {
            var m = e / BK;
            var k = e % BK;
            if MODE == 2u {
                k = e / BM;
                m = e % BM;
            }
            var v = 0.0;
            if row0 + m < M && k0 + k < k_hi {
                v = a_value(a_row(row0 + m), a_col(k0 + k));
            }
            a_tile[k * BM + m] = v;
        }
        for (var e = lid; e < BK * BN; e += THREADS) {
            var k = e / BN;
            var n = e % BN;
            if MODE == 1u {
                n = e / BK;
                k = e % BK;
            }
            var v = 0.0;
            if col0 + n < N && k0 + k < k_hi {
                v = b_src[b_row(k0 + k) + (col0 + n) * step];
            }
            b_tile[k * BN + n] = v;
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            var av: array<f32, RM>;
            var bv: array<f32, RN>;
            for (var i = 0u; i < RM; i++) {
                av[i] = a_tile[k * BM + lid3.y + i * TS];
            }
            for (var j = 0u; j < RN; j++) {
                bv[j] = b_tile[k * BN + lid3.x + j * TS];
            }
            for (var i = 0u; i < RM; i++) {
                for (var j = 0u; j < RN; j++) {
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }
    let cut = k0 < k_hi;
    let o_base = wid.z * cfg.chunk_stride;
    for (var i = 0u; i < RM; i++) {
        let r = row0 + lid3.y + i * TS;
        for (var j = 0u; j < RN; j++) {
            let c = col0 + lid3.x + j * TS;
            if r < M && c < N {
                out[o_base + r * N + c] = select(acc[i][j], nan(), cut);
            }
        }
    }
}

// The same product without workgroup memory or barriers, for adapters that run invocations on
// CPU cores: each invocation reads its operands directly, the row halves of its A addresses
// worked out once.
@compute @workgroup_size(TS, TS)
fn conv_gemm_direct(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(local_invocation_id) lid3: vec3<u32>) {
    let M = cfg.m;
    let N = cfg.n;
    let k_lo = wid.z * cfg.k_chunk;
    let k_hi = min(k_lo + cfg.k_chunk, cfg.k);
    let step = b_col_step();
    var rows: array<vec2<i32>, RM>;
    var cols: array<u32, RN>;
    for (var i = 0u; i < RM; i++) {
        rows[i] = a_row(min(wid.y * BM + lid3.y + i * TS, M - 1u));
    }
    for (var j = 0u; j < RN; j++) {
        cols[j] = min(wid.x * BN + lid3.x + j * TS, N - 1u) * step;
    }
    var acc: array<array<f32, RN>, RM>;
    var k = k_lo;
    for (; k < k_hi; k++) {
        let col = a_col(k);
        let b_at = b_row(k);
        var av: array<f32, RM>;
        var bv: array<f32, RN>;
        for (var i = 0u; i < RM; i++) {
            av[i] = a_value(rows[i], col);
        }
        for (var j = 0u; j < RN; j++) {
            bv[j] = b_src[b_at + cols[j]];
        }
        for (var i = 0u; i < RM; i++) {
            for (var j = 0u; j < RN; j++) {
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
            }
        }
    }
    let cut = k < k_hi;
    let o_base = wid.z * cfg.chunk_stride;
    for (var i = 0u; i < RM; i++) {
        let r = wid.y * BM + lid3.y + i * TS;
        for (var j = 0u; j < RN; j++) {
            let c = wid.x * BN + lid3.x + j * TS;
            if r < M && c < N {
                out[o_base + r * N + c] = select(acc[i][j], nan(), cut);
            }
        }
    }
}

// out[i] = partial[i] + partial[n + i] + ... over the chunks, in chunk order.
@compute @workgroup_size(256)
fn conv_sum_chunks(@builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    let n = sum_cfg.n;
    if i >= n {
        return;
    }
    var acc = 0.0;
    for (var c = 0u; c < sum_cfg.chunks; c++) {
        acc += a_src[c * n + i];
    }
    out[i] = acc;
}
