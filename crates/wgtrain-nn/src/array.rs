use anyhow::{bail, Result};
use wgtrain_graph::Shape;

/// A host tensor of f32 values: features, targets or predictions. Axis 0 is the sample axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Shape,
    pub data: Vec<f32>,
}

impl Array {
    pub fn new(shape: impl Into<Shape>, data: Vec<f32>) -> Result<Self> {
        let shape = shape.into();
        if shape.numel() != data.len() {
            bail!(
                "an array of shape {shape} needs {} values, got {}",
                shape.numel(),
                data.len()
            );
        }
        if shape.rank() == 0 {
            bail!("an array needs a sample axis; got a scalar shape");
        }
        Ok(Self { shape, data })
    }

    pub fn samples(&self) -> usize {
        self.shape.0[0]
    }

    /// Values per sample.
    pub fn row_len(&self) -> usize {
        self.shape.numel() / self.samples().max(1)
    }

    pub fn row(&self, i: usize) -> &[f32] {
        let w = self.row_len();
        &self.data[i * w..(i + 1) * w]
    }

    /// The per-sample shape (without the sample axis).
    pub fn sample_shape(&self) -> Shape {
        Shape(self.shape.0[1..].to_vec())
    }
}
