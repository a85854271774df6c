//! Reader for the IDX format used by MNIST: two zero bytes, an element-type
//! byte, a dimension-count byte, one big-endian `u32` per dimension, then the
//! elements in row-major order. Files may be gzip-compressed.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const U8_TYPE: u8 = 0x08;
const MAGIC_LEN: usize = 4;
const DIM_LEN: usize = 4;

/// A `u8` IDX tensor: the dimensions from the header and the raw elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file of `u8` elements, gzip-compressed or raw.
///
/// Compression is detected from the gzip magic bytes, so the file name does not
/// matter. Errors name the file and say what is wrong with it.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let contents =
        fs::read(path).with_context(|| format!("cannot read IDX file {}", path.display()))?;
    parse_idx_file(contents, path)
}

/// `read_idx` of a file's bytes already in memory; `path` names it in errors.
pub fn parse_idx_file(contents: Vec<u8>, path: &Path) -> Result<IdxArray> {
    let bytes = if contents.starts_with(&GZIP_MAGIC) {
        gunzip(&contents).with_context(|| {
            format!(
                "{} starts with the gzip signature but does not decompress; the file is \
                 corrupt or incomplete: delete it and download it again",
                path.display()
            )
        })?
    } else {
        contents
    };
    parse_idx(bytes, path)
}

fn gunzip(compressed: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    MultiGzDecoder::new(compressed).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn parse_idx(mut bytes: Vec<u8>, path: &Path) -> Result<IdxArray> {
    let shown = path.display();
    let Some(magic) = bytes.first_chunk::<MAGIC_LEN>() else {
        bail!(
            "{shown} is truncated: it holds {} bytes, fewer than the {MAGIC_LEN}-byte IDX \
             magic number; delete it and download it again",
            bytes.len()
        );
    };
    let magic = *magic;
    let [zero_a, zero_b, elem_type, ndims] = magic;
    if zero_a != 0 || zero_b != 0 || element_type_name(elem_type).is_none() {
        bail!(
            "{shown} is not an IDX file: it starts with bytes {}, but IDX files start with \
             00 00 <type> <ndims> (MNIST images: 00 00 08 03, labels: 00 00 08 01); check \
             that the path points at an MNIST/IDX file",
            hex(&magic)
        );
    }
    if elem_type != U8_TYPE {
        bail!(
            "{shown} holds {} elements (IDX type byte 0x{elem_type:02x}), but only u8 \
             (type 0x08) is supported",
            element_type_name(elem_type).unwrap_or("unknown")
        );
    }

    let ndims = usize::from(ndims);
    let header_len = MAGIC_LEN + DIM_LEN * ndims;
    let Some(dim_bytes) = bytes.get(MAGIC_LEN..header_len) else {
        bail!(
            "{shown} has a truncated header: it declares {ndims} dimensions, which needs \
             {header_len} header bytes, but the file holds only {} bytes; delete it and \
             download it again",
            bytes.len()
        );
    };
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(DIM_LEN)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();

    let Some(expected) = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
        bail!("{shown} declares dimensions {dims:?}, whose element count overflows");
    };
    let data_len = bytes.len() - header_len;
    if data_len < expected {
        bail!(
            "{shown} is truncated: dimensions {dims:?} need {expected} data bytes after the \
             {header_len}-byte header, but only {} are present; delete it and download it \
             again",
            data_len
        );
    }
    if data_len > expected {
        bail!(
            "{shown} has {} bytes of trailing garbage: dimensions {dims:?} need {expected} \
             data bytes, but {} follow the {header_len}-byte header; the file is corrupt, \
             delete it and download it again",
            data_len - expected,
            data_len
        );
    }
    bytes.drain(..header_len);
    Ok(IdxArray { dims, data: bytes })
}

fn element_type_name(code: u8) -> Option<&'static str> {
    match code {
        0x08 => Some("u8"),
        0x09 => Some("i8"),
        0x0b => Some("i16"),
        0x0c => Some("i32"),
        0x0d => Some("f32"),
        0x0e => Some("f64"),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
