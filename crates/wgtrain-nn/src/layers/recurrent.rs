//! SimpleRNN, LSTM and GRU layers, each one recurrent op over the whole sequence
//! (`wgtrain_graph::recurrent`), and the Masking layer that feeds them masks.

use crate::init::Initializer;
use crate::layer::{BuildCtx, CallCtx, Layer, Weight};
use anyhow::{bail, Context, Result};
use serde_json::json;
use wgtrain_graph::recurrent::RecurrentOutputs;
use wgtrain_graph::{Activation, Cell, NodeId, RecurrentSpec, Shape};

/// A recurrent layer over inputs (batch, timesteps, features), like Keras' `SimpleRNN`, `LSTM`
/// and `GRU` (made by `SimpleRNN::new`, `LSTM::new`, `GRU::new`). Extra inputs are the initial
/// states (h, and c for an LSTM). The layer returns its output (the last step's, or the whole
/// sequence with `return_sequences`), then the final states with `return_state`.
#[derive(Clone)]
pub struct Recurrent {
    pub(crate) cell: Cell,
    pub(crate) units: usize,
    pub(crate) activation: Activation,
    pub(crate) recurrent_activation: Activation,
    pub(crate) use_bias: bool,
    pub(crate) unit_forget_bias: bool,
    pub(crate) return_sequences: bool,
    pub(crate) return_state: bool,
    pub(crate) go_backwards: bool,
    weights: Option<RecurrentWeights>,
}

#[derive(Clone)]
struct RecurrentWeights {
    kernel: Weight,
    recurrent_kernel: Weight,
    bias: Option<Weight>,
}

/// `SimpleRNN(units)`: `h = tanh(x W + h U + b)` at every step.
pub struct SimpleRNN;
/// `LSTM(units)`: gates i, f, c, o; the forget gate's bias starts at 1.
pub struct LSTM;
/// `GRU(units)`: gates z, r, h with Keras 3's `reset_after=True`.
pub struct GRU;

impl SimpleRNN {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(units: usize) -> Recurrent {
        Recurrent::of(Cell::SimpleRnn, units)
    }
}
impl LSTM {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(units: usize) -> Recurrent {
        Recurrent::of(Cell::Lstm, units)
    }
}
impl GRU {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(units: usize) -> Recurrent {
        Recurrent::of(Cell::Gru, units)
    }
}

impl Recurrent {
    fn of(cell: Cell, units: usize) -> Recurrent {
        Recurrent {
            cell,
            units,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            use_bias: true,
            unit_forget_bias: true,
            return_sequences: false,
            return_state: false,
            go_backwards: false,
            weights: None,
        }
    }
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }
    /// The gates' activation (LSTM, GRU).
    pub fn recurrent_activation(mut self, a: Activation) -> Self {
        self.recurrent_activation = a;
        self
    }
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }
    pub fn unit_forget_bias(mut self, on: bool) -> Self {
        self.unit_forget_bias = on;
        self
    }
    pub fn return_sequences(mut self, on: bool) -> Self {
        self.return_sequences = on;
        self
    }
    pub fn return_state(mut self, on: bool) -> Self {
        self.return_state = on;
        self
    }
    pub fn go_backwards(mut self, on: bool) -> Self {
        self.go_backwards = on;
        self
    }

    pub fn cell(&self) -> Cell {
        self.cell
    }

    /// The number of state tensors (h, and c for an LSTM).
    pub(crate) fn states(&self) -> usize {
        if self.cell == Cell::Lstm {
            2
        } else {
            1
        }
    }

    pub(crate) fn keras_class(&self) -> &'static str {
        match self.cell {
            Cell::SimpleRnn => "SimpleRNN",
            Cell::Lstm => "LSTM",
            Cell::Gru => "GRU",
        }
    }

    /// Adds the weights, under names prefixed with `prefix`.
    pub(crate) fn build_weights(
        &mut self,
        input: &Shape,
        ctx: &mut BuildCtx,
        prefix: &str,
    ) -> Result<()> {
        if input.rank() != 2 {
            bail!(
                "{} expects inputs of shape (batch, timesteps, features), got {}",
                self.keras_class(),
                crate::tensor::with_batch(input)
            );
        }
        if self.units == 0 {
            bail!("{} needs at least one unit", self.keras_class());
        }
        let gu = self.cell.gates() * self.units;
        let kernel = ctx.add_weight(
            &format!("{prefix}kernel"),
            [input.last(), gu],
            Initializer::GlorotUniform,
        );
        let recurrent_kernel = ctx.add_weight(
            &format!("{prefix}recurrent_kernel"),
            [self.units, gu],
            Initializer::Orthogonal,
        );
        let bias = self.use_bias.then(|| match self.cell {
            Cell::Gru => ctx.add_weight(&format!("{prefix}bias"), [2, gu], Initializer::Zeros),
            Cell::Lstm if self.unit_forget_bias => ctx.add_weight(
                &format!("{prefix}bias"),
                [gu],
                Initializer::UnitForgetBias { units: self.units },
            ),
            _ => ctx.add_weight(&format!("{prefix}bias"), [gu], Initializer::Zeros),
        });
        self.weights = Some(RecurrentWeights {
            kernel,
            recurrent_kernel,
            bias,
        });
        Ok(())
    }

    /// The walk over `x` [batch, steps, features].
    pub(crate) fn walk(
        &self,
        ctx: &mut CallCtx,
        x: NodeId,
        initial: &[NodeId],
        mask: Option<NodeId>,
        direction: Direction,
    ) -> Result<RecurrentOutputs> {
        let Some(w) = &self.weights else {
            bail!("{} is called before it is built", self.keras_class());
        };
        if !initial.is_empty() && initial.len() != self.states() {
            bail!(
                "{} takes {} initial state tensor(s) ({}), got {}",
                self.keras_class(),
                self.states(),
                if self.states() == 2 { "h and c" } else { "h" },
                initial.len()
            );
        }
        let kernel = ctx.weight(&w.kernel);
        let recurrent_kernel = ctx.weight(&w.recurrent_kernel);
        let gu = self.cell.gates() * self.units;
        let mut xw = ctx.graph.matmul(x, kernel)?;
        let mut recurrent_bias = None;
        if let Some(bias) = &w.bias {
            let b = ctx.weight(bias);
            let input_bias = match self.cell {
                Cell::Gru => {
                    let rows = ctx.graph.reshape(b, [2 * gu])?;
                    recurrent_bias = Some(ctx.graph.slice(rows, 0, gu, 2 * gu)?);
                    ctx.graph.slice(rows, 0, 0, gu)?
                }
                _ => b,
            };
            xw = ctx.graph.add(xw, input_bias)?;
        }
        let spec = RecurrentSpec {
            cell: self.cell,
            units: self.units,
            activation: self.activation,
            recurrent_activation: self.recurrent_activation,
            go_backwards: direction.go_backwards,
            outputs_in_walk_order: direction.outputs_in_walk_order,
            zero_output_for_mask: direction.zero_output_for_mask,
            initial_state: false,
            recurrent_bias: false,
            masked: false,
        };
        ctx.graph
            .recurrent(spec, xw, recurrent_kernel, initial, recurrent_bias, mask)
            .with_context(|| {
                format!(
                    "{}'s initial states must be (batch, {}) each and its mask (batch, timesteps)",
                    self.keras_class(),
                    self.units
                )
            })
    }

    pub(crate) fn config_json(&self) -> serde_json::Value {
        let mut c = json!({
            "units": self.units,
            "activation": self.activation.keras_name(),
            "use_bias": self.use_bias,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": false,
            "kernel_initializer": "glorot_uniform",
            "recurrent_initializer": "orthogonal",
            "bias_initializer": "zeros",
        });
        if self.cell != Cell::SimpleRnn {
            c["recurrent_activation"] = self.recurrent_activation.keras_name().into();
        }
        if self.cell == Cell::Lstm {
            c["unit_forget_bias"] = self.unit_forget_bias.into();
        }
        if self.cell == Cell::Gru {
            c["reset_after"] = true.into();
        }
        c
    }

    /// A layer from the configuration `config_json` writes (Keras' names and defaults).
    pub(crate) fn from_config(class: &str, c: &serde_json::Value) -> Result<Recurrent> {
        let units = c["units"]
            .as_u64()
            .with_context(|| format!("{class} needs a whole number of 'units'"))?
            as usize;
        let layer = match class {
            "SimpleRNN" => SimpleRNN::new(units),
            "LSTM" => LSTM::new(units),
            "GRU" => GRU::new(units),
            other => bail!("'{other}' is not a recurrent layer (SimpleRNN, LSTM or GRU)"),
        };
        if c["stateful"].as_bool() == Some(true) {
            bail!("{class}: stateful layers are not supported; set stateful to false");
        }
        for key in ["dropout", "recurrent_dropout"] {
            if c[key].as_f64().is_some_and(|rate| rate != 0.0) {
                bail!(
                    "{class}: {key} {} is not supported; set it to 0 (a Dropout or \
                     SpatialDropout1D layer before the recurrent layer drops its inputs)",
                    c[key]
                );
            }
        }
        if class == "GRU" && c["reset_after"].as_bool() == Some(false) {
            bail!("GRU: only reset_after=True (Keras 3's default) is supported");
        }
        let activation = |key: &str, default: Activation| -> Result<Activation> {
            match c[key].as_str() {
                None => Ok(default),
                Some(name) => Activation::from_keras_name(name).with_context(|| {
                    format!(
                        "{class}: unknown {key} '{name}'; known: tanh, sigmoid, hard_sigmoid, \
                         relu, linear"
                    )
                }),
            }
        };
        let flag = |key: &str, default: bool| c[key].as_bool().unwrap_or(default);
        Ok(layer
            .activation(activation("activation", Activation::Tanh)?)
            .recurrent_activation(activation("recurrent_activation", Activation::Sigmoid)?)
            .use_bias(flag("use_bias", true))
            .unit_forget_bias(flag("unit_forget_bias", true))
            .return_sequences(flag("return_sequences", false))
            .return_state(flag("return_state", false))
            .go_backwards(flag("go_backwards", false)))
    }
}

/// Which way a walk goes and where its outputs land.
#[derive(Clone, Copy)]
pub(crate) struct Direction {
    pub go_backwards: bool,
    pub outputs_in_walk_order: bool,
    pub zero_output_for_mask: bool,
}

impl Layer for Recurrent {
    fn class_name(&self) -> &str {
        self.keras_class()
    }
    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        self.build_weights(&input_shapes[0], ctx, "")
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let mask = ctx.mask(0);
        let direction = Direction {
            go_backwards: self.go_backwards,
            outputs_in_walk_order: true,
            zero_output_for_mask: false,
        };
        let r = self.walk(ctx, inputs[0], &inputs[1..], mask, direction)?;
        let output = if self.return_sequences {
            r.outputs
        } else {
            r.last
        };
        let mut outs = vec![output];
        if self.return_state {
            outs.push(r.state);
            outs.extend(r.cell_state);
        }
        Ok(outs)
    }
    fn compute_mask(
        &self,
        ctx: &mut CallCtx,
        _inputs: &[NodeId],
        masks: &[Option<NodeId>],
    ) -> Result<Option<NodeId>> {
        // The sequence keeps the input's mask as it is (so stacked layers see it), as Keras
        // does even with go_backwards; the last output and the states have no time axis.
        let _ = ctx;
        let mask = masks.first().copied().flatten();
        Ok(mask.filter(|_| self.return_sequences && !self.return_state))
    }
    fn config(&self) -> serde_json::Value {
        self.config_json()
    }
}

/// Masks steps whose features all equal `mask_value`, like `keras.layers.Masking`: the mask
/// is `any(x != mask_value)` over the features, and masked steps are set to zero.
pub struct Masking {
    mask_value: f32,
}

impl Masking {
    pub fn new(mask_value: f32) -> Self {
        Self { mask_value }
    }

    fn keep(&self, ctx: &mut CallCtx, x: NodeId) -> Result<NodeId> {
        let value = ctx.graph.scalar(self.mask_value);
        let same = ctx.graph.equal(x, value)?;
        let one = ctx.graph.scalar(1.0);
        let differs = ctx.graph.sub(one, same)?;
        Ok(ctx.graph.max(differs, -1, true)?)
    }
}

impl Layer for Masking {
    fn class_name(&self) -> &str {
        "Masking"
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let keep = self.keep(ctx, inputs[0])?;
        Ok(vec![ctx.graph.mul(inputs[0], keep)?])
    }
    fn compute_mask(
        &self,
        ctx: &mut CallCtx,
        inputs: &[NodeId],
        _masks: &[Option<NodeId>],
    ) -> Result<Option<NodeId>> {
        let keep = self.keep(ctx, inputs[0])?;
        let shape = ctx.graph.shape(keep).clone();
        let rank = shape.rank();
        Ok(Some(
            ctx.graph
                .reshape(keep, Shape(shape.0[..rank - 1].to_vec()))?,
        ))
    }
    fn config(&self) -> serde_json::Value {
        json!({ "mask_value": self.mask_value })
    }
}
