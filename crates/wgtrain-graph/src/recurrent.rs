//! Recurrent layers as one op per layer and direction, walking the whole sequence:
//! `Recurrent` (the forward walk) and `RecurrentGrad` (the reverse walk). Each writes one packed
//! tensor whose parts (the output sequence, the final states, what the reverse walk needs) are
//! read through `Part` views that share its slot. The input projection of every step comes in
//! as one tensor (a large matmul before the walk); the recurrent kernel's gradient is one large
//! matmul after the reverse walk.
//!
//! Keras' rule at a masked step: the state is carried over and the output is the previous
//! step's output (zeros before the first valid step), or zeros where the spec says so.

use crate::error::{shape_err, GraphError};
use crate::graph::{Graph, NodeId};
use crate::op::Op;
use crate::plan::SLOT_ALIGN;
use crate::shape::Shape;
use serde::{Deserialize, Serialize};

/// The cell a recurrent op runs at every step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cell {
    /// `h = act(x W + h U + b)`.
    SimpleRnn,
    /// Gates i, f, c, o (Keras' order): `c = f * c + i * act(..)`, `h = o * act(c)`.
    Lstm,
    /// Gates z, r, h with the reset gate applied after the recurrent matmul (Keras 3's
    /// `reset_after=True`): `h = z * h + (1 - z) * act(x_h + r * (h U_h + b_h))`.
    Gru,
}

impl Cell {
    /// Gate blocks of `units` columns in the kernels.
    pub fn gates(self) -> usize {
        match self {
            Cell::SimpleRnn => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// The activations a cell may use, each differentiable from its output value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Activation {
    Tanh,
    Sigmoid,
    /// Keras 3's `hard_sigmoid`: `clip(x / 6 + 0.5, 0, 1)`.
    HardSigmoid,
    Relu,
    Linear,
}

impl Activation {
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::HardSigmoid => (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Activation::Relu => x.max(0.0),
            Activation::Linear => x,
        }
    }

    /// The derivative at the input that gave output `y`.
    #[inline]
    pub fn derivative_from_output(self, y: f32) -> f32 {
        match self {
            Activation::Tanh => 1.0 - y * y,
            Activation::Sigmoid => y * (1.0 - y),
            Activation::HardSigmoid => {
                if y > 0.0 && y < 1.0 {
                    1.0 / 6.0
                } else {
                    0.0
                }
            }
            Activation::Relu => (y > 0.0) as u8 as f32,
            Activation::Linear => 1.0,
        }
    }

    /// The number the WGSL kernels switch on.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// Keras' name of the activation.
    pub fn keras_name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::HardSigmoid => "hard_sigmoid",
            Activation::Relu => "relu",
            Activation::Linear => "linear",
        }
    }

    pub fn from_keras_name(name: &str) -> Option<Activation> {
        Some(match name {
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "hard_sigmoid" => Activation::HardSigmoid,
            "relu" => Activation::Relu,
            "linear" | "None" => Activation::Linear,
            _ => return None,
        })
    }
}

/// What one recurrent op computes. The inputs are, in order: the projected inputs xw
/// [batch, steps, gates * units] (`x W + b`), the recurrent kernel [units, gates * units], then
/// when present the initial state h0 [batch, units] (and c0 for an LSTM), the GRU's recurrent
/// bias [gates * units] and the mask [batch, steps] (1 where a step is real).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecurrentSpec {
    pub cell: Cell,
    pub units: usize,
    pub activation: Activation,
    /// The gates' activation (LSTM, GRU).
    pub recurrent_activation: Activation,
    /// Walk from the last step to the first.
    pub go_backwards: bool,
    /// With `go_backwards`, the output sequence in the order of the walk (Keras'
    /// `go_backwards`); otherwise each output sits at its input step (what `Bidirectional`
    /// reads).
    pub outputs_in_walk_order: bool,
    /// At a masked step output zeros rather than the previous output (what `Bidirectional`
    /// asks of its layers when they return sequences).
    pub zero_output_for_mask: bool,
    pub initial_state: bool,
    pub recurrent_bias: bool,
    pub masked: bool,
}

/// A named region of a packed tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The output sequence [batch, steps, units].
    Outputs,
    /// The last output [batch, units] (zeros when no step was valid).
    Last,
    /// The final state h [batch, units].
    State,
    /// The LSTM's final cell state c [batch, units].
    CellState,
    /// The state entering each step [batch, steps, units].
    PrevState,
    /// Each step's activated gates [batch, steps, gates * units] (a SimpleRNN's new state).
    Gates,
    /// The LSTM's cell state entering each step [batch, steps, units].
    PrevCell,
    /// The LSTM's new cell state before its activation, or the GRU's `h U_h + b_h`
    /// [batch, steps, units].
    Extra,
    /// d xw [batch, steps, gates * units].
    DInput,
    /// The GRU's gradient of `h U + b` [batch, steps, gates * units] (for the others, d xw).
    DRecurrent,
    /// d h0 [batch, units]; the running state gradient during the reverse walk.
    DState,
    /// d c0 [batch, units] (LSTM); the running cell gradient.
    DCellState,
    /// The reverse walk's working rows [batch, 3 * units].
    Scratch,
    /// The recurrent kernel transposed [gates * units, units], for the reverse walk's products.
    KernelT,
}

/// How many kinds of part there are (`Part`'s variants).
pub const PARTS: usize = Part::KernelT as usize + 1;

/// One part's place in a packed tensor: its offset and its rows of `width` values, `steps` per
/// batch row for a [batch, steps, width] part (`None` for [batch, width] or [rows, width]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    pub at: usize,
    pub rows: usize,
    pub steps: Option<usize>,
    pub width: usize,
}

impl Placed {
    pub fn numel(&self) -> usize {
        self.rows * self.steps.unwrap_or(1) * self.width
    }
    pub fn shape(&self) -> Shape {
        match self.steps {
            Some(t) => Shape(vec![self.rows, t, self.width]),
            None => Shape(vec![self.rows, self.width]),
        }
    }
}

/// Where each part of a packed tensor lies, in f32 elements, looked up by the part's number;
/// every part starts on a slot boundary so a GPU backend can bind it alone. Plain values, so
/// the kernels can lay it out on every step without allocating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Packing {
    parts: [Option<Placed>; PARTS],
    pub len: usize,
}

impl Packing {
    fn new() -> Packing {
        Packing {
            parts: [None; PARTS],
            len: 0,
        }
    }

    /// Places `part` after the parts placed so far.
    fn push(&mut self, part: Part, rows: usize, steps: Option<usize>, width: usize) {
        let placed = Placed {
            at: self.len,
            rows,
            steps,
            width,
        };
        self.len += placed.numel().next_multiple_of(SLOT_ALIGN);
        self.parts[part as usize] = Some(placed);
    }

    pub fn placed(&self, part: Part) -> Option<Placed> {
        self.parts[part as usize]
    }

    /// The part's offset and shape.
    pub fn find(&self, part: Part) -> Option<(usize, Shape)> {
        self.placed(part).map(|p| (p.at, p.shape()))
    }

    /// The offset and length of a part that the packing holds.
    pub fn range(&self, part: Part) -> (usize, usize) {
        let p = self
            .placed(part)
            .unwrap_or_else(|| panic!("the packing has no {part:?} part"));
        (p.at, p.numel())
    }

    /// The parts the packing holds, by offset.
    pub fn parts(&self) -> impl Iterator<Item = Placed> + '_ {
        let mut placed: Vec<Placed> = self.parts.iter().flatten().copied().collect();
        placed.sort_by_key(|p| p.at);
        placed.into_iter()
    }
}

impl RecurrentSpec {
    pub fn gate_width(&self) -> usize {
        self.cell.gates() * self.units
    }

    /// The parts of the forward op's packed output.
    pub fn forward_packing(&self, batch: usize, steps: usize) -> Packing {
        let (u, gu) = (self.units, self.gate_width());
        let mut p = Packing::new();
        p.push(Part::Outputs, batch, Some(steps), u);
        p.push(Part::Last, batch, None, u);
        p.push(Part::State, batch, None, u);
        if self.cell == Cell::Lstm {
            p.push(Part::CellState, batch, None, u);
        }
        p.push(Part::PrevState, batch, Some(steps), u);
        p.push(Part::Gates, batch, Some(steps), gu);
        if self.cell == Cell::Lstm {
            p.push(Part::PrevCell, batch, Some(steps), u);
        }
        if self.cell != Cell::SimpleRnn {
            p.push(Part::Extra, batch, Some(steps), u);
        }
        p
    }

    /// The parts of the reverse walk's packed output.
    pub fn backward_packing(&self, batch: usize, steps: usize) -> Packing {
        let (u, gu) = (self.units, self.gate_width());
        let mut p = Packing::new();
        p.push(Part::DInput, batch, Some(steps), gu);
        if self.cell == Cell::Gru {
            p.push(Part::DRecurrent, batch, Some(steps), gu);
        }
        p.push(Part::DState, batch, None, u);
        if self.cell == Cell::Lstm {
            p.push(Part::DCellState, batch, None, u);
        }
        p.push(Part::Scratch, batch, None, 3 * u);
        p.push(Part::KernelT, gu, None, u);
        p
    }

    /// Input positions of the optional inputs: (h0, c0, recurrent bias, mask).
    pub fn input_positions(&self) -> RecurrentInputs {
        let mut at = 2;
        let mut next = |present: bool| {
            present.then(|| {
                at += 1;
                at - 1
            })
        };
        let h0 = next(self.initial_state);
        let c0 = next(self.initial_state && self.cell == Cell::Lstm);
        let bias = next(self.recurrent_bias);
        let mask = next(self.masked);
        RecurrentInputs {
            h0,
            c0,
            bias,
            mask,
            count: at,
        }
    }

    /// The input step of the walk's `k`-th step.
    pub fn step_at(&self, k: usize, steps: usize) -> usize {
        if self.go_backwards {
            steps - 1 - k
        } else {
            k
        }
    }

    /// Where the walk's `k`-th output goes in the output sequence.
    pub fn output_at(&self, k: usize, steps: usize) -> usize {
        if self.outputs_in_walk_order {
            k
        } else {
            self.step_at(k, steps)
        }
    }
}

/// Input positions of a `Recurrent` node.
#[derive(Clone, Copy, Debug)]
pub struct RecurrentInputs {
    pub h0: Option<usize>,
    pub c0: Option<usize>,
    pub bias: Option<usize>,
    pub mask: Option<usize>,
    pub count: usize,
}

/// Which upstream gradients a `RecurrentGrad` node takes, in its input order: of the output
/// sequence, the last output, the final state and the final cell state.
pub const UPSTREAM: [Part; 4] = [Part::Outputs, Part::Last, Part::State, Part::CellState];

/// The node ids of a recurrent op's results.
#[derive(Clone, Copy, Debug)]
pub struct RecurrentOutputs {
    pub outputs: NodeId,
    pub last: NodeId,
    pub state: NodeId,
    pub cell_state: Option<NodeId>,
}

impl Graph {
    /// A view of part `part` of the packed tensor `packed`, laid out as `packing` says.
    pub fn part(
        &mut self,
        packed: NodeId,
        packing: &Packing,
        part: Part,
    ) -> Result<NodeId, GraphError> {
        let (offset, shape) = packing.find(part).ok_or_else(|| {
            GraphError::Invalid(format!("this packed tensor has no {part:?} part"))
        })?;
        self.push(Op::Part { offset, shape }, &[packed])
    }

    /// A recurrent layer's walk over `xw` [batch, steps, gates * units] (the projected inputs,
    /// input bias included), with the recurrent kernel [units, gates * units].
    #[allow(clippy::too_many_arguments)]
    pub fn recurrent(
        &mut self,
        spec: RecurrentSpec,
        xw: NodeId,
        recurrent_kernel: NodeId,
        initial_state: &[NodeId],
        recurrent_bias: Option<NodeId>,
        mask: Option<NodeId>,
    ) -> Result<RecurrentOutputs, GraphError> {
        let spec = RecurrentSpec {
            initial_state: !initial_state.is_empty(),
            recurrent_bias: recurrent_bias.is_some(),
            masked: mask.is_some(),
            ..spec
        };
        let mut inputs = vec![xw, recurrent_kernel];
        inputs.extend_from_slice(initial_state);
        inputs.extend(recurrent_bias);
        inputs.extend(mask);
        let packed = self.push(Op::Recurrent(spec), &inputs)?;
        let s = self.shape(xw).clone();
        let packing = spec.forward_packing(s.0[0], s.0[1]);
        Ok(RecurrentOutputs {
            outputs: self.part(packed, &packing, Part::Outputs)?,
            last: self.part(packed, &packing, Part::Last)?,
            state: self.part(packed, &packing, Part::State)?,
            cell_state: match spec.cell {
                Cell::Lstm => Some(self.part(packed, &packing, Part::CellState)?),
                _ => None,
            },
        })
    }
}

/// The shape rule of `Recurrent`: the packed output's length.
pub(crate) fn forward_shape(spec: &RecurrentSpec, inputs: &[&Shape]) -> Result<Shape, GraphError> {
    let name = "recurrent";
    let at = spec.input_positions();
    if inputs.len() != at.count {
        return Err(shape_err(
            name,
            format!("takes {} inputs, got {}", at.count, inputs.len()),
        ));
    }
    let (u, gu) = (spec.units, spec.gate_width());
    let xw = inputs[0];
    if xw.rank() != 3 || xw.0[2] != gu {
        return Err(shape_err(
            name,
            format!("its projected inputs must be [batch, steps, {gu}], got {xw}"),
        ));
    }
    let (batch, steps) = (xw.0[0], xw.0[1]);
    let want = |k: Option<usize>, shape: Shape, what: &str| match k {
        Some(k) if *inputs[k] != shape => Err(shape_err(
            name,
            format!("{what} must have shape {shape}, got {}", inputs[k]),
        )),
        _ => Ok(()),
    };
    want(Some(1), Shape(vec![u, gu]), "the recurrent kernel")?;
    want(at.h0, Shape(vec![batch, u]), "the initial state")?;
    want(at.c0, Shape(vec![batch, u]), "the initial cell state")?;
    want(at.bias, Shape(vec![gu]), "the recurrent bias")?;
    want(at.mask, Shape(vec![batch, steps]), "the mask")?;
    Ok(Shape(vec![spec.forward_packing(batch, steps).len]))
}

/// The shape rule of `RecurrentGrad`: (the present upstream gradients, the forward op's packed
/// output, the recurrent kernel, the mask when masked) -> the packed gradients.
pub(crate) fn backward_shape(
    spec: &RecurrentSpec,
    upstream: &[bool; 4],
    steps: usize,
    inputs: &[&Shape],
) -> Result<Shape, GraphError> {
    let name = "recurrentgrad";
    let ups = upstream.iter().filter(|u| **u).count();
    let count = ups + 2 + spec.masked as usize;
    if inputs.len() != count {
        return Err(shape_err(
            name,
            format!("takes {count} inputs, got {}", inputs.len()),
        ));
    }
    let rk = inputs[ups + 1];
    if *rk != Shape(vec![spec.units, spec.gate_width()]) {
        return Err(shape_err(
            name,
            format!("the recurrent kernel has shape {rk}"),
        ));
    }
    let batch = inputs[0].0[0];
    let packing = spec.forward_packing(batch, steps);
    if inputs[ups].numel() != packing.len {
        return Err(shape_err(name, "its packed input does not match the spec"));
    }
    let mut k = 0;
    for (present, part) in upstream.iter().zip(UPSTREAM) {
        if *present {
            let (_, want) = packing
                .find(part)
                .ok_or_else(|| shape_err(name, format!("there is no {part:?} to differentiate")))?;
            if *inputs[k] != want {
                return Err(shape_err(
                    name,
                    format!(
                        "the gradient of {part:?} has shape {}, not {want}",
                        inputs[k]
                    ),
                ));
            }
            k += 1;
        }
    }
    Ok(Shape(vec![spec.backward_packing(batch, steps).len]))
}

type Grads = Result<Vec<Option<NodeId>>, GraphError>;

/// The gradients of a `Recurrent` node's inputs, given the gradients of its parts (by
/// `UPSTREAM` order).
pub(crate) fn recurrent_gradients(
    g: &mut Graph,
    packed: NodeId,
    spec: RecurrentSpec,
    upstream: [Option<NodeId>; 4],
) -> Grads {
    let inputs = g.node(packed).inputs.clone();
    let at = spec.input_positions();
    let xw_shape = g.shape(inputs[0]).clone();
    let (batch, steps) = (xw_shape.0[0], xw_shape.0[1]);
    let has = upstream.map(|u| u.is_some());
    let mut grad_inputs: Vec<NodeId> = upstream.iter().flatten().copied().collect();
    grad_inputs.push(packed);
    grad_inputs.push(inputs[1]);
    if let Some(m) = at.mask {
        grad_inputs.push(inputs[m]);
    }
    let grad = g.push(
        Op::RecurrentGrad {
            spec,
            upstream: has,
            steps,
        },
        &grad_inputs,
    )?;
    let forward = spec.forward_packing(batch, steps);
    let backward = spec.backward_packing(batch, steps);
    let d_input = g.part(grad, &backward, Part::DInput)?;
    let d_recurrent = match spec.cell {
        Cell::Gru => g.part(grad, &backward, Part::DRecurrent)?,
        _ => d_input,
    };
    let (u, gu) = (spec.units, spec.gate_width());
    let prev = g.part(packed, &forward, Part::PrevState)?;
    let prev = g.reshape(prev, [batch * steps, u])?;
    let d_rows = g.reshape(d_recurrent, [batch * steps, gu])?;
    let d_kernel = g.matmul_t(prev, d_rows, true, false)?;
    let mut out = vec![None; at.count];
    out[0] = Some(d_input);
    out[1] = Some(d_kernel);
    if let Some(k) = at.h0 {
        out[k] = Some(g.part(grad, &backward, Part::DState)?);
    }
    if let Some(k) = at.c0 {
        out[k] = Some(g.part(grad, &backward, Part::DCellState)?);
    }
    if let Some(k) = at.bias {
        out[k] = Some(g.sum_to(d_recurrent, &Shape(vec![gu]))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cell: Cell) -> RecurrentSpec {
        RecurrentSpec {
            cell,
            units: 3,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            go_backwards: false,
            outputs_in_walk_order: false,
            zero_output_for_mask: false,
            initial_state: false,
            recurrent_bias: false,
            masked: false,
        }
    }

    #[test]
    fn parts_start_on_slot_boundaries_and_do_not_overlap() {
        for cell in [Cell::SimpleRnn, Cell::Lstm, Cell::Gru] {
            for p in [
                spec(cell).forward_packing(5, 7),
                spec(cell).backward_packing(5, 7),
            ] {
                let mut end = 0;
                for part in p.parts() {
                    assert_eq!(part.at % SLOT_ALIGN, 0);
                    assert!(part.at >= end);
                    end = part.at + part.numel();
                }
                assert!(end <= p.len);
            }
        }
    }

    #[test]
    fn bad_shapes_name_what_is_wrong() {
        let mut g = Graph::new();
        let xw = g.input([2, 5, 12]);
        let rk = g.input([3, 12]);
        let h0 = g.input([2, 4]);
        let err = g
            .recurrent(spec(Cell::Lstm), xw, rk, &[h0, h0], None, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("initial state must have shape (2, 3)"),
            "{err}"
        );
        let mask = g.input([2, 6]);
        let err = g
            .recurrent(spec(Cell::Lstm), xw, rk, &[], None, Some(mask))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mask must have shape (2, 5)"), "{err}");
        let ok = g
            .recurrent(spec(Cell::Lstm), xw, rk, &[], None, None)
            .unwrap();
        assert_eq!(g.shape(ok.outputs).0, vec![2, 5, 3]);
        assert_eq!(g.shape(ok.cell_state.unwrap()).0, vec![2, 3]);
    }
}
