//! The gated mix (`Op::GatedMix`) and its gradients, row by row across threads. The gate's
//! dropout multipliers are drawn for each thread's chunk of rows into a per-thread buffer, or
//! expanded there from keep flags the forward pass recorded (`gate_flags.rs`).

use super::exp::sigmoid;
use super::PAR_CHUNK;
use rayon::prelude::*;
use std::cell::RefCell;
use wgtrain_graph::rng::{fill_dropout_scales, kept_scale};
use wgtrain_graph::GatedMix;

thread_local! {
    /// The dropout multipliers of the rows a thread is computing; it grows once.
    static SCALES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Columns of a row computed together.
const COLS: usize = 64;

/// The operands of one gated mix: `h` rows of `2 * width` (gate half and value half), `s` rows
/// of `width`, a bias of `2 * width`, one mask value per row.
pub struct MixOperands<'a> {
    pub h: &'a [f32],
    pub s: &'a [f32],
    pub width: usize,
    pub bias: Option<&'a [f32]>,
    pub mask: Option<&'a [f32]>,
    pub mix: GatedMix,
    pub seed: u64,
    pub step: u64,
    /// Keep flags (one byte per gate element) recorded for this seed and step, to read
    /// instead of drawing the multipliers.
    pub kept: Option<&'a [u8]>,
}

/// A column chunk of one row: the gate's pre-activation and dropout multiplier, the gate, `s`,
/// the value and the row's mask.
struct Chunk<'a> {
    scale: &'a [f32],
    g: &'a [f32],
    s: &'a [f32],
    v: &'a [f32],
    m: f32,
}

impl MixOperands<'_> {
    fn rows(&self) -> usize {
        self.s.len() / self.width
    }

    /// Calls `f(row, first column, chunk)` for every column chunk of rows `rows`, in order;
    /// with `record`, writes the rows' keep flags there.
    fn for_each_chunk(
        &self,
        rows: std::ops::Range<usize>,
        record: Option<&mut [u8]>,
        mut f: impl FnMut(usize, usize, &Chunk),
    ) {
        let (w, mix) = (self.width, self.mix);
        SCALES.with(|scales| {
            let mut scales = scales.borrow_mut();
            let len = rows.len() * w;
            if scales.len() < len {
                scales.resize(len, 0.0);
            }
            let scales = &mut scales[..len];
            let first = rows.start * w;
            match self.kept {
                Some(kept) => {
                    let keep = kept_scale(mix.rate);
                    for (s, &k) in scales.iter_mut().zip(&kept[first..first + len]) {
                        *s = if k != 0 { keep } else { 0.0 };
                    }
                }
                None => fill_dropout_scales(self.seed, self.step, mix.key, mix.rate, first, scales),
            }
            if let Some(record) = record {
                for (k, &s) in record.iter_mut().zip(scales.iter()) {
                    *k = (s != 0.0) as u8;
                }
            }
            self.for_each_chunk_scaled(rows, scales, &mut f);
        });
    }

    /// `for_each_chunk` with the dropout multipliers of the rows drawn into `scales`.
    fn for_each_chunk_scaled(
        &self,
        rows: std::ops::Range<usize>,
        scales: &[f32],
        f: &mut impl FnMut(usize, usize, &Chunk),
    ) {
        let (w, mix, first) = (self.width, self.mix, rows.start);
        let mut g = [0f32; COLS];
        let mut biased_gate = [0f32; COLS];
        let mut biased_value = [0f32; COLS];
        for r in rows {
            let h_row = &self.h[r * 2 * w..(r + 1) * 2 * w];
            let (gate_row, value_row) = (&h_row[mix.gate..][..w], &h_row[mix.value..][..w]);
            let s_row = &self.s[r * w..(r + 1) * w];
            let m = self.mask.map_or(1.0, |m| m[r]);
            for c0 in (0..w).step_by(COLS) {
                let len = COLS.min(w - c0);
                let scale = &scales[(r - first) * w + c0..][..len];
                let (mut gate, mut value) = (&gate_row[c0..c0 + len], &value_row[c0..c0 + len]);
                if let Some(bias) = self.bias {
                    add(gate, &bias[mix.gate + c0..][..len], &mut biased_gate[..len]);
                    add(
                        value,
                        &bias[mix.value + c0..][..len],
                        &mut biased_value[..len],
                    );
                    (gate, value) = (&biased_gate[..len], &biased_value[..len]);
                }
                let g = &mut g[..len];
                gates(gate, scale, g);
                let chunk = Chunk {
                    scale,
                    g,
                    s: &s_row[c0..c0 + len],
                    v: value,
                    m,
                };
                f(r, c0, &chunk);
            }
        }
    }

    /// Runs `body(first row, rows' outputs, rows' keep flags)` over chunks of rows whose
    /// outputs are `out_width` wide, in parallel; `record` holds a flag per gate element.
    fn by_rows(
        &self,
        out: &mut [f32],
        out_width: usize,
        record: Option<&mut [u8]>,
        body: impl Fn(usize, &mut [f32], Option<&mut [u8]>) + Sync,
    ) {
        let rows = (PAR_CHUNK / self.width).max(1);
        match record {
            _ if self.rows() <= rows => body(0, out, record),
            Some(record) => out
                .par_chunks_mut(rows * out_width)
                .zip(record.par_chunks_mut(rows * self.width))
                .enumerate()
                .for_each(|(k, (o, r))| body(k * rows, o, Some(r))),
            None => out
                .par_chunks_mut(rows * out_width)
                .enumerate()
                .for_each(|(k, o)| body(k * rows, o, None)),
        }
    }
}

fn add(a: &[f32], b: &[f32], out: &mut [f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
}

/// `sigmoid(x * scale)` of each element: the gate.
fn gates(x: &[f32], scale: &[f32], g: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { gates_avx2(x, scale, g) };
    }
    gates_portable(x, scale, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gates_avx2(x: &[f32], scale: &[f32], g: &mut [f32]) {
    gates_portable(x, scale, g)
}

#[inline(always)]
fn gates_portable(x: &[f32], scale: &[f32], g: &mut [f32]) {
    for ((g, &x), &k) in g.iter_mut().zip(x).zip(scale) {
        *g = sigmoid(x * k);
    }
}

/// `(g * s + (1 - g) * v) * mask`; with `record`, also the gate's keep flags.
pub fn gated_mix(a: &MixOperands, out: &mut [f32], record: Option<&mut [u8]>) {
    let w = a.width;
    a.by_rows(out, w, record, |first, o, record| {
        let rows = first..first + o.len() / w;
        a.for_each_chunk(rows, record, |r, c0, e| {
            let o = &mut o[(r - first) * w + c0..][..e.g.len()];
            for (((o, &g), &s), &v) in o.iter_mut().zip(e.g).zip(e.s).zip(e.v) {
                let mixed = g * s + (1.0 - g) * v;
                *o = if a.mask.is_some() { mixed * e.m } else { mixed };
            }
        });
    });
}

/// The gradient of `gated_mix` with respect to input `wrt` (0 h, 1 s, the last the mask) given
/// `dy`.
pub fn gated_mix_grad(a: &MixOperands, dy: &[f32], wrt: usize, out: &mut [f32]) {
    let w = a.width;
    let out_width = match wrt {
        0 => 2 * w,
        1 => w,
        _ => 1,
    };
    a.by_rows(out, out_width, None, |first, o, _| {
        let rows = first..first + o.len() / out_width;
        if wrt > 1 {
            o.fill(0.0);
        }
        a.for_each_chunk(rows, None, |r, c0, e| {
            let len = e.g.len();
            let dy = &dy[r * w + c0..][..len];
            let row = &mut o[(r - first) * out_width..][..out_width];
            match wrt {
                0 => h_gradient_row(a, e, dy, c0, row),
                1 => {
                    let ds = &mut row[c0..c0 + len];
                    for ((ds, &dy), &g) in ds.iter_mut().zip(dy).zip(e.g) {
                        *ds = dy * e.m * g;
                    }
                }
                _ => {
                    row[0] += (0..len)
                        .map(|k| dy[k] * (e.g[k] * e.s[k] + (1.0 - e.g[k]) * e.v[k]))
                        .sum::<f32>();
                }
            }
        });
    });
}

/// The gradients with respect to h (into `dh`) and s (into `ds`) in one pass.
/// With `bias`, also the sum of `dh`'s rows, written into `bias` after every read is done
/// (summed per chunk of rows into scratch, then the chunks in order).
pub fn gated_mix_grad_h_s(
    a: &MixOperands,
    dy: &[f32],
    dh: &mut [f32],
    ds: &mut [f32],
    bias: Option<&mut [f32]>,
) {
    let w = a.width;
    let rows = (PAR_CHUNK / w).max(1);
    let body = |first: usize, dh: &mut [f32], ds: &mut [f32], sums: &mut [f64]| {
        let rows = first..first + ds.len() / w;
        let n = rows.len();
        a.for_each_chunk(rows, None, |r, c0, e| {
            let len = e.g.len();
            let dy = &dy[r * w + c0..][..len];
            let at = (r - first) * w;
            h_gradient_row(a, e, dy, c0, &mut dh[2 * at..2 * at + 2 * w]);
            let ds = &mut ds[at + c0..][..len];
            for ((ds, &dy), &g) in ds.iter_mut().zip(dy).zip(e.g) {
                *ds = dy * e.m * g;
            }
        });
        if !sums.is_empty() {
            sums.fill(0.0);
            for row in dh[..n * 2 * w].chunks_exact(2 * w) {
                for (s, &v) in sums.iter_mut().zip(row) {
                    *s += v as f64;
                }
            }
        }
    };
    let chunks = a.rows().div_ceil(rows);
    let sums_len = if bias.is_some() { chunks * 2 * w } else { 0 };
    CHUNK_SUMS.with(|sums| {
        let mut sums = sums.borrow_mut();
        if sums.len() < sums_len {
            sums.resize(sums_len, 0.0);
        }
        let sums = &mut sums[..sums_len];
        if a.rows() <= rows {
            body(0, dh, ds, sums);
        } else if sums.is_empty() {
            dh.par_chunks_mut(rows * 2 * w)
                .zip(ds.par_chunks_mut(rows * w))
                .enumerate()
                .for_each(|(k, (dh, ds))| body(k * rows, dh, ds, &mut []));
        } else {
            dh.par_chunks_mut(rows * 2 * w)
                .zip(ds.par_chunks_mut(rows * w))
                .zip(sums.par_chunks_mut(2 * w))
                .enumerate()
                .for_each(|(k, ((dh, ds), s))| body(k * rows, dh, ds, s));
        }
        if let Some(bias) = bias {
            for (c, b) in bias.iter_mut().enumerate() {
                *b = sums.chunks_exact(2 * w).map(|part| part[c]).sum::<f64>() as f32;
            }
        }
    });
}

thread_local! {
    /// Per-chunk sums of the h-gradient's rows (in f64: a bias sums a whole batch of rows),
    /// summed into the bias gradient; it grows once.
    static CHUNK_SUMS: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Columns `c0..` of one row of d/dh from the chunk `e` and the output gradient `dy`.
fn h_gradient_row(a: &MixOperands, e: &Chunk, dy: &[f32], c0: usize, row: &mut [f32]) {
    let (w, len) = (a.width, e.g.len());
    let (gate, value) = if a.mix.gate == 0 {
        row.split_at_mut(w)
    } else {
        let (v, g) = row.split_at_mut(w);
        (g, v)
    };
    let (gate, value) = (&mut gate[c0..c0 + len], &mut value[c0..c0 + len]);
    for k in 0..len {
        let (g, dm) = (e.g[k], dy[k] * e.m);
        gate[k] = dm * (e.s[k] - e.v[k]) * g * (1.0 - g) * e.scale[k];
        value[k] = dm * (1.0 - g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values::values;

    /// Gradients read from the keep flags a forward pass recorded are the bits of gradients
    /// drawn from the stream, over rows split across threads.
    #[test]
    fn recorded_flags_give_the_drawn_gradients() {
        let (rows, w) = (700, 30);
        let (h, s) = (values(rows * 2 * w, 1), values(rows * w, 2));
        let (bias, mask) = (values(2 * w, 3), values(rows, 4));
        let mix = GatedMix {
            gate: w,
            value: 0,
            biased: true,
            rate: 0.3,
            key: 9,
        };
        let operands = |kept| MixOperands {
            h: &h,
            s: &s,
            width: w,
            bias: Some(&bias),
            mask: Some(&mask),
            mix,
            seed: 5,
            step: 11,
            kept,
        };
        let (mut out, mut recorded_out) = (vec![0.0; rows * w], vec![0.0; rows * w]);
        let mut kept = vec![7u8; rows * w];
        gated_mix(&operands(None), &mut out, None);
        gated_mix(&operands(None), &mut recorded_out, Some(&mut kept));
        assert_eq!(out, recorded_out);
        let dropped = kept.iter().filter(|&&k| k == 0).count() as f64 / kept.len() as f64;
        assert!(kept.iter().all(|&k| k <= 1) && (0.25..0.35).contains(&dropped));
        let dy = values(rows * w, 6);
        for wrt in 0..3 {
            let len = [rows * 2 * w, rows * w, rows][wrt];
            let (mut drawn, mut read) = (vec![0.0; len], vec![0.0; len]);
            gated_mix_grad(&operands(None), &dy, wrt, &mut drawn);
            gated_mix_grad(&operands(Some(&kept)), &dy, wrt, &mut read);
            assert_eq!(drawn, read, "gradient {wrt}");
        }
        let (mut dh, mut ds) = (vec![0.0; rows * 2 * w], vec![0.0; rows * w]);
        gated_mix_grad_h_s(&operands(Some(&kept)), &dy, &mut dh, &mut ds, None);
        let mut drawn = vec![0.0; rows * 2 * w];
        gated_mix_grad(&operands(None), &dy, 0, &mut drawn);
        assert_eq!(dh, drawn);
    }
}
