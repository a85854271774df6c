#![no_main]
//! IDX files (raw or gzip-wrapped) from arbitrary bytes: a result or an error, never a crash.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wgtrain_data::parse_idx_file(data.to_vec(), std::path::Path::new("fuzz.idx"));
});
