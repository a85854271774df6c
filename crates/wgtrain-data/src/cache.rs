//! Where datasets live on disk, and fetching MNIST into the cache on first use.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::download::{download_verified, http_fetch, Fetch};
use crate::mnist::{missing_mnist_files, MNIST_FILES};

/// Environment variable that overrides [`default_cache_dir`].
pub const CACHE_DIR_ENV: &str = "WGTRAIN_CACHE_DIR";
/// Environment variable naming a directory that already holds the MNIST files.
pub const DATA_DIR_ENV: &str = "WGTRAIN_DATA_DIR";
/// Where missing MNIST files are downloaded from, as `<base>/<name>.gz`.
pub const MNIST_BASE_URL: &str = "https://storage.googleapis.com/cvdf-datasets/mnist";

/// The wgtrain cache directory: `$WGTRAIN_CACHE_DIR` if set, else
/// `$XDG_CACHE_HOME/wgtrain`, else `~/.cache/wgtrain`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = env_path(CACHE_DIR_ENV) {
        return dir;
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(xdg) = env_path("XDG_CACHE_HOME").filter(|dir| dir.is_absolute()) {
        return xdg.join("wgtrain");
    }
    let home = env_path("HOME")
        .or_else(|| env_path("USERPROFILE"))
        .unwrap_or_else(env::temp_dir);
    home.join(".cache").join("wgtrain")
}

/// Finds the directory holding MNIST: `data_dir` if given, else
/// `$WGTRAIN_DATA_DIR` if set, else `<cache>/mnist`, downloading any missing
/// files into it.
pub fn resolve_mnist_dir(data_dir: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = data_dir {
        return existing_dir(dir, "given as `data_dir`");
    }
    if let Some(dir) = env_path(DATA_DIR_ENV) {
        return existing_dir(
            &dir,
            &format!("from the {DATA_DIR_ENV} environment variable"),
        );
    }
    let dir = default_cache_dir().join("mnist");
    fill_mnist_cache(&dir, MNIST_BASE_URL, &http_fetch)?;
    Ok(dir)
}

/// Downloads into `dir` every MNIST file it lacks, each from `<base_url>/<name>.gz`.
pub(crate) fn fill_mnist_cache(dir: &Path, base_url: &str, fetch: Fetch) -> Result<()> {
    let missing = missing_mnist_files(dir);
    if missing.is_empty() {
        return Ok(());
    }
    let result = fs::create_dir_all(dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            missing.iter().try_for_each(|name| {
                let url = format!("{base_url}/{name}.gz");
                download_verified(&url, &dir.join(format!("{name}.gz")), fetch)
            })
        });
    if let Err(reason) = result {
        bail!(
            "MNIST files are absent from {dir} (missing: {missing}) and downloading them \
             failed: {reason:#}. To fix this, pass a data directory (`data_dir`) pointing at a folder with \
             the four MNIST files ({all}, each raw or .gz), or set {DATA_DIR_ENV}=DIR; or \
             retry once {base_url} is reachable",
            dir = dir.display(),
            missing = missing.join(", "),
            all = MNIST_FILES.join(", "),
        );
    }
    Ok(())
}

fn existing_dir(dir: &Path, origin: &str) -> Result<PathBuf> {
    if !dir.is_dir() {
        bail!(
            "MNIST data directory {} ({origin}) does not exist or is not a directory; point \
             `data_dir` or {DATA_DIR_ENV} at a folder holding the four MNIST files ({})",
            dir.display(),
            MNIST_FILES.join(", ")
        );
    }
    Ok(dir.to_path_buf())
}

pub(crate) fn env_path(var: &str) -> Option<PathBuf> {
    env::var_os(var)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use anyhow::bail;

    use super::*;
    use crate::test_util::TempDir;

    const TINY_LABELS: [u8; 9] = [0, 0, 8, 1, 0, 0, 0, 1, 7];

    #[test]
    fn failed_download_explains_the_fix() {
        let tmp = TempDir::new("cache-offline");
        let dir = tmp.path().join("mnist");
        let offline = |_: &str, _: &mut dyn Write| -> anyhow::Result<()> {
            bail!("dns lookup failed: no network")
        };
        let err = fill_mnist_cache(&dir, "https://example.invalid/mnist", &offline)
            .expect_err("an offline download must fail");
        let msg = format!("{err:#}");
        for needle in [
            &format!("absent from {}", dir.display()),
            "dns lookup failed: no network",
            "a data directory (`data_dir`)",
            DATA_DIR_ENV,
            "train-images-idx3-ubyte",
        ] {
            assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
        }
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
    }

    #[test]
    fn download_fills_cache_with_verified_files() {
        let tmp = TempDir::new("cache-fill");
        let dir = tmp.path().join("mnist");
        let urls = std::cell::RefCell::new(Vec::new());
        let serve = |url: &str, out: &mut dyn Write| -> anyhow::Result<()> {
            urls.borrow_mut().push(url.to_string());
            out.write_all(&TINY_LABELS)?;
            Ok(())
        };
        fill_mnist_cache(&dir, "https://mirror.test/mnist", &serve).unwrap();
        let expected: Vec<String> = MNIST_FILES
            .iter()
            .map(|name| format!("https://mirror.test/mnist/{name}.gz"))
            .collect();
        assert_eq!(*urls.borrow(), expected);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut wanted: Vec<String> = MNIST_FILES.iter().map(|n| format!("{n}.gz")).collect();
        wanted.sort();
        assert_eq!(names, wanted, "only the four final files may remain");

        urls.borrow_mut().clear();
        fill_mnist_cache(&dir, "https://mirror.test/mnist", &serve).unwrap();
        assert!(urls.borrow().is_empty(), "a full cache must not download");
    }

    #[test]
    fn invalid_download_is_rejected_and_removed() {
        let tmp = TempDir::new("cache-garbage");
        let dir = tmp.path().join("mnist");
        let serve_html = |_: &str, out: &mut dyn Write| -> anyhow::Result<()> {
            out.write_all(b"<html>captive portal</html>")?;
            Ok(())
        };
        let err = fill_mnist_cache(&dir, "https://mirror.test/mnist", &serve_html)
            .expect_err("a non-IDX download must be rejected");
        let msg = format!("{err:#}");
        assert!(msg.contains("not an IDX file"), "unexpected message: {msg}");
        assert!(
            msg.contains("https://mirror.test/mnist/"),
            "no URL in: {msg}"
        );
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert!(leftovers.is_empty(), "rejected files left: {leftovers:?}");
    }

    #[test]
    fn explicit_data_dir_must_exist() {
        let tmp = TempDir::new("cache-explicit");
        assert_eq!(resolve_mnist_dir(Some(tmp.path())).unwrap(), tmp.path());

        let absent = tmp.path().join("no-such-dir");
        let msg = format!("{:#}", resolve_mnist_dir(Some(&absent)).unwrap_err());
        assert!(msg.contains(&absent.display().to_string()), "{msg}");
        assert!(msg.contains("does not exist"), "{msg}");
    }
}
