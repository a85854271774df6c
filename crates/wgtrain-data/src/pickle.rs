//! The subset of Python's pickle format that numpy writes for an object array
//! whose elements are lists of integers, as `np.save(..., allow_pickle=True)`
//! stores IMDB's ragged `x_train`/`x_test`.
//!
//! This is a small stack machine over pickle protocols 2 to 5. It rebuilds
//! nothing but plain values, `numpy.dtype` and `numpy.ndarray` (through
//! `numpy.core.multiarray._reconstruct` or its numpy 2 spelling
//! `numpy._core.multiarray._reconstruct`), plus `_codecs.encode`, which
//! Python 3 uses for `bytes` in protocol 2; any other global is refused, so a
//! pickle cannot make it run code. Corrupt input — truncation, unknown
//! opcodes, stack underflow, wrong types — gives an error, never a panic.

use std::collections::HashMap;
use std::rc::Rc;

use anyhow::{anyhow, Result};

/// A pickled numpy object array whose elements are integer lists, flattened
/// in C (row-major) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectArray {
    pub shape: Vec<usize>,
    pub items: Vec<Vec<i64>>,
}

/// Unpickles a numpy object array of integer lists (or tuples). `source`
/// names where the bytes came from, for error messages.
pub fn unpickle_int_lists(bytes: &[u8], source: &str) -> Result<ObjectArray> {
    let mut machine = Machine::new(bytes);
    machine
        .run()
        .and_then(|top| machine.object_array(top))
        .map_err(|err| match err.downcast_ref::<PickleError>() {
            Some(found) => anyhow!(
                "{source}: cannot unpickle the object array (at pickle byte {}): {}",
                found.offset,
                found.message
            ),
            None => anyhow!("{source}: cannot unpickle the object array: {err}"),
        })
}

#[derive(Debug)]
struct PickleError {
    offset: usize,
    message: String,
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PickleError {}

/// Tuples may nest at most this deep; deeper nesting is not something numpy
/// writes, and refusing it keeps dropping values from recursing without bound.
const MAX_TUPLE_DEPTH: u32 = 32;

/// The globals this reader knows how to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    Reconstruct,
    Ndarray,
    Dtype,
    /// `_codecs.encode(text, encoding)`: how Python 3 spells `bytes` in
    /// protocol 2, e.g. the `b'b'` argument of `_reconstruct`.
    CodecsEncode,
}

#[derive(Debug, Clone)]
struct Tuple {
    depth: u32,
    items: Vec<Value>,
}

#[derive(Debug, Clone)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// A float's value is never needed, only that one was there.
    Float,
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<Tuple>),
    /// Index into [`Machine::lists`]; lists are shared and mutable in Python,
    /// so the memo and the stack must refer to the same one.
    List(usize),
    Global(Global),
    /// A `numpy.dtype`, by its type string such as `O8` or `i8`.
    Dtype(Rc<str>),
    /// Index into [`Machine::arrays`].
    Array(usize),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Global(_) => "global",
            Value::Dtype(_) => "numpy.dtype",
            Value::Array(_) => "numpy.ndarray",
        }
    }

    fn depth(&self) -> u32 {
        match self {
            Value::Tuple(tuple) => tuple.depth,
            _ => 0,
        }
    }
}

/// A list's items; all-integer lists (the common case) are stored unboxed.
#[derive(Debug)]
enum ListItems {
    Ints(Vec<i64>),
    Any(Vec<Value>),
}

/// The state `ndarray.__setstate__` received.
#[derive(Debug, Default)]
struct ArrayState {
    shape: Vec<usize>,
    dtype: Option<Rc<str>>,
    fortran: bool,
    list: Option<usize>,
}

struct Machine<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Where the opcode being run starts, for error messages.
    op_start: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK still open.
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    lists: Vec<ListItems>,
    arrays: Vec<Option<ArrayState>>,
}

impl<'a> Machine<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            op_start: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            lists: Vec::new(),
            arrays: Vec::new(),
        }
    }

    fn fail(&self, message: String) -> anyhow::Error {
        anyhow::Error::new(PickleError {
            offset: self.op_start,
            message,
        })
    }

    /// Runs opcodes up to STOP and returns the value it pops.
    fn run(&mut self) -> Result<Value> {
        loop {
            self.op_start = self.pos;
            let op = self.take(1, "an opcode")?[0];
            match op {
                0x80 => {
                    // PROTO
                    let protocol = self.take(1, "PROTO's version")?[0];
                    if !(2..=5).contains(&protocol) {
                        return Err(self.fail(format!(
                            "pickle protocol {protocol} is not supported (only 2 to 5)"
                        )));
                    }
                }
                0x95 => {
                    // FRAME: a length prefix for the bytes that follow.
                    let len = self.u64_le("FRAME's length")?;
                    if len > (self.bytes.len() - self.pos) as u64 {
                        return Err(self.fail(format!(
                            "the pickle is truncated: a FRAME announces {len} bytes but only {} \
                             remain",
                            self.bytes.len() - self.pos
                        )));
                    }
                }
                b'.' => return self.pop("STOP"),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop("POP")?;
                }
                b'1' => {
                    self.pop_mark("POP_MARK")?;
                }
                b'2' => {
                    let top = self.peek_top("DUP")?.clone();
                    self.push(top);
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'J' => {
                    let b = self.take(4, "BININT's value")?;
                    self.push(Value::Int(i64::from(i32::from_le_bytes([
                        b[0], b[1], b[2], b[3],
                    ]))));
                }
                b'K' => {
                    let b = self.take(1, "BININT1's value")?[0];
                    self.push(Value::Int(i64::from(b)));
                }
                b'M' => {
                    let b = self.take(2, "BININT2's value")?;
                    self.push(Value::Int(i64::from(u16::from_le_bytes([b[0], b[1]]))));
                }
                0x8a => {
                    // LONG1
                    let len = usize::from(self.take(1, "LONG1's length")?[0]);
                    let value = self.long(len)?;
                    self.push(value);
                }
                0x8b => {
                    // LONG4
                    let len = self.i32_len("LONG4's length")?;
                    let value = self.long(len)?;
                    self.push(value);
                }
                b'I' => {
                    // INT, as text: also the protocol 0 spelling of True/False.
                    let line = self.line("INT")?;
                    let value = match line.as_str() {
                        "01" => Value::Bool(true),
                        "00" => Value::Bool(false),
                        text => Value::Int(self.parse_int(text, "INT")?),
                    };
                    self.push(value);
                }
                b'L' => {
                    let line = self.line("LONG")?;
                    let value = self.parse_int(line.trim_end_matches('L'), "LONG")?;
                    self.push(Value::Int(value));
                }
                b'G' => {
                    self.take(8, "BINFLOAT's value")?;
                    self.push(Value::Float);
                }
                b'X' => {
                    let len = self.u32_len("BINUNICODE's length")?;
                    self.push_str(len, "BINUNICODE")?;
                }
                0x8c => {
                    let len = usize::from(self.take(1, "SHORT_BINUNICODE's length")?[0]);
                    self.push_str(len, "SHORT_BINUNICODE")?;
                }
                0x8d => {
                    let len = self.u64_len("BINUNICODE8's length")?;
                    self.push_str(len, "BINUNICODE8")?;
                }
                b'B' => {
                    let len = self.u32_len("BINBYTES's length")?;
                    self.push_bytes(len, "BINBYTES")?;
                }
                b'C' => {
                    let len = usize::from(self.take(1, "SHORT_BINBYTES's length")?[0]);
                    self.push_bytes(len, "SHORT_BINBYTES")?;
                }
                0x8e => {
                    let len = self.u64_len("BINBYTES8's length")?;
                    self.push_bytes(len, "BINBYTES8")?;
                }
                0x96 => {
                    let len = self.u64_len("BYTEARRAY8's length")?;
                    self.push_bytes(len, "BYTEARRAY8")?;
                }
                // Python 2 `str`; numpy loads these as text (encoding ASCII/latin1).
                b'T' => {
                    let len = self.i32_len("BINSTRING's length")?;
                    self.push_bytes(len, "BINSTRING")?;
                }
                b'U' => {
                    let len = usize::from(self.take(1, "SHORT_BINSTRING's length")?[0]);
                    self.push_bytes(len, "SHORT_BINSTRING")?;
                }
                b']' => self.new_list(ListItems::Ints(Vec::new())),
                b'l' => {
                    let items = self.pop_mark("LIST")?;
                    self.new_list(ListItems::Any(items));
                }
                b'a' => {
                    let item = self.pop("APPEND")?;
                    self.append(vec![item], "APPEND")?;
                }
                b'e' => {
                    let items = self.pop_mark("APPENDS")?;
                    self.append(items, "APPENDS")?;
                }
                b')' => self.push_tuple(Vec::new())?,
                b't' => {
                    let items = self.pop_mark("TUPLE")?;
                    self.push_tuple(items)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let name = ["TUPLE1", "TUPLE2", "TUPLE3"][n - 1];
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(name)?);
                    }
                    items.reverse();
                    self.push_tuple(items)?;
                }
                b'c' => {
                    let module = self.line("GLOBAL")?;
                    let name = self.line("GLOBAL")?;
                    let global = self.global(&module, &name)?;
                    self.push(global);
                }
                0x93 => {
                    let name = self.pop_text("STACK_GLOBAL")?;
                    let module = self.pop_text("STACK_GLOBAL")?;
                    let global = self.global(&module, &name)?;
                    self.push(global);
                }
                b'R' => {
                    let args = self.pop("REDUCE")?;
                    let callable = self.pop("REDUCE")?;
                    let result = self.reduce(callable, args)?;
                    self.push(result);
                }
                b'b' => {
                    let state = self.pop("BUILD")?;
                    let target = self.peek_top("BUILD")?.clone();
                    self.build(target, state)?;
                }
                0x94 => {
                    // MEMOIZE
                    let top = self.peek_top("MEMOIZE")?.clone();
                    let index = self.memo.len() as u64;
                    self.memo.insert(index, top);
                }
                b'q' => {
                    let index = u64::from(self.take(1, "BINPUT's index")?[0]);
                    self.put(index, "BINPUT")?;
                }
                b'r' => {
                    let index = self.u32_len("LONG_BINPUT's index")? as u64;
                    self.put(index, "LONG_BINPUT")?;
                }
                b'p' => {
                    let line = self.line("PUT")?;
                    let index = self.parse_index(&line, "PUT")?;
                    self.put(index, "PUT")?;
                }
                b'h' => {
                    let index = u64::from(self.take(1, "BINGET's index")?[0]);
                    self.get(index, "BINGET")?;
                }
                b'j' => {
                    let index = self.u32_len("LONG_BINGET's index")? as u64;
                    self.get(index, "LONG_BINGET")?;
                }
                b'g' => {
                    let line = self.line("GET")?;
                    let index = self.parse_index(&line, "GET")?;
                    self.get(index, "GET")?;
                }
                other => {
                    return Err(self.fail(format!(
                        "unsupported pickle opcode 0x{other:02x}{}; only what numpy writes for \
                         an object array of int lists is understood, so the file is corrupt \
                         or holds other Python objects",
                        opcode_name(other).map_or(String::new(), |name| format!(" ({name})"))
                    )))
                }
            }
        }
    }

    // ---- reading operands ----

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let bytes = self.bytes;
        let end = self.pos.checked_add(n).filter(|&end| end <= bytes.len());
        let Some(end) = end else {
            return Err(self.fail(format!(
                "the pickle is truncated: it ends after {} bytes, while reading {what} \
                 ({n} bytes needed at byte {})",
                bytes.len(),
                self.pos
            )));
        };
        let slice = &bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u64_le(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(b);
        Ok(u64::from_le_bytes(raw))
    }

    fn u64_len(&mut self, what: &str) -> Result<usize> {
        let len = self.u64_le(what)?;
        usize::try_from(len).map_err(|_| self.fail(format!("{what} {len} is too large")))
    }

    fn u32_len(&mut self, what: &str) -> Result<usize> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn i32_len(&mut self, what: &str) -> Result<usize> {
        let b = self.take(4, what)?;
        let len = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        usize::try_from(len).map_err(|_| self.fail(format!("{what} is negative ({len})")))
    }

    /// A newline-terminated ASCII operand (GLOBAL, INT, PUT, ...).
    fn line(&mut self, what: &str) -> Result<String> {
        let rest = &self.bytes[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == b'\n') else {
            return Err(self.fail(format!(
                "the pickle is truncated: {what}'s text operand has no terminating newline"
            )));
        };
        let text = std::str::from_utf8(&rest[..len])
            .map_err(|_| self.fail(format!("{what}'s text operand is not UTF-8")))?
            .to_string();
        self.pos += len + 1;
        Ok(text)
    }

    fn parse_int(&self, text: &str, what: &str) -> Result<i64> {
        text.trim().parse::<i64>().map_err(|_| {
            self.fail(format!(
                "{what} operand {text:?} is not an integer that fits in 64 bits"
            ))
        })
    }

    fn parse_index(&self, text: &str, what: &str) -> Result<u64> {
        text.trim()
            .parse::<u64>()
            .map_err(|_| self.fail(format!("{what} operand {text:?} is not a memo index")))
    }

    /// A little-endian two's-complement integer of `len` bytes (LONG1/LONG4).
    fn long(&mut self, len: usize) -> Result<Value> {
        if len > 8 {
            return Err(self.fail(format!(
                "a pickled integer is {len} bytes long; only integers that fit in 64 bits are \
                 supported"
            )));
        }
        let b = self.take(len, "a LONG's bytes")?;
        let Some(&last) = b.last() else {
            return Ok(Value::Int(0));
        };
        let mut raw = if last & 0x80 != 0 {
            [0xffu8; 8]
        } else {
            [0u8; 8]
        };
        raw[..len].copy_from_slice(b);
        Ok(Value::Int(i64::from_le_bytes(raw)))
    }

    fn push_str(&mut self, len: usize, what: &str) -> Result<()> {
        let b = self.take(len, &format!("{what}'s {len} bytes"))?;
        let text =
            std::str::from_utf8(b).map_err(|_| self.fail(format!("{what} holds invalid UTF-8")))?;
        self.push(Value::Str(Rc::from(text)));
        Ok(())
    }

    fn push_bytes(&mut self, len: usize, what: &str) -> Result<()> {
        let b = self.take(len, &format!("{what}'s {len} bytes"))?;
        self.push(Value::Bytes(Rc::from(b)));
        Ok(())
    }

    // ---- the stack ----

    fn push(&mut self, value: Value) {
        self.stack.push(value);
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self, what: &str) -> Result<Value> {
        if self.stack.len() <= self.floor() {
            return Err(self.fail(format!(
                "stack underflow: {what} needs a value but there is none"
            )));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.fail(format!("stack underflow at {what}")))
    }

    fn peek_top(&self, what: &str) -> Result<&Value> {
        if self.stack.len() <= self.floor() {
            return Err(self.fail(format!(
                "stack underflow: {what} needs a value but there is none"
            )));
        }
        self.stack
            .last()
            .ok_or_else(|| self.fail(format!("stack underflow at {what}")))
    }

    fn pop_mark(&mut self, what: &str) -> Result<Vec<Value>> {
        let Some(mark) = self.marks.pop() else {
            return Err(self.fail(format!("{what} needs a MARK but none is open")));
        };
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn pop_text(&mut self, what: &str) -> Result<String> {
        match self.pop(what)? {
            Value::Str(text) => Ok(text.to_string()),
            Value::Bytes(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            other => Err(self.fail(format!(
                "{what} needs a string, not a {}",
                other.type_name()
            ))),
        }
    }

    fn push_tuple(&mut self, items: Vec<Value>) -> Result<()> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_TUPLE_DEPTH {
            return Err(self.fail(format!("tuples nest deeper than {MAX_TUPLE_DEPTH} levels")));
        }
        self.push(Value::Tuple(Rc::new(Tuple { depth, items })));
        Ok(())
    }

    fn new_list(&mut self, items: ListItems) {
        self.lists.push(items);
        self.push(Value::List(self.lists.len() - 1));
    }

    fn append(&mut self, items: Vec<Value>, what: &str) -> Result<()> {
        let target = self.peek_top(what)?.clone();
        let Value::List(id) = target else {
            return Err(self.fail(format!(
                "{what} needs a list to append to, not a {}",
                target.type_name()
            )));
        };
        let list = &mut self.lists[id];
        for item in items {
            match (&mut *list, item) {
                (ListItems::Ints(ints), Value::Int(n)) => ints.push(n),
                (ListItems::Ints(ints), other) => {
                    let mut any: Vec<Value> = ints.drain(..).map(Value::Int).collect();
                    any.push(other);
                    *list = ListItems::Any(any);
                }
                (ListItems::Any(any), other) => any.push(other),
            }
        }
        Ok(())
    }

    fn put(&mut self, index: u64, what: &str) -> Result<()> {
        let top = self.peek_top(what)?.clone();
        self.memo.insert(index, top);
        Ok(())
    }

    fn get(&mut self, index: u64, what: &str) -> Result<()> {
        let Some(value) = self.memo.get(&index).cloned() else {
            return Err(self.fail(format!(
                "{what} refers to memo entry {index}, which was never stored"
            )));
        };
        self.push(value);
        Ok(())
    }

    // ---- numpy objects ----

    fn global(&self, module: &str, name: &str) -> Result<Value> {
        let global = match (module, name) {
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => {
                Global::Reconstruct
            }
            ("numpy", "ndarray") => Global::Ndarray,
            ("numpy", "dtype") => Global::Dtype,
            ("_codecs", "encode") => Global::CodecsEncode,
            _ => {
                return Err(self.fail(format!(
                    "refusing the global {module}.{name}: only numpy.ndarray, numpy.dtype, \
                     numpy's multiarray._reconstruct and _codecs.encode are allowed"
                )))
            }
        };
        Ok(Value::Global(global))
    }

    fn reduce(&mut self, callable: Value, args: Value) -> Result<Value> {
        let Value::Tuple(args) = args else {
            return Err(self.fail(format!(
                "REDUCE needs an argument tuple, not a {}",
                args.type_name()
            )));
        };
        match callable {
            Value::Global(Global::Reconstruct) => {
                let Some(Value::Global(Global::Ndarray)) = args.items.first() else {
                    return Err(self.fail(
                        "_reconstruct must be called with numpy.ndarray as its first argument"
                            .to_string(),
                    ));
                };
                self.arrays.push(None);
                Ok(Value::Array(self.arrays.len() - 1))
            }
            Value::Global(Global::Dtype) => match args.items.first() {
                Some(Value::Str(descr)) => Ok(Value::Dtype(descr.clone())),
                Some(Value::Bytes(descr)) => Ok(Value::Dtype(Rc::from(
                    String::from_utf8_lossy(descr).as_ref(),
                ))),
                _ => Err(self.fail("numpy.dtype must be called with a type string".to_string())),
            },
            Value::Global(Global::CodecsEncode) => self.codecs_encode(&args.items),
            other => Err(self.fail(format!(
                "REDUCE can only call numpy's _reconstruct, numpy.dtype or _codecs.encode, not \
                 a {}",
                other.type_name()
            ))),
        }
    }

    fn codecs_encode(&self, args: &[Value]) -> Result<Value> {
        let (Some(Value::Str(text)), encoding) = (args.first(), args.get(1)) else {
            return Err(self.fail("_codecs.encode needs a str to encode".to_string()));
        };
        let encoding = match encoding {
            None => "utf-8".to_string(),
            Some(Value::Str(name)) => name.to_ascii_lowercase().replace('_', "-"),
            Some(other) => {
                return Err(self.fail(format!(
                    "_codecs.encode's encoding must be a str, not a {}",
                    other.type_name()
                )))
            }
        };
        let bytes: Vec<u8> = match encoding.as_str() {
            "latin1" | "latin-1" | "iso-8859-1" | "ascii" => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<_>>()
                .ok_or_else(|| self.fail(format!("_codecs.encode: {text:?} is not {encoding}")))?,
            "utf-8" | "utf8" => text.as_bytes().to_vec(),
            other => {
                return Err(self.fail(format!(
                    "_codecs.encode with encoding {other:?} is not supported"
                )))
            }
        };
        Ok(Value::Bytes(Rc::from(bytes)))
    }

    fn build(&mut self, target: Value, state: Value) -> Result<()> {
        match target {
            // The dtype's state (byte order, field names, ...) says nothing an
            // object dtype needs.
            Value::Dtype(_) => Ok(()),
            Value::Array(id) => {
                let state = self.array_state(state)?;
                self.arrays[id] = Some(state);
                Ok(())
            }
            other => Err(self.fail(format!(
                "BUILD can only set the state of a numpy array or dtype, not a {}",
                other.type_name()
            ))),
        }
    }

    /// Reads `(version, shape, dtype, is_fortran, data)`, or the older form
    /// without `version`, as `ndarray.__setstate__` does.
    fn array_state(&self, state: Value) -> Result<ArrayState> {
        let Value::Tuple(state) = state else {
            return Err(self.fail(format!(
                "an ndarray's state must be a tuple, not a {}",
                state.type_name()
            )));
        };
        let fields = match state.items.len() {
            5 => &state.items[1..],
            4 => &state.items[..],
            n => {
                return Err(self.fail(format!(
                    "an ndarray's state must be a tuple of 4 or 5 items, not {n}"
                )))
            }
        };
        let Value::Tuple(dims) = &fields[0] else {
            return Err(self.fail("an ndarray's shape must be a tuple".to_string()));
        };
        let shape = dims
            .items
            .iter()
            .map(|dim| match dim {
                Value::Int(n) => usize::try_from(*n).ok(),
                _ => None,
            })
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| {
                self.fail("an ndarray's shape must hold non-negative integers".to_string())
            })?;
        let Value::Dtype(dtype) = &fields[1] else {
            return Err(self.fail(format!(
                "an ndarray's dtype must be a numpy.dtype, not a {}",
                fields[1].type_name()
            )));
        };
        let fortran = match &fields[2] {
            Value::Bool(flag) => *flag,
            Value::Int(flag) => *flag != 0,
            other => {
                return Err(self.fail(format!(
                    "an ndarray's Fortran flag must be a bool, not a {}",
                    other.type_name()
                )))
            }
        };
        let list = match &fields[3] {
            Value::List(id) => Some(*id),
            _ => None,
        };
        Ok(ArrayState {
            shape,
            dtype: Some(dtype.clone()),
            fortran,
            list,
        })
    }

    fn object_array(&mut self, top: Value) -> Result<ObjectArray> {
        self.op_start = self.pos;
        let Value::Array(id) = top else {
            return Err(self.fail(format!(
                "the pickle holds a {}, not a numpy array",
                top.type_name()
            )));
        };
        let Some(state) = self.arrays[id].take() else {
            return Err(
                self.fail("the pickled numpy array never received its state (BUILD)".to_string())
            );
        };
        let dtype = state.dtype.unwrap_or_else(|| Rc::from("?"));
        if !dtype.starts_with('O') {
            return Err(self.fail(format!(
                "the pickled array has dtype {dtype:?}; only object arrays (dtype 'O') of int \
                 lists are supported"
            )));
        }
        let Some(list) = state.list else {
            return Err(self.fail("the pickled object array's data is not a list".to_string()));
        };
        if state.fortran && state.shape.iter().filter(|&&d| d > 1).count() > 1 {
            return Err(self.fail(
                "Fortran-ordered multi-dimensional object arrays are not supported".to_string(),
            ));
        }
        let count = state
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| self.fail(format!("the shape {:?} overflows", state.shape)))?;
        let elements = match std::mem::replace(&mut self.lists[list], ListItems::Ints(Vec::new())) {
            ListItems::Any(items) => items,
            ListItems::Ints(ints) if ints.is_empty() => Vec::new(),
            ListItems::Ints(_) => {
                return Err(self.fail(
                    "the object array's elements are plain ints, not lists of ints".to_string(),
                ))
            }
        };
        if elements.len() != count {
            return Err(self.fail(format!(
                "the object array has shape {:?} ({count} elements) but its data list holds {}",
                state.shape,
                elements.len()
            )));
        }
        let mut items = Vec::with_capacity(count);
        // A list that appears twice (the same Python object) is copied the second time.
        let mut taken: HashMap<usize, usize> = HashMap::new();
        for (index, element) in elements.iter().enumerate() {
            let ints = match element {
                Value::List(id) if *id == list => {
                    return Err(self.fail("the object array contains itself".to_string()))
                }
                Value::List(id) => match taken.get(id) {
                    Some(&first) => items.get(first).cloned().unwrap_or_default(),
                    None => {
                        taken.insert(*id, index);
                        let list =
                            std::mem::replace(&mut self.lists[*id], ListItems::Ints(Vec::new()));
                        self.int_items(list, index)?
                    }
                },
                Value::Tuple(tuple) => {
                    self.int_items(ListItems::Any(tuple.items.clone()), index)?
                }
                other => {
                    return Err(self.fail(format!(
                        "element {index} of the object array is a {}, not a list of ints",
                        other.type_name()
                    )))
                }
            };
            items.push(ints);
        }
        Ok(ObjectArray {
            shape: state.shape,
            items,
        })
    }

    fn int_items(&self, list: ListItems, index: usize) -> Result<Vec<i64>> {
        match list {
            ListItems::Ints(ints) => Ok(ints),
            ListItems::Any(values) => values
                .into_iter()
                .enumerate()
                .map(|(position, value)| match value {
                    Value::Int(n) => Ok(n),
                    other => Err(self.fail(format!(
                        "element {index} of the object array holds a {} at position {position}; \
                         only ints are supported",
                        other.type_name()
                    ))),
                })
                .collect(),
        }
    }
}

fn opcode_name(op: u8) -> Option<&'static str> {
    Some(match op {
        b'}' => "EMPTY_DICT",
        b'd' => "DICT",
        b's' => "SETITEM",
        b'u' => "SETITEMS",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        b'i' => "INST",
        b'o' => "OBJ",
        b'F' => "FLOAT",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => return None,
    })
}
