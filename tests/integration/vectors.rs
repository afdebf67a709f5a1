//! `convspec vectors`: the conformance suite re-checks clean against the engine.
//!
//! The suite is written by the reference engine (the specification). Here every case is read
//! back from its files, as another implementation would read it, and re-checked by a
//! different path: the `convspec check` line of the manifest (the fast exact engine and the
//! oracle) for layers, and for NumPy, SciPy, unfold and fold cases the command line rebuilt
//! from the manifest's NumPy/SciPy/PyTorch arguments. Negative controls: a float32 output
//! claimed as float64 and the output of a neighbouring geometry fail the same check.

use crate::common::tempdir;
use convspec::io::{read_exact_json, read_npy, read_npy_f64};
use convspec::scalar::{round_to_f32, round_to_f64, Rational};
use ndarray::ArrayD;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn convspec_in(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convspec"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("binary runs")
}

fn exact(path: &Path) -> ArrayD<Rational> {
    read_exact_json(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .values
}

fn text(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

fn list(v: &Value) -> String {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// The manifest's `convspec check` line with its placeholders filled in.
fn check_line(entry: &Value, precision: &str, suffix: &str) -> Vec<String> {
    entry["convspec_check"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1) // "convspec"
        .map(|a| match a.as_str().unwrap() {
            "<candidate.npy>" => format!("output.{suffix}.npy"),
            "<fp64|fp32|tf32|fp16|bf16>" => precision.to_string(),
            "<grad_input.npy>" => format!("grad_input.{suffix}.npy"),
            "<grad_weight.npy>" => format!("grad_weight.{suffix}.npy"),
            "<grad_bias.npy>" => format!("grad_bias.{suffix}.npy"),
            other => other.to_string(),
        })
        .collect()
}

/// The command line that recomputes a NumPy, SciPy, unfold or fold case from the manifest's
/// arguments, writing exact JSON to `out`.
fn recompute_line(entry: &Value, out: &str) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    if let Some(call) = entry.get("numpy").or_else(|| entry.get("scipy")) {
        let function = text(&call["function"]);
        let op = if function.contains("convolve") {
            "convolve"
        } else {
            "correlate"
        };
        let operands: Vec<String> = call["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| format!("{}.npy", text(a)))
            .collect();
        args.extend([op.into(), "--input".into(), operands[0].clone()]);
        args.extend(["--weight".into(), operands[1].clone()]);
        let kwargs = call["kwargs"].as_object().unwrap();
        args.extend(["--mode".into(), text(&kwargs["mode"])]);
        if let Some(boundary) = kwargs.get("boundary") {
            args.extend(["--boundary".into(), text(boundary)]);
            args.extend(["--fillvalue".into(), kwargs["fillvalue"].to_string()]);
        }
    } else {
        let call = &entry["pytorch"];
        let function = text(&call["function"]);
        let kwargs = call["kwargs"].as_object().unwrap();
        args.push(function.rsplit('.').next().unwrap().to_string());
        args.extend(["--input".into(), "input.npy".into()]);
        for (key, flag) in [
            ("output_size", "--output-size"),
            ("kernel_size", "--kernel-size"),
            ("dilation", "--dilation"),
            ("padding", "--padding"),
            ("stride", "--stride"),
        ] {
            if let Some(v) = kwargs.get(key) {
                args.extend([flag.into(), list(v)]);
            }
        }
    }
    args.extend(["--exact-json".into(), out.into()]);
    args
}

fn assert_ok(output: &Output, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn vectors_rechecks_clean_against_the_engine() {
    let tmp = tempdir();
    let suite = tmp.path().join("suite");
    let written = convspec_in(
        tmp.path(),
        &["vectors".into(), "--out".into(), "suite".into()],
    );
    assert_ok(&written, "convspec vectors");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(suite.join("manifest.json")).unwrap())
            .unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let (mut checked, mut recomputed) = (0, 0);
    for entry in cases {
        let name = text(&entry["name"]);
        let dir = suite.join(&name);
        // Operands: the .npy holds exactly the exact JSON's values.
        for input in entry["inputs"].as_array().unwrap() {
            let from_json = exact(&dir.join(text(&input["exact"])));
            let from_npy = read_npy(&dir.join(text(&input["npy"]))).unwrap().values;
            assert_eq!(from_npy, from_json, "{name}: operand {}", input["name"]);
        }
        // Outputs: the .npy files are the exact values correctly rounded.
        for output in entry["outputs"].as_array().unwrap() {
            let Some(exact_file) = output.get("exact") else {
                continue; // indices
            };
            let y = exact(&dir.join(text(exact_file)));
            let (_, f64s) = read_npy_f64(&dir.join(text(&output["float64"]))).unwrap();
            let (_, f32s) = read_npy_f64(&dir.join(text(&output["float32"]))).unwrap();
            for ((q, a), b) in y.iter().zip(&f64s).zip(&f32s) {
                assert_eq!(a.to_bits(), round_to_f64(q).to_bits(), "{name}: {q}");
                assert_eq!(*b, f64::from(round_to_f32(q)), "{name}: {q}");
            }
        }
        if entry["convspec_check"].is_array() {
            // The fast exact engine and the oracle agree with the reference engine.
            for (precision, suffix) in [("fp64", "f64"), ("fp32", "f32")] {
                let line = check_line(entry, precision, suffix);
                assert_ok(&convspec_in(&dir, &line), &format!("{name}: {line:?}"));
            }
            checked += 1;
        } else {
            let line = recompute_line(entry, "recomputed.json");
            assert_ok(&convspec_in(&dir, &line), &format!("{name}: {line:?}"));
            assert_eq!(
                exact(&dir.join("recomputed.json")),
                exact(&dir.join("output.json")),
                "{name}: {line:?}"
            );
            recomputed += 1;
        }
    }
    assert_eq!(checked + recomputed, cases.len());
    assert!(checked >= 30 && recomputed >= 8, "{checked} / {recomputed}");

    // Negative controls: the same check rejects a float32 output claimed as float64, and the
    // output of the neighbouring geometry (SAME_UPPER's for SAME_LOWER: same shape).
    let entry = |name: &str| {
        cases
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("case {name}"))
    };
    let dir = suite.join("conv2d_float32_values");
    let line = check_line(entry("conv2d_float32_values"), "fp64", "f32");
    assert_eq!(convspec_in(&dir, &line).status.code(), Some(1), "{line:?}");
    let lower = suite.join("conv2d_same_lower_stride2");
    std::fs::copy(
        suite.join("conv2d_same_upper_stride2/output.f64.npy"),
        lower.join("upper.npy"),
    )
    .unwrap();
    let mut line = check_line(entry("conv2d_same_lower_stride2"), "fp64", "f64");
    let at = line.iter().position(|a| a == "output.f64.npy").unwrap();
    line[at] = "upper.npy".into();
    assert_eq!(
        convspec_in(&lower, &line).status.code(),
        Some(1),
        "{line:?}"
    );
}

#[test]
fn vectors_covers_every_operation_and_refuses_to_mix_suites() {
    let cases = convspec::vectors::suite();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let operations: std::collections::BTreeSet<&str> =
        cases.iter().map(|c| c.layer.operation()).collect();
    assert_eq!(operations.len(), 14, "{operations:?}");

    let tmp = tempdir();
    let listed = convspec_in(tmp.path(), &["vectors".into(), "--list".into()]);
    assert_ok(&listed, "vectors --list");
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).lines().count(),
        cases.len()
    );
    // A non-empty target is refused (exit 2) and left as it was; nothing else is written.
    std::fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    let refused = convspec_in(tmp.path(), &["vectors".into(), "--out".into(), ".".into()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not an empty directory"));
    let entries: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only keep.txt");
}
