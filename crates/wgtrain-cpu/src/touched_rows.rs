//! Gradients of gathered tables (an Embedding's) kept as the rows a step touched.
//!
//! A table's gradient is `scatter_add_rows(values, ids)`: a few hundred rows of a table that may
//! hold tens of thousands. Where only the optimizer reads it, the scatter zeroes and fills just
//! the rows its ids name and records them; the optimizer reads those rows and treats every other
//! row's gradient as zero, so neither pass touches the untouched rows' gradient memory. The
//! values are the same bits as the dense gradient's.

use crate::kernels::optim::rows_per_chunk;
use wgtrain_graph::{NodeId, Op, Plan};

/// The rows one scatter wrote in the current step.
pub struct Touched {
    pub width: usize,
    /// Whether each table row was written.
    pub flags: Vec<bool>,
    rows: Vec<usize>,
}

impl Touched {
    /// Marks row `r`; true the first time in a step.
    pub fn mark(&mut self, r: usize) -> bool {
        let first = !self.flags[r];
        if first {
            self.flags[r] = true;
            self.rows.push(r);
        }
        first
    }

    /// Forgets the previous step's rows.
    pub fn clear(&mut self) {
        for &r in &self.rows {
            self.flags[r] = false;
        }
        self.rows.clear();
    }
}

/// The scatter nodes of a plan whose gradients are kept sparse.
#[derive(Default)]
pub struct TouchedRows {
    by_node: Vec<(NodeId, Touched)>,
}

impl TouchedRows {
    /// The plan's scatters that no node and no output reads: only the optimizer does.
    pub fn for_plan(plan: &Plan) -> Self {
        let graph = &plan.graph;
        let mut read = vec![false; graph.nodes.len()];
        for &n in &plan.schedule {
            for x in &graph.node(n).inputs {
                read[x.0] = true;
            }
        }
        let outputs = &plan.outputs;
        for n in outputs
            .loss
            .iter()
            .chain(&outputs.metrics)
            .chain(&outputs.predictions)
        {
            read[n.0] = true;
        }
        for a in &plan.assigns {
            read[a.value.0] = true;
        }
        let sparse = |n: NodeId| -> Option<(NodeId, Touched)> {
            let Op::ScatterAddRows { rows } = graph.node(n).op else {
                return None;
            };
            if read[n.0] {
                return None;
            }
            let ids = graph.shape(graph.node(n).inputs[1]).numel();
            Some((
                n,
                Touched {
                    width: graph.shape(n).numel() / rows,
                    flags: vec![false; rows],
                    rows: Vec::with_capacity(ids),
                },
            ))
        };
        // The squared gradient is kept sparse only along with the gradient: the optimizer
        // reads both by the gradient's rows.
        let mut by_node = Vec::new();
        for u in &plan.updates {
            if let Some(grad) = sparse(u.grad) {
                by_node.push(grad);
                by_node.extend(u.grad_sq.and_then(sparse));
            }
        }
        Self { by_node }
    }

    pub fn get_mut(&mut self, node: NodeId) -> Option<&mut Touched> {
        self.by_node
            .iter_mut()
            .find(|(n, _)| *n == node)
            .map(|(_, t)| t)
    }

    /// The zeros `optim::apply_rows` needs for the widest of these tables.
    pub fn widest_chunk(&self) -> usize {
        self.by_node
            .iter()
            .map(|(_, t)| rows_per_chunk(t.width) * t.width)
            .max()
            .unwrap_or(0)
    }

    pub fn get(&self, node: NodeId) -> Option<&Touched> {
        self.by_node
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, t)| t)
    }
}
