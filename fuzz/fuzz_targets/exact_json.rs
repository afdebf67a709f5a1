//! Fuzz target `exact_json`: see `convspec::fuzzing::exact_json` (the same function runs inside `cargo test`
//! on the committed corpus and on random inputs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    convspec::fuzzing::exact_json(data);
});
