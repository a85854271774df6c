//! Where the tests find the real datasets: as the command line does, from
//! `wgtrain::data::real_data` (`$WGTRAIN_MNIST_DIR` / `$WGTRAIN_IMDB_DIR`, `../shared/datasets`,
//! then the cache and the downloader). A missing dataset leaves the test out with a note on the
//! terminal, except under `CI=true`, where it fails.

#![allow(dead_code)]

use std::path::PathBuf;
use wgtrain::data::real_data::{real_dataset_dir, RealDataset};

pub fn mnist_dir() -> Option<PathBuf> {
    real_dataset_dir(RealDataset::Mnist)
}

pub fn imdb_dir() -> Option<PathBuf> {
    real_dataset_dir(RealDataset::Imdb)
}
