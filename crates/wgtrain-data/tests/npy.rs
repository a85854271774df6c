mod common;

use std::fs;

use common::{
    assert_mentions, fixture_json, json_i64s, npy_bytes, npy_header, npy_with_header, unhex,
    TempDir,
};
use wgtrain_data::npy::{parse_npy, read_npy, NpyArray, NpyData};

fn le<T: Copy, const N: usize>(values: &[T], to_le: fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| to_le(v)).collect()
}

#[test]
fn reads_every_numeric_dtype() {
    let cases: Vec<(&str, Vec<u8>, NpyData)> = vec![
        ("|i1", vec![0xff, 0x7f], NpyData::I8(vec![-1, 127])),
        (
            "<i2",
            le(&[-2i16, 300], i16::to_le_bytes),
            NpyData::I16(vec![-2, 300]),
        ),
        (
            "<i4",
            le(&[-3i32, 1 << 30], i32::to_le_bytes),
            NpyData::I32(vec![-3, 1 << 30]),
        ),
        (
            "<i8",
            le(&[-4i64, 1 << 40], i64::to_le_bytes),
            NpyData::I64(vec![-4, 1 << 40]),
        ),
        ("|u1", vec![0, 255], NpyData::U8(vec![0, 255])),
        (
            "<u2",
            le(&[5u16, 65535], u16::to_le_bytes),
            NpyData::U16(vec![5, 65535]),
        ),
        (
            "<u4",
            le(&[6u32, u32::MAX], u32::to_le_bytes),
            NpyData::U32(vec![6, u32::MAX]),
        ),
        (
            "<u8",
            le(&[7u64, u64::MAX], u64::to_le_bytes),
            NpyData::U64(vec![7, u64::MAX]),
        ),
        (
            "<f4",
            le(&[1.5f32, -0.25], f32::to_le_bytes),
            NpyData::F32(vec![1.5, -0.25]),
        ),
        (
            "<f8",
            le(&[2.5f64, -1e300], f64::to_le_bytes),
            NpyData::F64(vec![2.5, -1e300]),
        ),
        ("|b1", vec![0, 1], NpyData::Bool(vec![false, true])),
        (
            ">i4",
            vec![0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe],
            NpyData::I32(vec![258, -2]),
        ),
    ];
    for (descr, data, expected) in cases {
        let bytes = npy_bytes(descr, false, &[2], &data);
        let array = parse_npy(&bytes, "case.npy").unwrap_or_else(|e| panic!("{descr}: {e:#}"));
        assert_eq!(array.shape, vec![2], "{descr}");
        assert_eq!(array.data, expected, "{descr}");
    }
}

#[test]
fn fortran_order_is_returned_row_major() {
    // The 2x3 matrix [[1, 2, 3], [4, 5, 6]] stored column by column.
    let column_major = le(&[1i32, 4, 2, 5, 3, 6], i32::to_le_bytes);
    let array = parse_npy(&npy_bytes("<i4", true, &[2, 3], &column_major), "f.npy").unwrap();
    assert_eq!(array.shape, vec![2, 3]);
    assert_eq!(array.data, NpyData::I32(vec![1, 2, 3, 4, 5, 6]));
    let row_major = le(&[1i32, 2, 3, 4, 5, 6], i32::to_le_bytes);
    let c = parse_npy(&npy_bytes("<i4", false, &[2, 3], &row_major), "c.npy").unwrap();
    assert_eq!(c, array);
}

#[test]
fn header_versions_one_two_and_three() {
    let data = le(&[1.0f32, 2.0, 3.0], f32::to_le_bytes);
    let header = npy_header("<f4", false, &[3]);
    for version in [(1, 0), (2, 0), (3, 0)] {
        let bytes = npy_with_header(&header, version, &data);
        let array = parse_npy(&bytes, "v.npy").unwrap_or_else(|e| panic!("{version:?}: {e:#}"));
        assert_eq!(array.data, NpyData::F32(vec![1.0, 2.0, 3.0]), "{version:?}");
    }
    let msg = format!(
        "{:#}",
        parse_npy(&npy_with_header(&header, (4, 0), &data), "v4.npy").unwrap_err()
    );
    assert!(
        msg.contains("v4.npy") && msg.contains("version 4.0"),
        "{msg}"
    );
}

#[test]
fn scalars_and_empty_arrays() {
    let scalar = parse_npy(&npy_bytes("<i8", false, &[], &7i64.to_le_bytes()), "s").unwrap();
    assert!(scalar.shape.is_empty());
    assert_eq!(scalar.to_i64_vec().unwrap(), vec![7]);
    let empty = parse_npy(&npy_bytes("<f4", false, &[0, 3], &[]), "e").unwrap();
    assert_eq!(empty.shape, vec![0, 3]);
    assert!(empty.is_empty());
}

#[test]
fn matches_files_written_by_numpy() {
    let samples = fixture_json("npy_samples.json");
    for sample in samples["numeric"].as_array().unwrap() {
        let label = format!("{} {}", sample["dtype"], sample["order"]);
        let array = parse_npy(&unhex(sample["hex"].as_str().unwrap()), &label).unwrap();
        let shape: Vec<usize> = json_i64s(&sample["shape"])
            .iter()
            .map(|&d| d as usize)
            .collect();
        assert_eq!(array.shape, shape, "{label}");
        let values: Vec<f64> = sample["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got: Vec<f64> = match &array.data {
            NpyData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyData::F64(v) => v.clone(),
            _ => array
                .to_i64_vec()
                .unwrap()
                .iter()
                .map(|&x| x as f64)
                .collect(),
        };
        assert_eq!(got, values, "{label}");
    }
    for sample in samples["versions"].as_array().unwrap() {
        let array = parse_npy(&unhex(sample["hex"].as_str().unwrap()), "numpy-version").unwrap();
        assert_eq!(array.shape, vec![3, 2], "{}", sample["version"]);
        assert_eq!(
            array.to_f32_vec().unwrap(),
            vec![1.5, -2.0, 3.25, 4.0, 5.0, 6.0]
        );
    }
    let scalar = parse_npy(&unhex(samples["scalar_i8_7"]["hex"].as_str().unwrap()), "s").unwrap();
    assert_eq!(
        (scalar.shape.len(), scalar.to_i32_vec().unwrap()),
        (0, vec![7])
    );
    let empty = parse_npy(
        &unhex(samples["empty_f4_0x3"]["hex"].as_str().unwrap()),
        "e",
    )
    .unwrap();
    assert_eq!((empty.shape.clone(), empty.len()), (vec![0, 3], 0));
}

#[test]
fn conversions_check_ranges() {
    let array = |data: NpyData| NpyArray {
        shape: vec![2],
        data,
    };
    assert_eq!(
        array(NpyData::I64(vec![-5, 9])).to_i32_vec().unwrap(),
        vec![-5, 9]
    );
    let msg = format!(
        "{:#}",
        array(NpyData::I64(vec![1, 1 << 40]))
            .to_i32_vec()
            .unwrap_err()
    );
    assert!(
        msg.contains("element 1") && msg.contains("1099511627776"),
        "{msg}"
    );
    assert!(array(NpyData::U64(vec![0, u64::MAX])).to_i64_vec().is_err());
    assert!(array(NpyData::F32(vec![1.0, 2.5])).to_i32_vec().is_err());
    assert_eq!(
        array(NpyData::F64(vec![1.0, -3.0])).to_i32_vec().unwrap(),
        vec![1, -3]
    );
    assert_eq!(
        array(NpyData::Bool(vec![true, false]))
            .to_f32_vec()
            .unwrap(),
        vec![1.0, 0.0]
    );
    assert_eq!(
        array(NpyData::U8(vec![0, 255])).to_f32_vec().unwrap(),
        vec![0.0, 255.0]
    );
    assert!(array(NpyData::I64(vec![0, (1 << 24) + 1]))
        .to_f32_vec()
        .is_err());
    assert!(array(NpyData::F64(vec![0.0, 1e300])).to_f32_vec().is_err());
    let lists = array(NpyData::IntLists(vec![vec![1], vec![]]));
    assert!(lists.to_i32_vec().is_err());
    assert_eq!(lists.into_int_lists().unwrap(), vec![vec![1], vec![]]);
    assert!(array(NpyData::I8(vec![1, 2])).into_int_lists().is_err());
}

#[test]
fn corrupt_files_give_errors_naming_the_file() {
    let good = npy_bytes(
        "<i4",
        false,
        &[2, 2],
        &le(&[1i32, 2, 3, 4], i32::to_le_bytes),
    );
    let mut trailing = good.clone();
    trailing.push(0);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "not a .npy file"),
        ("magic", b"PK\x03\x04 not npy".to_vec(), "not a .npy file"),
        ("version-bytes", b"\x93NUMPY\x01".to_vec(), "truncated"),
        ("header-len", b"\x93NUMPY\x01\x00\x10".to_vec(), "truncated"),
        ("header", good[..40].to_vec(), "truncated"),
        ("data", good[..good.len() - 1].to_vec(), "truncated"),
        ("trailing", trailing, "trailing garbage"),
        (
            "dtype",
            npy_bytes("<U3", false, &[1], &[0; 12]),
            "not supported",
        ),
        (
            "complex",
            npy_bytes("<c8", false, &[1], &[0; 8]),
            "not supported",
        ),
        (
            "bad-header",
            npy_with_header("{'descr': '<i4', 'shape': (1,)}", (1, 0), &[0; 4]),
            "invalid .npy header",
        ),
        (
            "not-dict",
            npy_with_header("[1, 2]", (1, 0), &[]),
            "invalid .npy header",
        ),
        (
            "overflow",
            npy_bytes("<i8", false, &[1 << 62, 1 << 62], &[]),
            "overflows",
        ),
        (
            "object-not-pickle",
            npy_bytes("|O", false, &[1], b"garbage"),
            "pickle",
        ),
    ];
    for (name, bytes, needle) in cases {
        let source = format!("{name}.npy");
        let err = parse_npy(&bytes, &source).expect_err(name);
        assert_mentions(&err, &[&source, needle]);
    }
}

#[test]
fn read_npy_names_the_path() {
    let tmp = TempDir::new("npy-read");
    let path = tmp.join("a.npy");
    fs::write(&path, npy_bytes("<u2", false, &[1], &[1, 0])).unwrap();
    assert_eq!(read_npy(&path).unwrap().data, NpyData::U16(vec![1]));
    fs::write(&path, b"nope").unwrap();
    assert_mentions(
        &read_npy(&path).unwrap_err(),
        &[&path.display().to_string()],
    );
    let absent = tmp.join("absent.npy");
    assert_mentions(
        &read_npy(&absent).unwrap_err(),
        &["cannot read npy file", &absent.display().to_string()],
    );
}
