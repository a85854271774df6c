#![no_main]
//! The pickle subset (object arrays of int lists, as `imdb.npz` holds) from arbitrary bytes.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wgtrain_data::unpickle_int_lists(data, "fuzz.pkl");
});
