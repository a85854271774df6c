//! Loading the MNIST handwritten-digit dataset from its four IDX files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::cache::DATA_DIR_ENV;
use crate::idx::{read_idx, IdxArray};

/// Side length of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels per MNIST image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of digit classes.
pub const NUM_CLASSES: usize = 10;

/// The base names of the four MNIST files: train images, train labels, test
/// images, test labels. On disk each may also carry a `.gz` suffix.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// MNIST in memory: images are row-major `n x 784` pixels scaled to `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mnist {
    pub train_images: Vec<f32>,
    pub train_labels: Vec<u8>,
    pub test_images: Vec<f32>,
    pub test_labels: Vec<u8>,
}

impl Mnist {
    pub fn n_train(&self) -> usize {
        self.train_labels.len()
    }

    pub fn n_test(&self) -> usize {
        self.test_labels.len()
    }
}

/// Loads MNIST from `dir`, which must hold the four [`MNIST_FILES`], each
/// gzip-compressed or raw, under any of the names [`file_name_variants`] lists.
pub fn load_mnist(dir: &Path) -> Result<Mnist> {
    if !dir.is_dir() {
        bail!(
            "MNIST directory {} does not exist; pass a data directory (`data_dir`) pointing at a folder \
             with the four MNIST files ({}), or set the {DATA_DIR_ENV} environment variable",
            dir.display(),
            MNIST_FILES.join(", ")
        );
    }
    let found = MNIST_FILES.map(|name| find_mnist_file(dir, name));
    let [Some(train_images), Some(train_labels), Some(test_images), Some(test_labels)] = found
    else {
        let expected: Vec<String> = MNIST_FILES
            .iter()
            .zip(&found)
            .filter(|(_, path)| path.is_none())
            .map(|(name, _)| file_name_variants(name).join(" or "))
            .collect();
        bail!(
            "MNIST directory {} lacks {} of the 4 MNIST files; expected: {}",
            dir.display(),
            expected.len(),
            expected.join("; ")
        );
    };
    let (train_images, train_labels) = load_split(&train_images, &train_labels)?;
    let (test_images, test_labels) = load_split(&test_images, &test_labels)?;
    Ok(Mnist {
        train_images,
        train_labels,
        test_images,
        test_labels,
    })
}

/// The file names accepted for the MNIST base name `name`, in lookup order:
/// gzip first, then raw, then the `.idx` spelling some distributions use.
pub fn file_name_variants(name: &str) -> Vec<String> {
    let dotted = name.replacen("-idx", ".idx", 1);
    vec![
        format!("{name}.gz"),
        name.to_string(),
        format!("{dotted}.gz"),
        dotted,
    ]
}

/// The first existing file in `dir` for the MNIST base name `name`.
pub fn find_mnist_file(dir: &Path, name: &str) -> Option<PathBuf> {
    file_name_variants(name)
        .into_iter()
        .map(|file| dir.join(file))
        .find(|path| path.is_file())
}

/// The entries of [`MNIST_FILES`] that have no file in `dir`.
pub fn missing_mnist_files(dir: &Path) -> Vec<&'static str> {
    MNIST_FILES
        .into_iter()
        .filter(|name| find_mnist_file(dir, name).is_none())
        .collect()
}

fn load_split(images_path: &Path, labels_path: &Path) -> Result<(Vec<f32>, Vec<u8>)> {
    let images = read_idx(images_path)?;
    check_images(&images, images_path)?;
    let labels = read_idx(labels_path)?;
    check_labels(&labels, labels_path)?;
    let (n_images, n_labels) = (images.dims[0], labels.dims[0]);
    if n_images != n_labels {
        bail!(
            "MNIST image/label count mismatch: {} holds {n_images} images but {} holds \
             {n_labels} labels; the two files must come from the same split",
            images_path.display(),
            labels_path.display()
        );
    }
    let pixels = images.data.iter().map(|&p| f32::from(p) / 255.0).collect();
    Ok((pixels, labels.data))
}

fn check_images(images: &IdxArray, path: &Path) -> Result<()> {
    match images.dims[..] {
        [_, IMAGE_SIDE, IMAGE_SIDE] => Ok(()),
        _ => bail!(
            "{} should hold MNIST images with dimensions [count, {IMAGE_SIDE}, {IMAGE_SIDE}], \
             but its header says {:?}; check that it is an MNIST images file",
            path.display(),
            images.dims
        ),
    }
}

fn check_labels(labels: &IdxArray, path: &Path) -> Result<()> {
    if labels.dims.len() != 1 {
        bail!(
            "{} should hold MNIST labels with dimensions [count], but its header says {:?}; \
             check that it is an MNIST labels file",
            path.display(),
            labels.dims
        );
    }
    if let Some((index, label)) = labels
        .data
        .iter()
        .enumerate()
        .find(|&(_, &label)| usize::from(label) >= NUM_CLASSES)
    {
        bail!(
            "{} holds label {label} at index {index}, but MNIST labels are digits 0-9; the \
             file is corrupt or not an MNIST labels file",
            path.display()
        );
    }
    Ok(())
}
