mod common;

use std::fs;

use common::{assert_mentions, npy_bytes, zip_bytes, TempDir};
use wgtrain_data::npy::NpyData;
use wgtrain_data::Npz;

fn members() -> (Vec<u8>, Vec<u8>) {
    let a = npy_bytes("<f4", false, &[2], &[0, 0, 128, 63, 0, 0, 0, 64]);
    let b = npy_bytes("|u1", false, &[3], &[7, 8, 9]);
    (a, b)
}

#[test]
fn reads_stored_and_deflated_archives() {
    let tmp = TempDir::new("npz-read");
    let (a, b) = members();
    for deflated in [false, true] {
        let path = tmp.join(&format!("arrays-{deflated}.npz"));
        fs::write(&path, zip_bytes(&[("a.npy", &a), ("b.npy", &b)], deflated)).unwrap();
        let mut npz = Npz::open(&path).unwrap();
        assert_eq!(npz.keys(), vec!["a", "b"]);
        assert_eq!(npz.array("a").unwrap().data, NpyData::F32(vec![1.0, 2.0]));
        assert_eq!(npz.array("b.npy").unwrap().data, NpyData::U8(vec![7, 8, 9]));
        assert_eq!(npz.path(), path);
    }
}

#[test]
fn wrong_key_lists_the_keys_that_exist() {
    let tmp = TempDir::new("npz-key");
    let (a, b) = members();
    let path = tmp.join("arrays.npz");
    fs::write(&path, zip_bytes(&[("a.npy", &a), ("b.npy", &b)], true)).unwrap();
    let mut npz = Npz::open(&path).unwrap();
    assert_mentions(
        &npz.array("x_train").unwrap_err(),
        &[&path.display().to_string(), "\"x_train\"", "a, b"],
    );
}

#[test]
fn corrupt_archives_give_errors_naming_the_file() {
    let tmp = TempDir::new("npz-corrupt");
    let (a, b) = members();
    let good = zip_bytes(&[("a.npy", &a), ("b.npy", &b)], true);
    let path = tmp.join("bad.npz");
    let shown = path.display().to_string();

    for (name, bytes) in [
        ("empty", Vec::new()),
        ("not-zip", b"\x93NUMPY this is not a zip".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
    ] {
        fs::write(&path, &bytes).unwrap();
        let err = Npz::open(&path)
            .err()
            .unwrap_or_else(|| panic!("{name} opened"));
        assert_mentions(&err, &[&shown, "not a valid .npz"]);
    }

    // Damage the compressed data of the first member but keep the directory.
    let mut damaged = good.clone();
    let data_start = 30 + "a.npy".len();
    for byte in &mut damaged[data_start..data_start + 20] {
        *byte ^= 0x5a;
    }
    fs::write(&path, &damaged).unwrap();
    let mut npz = Npz::open(&path).unwrap();
    assert_mentions(&npz.array("a").unwrap_err(), &[&shown, "a.npy"]);

    // A member that is not a valid .npy: the error names archive and member.
    let npy_cut = &a[..a.len() - 1];
    fs::write(&path, zip_bytes(&[("a.npy", npy_cut)], false)).unwrap();
    let mut npz = Npz::open(&path).unwrap();
    assert_mentions(
        &npz.array("a").unwrap_err(),
        &[&format!("{shown}:a.npy"), "truncated"],
    );

    let absent = tmp.join("absent.npz");
    assert_mentions(
        &Npz::open(&absent).err().unwrap(),
        &["cannot open npz file", &absent.display().to_string()],
    );
}
