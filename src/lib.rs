//! wgtrain: Keras-style training in Rust on any GPU (wgpu) with a real CPU fallback.

pub mod device;

pub use device::Device;
pub use wgtrain_cpu as cpu;
pub use wgtrain_data as data;
pub use wgtrain_gpu as gpu;
pub use wgtrain_graph as graph;
pub use wgtrain_nn as nn;
