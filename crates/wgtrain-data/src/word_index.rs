//! IMDB's word index (`imdb_word_index.json`: word → frequency rank, 1 = "the")
//! and turning id sequences back into words.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::imdb::{find_imdb_file, IMDB_WORD_INDEX_FILE};

/// What [`ReverseWordIndex::decode`] shows for padding, start, out-of-vocabulary
/// and unknown ids, as the usual Keras recipe
/// (`reverse_word_index.get(i - 3, "?")`) does.
pub const UNKNOWN_WORD: &str = "?";

/// `keras.datasets.imdb.get_word_index()`: reads `imdb_word_index.json`.
/// `path` is the file, or a directory holding it directly or in `imdb/`.
pub fn get_word_index(path: &Path) -> Result<HashMap<String, usize>> {
    let file = find_imdb_file(path, IMDB_WORD_INDEX_FILE)?;
    let text = fs::read_to_string(&file)
        .with_context(|| format!("cannot read word index {}", file.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not valid JSON; the file is corrupt or incomplete",
            file.display()
        )
    })?;
    let serde_json::Value::Object(entries) = value else {
        bail!(
            "{} should hold a JSON object mapping words to ranks",
            file.display()
        );
    };
    entries
        .into_iter()
        .map(
            |(word, rank)| match rank.as_u64().and_then(|r| usize::try_from(r).ok()) {
                Some(rank) => Ok((word, rank)),
                None => bail!(
                    "{}: the rank of {word:?} is {rank}, not a non-negative integer",
                    file.display()
                ),
            },
        )
        .collect()
}

/// Ranks → words, for decoding many reviews without rebuilding the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseWordIndex {
    words: HashMap<usize, String>,
}

impl ReverseWordIndex {
    pub fn new(word_index: &HashMap<String, usize>) -> Self {
        let mut words: HashMap<usize, String> = HashMap::with_capacity(word_index.len());
        for (word, &rank) in word_index {
            // Ranks are unique in Keras' file; should two words share one,
            // keep the same (smaller) one whatever the map's order.
            let slot = words.entry(rank).or_insert_with(|| word.clone());
            if word < slot {
                slot.clone_from(word);
            }
        }
        Self { words }
    }

    /// The word of frequency rank `rank`, if any.
    pub fn word(&self, rank: i64) -> Option<&str> {
        let rank = usize::try_from(rank).ok()?;
        self.words.get(&rank).map(String::as_str)
    }

    /// The words of `ids`, separated by spaces: id `i` is the word of rank
    /// `i - index_from`; ids with no word (0 padding, 1 start, 2 OOV with the
    /// default offsets) appear as [`UNKNOWN_WORD`].
    pub fn decode(&self, ids: &[i32], index_from: i32) -> String {
        ids.iter()
            .map(|&id| {
                self.word(i64::from(id) - i64::from(index_from))
                    .unwrap_or(UNKNOWN_WORD)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Decodes one review; see [`ReverseWordIndex::decode`], which is faster for
/// many reviews.
pub fn decode_review(ids: &[i32], word_index: &HashMap<String, usize>, index_from: i32) -> String {
    ReverseWordIndex::new(word_index).decode(ids, index_from)
}
