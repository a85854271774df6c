//! Keras-style models on top of the graph: layers, Sequential and functional models, losses,
//! metrics, the fit loop, progress output, summaries and checkpoints.

pub mod array;
pub mod backup;
mod batch;
pub mod callback;
pub mod callbacks;
pub mod checkpoint;
mod custom_loop;
pub mod event_file;
pub mod fit;
pub mod history;
pub mod init;
pub mod layer;
pub mod layers;
pub mod loss;
pub mod model;
pub mod model_file;
pub mod model_json;
mod nested;
pub mod output_path;
pub mod plot;
pub mod progress;
pub mod sequential;
mod step;
pub mod summary;
pub mod tally;
pub mod tensor;

pub use array::{Array, Values};
pub use backup::BackupAndRestore;
pub use callback::{log_value, Callback, CallbackState, Control, Logs};
pub use callbacks::{
    CsvLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
    TensorBoard, TerminateOnNaN,
};
pub use custom_loop::{Gradients, RunningLogs};
pub use fit::{FitConfig, Validation};
pub use history::History;
pub use init::{set_random_seed, Initializer};
pub use layer::{BuildCtx, CallCtx, Layer, LayerExt, LayerHandle, Weight};
pub use layers::{
    Activation, ActivationKind, Add, Average, AveragePooling1D, AveragePooling2D,
    BatchNormalization, Bidirectional, Concatenate, Conv1D, Conv2D, Dense, Dropout, Embedding,
    Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
    GlobalMaxPooling2D, Lambda, Masking, MaxPooling1D, MaxPooling2D, Maximum, MergeMode, Minimum,
    Multiply, Recurrent, SimpleRNN, Size2, Softmax, SpatialDropout1D, Subtract, GRU, LSTM,
};
pub use loss::Loss;
pub use model::{CompileConfig, Model};
pub use model_file::load_model;
pub use model_json::{register_layer, LayerConstructor};
pub use sequential::Sequential;
pub use tensor::{Input, InputShape, Tensor};
/// The activations a recurrent cell may use (`Recurrent::activation`).
pub use wgtrain_graph::Activation as CellActivation;
pub use wgtrain_graph::OptimizerSpec as Optimizer;
pub use wgtrain_graph::{DType, Padding};
