//! Text to token ids, like Keras' `TextVectorization` with its defaults
//! (`standardize="lower_and_strip_punctuation"`, `split="whitespace"`, `output_mode="int"`):
//! lowercase; `<br />` line breaks (as the IMDB reviews hold them) become spaces; ASCII
//! punctuation is removed; whitespace splits. The vocabulary is built by `adapt` from
//! frequencies — id 0 pads, id 1 is out-of-vocabulary (`[UNK]`), then the most frequent
//! tokens (ties by first appearance), `max_tokens` ids in all — and sequences are truncated or
//! padded at the end to `output_sequence_length`, or at the start with `at_start` (the
//! convention of `keras.utils.pad_sequences` and of models trained on `imdb.load_data`).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const PUNCTUATION: &str = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextVectorizer {
    pub max_tokens: usize,
    pub output_sequence_length: usize,
    /// The vocabulary by id: "" (padding), "[UNK]", then tokens by falling frequency.
    pub vocabulary: Vec<String>,
    /// Truncate and pad at the start of a sequence instead of its end.
    #[serde(default)]
    pub at_start: bool,
}

/// Keras' default standardization and whitespace split.
pub fn standardize(text: &str) -> Vec<String> {
    let lower = text
        .to_lowercase()
        .replace("<br />", " ")
        .replace("<br/>", " ");
    let stripped: String = lower
        .chars()
        .filter(|c| !PUNCTUATION.contains(*c))
        .collect();
    stripped.split_whitespace().map(str::to_string).collect()
}

impl TextVectorizer {
    /// Builds the vocabulary from `texts`.
    pub fn adapt<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        max_tokens: usize,
        output_sequence_length: usize,
    ) -> Self {
        let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
        for text in texts {
            for token in standardize(text) {
                let next = counts.len();
                counts.entry(token).or_insert((0, next)).0 += 1;
            }
        }
        let mut ranked: Vec<(String, (usize, usize))> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
        let mut vocabulary = vec![String::new(), "[UNK]".to_string()];
        vocabulary.extend(
            ranked
                .into_iter()
                .take(max_tokens.saturating_sub(2))
                .map(|(t, _)| t),
        );
        Self {
            max_tokens,
            output_sequence_length,
            vocabulary,
            at_start: false,
        }
    }

    /// Truncates and pads at the start (`pre`), as `pad_sequences` does by default.
    pub fn at_start(mut self, at_start: bool) -> Self {
        self.at_start = at_start;
        self
    }

    /// The ids of `text`, `output_sequence_length` of them.
    pub fn transform(&self, text: &str, index: &HashMap<&str, i32>) -> Vec<i32> {
        let ids: Vec<i32> = standardize(text)
            .iter()
            .map(|t| index.get(t.as_str()).copied().unwrap_or(1))
            .collect();
        let len = self.output_sequence_length;
        let kept = ids.len().min(len);
        let mut out = vec![0; len];
        if self.at_start {
            out[len - kept..].copy_from_slice(&ids[ids.len() - kept..]);
        } else {
            out[..kept].copy_from_slice(&ids[..kept]);
        }
        out
    }

    /// Token to id, for `transform`.
    pub fn index(&self) -> HashMap<&str, i32> {
        self.vocabulary
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, t)| (t.as_str(), i as i32))
            .collect()
    }

    /// Every text's ids, one row each.
    pub fn transform_all<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Vec<i32> {
        let index = self.index();
        texts
            .into_iter()
            .flat_map(|t| self.transform(t, &index))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizes_as_keras_does() {
        assert_eq!(
            standardize("Great film!<br /><br />It's a 10/10, truly."),
            ["great", "film", "its", "a", "1010", "truly"]
        );
    }

    #[test]
    fn builds_the_vocabulary_by_frequency_and_pads_at_the_end() {
        let texts = ["b a a", "c a b", "d"];
        let v = TextVectorizer::adapt(texts, 4, 5);
        assert_eq!(v.vocabulary, ["", "[UNK]", "a", "b"]);
        assert_eq!(
            v.transform_all(["a c b", "a a a a a a a"]),
            [2, 1, 3, 0, 0, 2, 2, 2, 2, 2]
        );
        let pre = v.at_start(true);
        assert_eq!(
            pre.transform_all(["a c b", "b b a a a a a"]),
            [0, 0, 2, 1, 3, 2, 2, 2, 2, 2]
        );
    }
}
