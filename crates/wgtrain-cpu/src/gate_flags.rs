//! The gate dropout's keep flags, drawn once a step.
//!
//! A gated mix with dropout on its gate draws one Philox multiplier per gate element; its
//! gradients need the same multipliers. Where a plan holds both, the forward pass records which
//! elements it kept (a byte each) and the gradients of the same step read those bytes instead
//! of drawing again. The flags are a function of (seed, step, op key, element), so a record
//! made for the same seed and step is the draw itself; any other gradient draws as usual.

use wgtrain_graph::{Op, Plan};

struct Record {
    key: u32,
    /// The (seed, step) the flags were drawn for.
    drawn_for: Option<(u64, u64)>,
    kept: Vec<u8>,
}

/// The keep flags of a plan's gated mixes whose gradients the plan also computes.
#[derive(Default)]
pub struct GateFlags {
    records: Vec<Record>,
}

impl GateFlags {
    pub fn for_plan(plan: &Plan) -> Self {
        let graph = &plan.graph;
        let differentiated = |key: u32| {
            plan.schedule.iter().any(
                |&n| matches!(graph.node(n).op, Op::GatedMixGrad { mix, .. } if mix.key == key),
            )
        };
        let records = plan
            .schedule
            .iter()
            .filter_map(|&n| match graph.node(n).op {
                Op::GatedMix(mix) if mix.rate > 0.0 && differentiated(mix.key) => Some(Record {
                    key: mix.key,
                    drawn_for: None,
                    kept: vec![0; graph.node(n).shape.numel()],
                }),
                _ => None,
            })
            .collect();
        Self { records }
    }

    /// Where the gated mix `key` records its flags for (seed, step), if it records them.
    pub fn record(&mut self, key: u32, seed: u64, step: u64) -> Option<&mut [u8]> {
        let r = self.records.iter_mut().find(|r| r.key == key)?;
        r.drawn_for = Some((seed, step));
        Some(&mut r.kept)
    }

    /// The flags the gated mix `key` recorded for (seed, step), if it did.
    pub fn recorded(&self, key: u32, seed: u64, step: u64) -> Option<&[u8]> {
        self.records
            .iter()
            .find(|r| r.key == key && r.drawn_for == Some((seed, step)))
            .map(|r| &r.kept[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgtrain_graph::autodiff::gradients;
    use wgtrain_graph::{Graph, NodeId, PlanOutputs};

    /// A gated mix `g * s + (1 - g) * v` over `h = [gate | value]`, the gate dropped at `rate`,
    /// and the gradient with respect to `s` when `differentiated`.
    fn plan(rate: f32, differentiated: bool) -> (Plan, u32) {
        let mut g = Graph::new();
        let h = g.input([4, 6]);
        let s = g.input([4, 3]);
        let gate = g.slice(h, -1, 0, 3).unwrap();
        let value = g.slice(h, -1, 3, 6).unwrap();
        let gate = g.dropout(gate, rate, 7).unwrap();
        let gate = g.sigmoid(gate).unwrap();
        let one = g.scalar(1.0);
        let keep = g.sub(one, gate).unwrap();
        let a = g.mul(gate, s).unwrap();
        let b = g.mul(keep, value).unwrap();
        let out = g.add(a, b).unwrap();
        let Op::GatedMix(mix) = g.node(out).op else {
            panic!("the tail is recognized as a gated mix");
        };
        let mut outputs = PlanOutputs {
            predictions: vec![out],
            ..Default::default()
        };
        if differentiated {
            let total = g.sum(out, -1, false).unwrap();
            let loss = g.sum(total, -1, false).unwrap();
            let ds: NodeId = gradients(&mut g, loss, &[s]).unwrap()[0].unwrap();
            outputs.predictions.push(ds);
        }
        (Plan::new(g, outputs, Vec::new(), None), mix.key)
    }

    #[test]
    fn flags_are_kept_only_for_a_differentiated_mix_with_dropout() {
        assert!(GateFlags::for_plan(&plan(0.3, false).0).records.is_empty());
        assert!(GateFlags::for_plan(&plan(0.0, true).0).records.is_empty());
        let (p, key) = plan(0.3, true);
        let mut flags = GateFlags::for_plan(&p);
        assert_eq!(flags.records.len(), 1);
        assert!(flags.recorded(key, 1, 2).is_none(), "nothing recorded yet");
        assert_eq!(flags.record(key, 1, 2).map(|k| k.len()), Some(12));
        assert!(flags.recorded(key, 1, 2).is_some());
        assert!(
            flags.recorded(key, 1, 3).is_none(),
            "another step draws again"
        );
        assert!(
            flags.recorded(key, 2, 2).is_none(),
            "another seed draws again"
        );
        assert!(flags.record(key + 1, 1, 2).is_none(), "no such mix");
    }
}
