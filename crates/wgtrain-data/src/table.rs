//! CSV files with a header row (plain or gzip-compressed, told by their first bytes), as
//! `--csv` reads them: numeric feature columns, a label column, a text column.

use crate::csv::parse_csv;
use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::Path;

/// A CSV file's header and records, every record as long as the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The file, for messages.
    pub source: String,
}

impl Table {
    pub fn read(path: &Path) -> Result<Table> {
        let source = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read the CSV {source}"))?;
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut text = String::new();
            MultiGzDecoder::new(bytes.as_slice())
                .read_to_string(&mut text)
                .with_context(|| format!("{source} does not decompress as gzipped UTF-8 text"))?;
            text
        } else {
            String::from_utf8(bytes).with_context(|| format!("{source} is not UTF-8 text"))?
        };
        Table::parse(&text, &source)
    }

    pub fn parse(text: &str, source: &str) -> Result<Table> {
        let mut rows = parse_csv(text, source)?;
        if rows.is_empty() {
            bail!("{source} is empty: a CSV with a header row and at least one record is needed");
        }
        let header = rows.remove(0);
        if let Some((k, row)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != header.len())
        {
            bail!(
                "{source}: record {} has {} fields but the header has {} ({})",
                k + 1,
                row.len(),
                header.len(),
                header.join(",")
            );
        }
        if rows.is_empty() {
            bail!("{source} has a header but no records");
        }
        Ok(Table {
            header,
            rows,
            source: source.to_string(),
        })
    }

    /// The index of column `name`, or an error listing the columns there are.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).with_context(|| {
            format!(
                "{} has no column '{name}'; its columns are: {}",
                self.source,
                self.header.join(", ")
            )
        })
    }

    /// Every column but `except` as float32 features, row by row.
    pub fn features(&self, except: &[usize]) -> Result<(Vec<f32>, usize)> {
        let keep: Vec<usize> = (0..self.header.len())
            .filter(|c| !except.contains(c))
            .collect();
        if keep.is_empty() {
            bail!("{} has no feature columns besides the label", self.source);
        }
        let mut out = Vec::with_capacity(self.rows.len() * keep.len());
        for (r, row) in self.rows.iter().enumerate() {
            for &c in &keep {
                let v: f32 = row[c].trim().parse().with_context(|| {
                    format!(
                        "{}: record {}, column '{}' holds {:?}, not a number",
                        self.source,
                        r + 1,
                        self.header[c],
                        row[c]
                    )
                })?;
                out.push(v);
            }
        }
        Ok((out, keep.len()))
    }
}

/// Labels as numbers: the column's values when all are numbers, else class ids by the sorted
/// distinct names (returned, so the mapping can be saved and shown).
pub fn label_ids(values: &[&str]) -> (Vec<f32>, Option<Vec<String>>) {
    if let Ok(numbers) = values
        .iter()
        .map(|v| v.trim().parse::<f32>())
        .collect::<Result<Vec<f32>, _>>()
    {
        return (numbers, None);
    }
    let mut names: Vec<String> = values.iter().map(|v| v.trim().to_string()).collect();
    names.sort();
    names.dedup();
    let ids = values
        .iter()
        .map(|v| {
            names
                .binary_search(&v.trim().to_string())
                .expect("listed above") as f32
        })
        .collect();
    (ids, Some(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_features_and_maps_string_labels() {
        let t = Table::parse("a,b,label\n1,2.5,cat\n-3,4e1,dog\n0,0,cat\n", "t.csv").unwrap();
        let label = t.column("label").unwrap();
        assert_eq!(
            t.features(&[label]).unwrap(),
            (vec![1.0, 2.5, -3.0, 40.0, 0.0, 0.0], 2)
        );
        let values: Vec<&str> = t.rows.iter().map(|r| r[label].as_str()).collect();
        let (ids, names) = label_ids(&values);
        assert_eq!(ids, [0.0, 1.0, 0.0]);
        assert_eq!(names.unwrap(), ["cat", "dog"]);
        assert_eq!(label_ids(&["1", "0"]), (vec![1.0, 0.0], None));
    }

    #[test]
    fn bad_tables_name_the_file_and_the_fix() {
        let err = Table::parse("a,b\n1\n", "t.csv").unwrap_err().to_string();
        assert!(err.contains("t.csv") && err.contains("record 1"), "{err}");
        let t = Table::parse("a,b\n1,x\n", "t.csv").unwrap();
        let err = t.features(&[]).unwrap_err().to_string();
        assert!(
            err.contains("column 'b'") && err.contains("not a number"),
            "{err}"
        );
        let err = t.column("label").unwrap_err().to_string();
        assert!(err.contains("columns are: a, b"), "{err}");
    }
}
