//! The built-in layers.

mod activation;
mod batch_norm;
mod bidirectional;
mod conv1d;
mod conv2d;
mod dense;
mod dropout;
mod embedding;
mod flatten;
mod lambda;
mod merge;
mod pooling;
mod pooling2d;
mod recurrent;

pub use activation::{Activation, ActivationKind, Softmax};
pub use batch_norm::BatchNormalization;
pub use bidirectional::{Bidirectional, MergeMode};
pub use conv1d::Conv1D;
pub use conv2d::{Conv2D, Size2};
pub use dense::Dense;
pub use dropout::{Dropout, SpatialDropout1D};
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use lambda::Lambda;
pub use merge::{Add, Average, Concatenate, Maximum, Merge, Minimum, Multiply, Subtract};
pub use pooling::{
    AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D, Pooling1D,
};
pub use pooling2d::{
    AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, GlobalPooling2D, MaxPooling2D,
    Pooling2D,
};
pub use recurrent::{Masking, Recurrent, SimpleRNN, GRU, LSTM};
