mod common;

use std::fs;

use common::{assert_mentions, gzip, idx_bytes, TempDir};
use wgtrain_data::idx::{read_idx, IdxArray};

fn sample() -> (Vec<u32>, Vec<u8>) {
    (vec![2, 3, 4], (0..24).collect())
}

fn expected() -> IdxArray {
    IdxArray {
        dims: vec![2, 3, 4],
        data: (0..24).collect(),
    }
}

#[test]
fn raw_round_trip() {
    let tmp = TempDir::new("idx-raw");
    let (dims, data) = sample();
    let path = tmp.join("sample-idx3-ubyte");
    fs::write(&path, idx_bytes(&dims, &data)).unwrap();
    assert_eq!(read_idx(&path).unwrap(), expected());
}

#[test]
fn gzip_round_trip() {
    let tmp = TempDir::new("idx-gz");
    let (dims, data) = sample();
    let path = tmp.join("sample-idx3-ubyte.gz");
    fs::write(&path, gzip(&idx_bytes(&dims, &data))).unwrap();
    assert_eq!(read_idx(&path).unwrap(), expected());
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let tmp = TempDir::new("idx-sniff");
    let (dims, data) = sample();
    let gz_without_suffix = tmp.join("compressed-idx3-ubyte");
    fs::write(&gz_without_suffix, gzip(&idx_bytes(&dims, &data))).unwrap();
    assert_eq!(read_idx(&gz_without_suffix).unwrap(), expected());

    let raw_with_suffix = tmp.join("raw-idx3-ubyte.gz");
    fs::write(&raw_with_suffix, idx_bytes(&dims, &data)).unwrap();
    assert_eq!(read_idx(&raw_with_suffix).unwrap(), expected());
}

#[test]
fn labels_file_is_one_dimensional() {
    let tmp = TempDir::new("idx-1d");
    let path = tmp.join("labels-idx1-ubyte");
    fs::write(&path, [0, 0, 8, 1, 0, 0, 0, 3, 5, 0, 4]).unwrap();
    let labels = read_idx(&path).unwrap();
    assert_eq!(labels.dims, vec![3]);
    assert_eq!(labels.data, vec![5, 0, 4]);
}

#[test]
fn empty_tensor_is_valid() {
    let tmp = TempDir::new("idx-empty");
    let path = tmp.join("empty-idx3-ubyte");
    fs::write(&path, idx_bytes(&[0, 28, 28], &[])).unwrap();
    let empty = read_idx(&path).unwrap();
    assert_eq!(empty.dims, vec![0, 28, 28]);
    assert!(empty.data.is_empty());
}

#[test]
fn missing_file_names_the_path() {
    let tmp = TempDir::new("idx-missing");
    let path = tmp.join("absent-idx1-ubyte");
    let err = read_idx(&path).unwrap_err();
    assert_mentions(&err, &[&path.display().to_string(), "cannot read"]);
}

#[test]
fn truncated_data_reports_expected_and_actual_bytes() {
    let tmp = TempDir::new("idx-short");
    let (dims, data) = sample();
    let path = tmp.join("short-idx3-ubyte");
    fs::write(&path, idx_bytes(&dims, &data[..10])).unwrap();
    let err = read_idx(&path).unwrap_err();
    assert_mentions(
        &err,
        &[
            &path.display().to_string(),
            "truncated",
            "need 24",
            "only 10",
        ],
    );
}

#[test]
fn truncated_gzipped_data_is_reported_as_truncated() {
    let tmp = TempDir::new("idx-short-gz");
    let (dims, data) = sample();
    let path = tmp.join("short-idx3-ubyte.gz");
    fs::write(&path, gzip(&idx_bytes(&dims, &data[..23]))).unwrap();
    let err = read_idx(&path).unwrap_err();
    assert_mentions(
        &err,
        &[
            &path.display().to_string(),
            "truncated",
            "need 24",
            "only 23",
        ],
    );
}

#[test]
fn truncated_header_is_reported() {
    let tmp = TempDir::new("idx-header");
    let path = tmp.join("header-idx3-ubyte");
    // Declares 3 dimensions but holds only one and a half of them.
    fs::write(&path, [0, 0, 8, 3, 0, 0, 0, 2, 0, 0]).unwrap();
    let err = read_idx(&path).unwrap_err();
    assert_mentions(
        &err,
        &[
            &path.display().to_string(),
            "truncated header",
            "16 header bytes",
            "only 10",
        ],
    );

    fs::write(&path, [0, 0]).unwrap();
    let err = read_idx(&path).unwrap_err();
    assert_mentions(&err, &[&path.display().to_string(), "truncated", "2 bytes"]);
}

#[test]
fn bad_magic_is_reported() {
    let tmp = TempDir::new("idx-magic");
    let path = tmp.join("archive.zip");
    fs::write(&path, b"PK\x03\x04 not an idx file").unwrap();
    let err = read_idx(&path).unwrap_err();
    assert_mentions(
        &err,
        &[
            &path.display().to_string(),
            "not an IDX file",
            "50 4b 03 04",
        ],
    );
}

#[test]
fn non_u8_element_type_is_reported() {
    let tmp = TempDir::new("idx-f32");
    let path = tmp.join("floats-idx1-ubyte");
    fs::write(&path, [0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 128, 63]).unwrap();
    let err = read_idx(&path).unwrap_err();
    assert_mentions(&err, &[&path.display().to_string(), "f32", "only u8"]);
}

#[test]
fn trailing_garbage_is_reported() {
    let tmp = TempDir::new("idx-trailing");
    let (dims, mut data) = sample();
    data.extend_from_slice(b"junk");
    let path = tmp.join("long-idx3-ubyte");
    fs::write(&path, idx_bytes(&dims, &data)).unwrap();
    let err = read_idx(&path).unwrap_err();
    assert_mentions(
        &err,
        &[
            &path.display().to_string(),
            "4 bytes of trailing garbage",
            "need 24",
            "28 follow",
        ],
    );
}

#[test]
fn corrupt_gzip_is_reported() {
    let tmp = TempDir::new("idx-corrupt-gz");
    let (dims, data) = sample();
    let valid = gzip(&idx_bytes(&dims, &data));

    let garbled = tmp.join("garbled-idx3-ubyte.gz");
    let mut bytes = valid.clone();
    for byte in &mut bytes[10..] {
        *byte ^= 0x5a;
    }
    fs::write(&garbled, bytes).unwrap();
    let err = read_idx(&garbled).unwrap_err();
    assert_mentions(&err, &[&garbled.display().to_string(), "gzip", "corrupt"]);

    let cut = tmp.join("cut-idx3-ubyte.gz");
    fs::write(&cut, &valid[..valid.len() / 2]).unwrap();
    let err = read_idx(&cut).unwrap_err();
    assert_mentions(&err, &[&cut.display().to_string(), "gzip", "incomplete"]);
}
