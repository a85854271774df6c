//! Bad input is tried, not assumed: every parser of this crate (IDX, gzip-wrapped IDX, npy,
//! npz, the pickle subset, the IMDB word index, the IMDB CSV) gets thousands of truncated,
//! bit-flipped, overwritten and random inputs made from a valid one. Each must give a result
//! or an error naming its source — never a panic, a hang or a huge allocation: a counting
//! allocator records the largest single request, and headers claiming 10^12 elements must be
//! refused before anything that size is asked for. `docs/reliability.md` lists the cases.

mod common;
mod mutation_harness;

use common::{gzip, idx_bytes, npy_bytes, unhex, zip_bytes, TempDir};
use mutation_harness::{mutations, try_all, try_all_files};
use std::path::Path;

fn valid_idx() -> Vec<u8> {
    idx_bytes(&[3, 4, 5], &(0..60).map(|i| i as u8).collect::<Vec<_>>())
}

#[test]
fn idx_files_never_panic_or_overallocate() {
    let tmp = TempDir::new("mutate-idx");
    let read = |p: &Path| wgtrain_data::read_idx(p).map(|_| ());
    try_all_files(
        "idx",
        &mutations(&valid_idx(), 3000, 1),
        tmp.path(),
        "x.idx",
        read,
    );
    let zipped = gzip(&valid_idx());
    try_all_files(
        "idx.gz",
        &mutations(&zipped, 2000, 2),
        tmp.path(),
        "x.idx.gz",
        read,
    );
    // A header claiming 4,000,000,000 x 250 elements in 60 bytes.
    let claims = idx_bytes(&[4_000_000_000, 250], &[0; 60]);
    try_all_files("idx claim", &[claims], tmp.path(), "claim.idx", read);
}

fn valid_npy() -> Vec<u8> {
    let data: Vec<u8> = (0..6u32).flat_map(|i| (i as f32).to_le_bytes()).collect();
    npy_bytes("<f4", false, &[2, 3], &data)
}

#[test]
fn npy_bytes_never_panic_or_overallocate() {
    let parse = |b: &[u8]| wgtrain_data::parse_npy(b, "x.npy").map(|_| ());
    try_all("npy", &mutations(&valid_npy(), 4000, 3), "x.npy", parse);
    let fortran = npy_bytes("<i8", true, &[3, 2], &[1; 48]);
    try_all("npy fortran", &mutations(&fortran, 2000, 4), "x.npy", parse);
    let claims = npy_bytes("<f4", false, &[1_000_000, 1_000_000], &[0; 24]);
    try_all("npy claim", &[claims], "x.npy", parse);
}

#[test]
fn npz_archives_never_panic_or_overallocate() {
    let tmp = TempDir::new("mutate-npz");
    let b = npy_bytes("|u1", false, &[3], &[7, 8, 9]);
    let read = |p: &Path| -> anyhow::Result<()> {
        let mut npz = wgtrain_data::Npz::open(p)?;
        for key in npz.keys() {
            npz.array(&key)?;
        }
        Ok(())
    };
    for (deflated, seed) in [(false, 5), (true, 6)] {
        let archive = zip_bytes(&[("a.npy", &valid_npy()), ("b.npy", &b)], deflated);
        let what = if deflated {
            "npz deflated"
        } else {
            "npz stored"
        };
        try_all_files(
            what,
            &mutations(&archive, 2500, seed),
            tmp.path(),
            "x.npz",
            read,
        );
    }
    let claims = npy_bytes("<f8", false, &[1_000_000_000_000], &[0; 8]);
    let archive = zip_bytes(&[("big.npy", &claims)], false);
    try_all_files("npz claim", &[archive], tmp.path(), "claim.npz", read);
}

#[test]
fn pickles_never_panic_or_overallocate() {
    let samples = common::fixture_json("npy_samples.json");
    let parse = |b: &[u8]| wgtrain_data::unpickle_int_lists(b, "x.pkl").map(|_| ());
    for (k, sample) in samples["pickled"].as_array().unwrap().iter().enumerate() {
        let npy = unhex(sample["hex"].as_str().unwrap());
        let header = usize::from(u16::from_le_bytes([npy[8], npy[9]]));
        let pickle = npy[10 + header..].to_vec();
        let what = format!("pickle sample {k}");
        try_all(
            &what,
            &mutations(&pickle, 1500, 10 + k as u64),
            "x.pkl",
            parse,
        );
    }
}

#[test]
fn word_indexes_never_panic_or_overallocate() {
    let tmp = TempDir::new("mutate-word-index");
    let valid = br#"{"the": 1, "and": 2, "a": 3, "of": 4, "movie": 17, "film": 19}"#;
    let read = |p: &Path| wgtrain_data::get_word_index(p).map(|_| ());
    try_all_files(
        "word index",
        &mutations(valid, 2000, 20),
        tmp.path(),
        "w.json",
        read,
    );
}

#[test]
fn imdb_text_folders_never_panic_or_overallocate() {
    let tmp = TempDir::new("mutate-imdb-csv");
    let csv = "review,sentiment\n\"A fine film, <br />truly.\",positive\nDull and long.,negative\n\
               \"He said \"\"no\"\".\",negative\nGreat acting,positive\n";
    let gz = gzip(csv.as_bytes());
    let words = br#"{"a": 3, "fine": 40, "film": 19, "truly": 300, "dull": 800, "and": 2}"#;
    std::fs::write(tmp.join("imdb_word_index.json"), words).unwrap();
    let meta = "row,split,label,id,rating,aclimdb_file\n0,train,pos,1,8,train/pos/1_8.txt\n\
                1,train,neg,2,2,train/neg/2_2.txt\n2,test,neg,3,1,test/neg/3_1.txt\n\
                3,test,pos,4,9,test/pos/4_9.txt\n";
    std::fs::write(tmp.join("imdb_reviews_meta.csv.gz"), gzip(meta.as_bytes())).unwrap();
    assert!(
        wgtrain_data::rebuild_imdb_from_text(tmp.path()).is_err(),
        "no reviews file yet"
    );
    std::fs::write(tmp.join("imdb_reviews.csv.gz"), &gz).unwrap();
    wgtrain_data::rebuild_imdb_from_text(tmp.path()).expect("the valid folder reads");
    let read = |_: &Path| wgtrain_data::rebuild_imdb_from_text(tmp.path()).map(|_| ());
    let name = "imdb_reviews.csv.gz";
    try_all_files(
        "imdb csv.gz",
        &mutations(&gz, 1500, 30),
        tmp.path(),
        name,
        read,
    );
}

#[test]
fn csv_tables_never_panic_or_overallocate() {
    let tmp = TempDir::new("mutate-table");
    let csv = "a,b,label,text\n1,2.5,cat,\"quoted, with \"\"quotes\"\"\"\n-3,4e1,dog,plain\n\
               0,0,cat,\"two\nlines\"\n";
    let read = |p: &Path| -> anyhow::Result<()> {
        let t = wgtrain_data::table::Table::read(p)?;
        let label = t.column("label")?;
        let text = t.column("text")?;
        t.features(&[label, text])?;
        Ok(())
    };
    try_all_files(
        "csv",
        &mutations(csv.as_bytes(), 3000, 50),
        tmp.path(),
        "t.csv",
        read,
    );
    try_all_files(
        "csv.gz",
        &mutations(&gzip(csv.as_bytes()), 1500, 51),
        tmp.path(),
        "t.csv",
        read,
    );
}
