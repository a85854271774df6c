//! A minimal CSV reader: comma-separated fields, records ending in `\n`
//! (a `\r` before it is dropped), and fields in double quotes that may hold
//! commas, newlines and doubled `""` quotes — what Python's `csv` module
//! writes with minimal quoting.

use anyhow::{bail, Result};

/// Splits `text` into records of fields. `source` names the text in errors.
pub(crate) fn parse_csv(text: &str, source: &str) -> Result<Vec<Vec<String>>> {
    let bytes = text.as_bytes();
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (field, next) = if bytes[pos] == b'"' {
            quoted_field(text, pos, source, records.len() + 1)?
        } else {
            let end = bytes[pos..]
                .iter()
                .position(|&b| b == b',' || b == b'\n')
                .map_or(bytes.len(), |n| pos + n);
            if let Some(quote) = bytes[pos..end].iter().position(|&b| b == b'"') {
                bail!(
                    "{source}: record {} has a stray '\"' inside an unquoted field at byte {}",
                    records.len() + 1,
                    pos + quote
                );
            }
            (text[pos..end].to_string(), end)
        };
        record.push(field);
        match bytes.get(next) {
            Some(b',') => {
                pos = next + 1;
                if pos == bytes.len() {
                    record.push(String::new());
                }
            }
            Some(b'\n') | None => {
                if let Some(last) = record.last_mut() {
                    if last.ends_with('\r') {
                        last.pop();
                    }
                }
                records.push(std::mem::take(&mut record));
                pos = next + 1;
            }
            Some(_) => bail!(
                "{source}: record {} has text after a closing quote at byte {next}",
                records.len() + 1
            ),
        }
    }
    if !record.is_empty() {
        records.push(record);
    }
    Ok(records)
}

/// The field whose opening quote is at `start`, and the index just past its
/// closing quote.
fn quoted_field(text: &str, start: usize, source: &str, record: usize) -> Result<(String, usize)> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut pos = start + 1;
    loop {
        let Some(quote) = bytes[pos..].iter().position(|&b| b == b'"') else {
            bail!(
                "{source}: record {record} has a quoted field starting at byte {start} that is \
                 never closed; the file is truncated or corrupt"
            );
        };
        out.push_str(&text[pos..pos + quote]);
        pos += quote + 1;
        if bytes.get(pos) == Some(&b'"') {
            out.push('"');
            pos += 1;
        } else {
            return Ok((out, pos));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_csv;

    #[test]
    fn reads_minimally_quoted_csv() {
        let text = "review,sentiment\n\"Great, \"\"truly\"\"\nfun\",positive\nmeh,negative\r\n,\n";
        let records = parse_csv(text, "t.csv").unwrap();
        assert_eq!(
            records,
            vec![
                vec!["review", "sentiment"],
                vec!["Great, \"truly\"\nfun", "positive"],
                vec!["meh", "negative"],
                vec!["", ""],
            ]
        );
        assert_eq!(parse_csv("a,b", "t").unwrap(), vec![vec!["a", "b"]]);
    }

    #[test]
    fn rejects_broken_quoting() {
        for (text, needle) in [
            ("a,\"open\nb\n", "never closed"),
            ("a,\"x\"y\n", "after a closing quote"),
            ("a,b\"c\n", "stray"),
        ] {
            let msg = format!("{:#}", parse_csv(text, "bad.csv").unwrap_err());
            assert!(msg.contains(needle) && msg.contains("bad.csv"), "{msg}");
        }
    }
}
