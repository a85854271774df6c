//! Dataset readers for wgtrain: the IDX file format and MNIST loading; numpy's
//! `.npy`/`.npz` formats (with the pickle subset numpy writes for ragged
//! object arrays) and IMDB loading that matches Keras exactly, including
//! numpy's `RandomState` shuffle; `pad_sequences` and the IMDB word index; the
//! download cache that fetches MNIST and IMDB on first use; and datasets
//! generated in code.

pub mod cache;
pub mod idx;
pub mod imdb;
pub mod imdb_cache;
pub mod imdb_text;
pub mod mnist;
pub mod npy;
pub mod npz;
pub mod numpy_random;
pub mod pickle;
pub mod real_data;
pub mod sequence;
pub mod synthetic;
pub mod table;
pub mod text_vectorization;
pub mod word_index;

mod csv;
mod download;
mod npy_header;
mod one_hot;
#[cfg(test)]
mod test_util;

pub use cache::{default_cache_dir, resolve_mnist_dir};
pub use idx::{parse_idx_file, read_idx, IdxArray};
pub use imdb::{
    find_imdb_file, load_imdb, prepare_imdb, read_imdb_npz, Imdb, ImdbOptions, ImdbRaw,
    IMDB_NPZ_FILE, IMDB_WORD_INDEX_FILE,
};
pub use imdb_cache::{resolve_imdb_dir, IMDB_BASE_URL};
pub use imdb_text::{imdb_tokens, rebuild_imdb_from_text};
pub use mnist::{load_mnist, Mnist, MNIST_FILES};
pub use npy::{parse_npy, read_npy, NpyArray, NpyData};
pub use npz::Npz;
pub use numpy_random::RandomState;
pub use one_hot::one_hot;
pub use pickle::{unpickle_int_lists, ObjectArray};
pub use sequence::{pad_sequences, Padding, Truncating};
pub use word_index::{decode_review, get_word_index, ReverseWordIndex};
