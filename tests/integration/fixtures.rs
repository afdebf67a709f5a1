//! Exact agreement with PyTorch, NumPy and SciPy on vectors generated once by the real
//! libraries (scripts/make_fixtures.py; versions recorded in each fixture file).

use crate::common;

use common::{fixture, tensor};
use convspec::geometry::{ConvGeometry, Padding, PaddingMode};
use convspec::reference::numpy::{np_convolve, np_correlate, Mode};
use convspec::reference::scipy::{
    convolve2d, correlate2d, signal_convolve, signal_correlate, Boundary,
};
use convspec::reference::{correlate, OpError};
use convspec::scalar::{Integer, Rational};
use serde_json::Value;

fn per_dim(value: &Value, rank: usize) -> Vec<usize> {
    match value {
        Value::Number(n) => vec![n.as_u64().unwrap() as usize; rank],
        Value::Array(items) => items.iter().map(|v| v.as_u64().unwrap() as usize).collect(),
        other => panic!("unexpected {other}"),
    }
}

fn torch_geometry(case: &Value, rank: usize) -> ConvGeometry {
    let padding = if case["pads"].is_array() {
        let pads = per_dim(&case["pads"], 2 * rank);
        Padding::Explicit((0..rank).map(|d| (pads[d], pads[rank + d])).collect())
    } else {
        match &case["padding"] {
            Value::String(s) if s == "same" => Padding::Same,
            Value::String(s) if s == "valid" => Padding::Valid,
            other => Padding::Explicit(per_dim(other, rank).into_iter().map(|p| (p, p)).collect()),
        }
    };
    let padding_mode = match case["padding_mode"].as_str().unwrap() {
        "zeros" => PaddingMode::Zeros,
        "reflect" => PaddingMode::Reflect,
        "replicate" => PaddingMode::Replicate,
        "circular" => PaddingMode::Circular,
        other => panic!("mode {other}"),
    };
    ConvGeometry {
        stride: per_dim(&case["stride"], rank),
        dilation: per_dim(&case["dilation"], rank),
        padding,
        padding_mode,
        groups: case["groups"].as_u64().unwrap() as usize,
    }
}

#[test]
fn pytorch_conv1d_2d_3d_agree_exactly() {
    let doc = fixture("torch_conv.json");
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 40);
    let (mut checked, mut refused) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let x = tensor(&case["x"]);
        let w = tensor(&case["w"]);
        let b = (!case["b"].is_null()).then(|| tensor(&case["b"]));
        let geometry = torch_geometry(case, w.ndim() - 2);
        let result = correlate(&x, &w, b.as_ref(), &geometry);
        if case["expected"].is_null() {
            assert!(
                result.is_err(),
                "{name}: PyTorch refused ({}) but we computed",
                case["error"]
            );
            refused += 1;
        } else {
            let y = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(y, tensor(&case["expected"]), "{name}");
            checked += 1;
        }
    }
    assert!(checked >= 35 && refused >= 5, "{checked} {refused}");
}

fn vec_of(value: &Value) -> Vec<Rational> {
    tensor(value).iter().cloned().collect()
}

#[test]
fn numpy_convolve_and_correlate_agree_exactly() {
    let doc = fixture("numpy_conv.json");
    for case in doc["cases"].as_array().unwrap() {
        let mode: Mode = case["mode"].as_str().unwrap().parse().unwrap();
        let (a, v) = (vec_of(&case["a"]), vec_of(&case["v"]));
        let f = if case["function"] == "convolve" {
            np_convolve
        } else {
            np_correlate
        };
        let got = f(&a, &v, mode).unwrap();
        assert_eq!(
            got,
            vec_of(&case["expected"]),
            "np.{}({:?}, {:?}, {mode})",
            case["function"],
            a,
            v
        );
    }
}

#[test]
fn scipy_signal_functions_agree_exactly() {
    let doc = fixture("scipy_conv.json");
    let mut counts = std::collections::BTreeMap::new();
    for case in doc["cases"].as_array().unwrap() {
        let function = case["function"].as_str().unwrap();
        let mode: Mode = case["mode"].as_str().unwrap().parse().unwrap();
        let (in1, in2) = (tensor(&case["in1"]), tensor(&case["in2"]));
        let result: Result<_, OpError> = match function {
            "convolve" => signal_convolve(&in1, &in2, mode),
            "correlate" => signal_correlate(&in1, &in2, mode),
            _ => {
                let boundary: Boundary = case["boundary"].as_str().unwrap().parse().unwrap();
                let fill =
                    Rational::from_integer(Integer::from(case["fillvalue"].as_i64().unwrap()));
                let f = if function == "convolve2d" {
                    convolve2d
                } else {
                    correlate2d
                };
                f(&in1, &in2, mode, boundary, &fill)
            }
        };
        let label = format!(
            "{function} {mode} {:?} {:?} {}",
            in1.shape(),
            in2.shape(),
            case["boundary"]
        );
        if case["expected"].is_null() {
            assert!(result.is_err(), "{label}: SciPy refused");
        } else {
            assert_eq!(
                result.unwrap_or_else(|e| panic!("{label}: {e}")),
                tensor(&case["expected"]),
                "{label}"
            );
        }
        *counts.entry(function.to_string()).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 4, "{counts:?}");
}
