mod common;

use common::{assert_mentions, fixture_json, json_i64s, npy_bytes, unhex};
use wgtrain_data::npy::{parse_npy, NpyData};
use wgtrain_data::pickle::unpickle_int_lists;

/// The pickle stream of a numpy-written `.npy` file (the bytes after its header).
fn payload(npy: &[u8]) -> Vec<u8> {
    let header_len = usize::from(u16::from_le_bytes([npy[8], npy[9]]));
    npy[10 + header_len..].to_vec()
}

fn samples() -> Vec<serde_json::Value> {
    fixture_json("npy_samples.json")["pickled"]
        .as_array()
        .unwrap()
        .clone()
}

fn expected_lists(sample: &serde_json::Value) -> Vec<Vec<i64>> {
    sample["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(json_i64s)
        .collect()
}

#[test]
fn reads_object_arrays_written_by_numpy_with_protocols_2_to_5() {
    for sample in samples() {
        let label = format!(
            "protocol {} old spelling {} shape {}",
            sample["protocol"], sample["old_spelling"], sample["shape"]
        );
        let bytes = unhex(sample["hex"].as_str().unwrap());
        let array = parse_npy(&bytes, &label).unwrap_or_else(|e| panic!("{label}: {e:#}"));
        let shape: Vec<usize> = json_i64s(&sample["shape"])
            .iter()
            .map(|&d| d as usize)
            .collect();
        assert_eq!(array.shape, shape, "{label}");
        assert_eq!(
            array.data,
            NpyData::IntLists(expected_lists(&sample)),
            "{label}"
        );
    }
}

/// Builds a pickle by hand, Python-2 style: GLOBAL opcodes, BINSTRING text,
/// BINPUT memo entries, INT text operands, LIST from a MARK and tuples.
#[test]
fn reads_a_python2_style_pickle() {
    let mut p = vec![0x80, 2];
    p.extend_from_slice(b"cnumpy.core.multiarray\n_reconstruct\nq\x01");
    p.extend_from_slice(b"cnumpy\nndarray\nq\x02");
    p.extend_from_slice(b"K\x00\x85U\x01b\x87R");
    // state: (1, (2,), dtype('O8', 0, 1), False, [[7, 300000], (-1, 5)])
    p.extend_from_slice(b"(K\x01K\x02\x85cnumpy\ndtype\nU\x02O8K\x00K\x01\x87R");
    p.extend_from_slice(b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb");
    p.push(0x89);
    p.extend_from_slice(b"(]q\x03(K\x07J\xe0\x93\x04\x00e(J\xff\xff\xff\xffI5\nt");
    p.extend_from_slice(b"ltb.");
    let array = unpickle_int_lists(&p, "py2.pickle").unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(array.shape, vec![2]);
    assert_eq!(array.items, vec![vec![7, 300_000], vec![-1, 5]]);
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for sample in samples() {
        let pickle = payload(&unhex(sample["hex"].as_str().unwrap()));
        for len in 0..pickle.len() {
            let err = unpickle_int_lists(&pickle[..len], "cut.pkl")
                .expect_err("a truncated pickle must not parse");
            assert_mentions(&err, &["cut.pkl"]);
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let sample = &samples()[2];
    let pickle = payload(&unhex(sample["hex"].as_str().unwrap()));
    for index in 0..pickle.len() {
        for replacement in [0x00, 0x28, 0x2e, 0x5d, 0x65, 0x74, 0x94, 0xff] {
            let mut bytes = pickle.clone();
            bytes[index] = replacement;
            // Either outcome is fine; the call must simply return.
            let _ = unpickle_int_lists(&bytes, "flip.pkl");
        }
    }
}

#[test]
fn malformed_pickles_explain_themselves() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "truncated"),
        ("protocol", vec![0x80, 9, b'.'], "protocol 9"),
        ("opcode", vec![0x80, 4, b'}', b'.'], "EMPTY_DICT"),
        ("unknown", vec![0x80, 4, 0xf0], "0xf0"),
        ("underflow", vec![0x80, 4, b'a'], "underflow"),
        ("stop-empty", vec![0x80, 4, b'.'], "underflow"),
        ("mark", vec![0x80, 4, b'e'], "MARK"),
        ("memo", vec![0x80, 4, b'h', 7], "memo entry 7"),
        (
            "global",
            b"\x80\x02cos\nsystem\n.".to_vec(),
            "refusing the global os.system",
        ),
        ("not-array", vec![0x80, 4, b']', b'.'], "not a numpy array"),
        (
            "long",
            [vec![0x80, 4, 0x8a, 9], vec![1; 9]].concat(),
            "64 bits",
        ),
        (
            "frame",
            vec![0x80, 4, 0x95, 100, 0, 0, 0, 0, 0, 0, 0],
            "FRAME",
        ),
        (
            "string-length",
            vec![0x80, 4, b'X', 0xff, 0xff, 0xff, 0x7f, b'a'],
            "truncated",
        ),
        ("utf8", vec![0x80, 4, 0x8c, 1, 0xff], "UTF-8"),
        (
            "append-target",
            vec![0x80, 4, b'K', 1, b'K', 2, b'a'],
            "list",
        ),
        (
            "deep",
            [vec![0x80, 4, b'N'], vec![0x85; 40]].concat(),
            "nest",
        ),
    ];
    for (name, bytes, needle) in cases {
        let source = format!("{name}.pkl");
        let err = unpickle_int_lists(&bytes, &source).expect_err(name);
        assert_mentions(&err, &[&source, needle]);
    }
}

#[test]
fn wrong_contents_are_reported() {
    // A valid pickle of the object array [[1], "x"] — the second element is a string.
    let mut p = vec![0x80, 2];
    p.extend_from_slice(b"cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n");
    p.extend_from_slice(b"K\x00\x85C\x01b\x87R");
    p.extend_from_slice(b"(K\x01K\x02\x85cnumpy\ndtype\n\x8c\x02O8\x89\x88\x87R");
    p.extend_from_slice(b"\x89(]K\x01a\x8c\x01xltb.");
    assert_mentions(
        &unpickle_int_lists(&p, "mixed.pkl").unwrap_err(),
        &["mixed.pkl", "element 1", "str"],
    );
    // The header's shape must agree with the pickle's.
    let npy = [npy_bytes("|O", false, &[3], &[])[..].to_vec(), p].concat();
    let msg = format!("{:#}", parse_npy(&npy, "shape.npy").unwrap_err());
    assert!(msg.contains("shape.npy"), "{msg}");
}
