//! Exact JSON: `{"shape": [..], "data": ["p/q", ...]}` with the data in C order; integers are
//! written without a denominator ("3"), fractions in lowest terms with a positive denominator.

use super::{write_atomically, ExactTensor, IoError};
use crate::index::unravel;
use crate::io::Dtype;
use crate::scalar::Rational;
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use std::path::Path;

/// The exact JSON text of a tensor.
pub fn exact_json_string(values: &ArrayD<Rational>) -> String {
    let data: Vec<Value> = values
        .iter()
        .map(|q| Value::String(q.to_string()))
        .collect();
    // Written by hand so that "shape" comes first (serde_json's map sorts its keys).
    format!(
        "{{\"shape\":{},\"data\":{}}}",
        Value::from(values.shape().to_vec()),
        Value::Array(data)
    )
}

/// Writes a tensor as exact JSON, atomically.
pub fn write_exact_json(path: &Path, values: &ArrayD<Rational>) -> Result<(), IoError> {
    let mut text = exact_json_string(values);
    text.push('\n');
    write_atomically(path, text.as_bytes())
}

/// Reads exact JSON (`"p/q"` or `"p"` strings).
pub fn read_exact_json(path: &Path) -> Result<ExactTensor, IoError> {
    let text = std::fs::read_to_string(path).map_err(|e| IoError::io(path, e))?;
    parse_exact_json(&text, path)
}

/// Parses exact JSON text (`path` names the source in errors).
pub fn parse_exact_json(text: &str, path: &Path) -> Result<ExactTensor, IoError> {
    let malformed = |message: String| IoError::Malformed {
        path: path.to_path_buf(),
        format: "exact JSON",
        message,
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    let object = doc.as_object().ok_or_else(|| {
        malformed("expected an object {\"shape\": [...], \"data\": [...]}".into())
    })?;
    if let Some(unknown) = object.keys().find(|k| *k != "shape" && *k != "data") {
        return Err(malformed(format!(
            "unknown field `{unknown}`, expected `shape` and `data`"
        )));
    }
    let shape: Vec<usize> = object
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("missing `shape`: a list of sizes".into()))?
        .iter()
        .map(|v| v.as_u64().and_then(|s| usize::try_from(s).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| malformed("`shape` must hold non-negative integers".into()))?;
    let data: Vec<&str> = object
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("missing `data`: a list of \"p/q\" strings".into()))?
        .iter()
        .map(Value::as_str)
        .collect::<Option<_>>()
        .ok_or_else(|| malformed("`data` must hold strings such as \"3\" or \"-1/3\"".into()))?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .ok_or_else(|| malformed("shape overflows".into()))?;
    if count != data.len() {
        return Err(malformed(format!(
            "shape {shape:?} has {count} elements but data has {}",
            data.len()
        )));
    }
    let values = data
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.trim().parse::<Rational>().map_err(|_| {
                malformed(format!(
                    "element {:?} = {s:?} is not an integer or p/q fraction",
                    unravel(i, &shape)
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let values =
        ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| malformed(e.to_string()))?;
    Ok(ExactTensor {
        dtype: Dtype::Exact,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let p = Path::new("mem.json");
        let t = parse_exact_json(r#"{"shape": [3], "data": ["1/3", "-2", "4/6"]}"#, p).unwrap();
        assert_eq!(
            exact_json_string(&t.values),
            r#"{"shape":[3],"data":["1/3","-2","2/3"]}"#
        );
        assert!(parse_exact_json(r#"{"shape": [2], "data": ["1"]}"#, p).is_err());
        assert!(parse_exact_json(r#"{"shape": [1], "data": ["1/0"]}"#, p).is_err());
        assert!(parse_exact_json(r#"{"shape": [1], "data": ["x"]}"#, p).is_err());
        assert!(parse_exact_json(r#"{"shape": [1], "data": [1]}"#, p).is_err());
        assert!(parse_exact_json(r#"{"shape": [1], "data": ["1"], "dtype": "f"}"#, p).is_err());
        assert!(parse_exact_json(r#"[1, 2]"#, p).is_err());
    }
}
