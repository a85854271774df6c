//! Dataset readers for wgtrain: the IDX file format, MNIST loading, and the
//! download cache that fetches MNIST on first use, and datasets generated in code.

pub mod cache;
pub mod idx;
pub mod mnist;
pub mod synthetic;

mod download;
mod one_hot;
#[cfg(test)]
mod test_util;

pub use cache::{default_cache_dir, resolve_mnist_dir};
pub use idx::{read_idx, IdxArray};
pub use mnist::{load_mnist, Mnist, MNIST_FILES};
pub use one_hot::one_hot;
