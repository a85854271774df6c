//! Reader for numpy's `.npz` archives: a zip file (stored or deflated) whose
//! members are `.npy` files, one per array, named `<key>.npy`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use zip::ZipArchive;

use crate::npy::{parse_npy, NpyArray};

/// Members larger than this are refused, so a corrupt size field cannot make
/// the reader try to allocate without bound.
const MAX_MEMBER_BYTES: u64 = 1 << 34;

/// An open `.npz` archive; arrays are read on demand with [`Npz::array`].
pub struct Npz {
    path: PathBuf,
    archive: ZipArchive<BufReader<File>>,
}

impl Npz {
    /// Opens an `.npz` file and reads its table of contents.
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            File::open(path).with_context(|| format!("cannot open npz file {}", path.display()))?;
        let archive = ZipArchive::new(BufReader::new(file)).with_context(|| {
            format!(
                "{} is not a valid .npz file (a zip archive of .npy files); it is corrupt, \
                 incomplete or of another format",
                path.display()
            )
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            archive,
        })
    }

    /// The path this archive was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The array names, in archive order: member names without their `.npy`
    /// suffix, as numpy's `NpzFile.files` lists them.
    pub fn keys(&self) -> Vec<String> {
        self.archive
            .file_names()
            .filter_map(|name| name.ok())
            .map(|name| name.strip_suffix(".npy").unwrap_or(&name).to_string())
            .collect()
    }

    /// Reads the array named `key` (with or without its `.npy` suffix).
    pub fn array(&mut self, key: &str) -> Result<NpyArray> {
        let shown = self.path.display().to_string();
        let candidates = [format!("{key}.npy"), key.to_string()];
        let Some(member) = candidates
            .into_iter()
            .find(|name| self.archive.index_for_name(name).is_some())
        else {
            bail!(
                "{shown} has no array {key:?}; it holds: {}",
                self.keys().join(", ")
            );
        };
        let source = format!("{shown}:{member}");
        let mut entry = self
            .archive
            .by_name(&member)
            .with_context(|| format!("cannot open {source} inside the archive"))?;
        let size = entry.size();
        if size > MAX_MEMBER_BYTES {
            bail!("{source} claims to be {size} bytes uncompressed, which is implausibly large");
        }
        // The claim sizes the buffer only up to what a real member's data could justify; a
        // corrupt header claiming gigabytes gets a small buffer and fails on reading.
        let plausible = size
            .min(entry.compressed_size().saturating_mul(1032))
            .min(1 << 26);
        let mut bytes = Vec::with_capacity(plausible as usize);
        entry.read_to_end(&mut bytes).with_context(|| {
            format!("cannot decompress {source}; the archive is corrupt or incomplete")
        })?;
        drop(entry);
        parse_npy(&bytes, &source)
    }
}
