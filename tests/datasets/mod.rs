//! Where the tests find the real datasets: `$WGTRAIN_MNIST_DIR` / `$WGTRAIN_IMDB_DIR`, else
//! `../shared/datasets/{mnist,imdb}` beside the checkout. A missing dataset leaves the test out
//! with a note, except under `CI=true`, where it fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn mnist_dir() -> Option<PathBuf> {
    find("WGTRAIN_MNIST_DIR", "mnist", |d| d.is_dir())
}

pub fn imdb_dir() -> Option<PathBuf> {
    find("WGTRAIN_IMDB_DIR", "imdb", |d| d.join("imdb.npz").is_file())
}

fn find(var: &str, name: &str, present: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let dir = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/datasets")
            .join(name)
    });
    if present(&dir) {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "real {name} data is required under CI but {} is missing; set {var}",
        dir.display()
    );
    eprintln!("note: {} is missing; this test did not run", dir.display());
    None
}
