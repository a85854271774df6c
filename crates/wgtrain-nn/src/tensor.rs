//! Symbolic tensors of the functional API: each remembers the layer call that made it, so a
//! model can be rebuilt as a graph for any batch size.

use crate::layer::{BuildCtx, CallCtx, LayerHandle};
use anyhow::{anyhow, Context, Result};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wgtrain_graph::{DType, Graph, Shape};

static NEXT_TENSOR: AtomicUsize = AtomicUsize::new(0);

/// A symbolic tensor: a per-sample shape (no batch axis), an element type, whether a mask
/// travels with it, and where it comes from.
#[derive(Clone)]
pub struct Tensor {
    pub(crate) id: usize,
    pub(crate) shape: Shape,
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

/// A model input of the given per-sample shape, like `keras.Input(shape)`.
pub struct Input;

impl Input {
    /// A float32 input.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(shape: impl Into<Shape>) -> Tensor {
        Self::typed(shape, DType::F32)
    }
    /// An input of the given element type, like `keras.Input(shape, dtype="int32")`.
    pub fn typed(shape: impl Into<Shape>, dtype: DType) -> Tensor {
        Self::named_typed(shape, dtype, &crate::layer::unique_name("input_layer"))
    }
    pub fn named(shape: impl Into<Shape>, name: &str) -> Tensor {
        Self::named_typed(shape, DType::F32, name)
    }
    pub fn named_typed(shape: impl Into<Shape>, dtype: DType, name: &str) -> Tensor {
        Tensor {
            id: NEXT_TENSOR.fetch_add(1, Ordering::Relaxed),
            shape: shape.into(),
            dtype,
            masked: false,
            source: Source::Input {
                name: name.to_string(),
            },
        }
    }
}

impl Tensor {
    /// The per-sample shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Whether a mask travels with this tensor (from an Embedding with `mask_zero`, say).
    pub fn has_mask(&self) -> bool {
        self.masked
    }
    /// Keras-style shape text with the batch axis shown as None, e.g. "(None, 256)".
    pub fn shape_text(&self) -> String {
        with_batch(&self.shape)
    }
    /// Whether a value of per-sample shape `s` fits this tensor.
    pub fn accepts(&self, s: &Shape) -> bool {
        *s == self.shape
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
    let shapes_text = shapes.iter().map(with_batch).collect::<Vec<_>>().join(", ");
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
    let mut graph = Graph::new();
    let nodes: Vec<_> = inputs
        .iter()
        .map(|t| graph.typed_input(with_batch_n(&t.shape, 1), t.dtype))
        .collect();
    let masks: Vec<_> = inputs
        .iter()
        .map(|t| {
            t.masked
                .then(|| graph.input(with_batch_n(&mask_shape(&t.shape), 1)))
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
    if any_mask && !read_mask && !slot.layer.supports_masking() {
        eprintln!(
            "warning: {describe} was passed an input with a mask attached to it, but it does not \
             support masking and drops the mask"
        );
    }
    drop(slot);
    let call = Rc::new(LayerCall {
        id: NEXT_TENSOR.fetch_add(1, Ordering::Relaxed),
        layer: handle.clone(),
        inputs: inputs.iter().map(|t| (*t).clone()).collect(),
    });
    outs.iter()
        .enumerate()
        .map(|(index, n)| {
            let s = graph.shape(*n);
            if s.rank() == 0 || s.0[0] != 1 {
                return Err(anyhow!(
                    "{describe} must keep the batch axis first; its output has shape {s}"
                ));
            }
            Ok(Tensor {
                id: NEXT_TENSOR.fetch_add(1, Ordering::Relaxed),
                shape: Shape(s.0[1..].to_vec()),
                dtype: graph.dtype(*n),
                masked: out_mask.is_some(),
                source: Source::Call {
                    call: call.clone(),
                    index,
                },
            })
        })
        .collect()
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
