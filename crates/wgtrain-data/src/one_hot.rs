/// Keras' `to_categorical`: turns `labels` into a row-major `labels.len() x classes`
/// matrix with a 1.0 in each row at the label's column.
///
/// A label `>= classes` has no column to mark, so its row stays all zeros.
pub fn one_hot(labels: &[u8], classes: usize) -> Vec<f32> {
    let mut encoded = vec![0.0; labels.len() * classes];
    for (row, &label) in encoded.chunks_exact_mut(classes.max(1)).zip(labels) {
        if let Some(cell) = row.get_mut(usize::from(label)) {
            *cell = 1.0;
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::one_hot;

    #[test]
    fn marks_one_column_per_row() {
        let encoded = one_hot(&[2, 0, 1], 3);
        assert_eq!(
            encoded,
            vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            "each row should hold a single 1.0 at the label's index"
        );
    }

    #[test]
    fn out_of_range_label_leaves_row_zero() {
        assert_eq!(one_hot(&[5, 1], 2), vec![0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn zero_classes_gives_empty_output() {
        assert!(one_hot(&[0, 1], 0).is_empty());
        assert!(one_hot(&[], 10).is_empty());
    }
}
