mod common;

use std::collections::HashMap;
use std::fs;

use common::{
    assert_mentions, fixture_json, fixture_path, json_i64s, npy_bytes, zip_bytes, TempDir,
};
use wgtrain_data::{
    decode_review, get_word_index, load_imdb, pad_sequences, read_imdb_npz, Imdb, ImdbOptions,
    Padding, ReverseWordIndex, Truncating,
};

/// `load_data` keyword arguments from the fixture as [`ImdbOptions`].
fn options(kwargs: &serde_json::Value) -> ImdbOptions {
    let mut options = ImdbOptions::default();
    for (key, value) in kwargs.as_object().unwrap() {
        let int = || value.as_i64();
        match key.as_str() {
            "num_words" => options.num_words = int().map(|n| n as usize),
            "skip_top" => options.skip_top = int().unwrap() as usize,
            "maxlen" => options.maxlen = int().map(|n| n as usize),
            "seed" => options.seed = value.as_u64().unwrap(),
            "start_char" => options.start_char = int().map(|n| n as i32),
            "oov_char" => options.oov_char = int().map(|n| n as i32),
            "index_from" => options.index_from = int().unwrap() as i32,
            other => panic!("unknown load_data option {other}"),
        }
    }
    options
}

fn lists(value: &serde_json::Value) -> Vec<Vec<i32>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|seq| json_i64s(seq).into_iter().map(|v| v as i32).collect())
        .collect()
}

fn labels(value: &serde_json::Value) -> Vec<i32> {
    json_i64s(value).into_iter().map(|v| v as i32).collect()
}

#[test]
fn tiny_dataset_matches_keras_for_every_option_combination() {
    let fixture = fixture_json("imdb_fixture.json");
    let path = fixture_path("tiny_imdb.npz");
    let variants = fixture["tiny"].as_array().unwrap();
    assert!(variants.len() >= 10);
    for variant in variants {
        let opts = options(&variant["options"]);
        let imdb = load_imdb(&path, &opts).unwrap_or_else(|e| panic!("{opts:?}: {e:#}"));
        let expected = Imdb {
            x_train: lists(&variant["x_train"]),
            y_train: labels(&variant["y_train"]),
            x_test: lists(&variant["x_test"]),
            y_test: labels(&variant["y_test"]),
        };
        assert_eq!(imdb, expected, "load_data({})", variant["options"]);
    }
}

#[test]
fn maxlen_that_keeps_nothing_is_an_error() {
    let opts = ImdbOptions {
        maxlen: Some(1),
        ..ImdbOptions::default()
    };
    let err = load_imdb(&fixture_path("tiny_imdb.npz"), &opts).unwrap_err();
    assert_mentions(&err, &["tiny_imdb.npz", "maxlen=1", "increase maxlen"]);
    let opts = ImdbOptions {
        seed: 1 << 32,
        ..ImdbOptions::default()
    };
    assert_mentions(
        &load_imdb(&fixture_path("tiny_imdb.npz"), &opts).unwrap_err(),
        &["seed"],
    );
}

#[test]
fn finds_the_archive_in_a_directory_or_its_imdb_subdirectory() {
    let tmp = TempDir::new("imdb-find");
    let bytes = fs::read(fixture_path("tiny_imdb.npz")).unwrap();
    let opts = ImdbOptions::default();
    let msg = format!("{:#}", load_imdb(tmp.path(), &opts).unwrap_err());
    assert!(msg.contains("neither imdb.npz nor imdb/imdb.npz"), "{msg}");
    fs::create_dir_all(tmp.join("imdb")).unwrap();
    fs::write(tmp.join("imdb").join("imdb.npz"), &bytes).unwrap();
    assert_eq!(load_imdb(tmp.path(), &opts).unwrap().n_train(), 40);
    let absent = tmp.join("absent");
    assert_mentions(&load_imdb(&absent, &opts).unwrap_err(), &["does not exist"]);
}

#[test]
fn archives_without_the_imdb_arrays_are_rejected() {
    let tmp = TempDir::new("imdb-bad");
    let labels = npy_bytes("<i8", false, &[1], &1i64.to_le_bytes());
    let path = tmp.join("imdb.npz");
    fs::write(&path, zip_bytes(&[("y_train.npy", &labels)], true)).unwrap();
    assert_mentions(
        &read_imdb_npz(&path).unwrap_err(),
        &["imdb.npz", "no array \"x_train\"", "y_train"],
    );
    // x_train must be an object array of lists, not numbers.
    fs::write(
        &path,
        zip_bytes(&[("x_train.npy", &labels), ("y_train.npy", &labels)], false),
    )
    .unwrap();
    assert_mentions(
        &read_imdb_npz(&path).unwrap_err(),
        &["imdb.npz", "x_train", "int64"],
    );
}

#[test]
fn pad_sequences_matches_keras() {
    let fixture = fixture_json("imdb_fixture.json");
    let pad = &fixture["pad_sequences"];
    let seqs = lists(&pad["sequences"]);
    for case in pad["cases"].as_array().unwrap() {
        let opts = &case["options"];
        let maxlen = opts.get("maxlen").map(|m| m.as_u64().unwrap() as usize);
        let padding = match opts.get("padding").and_then(|p| p.as_str()) {
            Some("post") => Padding::Post,
            _ => Padding::Pre,
        };
        let truncating = match opts.get("truncating").and_then(|t| t.as_str()) {
            Some("post") => Truncating::Post,
            _ => Truncating::Pre,
        };
        let value = opts.get("value").map_or(0, |v| v.as_i64().unwrap() as i32);
        let (data, rows, cols) = pad_sequences(&seqs, maxlen, padding, truncating, value);
        let expected = lists(&case["rows"]);
        assert_eq!(rows, expected.len(), "{opts}");
        assert_eq!(cols, expected[0].len(), "{opts}");
        assert_eq!(data, expected.concat(), "{opts}");
    }
}

#[test]
fn pad_sequences_edge_cases() {
    let none: [Vec<i32>; 0] = [];
    assert_eq!(
        pad_sequences(&none, None, Padding::Pre, Truncating::Pre, 0),
        (vec![], 0, 0)
    );
    let seqs = [vec![1, 2, 3], vec![4]];
    assert_eq!(
        pad_sequences(&seqs, Some(0), Padding::Pre, Truncating::Pre, 0),
        (vec![], 2, 0)
    );
    assert_eq!(
        pad_sequences(&seqs, Some(2), Padding::Post, Truncating::Post, -1),
        (vec![1, 2, 4, -1], 2, 2)
    );
    assert_eq!(
        pad_sequences(&seqs, Some(2), Padding::Pre, Truncating::Pre, 0),
        (vec![2, 3, 0, 4], 2, 2)
    );
    let slices: Vec<&[i32]> = vec![&[5], &[6, 7]];
    assert_eq!(
        pad_sequences(&slices, None, Padding::default(), Truncating::default(), 0),
        (vec![0, 5, 6, 7], 2, 2)
    );
}

#[test]
fn word_index_and_decoding() {
    let tmp = TempDir::new("imdb-words");
    let path = tmp.join("imdb_word_index.json");
    fs::write(&path, r#"{"the": 1, "and": 2, "film": 3, "good": 4}"#).unwrap();
    let index = get_word_index(&path).unwrap();
    assert_eq!(index.len(), 4);
    assert_eq!(
        get_word_index(tmp.path()).unwrap(),
        index,
        "a directory works too"
    );
    // 0 pad, 1 start, 2 OOV, then ranks + 3; 99 has no word.
    let ids = [0, 1, 4, 6, 2, 7, 99];
    assert_eq!(decode_review(&ids, &index, 3), "? ? the film ? good ?");
    let reverse = ReverseWordIndex::new(&index);
    assert_eq!(reverse.decode(&[1, 2, 3], 0), "the and film");
    assert_eq!(reverse.word(2), Some("and"));
    assert_eq!(reverse.word(-1), None);

    for (text, needle) in [
        ("{\"the\": 1", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("{\"the\": -1}", "not a non-negative integer"),
    ] {
        fs::write(&path, text).unwrap();
        assert_mentions(
            &get_word_index(&path).unwrap_err(),
            &[&path.display().to_string(), needle],
        );
    }
    let empty: HashMap<String, usize> = HashMap::new();
    assert_eq!(decode_review(&[1, 5], &empty, 3), "? ?");
}

#[test]
fn tokenizer_follows_keras_filters() {
    assert_eq!(
        wgtrain_data::imdb_tokens("Hello, World!<br />It's a \"TEST\"\tx\u{a0}y  Ünï"),
        vec!["hello", "world", "br", "it's", "a", "test", "x\u{a0}y", "Ünï"]
    );
    assert!(wgtrain_data::imdb_tokens(" ,.!? ").is_empty());
}
