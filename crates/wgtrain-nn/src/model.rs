//! A functional model: the layer-call DAG between its inputs and outputs, and the compiled
//! runtime (backend, plans, optimizer clock) once `compile` has been called.

use crate::array::Array;
use crate::init::global_seed;
use crate::layer::{CallCtx, LayerHandle, Weight};
use crate::loss::Loss;
use crate::tensor::{with_batch_n, LayerCall, Source, Tensor};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use wgtrain_cpu::CpuBackend;
use wgtrain_graph::optim::OptimizerClock;
use wgtrain_graph::{
    gradients, Assign, Backend, Graph, NodeId, OptimizerSpec, ParamId, Plan, PlanId, PlanOutputs,
    Shape, Update,
};

/// How a model is trained: the optimizer, one loss per output (or one for all), loss weights.
#[derive(Clone, Debug)]
pub struct CompileConfig {
    pub optimizer: OptimizerSpec,
    pub losses: Vec<Loss>,
    pub loss_weights: Vec<f32>,
    /// Losses by output name (Keras' dict form); resolved to `losses` when compiled.
    pub named_losses: Vec<(String, Loss)>,
    /// Loss weights by output name; outputs left out weigh 1. Resolved when compiled.
    pub named_loss_weights: Vec<(String, f32)>,
    /// Whether to report accuracy.
    pub accuracy: bool,
}

impl CompileConfig {
    pub fn new(optimizer: OptimizerSpec, loss: Loss) -> Self {
        Self {
            optimizer,
            losses: vec![loss],
            loss_weights: Vec::new(),
            named_losses: Vec::new(),
            named_loss_weights: Vec::new(),
            accuracy: true,
        }
    }
    /// One loss per output, in output order.
    pub fn losses(mut self, losses: &[Loss]) -> Self {
        self.losses = losses.to_vec();
        self
    }
    /// One loss per output, by output name (every output named once).
    pub fn losses_by_name(mut self, losses: &[(&str, Loss)]) -> Self {
        self.named_losses = losses.iter().map(|(n, l)| (n.to_string(), *l)).collect();
        self
    }
    /// Weights of the outputs' losses in the total, in output order.
    pub fn loss_weights(mut self, weights: &[f32]) -> Self {
        self.loss_weights = weights.to_vec();
        self
    }
    /// Weights by output name; an output left out weighs 1. Each weight goes to the output
    /// of that name (Keras 3.15 applies a dict of weights in the sorted order of its names
    /// instead, which differs when the outputs are not in that order).
    pub fn loss_weights_by_name(mut self, weights: &[(&str, f32)]) -> Self {
        self.named_loss_weights = weights.iter().map(|(n, w)| (n.to_string(), *w)).collect();
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PlanKind {
    Train,
    Evaluate,
    Predict,
}

/// Where a compiled plan exposes its values.
#[derive(Clone, Debug)]
pub(crate) struct PlanHandle {
    pub id: PlanId,
    pub predictions: Vec<NodeId>,
}

pub(crate) struct Runtime {
    pub backend: Box<dyn Backend>,
    pub config: CompileConfig,
    /// Compiled plans by kind, batch size, input shapes and target shapes.
    pub plans: HashMap<(PlanKind, usize, Vec<Shape>, Vec<Shape>), PlanHandle>,
    pub clock: OptimizerClock,
    pub learning_rate: f32,
    /// The latest `compute_gradients` not yet applied: its number and plan.
    pub pending_gradients: Option<(u64, PlanId)>,
    /// How many times gradients have been computed.
    pub gradient_runs: u64,
}

pub struct Model {
    pub name: String,
    pub(crate) inputs: Vec<Tensor>,
    pub(crate) outputs: Vec<Tensor>,
    pub(crate) calls: Vec<Rc<LayerCall>>,
    pub(crate) layers: Vec<LayerHandle>,
    pub(crate) weights: Vec<(String, Weight)>,
    pub(crate) param_ids: HashMap<u64, ParamId>,
    /// Host copies of the weights, used until the model is compiled.
    pub(crate) initial: Vec<Vec<f32>>,
    pub seed: u64,
    pub(crate) runtime: Option<Runtime>,
}

/// The most values one weight may hold (float32: 8 GiB); larger is a configuration mistake.
const MAX_WEIGHT_VALUES: usize = 1 << 31;

/// A graph of the model for one batch size.
pub(crate) struct Traced {
    pub graph: Graph,
    pub outputs: Vec<NodeId>,
    /// Trainable weights read by the graph.
    pub params: Vec<(ParamId, NodeId)>,
    /// State updates: weight, new value.
    pub assigns: Vec<(ParamId, NodeId)>,
    /// Fed int32 inputs that index tables: (input index, table rows, layer name).
    pub id_bounds: Vec<(usize, usize, String)>,
}

pub(crate) fn tensor_key(t: &Tensor) -> (usize, usize) {
    match &t.source {
        Source::Input { .. } => (t.id, usize::MAX),
        Source::Call { call, index } => (call.id, *index),
    }
}

impl Model {
    /// A model from its inputs to its outputs, like `keras.Model(inputs, outputs)`.
    pub fn new(inputs: &[&Tensor], outputs: &[&Tensor]) -> Result<Model> {
        if inputs.is_empty() || outputs.is_empty() {
            bail!("a model needs at least one input and one output");
        }
        let input_ids: HashSet<usize> = inputs.iter().map(|t| t.id).collect();
        for t in inputs {
            if t.input_name().is_none() {
                bail!("model inputs must be created with Input::new; got a layer output");
            }
        }
        let mut calls = Vec::new();
        let mut seen = HashSet::new();
        for out in outputs {
            collect_calls(out, &input_ids, &mut seen, &mut calls)?;
        }
        let mut layers: Vec<LayerHandle> = Vec::new();
        for c in &calls {
            if !layers.iter().any(|l| l.same(&c.layer)) {
                layers.push(c.layer.clone());
            }
        }
        let mut weights = Vec::new();
        for l in &layers {
            let slot = l.inner.borrow();
            for w in &slot.weights {
                weights.push((slot.name.clone(), w.clone()));
            }
        }
        for (layer, w) in &weights {
            let values = w.shape.0.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if values.is_none_or(|v| v > MAX_WEIGHT_VALUES) {
                bail!(
                    "weight {layer}/{} of shape {} is larger than one weight may be ({} values, \
                     8 GiB); check the layer's configuration",
                    w.name,
                    w.shape,
                    MAX_WEIGHT_VALUES
                );
            }
        }
        let seed = global_seed();
        let param_ids = weights
            .iter()
            .enumerate()
            .map(|(i, (_, w))| (w.uid, ParamId(i)))
            .collect();
        let initial = weights
            .iter()
            .enumerate()
            .map(|(i, (_, w))| match &w.preset {
                Some(values) => values.to_vec(),
                None => w.init.values(&w.shape, seed, i as u32),
            })
            .collect();
        Ok(Model {
            name: "functional".into(),
            inputs: inputs.iter().map(|t| (*t).clone()).collect(),
            outputs: outputs.iter().map(|t| (*t).clone()).collect(),
            calls,
            layers,
            weights,
            param_ids,
            initial,
            seed,
            runtime: None,
        })
    }

    pub fn inputs(&self) -> &[Tensor] {
        &self.inputs
    }
    pub fn outputs(&self) -> &[Tensor] {
        &self.outputs
    }
    pub fn layers(&self) -> &[LayerHandle] {
        &self.layers
    }

    /// Total number of weight values.
    pub fn count_params(&self) -> usize {
        self.weights.iter().map(|(_, w)| w.shape.numel()).sum()
    }

    /// Number of trainable weight values.
    pub fn count_trainable_params(&self) -> usize {
        self.weights
            .iter()
            .filter(|(_, w)| w.trainable)
            .map(|(_, w)| w.shape.numel())
            .sum()
    }

    /// Prepares training on the CPU backend.
    pub fn compile(&mut self, config: CompileConfig) -> Result<()> {
        self.compile_on(config, Box::new(CpuBackend::new()))
    }

    /// Prepares training on the given backend; the weights move there.
    pub fn compile_on(
        &mut self,
        config: CompileConfig,
        mut backend: Box<dyn Backend>,
    ) -> Result<()> {
        let config = self.resolve_names(config)?;
        let n_out = self.outputs.len();
        if config.losses.len() != 1 && config.losses.len() != n_out {
            bail!(
                "the model has {n_out} outputs but {} losses were given; give one loss, or one per output",
                config.losses.len()
            );
        }
        if !config.loss_weights.is_empty() && config.loss_weights.len() != n_out {
            bail!(
                "the model has {n_out} outputs but {} loss weights were given",
                config.loss_weights.len()
            );
        }
        let values = self.weight_values()?;
        for (i, v) in values.iter().enumerate() {
            backend.set_param(ParamId(i), v)?;
        }
        self.runtime = Some(Runtime {
            backend,
            learning_rate: config.optimizer.learning_rate(),
            config,
            plans: HashMap::new(),
            clock: OptimizerClock::default(),
            pending_gradients: None,
            gradient_runs: 0,
        });
        Ok(())
    }

    pub fn backend_description(&self) -> String {
        self.runtime
            .as_ref()
            .map_or("not compiled".into(), |r| r.backend.describe())
    }

    /// The backend's run counters (zero before `compile`).
    pub fn backend_stats(&self) -> wgtrain_graph::backend::BackendStats {
        self.runtime
            .as_ref()
            .map_or_else(Default::default, |r| r.backend.stats())
    }

    /// Current values of every weight, in model order.
    pub fn weight_values(&mut self) -> Result<Vec<Vec<f32>>> {
        match &mut self.runtime {
            None => Ok(self.initial.clone()),
            Some(rt) => self
                .weights
                .iter()
                .enumerate()
                .map(|(i, (_, w))| {
                    let mut v = vec![0.0; w.shape.numel()];
                    rt.backend.read_param(ParamId(i), &mut v)?;
                    Ok(v)
                })
                .collect(),
        }
    }

    /// Replaces every weight's values (same order and sizes as `weight_values`).
    pub fn set_weight_values(&mut self, values: Vec<Vec<f32>>) -> Result<()> {
        if values.len() != self.weights.len() {
            bail!(
                "expected {} weights, got {}",
                self.weights.len(),
                values.len()
            );
        }
        for ((name, w), v) in self.weights.iter().zip(&values) {
            if v.len() != w.shape.numel() {
                bail!(
                    "weight {name}/{} has shape {} ({} values), got {} values",
                    w.name,
                    w.shape,
                    w.shape.numel(),
                    v.len()
                );
            }
        }
        if let Some(rt) = &mut self.runtime {
            for (i, v) in values.iter().enumerate() {
                rt.backend.set_param(ParamId(i), v)?;
            }
        }
        self.initial = values;
        Ok(())
    }

    /// The per-sample shapes the model's inputs are declared with (free axes at their
    /// stand-in size).
    pub(crate) fn declared_feeds(&self) -> Vec<Shape> {
        self.inputs.iter().map(|t| t.shape.clone()).collect()
    }

    /// Builds the model's graph for `batch` samples whose inputs have per-sample shapes
    /// `feeds` (checked against the inputs).
    pub(crate) fn trace(&self, batch: usize, feeds: &[Shape], training: bool) -> Result<Traced> {
        let mut graph = Graph::new();
        let mut values: HashMap<(usize, usize), NodeId> = HashMap::new();
        let mut masks: HashMap<(usize, usize), Option<NodeId>> = HashMap::new();
        for (t, feed) in self.inputs.iter().zip(feeds) {
            let node = graph.typed_input(with_batch_n(feed, batch), t.dtype);
            values.insert(tensor_key(t), node);
            masks.insert(tensor_key(t), None);
        }
        let mut ids = self.param_ids.clone();
        let mut ctx = CallCtx::new(&mut graph, training, &mut ids);
        replay(&self.calls, &mut ctx, &mut values, &mut masks)?;
        let mut params: Vec<(ParamId, NodeId)> = ctx
            .param_nodes
            .iter()
            .filter(|(uid, _)| self.is_trainable(**uid))
            .map(|(uid, n)| (self.param_ids[uid], *n))
            .collect();
        params.sort();
        let assigns = ctx
            .assigns
            .iter()
            .map(|(uid, n)| (self.param_ids[uid], *n))
            .collect();
        let id_bounds = ctx
            .id_bounds
            .iter()
            .filter_map(|b| match ctx.graph.node(b.ids).op {
                wgtrain_graph::Op::Input { index } => Some((index, b.rows, b.layer.clone())),
                _ => None,
            })
            .collect();
        let outputs = self
            .outputs
            .iter()
            .map(|t| values[&tensor_key(t)])
            .collect();
        Ok(Traced {
            graph,
            outputs,
            params,
            assigns,
            id_bounds,
        })
    }

    /// For each model input, the number of rows of the smallest table its int32 ids index
    /// (`None` for inputs that index none): fed ids must stay below it.
    pub fn input_id_limits(&self) -> Result<Vec<Option<usize>>> {
        let mut limits = vec![None; self.inputs.len()];
        for (index, rows, _) in self.id_bounds()? {
            let l: &mut Option<usize> = &mut limits[index];
            *l = Some(l.map_or(rows, |r| r.min(rows)));
        }
        Ok(limits)
    }

    /// The fed int32 inputs that index tables, with the table sizes and layer names.
    pub(crate) fn id_bounds(&self) -> Result<Vec<(usize, usize, String)>> {
        if !self
            .inputs
            .iter()
            .any(|t| t.dtype == wgtrain_graph::DType::I32)
        {
            return Ok(Vec::new());
        }
        Ok(self.trace(1, &self.declared_feeds(), false)?.id_bounds)
    }

    fn is_trainable(&self, uid: u64) -> bool {
        self.weights
            .iter()
            .find(|(_, w)| w.uid == uid)
            .is_none_or(|(_, w)| w.trainable)
    }

    /// The compiled plan of `kind` for `batch` samples of inputs of per-sample shapes `feeds`,
    /// compiling it on first use (one plan per batch size and shape).
    pub(crate) fn plan(
        &mut self,
        kind: PlanKind,
        batch: usize,
        feeds: &[Shape],
        targets: &[Shape],
    ) -> Result<PlanHandle> {
        let key = (kind, batch, feeds.to_vec(), targets.to_vec());
        if let Some(h) = self.runtime()?.plans.get(&key) {
            return Ok(h.clone());
        }
        let traced = self.trace(batch, feeds, kind == PlanKind::Train)?;
        let rt = self.runtime_mut()?;
        let plan = build_plan(traced, kind, batch, targets, &rt.config)?;
        let predictions = plan.outputs.predictions.clone();
        let handle = PlanHandle {
            id: rt.backend.compile(plan)?,
            predictions,
        };
        rt.plans.insert(key, handle.clone());
        Ok(handle)
    }

    pub(crate) fn runtime(&self) -> Result<&Runtime> {
        self.runtime.as_ref().ok_or_else(not_compiled)
    }

    pub(crate) fn runtime_mut(&mut self) -> Result<&mut Runtime> {
        self.runtime.as_mut().ok_or_else(not_compiled)
    }

    pub(crate) fn require_compiled(&self) -> Result<()> {
        self.runtime().map(|_| ())
    }

    /// Names of the metrics a train or evaluate plan reports, after "loss", as Keras names
    /// them: with several outputs each output's own (unweighted) loss, `NAME_loss`, then each
    /// one's accuracy, `NAME_accuracy`.
    pub(crate) fn metric_names(&self) -> Vec<String> {
        let Ok(rt) = self.runtime() else {
            return Vec::new();
        };
        if self.outputs.len() == 1 {
            return if rt.config.accuracy {
                vec!["accuracy".into()]
            } else {
                Vec::new()
            };
        }
        let names = self.output_names();
        let mut out: Vec<String> = names.iter().map(|n| format!("{n}_loss")).collect();
        if rt.config.accuracy {
            out.extend(names.iter().map(|n| format!("{n}_accuracy")));
        }
        out
    }

    /// `config` with its losses and loss weights by output name put in output order.
    fn resolve_names(&self, mut config: CompileConfig) -> Result<CompileConfig> {
        let names = self.output_names();
        let position = |name: &str, what: &str| -> Result<usize> {
            names.iter().position(|n| n == name).ok_or_else(|| {
                anyhow!(
                    "{what} names output '{name}', but the model's outputs are {}",
                    names.join(", ")
                )
            })
        };
        if !config.named_losses.is_empty() {
            let mut losses = vec![None; names.len()];
            for (name, loss) in &config.named_losses {
                let at = position(name, "a loss")?;
                if losses[at].replace(*loss).is_some() {
                    bail!("output '{name}' is given two losses");
                }
            }
            config.losses = losses
                .into_iter()
                .zip(&names)
                .map(|(l, n)| {
                    l.ok_or_else(|| anyhow!("output '{n}' has no loss; give one per output"))
                })
                .collect::<Result<_>>()?;
        }
        if !config.named_loss_weights.is_empty() {
            let mut weights = vec![1.0; names.len()];
            for (name, w) in &config.named_loss_weights {
                weights[position(name, "a loss weight")?] = *w;
            }
            config.loss_weights = weights;
        }
        Ok(config)
    }

    /// The model's inputs in order, from arrays given by input name (Keras' dict of inputs).
    pub fn inputs_by_name<'a>(&self, named: &[(&str, &'a Array)]) -> Result<Vec<&'a Array>> {
        let names: Vec<String> = self
            .inputs
            .iter()
            .map(|t| t.input_name().unwrap_or("?").to_string())
            .collect();
        arrange(&names, named, "input")
    }

    /// Targets in output order, from arrays given by output name.
    pub fn targets_by_name<'a>(&self, named: &[(&str, &'a Array)]) -> Result<Vec<&'a Array>> {
        arrange(&self.output_names(), named, "output")
    }

    /// The names of the model's outputs: the layers that make them.
    pub fn output_names(&self) -> Vec<String> {
        self.outputs
            .iter()
            .map(|t| match &t.source {
                Source::Call { call, .. } => call.layer.name(),
                Source::Input { name } => name.clone(),
            })
            .collect()
    }

    /// The ops a training step of `batch` samples runs: its plan's scheduled graph nodes. The
    /// samples' inputs and targets have per-sample shapes `feeds` and `targets`.
    pub fn training_step_ops(
        &mut self,
        batch: usize,
        feeds: &[Shape],
        targets: &[Shape],
    ) -> Result<usize> {
        let h = self.checked_plan(PlanKind::Train, batch, feeds, targets)?;
        Ok(self.runtime()?.backend.plan(h.id).schedule.len())
    }

    /// The planned peak memory of the training step for `batch` samples (per-sample shapes
    /// `feeds` and `targets`), in bytes.
    pub fn planned_peak_bytes(
        &mut self,
        batch: usize,
        feeds: &[Shape],
        targets: &[Shape],
    ) -> Result<usize> {
        let h = self.checked_plan(PlanKind::Train, batch, feeds, targets)?;
        Ok(self.runtime()?.backend.plan(h.id).peak_bytes())
    }

    /// `plan` for input shapes given by a caller, checked against the model's inputs.
    fn checked_plan(
        &mut self,
        kind: PlanKind,
        batch: usize,
        feeds: &[Shape],
        targets: &[Shape],
    ) -> Result<PlanHandle> {
        self.check_feed_shapes(feeds)?;
        self.plan(kind, batch, feeds, targets)
    }
}

fn not_compiled() -> anyhow::Error {
    anyhow!("the model must be compiled first: call model.compile(...)")
}

fn build_plan(
    traced: Traced,
    kind: PlanKind,
    batch: usize,
    targets: &[Shape],
    config: &CompileConfig,
) -> Result<Plan> {
    let Traced {
        mut graph,
        outputs,
        params,
        assigns,
        ..
    } = traced;
    if kind == PlanKind::Predict {
        let plan = Plan::new(
            graph,
            PlanOutputs {
                predictions: outputs,
                ..Default::default()
            },
            vec![],
            None,
        );
        return Ok(plan);
    }
    if targets.len() != outputs.len() {
        bail!(
            "the model has {} outputs but {} target arrays were given",
            outputs.len(),
            targets.len()
        );
    }
    let g = &mut graph;
    let mut total: Option<NodeId> = None;
    let mut output_losses = Vec::new();
    let mut accuracies = Vec::new();
    for (i, (&out, t)) in outputs.iter().zip(targets).enumerate() {
        let target = g.input(with_batch_n(t, batch));
        let loss = config.losses[if config.losses.len() == 1 { 0 } else { i }];
        let value = loss.build(g, out, target).with_context(|| {
            format!(
                "the targets of output {i} (shape {}) do not fit the output's shape {} for {loss:?}",
                g.shape(target),
                g.shape(out)
            )
        })?;
        let weighted = match config.loss_weights.get(i) {
            Some(&w) if w != 1.0 => g.mul_scalar(value, w)?,
            _ => value,
        };
        total = Some(match total {
            None => weighted,
            Some(acc) => g.add(acc, weighted)?,
        });
        output_losses.push(value);
        if config.accuracy {
            accuracies.push(loss.accuracy(g, out, target)?);
        }
    }
    // The order of `Model::metric_names`.
    let mut metrics = if outputs.len() > 1 {
        output_losses
    } else {
        Vec::new()
    };
    metrics.extend(accuracies);
    let loss = total.ok_or_else(|| anyhow!("the model has no outputs"))?;
    let mut updates = Vec::new();
    let optimizer = if kind == PlanKind::Train {
        let wrt: Vec<NodeId> = params.iter().map(|p| p.1).collect();
        let grads = gradients(g, loss, &wrt)?;
        for ((param, _), grad) in params.iter().zip(grads) {
            if let Some(grad) = grad {
                updates.push(Update {
                    param: *param,
                    grad,
                    grad_sq: gathered_grad_sq(g, grad)?,
                });
            }
        }
        Some(config.optimizer.clone())
    } else {
        None
    };
    let mut plan = Plan::new(
        graph,
        PlanOutputs {
            loss: Some(loss),
            metrics,
            predictions: vec![],
        },
        updates,
        optimizer,
    );
    if kind == PlanKind::Train && !assigns.is_empty() {
        plan = plan.with_assigns(
            assigns
                .into_iter()
                .map(|(param, value)| Assign { param, value })
                .collect(),
        );
    }
    Ok(plan)
}

/// For a table's gradient summed from gathered rows, the same sum of the rows' squares: what
/// Keras' optimizers (on TensorFlow, with sparse gradients) use where they square a gradient.
fn gathered_grad_sq(g: &mut Graph, grad: NodeId) -> Result<Option<NodeId>> {
    let node = g.node(grad).clone();
    let wgtrain_graph::Op::ScatterAddRows { rows } = node.op else {
        return Ok(None);
    };
    let sq = g.square(node.inputs[0])?;
    Ok(Some(g.scatter_add_rows(sq, node.inputs[1], rows)?))
}

/// Runs `calls` (in dependency order) on the graph of `ctx`, reading their inputs from
/// `values` and `masks` by tensor and adding their outputs there.
pub(crate) fn replay(
    calls: &[Rc<LayerCall>],
    ctx: &mut CallCtx,
    values: &mut HashMap<(usize, usize), NodeId>,
    masks: &mut HashMap<(usize, usize), Option<NodeId>>,
) -> Result<()> {
    for call in calls {
        let ins: Vec<NodeId> = call.inputs.iter().map(|t| values[&tensor_key(t)]).collect();
        let in_masks: Vec<Option<NodeId>> =
            call.inputs.iter().map(|t| masks[&tensor_key(t)]).collect();
        let slot = call.layer.inner.borrow();
        ctx.masks = in_masks.clone();
        ctx.layer_name = slot.name.clone();
        let outs = slot
            .layer
            .call(ctx, &ins)
            .and_then(|outs| {
                let m = slot.layer.compute_mask(ctx, &ins, &in_masks)?;
                Ok((outs, m))
            })
            .with_context(|| slot.describe())?;
        let (outs, out_mask) = outs;
        for (index, n) in outs.into_iter().enumerate() {
            values.insert((call.id, index), n);
            masks.insert((call.id, index), out_mask);
        }
    }
    Ok(())
}

/// Appends, in dependency order, every layer call between `t` and the model inputs.
fn collect_calls(
    t: &Tensor,
    inputs: &HashSet<usize>,
    seen: &mut HashSet<usize>,
    out: &mut Vec<Rc<LayerCall>>,
) -> Result<()> {
    match &t.source {
        Source::Input { name } => {
            if !inputs.contains(&t.id) {
                bail!(
                    "the outputs depend on input '{name}', which is not among the model's inputs"
                );
            }
            Ok(())
        }
        Source::Call { call, .. } => {
            if seen.contains(&call.id) {
                return Ok(());
            }
            for x in &call.inputs {
                collect_calls(x, inputs, seen, out)?;
            }
            seen.insert(call.id);
            out.push(call.clone());
            Ok(())
        }
    }
}

/// `named` put in the order of `names`: each named once, no other name.
fn arrange<'a>(
    names: &[String],
    named: &[(&str, &'a Array)],
    what: &str,
) -> Result<Vec<&'a Array>> {
    let mut out: Vec<Option<&'a Array>> = vec![None; names.len()];
    for (name, array) in named {
        let Some(at) = names.iter().position(|n| n == name) else {
            bail!(
                "no {what} is named '{name}'; the model's {what}s are {}",
                names.join(", ")
            );
        };
        if out[at].replace(*array).is_some() {
            bail!("{what} '{name}' is given twice");
        }
    }
    out.into_iter()
        .zip(names)
        .map(|(a, n)| a.ok_or_else(|| anyhow!("{what} '{n}' is given no array")))
        .collect()
}
