// out = op(a) @ op(b), batched over workgroup z. Each workgroup computes a BM x BN tile from
// BK-deep slices of a and b staged in workgroup memory; each invocation accumulates an RM x RN
// block in registers. Transposed operands are read in place: tiles are loaded in runs of 4 along
// each operand's contiguous axis, as one vec4 load where that axis is a multiple of 4 long, so
// neighbouring invocations read neighbouring addresses.
// params: 0 M, 1 N, 2 K, 3 batch stride of a, 4 batch stride of b (0: shared), 5 of out.
// TILE_SIDE, REG_M, REG_N, TRANSPOSE_A, TRANSPOSE_B and the run loads (four scalar loads, or
// one vec4 load from a4 / b4) are substituted when the pipeline is built.

const TS: u32 = TILE_SIDE;
const RM: u32 = REG_M;
const RN: u32 = REG_N;
const BM: u32 = TS * RM;
const BN: u32 = TS * RN;
const BK: u32 = 16u;
const THREADS: u32 = TS * TS;

@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> a_tile: array<f32, BK * BM>;
var<workgroup> b_tile: array<f32, BK * BN>;

// Four values along the contiguous axis of a row-major operand with `cols` columns and `rows`
// rows, from (row, col); zero outside it.
fn run_of_a(base: u32, row: u32, col: u32, rows: u32, cols: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if row >= rows || col >= cols {
        return v;
    }
    let at = base + row * cols + col;
    LOAD_A_RUN
    return v;
}

fn run_of_b(base: u32, row: u32, col: u32, rows: u32, cols: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if row >= rows || col >= cols {
        return v;
    }
    let at = base + row * cols + col;
    LOAD_B_RUN
    return v;
}

@group(0) @binding(1) var<storage, read_write> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> b4: array<vec4<f32>>;

@compute @workgroup_size(TS, TS)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let M = P(0u);
    let N = P(1u);
    let K = P(2u);
    let a_base = wid.z * P(3u);
    let b_base = wid.z * P(4u);
    let o_base = wid.z * P(5u);
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let tx = lid3.x;
    let ty = lid3.y;

    var acc: array<array<f32, RN>, RM>;
    for (var i = 0u; i < RM; i++) {
        for (var j = 0u; j < RN; j++) {
            acc[i][j] = 0.0;
        }
    }

    for (var k0 = 0u; k0 < K; k0 += BK) {
        // a's tile, BK x BM, in runs of 4 along a's contiguous axis (m when transposed, else k).
        for (var e = lid; e < BK * BM / 4u; e += THREADS) {
            if TRANSPOSE_A {
                let k = e / (BM / 4u);
                let m = (e % (BM / 4u)) * 4u;
                let v = run_of_a(a_base, k0 + k, row0 + m, K, M);
                for (var j = 0u; j < 4u; j++) {
                    a_tile[k * BM + m + j] = v[j];
                }
            } else {
                let m = e / (BK / 4u);
                let k = (e % (BK / 4u)) * 4u;
                let v = run_of_a(a_base, row0 + m, k0 + k, M, K);
                for (var j = 0u; j < 4u; j++) {
                    a_tile[(k + j) * BM + m] = v[j];
                }
            }
        }
        // b's tile, BK x BN, in runs of 4 along b's contiguous axis (k when transposed, else n).
        for (var e = lid; e < BK * BN / 4u; e += THREADS) {
            if TRANSPOSE_B {
                let n = e / (BK / 4u);
                let k = (e % (BK / 4u)) * 4u;
                let v = run_of_b(b_base, col0 + n, k0 + k, N, K);
                for (var j = 0u; j < 4u; j++) {
                    b_tile[(k + j) * BN + n] = v[j];
                }
            } else {
                let k = e / (BN / 4u);
                let n = (e % (BN / 4u)) * 4u;
                let v = run_of_b(b_base, k0 + k, col0 + n, K, N);
                for (var j = 0u; j < 4u; j++) {
                    b_tile[k * BN + n + j] = v[j];
                }
            }
        }
        workgroupBarrier();

        for (var k = 0u; k < BK; k++) {
            var av: array<f32, RM>;
            var bv: array<f32, RN>;
            for (var i = 0u; i < RM; i++) {
                av[i] = a_tile[k * BM + ty + i * TS];
            }
            for (var j = 0u; j < RN; j++) {
                bv[j] = b_tile[k * BN + tx + j * TS];
            }
            for (var i = 0u; i < RM; i++) {
                for (var j = 0u; j < RN; j++) {
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < RM; i++) {
        let r = row0 + ty + i * TS;
        if r < M {
            for (var j = 0u; j < RN; j++) {
                let c = col0 + tx + j * TS;
                if c < N {
                    out[o_base + r * N + c] = acc[i][j];
                }
            }
        }
    }
}

// The same product without workgroup memory or barriers, for adapters that run invocations on
// CPU cores (whose caches do the staging): each invocation reads its operands directly.
@compute @workgroup_size(TS, TS)
fn matmul_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let M = P(0u);
    let N = P(1u);
    let K = P(2u);
    let a_base = wid.z * P(3u);
    let b_base = wid.z * P(4u);
    let o_base = wid.z * P(5u);
    var rows: array<u32, RM>;
    var cols: array<u32, RN>;
    for (var i = 0u; i < RM; i++) {
        rows[i] = min(wid.y * BM + lid3.y + i * TS, M - 1u);
    }
    for (var j = 0u; j < RN; j++) {
        cols[j] = min(wid.x * BN + lid3.x + j * TS, N - 1u);
    }
    var acc: array<array<f32, RN>, RM>;
    for (var k = 0u; k < K; k++) {
        var av: array<f32, RM>;
        var bv: array<f32, RN>;
        for (var i = 0u; i < RM; i++) {
            if TRANSPOSE_A {
                av[i] = a[a_base + k * M + rows[i]];
            } else {
                av[i] = a[a_base + rows[i] * K + k];
            }
        }
        for (var j = 0u; j < RN; j++) {
            if TRANSPOSE_B {
                bv[j] = b[b_base + cols[j] * K + k];
            } else {
                bv[j] = b[b_base + k * N + cols[j]];
            }
        }
        for (var i = 0u; i < RM; i++) {
            for (var j = 0u; j < RN; j++) {
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
            }
        }
    }
    for (var i = 0u; i < RM; i++) {
        let r = wid.y * BM + lid3.y + i * TS;
        for (var j = 0u; j < RN; j++) {
            let c = wid.x * BN + lid3.x + j * TS;
            if r < M && c < N {
                out[o_base + r * N + c] = acc[i][j];
            }
        }
    }
}
