//! Fetching a file over HTTP into place atomically, after checking that it
//! parses (as IDX for MNIST, or as the caller's check says).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::idx::read_idx;

/// Writes the body found at a URL into the given writer.
pub(crate) type Fetch<'a> = &'a dyn Fn(&str, &mut dyn Write) -> Result<()>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Checks that a downloaded file is usable before it is moved into place.
pub(crate) type Check<'a> = &'a dyn Fn(&Path) -> Result<()>;

/// Downloads `url` to `dest` via a temporary file in the same directory, so
/// `dest` only ever appears complete and readable by [`read_idx`].
pub(crate) fn download_verified(url: &str, dest: &Path, fetch: Fetch) -> Result<()> {
    download_checked(url, dest, fetch, &|path| read_idx(path).map(drop))
}

/// Downloads `url` to `dest` via a temporary file in the same directory, so
/// `dest` only ever appears complete and accepted by `check`.
pub(crate) fn download_checked(url: &str, dest: &Path, fetch: Fetch, check: Check) -> Result<()> {
    let file_name = dest.file_name().unwrap_or_default().to_string_lossy();
    let partial = dest.with_file_name(format!(".{file_name}.{}.part", process::id()));
    let result = fetch_to_file(url, &partial, fetch)
        .and_then(|()| {
            check(&partial).with_context(|| format!("downloaded {url}, but it is not valid"))
        })
        .and_then(|()| {
            fs::rename(&partial, dest)
                .with_context(|| format!("cannot move {} to {}", partial.display(), dest.display()))
        });
    if result.is_err() {
        // Best effort: the original error matters more than a failed cleanup.
        let _ = fs::remove_file(&partial);
    }
    result
}

fn fetch_to_file(url: &str, path: &Path, fetch: Fetch) -> Result<()> {
    let file = File::create(path)
        .with_context(|| format!("cannot create download file {}", path.display()))?;
    let mut out = BufWriter::new(file);
    fetch(url, &mut out)?;
    let file = out
        .into_inner()
        .map_err(|err| err.into_error())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// [`Fetch`] over HTTP(S).
pub(crate) fn http_fetch(url: &str, out: &mut dyn Write) -> Result<()> {
    eprintln!("Downloading {url}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    std::io::copy(&mut response.body_mut().as_reader(), out)
        .with_context(|| format!("reading the body of {url}"))?;
    Ok(())
}
