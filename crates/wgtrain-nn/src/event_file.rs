//! TensorBoard event files, written from the documented format: a sequence of TFRecords
//! (little-endian u64 length, masked CRC-32C of the length, the bytes, masked CRC-32C of the
//! bytes), each an `Event` protocol buffer (`tensorflow/core/util/event.proto`): first one
//! holding `file_version`, then events with a step and a `Summary` of scalar or text values.
//! Each record is flushed as it is written, so TensorBoard sees a run as it goes.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// CRC-32C (Castagnoli), reflected, as TFRecord frames use it.
fn crc32c(bytes: &[u8]) -> u32 {
    const POLY: u32 = 0x82F6_3B78;
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c(bytes);
    (crc.rotate_right(15)).wrapping_add(0xA282_EAD8)
}

/// Protocol buffer fields, written by hand (the few the event format needs).
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u32) {
        self.varint(((field << 3) | wire) as u64);
    }
    fn uint(mut self, field: u32, v: u64) -> Self {
        self.key(field, 0);
        self.varint(v);
        self
    }
    fn double(mut self, field: u32, v: f64) -> Self {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn float(mut self, field: u32, v: f32) -> Self {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(mut self, field: u32, v: &[u8]) -> Self {
        self.key(field, 2);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }
    fn message(self, field: u32, m: Message) -> Self {
        self.bytes(field, &m.0)
    }
}

/// `Summary.Value` with a scalar: tag (1), simple_value (2).
fn scalar_value(tag: &str, value: f32) -> Message {
    Message::default().bytes(1, tag.as_bytes()).float(2, value)
}

/// `Summary.Value` with a string tensor for the text plugin: tag (1), tensor (8: dtype
/// DT_STRING = 7, an empty shape, string_val (8)), metadata (9: plugin_data (1): plugin_name
/// (1) "text").
fn text_value(tag: &str, text: &str) -> Message {
    let tensor = Message::default()
        .uint(1, 7)
        .message(2, Message::default())
        .bytes(8, text.as_bytes());
    let plugin = Message::default().bytes(1, b"text");
    Message::default()
        .bytes(1, tag.as_bytes())
        .message(9, Message::default().message(1, plugin))
        .message(8, tensor)
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One event file in a log folder.
pub struct EventFile {
    file: File,
    path: PathBuf,
}

impl EventFile {
    /// Creates `dir` if needed and a new `events.out.tfevents.<seconds>.<host>.wgtrain` file
    /// in it, holding the file-version event.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| {
            format!("cannot create the TensorBoard log folder {}", dir.display())
        })?;
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let name = format!(
            "events.out.tfevents.{}.{host}.{}.wgtrain",
            wall_time() as u64,
            std::process::id()
        );
        let path = dir.join(name);
        let file = File::create(&path)
            .with_context(|| format!("cannot write the TensorBoard log {}", path.display()))?;
        let mut out = Self { file, path };
        let version = Message::default()
            .double(1, wall_time())
            .bytes(3, b"brain.Event:2");
        out.record(&version.0)?;
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        let mut frame = Vec::with_capacity(data.len() + 16);
        frame.extend_from_slice(&len);
        frame.extend_from_slice(&masked_crc(&len).to_le_bytes());
        frame.extend_from_slice(data);
        frame.extend_from_slice(&masked_crc(data).to_le_bytes());
        self.file
            .write_all(&frame)
            .and_then(|_| self.file.flush())
            .with_context(|| format!("cannot write the TensorBoard log {}", self.path.display()))
    }

    fn event(&mut self, step: u64, summary: Message) -> Result<()> {
        let event = Message::default()
            .double(1, wall_time())
            .uint(2, step)
            .message(5, summary);
        self.record(&event.0)
    }

    /// Scalars at `step`, one summary value each.
    pub fn scalars(&mut self, step: u64, values: &[(String, f32)]) -> Result<()> {
        let summary = values.iter().fold(Message::default(), |m, (tag, v)| {
            m.message(1, scalar_value(tag, *v))
        });
        self.event(step, summary)
    }

    /// A text (Markdown) entry at `step`.
    pub fn text(&mut self, step: u64, tag: &str, text: &str) -> Result<()> {
        self.event(step, Message::default().message(1, text_value(tag, text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_published_check_values() {
        // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, then of 0xff; and the "123456789" check.
        assert_eq!(crc32c(&[0; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xff; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn varints_encode_as_protocol_buffers_do() {
        let mut m = Message::default();
        m.varint(300);
        assert_eq!(m.0, [0xAC, 0x02]);
        assert_eq!(Message::default().uint(2, 1).0, [0x10, 0x01]);
        assert_eq!(Message::default().bytes(1, b"ab").0, [0x0A, 2, b'a', b'b']);
    }
}
