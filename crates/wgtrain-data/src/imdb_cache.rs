//! Where the IMDB files live: a directory given explicitly, else
//! `$WGTRAIN_DATA_DIR`, else `<cache>/imdb`, into which Keras' `imdb.npz` and
//! `imdb_word_index.json` are downloaded on first use.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::cache::{default_cache_dir, env_path, DATA_DIR_ENV};
use crate::download::{download_checked, http_fetch, Fetch};
use crate::imdb::{imdb_file_in, IMDB_NPZ_FILE, IMDB_SUBDIR, IMDB_WORD_INDEX_FILE};
use crate::npz::Npz;
use crate::word_index::get_word_index;

/// Where missing IMDB files are downloaded from, as `<base>/<name>` (Keras' origin).
pub const IMDB_BASE_URL: &str = "https://storage.googleapis.com/tensorflow/tf-keras-datasets";

/// The arrays an `imdb.npz` must hold.
const IMDB_KEYS: [&str; 4] = ["x_train", "y_train", "x_test", "y_test"];

/// Finds the directory holding `imdb.npz`: `data_dir` if given, else
/// `$WGTRAIN_DATA_DIR` if set — in either, the file may sit directly or in an
/// `imdb/` sub-directory — else `<cache>/imdb`, downloading the files it lacks.
pub fn resolve_imdb_dir(data_dir: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = data_dir {
        return dir_with_npz(dir, "given as `data_dir`");
    }
    if let Some(dir) = env_path(DATA_DIR_ENV) {
        return dir_with_npz(
            &dir,
            &format!("from the {DATA_DIR_ENV} environment variable"),
        );
    }
    let dir = default_cache_dir().join(IMDB_SUBDIR);
    fill_imdb_cache(&dir, IMDB_BASE_URL, &http_fetch)?;
    Ok(dir)
}

/// Downloads into `dir` whichever of `imdb.npz` and `imdb_word_index.json` it
/// lacks, from `<base_url>/<name>`. Failing to get the archive is an error;
/// failing to get only the word index is reported and tolerated, since
/// training does not need it.
pub(crate) fn fill_imdb_cache(dir: &Path, base_url: &str, fetch: Fetch) -> Result<()> {
    let npz = dir.join(IMDB_NPZ_FILE);
    if !npz.is_file() {
        let url = format!("{base_url}/{IMDB_NPZ_FILE}");
        let result = fs::create_dir_all(dir)
            .map_err(anyhow::Error::from)
            .and_then(|()| download_checked(&url, &npz, fetch, &check_npz));
        if let Err(reason) = result {
            bail!(
                "IMDB is not available: no data directory was given (`data_dir`) and \
                 {DATA_DIR_ENV} is not set, so the cache {dir} was used, but it holds no \
                 {IMDB_NPZ_FILE} and downloading {url} failed: {reason:#}. To fix this, pass \
                 a data directory (`data_dir`) pointing at a folder that holds {IMDB_NPZ_FILE} (directly or \
                 in {IMDB_SUBDIR}/), or set {DATA_DIR_ENV}=DIR, or copy the file to {npz}; or \
                 retry once {base_url} is reachable",
                dir = dir.display(),
                npz = npz.display(),
            );
        }
    }
    let words = dir.join(IMDB_WORD_INDEX_FILE);
    if !words.is_file() {
        let url = format!("{base_url}/{IMDB_WORD_INDEX_FILE}");
        let check = |path: &Path| get_word_index(path).map(drop);
        if let Err(reason) = download_checked(&url, &words, fetch, &check) {
            eprintln!(
                "warning: could not download the IMDB word index {url} to {}: {reason:#}; \
                 decoding reviews into words will not work until it is there",
                words.display()
            );
        }
    }
    Ok(())
}

fn check_npz(path: &Path) -> Result<()> {
    let keys = Npz::open(path)?.keys();
    let missing: Vec<&str> = IMDB_KEYS
        .into_iter()
        .filter(|key| !keys.iter().any(|k| k == key))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} is an .npz file but lacks the IMDB arrays {}; it holds: {}",
            path.display(),
            missing.join(", "),
            keys.join(", ")
        );
    }
    Ok(())
}

fn dir_with_npz(dir: &Path, origin: &str) -> Result<PathBuf> {
    if !dir.is_dir() {
        bail!(
            "IMDB data directory {} ({origin}) does not exist or is not a directory; point \
             `data_dir` or {DATA_DIR_ENV} at a folder holding {IMDB_NPZ_FILE} (directly or in \
             {IMDB_SUBDIR}/)",
            dir.display()
        );
    }
    match imdb_file_in(dir, IMDB_NPZ_FILE) {
        Some(npz) => Ok(npz.parent().unwrap_or(dir).to_path_buf()),
        None => bail!(
            "IMDB data directory {} ({origin}) holds neither {IMDB_NPZ_FILE} nor \
             {IMDB_SUBDIR}/{IMDB_NPZ_FILE}; put Keras' {IMDB_NPZ_FILE} (from \
             {IMDB_BASE_URL}/{IMDB_NPZ_FILE}) there, or point at another folder",
            dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use anyhow::bail;
    use zip::write::SimpleFileOptions;
    use zip::ZipWriter;

    use super::*;
    use crate::test_util::TempDir;

    /// A valid `.npz` with the four IMDB keys, each a tiny int64 vector.
    fn tiny_npz() -> Vec<u8> {
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }";
        let header = format!("{header:<117}\n");
        npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
        npy.extend_from_slice(header.as_bytes());
        npy.extend_from_slice(&1i64.to_le_bytes());
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for key in IMDB_KEYS {
            zip.start_file(format!("{key}.npy"), SimpleFileOptions::default())
                .unwrap();
            zip.write_all(&npy).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn offline_cache_explains_where_it_looked_and_the_fix() {
        let tmp = TempDir::new("imdb-offline");
        let dir = tmp.path().join("imdb");
        let offline = |_: &str, _: &mut dyn Write| -> anyhow::Result<()> {
            bail!("dns lookup failed: no network")
        };
        let err = fill_imdb_cache(&dir, "https://example.invalid/data", &offline)
            .expect_err("an offline download must fail");
        let msg = format!("{err:#}");
        for needle in [
            &dir.display().to_string(),
            "https://example.invalid/data/imdb.npz",
            "dns lookup failed: no network",
            "a data directory (`data_dir`)",
            DATA_DIR_ENV,
        ] {
            assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
        }
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
    }

    #[test]
    fn download_fills_the_cache_once() {
        let tmp = TempDir::new("imdb-fill");
        let dir = tmp.path().join("imdb");
        let urls = std::cell::RefCell::new(Vec::new());
        let npz = tiny_npz();
        let serve = |url: &str, out: &mut dyn Write| -> anyhow::Result<()> {
            urls.borrow_mut().push(url.to_string());
            if url.ends_with(".npz") {
                out.write_all(&npz)?;
            } else {
                out.write_all(br#"{"the": 1, "and": 2}"#)?;
            }
            Ok(())
        };
        fill_imdb_cache(&dir, "https://mirror.test/d", &serve).unwrap();
        assert_eq!(
            *urls.borrow(),
            [
                "https://mirror.test/d/imdb.npz",
                "https://mirror.test/d/imdb_word_index.json"
            ]
        );
        assert!(dir.join(IMDB_NPZ_FILE).is_file());
        assert_eq!(get_word_index(&dir).unwrap()["and"], 2);
        urls.borrow_mut().clear();
        fill_imdb_cache(&dir, "https://mirror.test/d", &serve).unwrap();
        assert!(urls.borrow().is_empty(), "a full cache must not download");
    }

    #[test]
    fn a_download_that_is_not_npz_is_rejected() {
        let tmp = TempDir::new("imdb-garbage");
        let dir = tmp.path().join("imdb");
        let serve_html = |_: &str, out: &mut dyn Write| -> anyhow::Result<()> {
            out.write_all(b"<html>captive portal</html>")?;
            Ok(())
        };
        let msg = format!(
            "{:#}",
            fill_imdb_cache(&dir, "https://mirror.test/d", &serve_html).unwrap_err()
        );
        assert!(msg.contains("not a valid .npz"), "{msg}");
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert!(leftovers.is_empty(), "rejected files left: {leftovers:?}");
    }

    #[test]
    fn explicit_dir_may_hold_the_file_directly_or_in_imdb() {
        let tmp = TempDir::new("imdb-explicit");
        let msg = format!("{:#}", resolve_imdb_dir(Some(tmp.path())).unwrap_err());
        assert!(
            msg.contains("holds neither imdb.npz nor imdb/imdb.npz"),
            "{msg}"
        );

        fs::create_dir_all(tmp.path().join("imdb")).unwrap();
        fs::write(tmp.path().join("imdb").join(IMDB_NPZ_FILE), tiny_npz()).unwrap();
        assert_eq!(
            resolve_imdb_dir(Some(tmp.path())).unwrap(),
            tmp.path().join("imdb")
        );
        fs::write(tmp.path().join(IMDB_NPZ_FILE), tiny_npz()).unwrap();
        assert_eq!(resolve_imdb_dir(Some(tmp.path())).unwrap(), tmp.path());

        let absent = tmp.path().join("no-such-dir");
        let msg = format!("{:#}", resolve_imdb_dir(Some(&absent)).unwrap_err());
        assert!(msg.contains(&absent.display().to_string()), "{msg}");
        assert!(msg.contains("does not exist"), "{msg}");
    }
}
