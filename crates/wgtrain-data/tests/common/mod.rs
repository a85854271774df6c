#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::write::GzEncoder;
use flate2::Compression;

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "wgtrain-data-it-{label}-{}-{unique}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An uncompressed u8 IDX file with the given dimensions and elements.
pub fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for dim in dims {
        bytes.extend_from_slice(&dim.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Deterministic image pixels for `count` 28x28 images.
pub fn image_pixels(count: usize) -> Vec<u8> {
    (0..count * 784).map(|i| (i * 7 % 256) as u8).collect()
}

/// Writes one MNIST split's images and labels files into `dir`.
pub fn write_split(dir: &Path, images_file: &str, labels_file: &str, labels: &[u8], gz: bool) {
    let images = idx_bytes(&[labels.len() as u32, 28, 28], &image_pixels(labels.len()));
    let labels = idx_bytes(&[labels.len() as u32], labels);
    let encode = |bytes: Vec<u8>| if gz { gzip(&bytes) } else { bytes };
    fs::write(dir.join(images_file), encode(images)).unwrap();
    fs::write(dir.join(labels_file), encode(labels)).unwrap();
}

/// Writes a tiny valid MNIST directory: 3 gzipped training and 2 raw test examples.
pub fn write_tiny_mnist(dir: &Path) {
    write_split(
        dir,
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        &[5, 0, 9],
        true,
    );
    write_split(
        dir,
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        &[7, 2],
        false,
    );
}

/// Asserts that `err`, with its whole context chain, mentions every needle.
pub fn assert_mentions(err: &anyhow::Error, needles: &[&str]) {
    let msg = format!("{err:#}");
    for needle in needles {
        assert!(
            msg.contains(needle),
            "error should mention {needle:?}, got: {msg}"
        );
    }
}
