// 2-D max and average pooling over channels-last images (`Op::Pool2d`, `Op::Pool2dGrad`): one
// invocation per output value forward, one per input value for the gradient, which gathers from
// the windows that cover it (no atomics: every value is summed in one fixed order). Output
// (y, x), tap (i, j) reads input (y * stride_h + i - pad_top, x * stride_w + j - pad_left);
// padding never enters a window. A maximum's gradient goes to the window's first maximum in
// tap order.
// Bindings: `binding::pool` in crates/wgtrain-gpu/src/kernels.rs.

struct PoolParams {
    // Values computed: outputs (forward) or inputs (gradients).
    n: u32,
    channels: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kh: u32,
    kw: u32,
    stride_h: u32,
    stride_w: u32,
    pad_top: u32,
    pad_left: u32,
    // 0: maximum, 1: mean.
    average: u32,
}

@group(0) @binding(0) var<uniform> cfg: PoolParams;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// The inside rows (or columns) of window `o` along an axis: [lo, hi).
fn span(o: u32, stride: u32, pad: u32, k: u32, size: u32) -> vec2<u32> {
    let start = i32(o * stride) - i32(pad);
    let lo = u32(max(start, 0));
    let hi = u32(clamp(start + i32(k), 0, i32(size)));
    return vec2<u32>(lo, max(lo, hi));
}

struct Window {
    rows: vec2<u32>,
    cols: vec2<u32>,
}

fn window(oy: u32, ox: u32) -> Window {
    return Window(
        span(oy, cfg.stride_h, cfg.pad_top, cfg.kh, cfg.in_h),
        span(ox, cfg.stride_w, cfg.pad_left, cfg.kw, cfg.in_w),
    );
}

// The max or mean of channel `ch` of window `w` of image `b`; for a max, also the flat input
// position of its first maximum.
fn pool_of(b: u32, w: Window, ch: u32) -> vec2<f32> {
    let base = b * cfg.in_h * cfg.in_w;
    var best = bitcast<f32>(0xff800000u);
    var at = 0u;
    var total = 0.0;
    for (var r = w.rows.x; r < w.rows.y; r++) {
        for (var c = w.cols.x; c < w.cols.y; c++) {
            let p = r * cfg.in_w + c;
            let v = x[(base + p) * cfg.channels + ch];
            total += v;
            if v > best {
                best = v;
                at = p;
            }
        }
    }
    if cfg.average == 1u {
        let count = (w.rows.y - w.rows.x) * (w.cols.y - w.cols.x);
        return vec2<f32>(total / f32(count), 0.0);
    }
    return vec2<f32>(best, bitcast<f32>(at));
}

@compute @workgroup_size(64)
fn pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 64u);
    if i >= cfg.n {
        return;
    }
    let ch = i % cfg.channels;
    let o = i / cfg.channels;
    let outs = cfg.out_h * cfg.out_w;
    let b = o / outs;
    let oy = (o % outs) / cfg.out_w;
    let ox = o % cfg.out_w;
    out[i] = pool_of(b, window(oy, ox), ch).x;
}

// The outputs along an axis whose windows cover input position `p`: [lo, hi).
fn covering(p: u32, stride: u32, pad: u32, k: u32, outs: u32) -> vec2<u32> {
    // o * stride - pad <= p < o * stride - pad + k
    let q = i32(p + pad);
    let lo = u32(max(q - i32(k) + i32(stride), 0)) / stride;
    let hi = min(u32(q) / stride + 1u, outs);
    return vec2<u32>(lo, max(lo, hi));
}

// Input value i's place: (image, flat position, channel) and the outputs whose windows
// cover it along each axis.
struct Covered {
    b: u32,
    p: u32,
    ch: u32,
    rows: vec2<u32>,
    cols: vec2<u32>,
}

fn covered(i: u32) -> Covered {
    let ins = cfg.in_h * cfg.in_w;
    let at = i / cfg.channels;
    let p = at % ins;
    let rows = covering(p / cfg.in_w, cfg.stride_h, cfg.pad_top, cfg.kh, cfg.out_h);
    let cols = covering(p % cfg.in_w, cfg.stride_w, cfg.pad_left, cfg.kw, cfg.out_w);
    return Covered(at / ins, p, i % cfg.channels, rows, cols);
}

fn dy_at(b: u32, oy: u32, ox: u32, ch: u32) -> f32 {
    return dy[((b * cfg.out_h + oy) * cfg.out_w + ox) * cfg.channels + ch];
}

// Each covering window's dy over its count of inside positions.
@compute @workgroup_size(64)
fn pool2d_grad_mean(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 64u);
    if i >= cfg.n {
        return;
    }
    let c = covered(i);
    var total = 0.0;
    for (var oy = c.rows.x; oy < c.rows.y; oy++) {
        for (var ox = c.cols.x; ox < c.cols.y; ox++) {
            let w = window(oy, ox);
            let count = (w.rows.y - w.rows.x) * (w.cols.y - w.cols.x);
            total += dy_at(c.b, oy, ox, c.ch) / f32(count);
        }
    }
    out[i] = total;
}

// The dy of each covering window whose first maximum this value is.
@compute @workgroup_size(64)
fn pool2d_grad_max(@builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 64u);
    if i >= cfg.n {
        return;
    }
    let c = covered(i);
    var total = 0.0;
    for (var oy = c.rows.x; oy < c.rows.y; oy++) {
        for (var ox = c.cols.x; ox < c.cols.y; ox++) {
            if bitcast<u32>(pool_of(c.b, window(oy, ox), c.ch).y) == c.p {
                total += dy_at(c.b, oy, ox, c.ch);
            }
        }
    }
    out[i] = total;
}
