mod common;

use std::fs;

use common::{assert_mentions, idx_bytes, write_split, write_tiny_mnist, TempDir};
use wgtrain_data::{load_mnist, one_hot, MNIST_FILES};

#[test]
fn loads_mixed_gzip_and_raw_files() {
    let tmp = TempDir::new("mnist-mixed");
    write_tiny_mnist(tmp.path());
    let mnist = load_mnist(tmp.path()).unwrap();
    assert_eq!(mnist.n_train(), 3);
    assert_eq!(mnist.n_test(), 2);
    assert_eq!(mnist.train_labels, vec![5, 0, 9]);
    assert_eq!(mnist.test_labels, vec![7, 2]);
    assert_eq!(mnist.train_images.len(), 3 * 784);
    assert_eq!(mnist.test_images.len(), 2 * 784);
    let pixels = common::image_pixels(3);
    for (scaled, raw) in mnist.train_images.iter().zip(&pixels) {
        assert_eq!(*scaled, f32::from(*raw) / 255.0);
    }
    assert!(mnist.train_images.contains(&1.0), "255 must map to 1.0");
    assert!(mnist.train_images.contains(&0.0), "0 must map to 0.0");
}

#[test]
fn accepts_dotted_idx_spelling() {
    let tmp = TempDir::new("mnist-dotted");
    write_split(
        tmp.path(),
        "train-images.idx3-ubyte",
        "train-labels.idx1-ubyte.gz",
        &[1, 2],
        false,
    );
    write_split(
        tmp.path(),
        "t10k-images.idx3-ubyte.gz",
        "t10k-labels.idx1-ubyte",
        &[3],
        true,
    );
    let mnist = load_mnist(tmp.path()).unwrap();
    assert_eq!(mnist.train_labels, vec![1, 2]);
    assert_eq!(mnist.test_labels, vec![3]);
}

#[test]
fn missing_directory_suggests_data_dir() {
    let tmp = TempDir::new("mnist-nodir");
    let dir = tmp.join("nowhere");
    let err = load_mnist(&dir).unwrap_err();
    assert_mentions(
        &err,
        &[
            &dir.display().to_string(),
            "does not exist",
            "data directory",
            "WGTRAIN_DATA_DIR",
        ],
    );
}

#[test]
fn missing_file_names_what_is_expected() {
    let tmp = TempDir::new("mnist-nofile");
    write_tiny_mnist(tmp.path());
    fs::remove_file(tmp.join("t10k-labels-idx1-ubyte")).unwrap();
    let err = load_mnist(tmp.path()).unwrap_err();
    assert_mentions(
        &err,
        &[
            &tmp.path().display().to_string(),
            "lacks 1 of the 4",
            "t10k-labels-idx1-ubyte.gz or t10k-labels-idx1-ubyte",
        ],
    );
    let msg = format!("{err:#}");
    assert!(
        !msg.contains("train-images"),
        "only the missing file should be listed: {msg}"
    );
}

#[test]
fn empty_directory_lists_all_four_files() {
    let tmp = TempDir::new("mnist-empty");
    let err = load_mnist(tmp.path()).unwrap_err();
    let mut needles = vec!["lacks 4 of the 4"];
    needles.extend(MNIST_FILES);
    assert_mentions(&err, &needles);
}

#[test]
fn image_label_count_mismatch_names_both_files_and_counts() {
    let tmp = TempDir::new("mnist-mismatch");
    write_tiny_mnist(tmp.path());
    let labels_path = tmp.join("train-labels-idx1-ubyte.gz");
    fs::write(&labels_path, common::gzip(&idx_bytes(&[2], &[5, 0]))).unwrap();
    let err = load_mnist(tmp.path()).unwrap_err();
    assert_mentions(
        &err,
        &[
            &tmp.join("train-images-idx3-ubyte.gz").display().to_string(),
            &labels_path.display().to_string(),
            "3 images",
            "2 labels",
        ],
    );
}

#[test]
fn wrong_image_shape_is_reported() {
    let tmp = TempDir::new("mnist-shape");
    write_tiny_mnist(tmp.path());
    let images_path = tmp.join("t10k-images-idx3-ubyte");
    fs::write(&images_path, idx_bytes(&[2, 32, 32], &vec![0; 2 * 32 * 32])).unwrap();
    let err = load_mnist(tmp.path()).unwrap_err();
    assert_mentions(
        &err,
        &[
            &images_path.display().to_string(),
            "[count, 28, 28]",
            "[2, 32, 32]",
        ],
    );
}

#[test]
fn labels_must_be_one_dimensional() {
    let tmp = TempDir::new("mnist-label-dims");
    write_tiny_mnist(tmp.path());
    let labels_path = tmp.join("t10k-labels-idx1-ubyte");
    fs::write(&labels_path, idx_bytes(&[2, 1], &[7, 2])).unwrap();
    let err = load_mnist(tmp.path()).unwrap_err();
    assert_mentions(
        &err,
        &[&labels_path.display().to_string(), "[count]", "[2, 1]"],
    );
}

#[test]
fn out_of_range_label_is_reported() {
    let tmp = TempDir::new("mnist-label-range");
    write_tiny_mnist(tmp.path());
    let labels_path = tmp.join("t10k-labels-idx1-ubyte");
    fs::write(&labels_path, idx_bytes(&[2], &[7, 12])).unwrap();
    let err = load_mnist(tmp.path()).unwrap_err();
    assert_mentions(
        &err,
        &[
            &labels_path.display().to_string(),
            "label 12 at index 1",
            "0-9",
        ],
    );
}

#[test]
fn one_hot_encodes_loaded_labels() {
    let tmp = TempDir::new("mnist-one-hot");
    write_tiny_mnist(tmp.path());
    let mnist = load_mnist(tmp.path()).unwrap();
    let encoded = one_hot(&mnist.train_labels, 10);
    assert_eq!(encoded.len(), 30);
    for (row, &label) in encoded.chunks(10).zip(&mnist.train_labels) {
        assert_eq!(row.iter().sum::<f32>(), 1.0);
        assert_eq!(row[usize::from(label)], 1.0);
    }
}
