//! Path templates like `weights.{epoch:02d}-{val_loss:.2f}.safetensors`: the subset of Python's
//! `str.format` that Keras checkpoints use, with Python's way of printing numbers.

use crate::callback::Logs;
use anyhow::{anyhow, bail, Result};

/// A value a template can name: the epoch and batch are whole numbers, logs are floats.
#[derive(Clone, Copy)]
enum Value {
    Int(i64),
    Float(f64),
}

/// Fills `template` with `epoch` and `batch` (when given) as they are to be written (Keras
/// counts both from 1 in file names) and the entries of `logs`. `{{` and `}}` stand for braces.
pub fn format_path(
    template: &str,
    epoch: usize,
    batch: Option<usize>,
    logs: &Logs,
) -> Result<String> {
    let lookup = |name: &str| -> Option<Value> {
        match name {
            "epoch" => Some(Value::Int(epoch as i64)),
            "batch" => batch.map(|b| Value::Int(b as i64)),
            _ => logs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| Value::Float(*v as f64)),
        }
    };
    let fail = |why: String| anyhow!("failed to format the callback path \"{template}\": {why}");
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let field: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let (name, spec) = field.split_once(':').unwrap_or((&field, ""));
                let value = lookup(name).ok_or_else(|| {
                    let known: Vec<&str> = ["epoch"]
                        .into_iter()
                        .chain(batch.map(|_| "batch"))
                        .chain(logs.iter().map(|(k, _)| k.as_str()))
                        .collect();
                    fail(format!(
                        "no value named '{name}' (known: {})",
                        known.join(", ")
                    ))
                })?;
                out.push_str(&format_value(value, spec).map_err(|e| fail(e.to_string()))?);
            }
            '}' => return Err(fail("a single '}' (write '}}' for a brace)".into())),
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// One field: `[0][width][.precision][d|f|e]`, or nothing for Python's default.
fn format_value(value: Value, spec: &str) -> Result<String> {
    if spec.is_empty() {
        return Ok(match value {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => python_repr(f),
        });
    }
    let (body, kind) = match spec.chars().last() {
        Some(k @ ('d' | 'f' | 'e')) => (&spec[..spec.len() - 1], k),
        _ => (spec, 'g'),
    };
    let zero = body.starts_with('0');
    let (width, precision) = match body.split_once('.') {
        Some((w, p)) => (w, Some(p)),
        None => (body, None),
    };
    let bad = || anyhow!("unsupported format spec ':{spec}'");
    let width: usize = if width.is_empty() {
        0
    } else {
        width.parse().map_err(|_| bad())?
    };
    let precision: Option<usize> = match precision {
        Some(p) => Some(p.parse().map_err(|_| bad())?),
        None => None,
    };
    let text = match (kind, value) {
        ('d', Value::Int(i)) => i.to_string(),
        ('d', Value::Float(_)) => bail!("format code 'd' needs a whole number, not a float"),
        ('f', v) => format!("{:.*}", precision.unwrap_or(6), as_f64(v)),
        ('e', v) => python_exponent(&format!("{:.*e}", precision.unwrap_or(6), as_f64(v))),
        ('g', _) if precision.is_some() => return Err(bad()),
        (_, v) => match v {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => python_repr(f),
        },
    };
    Ok(if text.len() >= width {
        text
    } else if zero {
        let (sign, digits) = text.split_at(text.starts_with('-') as usize);
        format!("{sign}{}{digits}", "0".repeat(width - text.len()))
    } else {
        format!("{text:>width$}")
    })
}

fn as_f64(v: Value) -> f64 {
    match v {
        Value::Int(i) => i as f64,
        Value::Float(f) => f,
    }
}

/// `1.5e-5` as Python writes it: `1.5e-05`.
fn python_exponent(rust: &str) -> String {
    match rust.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => rust.to_string(),
    }
}

/// A float as Python's `repr` writes it: the shortest digits that read back to the same value,
/// in exponent form below 1e-4 and from 1e16.
pub(super) fn python_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        return python_exponent(&format!("{v:e}"));
    }
    let s = format!("{v}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs() -> Logs {
        vec![("loss".into(), 0.5), ("val_loss".into(), 0.34567)]
    }

    #[test]
    fn templates_fill_like_python_format() {
        let p = format_path("w.{epoch:02d}-{val_loss:.2f}.safetensors", 3, None, &logs()).unwrap();
        assert_eq!(p, "w.03-0.35.safetensors");
        let p = format_path("{{x}}/e{epoch}b{batch:03d}-{loss}", 1, Some(7), &logs()).unwrap();
        assert_eq!(p, "{x}/e1b007-0.5");
        let e = format_path("w.{val_acc:.2f}", 0, None, &logs())
            .unwrap_err()
            .to_string();
        assert!(e.contains("val_acc") && e.contains("val_loss"), "{e}");
        assert!(format_path("w.{epoch:.2q}", 0, None, &logs()).is_err());
    }

    #[test]
    fn floats_print_as_python_repr() {
        for (v, want) in [
            (0.1f32 as f64, "0.10000000149011612"),
            (3.0, "3.0"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(python_repr(v), want);
        }
    }
}
