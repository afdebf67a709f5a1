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
