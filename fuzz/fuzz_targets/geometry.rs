//! Fuzz target `geometry`: see `convspec::fuzzing::geometry` (the same function runs inside `cargo test`
//! on the committed corpus and on random inputs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    convspec::fuzzing::geometry(data);
});
