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

/// Runs the `convspec` binary with `args`.
pub fn convspec<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_convspec"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Writes `values` as a `.npy` file of `dtype` in `dir`.
pub fn save(
    dir: &std::path::Path,
    name: &str,
    values: &ArrayD<Rational>,
    dtype: convspec::io::Dtype,
) -> std::path::PathBuf {
    let path = dir.join(name);
    let bytes = convspec::io::npy::encode_npy(values, dtype, &path).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Replaces text in a version-1 .npy header, keeping its length (the padding absorbs the
/// change).
pub fn edit_header(npy: &[u8], from: &str, to: &str) -> Vec<u8> {
    let length = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let header = std::str::from_utf8(&npy[10..10 + length]).unwrap();
    assert!(header.contains(from), "{from} in {header}");
    let edited = header.trim_end().replace(from, to);
    let padded = format!("{edited:<width$}\n", width = length - 1);
    let mut out = npy[..10].to_vec();
    out.extend_from_slice(padded.as_bytes());
    out.extend_from_slice(&npy[10 + length..]);
    out
}
