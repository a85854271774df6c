//! 1-D and 2-D convolutions as implicit GEMMs (`shaders/conv.wgsl`): the forward pass, the
//! gradient with respect to the input and the one with respect to the kernel, each one product
//! whose left operand is read in place through the convolution's geometry. A 1-D convolution
//! is a 2-D one of height 1.

use super::*;
use crate::kernels::binding::conv::{A, B, OUT};
use crate::params::{ChunkSumParams, ConvParams};
use wgtrain_graph::Conv2dGeometry;

/// Depth of the k slices the tiled kernel stages (`BK` in the shader).
const BK: usize = 16;
/// Workgroups from which a product on a GPU is not split over k for parallelism.
const TARGET_GROUPS: usize = 128;
/// The shortest run of k a split leaves each workgroup.
const MIN_CHUNK: usize = 256;
/// The most partial values a split over k stages in scratch.
const MAX_PARTIALS: usize = 1 << 23;

/// The GEMM a convolution op computes: mode, (m, n, k) and the operand sizes.
struct Gemm {
    mode: u32,
    m: usize,
    n: usize,
    k: usize,
    cin: usize,
    cout: usize,
}

fn gemm_of(op: &Op, in0: &Shape, in1: &Shape) -> R<(Gemm, Conv2dGeometry)> {
    let (mode, geo) = match *op {
        Op::Conv1d(geo) => (0, Conv2dGeometry::of_1d(geo)),
        Op::Conv1dBackwardData(geo) => (1, Conv2dGeometry::of_1d(geo)),
        Op::Conv1dBackwardFilter(geo) => (2, Conv2dGeometry::of_1d(geo)),
        Op::Conv2d(geo) => (0, geo),
        Op::Conv2dBackwardData(geo) => (1, geo),
        Op::Conv2dBackwardFilter(geo) => (2, geo),
        _ => return Err(format!("{} is not a convolution", op.name())),
    };
    let batch = in0.0[0];
    let (cin, cout) = match mode {
        // (x, kernel [.., in, out]) and (dy, kernel)
        0 | 1 => (in1.0[in1.rank() - 2], in1.last()),
        // (x [.., in], dy [.., out])
        _ => (in0.last(), in1.last()),
    };
    let taps = geo.taps();
    let (m, n, k) = match mode {
        0 => (batch * geo.out_positions(), cout, taps * cin),
        1 => (batch * geo.in_positions(), cin, taps * cout),
        _ => (taps * cin, cout, batch * geo.out_positions()),
    };
    Ok((
        Gemm {
            mode,
            m,
            n,
            k,
            cin,
            cout,
        },
        geo,
    ))
}

/// The dispatches of a convolution node (`Conv1d`, `Conv2d` and their two gradients).
pub(super) fn lower(plan: &Plan, id: NodeId, tuning: Tuning) -> R<Vec<Dispatch>> {
    let graph = &plan.graph;
    let node = graph.node(id);
    let (gemm, geo) = gemm_of(
        &node.op,
        graph.shape(node.inputs[0]),
        graph.shape(node.inputs[1]),
    )?;
    let operands = [
        buf_of(plan, node.inputs[0]),
        buf_of(plan, node.inputs[1]),
        buf_of(plan, id),
    ];
    lower_gemm(&node.op.name(), &gemm, &geo, operands, tuning)
}

fn lower_gemm(
    what: &str,
    g: &Gemm,
    geo: &Conv2dGeometry,
    [a, b, out]: [Buf; 3],
    tuning: Tuning,
) -> R<Vec<Dispatch>> {
    let (m, n, k) = (g.m, g.n, g.k);
    if m * n == 0 {
        return Ok(Vec::new());
    }
    let direct = tuning.matmul_direct;
    let side = tuning.matmul_tile_side;
    // Rows of the block each invocation accumulates: at most 4 where invocations run on CPU
    // cores, where the loop over a taller block's implicit loads is not unrolled (and so
    // would count against llvmpipe's loop budget on every k).
    let (rm, rn) = if direct {
        (tuning.matmul_block.min(4), tuning.matmul_block)
    } else {
        (tuning.matmul_block, tuning.matmul_block)
    };
    let (tile_m, tile_n) = (side * rm, side * rn);
    let groups_x = n.div_ceil(tile_n);
    let groups_y = m.div_ceil(tile_m);
    if groups_x > MAX_GROUPS || groups_y > MAX_GROUPS {
        return Err(format!(
            "a {what} computing a {m} x {n} product needs more workgroups than one dispatch \
             allows"
        ));
    }
    // Loop trips of one invocation over a run of k: one per k directly; per BK-deep slice, the
    // staging loops and the slice's products when tiled.
    let per_slice = BK + BK * (tile_m + tile_n) / (side * side) + 2;
    let trips = |chunk: usize| {
        if direct {
            chunk + 16
        } else {
            (chunk / BK + 1) * per_slice + 8
        }
    };
    // The longest run of k that fits the adapter's loop budget.
    let longest = match tuning.loop_budget {
        Some(budget) if direct => (budget - 64) / BK * BK,
        Some(budget) => (budget / per_slice - 2) * BK,
        None => usize::MAX,
    };
    let wanted = if direct {
        1
    } else {
        (TARGET_GROUPS / (groups_x * groups_y))
            .min(k.div_ceil(MIN_CHUNK))
            .min(MAX_PARTIALS / (m * n))
            .max(1)
    };
    let mut chunks = wanted.max(k.div_ceil(longest)).max(1);
    let chunk = k.div_ceil(chunks).next_multiple_of(BK).max(BK);
    chunks = k.div_ceil(chunk).max(1);
    tuning.check_loops(&format!("a {what} summing {k} products"), trips(chunk))?;
    tuning.check_loops(
        &format!("a {what} summing {chunks} partial products"),
        chunks + 8,
    )?;
    if chunks > MAX_GROUPS {
        return Err(format!(
            "a {what} summing {k} products needs more workgroups than one dispatch allows"
        ));
    }
    let kernel = Kernel::new(
        Family::Conv,
        if direct {
            "conv_gemm_direct"
        } else {
            "conv_gemm"
        },
    )
    .with("CONV_MODE", format!("{}u", g.mode))
    .with("CONV_TS", format!("{side}u"))
    .with("CONV_RM", format!("{rm}u"))
    .with("CONV_RN", format!("{rn}u"));
    let params = ConvParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        k_chunk: chunk as u32,
        chunk_stride: (m * n) as u32,
        in_h: geo.rows.in_len as u32,
        in_w: geo.cols.in_len as u32,
        out_h: geo.rows.out_len as u32,
        out_w: geo.cols.out_len as u32,
        kw: geo.cols.kernel as u32,
        cin: g.cin as u32,
        cout: g.cout as u32,
        stride_h: geo.rows.stride as u32,
        stride_w: geo.cols.stride as u32,
        dil_h: geo.rows.dilation as u32,
        dil_w: geo.cols.dilation as u32,
        pad_top: geo.rows.pad_left as u32,
        pad_left: geo.cols.pad_left as u32,
    };
    let groups = [groups_x as u32, groups_y as u32, chunks as u32];
    if chunks == 1 {
        return Ok(vec![typed(
            kernel,
            vec![(A, a), (B, b), (OUT, out)],
            params,
            groups,
        )]);
    }
    let partials = Buf::Scratch {
        offset: 0,
        len: chunks * m * n,
    };
    Ok(vec![
        typed(
            kernel,
            vec![(A, a), (B, b), (OUT, partials)],
            params,
            groups,
        ),
        typed(
            Kernel::new(Family::Conv, "conv_sum_chunks"),
            vec![(A, partials), (OUT, out)],
            ChunkSumParams {
                n: (m * n) as u32,
                chunks: chunks as u32,
            },
            per_element(m * n, 256)?,
        ),
    ])
}
