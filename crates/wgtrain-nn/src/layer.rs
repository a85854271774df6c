//! The contract a layer fulfils, built-in or written by a user.

use crate::init::Initializer;
use crate::tensor::{apply_layer, Tensor};
use anyhow::Result;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use wgtrain_graph::{Graph, NodeId, ParamId, Shape};

static NEXT_WEIGHT: AtomicU64 = AtomicU64::new(0);

/// A trainable tensor a layer owns. Its values live in the model (and on the device).
#[derive(Clone, Debug)]
pub struct Weight {
    pub uid: u64,
    pub name: String,
    pub shape: Shape,
    pub init: Initializer,
}

/// Given to `Layer::build` to create weights.
pub struct BuildCtx {
    _private: (),
}

impl BuildCtx {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    pub fn add_weight(&mut self, name: &str, shape: impl Into<Shape>, init: Initializer) -> Weight {
        Weight {
            uid: NEXT_WEIGHT.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            shape: shape.into(),
            init,
        }
    }
}

/// Given to `Layer::call`: the graph under construction and what the call may need from the model.
pub struct CallCtx<'a> {
    pub graph: &'a mut Graph,
    /// True when building a training graph (dropout is active).
    pub training: bool,
    pub(crate) param_ids: &'a mut HashMap<u64, ParamId>,
    pub(crate) param_nodes: HashMap<u64, NodeId>,
    pub(crate) next_key: u32,
}

impl<'a> CallCtx<'a> {
    pub(crate) fn new(
        graph: &'a mut Graph,
        training: bool,
        param_ids: &'a mut HashMap<u64, ParamId>,
    ) -> Self {
        Self {
            graph,
            training,
            param_ids,
            param_nodes: HashMap::new(),
            next_key: 0,
        }
    }

    /// The graph node reading weight `w` (one node per weight, however often it is used).
    pub fn weight(&mut self, w: &Weight) -> NodeId {
        if let Some(&n) = self.param_nodes.get(&w.uid) {
            return n;
        }
        let next = ParamId(self.param_ids.len());
        let id = *self.param_ids.entry(w.uid).or_insert(next);
        let n = self.graph.param(id, w.shape.clone());
        self.param_nodes.insert(w.uid, n);
        n
    }

    /// A fresh key for a random op (dropout), stable across plans of the same model.
    pub fn random_key(&mut self) -> u32 {
        self.next_key += 1;
        self.next_key
    }
}

/// A layer: `build` creates weights from the input shapes (without the batch axis), `call`
/// composes graph ops, and the output shape is inferred from what `call` builds.
pub trait Layer {
    /// The layer's unique name, e.g. "dense_1".
    fn name(&self) -> &str;
    /// The Keras class name, e.g. "Dense".
    fn class_name(&self) -> &str;
    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        let _ = (input_shapes, ctx);
        Ok(())
    }
    /// Inputs and outputs carry the batch axis first.
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>>;
    fn weights(&self) -> Vec<&Weight> {
        Vec::new()
    }
    /// The layer's configuration, serializable like Keras' `get_config`.
    fn config(&self) -> serde_json::Value;
}

/// A layer shared by every place it is applied (its weights too).
#[derive(Clone)]
pub struct LayerHandle {
    pub(crate) inner: Rc<RefCell<LayerSlot>>,
}

pub(crate) struct LayerSlot {
    pub layer: Box<dyn Layer>,
    pub built: bool,
}

impl LayerHandle {
    pub fn new(layer: impl Layer + 'static) -> Self {
        Self {
            inner: Rc::new(RefCell::new(LayerSlot {
                layer: Box::new(layer),
                built: false,
            })),
        }
    }
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        Ok(apply_layer(self, &[x])?.remove(0))
    }
    pub fn apply_many(&self, xs: &[&Tensor]) -> Result<Vec<Tensor>> {
        apply_layer(self, xs)
    }
    pub fn name(&self) -> String {
        self.inner.borrow().layer.name().to_string()
    }
    pub fn same(&self, other: &LayerHandle) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Lets any layer value be applied directly: `Dense::new(10).apply(&x)?`.
pub trait LayerExt: Layer + Sized + 'static {
    fn apply(self, x: &Tensor) -> Result<Tensor> {
        LayerHandle::new(self).apply(x)
    }
    fn shared(self) -> LayerHandle {
        LayerHandle::new(self)
    }
}
impl<L: Layer + 'static> LayerExt for L {}

/// A unique default layer name like Keras': "dense", "dense_1", ...
pub fn unique_name(base: &str) -> String {
    thread_local! {
        static COUNTS: RefCell<HashMap<String, usize>> = RefCell::new(HashMap::new());
    }
    COUNTS.with(|c| {
        let mut c = c.borrow_mut();
        let n = c.entry(base.to_string()).or_insert(0);
        let name = if *n == 0 {
            base.to_string()
        } else {
            format!("{base}_{n}")
        };
        *n += 1;
        name
    })
}
