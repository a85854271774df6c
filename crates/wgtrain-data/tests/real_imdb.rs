//! Checks against the real IMDB files in shared/datasets/imdb (or
//! `$WGTRAIN_IMDB_DIR`): published facts about Keras' `load_data`, and the
//! fixture computed with Keras 3.15.1 and numpy 2.4.6 on the same file.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use common::{fixture_json, json_i64s, real_data_dir};
use wgtrain_data::{
    get_word_index, load_imdb, prepare_imdb, read_imdb_npz, rebuild_imdb_from_text, Imdb,
    ImdbOptions, ImdbRaw, ReverseWordIndex, IMDB_NPZ_FILE,
};

fn imdb_dir() -> Option<PathBuf> {
    real_data_dir("WGTRAIN_IMDB_DIR", "imdb")
}

/// The stored arrays, read once for all tests in this file.
fn raw() -> Option<&'static ImdbRaw> {
    static RAW: OnceLock<Option<ImdbRaw>> = OnceLock::new();
    RAW.get_or_init(|| {
        imdb_dir().map(|dir| {
            read_imdb_npz(&dir.join(IMDB_NPZ_FILE)).unwrap_or_else(|err| panic!("{err:#}"))
        })
    })
    .as_ref()
}

fn options(kwargs: &serde_json::Value) -> ImdbOptions {
    let mut options = ImdbOptions::default();
    for (key, value) in kwargs.as_object().unwrap() {
        match key.as_str() {
            "num_words" => options.num_words = value.as_u64().map(|n| n as usize),
            "skip_top" => options.skip_top = value.as_u64().unwrap() as usize,
            "maxlen" => options.maxlen = value.as_u64().map(|n| n as usize),
            "start_char" => options.start_char = value.as_i64().map(|n| n as i32),
            "oov_char" => options.oov_char = value.as_i64().map(|n| n as i32),
            other => panic!("unexpected option {other}"),
        }
    }
    options
}

fn sum(seqs: &[Vec<i32>]) -> (i64, i64) {
    let len = seqs.iter().map(|s| s.len() as i64).sum();
    let ids = seqs.iter().flatten().map(|&id| i64::from(id)).sum();
    (len, ids)
}

fn firsts(seqs: &[Vec<i32>], n: usize, len: usize) -> Vec<Vec<i64>> {
    seqs[..n]
        .iter()
        .map(|s| {
            s[..len.min(s.len())]
                .iter()
                .map(|&id| i64::from(id))
                .collect()
        })
        .collect()
}

fn assert_matches_fixture(imdb: &Imdb, expected: &serde_json::Value) {
    let label = &expected["options"];
    let int = |key: &str| expected[key].as_i64().unwrap();
    assert_eq!(imdb.x_train.len() as i64, int("n_train"), "{label}");
    assert_eq!(imdb.x_test.len() as i64, int("n_test"), "{label}");
    assert_eq!(imdb.y_train.len(), imdb.x_train.len());
    assert_eq!(imdb.y_test.len(), imdb.x_test.len());
    assert_eq!(
        sum(&imdb.x_train),
        (int("train_len_sum"), int("train_id_sum")),
        "{label}"
    );
    assert_eq!(
        sum(&imdb.x_test),
        (int("test_len_sum"), int("test_id_sum")),
        "{label}"
    );
    let y_sum = |y: &[i32]| y.iter().map(|&v| i64::from(v)).sum::<i64>();
    assert_eq!(y_sum(&imdb.y_train), int("y_train_sum"), "{label}");
    assert_eq!(y_sum(&imdb.y_test), int("y_test_sum"), "{label}");
    let lists = |key: &str| -> Vec<Vec<i64>> {
        expected[key]
            .as_array()
            .unwrap()
            .iter()
            .map(json_i64s)
            .collect()
    };
    assert_eq!(
        firsts(&imdb.x_train, 3, 30),
        lists("x_train_first30"),
        "{label}"
    );
    assert_eq!(
        firsts(&imdb.x_test, 3, 30),
        lists("x_test_first30"),
        "{label}"
    );
    let lens =
        |seqs: &[Vec<i32>]| -> Vec<i64> { seqs[..20].iter().map(|s| s.len() as i64).collect() };
    assert_eq!(
        lens(&imdb.x_train),
        json_i64s(&expected["train_lens20"]),
        "{label}"
    );
    assert_eq!(
        lens(&imdb.x_test),
        json_i64s(&expected["test_lens20"]),
        "{label}"
    );
    let first20 = |y: &[i32]| -> Vec<i64> { y[..20].iter().map(|&v| i64::from(v)).collect() };
    assert_eq!(
        first20(&imdb.y_train),
        json_i64s(&expected["y_train20"]),
        "{label}"
    );
    assert_eq!(
        first20(&imdb.y_test),
        json_i64s(&expected["y_test20"]),
        "{label}"
    );
}

#[test]
fn stored_arrays_have_the_documented_shape() {
    let Some(raw) = raw() else { return };
    assert_eq!((raw.x_train.len(), raw.x_test.len()), (25_000, 25_000));
    assert_eq!(raw.y_train.iter().sum::<i64>(), 12_500);
    assert_eq!(raw.y_test.iter().sum::<i64>(), 12_500);
    let ranks: HashSet<i64> = raw
        .x_train
        .iter()
        .chain(&raw.x_test)
        .flatten()
        .copied()
        .collect();
    let fixture = fixture_json("imdb_fixture.json");
    assert_eq!(
        ranks.len() as i64,
        fixture["real_distinct_raw_ids"].as_i64().unwrap()
    );
    assert_eq!(ranks.len(), 88_584);
    assert_eq!(
        (ranks.iter().min(), ranks.iter().max()),
        (Some(&1), Some(&88_584))
    );
}

#[test]
fn default_load_matches_published_facts() {
    let Some(raw) = raw() else { return };
    let imdb = prepare_imdb(raw, &ImdbOptions::default()).unwrap();
    assert_eq!((imdb.n_train(), imdb.n_test()), (25_000, 25_000));
    assert_eq!(imdb.y_train[..10], [1, 0, 0, 1, 0, 0, 1, 0, 1, 0]);
    assert_eq!(imdb.x_train[0].len(), 218);
    assert_eq!(imdb.x_test[0].len(), 68);
    assert_eq!(imdb.x_train[1].len(), 189);
    let ids: HashSet<i32> = imdb
        .x_train
        .iter()
        .chain(&imdb.x_test)
        .flatten()
        .copied()
        .collect();
    assert_eq!(ids.len(), 88_585);
    let lengths: Vec<f64> = imdb
        .x_train
        .iter()
        .chain(&imdb.x_test)
        .map(|s| s.len() as f64)
        .collect();
    let mean = lengths.iter().sum::<f64>() / lengths.len() as f64;
    let std =
        (lengths.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lengths.len() as f64).sqrt();
    assert!((mean - 234.76).abs() < 0.005, "mean length {mean}");
    assert!((std - 172.911_495).abs() < 1e-5, "std of length {std}");
    assert_eq!(imdb.y_train_f32()[..4], [1.0, 0.0, 0.0, 1.0]);
}

#[test]
fn load_data_variants_match_keras() {
    let Some(raw) = raw() else { return };
    let fixture = fixture_json("imdb_fixture.json");
    let variants = fixture["real"].as_array().unwrap();
    assert_eq!(variants.len(), 4);
    for expected in variants {
        let imdb = prepare_imdb(raw, &options(&expected["options"])).unwrap();
        assert_matches_fixture(&imdb, expected);
    }
}

#[test]
fn load_imdb_reads_the_directory() {
    let Some(dir) = imdb_dir() else { return };
    let opts = ImdbOptions {
        num_words: Some(10_000),
        ..ImdbOptions::default()
    };
    let imdb = load_imdb(&dir, &opts).unwrap_or_else(|err| panic!("{err:#}"));
    assert_eq!(imdb.n_train(), 25_000);
    assert!(imdb
        .x_train
        .iter()
        .flatten()
        .all(|&id| (1..10_000).contains(&id)));
    assert_eq!(imdb.x_train[0][..4], [1, 14, 22, 16]);
}

#[test]
fn reviews_decode_to_readable_words() {
    let (Some(raw), Some(dir)) = (raw(), imdb_dir()) else {
        return;
    };
    let index = get_word_index(&dir).unwrap_or_else(|err| panic!("{err:#}"));
    assert_eq!(index.len(), 88_584);
    assert_eq!(index["the"], 1);
    let imdb = prepare_imdb(raw, &ImdbOptions::default()).unwrap();
    let reverse = ReverseWordIndex::new(&index);
    let text = reverse.decode(&imdb.x_train[0], 3);
    assert!(
        text.starts_with("? this film was just brilliant casting location scenery story"),
        "{text}"
    );
    assert_eq!(text.split(' ').count(), 218);
    let test_text = reverse.decode(&imdb.x_test[0], 3);
    assert!(
        test_text.starts_with("? please give this one a miss"),
        "{test_text}"
    );
}

#[test]
fn raw_text_rebuilds_the_same_sequences() {
    let (Some(raw), Some(dir)) = (raw(), imdb_dir()) else {
        return;
    };
    let rebuilt = rebuild_imdb_from_text(&dir).unwrap_or_else(|err| panic!("{err:#}"));
    assert_eq!(rebuilt.y_train, raw.y_train);
    assert_eq!(rebuilt.y_test, raw.y_test);
    for (split, (a, b)) in [
        ("train", (&rebuilt.x_train, &raw.x_train)),
        ("test", (&rebuilt.x_test, &raw.x_test)),
    ] {
        assert_eq!(a.len(), b.len(), "{split}");
        if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
            panic!(
                "{split} review {i} differs: {:?}... vs {:?}...",
                &a[i][..a[i].len().min(10)],
                &b[i][..b[i].len().min(10)]
            );
        }
    }
}
