//! Symbolic tensors of the functional API: each remembers the layer call that made it, so a
//! model can be rebuilt as a graph for any batch size.

use crate::layer::{BuildCtx, CallCtx, LayerHandle};
use anyhow::{anyhow, Context, Result};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wgtrain_graph::{Graph, Shape};

static NEXT_TENSOR: AtomicUsize = AtomicUsize::new(0);

/// A symbolic tensor: a per-sample shape (no batch axis) and where it comes from.
#[derive(Clone)]
pub struct Tensor {
    pub(crate) id: usize,
    pub(crate) shape: Shape,
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
    #[allow(clippy::new_ret_no_self)]
    pub fn new(shape: impl Into<Shape>) -> Tensor {
        Self::named(shape, &crate::layer::unique_name("input_layer"))
    }
    pub fn named(shape: impl Into<Shape>, name: &str) -> Tensor {
        Tensor {
            id: NEXT_TENSOR.fetch_add(1, Ordering::Relaxed),
            shape: shape.into(),
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
    /// Keras-style shape text with the batch axis shown as None, e.g. "(None, 256)".
    pub fn shape_text(&self) -> String {
        with_batch(&self.shape)
    }
    pub fn input_name(&self) -> Option<&str> {
        match &self.source {
            Source::Input { name } => Some(name),
            Source::Call { .. } => None,
        }
    }
}

/// Applies a layer to symbolic tensors: builds it on first use, then infers the output shapes
/// by tracing its call once with a batch of one. A bad shape fails here, naming the layer.
pub(crate) fn apply_layer(handle: &LayerHandle, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    let shapes: Vec<Shape> = inputs.iter().map(|t| t.shape.clone()).collect();
    let describe = |h: &LayerHandle| {
        let slot = h.inner.borrow();
        format!(
            "layer '{}' ({})",
            slot.layer.name(),
            slot.layer.class_name()
        )
    };
    let shapes_text = shapes.iter().map(with_batch).collect::<Vec<_>>().join(", ");
    {
        let mut slot = handle.inner.borrow_mut();
        if !slot.built {
            slot.layer
                .build(&shapes, &mut BuildCtx::new())
                .with_context(|| {
                    format!(
                        "{} could not be built for input shape {shapes_text}",
                        describe_slot(&slot)
                    )
                })?;
            slot.built = true;
        }
    }
    let mut graph = Graph::new();
    let nodes: Vec<_> = shapes
        .iter()
        .map(|s| graph.input(with_batch_n(s, 1)))
        .collect();
    let mut ids = HashMap::new();
    let mut ctx = CallCtx::new(&mut graph, false, &mut ids);
    let outs = handle
        .inner
        .borrow()
        .layer
        .call(&mut ctx, &nodes)
        .with_context(|| format!("{} rejected input shape {shapes_text}", describe(handle)))?;
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
                    "{} must keep the batch axis first; its output has shape {s}",
                    describe(handle)
                ));
            }
            Ok(Tensor {
                id: NEXT_TENSOR.fetch_add(1, Ordering::Relaxed),
                shape: Shape(s.0[1..].to_vec()),
                source: Source::Call {
                    call: call.clone(),
                    index,
                },
            })
        })
        .collect()
}

fn describe_slot(slot: &crate::layer::LayerSlot) -> String {
    format!(
        "layer '{}' ({})",
        slot.layer.name(),
        slot.layer.class_name()
    )
}

fn with_batch(s: &Shape) -> String {
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
