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

/// The `.npy` bytes (format 1.0) of an array with the given dtype string,
/// shape and raw little-endian data.
pub fn npy_bytes(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
    npy_with_header(&npy_header(descr, fortran, shape), (1, 0), data)
}

/// The Python-dict header text numpy writes for these fields.
pub fn npy_header(descr: &str, fortran: bool, shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let fortran = if fortran { "True" } else { "False" };
    format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}")
}

/// `.npy` bytes of the given format version around `header`, padded with
/// spaces and a newline to a multiple of 64 bytes as numpy does.
pub fn npy_with_header(header: &str, version: (u8, u8), data: &[u8]) -> Vec<u8> {
    let len_bytes = if version.0 == 1 { 2 } else { 4 };
    let prefix = 8 + len_bytes;
    let mut text = header.to_string();
    while !(prefix + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend_from_slice(&[version.0, version.1]);
    if len_bytes == 2 {
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// A zip archive holding `(name, bytes)` members, stored or deflated.
pub fn zip_bytes(members: &[(&str, &[u8])], deflated: bool) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let method = if deflated {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = SimpleFileOptions::default().compression_method(method);
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A file in tests/fixtures.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// A JSON fixture from tests/fixtures, parsed.
pub fn fixture_json(name: &str) -> serde_json::Value {
    let path = fixture_path(name);
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read fixture {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Decodes a hex string from a fixture.
pub fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// A JSON array of integers as `Vec<i64>`.
pub fn json_i64s(value: &serde_json::Value) -> Vec<i64> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}")))
        .collect()
}

/// The real-data directory for `name` ("mnist" or "imdb"), found as the command line finds
/// it (`wgtrain_data::real_data`); `env_var` must be the dataset's own variable.
pub fn real_data_dir(env_var: &str, name: &str) -> Option<PathBuf> {
    use wgtrain_data::real_data::{real_dataset_dir, RealDataset};
    let which = match name {
        "mnist" => RealDataset::Mnist,
        _ => RealDataset::Imdb,
    };
    assert!(
        env_var.contains(&name.to_uppercase()),
        "{env_var} is not {name}'s variable"
    );
    real_dataset_dir(which)
}
