//! The CPU backend: runs compiled plans with multi-threaded Rust kernels over one preallocated
//! arena per plan. A step allocates nothing.

mod conv_choice;
mod fused_groups;
mod gate_flags;
pub mod kernels;
mod touched_rows;

use fused_groups::FusedGroups;
use gate_flags::GateFlags;
pub use kernels::conv::ConvAlgorithm;
use kernels::{
    batch_norm, conv, conv2d, elementwise, gate, gather, layout, loss, matmul, optim, pool,
    recurrent, reduce,
};
use touched_rows::TouchedRows;
use wgtrain_graph::backend::{
    check_params, check_slot_values, feed_inputs, scalar_nodes, stored, BackendError,
    BackendResult, BackendStats, ScalarQueue, Stored, MAX_SCALARS,
};
use wgtrain_graph::fusion::Fusion;
use wgtrain_graph::plan::is_view;
use wgtrain_graph::{
    Backend, Feed, GatedMix, Graph, NodeId, Op, ParamId, Plan, PlanId, Shape, StepArgs,
};

pub struct CpuBackend {
    params: Vec<Vec<f32>>,
    optimizer_slots: Vec<[Vec<f32>; 2]>,
    plans: Vec<Compiled>,
    pool: rayon::ThreadPool,
    scalars: ScalarQueue,
    stats: BackendStats,
    conv: ConvAlgorithm,
}

struct Compiled {
    plan: Plan,
    arena: Vec<f32>,
    touched: TouchedRows,
    /// Zero gradient rows for the optimizer's untouched table rows.
    zeros: Vec<f32>,
    fused: FusedGroups,
    /// The algorithm of each convolution, by node index.
    conv: Vec<ConvAlgorithm>,
    gate_flags: GateFlags,
    /// Kernels a run executes: the schedule less the nodes computed inside a group.
    passes: usize,
}

fn err(msg: impl Into<String>) -> BackendError {
    BackendError(msg.into())
}

/// Makes the calling thread flush denormal results to zero and read denormal operands as
/// zero, as TensorFlow sets its CPU threads. Gradients fading through hundreds of recurrent
/// steps reach the denormal range, where x86 arithmetic runs many times slower.
fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: sets the FTZ (bit 15) and DAZ (bit 6) flags of this thread's MXCSR, which change
    // only how denormal floats round.
    #[allow(deprecated)]
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

impl CpuBackend {
    /// A backend using every core.
    pub fn new() -> Self {
        Self::with_threads(0)
    }

    /// A backend using `threads` worker threads (0: one per core).
    pub fn with_threads(threads: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .start_handler(|_| flush_denormals())
            .build()
            .expect("the CPU backend's thread pool starts");
        Self {
            params: Vec::new(),
            optimizer_slots: Vec::new(),
            plans: Vec::new(),
            pool,
            scalars: ScalarQueue::default(),
            stats: BackendStats::default(),
            conv: ConvAlgorithm::Auto,
        }
    }

    /// The backend with convolutions computed by `conv`: `Winograd` (three-tap, stride-1
    /// convolutions by F(4, 3): half the multiply-adds, about three times the rounding error of
    /// the direct GEMMs), `Gemm`, or `Auto` (the default: Winograd except where a maximum
    /// reads the outputs).
    pub fn with_conv_algorithm(mut self, conv: ConvAlgorithm) -> Self {
        self.conv = conv;
        self
    }

    fn param(&self, id: ParamId) -> BackendResult<&Vec<f32>> {
        self.params
            .get(id.0)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| err(format!("parameter {} was never set", id.0)))
    }
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        let threads = self.pool.current_num_threads();
        match self.conv {
            ConvAlgorithm::Auto => format!("cpu ({threads} threads)"),
            ConvAlgorithm::Gemm => format!("cpu ({threads} threads, GEMM convolutions)"),
            ConvAlgorithm::Winograd => format!("cpu ({threads} threads, Winograd convolutions)"),
        }
    }

    fn set_param(&mut self, id: ParamId, values: &[f32]) -> BackendResult<()> {
        if self.params.len() <= id.0 {
            self.params.resize(id.0 + 1, Vec::new());
        }
        self.params[id.0] = values.to_vec();
        Ok(())
    }

    fn read_param(&mut self, id: ParamId, out: &mut [f32]) -> BackendResult<()> {
        let p = self.param(id)?;
        if p.len() != out.len() {
            return Err(err(format!(
                "parameter {} has {} values, asked for {}",
                id.0,
                p.len(),
                out.len()
            )));
        }
        out.copy_from_slice(p);
        Ok(())
    }

    fn reset_optimizer(&mut self) {
        self.optimizer_slots.clear();
    }

    fn read_optimizer_slot(
        &mut self,
        id: ParamId,
        k: usize,
        out: &mut [f32],
    ) -> BackendResult<bool> {
        match self.optimizer_slots.get(id.0).map(|s| &s[k.min(1)]) {
            Some(slot) if slot.len() == out.len() && k < 2 => {
                out.copy_from_slice(slot);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn write_optimizer_slot(&mut self, id: ParamId, k: usize, values: &[f32]) -> BackendResult<()> {
        let n = self.param(id)?.len();
        check_slot_values(id, k, n, values.len())?;
        if self.optimizer_slots.len() < self.params.len() {
            self.optimizer_slots
                .resize_with(self.params.len(), Default::default);
        }
        let slots = &mut self.optimizer_slots[id.0];
        for (j, slot) in slots.iter_mut().enumerate() {
            if slot.len() != n {
                *slot = vec![0.0; n];
            }
            if j == k {
                slot.copy_from_slice(values);
            }
        }
        Ok(())
    }

    fn compile(&mut self, plan: Plan) -> BackendResult<PlanId> {
        if scalar_nodes(&plan).count() > MAX_SCALARS {
            return Err(err(format!(
                "a plan may report at most {MAX_SCALARS} scalars (the loss and metrics)"
            )));
        }
        check_params(&plan, |id| self.param(id).ok().map(|p| p.len()))?;
        let fusion = Fusion::of(&plan, fused_groups::LIMITS);
        let plan = fusion.relayout(plan);
        let fused = FusedGroups::of(&plan, &fusion);
        let passes = plan
            .schedule
            .iter()
            .filter(|n| !fused.absorbed(**n) && !is_view(&plan, **n))
            .count();
        let mut arena = vec![0.0f32; plan.arena_len];
        for (i, node) in plan.graph.nodes.iter().enumerate() {
            if let (Op::Const { value }, Some(slot)) = (&node.op, plan.slots[i]) {
                arena[slot.offset] = *value;
            }
        }
        let touched = TouchedRows::for_plan(&plan);
        let zeros = vec![0.0; touched.widest_chunk()];
        let conv = conv_choice::per_node(&plan, self.conv);
        let gate_flags = GateFlags::for_plan(&plan);
        self.plans.push(Compiled {
            plan,
            arena,
            touched,
            zeros,
            fused,
            conv,
            gate_flags,
            passes,
        });
        Ok(PlanId(self.plans.len() - 1))
    }

    fn plan(&self, id: PlanId) -> &Plan {
        &self.plans[id.0].plan
    }

    fn run(&mut self, id: PlanId, inputs: &[Feed], args: &StepArgs) -> BackendResult<()> {
        let started = std::time::Instant::now();
        let compiled = self
            .plans
            .get_mut(id.0)
            .ok_or_else(|| err(format!("no compiled plan {}", id.0)))?;
        let plan = &compiled.plan;
        if args.phase.computes() {
            let arena = &mut compiled.arena;
            feed_inputs(plan, inputs, |slot, data| {
                arena[slot.offset..slot.offset + slot.len].copy_from_slice(data)
            })?;
            let params = &self.params;
            let (arena, touched, fused) =
                (&mut compiled.arena, &mut compiled.touched, &compiled.fused);
            let (conv, flags) = (&compiled.conv, &mut compiled.gate_flags);
            self.pool.install(|| {
                for &node in &plan.schedule {
                    execute(plan, params, arena, touched, fused, conv, flags, node, args);
                }
            });
        }
        if let Some(spec) = plan.optimizer.as_ref().filter(|_| args.phase.updates()) {
            if self.optimizer_slots.len() < self.params.len() {
                self.optimizer_slots
                    .resize_with(self.params.len(), Default::default);
            }
            let slots_needed = spec.slots();
            let params = &mut self.params;
            let state = &mut self.optimizer_slots;
            let (arena, touched, zeros) = (&compiled.arena, &compiled.touched, &compiled.zeros);
            self.pool.install(|| {
                for u in &plan.updates {
                    let p = &mut params[u.param.0];
                    let s = &mut state[u.param.0];
                    for (k, slot) in s.iter_mut().enumerate() {
                        if k < slots_needed && slot.len() != p.len() {
                            *slot = vec![0.0; p.len()];
                        }
                    }
                    let gs = plan.slots[u.grad.0].expect("a gradient has a slot");
                    let g = &arena[gs.offset..gs.offset + gs.len];
                    let g_sq = u.grad_sq.map(|q| {
                        let qs = plan.slots[q.0].expect("a squared gradient has a slot");
                        &arena[qs.offset..qs.offset + qs.len]
                    });
                    let [s0, s1] = s;
                    match touched.get(u.grad) {
                        Some(t) => optim::apply_rows(
                            spec,
                            args.optimizer,
                            p,
                            g,
                            g_sq,
                            s0,
                            s1,
                            (t.width, &t.flags),
                            zeros,
                        ),
                        None => optim::apply(spec, args.optimizer, p, g, g_sq, s0, s1),
                    }
                }
            });
        }
        let assigns = if args.phase.updates() {
            &plan.assigns[..]
        } else {
            &[]
        };
        for a in assigns {
            let slot = plan.slots[a.value.0].expect("an assigned value has a slot");
            let value = &compiled.arena[slot.offset..slot.offset + slot.len];
            match self.params.get_mut(a.param.0) {
                Some(p) if p.len() == value.len() => p.copy_from_slice(value),
                _ => {
                    return Err(err(format!(
                        "parameter {} cannot take an assigned value of {} elements",
                        a.param.0,
                        value.len()
                    )))
                }
            }
        }
        if args.phase.computes() && scalar_nodes(plan).next().is_some() {
            let arena = &compiled.arena;
            self.scalars.push(scalar_nodes(plan).map(|n| {
                let slot = plan.slots[n.0].expect("a scalar output has a slot");
                arena[slot.offset]
            }));
        }
        self.stats.runs += 1;
        if args.phase.computes() {
            self.stats.dispatches += compiled.passes as u64;
        }
        self.stats.host_seconds += started.elapsed().as_secs_f64();
        Ok(())
    }

    fn profile(
        &mut self,
        id: PlanId,
        inputs: &[Feed],
        args: &StepArgs,
    ) -> BackendResult<Vec<(String, f64)>> {
        let compiled = self
            .plans
            .get_mut(id.0)
            .ok_or_else(|| err(format!("no compiled plan {}", id.0)))?;
        let plan = &compiled.plan;
        let arena = &mut compiled.arena;
        feed_inputs(plan, inputs, |slot, data| {
            arena[slot.offset..slot.offset + slot.len].copy_from_slice(data)
        })?;
        let params = &self.params;
        let (touched, fused) = (&mut compiled.touched, &compiled.fused);
        let (conv, flags) = (&compiled.conv, &mut compiled.gate_flags);
        let mut times = Vec::with_capacity(plan.schedule.len() + 1);
        self.pool.install(|| {
            for &node in plan
                .schedule
                .iter()
                .filter(|n| !fused.absorbed(**n) && !is_view(plan, **n))
            {
                let started = std::time::Instant::now();
                execute(plan, params, arena, touched, fused, conv, flags, node, args);
                times.push((
                    plan.graph.node(node).op.name(),
                    started.elapsed().as_secs_f64(),
                ));
            }
        });
        // The optimizer update, timed by a normal run minus the nodes above.
        let started = std::time::Instant::now();
        self.run(id, inputs, args)?;
        let whole = started.elapsed().as_secs_f64();
        let nodes: f64 = times.iter().map(|t| t.1).sum();
        if self.plans[id.0].plan.optimizer.is_some() {
            times.push(("optimizer".into(), (whole - nodes).max(0.0)));
        }
        Ok(times)
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }

    fn synchronize(&mut self) -> BackendResult<()> {
        Ok(())
    }

    fn take_scalars(
        &mut self,
        keep_latest: bool,
        sink: &mut dyn FnMut(&[f32]),
    ) -> BackendResult<()> {
        self.scalars.take(keep_latest, sink);
        Ok(())
    }

    fn read(&mut self, id: PlanId, node: NodeId, out: &mut [f32]) -> BackendResult<()> {
        let compiled = &self.plans[id.0];
        match stored(&compiled.plan, node, out.len())? {
            Stored::Param(id) => return self.read_param(id, out),
            Stored::Slot(slot) => {
                out.copy_from_slice(&compiled.arena[slot.offset..slot.offset + slot.len])
            }
        }
        Ok(())
    }
}

/// A gated mix's operands from its inputs (h, s, optional mask) by position.
fn mix_operands<'a>(
    input: &dyn Fn(usize) -> &'a [f32],
    shape: &dyn Fn(usize) -> &'a Shape,
    masked: bool,
    mix: GatedMix,
    args: &StepArgs,
    kept: Option<&'a [u8]>,
) -> gate::MixOperands<'a> {
    gate::MixOperands {
        h: input(0),
        s: input(1),
        width: shape(1).last(),
        bias: mix.biased.then(|| input(2)),
        mask: masked.then(|| input(2 + mix.biased as usize)),
        mix,
        seed: args.seed,
        step: args.step,
        kept,
    }
}

/// Runs the kernel of one scheduled node.
#[allow(clippy::too_many_arguments)]
fn execute(
    plan: &Plan,
    params: &[Vec<f32>],
    arena: &mut [f32],
    touched: &mut TouchedRows,
    fused: &FusedGroups,
    conv: &[ConvAlgorithm],
    gate_flags: &mut GateFlags,
    id: NodeId,
    args: &StepArgs,
) {
    if fused.absorbed(id) || is_view(plan, id) {
        return;
    }
    let graph: &Graph = &plan.graph;
    let node = graph.node(id);
    let out_slot = plan.slots[id.0].expect("a scheduled node has a slot");
    let base = arena.as_mut_ptr();
    // SAFETY: the planner gives every node a slot that no live input overlaps, and slots lie
    // inside the arena; parameters live outside it.
    let out: &mut [f32] =
        unsafe { std::slice::from_raw_parts_mut(base.add(out_slot.offset), out_slot.len) };
    let value = |x: NodeId| -> &[f32] {
        match graph.node(x).op {
            Op::Param { id } => &params[id.0],
            _ => {
                let s = plan.slots[x.0].expect("an input of a scheduled node has a slot");
                unsafe { std::slice::from_raw_parts(base.add(s.offset), s.len) }
            }
        }
    };
    if fused.run(id, value, out) {
        return;
    }
    let input = |k: usize| value(node.inputs[k]);
    let shape = |k: usize| graph.shape(node.inputs[k]);
    match &node.op {
        Op::Input { .. } | Op::Param { .. } | Op::Const { .. } => {}
        Op::Unary(op) => elementwise::unary(*op, input(0), out),
        Op::Binary(op) => elementwise::binary(
            *op,
            input(0),
            shape(0),
            input(1),
            shape(1),
            out,
            &node.shape,
        ),
        Op::MatMul { ta, tb } => {
            matmul::matmul(input(0), shape(0), input(1), shape(1), out, *ta, *tb)
        }
        Op::Reduce { op, axis, .. } => reduce::reduce(*op, input(0), shape(0), *axis, out),
        Op::Softmax { axis } => reduce::softmax(input(0), shape(0), *axis, out, false),
        Op::LogSoftmax { axis } => reduce::softmax(input(0), shape(0), *axis, out, true),
        Op::Concat { axis } => {
            let n_out = node.shape.0[*axis];
            let mut at = 0;
            for k in 0..node.inputs.len() {
                layout::copy_along(input(k), shape(k), *axis, out, n_out, at);
                at += shape(k).0[*axis];
            }
        }
        Op::Slice { axis, start, end } => {
            layout::slice(input(0), shape(0), *axis, *start, out, end - start)
        }
        Op::Pad { axis, before, .. } => {
            out.fill(0.0);
            layout::copy_along(input(0), shape(0), *axis, out, node.shape.0[*axis], *before);
        }
        Op::Reshape { .. } => out.copy_from_slice(input(0)),
        Op::BroadcastTo { .. } => layout::broadcast_to(input(0), shape(0), out, &node.shape),
        Op::SumTo { .. } => layout::sum_to(input(0), shape(0), out, &node.shape),
        Op::Dropout { rate, key } => {
            elementwise::dropout(input(0), out, *rate, args.seed, args.step, *key)
        }
        Op::GatedMix(mix) => {
            let masked = node.inputs.len() == 3 + mix.biased as usize;
            let operands = mix_operands(&input, &shape, masked, *mix, args, None);
            let record = gate_flags.record(mix.key, args.seed, args.step);
            gate::gated_mix(&operands, out, record)
        }
        Op::GatedMixGrad { mix, wrt } => {
            let masked = node.inputs.len() == 4 + mix.biased as usize;
            let kept = gate_flags.recorded(mix.key, args.seed, args.step);
            let operands = mix_operands(
                &|k| input(k + 1),
                &|k| shape(k + 1),
                masked,
                *mix,
                args,
                kept,
            );
            match fused.gradient_pair(id) {
                Some(ds) => {
                    let s = plan.slots[ds.0].expect("a scheduled node has a slot");
                    // SAFETY: the pair's second node follows this one in the schedule and
                    // reads the same tensors, so its slot overlaps nothing live here
                    // (`fused_groups.rs`).
                    let ds = unsafe { std::slice::from_raw_parts_mut(base.add(s.offset), s.len) };
                    // SAFETY: the bias gradient follows the pair in the schedule; it is written
                    // after the pass has read everything (`fused_groups.rs`).
                    let bias = fused.bias_sum(id).map(|b| {
                        let s = plan.slots[b.0].expect("a scheduled node has a slot");
                        unsafe { std::slice::from_raw_parts_mut(base.add(s.offset), s.len) }
                    });
                    gate::gated_mix_grad_h_s(&operands, input(0), out, ds, bias)
                }
                None => gate::gated_mix_grad(&operands, input(0), *wrt, out),
            }
        }
        Op::Moments => batch_norm::moments(input(0), shape(0).last(), out),
        Op::BatchNorm { epsilon } => {
            batch_norm::batch_norm(input(0), input(1), input(2), input(3), *epsilon, out)
        }
        Op::BatchNormGrad { epsilon, wrt } => {
            let (dy, x, moments, gamma) = (input(0), input(1), input(2), input(3));
            batch_norm::batch_norm_grad(dy, x, moments, gamma, *epsilon, *wrt, out)
        }
        Op::Cast { to } => gather::cast(input(0), graph.dtype(node.inputs[0]), *to, out),
        Op::Gather => gather::gather(input(0), input(1), out, shape(0).numel() / shape(0).0[0]),
        Op::ScatterAddRows { rows } => match touched.get_mut(id) {
            Some(t) => gather::scatter_add_touched(input(0), input(1), out, t),
            None => gather::scatter_add_rows(input(0), input(1), out, node.shape.numel() / rows),
        },
        Op::Conv1d(geo) => conv::conv1d(
            input(0),
            input(1),
            out,
            geo,
            shape(0).0[2],
            node.shape.0[2],
            conv[id.0],
        ),
        Op::Conv1dBackwardData(geo) => {
            let (cin, cout) = (node.shape.0[2], shape(0).0[2]);
            conv::conv1d_backward_data(input(0), input(1), out, geo, cin, cout, conv[id.0])
        }
        Op::Conv1dBackwardFilter(geo) => {
            let (cin, cout) = (shape(0).0[2], shape(1).0[2]);
            conv::conv1d_backward_filter(input(0), input(1), out, geo, cin, cout, conv[id.0])
        }
        Op::Conv2d(geo) => {
            conv2d::conv2d(input(0), input(1), out, geo, shape(0).0[3], node.shape.0[3])
        }
        Op::Conv2dBackwardData(geo) => {
            let (cin, cout) = (node.shape.0[3], shape(0).0[3]);
            conv2d::conv2d_backward_data(input(0), input(1), out, geo, cin, cout)
        }
        Op::Conv2dBackwardFilter(geo) => {
            let (cin, cout) = (shape(0).0[3], shape(1).0[3]);
            conv2d::conv2d_backward_filter(input(0), input(1), out, geo, cin, cout)
        }
        Op::Pool2d { kind, geo } => pool::pool2d(*kind, geo, input(0), out, node.shape.0[3]),
        Op::Pool2dGrad { kind, geo } => {
            let x = (node.inputs.len() > 1).then(|| input(1));
            pool::pool2d_grad(*kind, geo, input(0), x, out, node.shape.0[3])
        }
        Op::OneHot { depth } => loss::one_hot(input(0), *depth, out),
        Op::SoftmaxCrossEntropy => {
            out[0] = loss::softmax_cross_entropy(input(0), input(1), shape(0).last())
        }
        Op::SoftmaxCrossEntropyGrad => {
            loss::softmax_cross_entropy_grad(input(0), input(1), shape(0).last(), input(2)[0], out)
        }
        Op::SigmoidBinaryCrossEntropy => out[0] = loss::sigmoid_bce(input(0), input(1)),
        Op::SigmoidBinaryCrossEntropyGrad => {
            loss::sigmoid_bce_grad(input(0), input(1), input(2)[0], out)
        }
        Op::Accuracy { kind } => {
            out[0] = loss::accuracy(*kind, input(0), input(1), shape(0).last())
        }
        Op::Recurrent(spec) => {
            let at = spec.input_positions();
            let walk = recurrent::Walk {
                spec: *spec,
                batch: shape(0).0[0],
                steps: shape(0).0[1],
                xw: input(0),
                kernel: input(1),
                h0: at.h0.map(input),
                c0: at.c0.map(input),
                bias: at.bias.map(input),
                mask: at.mask.map(input),
            };
            recurrent::forward(&walk, out)
        }
        Op::RecurrentGrad {
            spec,
            upstream,
            steps,
        } => {
            let mut k = 0;
            let grads = upstream.map(|present| {
                present.then(|| {
                    k += 1;
                    input(k - 1)
                })
            });
            let walk = recurrent::Walk {
                spec: *spec,
                // Every upstream gradient starts with the batch axis.
                batch: shape(0).0[0],
                steps: *steps,
                xw: &[],
                kernel: input(k + 1),
                h0: None,
                c0: None,
                bias: None,
                mask: spec.masked.then(|| input(k + 2)),
            };
            recurrent::backward(&walk, grads, input(k), out)
        }
        Op::Part { .. } => unreachable!("a part is a view of its packed tensor"),
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use wgtrain_graph::{Graph, PlanOutputs};

    #[test]
    fn kernels_flush_denormal_results_to_zero() {
        let mut g = Graph::new();
        let x = g.input([4]);
        let y = g.mul_scalar(x, 1e-10).unwrap();
        let plan = Plan::new(
            g,
            PlanOutputs {
                predictions: vec![y],
                ..Default::default()
            },
            vec![],
            None,
        );
        let mut backend = CpuBackend::new();
        let id = backend.compile(plan).unwrap();
        let x = [1e-30f32, 1.0, -1e-30, 2e-30];
        backend
            .run(id, &[Feed::F32(&x)], &StepArgs::default())
            .unwrap();
        let mut out = [1.0f32; 4];
        backend.read(id, y, &mut out).unwrap();
        assert_eq!(out, [0.0, 1e-10, 0.0, 0.0]);
    }
}
