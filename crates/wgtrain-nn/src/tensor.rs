//! Symbolic tensors of the functional API: each remembers the layer call that made it, so a
//! model can be rebuilt as a graph for any batch size, and for any size of the axes its inputs
//! leave to the data.

use crate::layer::{BuildCtx, CallCtx, LayerHandle};
use anyhow::{anyhow, Context, Result};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wgtrain_graph::{DType, Graph, Shape};

static NEXT_TENSOR: AtomicUsize = AtomicUsize::new(0);

/// Sizes a free axis takes when a layer call is traced to infer its output shapes: an output
/// axis whose size differs between the two traces is free too.
const PROBES: [usize; 2] = [1000, 2000];

/// A symbolic tensor: a per-sample shape (no batch axis), an element type, whether a mask
/// travels with it, and where it comes from. Free axes (Keras' `None`) take their size from the
/// data; `shape` holds a stand-in size for them.
#[derive(Clone)]
pub struct Tensor {
    pub(crate) id: usize,
    pub(crate) shape: Shape,
    pub(crate) free: Vec<bool>,
    pub(crate) dtype: DType,
    pub(crate) masked: bool,
    pub(crate) source: Source,
}

#[derive(Clone)]
pub(crate) enum Source {
    Input { name: String },
    Call { call: Rc<LayerCall>, index: usize },
}

pub(crate) struct LayerCall {
    pub id: usize,
    pub layer: LayerHandle,
    pub inputs: Vec<Tensor>,
}

/// A per-sample input shape; `None` leaves an axis to the data, as in Keras'
/// `Input(shape=(None, 128))`.
#[derive(Clone, Debug, PartialEq)]
pub struct InputShape(pub Vec<Option<usize>>);

impl From<Shape> for InputShape {
    fn from(s: Shape) -> Self {
        InputShape(s.0.into_iter().map(Some).collect())
    }
}
impl From<Vec<usize>> for InputShape {
    fn from(v: Vec<usize>) -> Self {
        Shape(v).into()
    }
}
impl<const N: usize> From<[usize; N]> for InputShape {
    fn from(v: [usize; N]) -> Self {
        Shape(v.to_vec()).into()
    }
}
impl From<Vec<Option<usize>>> for InputShape {
    fn from(v: Vec<Option<usize>>) -> Self {
        InputShape(v)
    }
}
impl<const N: usize> From<[Option<usize>; N]> for InputShape {
    fn from(v: [Option<usize>; N]) -> Self {
        InputShape(v.to_vec())
    }
}

/// A model input of the given per-sample shape, like `keras.Input(shape)`.
pub struct Input;

impl Input {
    /// A float32 input.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(shape: impl Into<InputShape>) -> Tensor {
        Self::typed(shape, DType::F32)
    }
    /// An input of the given element type, like `keras.Input(shape, dtype="int32")`.
    pub fn typed(shape: impl Into<InputShape>, dtype: DType) -> Tensor {
        Self::named_typed(shape, dtype, &crate::layer::unique_name("input_layer"))
    }
    pub fn named(shape: impl Into<InputShape>, name: &str) -> Tensor {
        Self::named_typed(shape, DType::F32, name)
    }
    pub fn named_typed(shape: impl Into<InputShape>, dtype: DType, name: &str) -> Tensor {
        let InputShape(dims) = shape.into();
        Tensor {
            id: NEXT_TENSOR.fetch_add(1, Ordering::Relaxed),
            shape: Shape(dims.iter().map(|d| d.unwrap_or(PROBES[0])).collect()),
            free: dims.iter().map(Option::is_none).collect(),
            dtype,
            masked: false,
            source: Source::Input {
                name: name.to_string(),
            },
        }
    }
}

impl Tensor {
    /// The per-sample shape (free axes at a stand-in size; see `free_axes`).
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    /// Which axes of the per-sample shape the data decides (Keras' `None`).
    pub fn free_axes(&self) -> &[bool] {
        &self.free
    }
    /// The per-sample shape with `None` on free axes.
    pub fn input_shape(&self) -> InputShape {
        let dims = self.shape.0.iter().zip(&self.free);
        InputShape(dims.map(|(&d, &f)| (!f).then_some(d)).collect())
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Whether a mask travels with this tensor (from an Embedding with `mask_zero`, say).
    pub fn has_mask(&self) -> bool {
        self.masked
    }
    /// Keras-style shape text with the batch axis and free axes shown as None, e.g.
    /// "(None, None, 128)".
    pub fn shape_text(&self) -> String {
        let mut parts = vec!["None".to_string()];
        for (d, free) in self.shape.0.iter().zip(&self.free) {
            parts.push(if *free { "None".into() } else { d.to_string() });
        }
        if parts.len() == 1 {
            return "(None,)".into();
        }
        format!("({})", parts.join(", "))
    }
    /// Whether a value of per-sample shape `s` fits this tensor.
    pub fn accepts(&self, s: &Shape) -> bool {
        s.rank() == self.shape.rank()
            && s.0
                .iter()
                .zip(&self.shape.0)
                .zip(&self.free)
                .all(|((a, b), free)| *free || a == b)
    }
    pub fn input_name(&self) -> Option<&str> {
        match &self.source {
            Source::Input { name } => Some(name),
            Source::Call { .. } => None,
        }
    }
}

/// The per-sample shape of a tensor's mask: the tensor's shape without its last axis.
pub(crate) fn mask_shape(s: &Shape) -> Shape {
    Shape(s.0[..s.rank().saturating_sub(1)].to_vec())
}

/// Applies a layer to symbolic tensors: builds it on first use, then infers the output shapes
/// by tracing its call once with a batch of one. A bad shape fails here, naming the layer.
pub(crate) fn apply_layer(handle: &LayerHandle, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    let shapes: Vec<Shape> = inputs.iter().map(|t| t.shape.clone()).collect();
    let shapes_text = inputs
        .iter()
        .map(|t| t.shape_text())
        .collect::<Vec<_>>()
        .join(", ");
    {
        let mut slot = handle.inner.borrow_mut();
        if !slot.built {
            let mut ctx = BuildCtx::new();
            let described = slot.describe();
            slot.layer.build(&shapes, &mut ctx).with_context(|| {
                format!("{described} could not be built for input shape {shapes_text}")
            })?;
            if let Some(w) = ctx.weights.iter().find(|w| w.shape.0.contains(&0)) {
                return Err(anyhow!(
                    "{described} asked for weight '{}' of shape {}, which has an empty dimension",
                    w.name,
                    w.shape
                ));
            }
            slot.weights = ctx.weights;
            slot.built = true;
        }
    }
    let describe = handle.inner.borrow().describe();
    let probing = inputs.iter().any(|t| t.free.contains(&true));
    let (outs, out_mask) = trace_call(handle, inputs, PROBES[0], &describe, &shapes_text)?;
    let free: Vec<Vec<bool>> = if probing {
        let (again, _) = trace_call(handle, inputs, PROBES[1], &describe, &shapes_text)?;
        outs.iter()
            .zip(&again)
            .map(|((a, _), (b, _))| a.0.iter().zip(&b.0).map(|(x, y)| x != y).collect())
            .collect()
    } else {
        outs.iter().map(|(s, _)| vec![false; s.rank()]).collect()
    };
    let call = Rc::new(LayerCall {
        id: NEXT_TENSOR.fetch_add(1, Ordering::Relaxed),
        layer: handle.clone(),
        inputs: inputs.iter().map(|t| (*t).clone()).collect(),
    });
    Ok(outs
        .into_iter()
        .zip(free)
        .enumerate()
        .map(|(index, ((shape, dtype), free))| Tensor {
            id: NEXT_TENSOR.fetch_add(1, Ordering::Relaxed),
            shape,
            free,
            dtype,
            masked: out_mask,
            source: Source::Call {
                call: call.clone(),
                index,
            },
        })
        .collect())
}

/// Traces one call of a built layer on a batch of one, free axes at size `probe`: the
/// per-sample shapes and types of its outputs, and whether a mask leaves it.
fn trace_call(
    handle: &LayerHandle,
    inputs: &[&Tensor],
    probe: usize,
    describe: &str,
    shapes_text: &str,
) -> Result<(Vec<(Shape, DType)>, bool)> {
    let sized = |t: &Tensor| {
        let dims = t.shape.0.iter().zip(&t.free);
        Shape(dims.map(|(&d, &f)| if f { probe } else { d }).collect())
    };
    let mut graph = Graph::new();
    let nodes: Vec<_> = inputs
        .iter()
        .map(|t| graph.typed_input(with_batch_n(&sized(t), 1), t.dtype))
        .collect();
    let masks: Vec<_> = inputs
        .iter()
        .map(|t| {
            t.masked
                .then(|| graph.input(with_batch_n(&mask_shape(&sized(t)), 1)))
        })
        .collect();
    let mut ids = HashMap::new();
    let mut ctx = CallCtx::new(&mut graph, false, &mut ids);
    ctx.masks = masks.clone();
    let slot = handle.inner.borrow();
    let outs = slot
        .layer
        .call(&mut ctx, &nodes)
        .with_context(|| format!("{describe} rejected input shape {shapes_text}"))?;
    let read_mask = ctx.mask_read.get();
    let out_mask = slot
        .layer
        .compute_mask(&mut ctx, &nodes, &masks)
        .with_context(|| format!("{describe} could not compute its output mask"))?;
    let any_mask = masks.iter().any(Option::is_some);
    if any_mask && !read_mask && !slot.layer.supports_masking() && probe == PROBES[0] {
        eprintln!(
            "warning: {describe} was passed an input with a mask attached to it, but it does not \
             support masking and drops the mask"
        );
    }
    drop(slot);
    let shapes = outs
        .iter()
        .map(|n| {
            let s = graph.shape(*n);
            if s.rank() == 0 || s.0[0] != 1 {
                return Err(anyhow!(
                    "{describe} must keep the batch axis first; its output has shape {s}"
                ));
            }
            Ok((Shape(s.0[1..].to_vec()), graph.dtype(*n)))
        })
        .collect::<Result<_>>()?;
    Ok((shapes, out_mask.is_some()))
}

pub(crate) fn with_batch(s: &Shape) -> String {
    let mut parts = vec!["None".to_string()];
    parts.extend(s.0.iter().map(|d| d.to_string()));
    if parts.len() == 1 {
        return "(None,)".into();
    }
    format!("({})", parts.join(", "))
}

pub(crate) fn with_batch_n(s: &Shape, batch: usize) -> Shape {
    let mut d = vec![batch];
    d.extend(&s.0);
    Shape(d)
}
