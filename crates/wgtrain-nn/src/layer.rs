//! The contract a layer fulfils, built-in or written by a user, and the handle that names and
//! shares it.

use crate::init::Initializer;
use crate::tensor::{apply_layer, Tensor};
use anyhow::Result;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use wgtrain_graph::{Graph, NodeId, ParamId, Shape};

static NEXT_WEIGHT: AtomicU64 = AtomicU64::new(0);

/// A tensor a layer owns. Its values live in the model (and on the device). Non-trainable
/// weights are left alone by the optimizer and saved with the others.
#[derive(Clone, Debug)]
pub struct Weight {
    pub uid: u64,
    pub name: String,
    pub shape: Shape,
    pub init: Initializer,
    pub trainable: bool,
    /// Values a model starts this weight from instead of drawing them from `init`: those of
    /// the model it was shared from.
    pub(crate) preset: Option<Rc<[f32]>>,
}

/// Given to `Layer::build`; records every weight the layer adds, as Keras' `add_weight` does.
pub struct BuildCtx {
    pub(crate) weights: Vec<Weight>,
}

impl BuildCtx {
    pub(crate) fn new() -> Self {
        Self {
            weights: Vec::new(),
        }
    }

    /// A trainable weight of the layer.
    pub fn add_weight(&mut self, name: &str, shape: impl Into<Shape>, init: Initializer) -> Weight {
        self.push(name, shape.into(), init, true)
    }

    /// A weight the optimizer does not train (moving statistics, counters).
    pub fn add_non_trainable_weight(
        &mut self,
        name: &str,
        shape: impl Into<Shape>,
        init: Initializer,
    ) -> Weight {
        self.push(name, shape.into(), init, false)
    }

    fn push(&mut self, name: &str, shape: Shape, init: Initializer, trainable: bool) -> Weight {
        let w = Weight {
            uid: NEXT_WEIGHT.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            shape,
            init,
            trainable,
            preset: None,
        };
        self.weights.push(w.clone());
        w
    }

    /// A weight another layer owns, used by this one too (a model applied as a layer).
    pub(crate) fn share_weight(&mut self, w: Weight) {
        self.weights.push(w);
    }
}

/// A check the model runs on fed int32 ids before a step: every id below `rows`.
#[derive(Clone, Debug)]
pub(crate) struct IdBound {
    pub ids: NodeId,
    pub rows: usize,
    pub layer: String,
}

/// Given to `Layer::call`: the graph under construction, the masks of the inputs and what the
/// call may need from the model.
pub struct CallCtx<'a> {
    pub graph: &'a mut Graph,
    /// True when building a training graph (dropout is active).
    pub training: bool,
    pub(crate) param_ids: &'a mut HashMap<u64, ParamId>,
    pub(crate) param_nodes: HashMap<u64, NodeId>,
    pub(crate) next_key: u32,
    pub(crate) masks: Vec<Option<NodeId>>,
    pub(crate) mask_read: Cell<bool>,
    pub(crate) layer_name: String,
    pub(crate) id_bounds: Vec<IdBound>,
    pub(crate) assigns: Vec<(u64, NodeId)>,
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
            masks: Vec::new(),
            mask_read: Cell::new(false),
            layer_name: String::new(),
            id_bounds: Vec::new(),
            assigns: Vec::new(),
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

    /// The mask of input `k` of this call: a float32 tensor of the input's shape without its
    /// last axis, 1 where a step is real and 0 where it is padding. `None` when unmasked.
    pub fn mask(&self, k: usize) -> Option<NodeId> {
        self.mask_read.set(true);
        self.masks.get(k).copied().flatten()
    }

    /// After a training step, sets weight `w` to the value of `value` (state such as moving
    /// statistics). Ignored outside training graphs.
    pub fn assign(&mut self, w: &Weight, value: NodeId) {
        if self.training {
            self.assigns.push((w.uid, value));
        }
    }

    /// Declares that `ids` index a table of `rows` rows: the model rejects fed ids outside it
    /// before a step runs, naming this layer.
    pub fn check_ids(&mut self, ids: NodeId, rows: usize) {
        self.id_bounds.push(IdBound {
            ids,
            rows,
            layer: self.layer_name.clone(),
        });
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
    /// The Keras class name, e.g. "Dense"; default layer names are made from it.
    fn class_name(&self) -> &str;
    fn build(&mut self, input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        let _ = (input_shapes, ctx);
        Ok(())
    }
    /// Inputs and outputs carry the batch axis first. `ctx.mask(k)` gives input `k`'s mask.
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>>;
    /// Whether the layer passes its input's mask on unchanged (Keras' `supports_masking`).
    fn supports_masking(&self) -> bool {
        false
    }
    /// The mask of the outputs, given the inputs and their masks. By default the first input's
    /// mask when the layer supports masking, else none.
    fn compute_mask(
        &self,
        ctx: &mut CallCtx,
        inputs: &[NodeId],
        masks: &[Option<NodeId>],
    ) -> Result<Option<NodeId>> {
        let _ = (ctx, inputs);
        Ok(if self.supports_masking() {
            masks.first().copied().flatten()
        } else {
            None
        })
    }
    /// The layer's configuration, serializable like Keras' `get_config` (the name is added).
    fn config(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

/// A layer with its name, shared by every place it is applied (its weights too).
#[derive(Clone)]
pub struct LayerHandle {
    pub(crate) inner: Rc<RefCell<LayerSlot>>,
}

pub(crate) struct LayerSlot {
    pub layer: Box<dyn Layer>,
    pub name: String,
    pub built: bool,
    pub weights: Vec<Weight>,
}

impl LayerSlot {
    pub fn describe(&self) -> String {
        format!("layer '{}' ({})", self.name, self.layer.class_name())
    }
}

impl LayerHandle {
    /// A handle with a default name from the class name, numbered like Keras': "dense",
    /// "dense_1", ...
    pub fn new(layer: impl Layer + 'static) -> Self {
        let name = unique_name(&snake_case(layer.class_name()));
        Self::named(layer, &name)
    }
    pub fn named(layer: impl Layer + 'static, name: &str) -> Self {
        Self::boxed(Box::new(layer), name)
    }
    /// A handle on a layer already boxed (one made from a model file).
    pub fn boxed(layer: Box<dyn Layer>, name: &str) -> Self {
        Self {
            inner: Rc::new(RefCell::new(LayerSlot {
                layer,
                name: name.to_string(),
                built: false,
                weights: Vec::new(),
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
        self.inner.borrow().name.clone()
    }
    pub fn class_name(&self) -> String {
        self.inner.borrow().layer.class_name().to_string()
    }
    /// The weights the layer added when it was built (none before its first use).
    pub fn weights(&self) -> Vec<Weight> {
        self.inner.borrow().weights.clone()
    }
    /// The configuration with the layer's name, like Keras' `get_config`.
    pub fn config(&self) -> serde_json::Value {
        let slot = self.inner.borrow();
        let mut c = slot.layer.config();
        if let Some(m) = c.as_object_mut() {
            m.insert("name".into(), slot.name.clone().into());
        }
        c
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
    fn apply_many(self, xs: &[&Tensor]) -> Result<Vec<Tensor>> {
        LayerHandle::new(self).apply_many(xs)
    }
    fn shared(self) -> LayerHandle {
        LayerHandle::new(self)
    }
    /// The layer under a name of your choosing, like Keras' `name=` argument.
    fn named(self, name: &str) -> LayerHandle {
        LayerHandle::named(self, name)
    }
}
impl<L: Layer + 'static> LayerExt for L {}

/// "GlobalMaxPooling1D" -> "global_max_pooling1d", as Keras makes default names.
pub fn snake_case(class: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = class.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_ascii_lowercase());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn default_names_follow_keras() {
        assert_eq!(snake_case("Dense"), "dense");
        assert_eq!(snake_case("GlobalMaxPooling1D"), "global_max_pooling1d");
        assert_eq!(snake_case("Conv1D"), "conv1d");
        assert_eq!(snake_case("FM"), "fm");
        assert_eq!(snake_case("SpatialDropout1D"), "spatial_dropout1d");
    }
}
