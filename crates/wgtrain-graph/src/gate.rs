//! The gated mix `(g * s + (1 - g) * v) * mask`, `g = sigmoid(dropout(gate half of h + bias))`
//! and `v` the other half: built directly, or recognized when a layer writes it out op by op
//! (the bias sum, the split, dropout, sigmoid, `1 - g`, two products, a sum and the mask
//! product), so the whole tail runs as one kernel forward and one per input backward instead of
//! a dozen passes over the block's activations.

use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, GatedMix, Op, UnaryOp};
use crate::GraphError;

type R = Result<NodeId, GraphError>;

impl Graph {
    /// `(g * s + (1 - g) * v) * mask` with `g = sigmoid(dropout(h'[..., gate..gate+w], rate))`
    /// and `v = h'[..., value..value+w]`, where `h' = h + bias`, `w` is `s`'s last axis and `h`
    /// is `2w` wide. `mix.biased` is set from `bias`.
    pub fn gated_mix(
        &mut self,
        h: NodeId,
        s: NodeId,
        bias: Option<NodeId>,
        mask: Option<NodeId>,
        mix: GatedMix,
    ) -> R {
        let mix = GatedMix {
            biased: bias.is_some(),
            ..mix
        };
        let mut inputs = vec![h, s];
        inputs.extend(bias);
        inputs.extend(mask);
        self.push(Op::GatedMix(mix), &inputs)
    }

    /// `a + b` as a gated mix when one is `g * s` and the other `(1 - g) * v`, with `g` the
    /// sigmoid of one (dropped out) half of a tensor's last axis and `v` the other half.
    pub(crate) fn recognize_gated_mix(&mut self, a: NodeId, b: NodeId) -> Option<R> {
        let (mix, h, s) = self.gated_terms(a, b).or_else(|| self.gated_terms(b, a))?;
        let (h, bias) = self.bias_sum(h);
        Some(self.gated_mix(h, s, bias, None, mix))
    }

    /// `a * b` as a masked gated mix when one is an unmasked gated mix and the other a mask of
    /// its shape with a last axis of 1.
    pub(crate) fn recognize_masked_gated_mix(&mut self, a: NodeId, b: NodeId) -> Option<R> {
        let masked = |g: &Graph, mix: NodeId, mask: NodeId| match (&g.node(mix).op, g.shape(mask)) {
            (Op::GatedMix(m), ms) if g.node(mix).inputs.len() == 2 + m.biased as usize => {
                let out = g.shape(mix);
                let fits = ms.rank() == out.rank()
                    && ms.last() == 1
                    && ms.0[..ms.rank() - 1] == out.0[..out.rank() - 1];
                fits.then(|| (*m, g.node(mix).inputs.clone(), mask))
            }
            _ => None,
        };
        let (mix, inputs, mask) = masked(self, a, b).or_else(|| masked(self, b, a))?;
        let bias = mix.biased.then(|| inputs[2]);
        Some(self.gated_mix(inputs[0], inputs[1], bias, Some(mask), mix))
    }

    /// (x, Some(bias)) when `h` is `x + bias` with a bias over `h`'s last axis, else (h, None).
    fn bias_sum(&self, h: NodeId) -> (NodeId, Option<NodeId>) {
        let node = self.node(h);
        if node.op != Op::Binary(BinaryOp::Add) {
            return (h, None);
        }
        let is_bias = |b: NodeId| self.shape(b).0 == [self.shape(h).last()];
        let (a, b) = (node.inputs[0], node.inputs[1]);
        if self.shape(a) == self.shape(h) && is_bias(b) {
            (a, Some(b))
        } else if self.shape(b) == self.shape(h) && is_bias(a) {
            (b, Some(a))
        } else {
            (h, None)
        }
    }

    /// (mix, h, s) when `gs` is `g * s` and `kv` is `(1 - g) * v` for the same `g`.
    fn gated_terms(&self, gs: NodeId, kv: NodeId) -> Option<(GatedMix, NodeId, NodeId)> {
        let (g, s) = self.product_with(gs, |x| self.gate_of(x).is_some())?;
        let (_, v) = self.product_with(kv, |x| self.one_minus(x) == Some(g))?;
        let (h, gate, rate, key) = self.gate_of(g)?;
        let (hv, value, width) = self.last_axis_window(v)?;
        let same_rows = self.shape(s) == self.shape(v) && self.shape(g) == self.shape(v);
        let halves = self.shape(h).last() == 2 * width && gate != value;
        (hv == h && same_rows && halves).then_some((
            GatedMix {
                gate,
                value,
                rate,
                key,
                biased: false,
            },
            h,
            s,
        ))
    }

    /// The operands of the product `x` as (the one `pick` accepts, the other).
    fn product_with(&self, x: NodeId, pick: impl Fn(NodeId) -> bool) -> Option<(NodeId, NodeId)> {
        let node = self.node(x);
        if node.op != Op::Binary(BinaryOp::Mul) {
            return None;
        }
        let (a, b) = (node.inputs[0], node.inputs[1]);
        if pick(a) {
            Some((a, b))
        } else if pick(b) {
            Some((b, a))
        } else {
            None
        }
    }

    /// `y` when `x` is `1 - y`.
    fn one_minus(&self, x: NodeId) -> Option<NodeId> {
        let node = self.node(x);
        let is_one = |c: NodeId| self.node(c).op == Op::Const { value: 1.0 };
        (node.op == Op::Binary(BinaryOp::Sub) && is_one(node.inputs[0])).then(|| node.inputs[1])
    }

    /// (h, first gate column, dropout rate, dropout key) when `g` is
    /// `sigmoid([dropout](h[..., a..b]))`.
    fn gate_of(&self, g: NodeId) -> Option<(NodeId, usize, f32, u32)> {
        let node = self.node(g);
        if node.op != Op::Unary(UnaryOp::Sigmoid) {
            return None;
        }
        let pre = node.inputs[0];
        let (window, rate, key) = match self.node(pre).op {
            Op::Dropout { rate, key } => (self.node(pre).inputs[0], rate, key),
            _ => (pre, 0.0, 0),
        };
        let (h, start, _) = self.last_axis_window(window)?;
        Some((h, start, rate, key))
    }

    /// (h, start, width) when `x` is `h[..., start..start+width]`.
    fn last_axis_window(&self, x: NodeId) -> Option<(NodeId, usize, usize)> {
        match self.node(x).op {
            Op::Slice { axis, start, end } if axis + 1 == self.shape(x).rank() => {
                Some((self.node(x).inputs[0], start, end - start))
            }
            _ => None,
        }
    }
}

/// The gradients of a gated mix with respect to each of its inputs.
pub(crate) fn gated_mix_gradients(
    g: &mut Graph,
    mix: GatedMix,
    inputs: &[NodeId],
    dy: NodeId,
) -> Result<Vec<Option<NodeId>>, GraphError> {
    let mut operands = vec![dy];
    operands.extend_from_slice(inputs);
    let dh = g.push(Op::GatedMixGrad { mix, wrt: 0 }, &operands)?;
    let mut grads = vec![Some(dh)];
    for wrt in 1..inputs.len() {
        grads.push(Some(if mix.biased && wrt == 2 {
            let bias = g.shape(inputs[2]).clone();
            g.sum_to(dh, &bias)?
        } else {
            g.push(Op::GatedMixGrad { mix, wrt }, &operands)?
        }));
    }
    Ok(grads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::ParamId;

    /// The tail as a layer writes it: split, dropout on the gate, sigmoid, mix, mask.
    fn written_out(g: &mut Graph, h: NodeId, s: NodeId, mask: NodeId, rate: f32) -> R {
        let bias = g.param(ParamId(2), [8]);
        let h = g.add(h, bias)?;
        let gate = g.slice(h, -1, 0, 4)?;
        let value = g.slice(h, -1, 4, 8)?;
        let gate = if rate > 0.0 {
            g.dropout(gate, rate, 7)?
        } else {
            gate
        };
        let gate = g.sigmoid(gate)?;
        let one = g.scalar(1.0);
        let keep = g.sub(one, gate)?;
        let a = g.mul(gate, s)?;
        let b = g.mul(keep, value)?;
        let out = g.add(a, b)?;
        g.mul(out, mask)
    }

    #[test]
    fn the_written_out_tail_becomes_one_masked_gated_mix() {
        for rate in [0.0, 0.1] {
            let mut g = Graph::new();
            let h = g.param(ParamId(0), [2, 3, 8]);
            let s = g.param(ParamId(1), [2, 3, 4]);
            let mask = g.input([2, 3, 1]);
            let out = written_out(&mut g, h, s, mask, rate).unwrap();
            let node = g.node(out);
            let want = GatedMix {
                gate: 0,
                value: 4,
                rate,
                key: if rate > 0.0 { 7 } else { 0 },
                biased: true,
            };
            assert_eq!(node.op, Op::GatedMix(want));
            let bias = g
                .nodes
                .iter()
                .position(|n| n.op == Op::Param { id: ParamId(2) });
            assert_eq!(node.inputs, vec![h, s, NodeId(bias.unwrap()), mask]);
        }
    }

    #[test]
    fn a_different_tail_is_left_as_written() {
        let mut g = Graph::new();
        let h = g.param(ParamId(0), [2, 8]);
        let s = g.param(ParamId(1), [2, 4]);
        let gate = g.slice(h, -1, 0, 4).unwrap();
        let value = g.slice(h, -1, 4, 8).unwrap();
        let gate = g.sigmoid(gate).unwrap();
        // (1 - s) instead of (1 - g): not a gated mix.
        let one = g.scalar(1.0);
        let keep = g.sub(one, s).unwrap();
        let a = g.mul(gate, s).unwrap();
        let b = g.mul(keep, value).unwrap();
        let out = g.add(a, b).unwrap();
        assert_eq!(g.node(out).op, Op::Binary(BinaryOp::Add));
    }
}
