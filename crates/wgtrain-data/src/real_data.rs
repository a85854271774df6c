//! Where tests and benchmarks find the real datasets, the way the command line does:
//! `$WGTRAIN_MNIST_DIR` / `$WGTRAIN_IMDB_DIR`, then `../shared/datasets/{mnist,imdb}` beside the
//! checkout, then the command line's own route (`$WGTRAIN_DATA_DIR`, the cache under
//! `~/.cache/wgtrain`, the downloader when online). Not found, a test fails under `CI=true`;
//! elsewhere it is left out, and says so on the terminal even while the test harness captures
//! its output, naming the test and what to set.

use crate::cache::resolve_mnist_dir;
use crate::imdb_cache::resolve_imdb_dir;
use crate::mnist::missing_mnist_files;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealDataset {
    Mnist,
    Imdb,
}

impl RealDataset {
    fn name(self) -> &'static str {
        match self {
            RealDataset::Mnist => "mnist",
            RealDataset::Imdb => "imdb",
        }
    }

    fn env_var(self) -> &'static str {
        match self {
            RealDataset::Mnist => "WGTRAIN_MNIST_DIR",
            RealDataset::Imdb => "WGTRAIN_IMDB_DIR",
        }
    }

    fn holds_it(self, dir: &Path) -> bool {
        match self {
            RealDataset::Mnist => dir.is_dir() && missing_mnist_files(dir).is_empty(),
            RealDataset::Imdb => dir.join("imdb.npz").is_file(),
        }
    }
}

/// The folder holding `which`, or `None` after saying which test did not run and why.
/// Under `CI=true` a dataset that cannot be found panics instead.
pub fn real_dataset_dir(which: RealDataset) -> Option<PathBuf> {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets")
        .join(which.name());
    let named = std::env::var_os(which.env_var())
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    let looked: Vec<PathBuf> = named.iter().cloned().chain([beside]).collect();
    if let Some(dir) = looked.iter().find(|d| which.holds_it(d)) {
        return Some(dir.clone());
    }
    let fallback = match which {
        RealDataset::Mnist => resolve_mnist_dir(None),
        RealDataset::Imdb => resolve_imdb_dir(None),
    };
    let reason = match fallback {
        Ok(dir) if which.holds_it(&dir) => return Some(dir),
        Ok(dir) => format!("{} does not hold it", dir.display()),
        Err(e) => format!("{e:#}"),
    };
    let shown: Vec<String> = looked.iter().map(|d| d.display().to_string()).collect();
    let note = format!(
        "real {} data not found in {}, nor through the cache or a download ({reason}); set {} \
         to a folder holding it",
        which.name(),
        shown.join(" or "),
        which.env_var()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{note} (required when CI=true)");
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    // Written to the terminal itself: the harness captures only the print macros.
    let _ = writeln!(std::io::stderr(), "\nNOT RUN: {test}: {note}");
    None
}
