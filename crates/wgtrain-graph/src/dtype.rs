use serde::{Deserialize, Serialize};
use std::fmt;

/// The element type of a tensor. Every type is four bytes wide, so one arena of 32-bit words
/// holds them all; integer values are stored as their bits, never converted to floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DType {
    #[default]
    F32,
    I32,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I32 => "int32",
        }
    }

    /// Parses Keras' dtype names ("float32", "int32").
    pub fn from_name(name: &str) -> Option<DType> {
        match name {
            "float32" | "f32" => Some(DType::F32),
            "int32" | "i32" => Some(DType::I32),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
