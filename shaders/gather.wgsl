// Int32 ids: row gathers (Embedding), their deterministic scatter-add (its gradient) and casts.
// The arena is bound as f32 storage; an int32 value is the bits of its word, read with
// bitcast<i32> and written with bitcast<f32>, never converted.
// Bindings: `binding::gather` in crates/wgtrain-gpu/src/kernels.rs.

struct GatherParams {
    n: u32,
    width: u32,
    rows: u32,
}

struct ScatterParams {
    width: u32,
    rows: u32,
    block_rows: u32,
    invocations: u32,
    first: u32,
    end: u32,
    zero: u32,
}

struct CastParams {
    n: u32,
}

@group(0) @binding(0) var<uniform> gather_cfg: GatherParams;
@group(0) @binding(0) var<uniform> scatter_cfg: ScatterParams;
@group(0) @binding(0) var<uniform> cast_cfg: CastParams;

// The table (gather), the values (scatter) or the tensor to convert (cast).
@group(0) @binding(1) var<storage, read_write> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// The row an id names, or `rows` (no row) when it lies outside 0..rows.
fn row_of(p: u32, rows: u32) -> u32 {
    let id = bitcast<i32>(ids[p]);
    if id < 0 || u32(id) >= rows {
        return rows;
    }
    return u32(id);
}

// dst[p, c] = src[ids[p], c], zeros for an id outside the table: one invocation per value.
@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i >= gather_cfg.n {
        return;
    }
    let width = gather_cfg.width;
    let p = i / width;
    let c = i - p * width;
    let r = row_of(p, gather_cfg.rows);
    var v = 0.0;
    if r < gather_cfg.rows {
        v = src[r * width + c];
    }
    dst[i] = v;
}

// dst[ids[p], c] += src[p, c] for p in first..end, in ascending order, without atomics: each
// invocation owns one column of a block of block_rows rows, walks the positions in order and
// adds those whose id falls in its block, so every sum is formed in the CPU's order and comes
// out the same bits every run. The first dispatch of a scatter zeroes the block first; later
// ones (positions split to keep loops short) continue the sums.
@compute @workgroup_size(64)
fn scatter_add_rows(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let g = flat_id(wid, nwg, lid, 64u);
    if g >= scatter_cfg.invocations {
        return;
    }
    let width = scatter_cfg.width;
    let rows = scatter_cfg.rows;
    let block = g / width;
    let c = g - block * width;
    let lo = block * scatter_cfg.block_rows;
    let hi = min(lo + scatter_cfg.block_rows, rows);
    if scatter_cfg.zero != 0u {
        for (var r = lo; r < hi; r++) {
            dst[r * width + c] = 0.0;
        }
    }
    var p = scatter_cfg.first;
    for (; p < scatter_cfg.end; p++) {
        let r = row_of(p, rows);
        if r >= lo && r < hi {
            dst[r * width + c] += src[p * width + c];
        }
    }
    // A walk an adapter cut short (llvmpipe ends an invocation's loops past its iteration
    // limit) leaves NaN in the block, never a wrong sum.
    if p < scatter_cfg.end && lo < hi {
        dst[lo * width + c] = bitcast<f32>(0x7fc00000u);
    }
}

// Element type conversion; CAST_EXPR (of v, the input word) is substituted per direction:
// int32 to float32 exactly, float32 to int32 toward zero (clamped to the int32 range).
@compute @workgroup_size(256)
fn cast_values(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = flat_id(wid, nwg, lid, 256u);
    if i < cast_cfg.n {
        let v = src[i];
        dst[i] = CAST_EXPR;
    }
}
