//! Rebuilding IMDB's word-rank sequences from the raw review text, without
//! pickle: `imdb_reviews.csv.gz` (the 50000 aclImdb reviews),
//! `imdb_reviews_meta.csv.gz` (each row's aclImdb split, label and file) and
//! `imdb_word_index.json`.
//!
//! The order is that of `imdb.npz`: within each split, the positive reviews
//! by file name (compared as strings: `0_9.txt`, `10000_8.txt`, ...), then the
//! negative ones likewise. Each review is tokenised with [`imdb_tokens`] and
//! every token found in the word index becomes its rank.

use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;

use crate::csv::parse_csv;
use crate::imdb::{imdb_file_in, ImdbRaw, IMDB_WORD_INDEX_FILE};
use crate::word_index::get_word_index;

/// The raw review text: header `review,sentiment`.
pub const IMDB_REVIEWS_FILE: &str = "imdb_reviews.csv.gz";
/// Where each review row comes from: header `row,split,label,id,rating,aclimdb_file`.
pub const IMDB_REVIEWS_META_FILE: &str = "imdb_reviews_meta.csv.gz";

/// Characters Keras' tokeniser replaces by spaces (`text_to_word_sequence`'s
/// default filters, which include tab and newline).
const FILTERS: &[u8] = b"!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

/// Splits a review into tokens: ASCII letters lowercased, each character of
/// ``!"#$%&()*+,-./:;<=>?@[\]^_`{|}~``, tab and newline made a space, then
/// split on spaces with empty tokens dropped.
pub fn imdb_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    // Tokens are split at ASCII bytes only, so each is valid UTF-8.
    for_each_token(text, |token| {
        tokens.push(String::from_utf8_lossy(token).into_owned())
    });
    tokens
}

/// Calls `f` with the bytes of each token of [`imdb_tokens`], reusing one buffer.
fn for_each_token(text: &str, mut f: impl FnMut(&[u8])) {
    let mut is_separator = [false; 256];
    for &byte in FILTERS.iter().chain(b" ") {
        is_separator[usize::from(byte)] = true;
    }
    let mut token = Vec::new();
    for &byte in text.as_bytes() {
        if is_separator[usize::from(byte)] {
            if !token.is_empty() {
                f(&token);
                token.clear();
            }
        } else {
            token.push(byte.to_ascii_lowercase());
        }
    }
    if !token.is_empty() {
        f(&token);
    }
}

/// A fast non-cryptographic hash (the Fx hash used inside rustc) for the
/// word lookups, which dominate the rebuild's run time.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Rebuilds the arrays of `imdb.npz` from the text files in `dir` (directly
/// or in its `imdb/` sub-directory).
pub fn rebuild_imdb_from_text(dir: &Path) -> Result<ImdbRaw> {
    let find = |name: &str| -> Result<PathBuf> {
        imdb_file_in(dir, name)
            .with_context(|| format!("{} holds neither {name} nor imdb/{name}", dir.display()))
    };
    let reviews_path = find(IMDB_REVIEWS_FILE)?;
    let meta_path = find(IMDB_REVIEWS_META_FILE)?;
    let word_index = get_word_index(&find(IMDB_WORD_INDEX_FILE)?)?;

    let reviews = read_gz_csv(&reviews_path, &["review", "sentiment"])?;
    let meta = read_gz_csv(
        &meta_path,
        &["row", "split", "label", "id", "rating", "aclimdb_file"],
    )?;
    let meta_shown = meta_path.display();

    // (split, label, file name, review row) for every meta row.
    let mut entries = Vec::with_capacity(meta.len());
    for (line, fields) in meta.iter().enumerate() {
        let line = line + 2;
        let [row, split, label, _id, _rating, file] = fields.as_slice() else {
            bail!(
                "{meta_shown}: line {line} has {} fields instead of 6",
                fields.len()
            );
        };
        let Some(review_row) = row.parse::<usize>().ok().filter(|&r| r < reviews.len()) else {
            bail!(
                "{meta_shown}: line {line} refers to review row {row:?}, but {} has rows 0 to {}",
                reviews_path.display(),
                reviews.len().saturating_sub(1)
            );
        };
        let sentiment = reviews[review_row].get(1).map(String::as_str);
        let expected = match label.as_str() {
            "pos" => "positive",
            "neg" => "negative",
            other => bail!("{meta_shown}: line {line} has label {other:?}, not pos or neg"),
        };
        if sentiment != Some(expected) {
            bail!(
                "{meta_shown}: line {line} says row {review_row} is {label}, but {} gives it \
                 sentiment {sentiment:?}",
                reviews_path.display()
            );
        }
        let name = file.rsplit('/').next().unwrap_or(file);
        entries.push((split.as_str(), label == "pos", name, review_row));
    }

    let lookup: HashMap<&[u8], i64, BuildHasherDefault<FxHasher>> = word_index
        .iter()
        .map(|(word, &rank)| (word.as_bytes(), rank as i64))
        .collect();
    let encode = |row: usize| -> Vec<i64> {
        let mut ranks = Vec::new();
        for_each_token(&reviews[row][0], |token| {
            if let Some(&rank) = lookup.get(token) {
                ranks.push(rank);
            }
        });
        ranks
    };
    let split = |name: &str| -> (Vec<Vec<i64>>, Vec<i64>) {
        let mut rows: Vec<&(&str, bool, &str, usize)> =
            entries.iter().filter(|entry| entry.0 == name).collect();
        // Positive first, then by file name.
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.2.cmp(b.2)));
        let x = rows.iter().map(|entry| encode(entry.3)).collect();
        let y = rows.iter().map(|entry| i64::from(entry.1)).collect();
        (x, y)
    };
    let (x_train, y_train) = split("train");
    let (x_test, y_test) = split("test");
    if x_train.is_empty() || x_test.is_empty() {
        bail!(
            "{meta_shown} should list reviews of both the train and the test split, but has \
             {} train and {} test rows",
            x_train.len(),
            x_test.len()
        );
    }
    Ok(ImdbRaw {
        x_train,
        y_train,
        x_test,
        y_test,
    })
}

/// A gzip-compressed CSV's records after its header, which must be `header`.
fn read_gz_csv(path: &Path, header: &[&str]) -> Result<Vec<Vec<String>>> {
    let shown = path.display();
    let compressed = fs::read(path).with_context(|| format!("cannot read {shown}"))?;
    let mut text = String::new();
    MultiGzDecoder::new(compressed.as_slice())
        .read_to_string(&mut text)
        .with_context(|| {
            format!("{shown} does not decompress as gzipped UTF-8 text; it is corrupt")
        })?;
    let mut records = parse_csv(&text, &shown.to_string())?;
    if records
        .first()
        .map(|first| first.as_slice() != header)
        .unwrap_or(true)
    {
        bail!(
            "{shown} should start with the header {:?}, but starts with {:?}",
            header.join(","),
            records.first().map(|first| first.join(","))
        );
    }
    records.remove(0);
    if let Some((index, record)) = records
        .iter()
        .enumerate()
        .find(|(_, record)| record.len() != header.len())
    {
        bail!(
            "{shown}: record {} has {} fields instead of {}",
            index + 2,
            record.len(),
            header.len()
        );
    }
    Ok(records)
}
