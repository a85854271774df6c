use anyhow::{bail, Result};
use wgtrain_graph::{DType, Feed, Shape};

/// The values of a host array, float32 or int32.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

/// A host tensor: features, token ids, targets or predictions. Axis 0 is the sample axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Shape,
    pub values: Values,
}

impl Array {
    /// A float32 array.
    pub fn new(shape: impl Into<Shape>, data: Vec<f32>) -> Result<Self> {
        Self::from_values(shape.into(), Values::F32(data))
    }

    /// An int32 array, such as token ids for an Embedding.
    pub fn from_i32(shape: impl Into<Shape>, data: Vec<i32>) -> Result<Self> {
        Self::from_values(shape.into(), Values::I32(data))
    }

    fn from_values(shape: Shape, values: Values) -> Result<Self> {
        let len = match &values {
            Values::F32(v) => v.len(),
            Values::I32(v) => v.len(),
        };
        if shape.numel() != len {
            bail!(
                "an array of shape {shape} needs {} values, got {len}",
                shape.numel()
            );
        }
        if shape.rank() == 0 {
            bail!("an array needs a sample axis; got a scalar shape");
        }
        Ok(Self { shape, values })
    }

    pub fn dtype(&self) -> DType {
        match self.values {
            Values::F32(_) => DType::F32,
            Values::I32(_) => DType::I32,
        }
    }

    /// The float32 values; an error for an int32 array.
    pub fn f32s(&self) -> Result<&[f32]> {
        match &self.values {
            Values::F32(v) => Ok(v),
            Values::I32(_) => bail!(
                "expected a float32 array, got int32 values of shape {}",
                self.shape
            ),
        }
    }

    /// The int32 values; an error for a float32 array.
    pub fn i32s(&self) -> Result<&[i32]> {
        match &self.values {
            Values::I32(v) => Ok(v),
            Values::F32(_) => bail!(
                "expected an int32 array, got float32 values of shape {}",
                self.shape
            ),
        }
    }

    pub fn samples(&self) -> usize {
        self.shape.0[0]
    }

    /// Values per sample.
    pub fn row_len(&self) -> usize {
        self.shape.numel() / self.samples().max(1)
    }

    /// Samples `lo..hi` as a step input.
    pub fn rows(&self, lo: usize, hi: usize) -> Feed<'_> {
        let w = self.row_len();
        match &self.values {
            Values::F32(v) => Feed::F32(&v[lo * w..hi * w]),
            Values::I32(v) => Feed::I32(&v[lo * w..hi * w]),
        }
    }

    /// The per-sample shape (without the sample axis).
    pub fn sample_shape(&self) -> Shape {
        Shape(self.shape.0[1..].to_vec())
    }

    /// A copy of samples `lo..hi`.
    pub fn slice_rows(&self, lo: usize, hi: usize) -> Result<Array> {
        let mut shape = self.shape.clone();
        shape.0[0] = hi - lo;
        let values = match self.rows(lo, hi) {
            Feed::F32(v) => Values::F32(v.to_vec()),
            Feed::I32(v) => Values::I32(v.to_vec()),
        };
        Self::from_values(shape, values)
    }
}
