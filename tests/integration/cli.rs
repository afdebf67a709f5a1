//! The command line: results, output files, and a clear error (exit 2, one line, no panic)
//! for every kind of bad input.

use crate::common;

use common::ints;
use convspec::io::{read_npy, Dtype};
use convspec::scalar::Rational;
use ndarray::ArrayD;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{convspec, edit_header, save};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts a clean refusal: exit code 2, one line on stderr naming `needle`, no panic.
fn refused(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
}

#[test]
fn correlate_writes_correctly_rounded_npy_and_exact_json() {
    let dir = common::tempdir();
    let x = save(
        dir.path(),
        "x.npy",
        &ints(&[1, 1, 4], &[1, 2, 3, 4]),
        Dtype::F32,
    );
    let w = save(dir.path(), "w.npy", &ints(&[1, 1, 2], &[1, 10]), Dtype::F32);
    let b = save(dir.path(), "b.npy", &ints(&[1], &[1]), Dtype::F64);
    let y = dir.path().join("y.npy");
    let j = dir.path().join("y.json");
    let out = convspec(&[
        "correlate",
        "--input",
        s(&x),
        "--weight",
        s(&w),
        "--bias",
        s(&b),
        "--output",
        s(&y),
        "--exact-json",
        s(&j),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // By hand: [1+20, 2+30, 3+40] + 1 = [22, 33, 44]; dtype float64 (bias is float64).
    let read = read_npy(&y).unwrap();
    assert_eq!(read.dtype, Dtype::F64);
    assert_eq!(read.values, ints(&[1, 1, 3], &[22, 33, 44]));
    assert_eq!(
        std::fs::read_to_string(&j).unwrap().trim(),
        r#"{"shape":[1,1,3],"data":["22","33","44"]}"#
    );
    // Convolution flips: [2+10, 3+20, 4+30] + 1.
    let out = convspec(&[
        "convolve",
        "--input",
        s(&x),
        "--weight",
        s(&w),
        "--bias",
        s(&b),
        "--output",
        s(&y),
        "--output-dtype",
        "int32",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        read_npy(&y).unwrap().values,
        ints(&[1, 1, 3], &[13, 24, 35])
    );
}

#[test]
fn numpy_and_scipy_forms_through_mode() {
    let dir = common::tempdir();
    let a = save(dir.path(), "a.npy", &ints(&[3], &[1, 2, 3]), Dtype::Int(8));
    let v = save(dir.path(), "v.npy", &ints(&[3], &[0, 2, 1]), Dtype::Int(8));
    let out = convspec(&[
        "convolve",
        "--input",
        s(&a),
        "--weight",
        s(&v),
        "--mode",
        "same",
    ]);
    assert!(out.status.success());
    // np.convolve([1,2,3], [0,2,1], 'same') = [2, 5, 8] (hand: full [0,2,5,8,3], centre).
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2  5  8"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let m = save(
        dir.path(),
        "m.npy",
        &ints(&[2, 2], &[1, 2, 3, 4]),
        Dtype::F64,
    );
    let k = save(dir.path(), "k.npy", &ints(&[1, 1], &[1]), Dtype::F64);
    let out = convspec(&[
        "correlate",
        "--input",
        s(&m),
        "--weight",
        s(&k),
        "--boundary",
        "wrap",
        "--mode",
        "same",
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("3  4"));
}

#[test]
fn size_reports_a_layer_and_a_stack() {
    let out = convspec(&[
        "size",
        "--input-shape",
        "1,3,224,224",
        "--weight-shape",
        "64,3,7,7",
        "--stride",
        "2",
        "--padding",
        "3",
        "--bias",
        "false",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("[1, 64, 112, 112]"), "{text}");
    assert!(text.contains("9408"), "{text}"); // 64*3*49 weights
    assert!(
        text.contains(&(64u64 * 112 * 112 * 3 * 49).to_string()),
        "{text}"
    );
    let dir = common::tempdir();
    let stack = dir.path().join("stack.txt");
    std::fs::write(
        &stack,
        "input 1,3,32,32\nconv out_channels=8 kernel=3 padding=1\nmax_pool kernel=2\n",
    )
    .unwrap();
    let out = convspec(&["size", "--stack", s(&stack)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("[1, 8, 16, 16]"));
}

#[test]
fn demo_runs_and_names_the_seed_mistakes() {
    let out = convspec(&["demo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("[WRONG] cross-correlation [2,-1,1]"),
        "{text}"
    );
    assert!(text.contains("[4, 0, 3, 0, 1]"), "{text}");
}

/// The command line's allocator leaves the process's exit to the system: mimalloc's exit
/// handler, which prints the allocator's statistics when MIMALLOC_SHOW_STATS asks for them
/// and otherwise frees every page range it holds, one system call each, does not run.
#[test]
fn the_allocator_leaves_the_exit_to_the_system() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_convspec"))
        .arg("--version")
        .env("MIMALLOC_SHOW_STATS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("stats"), "the exit handler ran: {stderr}");
}

#[test]
fn help_states_the_mapping() {
    let out = convspec(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("torch.nn.functional.conv1d/conv2d/conv3d   convspec correlate"));
    assert!(text.contains("np.convolve(a, v, mode)                    convspec convolve"));
}

#[test]
fn bad_inputs_get_a_clear_error_and_exit_2() {
    let dir = common::tempdir();
    let d = dir.path();
    let x = save(d, "x.npy", &ints(&[1, 2, 5], &[1; 10]), Dtype::F64);
    let w = save(d, "w.npy", &ints(&[2, 2, 3], &[1; 12]), Dtype::F64);
    let w3 = save(d, "w3.npy", &ints(&[2, 3, 3], &[1; 18]), Dtype::F64);
    let big = save(d, "big.npy", &ints(&[1, 2, 9], &[1; 18]), Dtype::F64);
    let run = |extra: &[&str]| {
        let mut args = vec!["correlate", "--input", s(&x), "--weight", s(&w)];
        args.extend_from_slice(extra);
        convspec(&args)
    };
    // Geometry.
    refused(&run(&["--stride", "0"]), "stride must be positive");
    refused(&run(&["--dilation", "0"]), "dilation must be positive");
    refused(&run(&["--groups", "0"]), "groups must be positive");
    refused(&run(&["--groups", "2"]), "expects 4 input channels");
    refused(
        &run(&["--padding", "same", "--stride", "2"]),
        "padding='same' is not supported for strided",
    );
    refused(
        &run(&["--padding", "5", "--padding-mode", "reflect"]),
        "reflect padding of 5",
    );
    refused(
        &run(&["--padding", "6", "--padding-mode", "circular"]),
        "circular padding of 6",
    );
    refused(&run(&["--dilation", "3"]), "larger than the padded input");
    refused(
        &run(&["--stride", "1,2"]),
        "invalid value '1,2' for --stride",
    );
    refused(
        &run(&["--padding", "sideways"]),
        "invalid value 'sideways' for --padding",
    );
    refused(&run(&["--padding-mode", "mirror"]), "--padding-mode");
    refused(&run(&["--pads", "1,2,3"]), "--pads");
    refused(
        &convspec(&["correlate", "--input", s(&x), "--weight", s(&w3)]),
        "expects 3 input channels",
    );
    refused(
        &convspec(&["correlate", "--input", s(&x), "--weight", s(&big)]),
        "effective size 9",
    );
    let w4 = save(d, "w4.npy", &ints(&[1, 2, 1, 1, 1], &[1, 1]), Dtype::F64);
    refused(
        &convspec(&["correlate", "--input", s(&x), "--weight", s(&w4)]),
        "has rank 3 but weight",
    );
    refused(
        &run(&["--mode", "same", "--stride", "2"]),
        "do not apply with --mode",
    );
    refused(&run(&["--mode", "middle"]), "invalid mode 'middle'");
    // Files.
    let garbage = d.join("garbage.npy");
    std::fs::write(&garbage, b"this is not a numpy file").unwrap();
    refused(
        &convspec(&["correlate", "--input", s(&garbage), "--weight", s(&w)]),
        "garbage.npy: malformed .npy",
    );
    let good = std::fs::read(&x).unwrap();
    let truncated = d.join("truncated.npy");
    std::fs::write(&truncated, &good[..good.len() - 5]).unwrap();
    refused(
        &convspec(&["correlate", "--input", s(&truncated), "--weight", s(&w)]),
        "truncated.npy: malformed .npy",
    );
    let lying = d.join("lying.npy");
    std::fs::write(
        &lying,
        edit_header(&good, "(1, 2, 5)", "(1, 2, 99999999999999)"),
    )
    .unwrap();
    refused(
        &convspec(&["correlate", "--input", s(&lying), "--weight", s(&w)]),
        "header declares shape",
    );
    let complex = d.join("complex.npy");
    std::fs::write(&complex, edit_header(&good, "<f8", "<c8")).unwrap();
    refused(
        &convspec(&["correlate", "--input", s(&complex), "--weight", s(&w)]),
        "unsupported dtype '<c8'",
    );
    let mut nan = good.clone();
    let n = nan.len();
    nan[n - 16..n - 8].copy_from_slice(&f64::NAN.to_le_bytes());
    let nan_path = d.join("nan.npy");
    std::fs::write(&nan_path, &nan).unwrap();
    refused(
        &convspec(&["correlate", "--input", s(&nan_path), "--weight", s(&w)]),
        "element [0, 1, 3] is nan",
    );
    let mut inf = good;
    inf[n - 8..].copy_from_slice(&f64::NEG_INFINITY.to_le_bytes());
    let inf_path = d.join("inf.npy");
    std::fs::write(&inf_path, &inf).unwrap();
    refused(
        &convspec(&["correlate", "--input", s(&inf_path), "--weight", s(&w)]),
        "element [0, 1, 4] is -inf",
    );
    refused(
        &convspec(&[
            "correlate",
            "--input",
            s(&d.join("missing.npy")),
            "--weight",
            s(&w),
        ]),
        "missing.npy",
    );
    refused(&run(&["--output", s(&x)]), "is also an input");
    // A result that the requested integer dtype cannot hold.
    let half = save(
        d,
        "half.npy",
        &ints(&[1, 2, 5], &[1; 10]).mapv(|v| v / Rational::from_integer(4.into())),
        Dtype::F64,
    );
    let out_path = d.join("out.npy");
    refused(
        &convspec(&[
            "correlate",
            "--input",
            s(&half),
            "--weight",
            s(&w),
            "--output",
            s(&out_path),
            "--output-dtype",
            "int8",
            "--stride",
            "1",
        ]),
        "not representable as int8",
    );
    assert!(!out_path.exists(), "no partial output is left behind");
    // Overflowing sizes.
    refused(
        &convspec(&[
            "size",
            "--input-shape",
            "18446744073709551615,1,4,4",
            "--weight-shape",
            "18446744073709551615,1,1,1",
        ]),
        "overflows",
    );
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn layer_family_commands() {
    let dir = common::tempdir();
    let d = dir.path();
    // conv-transpose by hand: x = [1, 2], w = [1, 10, 100], stride 2, padding 1,
    // output_padding 1, bias 5 -> [15, 107, 25, 205].
    let x = save(d, "x.npy", &ints(&[1, 1, 2], &[1, 2]), Dtype::F64);
    let w = save(d, "w.npy", &ints(&[1, 1, 3], &[1, 10, 100]), Dtype::F64);
    let b = save(d, "b.npy", &ints(&[1], &[5]), Dtype::F64);
    let y = d.join("y.npy");
    ok(&convspec(&[
        "conv-transpose",
        "--input",
        s(&x),
        "--weight",
        s(&w),
        "--bias",
        s(&b),
        "--stride",
        "2",
        "--padding",
        "1",
        "--output-padding",
        "1",
        "--output",
        s(&y),
    ]));
    assert_eq!(
        read_npy(&y).unwrap().values,
        ints(&[1, 1, 4], &[15, 107, 25, 205])
    );
    // The issue's AvgPool1d(2, stride=3, ceil_mode=True) on 0..6 -> [1/2, 7/2, 6].
    let r = save(
        d,
        "r.npy",
        &ints(&[1, 1, 7], &[0, 1, 2, 3, 4, 5, 6]),
        Dtype::F32,
    );
    let text = ok(&convspec(&[
        "pool",
        "avg",
        "--input",
        s(&r),
        "--kernel-size",
        "2",
        "--stride",
        "3",
        "--ceil-mode",
        "true",
    ]));
    assert!(text.contains("1/2  7/2  6"), "{text}");
    // Max pooling with PyTorch indices written as int64.
    let idx = d.join("idx.npy");
    ok(&convspec(&[
        "pool",
        "max",
        "--input",
        s(&r),
        "--kernel-size",
        "3",
        "--stride",
        "2",
        "--indices",
        s(&idx),
        "--output",
        s(&y),
    ]));
    let indices = read_npy(&idx).unwrap();
    assert_eq!(indices.dtype, Dtype::Int(8));
    assert_eq!(indices.values, ints(&[1, 1, 3], &[2, 4, 6]));
    // Adaptive average of 0..6 to 3 bins [0,3) [2,5) [4,7): 1, 3, 5.
    let text = ok(&convspec(&[
        "pool",
        "adaptive-avg",
        "--input",
        s(&r),
        "--output-size",
        "3",
    ]));
    assert!(text.contains("1  3  5"), "{text}");
    // grad: x = [1, 2, 3, 4], w = [1, 10], g = [1, 0, 2]: dx = [1, 10, 2, 20], dw = [7, 10], db = 3.
    let gx = save(d, "gx.npy", &ints(&[1, 1, 4], &[1, 2, 3, 4]), Dtype::F64);
    let gw = save(d, "gw.npy", &ints(&[1, 1, 2], &[1, 10]), Dtype::F64);
    let g = save(d, "g.npy", &ints(&[1, 1, 3], &[1, 0, 2]), Dtype::F64);
    let (di, dw, db) = (d.join("di.npy"), d.join("dw.npy"), d.join("db.json"));
    ok(&convspec(&[
        "grad",
        "--input",
        s(&gx),
        "--weight",
        s(&gw),
        "--grad-output",
        s(&g),
        "--grad-input",
        s(&di),
        "--grad-weight",
        s(&dw),
        "--grad-bias",
        s(&db),
    ]));
    assert_eq!(
        read_npy(&di).unwrap().values,
        ints(&[1, 1, 4], &[1, 10, 2, 20])
    );
    assert_eq!(read_npy(&dw).unwrap().values, ints(&[1, 1, 2], &[7, 10]));
    assert!(std::fs::read_to_string(&db).unwrap().contains(r#"["3"]"#));
    // unfold then fold of a 3x3 image with 2x2 windows: the centre is read four times.
    let img = save(
        d,
        "img.npy",
        &ints(&[1, 1, 3, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9]),
        Dtype::F64,
    );
    let cols = d.join("cols.npy");
    ok(&convspec(&[
        "unfold",
        "--input",
        s(&img),
        "--kernel-size",
        "2",
        "--output",
        s(&cols),
    ]));
    assert_eq!(read_npy(&cols).unwrap().values.shape(), &[1, 4, 4]);
    let back = d.join("back.npy");
    ok(&convspec(&[
        "fold",
        "--input",
        s(&cols),
        "--output-size",
        "3,3",
        "--kernel-size",
        "2",
        "--output",
        s(&back),
    ]));
    assert_eq!(
        read_npy(&back).unwrap().values,
        ints(&[1, 1, 3, 3], &[1, 4, 3, 8, 20, 12, 7, 16, 9])
    );

    // Refusals: typed errors, one line, exit 2.
    refused(
        &convspec(&[
            "conv-transpose",
            "--input",
            s(&x),
            "--weight",
            s(&w),
            "--output-padding",
            "1",
        ]),
        "output padding must be smaller than either stride or dilation",
    );
    refused(
        &convspec(&[
            "pool",
            "max",
            "--input",
            s(&r),
            "--kernel-size",
            "2",
            "--padding",
            "2",
        ]),
        "at most half",
    );
    // An adaptive output size of 0 is PyTorch's empty tensor, not an error.
    let empty = convspec(&[
        "pool",
        "adaptive-avg",
        "--input",
        s(&r),
        "--output-size",
        "0",
    ]);
    assert!(empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stdout).contains(", 0]"));
    refused(
        &convspec(&[
            "pool",
            "avg",
            "--input",
            s(&r),
            "--kernel-size",
            "2",
            "--divisor-override",
            "0",
        ]),
        "divisor_override must be non-zero",
    );
    refused(
        &convspec(&[
            "pool",
            "avg",
            "--input",
            s(&r),
            "--kernel-size",
            "2",
            "--ceil-mode",
            "yes",
        ]),
        "invalid value 'yes' for --ceil-mode",
    );
    refused(
        &convspec(&[
            "grad",
            "--input",
            s(&gx),
            "--weight",
            s(&gw),
            "--grad-output",
            s(&gx),
        ]),
        "grad_output has shape [1, 1, 4] but the forward output has shape [1, 1, 3]",
    );
    refused(
        &convspec(&[
            "fold",
            "--input",
            s(&cols),
            "--output-size",
            "4,4",
            "--kernel-size",
            "2",
        ]),
        "expected size of input's dimension 2",
    );
}

/// One text row of an aligned matrix whose cells are all at most 3 characters wide.
fn text_row(cells: &[&str]) -> String {
    let padded: Vec<String> = cells.iter().map(|c| format!("{c:>3}")).collect();
    format!("[ {} ]", padded.join("  "))
}

#[test]
fn toeplitz_prints_the_seed_example_in_text_and_latex() {
    let args = [
        "toeplitz",
        "--symbolic",
        "--kernel-shape",
        "2,2",
        "--input-shape",
        "3,3",
        "--mode",
        "full",
    ];
    let text = ok(&convspec(&args));
    assert!(text.contains("A is 16 x 9"), "{text}");
    // By hand, (x * k)[s, t] = sum x[s-a, t-b] k[a, b]: y_11 = k11 x11, y_12 = k12 x11 + k11 x12,
    // y_44 = k22 x33.
    let z = "0";
    assert!(
        text.contains(&text_row(&["k11", z, z, z, z, z, z, z, z])),
        "{text}"
    );
    assert!(
        text.contains(&text_row(&["k12", "k11", z, z, z, z, z, z, z])),
        "{text}"
    );
    assert!(
        text.contains(&text_row(&[z, z, z, z, z, z, z, z, "k22"])),
        "{text}"
    );
    assert!(text.contains("[ x33 ]"), "{text}");
    // y_22 = k11 x22 + k12 x21 + k21 x12 + k22 x11.
    assert!(
        text.contains("k11*x22 + k12*x21 + k21*x12 + k22*x11"),
        "{text}"
    );
    let mut latex_args = args.to_vec();
    latex_args.extend(["--format", "latex"]);
    let latex = ok(&convspec(&latex_args));
    assert!(latex.contains("\\begin{bmatrix}"), "{latex}");
    assert!(
        latex.contains("k_{11} & 0 & 0 & 0 & 0 & 0 & 0 & 0 & 0 \\\\"),
        "{latex}"
    );
    assert!(
        latex.contains("k_{12} & k_{11} & 0 & 0 & 0 & 0 & 0 & 0 & 0 \\\\"),
        "{latex}"
    );
    assert!(latex.contains("x_{33}"), "{latex}");
    // Valid mode: 4 x 9, first row y_11 = k22 x11 + k21 x12 + k12 x21 + k11 x22.
    let valid = ok(&convspec(&[
        "toeplitz",
        "--symbolic",
        "--kernel-shape",
        "2,2",
        "--input-shape",
        "3,3",
        "--mode",
        "valid",
    ]));
    assert!(valid.contains("A is 4 x 9"), "{valid}");
    assert!(
        valid.contains(&text_row(&["k22", "k21", z, "k12", "k11", z, z, z, z])),
        "{valid}"
    );
}

#[test]
fn toeplitz_numeric_npy_and_refusals() {
    use convspec::reference::numpy::Mode;
    use convspec::toeplitz::{convolution_matrix, MatrixLimit};
    let dir = common::tempdir();
    let d = dir.path();
    let a = ints(&[3], &[1, -2, 3]);
    let kernel = save(d, "a.npy", &a, Dtype::F64);
    for mode in ["full", "same", "valid"] {
        let out = d.join(format!("m_{mode}.npy"));
        ok(&convspec(&[
            "toeplitz",
            "--kernel",
            s(&kernel),
            "--input-shape",
            "5",
            "--mode",
            mode,
            "--format",
            "npy",
            "--output",
            s(&out),
        ]));
        let got = read_npy(&out).unwrap().values;
        let mode: Mode = mode.parse().unwrap();
        let values: Vec<Rational> = a.iter().cloned().collect();
        let expected = convolution_matrix(&values, 5, mode, MatrixLimit::DEFAULT).unwrap();
        assert_eq!(got.shape(), &[expected.nrows(), expected.ncols()]);
        for r in 0..expected.nrows() {
            for c in 0..expected.ncols() {
                assert_eq!(got[[r, c]], expected[(r, c)], "{mode} ({r},{c})");
            }
        }
    }
    // The ResNet-50 conv2 layer: a 200704 x 200704 dense matrix is refused with its size.
    refused(
        &convspec(&[
            "toeplitz",
            "--op",
            "correlate",
            "--symbolic",
            "--kernel-shape",
            "64,64,3,3",
            "--input-shape",
            "64,56,56",
            "--padding",
            "1",
        ]),
        "200704 x 200704",
    );
    refused(
        &convspec(&[
            "toeplitz",
            "--symbolic",
            "--kernel-shape",
            "2,2",
            "--input-shape",
            "3,3",
            "--format",
            "npy",
            "--output",
            s(&d.join("m.npy")),
        ]),
        "symbolic",
    );
    refused(
        &convspec(&[
            "toeplitz",
            "--symbolic",
            "--kernel-shape",
            "2,2,2",
            "--input-shape",
            "3",
        ]),
        "does not fit",
    );
    refused(
        &convspec(&["toeplitz", "--kernel-shape", "2,2", "--input-shape", "3,3"]),
        "--symbolic",
    );
    refused(
        &convspec(&[
            "toeplitz",
            "--symbolic",
            "--kernel-shape",
            "2,2",
            "--input-shape",
            "3,3",
            "--mode",
            "same",
            "--stride",
            "2",
        ]),
        "--stride",
    );
    refused(
        &convspec(&[
            "toeplitz",
            "--kernel",
            s(&kernel),
            "--input-shape",
            "2",
            "--mode",
            "valid",
        ]),
        "kernel",
    );
    refused(
        &convspec(&[
            "toeplitz",
            "--op",
            "avg-pool",
            "--input-shape",
            "4,4",
            "--kernel-size",
            "2",
            "--divisor-override",
            "0",
        ]),
        "divisor_override",
    );
    // Average pooling and unfold need no kernel file.
    let pool = ok(&convspec(&[
        "toeplitz",
        "--op",
        "avg-pool",
        "--input-shape",
        "4",
        "--kernel-size",
        "2",
    ]));
    assert!(pool.contains("A is 2 x 4"), "{pool}");
    assert!(pool.contains("1/2*x1 + 1/2*x2"), "{pool}");
    let unfold = ok(&convspec(&[
        "toeplitz",
        "--op",
        "unfold",
        "--input-shape",
        "3,3",
        "--kernel-size",
        "2",
    ]));
    assert!(unfold.contains("A is 16 x 9"), "{unfold}");
}

#[test]
fn check_exit_codes_report_and_refusals() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cudnn-h100/strided_dilated_grouped");
    let file = |name: &str| fixtures.join(format!("{name}.npy"));
    let dir = common::tempdir();
    let report = dir.path().join("report.json");
    let geometry = [
        "--stride",
        "2,1",
        "--padding",
        "1,2",
        "--dilation",
        "2,3",
        "--groups",
        "4",
    ];
    let run = |candidate: &Path, precision: &str, extra: &[&str]| {
        let (x, w) = (file("x"), file("w"));
        let mut args: Vec<String> = ["check", "--input", s(&x), "--weight", s(&w)]
            .map(String::from)
            .to_vec();
        args.extend(geometry.iter().map(|a| a.to_string()));
        args.extend(["--candidate", s(candidate), "--precision", precision].map(String::from));
        args.extend(extra.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        convspec(&refs)
    };
    // A legal fp32 output: exit 0 and a JSON report.
    let ok = run(&file("y_fp32_strict"), "fp32", &["--report", s(&report)]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["tightest"], "fp32");
    // The fp16 output is not an fp32 computation: exit 1, the first element listed; --plot
    // draws it (an SVG document whose title counts the failures of the text report).
    let plot = dir.path().join("fp16.svg");
    let fail = run(&file("y_fp16"), "fp32", &["--plot", s(&plot)]);
    assert_eq!(fail.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&fail.stdout);
    assert!(stdout.contains("FAIL"));
    let failed = stdout
        .split("FAIL: ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap();
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(
        svg.contains(&format!("{failed} of ")),
        "{failed} in the title"
    );
    // ... and is a legal fp16 one against the rounded inputs.
    let fp16 = run(&file("y_fp16"), "fp16", &["--round-inputs", "fp16"]);
    assert_eq!(
        fp16.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fp16.stdout)
    );
    // Unusable input: exit 2 with the reason.
    refused(&run(&file("y_fp16"), "fp8", &[]), "--precision");
    refused(&run(&file("x"), "fp32", &[]), "shape");
    refused(
        &run(&file("y_fp16"), "fp32", &["--report", s(&file("x"))]),
        "refusing to overwrite",
    );
}

#[test]
fn bench_prints_json_lines_and_refuses_unknown_layers() {
    let out = convspec(&[
        "bench",
        "--shapes",
        "mobilenet_depthwise_3x3",
        "--threads",
        "1",
        "--runs",
        "1",
        "--algorithm",
        "direct",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 1);
    for field in ["shape", "dtype", "algorithm", "threads", "ms", "gflops"] {
        assert!(rows[0].get(field).is_some(), "{field} in {}", rows[0]);
    }
    assert_eq!(rows[0]["shape"], "mobilenet_depthwise_3x3");
    assert_eq!(rows[0]["algorithm"], "direct");
    for bad in [
        vec!["bench", "--shapes", "resnet9000"],
        vec!["bench", "--threads", "0"],
        vec!["bench", "--algorithm", "gemm"],
        vec!["bench", "--dtype", "float16"],
    ] {
        let out = convspec(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn check_algorithm_winograd_applies_its_bound_and_refuses_other_layers() {
    let tmp = common::tempdir();
    let dir = tmp.path();
    let x = ints(
        &[1, 2, 5, 6],
        &(0..60).map(|v| (v * 7 % 11) - 5).collect::<Vec<_>>(),
    );
    let w = ints(
        &[3, 2, 3, 3],
        &(0..54).map(|v| (v * 5 % 7) - 3).collect::<Vec<_>>(),
    );
    let (xp, wp) = (
        save(dir, "x.npy", &x, Dtype::F32),
        save(dir, "w.npy", &w, Dtype::F32),
    );
    let y = dir.join("y.npy");
    let made = convspec(&[
        "correlate",
        "--input",
        s(&xp),
        "--weight",
        s(&wp),
        "--padding",
        "1",
        "--output",
        s(&y),
        "--output-dtype",
        "float32",
    ]);
    assert_eq!(
        made.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let check = |extra: &[&str]| {
        let mut args = vec![
            "check",
            "--input",
            s(&xp),
            "--weight",
            s(&wp),
            "--candidate",
            s(&y),
            "--precision",
            "fp32",
            "--algorithm",
            "winograd",
        ];
        args.extend_from_slice(extra);
        convspec(&args)
    };
    let ok = check(&["--padding", "1"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("PASS"));
    // The same output judged as the layer without padding has the wrong shape; at stride 2
    // Winograd does not apply: exit 2 either way, with one line.
    let refused = check(&["--padding", "1", "--stride", "2"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("winograd"));
}

#[test]
fn check_algorithm_fft_applies_the_normwise_bound() {
    use convspec::float::{Algorithm, FloatEngine};
    use convspec::geometry::{ConvGeometry, Padding};
    let tmp = common::tempdir();
    let dir = tmp.path();
    let x = ints(
        &[1, 2, 700],
        &(0..1400).map(|v| (v * 37 % 23) - 11).collect::<Vec<_>>(),
    );
    let w = ints(
        &[2, 2, 150],
        &(0..600).map(|v| (v * 13 % 17) - 8).collect::<Vec<_>>(),
    );
    let (xp, wp) = (
        save(dir, "x.npy", &x, Dtype::F32),
        save(dir, "w.npy", &w, Dtype::F32),
    );
    // The candidates: convspec's own FFT kernel in f32, for correlation and for true
    // convolution (the flipped kernel), with padding 'same' (PyTorch's and SciPy's 'same').
    let to_f32 = |t: &ArrayD<Rational>| t.mapv(|q| convspec::scalar::round_to_f64(&q) as f32);
    let geometry = ConvGeometry::new(1).with_padding(Padding::Same);
    let engine = FloatEngine::new(2);
    let run = |w: &ndarray::ArrayD<f32>| {
        engine
            .correlate(
                to_f32(&x).view(),
                w.view(),
                None,
                &geometry,
                Some(Algorithm::FFT),
            )
            .unwrap()
            .0
            .mapv(|v| convspec::scalar::rational_from_f64(f64::from(v)).unwrap())
    };
    let flipped = to_f32(&w)
        .slice(ndarray::s![.., .., ..;-1])
        .to_owned()
        .into_dyn();
    let correlated = save(dir, "y.npy", &run(&to_f32(&w)), Dtype::F32);
    let convolved = save(dir, "yc.npy", &run(&flipped), Dtype::F32);
    let check = |candidate: &Path, op: &str| {
        convspec(&[
            "check",
            "--input",
            s(&xp),
            "--weight",
            s(&wp),
            "--padding",
            "same",
            "--op",
            op,
            "--candidate",
            s(candidate),
            "--precision",
            "fp32",
            "--algorithm",
            "fft",
        ])
    };
    for (candidate, op, code) in [
        (&correlated, "correlate", 0),
        (&convolved, "convolve", 0),
        // Negative control: the convolution judged as the correlation (a missing flip).
        (&convolved, "correlate", 1),
    ] {
        let out = check(candidate, op);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{op} {candidate:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// What a PyTorch user types: `avg_pool2d(x, 3)` is `pool avg --kernel-size 3` on a 4-D input
/// (one value for every spatial dimension of the input); `--unbatched` reads (C, H, W).
#[test]
fn one_kernel_size_pools_every_spatial_dimension_of_the_input() {
    let tmp = common::tempdir();
    let d = tmp.path();
    let values: Vec<i64> = (0..50).collect();
    let x = save(d, "x.npy", &ints(&[1, 2, 5, 5], &values), Dtype::F64);
    let y = d.join("y.npy");
    let run = |input: &Path, extra: &[&str]| {
        let mut args = vec![
            "pool",
            "avg",
            "--input",
            input.to_str().unwrap(),
            "--kernel-size",
            "3",
        ];
        args.extend(extra);
        args.extend(["--output", y.to_str().unwrap()]);
        let out = convspec(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        read_npy(&y).unwrap().values
    };
    // avg_pool2d(x, 3) on 5x5: one 3x3 window per channel (stride = kernel), by hand: the mean
    // of rows 0-2, columns 0-2 of channel 0 is (0+1+2+5+6+7+10+11+12)/9 = 6.
    let pooled = run(&x, &[]);
    assert_eq!(pooled.shape(), &[1, 2, 1, 1]);
    assert_eq!(pooled[[0, 0, 0, 0]], Rational::from_integer(6.into()));
    assert_eq!(pooled[[0, 1, 0, 0]], Rational::from_integer(31.into()));
    let unbatched = save(d, "u.npy", &ints(&[2, 5, 5], &values), Dtype::F64);
    let pooled = run(&unbatched, &["--unbatched"]);
    assert_eq!(pooled.shape(), &[2, 1, 1]);
    assert_eq!(pooled[[1, 0, 0]], Rational::from_integer(31.into()));
}

/// `convspec grad` takes the forward command line unchanged, `--bias` included (checked for its
/// length, without effect on the gradients); an empty transposed convolution is PyTorch's
/// empty tensor.
#[test]
fn grad_accepts_the_forward_bias_and_empty_transposed_outputs_are_empty() {
    let tmp = common::tempdir();
    let d = tmp.path();
    let x = save(
        d,
        "x.npy",
        &ints(&[1, 2, 5], &[1, -2, 3, 0, 4, 2, 2, -1, 5, 1]),
        Dtype::F64,
    );
    let w = save(
        d,
        "w.npy",
        &ints(&[3, 2, 2], &[1, 0, -1, 2, 1, 1, 0, 3, 2, -2, 1, 1]),
        Dtype::F64,
    );
    let g = save(d, "g.npy", &ints(&[1, 3, 4], &[1; 12]), Dtype::F64);
    let b = save(d, "b.npy", &ints(&[3], &[5, 6, 7]), Dtype::F64);
    let b2 = save(d, "b2.npy", &ints(&[2], &[5, 6]), Dtype::F64);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let grad = |bias: Option<&Path>, out: &str| {
        let mut args = vec![
            "grad".to_string(),
            "--input".into(),
            s(&x),
            "--weight".into(),
            s(&w),
            "--grad-output".into(),
            s(&g),
        ];
        if let Some(b) = bias {
            args.extend(["--bias".to_string(), s(b)]);
        }
        args.extend(["--grad-weight".to_string(), s(&d.join(out))]);
        convspec(&args)
    };
    assert!(grad(None, "a.npy").status.success());
    let with_bias = grad(Some(&b), "wb.npy");
    assert!(
        with_bias.status.success(),
        "{}",
        String::from_utf8_lossy(&with_bias.stderr)
    );
    assert_eq!(
        read_npy(&d.join("a.npy")).unwrap().values,
        read_npy(&d.join("wb.npy")).unwrap().values
    );
    let wrong = grad(Some(&b2), "c.npy");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--bias has shape [2]"));
    // F.conv_transpose1d(x, w, padding=1) with L = 2, k = 1: (L-1) + 1 - 2 = 0 outputs.
    let tx = save(d, "tx.npy", &ints(&[1, 2, 2], &[1, 2, 3, 4]), Dtype::F64);
    let tw = save(d, "tw.npy", &ints(&[2, 3, 1], &[1; 6]), Dtype::F64);
    let y = d.join("empty.npy");
    let out = convspec(&[
        "conv-transpose",
        "--input",
        &s(&tx),
        "--weight",
        &s(&tw),
        "--padding",
        "1",
        "--output",
        &s(&y),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read_npy(&y).unwrap().values.shape(), &[1, 3, 0]);
    // One padding more is negative: refused, as PyTorch refuses it.
    let out = convspec(&[
        "conv-transpose",
        "--input",
        &s(&tx),
        "--weight",
        &s(&tw),
        "--padding",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// `check --accumulation`: each model is accepted and named on the report's contract line
/// (tf32 by default covers IEEE and tensor cores; fp32 stays IEEE), a bad one is refused.
#[test]
fn check_accumulation_models_are_named_in_the_report() {
    let tmp = common::tempdir();
    let d = tmp.path();
    let x = save(d, "x.npy", &ints(&[1, 1, 4], &[1, 2, 3, 4]), Dtype::F32);
    let w = save(d, "w.npy", &ints(&[1, 1, 2], &[1, -1]), Dtype::F32);
    // The exact output -1, -1, -1 (integers: every contract's correctly rounded value).
    let y = save(d, "y.npy", &ints(&[1, 1, 3], &[-1, -1, -1]), Dtype::F32);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let check = |precision: &str, extra: &[&str]| {
        let mut args = vec![
            "check".to_string(),
            "--input".into(),
            s(&x),
            "--weight".into(),
            s(&w),
        ];
        args.extend([
            "--candidate".to_string(),
            s(&y),
            "--precision".into(),
            precision.into(),
        ]);
        args.extend(extra.iter().map(|a| a.to_string()));
        convspec(&args)
    };
    for (precision, extra, named) in [
        ("tf32", vec![], "accumulation any (IEEE or tensor core)"),
        ("fp32", vec![], "accumulation ieee"),
        ("tf32", vec!["--accumulation", "ieee"], "accumulation ieee"),
        (
            "fp16",
            vec!["--accumulation", "tensor-core:extra-bits=3"],
            "accumulation tensor-core:extra-bits=3,normalisation=rz",
        ),
        (
            "fp32",
            vec!["--accumulation", "tensor-core"],
            "accumulation tensor-core,",
        ),
    ] {
        let out = check(precision, &extra);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{precision} {extra:?}: {stdout}"
        );
        assert!(stdout.contains(named), "{precision} {extra:?}: {stdout}");
    }
    let bad = check("fp32", &["--accumulation", "tensor-core:h100"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--accumulation: unknown accumulation"));
}
