//! Helpers shared by the integration tests.
#![allow(dead_code)]

use convspec::scalar::{Integer, Rational};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

/// Loads a fixture file from tests/fixtures.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists"))
        .expect("fixture is JSON")
}

/// A `{"shape": [...], "data": [...]}` integer tensor as exact rationals.
pub fn tensor(value: &Value) -> ArrayD<Rational> {
    let shape: Vec<usize> = value["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<Rational> = value["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Rational::from_integer(Integer::from(v.as_i64().unwrap())))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

/// Integer tensor from a shape and values.
pub fn ints(shape: &[usize], values: &[i64]) -> ArrayD<Rational> {
    ArrayD::from_shape_vec(
        IxDyn(shape),
        values
            .iter()
            .map(|&v| Rational::from_integer(Integer::from(v)))
            .collect(),
    )
    .unwrap()
}

/// A fresh directory under the system's temporary directory, removed when dropped (what the
/// `tempfile` crate does, without its dependencies).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates a [`TempDir`] with a name no other test (or process) uses.
pub fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = std::env::temp_dir().join(format!(
        "convspec-test-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&path).expect("temporary directory");
    TempDir(path)
}
