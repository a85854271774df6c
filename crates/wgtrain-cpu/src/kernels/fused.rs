//! Fused elementwise groups (`wgtrain_graph::fusion`): a chain of unary and binary ops run
//! chunk by chunk, rows of the output at a time, so the intermediate values stay in cache and
//! the arena sees one read of each input and one write of the result.

use super::elementwise::{binary_flat, unary};
use super::PAR_CHUNK;
use rayon::prelude::*;
use std::cell::RefCell;
use wgtrain_graph::{BinaryOp, UnaryOp};

/// Where an operand of a step comes from: a leaf tensor or an earlier step of the group.
#[derive(Clone, Copy, Debug)]
pub enum Arg {
    Leaf(usize),
    Step(usize),
}

/// One op of a group; the last step's value is the group's result.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    Unary(UnaryOp, Arg),
    Binary(BinaryOp, Arg, Arg),
}

/// A tensor the group reads, through a rows x cols view of the output: element (row, col) is
/// `data[row * row_stride + col * col_stride]`.
#[derive(Clone, Copy, Default)]
pub struct Leaf<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

thread_local! {
    /// Chunk buffers for gathered leaves and intermediate steps; grows once per thread.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Computes the group into `out`, whose rows have `cols` values.
pub fn run(steps: &[Step], leaves: &[Leaf], out: &mut [f32], cols: usize) {
    let cols = cols.max(1);
    let rows_per = (PAR_CHUNK / cols).max(1);
    let chunk = rows_per * cols;
    let regions = leaves.len() + steps.len() - 1;
    out.par_chunks_mut(chunk).enumerate().for_each(|(c, o)| {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < regions * chunk {
                s.resize(regions * chunk, 0.0);
            }
            run_chunk(steps, leaves, o, cols, c * rows_per, chunk, &mut s);
        })
    });
}

/// One chunk: rows `first_row ..` of the output, `o.len() / cols` of them.
fn run_chunk(
    steps: &[Step],
    leaves: &[Leaf],
    o: &mut [f32],
    cols: usize,
    first_row: usize,
    chunk: usize,
    scratch: &mut [f32],
) {
    let len = o.len();
    let rows = len / cols;
    // Leaves laid out like the output are read in place; the others are gathered.
    for (l, leaf) in leaves.iter().enumerate() {
        if leaf.row_stride == cols && leaf.col_stride == 1 {
            continue;
        }
        let dst = &mut scratch[l * chunk..l * chunk + len];
        for (r, dst) in dst.chunks_mut(cols).enumerate().take(rows) {
            let at = (first_row + r) * leaf.row_stride;
            if leaf.col_stride == 0 {
                dst.fill(leaf.data[at]);
            } else {
                dst.copy_from_slice(&leaf.data[at..at + cols]);
            }
        }
    }
    let step_base = leaves.len() * chunk;
    let last = steps.len() - 1;
    for (k, step) in steps.iter().enumerate() {
        let (before, after) = scratch.split_at_mut(step_base + k * chunk);
        let arg = |a: Arg| -> &[f32] {
            match a {
                Arg::Leaf(l) => {
                    let leaf = &leaves[l];
                    if leaf.row_stride == cols && leaf.col_stride == 1 {
                        &leaf.data[first_row * cols..first_row * cols + len]
                    } else {
                        &before[l * chunk..l * chunk + len]
                    }
                }
                Arg::Step(j) => &before[step_base + j * chunk..step_base + j * chunk + len],
            }
        };
        let dst: &mut [f32] = if k == last {
            &mut *o
        } else {
            &mut after[..len]
        };
        match *step {
            Step::Unary(op, x) => unary(op, arg(x), dst),
            Step::Binary(op, a, b) => binary_flat(op, arg(a), arg(b), dst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// relu(a * b + c) with `b` a row vector and `c` a column, against a plain loop, across
    /// chunk boundaries and threads.
    #[test]
    fn a_fused_chain_equals_its_ops_one_by_one() {
        let (rows, cols) = (700, 33);
        let a: Vec<f32> = (0..rows * cols).map(|i| (i % 17) as f32 - 8.0).collect();
        let b: Vec<f32> = (0..cols).map(|j| j as f32 * 0.25 - 2.0).collect();
        let c: Vec<f32> = (0..rows).map(|r| (r % 5) as f32 - 2.0).collect();
        let leaves = [
            Leaf {
                data: &a,
                row_stride: cols,
                col_stride: 1,
            },
            Leaf {
                data: &b,
                row_stride: 0,
                col_stride: 1,
            },
            Leaf {
                data: &c,
                row_stride: 1,
                col_stride: 0,
            },
        ];
        let steps = [
            Step::Binary(BinaryOp::Mul, Arg::Leaf(0), Arg::Leaf(1)),
            Step::Binary(BinaryOp::Add, Arg::Step(0), Arg::Leaf(2)),
            Step::Unary(UnaryOp::Relu, Arg::Step(1)),
        ];
        let mut out = vec![f32::NAN; rows * cols];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| run(&steps, &leaves, &mut out, cols));
        for r in 0..rows {
            for j in 0..cols {
                let want = (a[r * cols + j] * b[j] + c[r]).max(0.0);
                assert_eq!(out[r * cols + j], want, "row {r} col {j}");
            }
        }
    }
}
