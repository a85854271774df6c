#![no_main]
//! `.npz` archives from arbitrary bytes: every member opened and parsed.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("wgtrain-fuzz-{}.npz", std::process::id()));
    std::fs::write(&path, data).expect("the temp folder is writable");
    if let Ok(mut npz) = wgtrain_data::Npz::open(&path) {
        for key in npz.keys() {
            let _ = npz.array(&key);
        }
    }
});
