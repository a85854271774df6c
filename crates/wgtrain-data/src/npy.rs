//! Reader for numpy's `.npy` format (versions 1.0, 2.0 and 3.0): the magic
//! `\x93NUMPY`, a version, a little-endian header length, a Python-dict header
//! giving `descr`, `fortran_order` and `shape`, then the data.
//!
//! Numeric dtypes (signed and unsigned 1–8 byte integers, `f4`, `f8`, bool, in
//! either byte order) are decoded directly; Fortran-ordered data is returned in
//! C (row-major) order. Object arrays (`|O`) are pickles, read by
//! [`crate::pickle`], and must hold lists of integers.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::npy_header::parse_header;
use crate::pickle::unpickle_int_lists;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// An array read from a `.npy` file; `data` is in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

/// The elements of an [`NpyArray`], by dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// An object array whose elements are Python lists of ints.
    IntLists(Vec<Vec<i64>>),
}

impl NpyArray {
    /// The number of elements (the product of the shape).
    pub fn len(&self) -> usize {
        match &self.data {
            NpyData::Bool(v) => v.len(),
            NpyData::I8(v) => v.len(),
            NpyData::I16(v) => v.len(),
            NpyData::I32(v) => v.len(),
            NpyData::I64(v) => v.len(),
            NpyData::U8(v) => v.len(),
            NpyData::U16(v) => v.len(),
            NpyData::U32(v) => v.len(),
            NpyData::U64(v) => v.len(),
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
            NpyData::IntLists(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// numpy's name for the dtype, e.g. `int64` or `object`.
    pub fn dtype_name(&self) -> &'static str {
        match &self.data {
            NpyData::Bool(_) => "bool",
            NpyData::I8(_) => "int8",
            NpyData::I16(_) => "int16",
            NpyData::I32(_) => "int32",
            NpyData::I64(_) => "int64",
            NpyData::U8(_) => "uint8",
            NpyData::U16(_) => "uint16",
            NpyData::U32(_) => "uint32",
            NpyData::U64(_) => "uint64",
            NpyData::F32(_) => "float32",
            NpyData::F64(_) => "float64",
            NpyData::IntLists(_) => "object",
        }
    }

    /// The elements as `i64`. Floats must be whole numbers within range; an
    /// object array is an error.
    pub fn to_i64_vec(&self) -> Result<Vec<i64>> {
        let whole = |i: usize, v: f64| -> Result<i64> {
            // -2^63 and 2^63 are exact in f64; i64 holds [-2^63, 2^63).
            const LIMIT: f64 = 9_223_372_036_854_775_808.0;
            if v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v) {
                Ok(v as i64)
            } else {
                bail!("element {i} is {v}, which is not an integer that fits in i64")
            }
        };
        Ok(match &self.data {
            NpyData::Bool(v) => v.iter().map(|&b| i64::from(b)).collect(),
            NpyData::I8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            NpyData::I16(v) => v.iter().map(|&x| i64::from(x)).collect(),
            NpyData::I32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            NpyData::I64(v) => v.clone(),
            NpyData::U8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            NpyData::U16(v) => v.iter().map(|&x| i64::from(x)).collect(),
            NpyData::U32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            NpyData::U64(v) => v
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    i64::try_from(x)
                        .with_context(|| format!("element {i} is {x}, which does not fit in i64"))
                })
                .collect::<Result<_>>()?,
            NpyData::F32(v) => v
                .iter()
                .enumerate()
                .map(|(i, &x)| whole(i, f64::from(x)))
                .collect::<Result<_>>()?,
            NpyData::F64(v) => v
                .iter()
                .enumerate()
                .map(|(i, &x)| whole(i, x))
                .collect::<Result<_>>()?,
            NpyData::IntLists(_) => bail!(
                "the array is an object array of lists, not a numeric array; use into_int_lists"
            ),
        })
    }

    /// The elements as `i32`; errors name the first element that does not fit.
    pub fn to_i32_vec(&self) -> Result<Vec<i32>> {
        self.to_i64_vec()?
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                i32::try_from(x).with_context(|| {
                    format!(
                        "element {i} of the {} array is {x}, which does not fit in i32",
                        self.dtype_name()
                    )
                })
            })
            .collect()
    }

    /// The elements as `f32`. Integers must be exactly representable (at most
    /// 2^24 in magnitude); finite `f64`s must lie within `f32`'s range.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        const EXACT: i64 = 1 << 24;
        match &self.data {
            NpyData::F32(v) => Ok(v.clone()),
            NpyData::F64(v) => v
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    if x.is_finite() && x.abs() > f64::from(f32::MAX) {
                        bail!("element {i} is {x}, which is outside the range of f32")
                    }
                    Ok(x as f32)
                })
                .collect(),
            _ => self
                .to_i64_vec()?
                .into_iter()
                .enumerate()
                .map(|(i, x)| {
                    if !(-EXACT..=EXACT).contains(&x) {
                        bail!(
                            "element {i} of the {} array is {x}, which f32 cannot represent \
                             exactly (|x| must be at most 2^24)",
                            self.dtype_name()
                        )
                    }
                    Ok(x as f32)
                })
                .collect(),
        }
    }

    /// The elements of an object array of int lists.
    pub fn into_int_lists(self) -> Result<Vec<Vec<i64>>> {
        match self.data {
            NpyData::IntLists(lists) => Ok(lists),
            _ => bail!(
                "the array has dtype {}, not an object array of int lists",
                self.dtype_name()
            ),
        }
    }
}

/// Reads a `.npy` file. Errors name the file and say what is wrong with it.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes =
        fs::read(path).with_context(|| format!("cannot read npy file {}", path.display()))?;
    parse_npy(&bytes, &path.display().to_string())
}

/// Parses the bytes of a `.npy` file; `source` names them in error messages.
pub fn parse_npy(bytes: &[u8], source: &str) -> Result<NpyArray> {
    if !bytes.starts_with(MAGIC) {
        let shown = &bytes[..bytes.len().min(6)];
        bail!(
            "{source} is not a .npy file: it starts with bytes {shown:02x?}, but .npy files start \
             with \\x93NUMPY"
        );
    }
    let Some(&[major, minor]) = bytes.get(6..8) else {
        bail!("{source} is truncated: it ends inside the .npy version bytes");
    };
    let (len_bytes, utf8) = match (major, minor) {
        (1, 0) => (2, false),
        (2, 0) => (4, false),
        (3, 0) => (4, true),
        _ => bail!(
            "{source} has .npy format version {major}.{minor}; only 1.0, 2.0 and 3.0 are \
             supported"
        ),
    };
    let Some(len_field) = bytes.get(8..8 + len_bytes) else {
        bail!("{source} is truncated: it ends inside the .npy header length");
    };
    let header_len = len_field
        .iter()
        .rev()
        .fold(0usize, |n, &b| (n << 8) | usize::from(b));
    let data_start = 8 + len_bytes + header_len;
    let Some(header) = bytes.get(8 + len_bytes..data_start) else {
        bail!(
            "{source} is truncated: its .npy header should be {header_len} bytes long, but the \
             file holds only {} bytes in all",
            bytes.len()
        );
    };
    let header_text = if utf8 {
        std::str::from_utf8(header)
            .with_context(|| format!("{source}: the version 3.0 .npy header is not UTF-8"))?
            .to_string()
    } else {
        // Versions 1.0 and 2.0 are latin1, in which every byte is a character.
        header.iter().map(|&b| char::from(b)).collect()
    };
    let header = parse_header(&header_text)
        .with_context(|| format!("{source} has an invalid .npy header"))?;
    let payload = &bytes[data_start..];
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d));
    let Some(count) = count else {
        bail!(
            "{source} declares shape {:?}, whose element count overflows",
            header.shape
        );
    };

    if header
        .descr
        .trim_start_matches(['|', '<', '>', '='])
        .starts_with('O')
    {
        let array = unpickle_int_lists(payload, source)?;
        if array.shape != header.shape {
            bail!(
                "{source}: the .npy header says shape {:?}, but the pickled array has shape {:?}",
                header.shape,
                array.shape
            );
        }
        return Ok(NpyArray {
            shape: header.shape,
            data: NpyData::IntLists(array.items),
        });
    }

    let Some(kind) = NumericKind::parse(&header.descr) else {
        bail!(
            "{source} holds dtype {:?}, which is not supported; supported are bool, \
             int8/16/32/64, uint8/16/32/64, float32/64 (either byte order) and object arrays \
             of int lists",
            header.descr
        );
    };
    let expected = count.checked_mul(kind.size);
    let Some(expected) = expected else {
        bail!(
            "{source} declares shape {:?}, whose byte size overflows",
            header.shape
        );
    };
    if payload.len() < expected {
        bail!(
            "{source} is truncated: shape {:?} of {} needs {expected} data bytes after the \
             {data_start}-byte header, but only {} are present",
            header.shape,
            header.descr,
            payload.len()
        );
    }
    if payload.len() > expected {
        bail!(
            "{source} has {} bytes of trailing garbage: shape {:?} of {} needs {expected} data \
             bytes, but {} follow the {data_start}-byte header",
            payload.len() - expected,
            header.shape,
            header.descr,
            payload.len()
        );
    }
    let mut data = kind.decode(payload);
    if header.fortran_order {
        data = data.fortran_to_c(&header.shape);
    }
    Ok(NpyArray {
        shape: header.shape,
        data,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    Bool,
    Int,
    Uint,
    Float,
}

#[derive(Debug, Clone, Copy)]
struct NumericKind {
    code: Code,
    size: usize,
    big_endian: bool,
}

impl NumericKind {
    /// Understands numpy's type strings such as `<i8`, `|u1`, `>f4`, `|b1`.
    fn parse(descr: &str) -> Option<Self> {
        let (order, rest) = match descr.as_bytes().first()? {
            b'<' | b'>' | b'|' | b'=' => (descr.as_bytes()[0], &descr[1..]),
            _ => (b'=', descr),
        };
        let code = match rest.as_bytes().first()? {
            b'b' | b'?' => Code::Bool,
            b'i' => Code::Int,
            b'u' => Code::Uint,
            b'f' => Code::Float,
            _ => return None,
        };
        let size: usize = if rest.len() == 1 && code == Code::Bool {
            1
        } else {
            rest[1..].parse().ok()?
        };
        let valid = match code {
            Code::Bool => size == 1,
            Code::Int | Code::Uint => matches!(size, 1 | 2 | 4 | 8),
            Code::Float => matches!(size, 4 | 8),
        };
        // `=` is the writer's native order; numpy itself always writes `<` or `>`.
        let big_endian = order == b'>' || (order == b'=' && cfg!(target_endian = "big"));
        valid.then_some(Self {
            code,
            size,
            big_endian,
        })
    }

    fn decode(self, bytes: &[u8]) -> NpyData {
        macro_rules! decode {
            ($variant:ident, $ty:ty, $n:literal) => {
                NpyData::$variant(
                    bytes
                        .chunks_exact($n)
                        .map(|chunk| {
                            let mut raw = [0u8; $n];
                            raw.copy_from_slice(chunk);
                            if self.big_endian {
                                <$ty>::from_be_bytes(raw)
                            } else {
                                <$ty>::from_le_bytes(raw)
                            }
                        })
                        .collect(),
                )
            };
        }
        match (self.code, self.size) {
            (Code::Bool, _) => NpyData::Bool(bytes.iter().map(|&b| b != 0).collect()),
            (Code::Int, 1) => decode!(I8, i8, 1),
            (Code::Int, 2) => decode!(I16, i16, 2),
            (Code::Int, 4) => decode!(I32, i32, 4),
            (Code::Int, _) => decode!(I64, i64, 8),
            (Code::Uint, 1) => NpyData::U8(bytes.to_vec()),
            (Code::Uint, 2) => decode!(U16, u16, 2),
            (Code::Uint, 4) => decode!(U32, u32, 4),
            (Code::Uint, _) => decode!(U64, u64, 8),
            (Code::Float, 4) => decode!(F32, f32, 4),
            (Code::Float, _) => decode!(F64, f64, 8),
        }
    }
}

impl NpyData {
    fn fortran_to_c(self, shape: &[usize]) -> Self {
        match self {
            NpyData::Bool(v) => NpyData::Bool(fortran_to_c(&v, shape)),
            NpyData::I8(v) => NpyData::I8(fortran_to_c(&v, shape)),
            NpyData::I16(v) => NpyData::I16(fortran_to_c(&v, shape)),
            NpyData::I32(v) => NpyData::I32(fortran_to_c(&v, shape)),
            NpyData::I64(v) => NpyData::I64(fortran_to_c(&v, shape)),
            NpyData::U8(v) => NpyData::U8(fortran_to_c(&v, shape)),
            NpyData::U16(v) => NpyData::U16(fortran_to_c(&v, shape)),
            NpyData::U32(v) => NpyData::U32(fortran_to_c(&v, shape)),
            NpyData::U64(v) => NpyData::U64(fortran_to_c(&v, shape)),
            NpyData::F32(v) => NpyData::F32(fortran_to_c(&v, shape)),
            NpyData::F64(v) => NpyData::F64(fortran_to_c(&v, shape)),
            NpyData::IntLists(v) => NpyData::IntLists(v),
        }
    }
}

/// Reorders column-major `data` of the given shape into row-major order.
fn fortran_to_c<T: Copy>(data: &[T], shape: &[usize]) -> Vec<T> {
    if shape.len() < 2 || data.is_empty() {
        return data.to_vec();
    }
    // Column-major strides, in elements.
    let mut strides = Vec::with_capacity(shape.len());
    let mut stride = 1;
    for &dim in shape {
        strides.push(stride);
        stride *= dim;
    }
    let mut index = vec![0usize; shape.len()];
    let mut offset = 0usize;
    let mut out = Vec::with_capacity(data.len());
    for _ in 0..data.len() {
        out.push(data[offset]);
        // Advance the row-major multi-index, last axis fastest.
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            offset += strides[axis];
            if index[axis] < shape[axis] {
                break;
            }
            offset -= strides[axis] * shape[axis];
            index[axis] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fortran_to_c;

    #[test]
    fn fortran_reorder_matches_transpose() {
        // A 2x3 matrix [[0, 1, 2], [3, 4, 5]] stored column-major.
        assert_eq!(
            fortran_to_c(&[0, 3, 1, 4, 2, 5], &[2, 3]),
            vec![0, 1, 2, 3, 4, 5]
        );
        // 2x2x2: element (i, j, k) = 100i + 10j + k, column-major.
        let column_major = [0, 100, 10, 110, 1, 101, 11, 111];
        assert_eq!(
            fortran_to_c(&column_major, &[2, 2, 2]),
            vec![0, 1, 10, 11, 100, 101, 110, 111]
        );
    }
}
