//! Gathering samples of host arrays into per-batch buffers, allocated once per call, and the
//! checks that data fits the model before a step runs.

use crate::array::{Array, Values};
use crate::model::Model;
use crate::tensor::with_batch;
use anyhow::{bail, Result};
use wgtrain_graph::{Feed, Shape};

/// Most arrays (inputs plus targets) one step takes.
pub(crate) const MAX_ARRAYS: usize = 8;

/// A view of arrays restricted to a range of samples.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub arrays: &'a [&'a Array],
    pub start: usize,
}

/// Host buffers for one batch of every array.
pub(crate) struct Batcher {
    buffers: Vec<Values>,
    widths: Vec<usize>,
    len: usize,
}

impl Batcher {
    pub fn new(arrays: &[&Array], batch: usize) -> Self {
        Self {
            buffers: arrays
                .iter()
                .map(|a| match a.values {
                    Values::F32(_) => Values::F32(vec![0.0; a.row_len() * batch]),
                    Values::I32(_) => Values::I32(vec![0; a.row_len() * batch]),
                })
                .collect(),
            widths: arrays.iter().map(|a| a.row_len()).collect(),
            len: 0,
        }
    }

    /// Gathers samples `order[..]` (indices into `rows`) into the buffers.
    pub fn fill(&mut self, rows: &Rows, order: &[usize]) {
        for ((buf, a), &w) in self.buffers.iter_mut().zip(rows.arrays).zip(&self.widths) {
            for (j, &i) in order.iter().enumerate() {
                let r = rows.start + i;
                match (&mut *buf, &a.values) {
                    (Values::F32(b), Values::F32(v)) => {
                        b[j * w..(j + 1) * w].copy_from_slice(&v[r * w..(r + 1) * w])
                    }
                    (Values::I32(b), Values::I32(v)) => {
                        b[j * w..(j + 1) * w].copy_from_slice(&v[r * w..(r + 1) * w])
                    }
                    // Buffers are made from the arrays they are filled from: types agree.
                    _ => {}
                }
            }
        }
        self.len = order.len();
    }

    /// The filled buffers as step inputs.
    pub fn feeds(&self) -> [Feed<'_>; MAX_ARRAYS] {
        let mut feeds = [Feed::F32(&[]); MAX_ARRAYS];
        for (k, (buf, &w)) in self.buffers.iter().zip(&self.widths).enumerate() {
            feeds[k] = match buf {
                Values::F32(b) => Feed::F32(&b[..self.len * w]),
                Values::I32(b) => Feed::I32(&b[..self.len * w]),
            };
        }
        feeds
    }

    pub fn count(&self) -> usize {
        self.buffers.len()
    }
}

pub(crate) fn check_arrays(what: &str, arrays: &[&Array], expected: usize) -> Result<usize> {
    if arrays.len() != expected {
        bail!(
            "the model takes {expected} {what} arrays, got {}",
            arrays.len()
        );
    }
    let n = arrays[0].samples();
    for (i, a) in arrays.iter().enumerate() {
        if a.samples() != n {
            bail!(
                "{what} array {i} has {} samples but array 0 has {n}; every array needs the same number of samples",
                a.samples()
            );
        }
    }
    Ok(n)
}

impl Model {
    /// Checks input arrays against the model's inputs (shape, type, ids inside every table).
    pub(crate) fn check_inputs(&self, x: &[&Array]) -> Result<usize> {
        let n = check_arrays("input", x, self.inputs.len())?;
        self.check_feed_shapes(&crate::fit::sample_shapes(x))?;
        for (i, (a, t)) in x.iter().zip(&self.inputs).enumerate() {
            let name = t.input_name().unwrap_or("input");
            if a.dtype() != t.dtype {
                bail!(
                    "input {i} ('{name}') holds {} values but the model's input is {}; \
                     give it an array of {}",
                    a.dtype(),
                    t.dtype,
                    t.dtype
                );
            }
        }
        for (index, rows, layer) in &self.id_bounds()? {
            let ids = x[*index].i32s()?;
            if let Some((p, &id)) = ids
                .iter()
                .enumerate()
                .find(|(_, &id)| id < 0 || id as usize >= *rows)
            {
                let w = x[*index].row_len();
                bail!(
                    "input {index} holds token id {id} (sample {}, position {}), but layer \
                     '{layer}' has input_dim {rows}: ids must lie in 0..{rows}; raise input_dim \
                     or map rarer tokens to an out-of-vocabulary id",
                    p / w,
                    p % w
                );
            }
        }
        Ok(n)
    }

    /// Checks per-sample input shapes against the model's inputs (free axes take any size).
    pub(crate) fn check_feed_shapes(&self, feeds: &[Shape]) -> Result<()> {
        if feeds.len() != self.inputs.len() {
            bail!(
                "the model has {} input(s), got {}",
                self.inputs.len(),
                feeds.len()
            );
        }
        for (i, (s, t)) in feeds.iter().zip(&self.inputs).enumerate() {
            if !t.accepts(s) {
                bail!(
                    "input {i} ('{}') has samples of shape {} but the model expects {}",
                    t.input_name().unwrap_or("input"),
                    with_batch(s),
                    t.shape_text()
                );
            }
        }
        Ok(())
    }

    pub(crate) fn check_data(&self, x: &[&Array], y: &[&Array]) -> Result<usize> {
        let n = self.check_inputs(x)?;
        let ny = check_arrays("target", y, self.outputs.len())?;
        if n != ny {
            bail!("the inputs have {n} samples but the targets have {ny}");
        }
        if let Some(t) = y.iter().find(|t| t.dtype() != wgtrain_graph::DType::F32) {
            bail!(
                "targets must be float32 arrays; got {} values of shape {}",
                t.dtype(),
                t.shape
            );
        }
        if x.len() + y.len() > MAX_ARRAYS {
            bail!("at most {MAX_ARRAYS} input and target arrays are supported");
        }
        Ok(n)
    }
}
