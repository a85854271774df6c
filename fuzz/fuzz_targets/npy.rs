#![no_main]
//! `.npy` arrays from arbitrary bytes, converted as the loaders convert them.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(array) = wgtrain_data::parse_npy(data, "fuzz.npy") {
        let _ = array.to_f32_vec();
        let _ = array.to_i64_vec();
    }
});
