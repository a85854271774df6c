//! Matmul dispatches: tile and block sizes, vec4 loads, batching.

use super::*;

/// A run of four values of a matmul operand read as scalars (`run_of_a` in `shaders/matmul.wgsl`).
pub const SCALAR_RUN_A: &str =
    "for (var j = 0u; j < 4u; j++) { if col + j < cols { v[j] = a[at + j]; } }";

pub const SCALAR_RUN_B: &str =
    "for (var j = 0u; j < 4u; j++) { if col + j < cols { v[j] = b[at + j]; } }";

/// Output values from which a matmul uses `Tuning::matmul_large_block`.
pub const LARGE_MATMUL: usize = 512 * 512;

pub(super) fn lower_matmul(
    sa: &Shape,
    sb: &Shape,
    ta: bool,
    tb: bool,
    [a, b, out]: [Buf; 3],
    tuning: Tuning,
) -> R<Vec<Dispatch>> {
    let (ra, rb) = (sa.rank(), sb.rank());
    let (ar, ac) = (sa.0[ra - 2], sa.0[ra - 1]);
    let (br, bc) = (sb.0[rb - 2], sb.0[rb - 1]);
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let n = if tb { br } else { bc };
    let per_a = sa.numel() / (ar * ac).max(1);
    // A 2-D right operand shared by every batch: untransposed batches fold into rows.
    let (batches, m, a_step, b_step) = match (rb == 2, ta) {
        (true, false) => (1, per_a * m, 0, 0),
        (true, true) => (per_a, m, ar * ac, 0),
        (false, _) => (per_a, m, ar * ac, br * bc),
    };
    let trips = if tuning.matmul_direct {
        k + 16
    } else {
        (k / 16 + 1) * 25
    };
    tuning.check_loops(&format!("a matmul with inner size {k}"), trips)?;
    let block = if m * n >= LARGE_MATMUL {
        tuning.matmul_large_block
    } else {
        tuning.matmul_block
    };
    let tile = tuning.matmul_tile_side * block;
    let groups = [n.div_ceil(tile), m.div_ceil(tile), batches];
    if groups.iter().any(|&g| g > MAX_GROUPS) {
        return Err(format!(
            "a {m}x{k} @ {k}x{n} matmul over {batches} batches needs more workgroups than one \
             dispatch allows"
        ));
    }
    Ok(vec![dispatch(
        Kernel::new(
            Family::Matmul,
            if tuning.matmul_direct {
                "matmul_direct"
            } else {
                "matmul"
            },
        )
        .with("TILE_SIDE", format!("{}u", tuning.matmul_tile_side))
        // vec4 loads need the contiguous axis, and so every run's start, a multiple of 4.
        .with(
            "LOAD_A_RUN",
            if (if ta { m } else { k }) % 4 == 0 && a_step % 4 == 0 {
                "return a4[at / 4u];"
            } else {
                SCALAR_RUN_A
            },
        )
        .with(
            "LOAD_B_RUN",
            if (if tb { k } else { n }) % 4 == 0 && b_step % 4 == 0 {
                "return b4[at / 4u];"
            } else {
                SCALAR_RUN_B
            },
        )
        .with("REG_M", format!("{block}u"))
        .with("REG_N", format!("{block}u"))
        .with("TRANSPOSE_A", ta.to_string())
        .with("TRANSPOSE_B", tb.to_string()),
        vec![(1, a), (2, b), (3, out)],
        Builder::new().u(m).u(n).u(k).u(a_step).u(b_step).u(m * n),
        groups.map(|g| g.max(1) as u32),
    )])
}
