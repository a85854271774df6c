use crate::init::Initializer;
use crate::layer::{BuildCtx, CallCtx, Layer, Weight};
use anyhow::{bail, Result};
use serde_json::json;
use wgtrain_graph::{DType, NodeId, Shape};

/// Rows of a trainable table picked by int32 ids, like `keras.layers.Embedding`. With
/// `mask_zero`, id 0 is padding and the output carries a mask (`ids != 0`).
pub struct Embedding {
    input_dim: usize,
    output_dim: usize,
    mask_zero: bool,
    table: Option<Weight>,
}

impl Embedding {
    pub fn new(input_dim: usize, output_dim: usize) -> Self {
        Self {
            input_dim,
            output_dim,
            mask_zero: false,
            table: None,
        }
    }
    pub fn mask_zero(mut self, mask_zero: bool) -> Self {
        self.mask_zero = mask_zero;
        self
    }
}

impl Layer for Embedding {
    fn class_name(&self) -> &str {
        "Embedding"
    }
    fn build(&mut self, _input_shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        if self.input_dim == 0 || self.output_dim == 0 {
            bail!(
                "input_dim and output_dim must be at least 1 (got {} and {})",
                self.input_dim,
                self.output_dim
            );
        }
        self.table = Some(ctx.add_weight(
            "embeddings",
            [self.input_dim, self.output_dim],
            Initializer::Uniform {
                low: -0.05,
                high: 0.05,
            },
        ));
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let ids = inputs[0];
        if ctx.graph.dtype(ids) != DType::I32 {
            bail!(
                "Embedding takes int32 token ids but got {} values; declare the model input as \
                 Input::typed(shape, DType::I32)",
                ctx.graph.dtype(ids)
            );
        }
        let Some(table) = &self.table else {
            bail!("Embedding is called before it is built");
        };
        ctx.check_ids(ids, self.input_dim);
        let t = ctx.weight(table);
        Ok(vec![ctx.graph.gather(t, ids)?])
    }
    fn compute_mask(
        &self,
        ctx: &mut CallCtx,
        inputs: &[NodeId],
        _masks: &[Option<NodeId>],
    ) -> Result<Option<NodeId>> {
        if !self.mask_zero {
            return Ok(None);
        }
        // Ids are non-negative, so `id > 0` is `id != 0`.
        let ids = ctx.graph.cast(inputs[0], DType::F32)?;
        Ok(Some(ctx.graph.step(ids)?))
    }
    fn config(&self) -> serde_json::Value {
        json!({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "mask_zero": self.mask_zero,
            "embeddings_initializer": {"class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05}},
        })
    }
}
