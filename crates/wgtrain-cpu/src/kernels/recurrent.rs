//! The recurrent walks (`Op::Recurrent`, `Op::RecurrentGrad`): every batch row walks the whole
//! sequence on its own thread, its state in its rows of the packed output. The layout of the
//! packed tensors and the cells' equations are in `wgtrain_graph::recurrent`.

use super::SendPtr;
use rayon::prelude::*;
use wgtrain_graph::recurrent::{Cell, Packing, Part, RecurrentSpec};

/// The operands of a forward walk.
pub struct Walk<'a> {
    pub spec: RecurrentSpec,
    pub batch: usize,
    pub steps: usize,
    /// The projected inputs [batch, steps, gates * units].
    pub xw: &'a [f32],
    /// The recurrent kernel [units, gates * units].
    pub kernel: &'a [f32],
    pub h0: Option<&'a [f32]>,
    pub c0: Option<&'a [f32]>,
    pub bias: Option<&'a [f32]>,
    pub mask: Option<&'a [f32]>,
}

/// Rows of the parts of a packed tensor, handed out per batch row.
struct Rows<'p> {
    base: SendPtr,
    packing: &'p Packing,
    batch: usize,
}

impl Rows<'_> {
    /// Row `b` of a [batch, w] part, or step `t` of row `b` of a [batch, steps, w] part.
    ///
    /// SAFETY: callers take each (part, row) from one thread at a time; parts do not overlap.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self, part: Part, b: usize, t: Option<usize>) -> &mut [f32] {
        let (at, shape) = self.packing.find(part).expect("the packing holds the part");
        let w = shape.last();
        let row = match t {
            Some(t) => b * shape.0[1] + t,
            None => b,
        };
        debug_assert!(b < self.batch);
        std::slice::from_raw_parts_mut(self.base.0.add(at + row * w), w)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

fn valid(mask: Option<&[f32]>, at: usize) -> bool {
    mask.is_none_or(|m| m[at] != 0.0)
}

/// The forward walk into `out` (the forward packing).
pub fn forward(w: &Walk, out: &mut [f32]) {
    let spec = w.spec;
    let (u, gu, steps) = (spec.units, spec.gate_width(), w.steps);
    let packing = spec.forward_packing(w.batch, steps);
    let rows = Rows {
        base: SendPtr(out.as_mut_ptr()),
        packing: &packing,
        batch: w.batch,
    };
    let (act, gate) = (spec.activation, spec.recurrent_activation);
    (0..w.batch).into_par_iter().for_each(|b| {
        // SAFETY: this thread alone touches row b of every part.
        let (state, last) = unsafe {
            (
                rows.get(Part::State, b, None),
                rows.get(Part::Last, b, None),
            )
        };
        match w.h0 {
            Some(h0) => state.copy_from_slice(&h0[b * u..(b + 1) * u]),
            None => state.fill(0.0),
        }
        last.fill(0.0);
        let mut cell =
            (spec.cell == Cell::Lstm).then(|| unsafe { rows.get(Part::CellState, b, None) });
        if let Some(c) = cell.as_deref_mut() {
            match w.c0 {
                Some(c0) => c.copy_from_slice(&c0[b * u..(b + 1) * u]),
                None => c.fill(0.0),
            }
        }
        for k in 0..steps {
            let t = spec.step_at(k, steps);
            let prev = unsafe { rows.get(Part::PrevState, b, Some(t)) };
            prev.copy_from_slice(state);
            let outputs = unsafe { rows.get(Part::Outputs, b, Some(spec.output_at(k, steps))) };
            if !valid(w.mask, b * steps + t) {
                if spec.zero_output_for_mask {
                    last.fill(0.0);
                }
                outputs.copy_from_slice(last);
                continue;
            }
            let gates = unsafe { rows.get(Part::Gates, b, Some(t)) };
            match (spec.cell, w.bias) {
                (Cell::Gru, Some(bias)) => gates.copy_from_slice(bias),
                _ => gates.fill(0.0),
            }
            for (h, row) in prev.iter().zip(w.kernel.chunks_exact(gu)) {
                for (g, r) in gates.iter_mut().zip(row) {
                    *g += h * r;
                }
            }
            let xw = &w.xw[(b * steps + t) * gu..(b * steps + t + 1) * gu];
            match spec.cell {
                Cell::SimpleRnn => {
                    for ((g, x), s) in gates.iter_mut().zip(xw).zip(state.iter_mut()) {
                        *g = act.apply(*g + x);
                        *s = *g;
                    }
                }
                Cell::Lstm => {
                    let c = cell.as_deref_mut().expect("an LSTM has a cell state");
                    let c_prev = unsafe { rows.get(Part::PrevCell, b, Some(t)) };
                    let c_new = unsafe { rows.get(Part::Extra, b, Some(t)) };
                    c_prev.copy_from_slice(c);
                    for (g, x) in gates.iter_mut().zip(xw) {
                        *g += x;
                    }
                    for j in 0..u {
                        let i = gate.apply(gates[j]);
                        let f = gate.apply(gates[u + j]);
                        let cc = act.apply(gates[2 * u + j]);
                        let o = gate.apply(gates[3 * u + j]);
                        [gates[j], gates[u + j], gates[2 * u + j], gates[3 * u + j]] =
                            [i, f, cc, o];
                        c_new[j] = f * c[j] + i * cc;
                        c[j] = c_new[j];
                        state[j] = o * act.apply(c_new[j]);
                    }
                }
                Cell::Gru => {
                    let rh = unsafe { rows.get(Part::Extra, b, Some(t)) };
                    rh.copy_from_slice(&gates[2 * u..]);
                    for j in 0..u {
                        let z = gate.apply(gates[j] + xw[j]);
                        let r = gate.apply(gates[u + j] + xw[u + j]);
                        let hh = act.apply(xw[2 * u + j] + r * rh[j]);
                        [gates[j], gates[u + j], gates[2 * u + j]] = [z, r, hh];
                        state[j] = z * prev[j] + (1.0 - z) * hh;
                    }
                }
            }
            last.copy_from_slice(state);
            outputs.copy_from_slice(state);
        }
    });
}

/// The reverse walk into `out` (the backward packing), from the upstream gradients of the
/// output sequence, the last output, the final state and the final cell state (absent ones
/// are zero) and the forward walk's packed output.
pub fn backward(w: &Walk, upstream: [Option<&[f32]>; 4], packed: &[f32], out: &mut [f32]) {
    let spec = w.spec;
    let (u, gu, steps) = (spec.units, spec.gate_width(), w.steps);
    let forward = spec.forward_packing(w.batch, steps);
    let saved = Rows {
        base: SendPtr(packed.as_ptr() as *mut f32),
        packing: &forward,
        batch: w.batch,
    };
    let backward = spec.backward_packing(w.batch, steps);
    let rows = Rows {
        base: SendPtr(out.as_mut_ptr()),
        packing: &backward,
        batch: w.batch,
    };
    let [d_outputs, d_last, d_state, d_cell] = upstream;
    let (act, gate) = (spec.activation, spec.recurrent_activation);
    let row_of = |d: Option<&[f32]>, b: usize, dst: &mut [f32]| match d {
        Some(d) => dst.copy_from_slice(&d[b * u..(b + 1) * u]),
        None => dst.fill(0.0),
    };
    (0..w.batch).into_par_iter().for_each(|b| {
        // SAFETY: this thread alone touches row b of every part; the saved parts are only read.
        let ds = unsafe { rows.get(Part::DState, b, None) };
        let scratch = unsafe { rows.get(Part::Scratch, b, None) };
        let (d_out, dh) = scratch.split_at_mut(u);
        row_of(d_state, b, ds);
        row_of(d_last, b, d_out);
        let mut dc =
            (spec.cell == Cell::Lstm).then(|| unsafe { rows.get(Part::DCellState, b, None) });
        if let Some(dc) = dc.as_deref_mut() {
            row_of(d_cell, b, dc);
        }
        for k in (0..steps).rev() {
            let t = spec.step_at(k, steps);
            if let Some(d) = d_outputs {
                let at = (b * steps + spec.output_at(k, steps)) * u;
                for (o, g) in d_out.iter_mut().zip(&d[at..at + u]) {
                    *o += g;
                }
            }
            let d_in = unsafe { rows.get(Part::DInput, b, Some(t)) };
            let d_rec = match spec.cell {
                Cell::Gru => Some(unsafe { rows.get(Part::DRecurrent, b, Some(t)) }),
                _ => None,
            };
            if !valid(w.mask, b * steps + t) {
                if spec.zero_output_for_mask {
                    d_out.fill(0.0);
                }
                d_in.fill(0.0);
                if let Some(d) = d_rec {
                    d.fill(0.0);
                }
                continue;
            }
            for j in 0..u {
                dh[j] = d_out[j] + ds[j];
                d_out[j] = 0.0;
            }
            let gates = unsafe { saved.get(Part::Gates, b, Some(t)) };
            match spec.cell {
                Cell::SimpleRnn => {
                    for j in 0..u {
                        d_in[j] = dh[j] * act.derivative_from_output(gates[j]);
                    }
                    for (s, row) in ds.iter_mut().zip(w.kernel.chunks_exact(gu)) {
                        *s = dot(d_in, row);
                    }
                }
                Cell::Lstm => {
                    let dc = dc.as_deref_mut().expect("an LSTM has a cell gradient");
                    let c_prev = unsafe { saved.get(Part::PrevCell, b, Some(t)) };
                    let c_new = unsafe { saved.get(Part::Extra, b, Some(t)) };
                    for j in 0..u {
                        let [i, f, cc, o] =
                            [gates[j], gates[u + j], gates[2 * u + j], gates[3 * u + j]];
                        let a = act.apply(c_new[j]);
                        let dct = dc[j] + dh[j] * o * act.derivative_from_output(a);
                        d_in[j] = dct * cc * gate.derivative_from_output(i);
                        d_in[u + j] = dct * c_prev[j] * gate.derivative_from_output(f);
                        d_in[2 * u + j] = dct * i * act.derivative_from_output(cc);
                        d_in[3 * u + j] = dh[j] * a * gate.derivative_from_output(o);
                        dc[j] = dct * f;
                    }
                    for (s, row) in ds.iter_mut().zip(w.kernel.chunks_exact(gu)) {
                        *s = dot(d_in, row);
                    }
                }
                Cell::Gru => {
                    let d_rec = d_rec.expect("a GRU has a recurrent gradient");
                    let prev = unsafe { saved.get(Part::PrevState, b, Some(t)) };
                    let rh = unsafe { saved.get(Part::Extra, b, Some(t)) };
                    for j in 0..u {
                        let [z, r, hh] = [gates[j], gates[u + j], gates[2 * u + j]];
                        let d_hh = dh[j] * (1.0 - z) * act.derivative_from_output(hh);
                        let d_z = dh[j] * (prev[j] - hh) * gate.derivative_from_output(z);
                        let d_r = d_hh * rh[j] * gate.derivative_from_output(r);
                        [d_in[j], d_in[u + j], d_in[2 * u + j]] = [d_z, d_r, d_hh];
                        [d_rec[j], d_rec[u + j], d_rec[2 * u + j]] = [d_z, d_r, d_hh * r];
                    }
                    for (j, (s, row)) in ds.iter_mut().zip(w.kernel.chunks_exact(gu)).enumerate() {
                        *s = dot(d_rec, row) + dh[j] * gates[j];
                    }
                }
            }
        }
    });
}
