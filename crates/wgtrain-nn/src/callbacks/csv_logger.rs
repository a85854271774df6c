//! `CSVLogger`: one line per epoch with the epoch's logs, written as the epoch ends.

use super::template::python_repr;
use crate::callback::{Callback, CallbackState, Control, Logs};
use anyhow::{Context, Result};
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Like `keras.callbacks.CSVLogger`: columns `epoch` (from 0) and the log names in sorted order
/// (with `val_` twins added when the first epoch has no validation entries), values as Python
/// writes them, `NA` for a missing one; each line is flushed as it is written.
pub struct CsvLogger {
    path: PathBuf,
    separator: char,
    append: bool,
    file: Option<File>,
    keys: Option<Vec<String>>,
    write_header: bool,
    /// The file's length when this run opened it, and what the run has written since.
    start_len: u64,
    written: String,
}

impl CsvLogger {
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            separator: ',',
            append: false,
            file: None,
            keys: None,
            write_header: true,
            start_len: 0,
            written: String::new(),
        }
    }
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }
    /// Add to an existing file instead of replacing it (a header only if it is empty).
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, _: &mut Control) -> Result<()> {
        let mut open = OpenOptions::new();
        if self.append {
            self.write_header = match File::open(&self.path) {
                Ok(f) => BufReader::new(f).lines().next().is_none(),
                Err(_) => true,
            };
            open.create(true).append(true);
        } else {
            self.write_header = true;
            open.create(true).write(true).truncate(true);
        }
        let file = open
            .open(&self.path)
            .with_context(|| format!("cannot write the CSV log {}", self.path.display()))?;
        self.start_len = file.metadata().map_or(0, |m| m.len());
        self.file = Some(file);
        self.keys = None;
        self.written.clear();
        Ok(())
    }

    fn state(&self) -> CallbackState {
        CallbackState {
            values: json!({
                "start_len": self.start_len,
                "written": self.written,
                "keys": self.keys,
                "write_header": self.write_header,
            }),
            tensors: Vec::new(),
        }
    }

    /// Puts the file back as the backup saw it: what the run wrote after its start, and
    /// nothing a killed run wrote later.
    fn restore_state(&mut self, state: CallbackState) -> Result<()> {
        let v = &state.values;
        self.start_len = v["start_len"].as_u64().unwrap_or(0);
        self.written = v["written"].as_str().unwrap_or_default().to_string();
        self.keys = serde_json::from_value(v["keys"].clone())?;
        self.write_header = v["write_header"].as_bool().unwrap_or(true);
        let file = self.file.as_mut().context("the CSV log was not opened")?;
        file.set_len(self.start_len)
            .and_then(|_| file.write_all(self.written.as_bytes()))
            .and_then(|_| file.flush())
            .with_context(|| format!("cannot write the CSV log {}", self.path.display()))
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _: &mut Control) -> Result<()> {
        let keys = self.keys.get_or_insert_with(|| {
            let mut keys: Vec<String> = logs.iter().map(|(k, _)| k.clone()).collect();
            keys.sort();
            if !keys.is_empty() && !keys.iter().any(|k| k.starts_with("val_")) {
                let twins: Vec<String> = keys.iter().map(|k| format!("val_{k}")).collect();
                keys.extend(twins);
            }
            keys
        });
        let sep = self.separator.to_string();
        let mut text = String::new();
        if self.write_header {
            let header: Vec<&str> = std::iter::once("epoch")
                .chain(keys.iter().map(|k| k.as_str()))
                .collect();
            text.push_str(&header.join(&sep));
            text.push_str("\r\n");
            self.write_header = false;
        }
        let values = keys.iter().map(|k| {
            logs.iter()
                .find(|(name, _)| name == k)
                .map_or("NA".to_string(), |(_, v)| python_repr(*v as f64))
        });
        let row: Vec<String> = std::iter::once(epoch.to_string()).chain(values).collect();
        text.push_str(&row.join(&sep));
        text.push_str("\r\n");
        self.written.push_str(&text);
        let file = self.file.as_mut().context("the CSV log was not opened")?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.flush())
            .with_context(|| format!("cannot write the CSV log {}", self.path.display()))
    }

    fn on_train_end(&mut self, _: &Logs, _: &mut Control) -> Result<()> {
        self.file = None;
        Ok(())
    }
}
