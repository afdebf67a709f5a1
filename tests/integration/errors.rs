//! The error contract, as a table: every bad input gets exit code 2, one line on standard
//! error that names the file, argument or element (the expected words are part of the
//! table), no panic, and no output file. README's "Errors" section lists the same table.

use crate::common::{self, convspec, edit_header, ints, save};
use convspec::io::Dtype;
use convspec::scalar::Rational;
use std::path::{Path, PathBuf};
use std::process::Command;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A float64 .npy with one element replaced by `value`.
fn with_value(npy: &[u8], from_end: usize, value: f64) -> Vec<u8> {
    let mut bytes = npy.to_vec();
    let n = bytes.len() - 8 * from_end;
    bytes[n..n + 8].copy_from_slice(&value.to_le_bytes());
    bytes
}

#[test]
fn every_bad_input_gets_its_message_exit_2_and_no_output() {
    let tmp = common::tempdir();
    let d = tmp.path();
    let x = save(d, "x.npy", &ints(&[1, 2, 5], &[1; 10]), Dtype::F64);
    let w = save(d, "w.npy", &ints(&[2, 2, 3], &[1; 12]), Dtype::F64);
    let b = save(d, "b.npy", &ints(&[2], &[1, 2]), Dtype::F64);
    let w3 = save(d, "w3.npy", &ints(&[2, 3, 3], &[1; 18]), Dtype::F64);
    let w9 = save(d, "w9.npy", &ints(&[1, 2, 9], &[1; 18]), Dtype::F64);
    let w4d = save(d, "w4d.npy", &ints(&[1, 2, 1, 1, 1], &[1, 1]), Dtype::F64);
    let b3 = save(d, "b3.npy", &ints(&[3], &[1; 3]), Dtype::F64);
    let b2d = save(d, "b2d.npy", &ints(&[2, 1], &[1; 2]), Dtype::F64);
    let quarter = save(
        d,
        "quarter.npy",
        &ints(&[1, 2, 5], &[1; 10]).mapv(|v| v / Rational::from_integer(4.into())),
        Dtype::F64,
    );
    let good = std::fs::read(&x).unwrap();
    let w_bytes = std::fs::read(&w).unwrap();
    let b_bytes = std::fs::read(&b).unwrap();
    // Hostile and malformed files.
    let garbage = write(d, "garbage.npy", b"this is not a numpy file at all");
    let empty = write(d, "empty.npy", b"");
    let magic = write(d, "magic.npy", b"\x93NUMPY");
    let truncated = write(d, "truncated.npy", &good[..good.len() - 5]);
    let huge = write(
        d,
        "huge.npy",
        &edit_header(&good, "(1, 2, 5)", "(1, 2, 99999999999999)"),
    );
    let mut long_header = good.clone();
    long_header[8] = 0xff;
    long_header[9] = 0xff;
    let long_header = write(d, "long_header.npy", &long_header);
    let not_dict = write(
        d,
        "not_dict.npy",
        &edit_header(&good, "{'descr'", "['descr'"),
    );
    let no_shape = write(d, "no_shape.npy", &edit_header(&good, "'shape'", "'shope'"));
    let negative = write(
        d,
        "negative.npy",
        &edit_header(&good, "(1, 2, 5)", "(1, -2, 5)"),
    );
    let mut version = good.clone();
    version[6] = 9;
    let version = write(d, "version.npy", &version);
    let complex = write(d, "complex.npy", &edit_header(&good, "<f8", "<c8"));
    let unicode = write(d, "unicode.npy", &edit_header(&good, "<f8", "<U2"));
    let object = write(d, "object.npy", &edit_header(&good, "'<f8'", "'|O' "));
    let fortran_word = write(
        d,
        "fortran_word.npy",
        &edit_header(&good, "'fortran_order': False", "'fortran_order': 0xF"),
    );
    let nan_x = write(d, "nan_x.npy", &with_value(&good, 2, f64::NAN));
    let inf_w = write(d, "inf_w.npy", &with_value(&w_bytes, 1, f64::INFINITY));
    let ninf_b = write(d, "ninf_b.npy", &with_value(&b_bytes, 1, f64::NEG_INFINITY));
    let bad_json = write(d, "bad.json", b"{\"shape\": [2], \"data\": [\"1/2\"");
    let zero_json = write(d, "zero.json", b"{\"shape\": [1, 2, 5], \"data\": [\"1/0\", \"1\", \"1\", \"1\", \"1\", \"1\", \"1\", \"1\", \"1\", \"1\"]}");
    let short_json = write(
        d,
        "short.json",
        b"{\"shape\": [1, 2, 5], \"data\": [\"1\"]}",
    );
    // 1/p for the first 300 primes: their common denominator has about 2800 bits.
    let primes: Vec<u64> = (2u64..)
        .filter(|&n| (2..n).take_while(|k| k * k <= n).all(|k| n % k != 0))
        .take(300)
        .collect();
    let fractions: Vec<String> = primes.iter().map(|p| format!("\"1/{p}\"")).collect();
    let unrelated = write(
        d,
        "unrelated.json",
        format!(
            "{{\"shape\": [1, 2, 150], \"data\": [{}]}}",
            fractions.join(", ")
        )
        .as_bytes(),
    );
    let out = d.join("out.npy");
    let missing_dir = d.join("no/such/dir/out.npy");
    let as_dir = d.join("a_directory");
    std::fs::create_dir(&as_dir).unwrap();
    let p = |path: &Path| path.to_str().unwrap().to_string();
    let layer = |input: &Path, weight: &Path, extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "correlate".to_string(),
            "--input".into(),
            p(input),
            "--weight".into(),
            p(weight),
            "--output".into(),
            p(&out),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let plain = |extra: &[&str]| layer(&x, &w, extra);
    let command = |words: &[&str]| -> Vec<String> { words.iter().map(|s| s.to_string()).collect() };
    let with_bias = |bias: &Path| layer(&x, &w, &["--bias", bias.to_str().unwrap()]);
    let to = |path: &Path| {
        vec![
            "correlate".to_string(),
            "--input".into(),
            p(&x),
            "--weight".into(),
            p(&w),
            "--output".into(),
            p(path),
        ]
    };
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        // Malformed, truncated and hostile .npy files.
        (
            "garbage bytes",
            layer(&garbage, &w, &[]),
            "garbage.npy: malformed .npy",
        ),
        (
            "an empty file",
            layer(&empty, &w, &[]),
            "empty.npy: malformed .npy",
        ),
        (
            "the magic string only",
            layer(&magic, &w, &[]),
            "magic.npy: malformed .npy",
        ),
        (
            "truncated data",
            layer(&truncated, &w, &[]),
            "truncated.npy: malformed .npy",
        ),
        (
            "a header declaring 10^14 elements",
            layer(&huge, &w, &[]),
            "header declares shape",
        ),
        (
            "a header length beyond the file",
            layer(&long_header, &w, &[]),
            "long_header.npy: malformed .npy",
        ),
        (
            "a header that is not a dict",
            layer(&not_dict, &w, &[]),
            "not_dict.npy: malformed .npy",
        ),
        (
            "a header without 'shape'",
            layer(&no_shape, &w, &[]),
            "no_shape.npy: malformed .npy",
        ),
        (
            "a negative dimension",
            layer(&negative, &w, &[]),
            "negative.npy: malformed .npy",
        ),
        (
            "an unknown format version",
            layer(&version, &w, &[]),
            "version.npy: malformed .npy",
        ),
        (
            "fortran_order that is not a bool",
            layer(&fortran_word, &w, &[]),
            "fortran_word.npy: malformed .npy",
        ),
        // Wrong dtypes.
        (
            "complex64",
            layer(&complex, &w, &[]),
            "unsupported dtype '<c8'",
        ),
        (
            "unicode strings",
            layer(&unicode, &w, &[]),
            "unsupported dtype '<U2'",
        ),
        (
            "Python objects",
            layer(&object, &w, &[]),
            "unsupported dtype '|O'",
        ),
        // NaN and infinity in each input.
        (
            "NaN in the input",
            layer(&nan_x, &w, &[]),
            "nan_x.npy: element [0, 1, 3] is nan",
        ),
        (
            "infinity in the weight",
            layer(&x, &inf_w, &[]),
            "inf_w.npy: element [1, 1, 2] is inf",
        ),
        (
            "-infinity in the bias",
            with_bias(&ninf_b),
            "ninf_b.npy: element [1] is -inf",
        ),
        // Exact JSON inputs.
        (
            "unterminated exact JSON",
            layer(&bad_json, &w, &[]),
            "bad.json: malformed exact JSON",
        ),
        (
            "a zero denominator",
            layer(&zero_json, &w, &[]),
            "zero.json: malformed exact JSON",
        ),
        (
            "data shorter than the shape",
            layer(&short_json, &w, &[]),
            "short.json: malformed exact JSON",
        ),
        // Mismatched shapes.
        (
            "weight channels that do not match",
            layer(&x, &w3, &[]),
            "expects 3 input channels",
        ),
        (
            "weight rank that does not match",
            layer(&x, &w4d, &[]),
            "has rank 3 but weight",
        ),
        (
            "a kernel larger than the padded input",
            layer(&x, &w9, &[]),
            "effective size 9",
        ),
        ("a bias of the wrong length", with_bias(&b3), "bias"),
        ("a 2-D bias", with_bias(&b2d), "bias"),
        (
            "a missing input file",
            layer(&d.join("missing.npy"), &w, &[]),
            "missing.npy",
        ),
        // Strides, dilations, paddings, groups: zero, negative, absurd.
        (
            "stride 0",
            plain(&["--stride", "0"]),
            "stride must be positive",
        ),
        ("a negative stride", plain(&["--stride", "-1"]), "--stride"),
        (
            "an absurd stride",
            plain(&["--stride", "99999999999999999999999"]),
            "--stride",
        ),
        (
            "a stride list of the wrong length",
            plain(&["--stride", "1,2"]),
            "invalid value '1,2' for --stride",
        ),
        (
            "dilation 0",
            plain(&["--dilation", "0"]),
            "dilation must be positive",
        ),
        (
            "a negative dilation",
            plain(&["--dilation", "-2"]),
            "--dilation",
        ),
        (
            "an absurd dilation",
            plain(&["--dilation", "1000000000000000"]),
            "larger than the padded input",
        ),
        (
            "a negative padding",
            plain(&["--padding", "-1"]),
            "--padding",
        ),
        (
            "an absurd padding",
            plain(&["--padding", "18446744073709551615"]),
            "overflow",
        ),
        (
            "an unknown padding word",
            plain(&["--padding", "sideways"]),
            "invalid value 'sideways' for --padding",
        ),
        (
            "'same' with stride 2",
            plain(&["--padding", "same", "--stride", "2"]),
            "padding='same' is not supported for strided",
        ),
        (
            "reflect padding >= L",
            plain(&["--padding", "5", "--padding-mode", "reflect"]),
            "reflect padding of 5",
        ),
        (
            "circular padding > L",
            plain(&["--padding", "6", "--padding-mode", "circular"]),
            "circular padding of 6",
        ),
        (
            "an unknown padding mode",
            plain(&["--padding-mode", "mirror"]),
            "--padding-mode",
        ),
        (
            "ONNX pads of the wrong count",
            plain(&["--pads", "1,2,3"]),
            "--pads",
        ),
        (
            "groups 0",
            plain(&["--groups", "0"]),
            "groups must be positive",
        ),
        (
            "groups that do not divide the channels",
            plain(&["--groups", "3"]),
            "groups",
        ),
        ("negative groups", plain(&["--groups", "-1"]), "--groups"),
        (
            "layer flags with --mode",
            plain(&["--mode", "same", "--stride", "2"]),
            "do not apply with --mode",
        ),
        (
            "an unknown --mode",
            plain(&["--mode", "middle"]),
            "invalid mode 'middle'",
        ),
        ("--threads 0", plain(&["--threads", "0"]), "--threads"),
        // Outputs that cannot or must not be written.
        ("an output equal to an input", to(&x), "is also an input"),
        (
            "an output in a missing directory",
            to(&missing_dir),
            "out.npy",
        ),
        ("an output that is a directory", to(&as_dir), "a_directory"),
        (
            "a result an integer dtype cannot hold",
            layer(&quarter, &w, &["--output-dtype", "int8"]),
            "not representable as int8",
        ),
        (
            "an unknown output dtype",
            plain(&["--output-dtype", "float8"]),
            "--output-dtype",
        ),
        // Resource guards.
        (
            "inputs above the memory limit",
            plain(&["--memory-limit", "100"]),
            "above the memory limit",
        ),
        (
            "an unreadable memory limit",
            plain(&["--memory-limit", "lots"]),
            "--memory-limit",
        ),
        (
            "an output above the memory limit",
            plain(&["--padding", "1000000", "--memory-limit", "100M"]),
            "the output (4000006 exact values) needs about 366.2 MiB, above the memory limit",
        ),
        (
            "inputs whose common denominator explodes",
            layer(&unrelated, &w, &["--memory-limit", "60K"]),
            "common denominator has",
        ),
        (
            "an adaptive pooling output above the memory limit",
            command(&[
                "pool",
                "adaptive-avg",
                "--input",
                &p(&x),
                "--output-size",
                "1000000000",
                "--output",
                &p(&out),
            ]),
            "the output (2000000000 exact values) needs about 178.8 GiB",
        ),
        (
            "a checked adaptive pooling output above the memory limit",
            command(&[
                "check",
                "pool",
                "adaptive-max",
                "--input",
                &p(&x),
                "--output-size",
                "100000000",
                "--candidate",
                &p(&x),
                "--precision",
                "fp32",
            ]),
            "above the memory limit",
        ),
        (
            "a fold output above the memory limit",
            command(&[
                "fold",
                "--input",
                &p(&x),
                "--output-size",
                "1000000000,5",
                "--kernel-size",
                "2,1",
                "--stride",
                "999999999,1",
                "--output",
                &p(&out),
            ]),
            "above the memory limit",
        ),
        (
            "an unfold output above the memory limit",
            command(&[
                "unfold",
                "--input",
                &p(&x),
                "--kernel-size",
                "1",
                "--padding",
                "1000000000",
                "--output",
                &p(&out),
            ]),
            "above the memory limit",
        ),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (name, args, needle) in &cases {
        let _ = std::fs::remove_file(&out);
        let output = convspec(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines = stderr.trim_end().lines().count();
        let problems = [
            (output.status.code() != Some(2)).then(|| format!("exit {:?}", output.status.code())),
            (!stderr.contains(needle)).then(|| format!("no '{needle}'")),
            (stderr.contains("panicked")).then(|| "a panic".to_string()),
            (lines != 1 && !stderr.contains("Usage")).then(|| format!("{lines} lines")),
            out.exists().then(|| "an output file".to_string()),
            missing_dir
                .exists()
                .then(|| "an output in the missing directory".to_string()),
        ];
        let problems: Vec<String> = problems.into_iter().flatten().collect();
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: {} -- stderr: {}",
                problems.join(", "),
                stderr.trim_end()
            ));
        }
        if std::env::var_os("CONVSPEC_SHOW_ERRORS").is_some() {
            eprintln!("| {name} | {} |", stderr.trim_end());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Starts `convspec` with `args`, its output streams discarded.
fn spawn(args: &[String]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_convspec"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts")
}

/// Killing `convspec` while it writes a large output leaves the old file (or, once the new
/// one is renamed into place, the complete new file), never a partial one: the process is
/// killed (SIGKILL) at delays spread over its whole run, and after each kill the output path
/// holds exactly the old bytes or exactly the finished result.
#[test]
fn a_killed_write_leaves_the_old_file_or_the_whole_new_one() {
    let tmp = common::tempdir();
    let d = tmp.path();
    let n = 4_000_000usize;
    let values: Vec<i64> = (0..n as i64).map(|v| v % 1000 - 500).collect();
    let x = save(d, "x.npy", &ints(&[1, 1, n], &values), Dtype::F32);
    let w = save(d, "w.npy", &ints(&[1, 1, 1], &[3]), Dtype::F32);
    let out = d.join("y.npy");
    let args = |path: &Path| {
        [
            "correlate",
            "--input",
            x.to_str().unwrap(),
            "--weight",
            w.to_str().unwrap(),
            "--output",
            path.to_str().unwrap(),
            "--output-dtype",
            "float64",
        ]
        .map(String::from)
    };
    // The finished result, and how long a run takes.
    let reference_path = d.join("reference.npy");
    let start = std::time::Instant::now();
    let done = convspec(&args(&reference_path));
    let duration = start.elapsed();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let finished = std::fs::read(&reference_path).unwrap();
    let old = b"the old contents".to_vec();
    // Kills spread over the whole run (and beyond, for a loaded machine): after each, the old
    // bytes or the whole new file, whichever side of the rename it fell on.
    for step in 0..12u32 {
        std::fs::write(&out, &old).unwrap();
        let mut child = spawn(&args(&out));
        std::thread::sleep(duration * step / 8);
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read(&out).expect("the output path still holds a file");
        assert!(
            now == old || now == finished,
            "step {step}: a partial output ({} bytes)",
            now.len()
        );
    }
    // The new outcome, deterministically: a run that is not killed replaces the old file whole.
    std::fs::write(&out, &old).unwrap();
    let replaced = convspec(&args(&out));
    assert_eq!(replaced.status.code(), Some(0));
    assert!(
        std::fs::read(&out).unwrap() == finished,
        "the finished run's output"
    );
    // Kills in the middle of the write itself: as soon as the temporary file beside the output
    // appears (`.y.npy.<pid>.tmp`), the process is killed; the output is still the old file.
    let mut mid_write = 0;
    for _ in 0..40 {
        std::fs::write(&out, &old).unwrap();
        let mut child = spawn(&args(&out));
        let temporary = d.join(format!(".y.npy.{}.tmp", child.id()));
        let deadline = std::time::Instant::now() + duration * 3;
        let mut seen = false;
        while std::time::Instant::now() < deadline {
            if temporary.exists() {
                seen = true;
                break;
            }
            if child.try_wait().expect("a status").is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        // Stopped while the temporary file still exists, the process has not renamed it: the
        // kill that follows must leave the old file. `kill` returns once the signal is sent;
        // the threads stop a moment later, so the file is looked at only once all of them
        // have (else a rename in that moment would pass for one after the stop).
        let _ = std::process::Command::new("kill")
            .args(["-STOP", &child.id().to_string()])
            .status();
        let stopped_mid_write = seen && all_threads_stopped(child.id()) && temporary.exists();
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read(&out).expect("the output path still holds a file");
        assert!(
            now == old || now == finished,
            "a partial output ({} bytes)",
            now.len()
        );
        if stopped_mid_write {
            assert!(
                now == old,
                "killed before the rename, yet the output changed"
            );
            mid_write += 1;
        }
        let _ = std::fs::remove_file(&temporary);
        if mid_write >= 3 {
            break;
        }
    }
    assert!(
        mid_write > 0,
        "no kill landed while the temporary file was being written"
    );
}

/// Whether every thread of process `pid` is stopped (state T in /proc), waiting up to a second.
fn all_threads_stopped(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        let stopped = tasks.flatten().all(|task| {
            std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
                // The state follows the command name's closing parenthesis.
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with(['T', 't']))
            })
        });
        if stopped {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    false
}
