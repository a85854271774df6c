use crate::layer::{Layer, LayerHandle};
use crate::model::Model;
use crate::tensor::{Input, InputShape, Tensor};
use anyhow::Result;

/// A linear stack of layers, like `keras.Sequential`. Each `add` checks shapes at once.
pub struct Sequential {
    input: Tensor,
    output: Tensor,
}

impl Sequential {
    /// A stack taking samples of `input_shape` (without the batch axis).
    pub fn new(input_shape: impl Into<InputShape>) -> Self {
        Self::from_input(Input::new(input_shape))
    }

    /// A stack starting from the given input, e.g. `Input::typed([100], DType::I32)`.
    pub fn from_input(input: Tensor) -> Self {
        Self {
            output: input.clone(),
            input,
        }
    }

    pub fn add(&mut self, layer: impl Layer + 'static) -> Result<&mut Self> {
        self.add_shared(&LayerHandle::new(layer))
    }

    pub fn add_shared(&mut self, layer: &LayerHandle) -> Result<&mut Self> {
        self.output = layer.apply(&self.output)?;
        Ok(self)
    }

    pub fn build(&self) -> Result<Model> {
        let mut m = Model::new(&[&self.input], &[&self.output])?;
        m.name = "sequential".into();
        Ok(m)
    }
}
