//! Files a run writes: checked writable before the first step (not found unwritable after the
//! last one), and written atomically (a crash leaves the old file or the new one, never half).

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk and renames it into
/// place; `what` names the contents in messages.
pub fn write_atomically(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("output");
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().with_context(|| format!("cannot write {what} to {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {what} into place at {}", path.display()))?;
    // The rename itself reaches the disk once the folder is synced.
    #[cfg(unix)]
    if let Ok(folder) = std::fs::File::open(dir) {
        folder.sync_all().ok();
    }
    Ok(())
}

/// Fails unless a file can be created at `path`, creating its folder if missing; `what` names
/// the output in the message (a flag, a callback).
pub fn check_writable(path: &Path, what: &str) -> Result<()> {
    if path.is_dir() {
        bail!(
            "{what}: {} is a folder; give the path of a file to write",
            path.display()
        );
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    check_folder_writable(dir.unwrap_or(Path::new(".")), what)
}

/// Fails unless files can be created in `dir`, creating it if missing.
pub fn check_folder_writable(dir: &Path, what: &str) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{what}: cannot create the folder {}", dir.display()))?;
    let probe = dir.join(format!(".wgtrain-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("{what}: files cannot be written in {}", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_path_passes_and_its_folder_is_made() {
        let dir = std::env::temp_dir().join(format!("wgtrain-output-{}", std::process::id()));
        let file = dir.join("deeper/weights.safetensors");
        check_writable(&file, "--save").unwrap();
        assert!(file.parent().unwrap().is_dir());
        assert!(!file.exists(), "the check leaves no file behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("wgtrain-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("history.json");
        write_atomically(&file, b"old", "the history").unwrap();
        write_atomically(&file, b"new", "the history").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_or_an_impossible_place_is_named() {
        let e = check_writable(&std::env::temp_dir(), "--history").unwrap_err();
        assert!(format!("{e:#}").contains("--history"), "{e:#}");
        assert!(format!("{e:#}").contains("is a folder"), "{e:#}");
        let e = check_writable(Path::new("/proc/wgtrain/w.safetensors"), "--save").unwrap_err();
        assert!(
            format!("{e:#}").contains("--save: cannot create the folder /proc/wgtrain"),
            "{e:#}"
        );
    }
}
