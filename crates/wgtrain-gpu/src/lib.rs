//! The wgpu backend: the plans the core compiles, run as WGSL compute pipelines on any GPU
//! wgpu reaches (Vulkan, Metal, DX12), including software Vulkan adapters such as lavapipe.

pub mod adapter;
mod backend;
pub mod kernels;
pub mod lower;
pub mod params;
mod profile;
mod readback;
pub mod tuning;

pub use adapter::{list as list_adapters, AdapterChoice, AdapterReport};
pub use backend::GpuBackend;
