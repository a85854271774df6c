//! Keras' `pad_sequences`: variable-length id sequences into one row-major
//! `rows x cols` matrix, padding short rows and truncating long ones.

/// Where [`pad_sequences`] adds padding to a short sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Padding {
    /// Before the sequence (Keras' default).
    #[default]
    Pre,
    /// After the sequence.
    Post,
}

/// Which end [`pad_sequences`] cuts from a long sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Truncating {
    /// Drop the first values, keeping the last `maxlen` (Keras' default).
    #[default]
    Pre,
    /// Drop the last values, keeping the first `maxlen`.
    Post,
}

/// `keras.utils.pad_sequences(seqs, maxlen, padding=..., truncating=..., value=...)`
/// with `dtype="int32"`. Returns the row-major data with its row and column
/// counts; `cols` is `maxlen`, or the longest sequence's length when `None`.
pub fn pad_sequences<S: AsRef<[i32]>>(
    seqs: &[S],
    maxlen: Option<usize>,
    padding: Padding,
    truncating: Truncating,
    value: i32,
) -> (Vec<i32>, usize, usize) {
    let rows = seqs.len();
    let cols =
        maxlen.unwrap_or_else(|| seqs.iter().map(|seq| seq.as_ref().len()).max().unwrap_or(0));
    let mut data = vec![value; rows * cols];
    for (row, seq) in data.chunks_exact_mut(cols.max(1)).zip(seqs) {
        let seq = seq.as_ref();
        let kept = match truncating {
            Truncating::Pre => &seq[seq.len().saturating_sub(cols)..],
            Truncating::Post => &seq[..seq.len().min(cols)],
        };
        match padding {
            Padding::Pre => row[cols - kept.len()..].copy_from_slice(kept),
            Padding::Post => row[..kept.len()].copy_from_slice(kept),
        }
    }
    (data, rows, cols)
}
