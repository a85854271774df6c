//! The recurrent walks (`Op::Recurrent`, `Op::RecurrentGrad`): the batch is cut into blocks of
//! rows, each walked over the whole sequence on one thread; every step is one small matrix
//! product for the block (state times recurrent kernel) and the cell's elementwise work per
//! row. Each row's state lives in its rows of the packed output. The layout of the packed
//! tensors and the cells' equations are in `wgtrain_graph::recurrent`.

use super::exp;
use super::gemm_avx512::{self, Operand};
use super::SendPtr;
use rayon::prelude::*;
use wgtrain_graph::recurrent::{Activation, Cell, Packing, Part, Placed, RecurrentSpec};

/// Rows walked together: the AVX-512 product's block height.
const BLOCK: usize = 8;

/// The operands of a walk (the reverse walk reads neither `xw` nor the initial states).
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

/// The parts of a packed tensor, addressed by batch row (and step).
struct Rows {
    base: SendPtr,
    packing: Packing,
}

impl Rows {
    fn new(base: *mut f32, packing: Packing) -> Rows {
        Rows {
            base: SendPtr(base),
            packing,
        }
    }

    fn part(&self, part: Part) -> Placed {
        self.packing
            .placed(part)
            .expect("the walk reads only the parts its cell has")
    }

    /// Where row `b` of a [batch, w] part, or step `t` of row `b` of a [batch, steps, w] part,
    /// starts, and the distance to the next row's.
    #[inline]
    fn at(&self, part: Part, b: usize, t: usize) -> (*mut f32, usize) {
        let Placed {
            at, steps, width, ..
        } = self.part(part);
        let (w, steps) = (width, steps.unwrap_or(1));
        // SAFETY: the offset lies inside the packed tensor the packing describes.
        (
            unsafe { self.base.0.add(at + (b * steps + t) * w) },
            steps * w,
        )
    }

    /// The row as a slice.
    ///
    /// SAFETY: callers take each (part, row) from one thread at a time; parts do not overlap.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    unsafe fn get(&self, part: Part, b: usize, t: usize) -> &mut [f32] {
        let w = self.part(part).width;
        std::slice::from_raw_parts_mut(self.at(part, b, t).0, w)
    }
}

/// `c (m x n, row stride ldc) (+)= a (m x k, row stride lda) @ b (k x n, row stride n)`.
///
/// SAFETY: the operands address memory inside their buffers and `c` overlaps neither.
#[allow(clippy::too_many_arguments)]
unsafe fn block_product(
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    lda: usize,
    b: &[f32],
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if gemm_avx512::available() {
        let a = Operand {
            ptr: a,
            rs: lda,
            cs: 1,
        };
        gemm_avx512::product(m, n, k, a, b.as_ptr(), n, c, ldc, accumulate);
        return;
    }
    for r in 0..m {
        let row = std::slice::from_raw_parts_mut(c.add(r * ldc), n);
        if !accumulate {
            row.fill(0.0);
        }
        for (kk, bk) in b.chunks_exact(n).enumerate().take(k) {
            let av = *a.add(r * lda + kk);
            for (o, bv) in row.iter_mut().zip(bk) {
                *o += av * bv;
            }
        }
    }
}

/// `xs[i] = a(xs[i])`, one loop per activation so that each vectorizes (16 lanes wide where
/// the CPU has AVX-512).
fn activate(a: Activation, xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if gemm_avx512::available() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { activate_avx512(a, xs) };
    }
    activate_any(a, xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn activate_avx512(a: Activation, xs: &mut [f32]) {
    activate_any(a, xs)
}

#[inline(always)]
fn activate_any(a: Activation, xs: &mut [f32]) {
    match a {
        Activation::Tanh => xs.iter_mut().for_each(|x| *x = exp::tanh(*x)),
        Activation::Sigmoid => xs.iter_mut().for_each(|x| *x = exp::sigmoid(*x)),
        Activation::HardSigmoid => xs
            .iter_mut()
            .for_each(|x| *x = (*x / 6.0 + 0.5).clamp(0.0, 1.0)),
        Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
        Activation::Linear => {}
    }
}

/// `xs[i] = a'(xs[i])` from the activation's outputs, one loop per activation so that each
/// vectorizes.
fn to_derivative(a: Activation, xs: &mut [f32]) {
    fn each(xs: &mut [f32], d: impl Fn(f32) -> f32) {
        xs.iter_mut().for_each(|x| *x = d(*x));
    }
    match a {
        Activation::Tanh => each(xs, |y| Activation::Tanh.derivative_from_output(y)),
        Activation::Sigmoid => each(xs, |y| Activation::Sigmoid.derivative_from_output(y)),
        Activation::HardSigmoid => each(xs, |y| Activation::HardSigmoid.derivative_from_output(y)),
        Activation::Relu => each(xs, |y| Activation::Relu.derivative_from_output(y)),
        Activation::Linear => each(xs, |_| 1.0),
    }
}

fn valid(mask: Option<&[f32]>, at: usize) -> bool {
    mask.is_none_or(|m| m[at] != 0.0)
}

/// The forward walk into `out` (the forward packing).
pub fn forward(w: &Walk, out: &mut [f32]) {
    let spec = w.spec;
    let (u, gu, steps) = (spec.units, spec.gate_width(), w.steps);
    let packing = spec.forward_packing(w.batch, steps);
    let rows = Rows::new(out.as_mut_ptr(), packing);
    let (act, gate) = (spec.activation, spec.recurrent_activation);
    let blocks = w.batch.div_ceil(BLOCK);
    (0..blocks).into_par_iter().for_each(|block| {
        let first = block * BLOCK;
        let block_rows = first..(first + BLOCK).min(w.batch);
        // SAFETY (every `get` below): this thread alone touches the block's rows of every part.
        for b in block_rows.clone() {
            let (state, last) =
                unsafe { (rows.get(Part::State, b, 0), rows.get(Part::Last, b, 0)) };
            match w.h0 {
                Some(h0) => state.copy_from_slice(&h0[b * u..(b + 1) * u]),
                None => state.fill(0.0),
            }
            last.fill(0.0);
            if spec.cell == Cell::Lstm {
                let c = unsafe { rows.get(Part::CellState, b, 0) };
                match w.c0 {
                    Some(c0) => c.copy_from_slice(&c0[b * u..(b + 1) * u]),
                    None => c.fill(0.0),
                }
            }
        }
        for k in 0..steps {
            let t = spec.step_at(k, steps);
            for b in block_rows.clone() {
                let (prev, state) =
                    unsafe { (rows.get(Part::PrevState, b, t), rows.get(Part::State, b, 0)) };
                prev.copy_from_slice(state);
                let gates = unsafe { rows.get(Part::Gates, b, t) };
                match (spec.cell, w.bias) {
                    (Cell::Gru, Some(bias)) => gates.copy_from_slice(bias),
                    (Cell::Gru, None) => gates.fill(0.0),
                    _ => {
                        gates.copy_from_slice(&w.xw[(b * steps + t) * gu..(b * steps + t + 1) * gu])
                    }
                }
            }
            let (prev, lda) = rows.at(Part::PrevState, first, t);
            let (gates, ldc) = rows.at(Part::Gates, first, t);
            // SAFETY: the block's rows of PrevState and Gates, disjoint parts.
            unsafe {
                block_product(
                    block_rows.len(),
                    gu,
                    u,
                    prev,
                    lda,
                    w.kernel,
                    gates,
                    ldc,
                    true,
                )
            };
            for b in block_rows.clone() {
                let (state, last) =
                    unsafe { (rows.get(Part::State, b, 0), rows.get(Part::Last, b, 0)) };
                let outputs = unsafe { rows.get(Part::Outputs, b, spec.output_at(k, steps)) };
                if !valid(w.mask, b * steps + t) {
                    if spec.zero_output_for_mask {
                        last.fill(0.0);
                    }
                    outputs.copy_from_slice(last);
                    continue;
                }
                let gates = unsafe { rows.get(Part::Gates, b, t) };
                let xw = &w.xw[(b * steps + t) * gu..(b * steps + t + 1) * gu];
                match spec.cell {
                    Cell::SimpleRnn => {
                        activate(act, gates);
                        state.copy_from_slice(gates);
                    }
                    Cell::Lstm => {
                        let c = unsafe { rows.get(Part::CellState, b, 0) };
                        let c_prev = unsafe { rows.get(Part::PrevCell, b, t) };
                        let c_new = unsafe { rows.get(Part::Extra, b, t) };
                        c_prev.copy_from_slice(c);
                        let (ifg, rest) = gates.split_at_mut(2 * u);
                        let (cc, o) = rest.split_at_mut(u);
                        activate(gate, ifg);
                        activate(act, cc);
                        activate(gate, o);
                        let (i, f) = ifg.split_at(u);
                        for j in 0..u {
                            c_new[j] = f[j] * c_prev[j] + i[j] * cc[j];
                        }
                        c.copy_from_slice(c_new);
                        state.copy_from_slice(c_new);
                        activate(act, state);
                        for (s, o) in state.iter_mut().zip(o.iter()) {
                            *s *= o;
                        }
                    }
                    Cell::Gru => {
                        let prev = unsafe { rows.get(Part::PrevState, b, t) };
                        let rh = unsafe { rows.get(Part::Extra, b, t) };
                        rh.copy_from_slice(&gates[2 * u..]);
                        let (zr, hh) = gates.split_at_mut(2 * u);
                        for (g, x) in zr.iter_mut().zip(xw) {
                            *g += x;
                        }
                        activate(gate, zr);
                        let r = &zr[u..];
                        for j in 0..u {
                            hh[j] = xw[2 * u + j] + r[j] * rh[j];
                        }
                        activate(act, hh);
                        let z = &zr[..u];
                        for j in 0..u {
                            state[j] = z[j] * prev[j] + (1.0 - z[j]) * hh[j];
                        }
                    }
                }
                last.copy_from_slice(state);
                outputs.copy_from_slice(state);
            }
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
    let saved = Rows::new(packed.as_ptr() as *mut f32, forward);
    let backward = spec.backward_packing(w.batch, steps);
    let (kt_at, _) = backward.range(Part::KernelT);
    let (head, kernel_t) = out.split_at_mut(kt_at);
    let kernel_t = &mut kernel_t[..gu * u];
    super::transpose(w.kernel, gu, kernel_t);
    let kernel_t: &[f32] = kernel_t;
    let rows = Rows::new(head.as_mut_ptr(), backward);
    let [d_outputs, d_last, d_state, d_cell] = upstream;
    let (act, gate) = (spec.activation, spec.recurrent_activation);
    let row_of = |d: Option<&[f32]>, b: usize, dst: &mut [f32]| match d {
        Some(d) => dst.copy_from_slice(&d[b * u..(b + 1) * u]),
        None => dst.fill(0.0),
    };
    let blocks = w.batch.div_ceil(BLOCK);
    (0..blocks).into_par_iter().for_each(|block| {
        let first = block * BLOCK;
        let block_rows = first..(first + BLOCK).min(w.batch);
        // SAFETY (every `get` below): this thread alone touches the block's rows of every part
        // of `out`; the saved parts are only read.
        for b in block_rows.clone() {
            let ds = unsafe { rows.get(Part::DState, b, 0) };
            let scratch = unsafe { rows.get(Part::Scratch, b, 0) };
            row_of(d_state, b, ds);
            row_of(d_last, b, &mut scratch[..u]);
            if spec.cell == Cell::Lstm {
                row_of(d_cell, b, unsafe { rows.get(Part::DCellState, b, 0) });
            }
        }
        for k in (0..steps).rev() {
            let t = spec.step_at(k, steps);
            for b in block_rows.clone() {
                let ds = unsafe { rows.get(Part::DState, b, 0) };
                let scratch = unsafe { rows.get(Part::Scratch, b, 0) };
                // The carried output gradient, dh, and what the product leaves out.
                let (d_out, rest) = scratch.split_at_mut(u);
                let (dh, aux) = rest.split_at_mut(u);
                if let Some(d) = d_outputs {
                    let at = (b * steps + spec.output_at(k, steps)) * u;
                    for (o, g) in d_out.iter_mut().zip(&d[at..at + u]) {
                        *o += g;
                    }
                }
                let d_in = unsafe { rows.get(Part::DInput, b, t) };
                let d_rec = match spec.cell {
                    Cell::Gru => Some(unsafe { rows.get(Part::DRecurrent, b, t) }),
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
                    // The product below sees zeros for this row; the state gradient carries.
                    aux.copy_from_slice(ds);
                    continue;
                }
                for j in 0..u {
                    dh[j] = d_out[j] + ds[j];
                    d_out[j] = 0.0;
                }
                let gates = unsafe { saved.get(Part::Gates, b, t) };
                match spec.cell {
                    Cell::SimpleRnn => {
                        d_in.copy_from_slice(gates);
                        to_derivative(act, d_in);
                        for (d, g) in d_in.iter_mut().zip(dh.iter()) {
                            *d *= g;
                        }
                    }
                    Cell::Lstm => {
                        let dc = unsafe { rows.get(Part::DCellState, b, 0) };
                        let c_prev = unsafe { saved.get(Part::PrevCell, b, t) };
                        let c_new = unsafe { saved.get(Part::Extra, b, t) };
                        // aux = act(c); d_in holds the gates' derivatives, then their
                        // gradients, each pass one vectorized loop.
                        aux.copy_from_slice(c_new);
                        activate(act, aux);
                        d_in.copy_from_slice(gates);
                        let (d_if, rest) = d_in.split_at_mut(2 * u);
                        let (d_cc, d_o) = rest.split_at_mut(u);
                        to_derivative(gate, d_if);
                        to_derivative(act, d_cc);
                        to_derivative(gate, d_o);
                        for j in 0..u {
                            d_o[j] *= dh[j] * aux[j];
                        }
                        to_derivative(act, aux);
                        let (d_i, d_f) = d_if.split_at_mut(u);
                        let (gi, gf) = (&gates[..u], &gates[u..2 * u]);
                        let (gc, go) = (&gates[2 * u..3 * u], &gates[3 * u..]);
                        for j in 0..u {
                            let dct = dc[j] + dh[j] * go[j] * aux[j];
                            d_i[j] *= dct * gc[j];
                            d_f[j] *= dct * c_prev[j];
                            d_cc[j] *= dct * gi[j];
                            dc[j] = dct * gf[j];
                        }
                    }
                    Cell::Gru => {
                        let d_rec = d_rec.expect("a GRU has a recurrent gradient");
                        let prev = unsafe { saved.get(Part::PrevState, b, t) };
                        let rh = unsafe { saved.get(Part::Extra, b, t) };
                        for j in 0..u {
                            let [z, r, hh] = [gates[j], gates[u + j], gates[2 * u + j]];
                            let d_hh = dh[j] * (1.0 - z) * act.derivative_from_output(hh);
                            let d_z = dh[j] * (prev[j] - hh) * gate.derivative_from_output(z);
                            let d_r = d_hh * rh[j] * gate.derivative_from_output(r);
                            [d_in[j], d_in[u + j], d_in[2 * u + j]] = [d_z, d_r, d_hh];
                            [d_rec[j], d_rec[u + j], d_rec[2 * u + j]] = [d_z, d_r, d_hh * r];
                            aux[j] = dh[j] * z;
                        }
                    }
                }
            }
            let through = if spec.cell == Cell::Gru {
                Part::DRecurrent
            } else {
                Part::DInput
            };
            let (d_gates, lda) = rows.at(through, first, t);
            let (ds, ldc) = rows.at(Part::DState, first, 0);
            // SAFETY: the block's rows of two disjoint parts.
            unsafe {
                block_product(
                    block_rows.len(),
                    u,
                    gu,
                    d_gates,
                    lda,
                    kernel_t,
                    ds,
                    ldc,
                    false,
                )
            };
            for b in block_rows.clone() {
                let ds = unsafe { rows.get(Part::DState, b, 0) };
                let aux = &unsafe { rows.get(Part::Scratch, b, 0) }[2 * u..];
                if !valid(w.mask, b * steps + t) {
                    ds.copy_from_slice(aux);
                } else if spec.cell == Cell::Gru {
                    for (s, a) in ds.iter_mut().zip(aux.iter()) {
                        *s += a;
                    }
                }
            }
        }
    });
}
