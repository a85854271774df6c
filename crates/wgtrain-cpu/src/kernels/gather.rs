//! Row gathers by int32 ids (Embedding) and their deterministic scatter-add (its gradient).

use crate::touched_rows::Touched;
use wgtrain_graph::DType;

fn id_at(ids: &[f32], p: usize) -> i32 {
    ids[p].to_bits() as i32
}

/// out[p, :] = table[ids[p], :]; an id outside the table gives zeros.
pub fn gather(table: &[f32], ids: &[f32], out: &mut [f32], width: usize) {
    let rows = table.len() / width;
    for (p, o) in out.chunks_exact_mut(width).enumerate() {
        match usize::try_from(id_at(ids, p)) {
            Ok(r) if r < rows => o.copy_from_slice(&table[r * width..(r + 1) * width]),
            _ => o.fill(0.0),
        }
    }
}

/// out[ids[p], :] += values[p, :] for p in ascending order; ids outside the table are skipped.
pub fn scatter_add_rows(values: &[f32], ids: &[f32], out: &mut [f32], width: usize) {
    out.fill(0.0);
    scatter(values, ids, out, width, |_| false);
}

/// `scatter_add_rows` that writes only the rows its ids name, zeroing each before its first
/// sum, and records them in `touched`; the other rows keep whatever they held.
pub fn scatter_add_touched(values: &[f32], ids: &[f32], out: &mut [f32], touched: &mut Touched) {
    touched.clear();
    let width = touched.width;
    scatter(values, ids, out, width, |r| touched.mark(r));
}

/// Adds each value row into its id's row, zeroing the row first where `first_write` says so.
fn scatter(
    values: &[f32],
    ids: &[f32],
    out: &mut [f32],
    width: usize,
    mut first_write: impl FnMut(usize) -> bool,
) {
    let rows = out.len() / width;
    for (p, v) in values.chunks_exact(width).enumerate() {
        if let Ok(r) = usize::try_from(id_at(ids, p)) {
            if r < rows {
                let row = &mut out[r * width..(r + 1) * width];
                if first_write(r) {
                    row.fill(0.0);
                }
                row.iter_mut().zip(v).for_each(|(o, v)| *o += v);
            }
        }
    }
}

/// Converts between element types stored as 32-bit words.
pub fn cast(x: &[f32], from: DType, to: DType, out: &mut [f32]) {
    match (from, to) {
        (DType::I32, DType::F32) => out
            .iter_mut()
            .zip(x)
            .for_each(|(o, v)| *o = v.to_bits() as i32 as f32),
        (DType::F32, DType::I32) => out
            .iter_mut()
            .zip(x)
            .for_each(|(o, v)| *o = f32::from_bits(*v as i32 as u32)),
        _ => out.copy_from_slice(x),
    }
}
