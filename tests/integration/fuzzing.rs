//! The fuzz targets' bodies (`convspec::fuzzing`) inside `cargo test`: every file of the
//! committed corpora (`fuzz/corpus/<target>/`, seeds and what libFuzzer kept, crashes found
//! included as regression inputs), then random bytes and mutations of the corpus (bit flips,
//! truncations, splices) under proptest. Each must return without panicking.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::path::PathBuf;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 5] = [
    ("npy", convspec::fuzzing::npy),
    ("exact_json", convspec::fuzzing::exact_json),
    ("geometry", convspec::fuzzing::geometry),
    ("stack", convspec::fuzzing::stack),
    ("check", convspec::fuzzing::check),
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("a corpus file"))
        .collect()
}

#[test]
fn every_corpus_input_runs_without_panicking() {
    for (name, target) in TARGETS {
        let inputs = corpus(name);
        assert!(!inputs.is_empty(), "{name}: an empty corpus");
        for input in &inputs {
            target(input);
        }
    }
}

/// A corpus input changed: bytes flipped, cut short, or spliced with another input.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds.len();
    (
        0..count,
        0..count,
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        any::<usize>(),
        any::<bool>(),
    )
        .prop_map(move |(a, b, flips, cut, splice)| {
            let mut bytes = seeds[a].clone();
            for (at, bits) in flips {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] ^= bits;
                }
            }
            if splice {
                let other = &seeds[b];
                let keep = cut % (bytes.len() + 1);
                bytes.truncate(keep);
                bytes.extend_from_slice(&other[cut % (other.len() + 1)..]);
            } else if cut % 3 == 0 {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            bytes
        })
}

fn config() -> Config {
    Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(0xF022_2026_1128),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_run_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        for (_, target) in TARGETS {
            target(&bytes);
        }
    }
}

#[test]
fn mutated_corpus_inputs_run_without_panicking() {
    for (name, target) in TARGETS {
        let mut runner = proptest::test_runner::TestRunner::new(config());
        runner
            .run(&mutated(corpus(name)), |bytes| {
                target(&bytes);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
