//! Parser for the header of a numpy `.npy` file: a Python dict literal such as
//! `{'descr': '<i8', 'fortran_order': False, 'shape': (25000,), }`.
//!
//! Only the literal forms numpy writes are understood: strings, integers
//! (with Python 2's optional `L` suffix), `True`/`False`/`None`, tuples, lists
//! and dicts.

use anyhow::{bail, Result};

/// The three fields numpy requires in every `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NpyHeader {
    /// The dtype string, e.g. `<f4` or `|O`.
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

/// A Python literal as found in a `.npy` header.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

/// Parses the header text into its `descr`, `fortran_order` and `shape`.
/// Errors say what is wrong; the caller adds which file it came from.
pub(crate) fn parse_header(text: &str) -> Result<NpyHeader> {
    let mut parser = Parser {
        text: text.as_bytes(),
        pos: 0,
    };
    let value = parser.value(0)?;
    parser.skip_space();
    if parser.pos != parser.text.len() {
        bail!(
            "the header has unexpected text after its dict, at byte {}: {:?}",
            parser.pos,
            snippet(&text[parser.pos..])
        );
    }
    let Literal::Dict(entries) = value else {
        bail!(
            "the header is not a Python dict literal: {:?}",
            snippet(text)
        );
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in entries {
        let Literal::Str(key) = key else {
            bail!("the header dict has a non-string key {key:?}");
        };
        match key.as_str() {
            "descr" => descr = Some(value),
            "fortran_order" => fortran = Some(value),
            "shape" => shape = Some(value),
            other => bail!(
                "the header has the unexpected key {other:?}; numpy writes only 'descr', \
                 'fortran_order' and 'shape'"
            ),
        }
    }
    let (Some(descr), Some(fortran), Some(shape)) = (descr, fortran, shape) else {
        bail!(
            "the header lacks one of the keys 'descr', 'fortran_order' and 'shape': {:?}",
            snippet(text)
        );
    };
    let descr = match descr {
        Literal::Str(descr) => descr,
        Literal::List(_) => bail!(
            "the array has a structured dtype (a list of fields), which is not supported; \
             only plain numeric, bool and object dtypes are"
        ),
        other => bail!("the header's 'descr' should be a dtype string, not {other:?}"),
    };
    let Literal::Bool(fortran_order) = fortran else {
        bail!("the header's 'fortran_order' should be True or False, not {fortran:?}");
    };
    let Literal::Tuple(dims) = shape else {
        bail!("the header's 'shape' should be a tuple of integers, not {shape:?}");
    };
    let shape = dims
        .iter()
        .map(|dim| match dim {
            Literal::Int(n) => usize::try_from(*n).ok(),
            _ => None,
        })
        .collect::<Option<Vec<usize>>>();
    let Some(shape) = shape else {
        bail!("the header's 'shape' should hold non-negative integers, not {dims:?}");
    };
    Ok(NpyHeader {
        descr,
        fortran_order,
        shape,
    })
}

/// Nesting deeper than this is not something numpy writes; refusing it keeps
/// the recursive parser's stack use bounded on corrupt input.
const MAX_DEPTH: usize = 16;

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn value(&mut self, depth: usize) -> Result<Literal> {
        if depth > MAX_DEPTH {
            bail!("the header nests deeper than {MAX_DEPTH} levels");
        }
        self.skip_space();
        let Some(&byte) = self.text.get(self.pos) else {
            bail!("the header ends where a value was expected");
        };
        match byte {
            b'{' => self.dict(depth),
            b'(' => self.sequence(b')', depth).map(Literal::Tuple),
            b'[' => self.sequence(b']', depth).map(Literal::List),
            b'\'' | b'"' => self.string(byte),
            b'-' | b'+' | b'0'..=b'9' => self.int(),
            _ => self.word(),
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Literal> {
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_space();
            if self.eat(b'}') {
                return Ok(Literal::Dict(entries));
            }
            let key = self.value(depth + 1)?;
            self.skip_space();
            if !self.eat(b':') {
                bail!("the header dict lacks a ':' after key {key:?}");
            }
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            self.skip_space();
            if !self.eat(b',') && self.peek() != Some(b'}') {
                bail!(
                    "the header dict lacks a ',' or '}}' at byte {}: {:?}",
                    self.pos,
                    self.rest()
                );
            }
        }
    }

    /// The items of a tuple or list, up to `close`.
    fn sequence(&mut self, close: u8, depth: usize) -> Result<Vec<Literal>> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            self.skip_space();
            if !self.eat(b',') && self.peek() != Some(close) {
                bail!(
                    "the header has a tuple or list without a ',' or '{}' at byte {}: {:?}",
                    char::from(close),
                    self.pos,
                    self.rest()
                );
            }
        }
    }

    fn string(&mut self, quote: u8) -> Result<Literal> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(&byte) = self.text.get(self.pos) {
            self.pos += 1;
            match byte {
                b'\\' => {
                    let Some(&escaped) = self.text.get(self.pos) else {
                        break;
                    };
                    self.pos += 1;
                    out.push(match escaped {
                        b'n' => b'\n',
                        b't' => b'\t',
                        other => other,
                    });
                }
                _ if byte == quote => {
                    let text = String::from_utf8(out).map_err(|_| {
                        anyhow::anyhow!("the header has a string that is not UTF-8")
                    })?;
                    return Ok(Literal::Str(text));
                }
                _ => out.push(byte),
            }
        }
        bail!(
            "the header has an unterminated string starting at byte {start}: {:?}",
            snippet(&String::from_utf8_lossy(&self.text[start..]))
        )
    }

    fn int(&mut self) -> Result<Literal> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = String::from_utf8_lossy(&self.text[start..self.pos]).into_owned();
        // Python 2 wrote long integers with an `L` suffix, e.g. `(25000L,)`.
        if matches!(self.peek(), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        digits
            .parse::<i128>()
            .map(Literal::Int)
            .map_err(|_| anyhow::anyhow!("the header has a malformed integer {digits:?}"))
    }

    fn word(&mut self) -> Result<Literal> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            self.pos += 1;
        }
        match &self.text[start..self.pos] {
            b"True" => Ok(Literal::Bool(true)),
            b"False" => Ok(Literal::Bool(false)),
            b"None" => Ok(Literal::None),
            _ => bail!(
                "the header has an unexpected token at byte {start}: {:?}",
                snippet(&String::from_utf8_lossy(&self.text[start..]))
            ),
        }
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn rest(&self) -> String {
        snippet(&String::from_utf8_lossy(&self.text[self.pos..]))
    }
}

/// The first 60 characters of `text`, for error messages.
fn snippet(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_numpy_writes() {
        let header = parse_header(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (25000,), }          \n",
        )
        .unwrap();
        assert_eq!(
            header,
            NpyHeader {
                descr: "<i8".into(),
                fortran_order: false,
                shape: vec![25000],
            }
        );
        let scalar = parse_header("{'descr': '|O', 'fortran_order': True, 'shape': ()}").unwrap();
        assert!(scalar.shape.is_empty() && scalar.fortran_order);
        let py2 =
            parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }").unwrap();
        assert_eq!(py2.shape, vec![2, 3]);
        let quoted =
            parse_header(r#"{"descr": "<u2", "shape": (1, 2, 3), "fortran_order": False}"#)
                .unwrap();
        assert_eq!(quoted.descr, "<u2");
    }

    #[test]
    fn rejects_malformed_headers() {
        for (text, needle) in [
            ("", "ends where a value"),
            (
                "{'descr': '<i8', 'fortran_order': False}",
                "lacks one of the keys",
            ),
            (
                "{'descr': '<i8', 'fortran_order': 0, 'shape': ()}",
                "True or False",
            ),
            (
                "{'descr': '<i8', 'fortran_order': False, 'shape': (-1,)}",
                "non-negative",
            ),
            (
                "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), 'x': 1}",
                "unexpected key",
            ),
            (
                "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': ()}",
                "structured",
            ),
            ("{'descr': '<i8", "unterminated string"),
            ("{'descr' '<i8'}", "lacks a ':'"),
            ("{'descr': '<i8',, }", "unexpected token"),
            ("{'descr': '<i8'} junk", "after its dict"),
            ("(((((((((((((((((((((((((((((1", "deeper"),
        ] {
            let msg = format!("{:#}", parse_header(text).unwrap_err());
            assert!(msg.contains(needle), "{text:?}: {msg}");
        }
    }
}
