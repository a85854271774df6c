// 2-D convolutions over channels-last images as implicit GEMMs: out (m x n) = A (m x k) @
// B (k x n), where the A operand's values are read in place from the input (or output
// gradient) through the convolution's geometry, with no im2col buffer. A 1-D convolution is
// one of height 1. Output (y, x), tap (i, j) reads input (y * stride_h + i * dil_h - pad_top,
// x * stride_w + j * dil_w - pad_left); taps t = i * kw + j; the kernel is [taps, in, out].
//
//   CONV_MODE 0, forward:         m = batch * out positions, k = taps * in,  n = out
//       A[(b, o), (t, ci)] = x[b, input of o at t, ci] (0 in the padding), B = kernel as [k, n]
//   CONV_MODE 1, backward data:   m = batch * in positions,  k = taps * out, n = in
//       A[(b, p), (t, co)] = dy[b, o, co] where o reads p at t (0 where no o does),
//       B[(t, co), ci] = kernel[t, ci, co]
//   CONV_MODE 2, backward filter: m = taps * in,       k = batch * out positions, n = out
//       A[(t, ci), (b, o)] = x[b, input of o at t, ci], B = dy as [k, n]
//
// An A address is a row half and a k half, each (offset, y, x), added (`a_value`).
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
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kw: u32,
    cin: u32,
    cout: u32,
    stride_h: u32,
    stride_w: u32,
    dil_h: u32,
    dil_w: u32,
    pad_top: u32,
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

// (y, x) of position `p` of an image `w` wide.
fn yx(p: u32, w: u32) -> vec2<i32> {
    let y = p / w;
    return vec2<i32>(i32(y), i32(p - y * w));
}

// (i * dil_h, j * dil_w) of tap `t`.
fn tap_offset(t: u32) -> vec2<i32> {
    let at = yx(t, cfg.kw);
    return at * vec2<i32>(i32(cfg.dil_h), i32(cfg.dil_w));
}

fn pads() -> vec2<i32> {
    return vec2<i32>(i32(cfg.pad_top), i32(cfg.pad_left));
}

fn strides() -> vec2<i32> {
    return vec2<i32>(i32(cfg.stride_h), i32(cfg.stride_w));
}

// The row half of an A address: (offset, y, x), added to the k half's (`a_col`).
fn a_row(r: u32) -> vec3<i32> {
    let outs = cfg.out_h * cfg.out_w;
    let ins = cfg.in_h * cfg.in_w;
    if MODE == 0u {
        let b = r / outs;
        let at = yx(r - b * outs, cfg.out_w) * strides() - pads();
        return vec3<i32>(i32(b * ins * cfg.cin), at);
    } else if MODE == 1u {
        let b = r / ins;
        let at = yx(r - b * ins, cfg.in_w) + pads();
        return vec3<i32>(i32(b * outs * cfg.cout), at);
    }
    let t = r / cfg.cin;
    return vec3<i32>(i32(r - t * cfg.cin), tap_offset(t) - pads());
}

fn a_col(k: u32) -> vec3<i32> {
    if MODE == 0u {
        let t = k / cfg.cin;
        return vec3<i32>(i32(k - t * cfg.cin), tap_offset(t));
    } else if MODE == 1u {
        let t = k / cfg.cout;
        return vec3<i32>(i32(k - t * cfg.cout), -tap_offset(t));
    }
    let outs = cfg.out_h * cfg.out_w;
    let b = k / outs;
    let at = yx(k - b * outs, cfg.out_w) * strides();
    return vec3<i32>(i32(b * cfg.in_h * cfg.in_w * cfg.cin), at);
}

// A at (row, k) from the halves of its address; 0 where the tap falls outside the input.
// Branch-free: the load is always made, at a clamped position, so loops around it unroll.
fn a_value(row: vec3<i32>, col: vec3<i32>) -> f32 {
    let p = row.yz + col.yz;
    let base = u32(row.x + col.x);
    if MODE == 1u {
        // p = input + pad - tap offset: the output position times the stride, when one reads
        // this input.
        let s = vec2<u32>(cfg.stride_h, cfg.stride_w);
        let q = vec2<u32>(max(p, vec2<i32>(0)));
        let t = q / s;
        let inside = all(p >= vec2<i32>(0)) && all(q == t * s) && t.x < cfg.out_h
            && t.y < cfg.out_w;
        let at = min(t, vec2<u32>(cfg.out_h - 1u, cfg.out_w - 1u));
        let v = a_src[base + (at.x * cfg.out_w + at.y) * cfg.cout];
        return select(0.0, v, inside);
    }
    let size = vec2<i32>(i32(cfg.in_h), i32(cfg.in_w));
    let inside = all(p >= vec2<i32>(0)) && all(p < size);
    let at = clamp(p, vec2<i32>(0), size - vec2<i32>(1));
    let v = a_src[base + u32(at.x * size.y + at.y) * cfg.cin];
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
    var rows: array<vec3<i32>, RM>;
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
