//! `Bidirectional`: a recurrent layer run forward and backward over the sequence, the two
//! outputs merged, like `keras.layers.Bidirectional`.

use super::recurrent::{Direction, Recurrent};
use crate::layer::{snake_case, BuildCtx, CallCtx, Layer};
use anyhow::{bail, Context, Result};
use serde_json::json;
use wgtrain_graph::{NodeId, Shape};

/// How the forward and backward outputs combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeMode {
    Concat,
    Sum,
    Mul,
    Ave,
}

impl MergeMode {
    pub fn name(self) -> &'static str {
        match self {
            MergeMode::Concat => "concat",
            MergeMode::Sum => "sum",
            MergeMode::Mul => "mul",
            MergeMode::Ave => "ave",
        }
    }
    pub fn parse(name: &str) -> Result<MergeMode> {
        Ok(match name {
            "concat" => MergeMode::Concat,
            "sum" => MergeMode::Sum,
            "mul" => MergeMode::Mul,
            "ave" => MergeMode::Ave,
            other => bail!("unknown merge_mode '{other}'; known: concat, sum, mul, ave"),
        })
    }
}

/// A recurrent layer (`SimpleRNN`, `LSTM`, `GRU`) over the sequence in both directions: the
/// backward copy's outputs are put back in step order before the merge. Its weights are the
/// forward layer's, then the backward copy's. Extra inputs are initial states, the forward
/// layer's then the backward layer's.
pub struct Bidirectional {
    forward: Recurrent,
    backward: Recurrent,
    merge_mode: MergeMode,
}

impl Bidirectional {
    pub fn new(layer: Recurrent) -> Self {
        let backward = layer.clone().go_backwards(!layer.go_backwards);
        Self {
            forward: layer,
            backward,
            merge_mode: MergeMode::Concat,
        }
    }
    pub fn merge_mode(mut self, mode: MergeMode) -> Self {
        self.merge_mode = mode;
        self
    }

    /// From Keras' configuration: `{"layer": {"class_name", "config"}, "merge_mode"}`.
    pub(crate) fn from_config(c: &serde_json::Value) -> Result<Bidirectional> {
        let class = c["layer"]["class_name"].as_str().unwrap_or("(missing)");
        let layer = Recurrent::from_config(class, &c["layer"]["config"]).with_context(|| {
            format!("Bidirectional wraps a recurrent layer (SimpleRNN, LSTM or GRU), not '{class}'")
        })?;
        let merge = MergeMode::parse(c["merge_mode"].as_str().unwrap_or("concat"))?;
        Ok(Bidirectional::new(layer).merge_mode(merge))
    }

    fn merge(&self, ctx: &mut CallCtx, a: NodeId, b: NodeId) -> Result<NodeId> {
        let g = &mut *ctx.graph;
        Ok(match self.merge_mode {
            MergeMode::Concat => g.concat(&[a, b], -1)?,
            MergeMode::Sum => g.add(a, b)?,
            MergeMode::Mul => g.mul(a, b)?,
            MergeMode::Ave => {
                let sum = g.add(a, b)?;
                g.mul_scalar(sum, 0.5)?
            }
        })
    }
}

impl Layer for Bidirectional {
    fn class_name(&self) -> &str {
        "Bidirectional"
    }
    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        let name = snake_case(self.forward.keras_class());
        self.forward
            .build_weights(&input_shapes[0], ctx, &format!("forward_{name}/"))?;
        self.backward
            .build_weights(&input_shapes[0], ctx, &format!("backward_{name}/"))
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let states = self.forward.states();
        let initial = &inputs[1..];
        if !initial.is_empty() && initial.len() != 2 * states {
            bail!(
                "Bidirectional({}) takes {} initial state tensors (the forward layer's, then the \
                 backward layer's), got {}",
                self.forward.keras_class(),
                2 * states,
                initial.len()
            );
        }
        let (fw_init, bw_init) = initial.split_at(initial.len() / 2);
        let mask = ctx.mask(0);
        let sequences = self.forward.return_sequences;
        let direction = |go_backwards| Direction {
            go_backwards,
            outputs_in_walk_order: false,
            zero_output_for_mask: sequences,
        };
        let fw = self.forward.walk(
            ctx,
            inputs[0],
            fw_init,
            mask,
            direction(self.forward.go_backwards),
        )?;
        let bw = self.backward.walk(
            ctx,
            inputs[0],
            bw_init,
            mask,
            direction(self.backward.go_backwards),
        )?;
        let (a, b) = if sequences {
            (fw.outputs, bw.outputs)
        } else {
            (fw.last, bw.last)
        };
        let mut outs = vec![self.merge(ctx, a, b)?];
        if self.forward.return_state {
            for r in [fw, bw] {
                outs.push(r.state);
                outs.extend(r.cell_state);
            }
        }
        Ok(outs)
    }
    fn compute_mask(
        &self,
        _ctx: &mut CallCtx,
        _inputs: &[NodeId],
        masks: &[Option<NodeId>],
    ) -> Result<Option<NodeId>> {
        let mask = masks.first().copied().flatten();
        Ok(mask.filter(|_| self.forward.return_sequences && !self.forward.return_state))
    }
    fn config(&self) -> serde_json::Value {
        json!({
            "layer": {
                "class_name": self.forward.keras_class(),
                "config": self.forward.config_json(),
            },
            "merge_mode": self.merge_mode.name(),
        })
    }
}
