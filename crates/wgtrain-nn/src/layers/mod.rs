//! The built-in layers.

mod activation;
mod dense;
mod dropout;
mod flatten;

pub use activation::{Activation, ActivationKind, Softmax};
pub use dense::Dense;
pub use dropout::Dropout;
pub use flatten::Flatten;
