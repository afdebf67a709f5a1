//! `convspec check`: the oracle on the command line.
//!
//! `convspec check` takes the files and geometry flags of `correlate` plus the candidate;
//! `convspec check pool|conv-transpose|grad` take those of the matching command. Exit code 0
//! when every element is within the bound, 1 when one is not, 2 for unusable input.

use crate::args::{get_path, get_text, given, number, path, text, value_enum};
use crate::common::{
    concurrent_reads, read_flag, read_float_operands, read_layer_files, refuse_clobber, EngineArgs,
    GeometryArgs, LayerFiles,
};
use crate::layers::{pool_op, transpose_geometry, weight_rank, GradArgs, PoolArgs, TransposeArgs};
use clap::{ArgMatches, Command};
use convspec::exact::ExactEngine;
use convspec::float::Algorithm;
use convspec::io::{read_npy_float, write_atomically, ExactTensor, FloatArray};
use convspec::op::{ConvGradients, ConvTranspose};
use convspec::oracle::{
    check, round_inputs, CheckOptions, Cut, Operands, Precision, Reference, Report,
};
use convspec::scalar::{FloatFormat, Rational};
use ndarray::ArrayD;
use std::path::{Path, PathBuf};

/// Which layer `convspec check` (without a subcommand) recomputes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckedOp {
    /// Cross-correlation (PyTorch's conv).
    Correlate,
    /// True convolution.
    Convolve,
}

value_enum!(CheckedOp {
    Correlate => "correlate": "Cross-correlation: what PyTorch and ONNX call convolution",
    Convolve => "convolve": "True convolution (kernel flipped)",
});

/// Rounding of the inputs to TF32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tf32Rounding {
    /// Truncation (chopping), the safe assumption.
    Truncation,
    /// Round to nearest.
    Nearest,
}

value_enum!(Tf32Rounding {
    Truncation => "truncation": "Inputs cut toward zero (u = 2^-10); the safe assumption",
    Nearest => "nearest": "Inputs rounded to nearest (u = 2^-11)",
});

/// The oracle's own flags.
#[derive(Debug, Clone)]
pub struct OracleArgs {
    candidate: Option<PathBuf>,
    precision: String,
    round_inputs: Option<String>,
    tf32_rounding: Tf32Rounding,
    accumulation: Option<String>,
    report: Option<PathBuf>,
    plot: Option<PathBuf>,
    lambda: Option<String>,
    listed: usize,
}

impl OracleArgs {
    /// Adds the oracle flags; `candidate` says whether `--candidate` is the output checked
    /// (gradients name their candidates with their own flags).
    pub fn define(cmd: Command, candidate: bool) -> Command {
        let cmd = if candidate {
            cmd.arg(path("candidate", "The other implementation's output (.npy: float16, float32 or float64; NaN and infinity allowed).").required(true))
        } else {
            cmd
        };
        cmd.args([
            text("precision", "The arithmetic the candidate claims: fp64 | fp32 | tf32 | fp16 | bf16.").required(true),
            text("round-inputs", "Round the inputs (x, w, b) to fp16 | bf16 | tf32 (to nearest) before the exact reference, as a cast like x.half() does."),
            crate::args::choice::<Tf32Rounding>("tf32-rounding", "How the tf32 contract cuts fp32 inputs: truncation (default) | nearest.", "truncation"),
            text("accumulation", "How the candidate accumulated: any (default: the bound that holds for IEEE and for tensor cores) | ieee (round to nearest, any order, FMA or not: about 4x tighter) | tensor-core[:extra-bits=E,normalisation=rz|rn] (block FMAs with truncated alignment). Pooling is always judged as IEEE."),
            path("report", "Write the report as JSON here."),
            path("plot", "Draw where the errors are as SVG here: the histogram of |error|/bound, the largest ratio per output position and per channel (gradients: one file per candidate, its name before the extension)."),
            text("lambda", "lambda of the probabilistic level lambda sqrt(n) above which a legal element is flagged suspicious (default 6)."),
            number("listed", "How many failing elements to list (default 10).").default_value("10"),
        ])
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches, candidate: bool) -> Self {
        OracleArgs {
            candidate: if candidate {
                get_path(m, "candidate")
            } else {
                None
            },
            precision: given(m, "precision"),
            round_inputs: get_text(m, "round-inputs"),
            tf32_rounding: given(m, "tf32-rounding"),
            accumulation: get_text(m, "accumulation"),
            report: get_path(m, "report"),
            plot: get_path(m, "plot"),
            lambda: get_text(m, "lambda"),
            listed: given(m, "listed"),
        }
    }

    fn precision(&self) -> Result<Precision, String> {
        self.precision
            .parse()
            .map_err(|e| format!("--precision: {e}"))
    }

    fn rounding(&self) -> Result<Option<FloatFormat>, String> {
        let Some(text) = &self.round_inputs else {
            return Ok(None);
        };
        Ok(Some(match text.to_ascii_lowercase().as_str() {
            "fp16" | "float16" | "half" => FloatFormat::F16,
            "bf16" | "bfloat16" => FloatFormat::BF16,
            "tf32" => FloatFormat::TF32,
            other => {
                return Err(format!(
                    "invalid value '{other}' for --round-inputs: expected fp16, bf16 or tf32"
                ))
            }
        }))
    }

    fn options(&self) -> Result<CheckOptions, String> {
        let mut options = CheckOptions {
            tf32_cut: match self.tf32_rounding {
                Tf32Rounding::Truncation => Cut::Truncation,
                Tf32Rounding::Nearest => Cut::Nearest,
            },
            listed: self.listed,
            keep_ratios: self.plot.is_some(),
            ..CheckOptions::default()
        };
        if let Some(text) = &self.accumulation {
            options.accumulation = text.parse().map_err(|e| format!("--accumulation: {e}"))?;
        }
        if let Some(text) = &self.lambda {
            options.lambda = text
                .parse::<f64>()
                .ok()
                .filter(|l| l.is_finite() && *l > 0.0)
                .ok_or_else(|| {
                    format!("invalid value '{text}' for --lambda: expected a positive number")
                })?;
        }
        Ok(options)
    }

    fn outputs(&self) -> Vec<&Path> {
        self.report
            .iter()
            .chain(&self.plot)
            .map(PathBuf::as_path)
            .collect()
    }

    /// Input, weight and bias as the candidate saw them.
    fn prepare_layer(&self, files: LayerFiles) -> Result<OwnedOperands, String> {
        Ok((
            self.prepare(files.input, "--input")?,
            self.prepare(files.weight, "--weight")?,
            files.bias.map(|b| self.prepare(b, "--bias")).transpose()?,
        ))
    }

    /// The inputs as the candidate saw them (rounded when `--round-inputs` says so).
    fn prepare(&self, t: ExactTensor, flag: &str) -> Result<ArrayD<Rational>, String> {
        match self.rounding()? {
            Some(format) => round_inputs(&t.values, format).map_err(|e| format!("{flag}: {e}")),
            None => Ok(t.values),
        }
    }
}

/// Input, weight and optional bias.
type OwnedOperands = (ArrayD<Rational>, ArrayD<Rational>, Option<ArrayD<Rational>>);

/// Reads a candidate output: its values: float32 files as f32 (judged in place), float16 and float64
/// files as f64.
fn read_candidate(flag: &str, path: &Path) -> Result<FloatArray, String> {
    read_npy_float(path)
        .map(|(_, values)| values)
        .map_err(|e| format!("{flag}: {e}"))
}

fn engine(args: &EngineArgs) -> Result<ExactEngine, String> {
    args.fast()?
        .ok_or_else(|| "check computes its reference with the fast exact engine (identical to the reference engine); --engine reference does not apply".to_string())
}

/// Checks one candidate against one reference, prints the report and writes its JSON.
fn judge(
    label: &str,
    reference: &Reference,
    candidate: &FloatArray,
    oracle: &OracleArgs,
) -> Result<Report, String> {
    let (precision, options) = (oracle.precision()?, oracle.options()?);
    let report = match candidate {
        FloatArray::F32(values) => check(reference, values.view(), precision, &options),
        FloatArray::F64(values) => check(reference, values.view(), precision, &options),
    }
    .map_err(|e| format!("{label}: {e}"))?;
    println!("{label}");
    print!("{}", report.render());
    Ok(report)
}

fn write_report(oracle: &OracleArgs, reports: &[(&str, &Report)]) -> Result<(), String> {
    if let Some(path) = &oracle.plot {
        for (name, report) in reports {
            let path = if reports.len() == 1 {
                path.clone()
            } else {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                path.with_file_name(format!("{stem}.{name}.svg"))
            };
            let ratios = report.ratios.as_ref().ok_or("no ratios were kept")?;
            let title = format!("{name}, {}", report.contract.precision);
            let svg = convspec::oracle::plot::svg(ratios, &title)?;
            write_atomically(&path, svg.as_bytes()).map_err(|e| e.to_string())?;
        }
    }
    let Some(path) = &oracle.report else {
        return Ok(());
    };
    let json = if let [(_, report)] = reports {
        report.to_json()
    } else {
        serde_json::Value::Object(
            reports
                .iter()
                .map(|(name, r)| (name.to_string(), r.to_json()))
                .collect(),
        )
    };
    let text = serde_json::to_string_pretty(&json).expect("JSON values serialise");
    write_atomically(path, text.as_bytes()).map_err(|e| e.to_string())
}

/// The subcommand `check` with its own subcommands.
pub fn command() -> Command {
    Command::new("check")
        .about("The oracle: is a candidate output (another library's .npy) what the claimed floating-point arithmetic can produce? Exact reference, rigorous bound per element.")
        .defer(define)
}

/// The arguments and subcommands of `check` (defined when it is the command parsed).
fn define(top: Command) -> Command {
    let top = top
        .args_conflicts_with_subcommands(true)
        .args([
            path("input", "Input .npy (N, C_in, spatial...) or unbatched (C_in, spatial...)."),
            path("weight", "Weight .npy (C_out, C_in/groups, k...)."),
            path("bias", "Bias .npy (C_out,)."),
            crate::args::choice::<CheckedOp>("op", "The layer: correlate (PyTorch's conv, default) | convolve.", "correlate"),
            text("algorithm", "The algorithm the candidate claims, one of convspec's float algorithms: direct or im2col (any summation order of the products: direct, im2col, GEMM, tensor cores; default; this is the one for other libraries) | winograd (convspec's own F(2x2, 3x3) kernel: its transforms' bound, proofs/exact.md W1; not cuDNN's Winograd, whose transforms differ) | winograd4 (convspec's F(4x4, 3x3), W2) | winograd-s2 (convspec's Winograd on a stride-2 layer's phases, W3) | fft (convspec's FFT correlation with overlap-add in its power-of-two blocks: the normwise bound, proofs/exact.md F1; not cuDNN's FFT).").default_value("direct"),
        ]);
    let top = OracleArgs::define(GeometryArgs::define(EngineArgs::define(top)), true)
        .after_help("Exit codes: 0 every element within the bound, 1 some element is not, 2 unusable input.\nExample: convspec check --input x.npy --weight w.npy --padding 1 --candidate y.npy --precision tf32");
    top.subcommands([
        OracleArgs::define(
            PoolArgs::define(Command::new("pool").about("Check pooling: max must be exact; avg has one division.")),
            true,
        ),
        OracleArgs::define(
            TransposeArgs::define(Command::new("conv-transpose").about("Check a transposed convolution.")),
            true,
        ),
        OracleArgs::define(
            GradArgs::define(Command::new("grad").about("Check gradients of the correlation layer: --grad-input, --grad-weight and --grad-bias name the candidate files.")),
            false,
        ),
    ])
}

/// Runs `convspec check`; Ok(false) when the candidate fails.
pub fn run(m: &ArgMatches) -> Result<bool, String> {
    match m.subcommand() {
        Some(("pool", sub)) => run_pool(
            PoolArgs::from_matches(sub),
            OracleArgs::from_matches(sub, true),
        ),
        Some(("conv-transpose", sub)) => run_transpose(
            TransposeArgs::from_matches(sub),
            OracleArgs::from_matches(sub, true),
        ),
        Some(("grad", sub)) => run_grad(
            GradArgs::from_matches(sub),
            OracleArgs::from_matches(sub, false),
        ),
        _ => run_layer(m),
    }
}

fn run_layer(m: &ArgMatches) -> Result<bool, String> {
    let oracle = OracleArgs::from_matches(m, true);
    let (Some(input), Some(weight)) = (get_path(m, "input"), get_path(m, "weight")) else {
        return Err(
            "--input and --weight are required (or a subcommand: pool, conv-transpose, grad)"
                .into(),
        );
    };
    let bias = get_path(m, "bias");
    let candidate = oracle.candidate.clone().expect("required");
    // Where the command may use more than one thread, the candidate is read as a task of its
    // pool while the reference is computed (reading the operands leaves a core idle; the
    // worker that reads it then joins the reference's loops); the reference's errors come
    // first either way.
    let mut early = None;
    let reference = rayon::in_place_scope(|scope| {
        if concurrent_reads() {
            scope.spawn(|_| early = Some(read_candidate("--candidate", &candidate)));
        }
        layer_reference(m, &oracle, &input, &weight, bias.as_deref())
    });
    let (reference, note) = reference?;
    let values = match early {
        Some(values) => values?,
        None => read_candidate("--candidate", &candidate)?,
    };
    judge_read(&candidate, &values, &note, &reference, &oracle)
}

/// The layer's reference (the fast path where it applies) and the note on whose bound it is.
fn layer_reference(
    m: &ArgMatches,
    oracle: &OracleArgs,
    input: &Path,
    weight: &Path,
    bias: Option<&Path>,
) -> Result<(Reference, String), String> {
    if let Some(reference) = fast_reference(m, oracle, input, weight, bias)? {
        return Ok((reference, String::new()));
    }
    let files = read_layer_files(input, weight, bias, &oracle.outputs())?;
    let op: CheckedOp = given(m, "op");
    let geometry =
        GeometryArgs::from_matches(m).geometry(weight_rank(&files.weight, "--weight")?)?;
    let engine = engine(&EngineArgs::from_matches(m))?;
    let (x, w, b) = oracle.prepare_layer(files)?;
    let algorithm: Algorithm = given::<String>(m, "algorithm")
        .parse()
        .map_err(|e| format!("--algorithm: {e}"))?;
    // True convolution is the correlation with the flipped kernel: the same values, the same
    // bounds, for every algorithm.
    let w = if op == CheckedOp::Convolve {
        convspec::reference::conv::flip_kernel(&w)
    } else {
        w
    };
    let reference = algorithm
        .reference(
            &engine,
            Operands {
                input: &x,
                weight: &w,
                bias: b.as_ref(),
                geometry: &geometry,
            },
            oracle.precision()?,
        )
        .map_err(|e| e.to_string())?;
    let note = algorithm.own_bound().map_or_else(String::new, |bound| {
        format!(" (the bound of {bound}, not of another library's kernel)")
    });
    Ok((reference, note))
}

/// The reference of a layer with float `.npy` operands under the direct bound, built from the
/// operands read straight into scaled integers (no rationals); None when another path applies
/// (rounded inputs, another algorithm's bound, operands that are not float `.npy` files).
fn fast_reference(
    m: &ArgMatches,
    oracle: &OracleArgs,
    input: &Path,
    weight: &Path,
    bias: Option<&Path>,
) -> Result<Option<Reference>, String> {
    let algorithm: Algorithm = given::<String>(m, "algorithm")
        .parse()
        .map_err(|e| format!("--algorithm: {e}"))?;
    if oracle.round_inputs.is_some() || algorithm.own_bound().is_some() {
        return Ok(None);
    }
    let Some((operands, _)) = read_float_operands(&[input, weight], bias, &oracle.outputs())?
    else {
        return Ok(None);
    };
    let rank = operands[1].shape().len();
    if rank < 3 {
        return Ok(None);
    }
    let geometry = GeometryArgs::from_matches(m).geometry(rank - 2)?;
    let engine = engine(&EngineArgs::from_matches(m))?;
    let weight = if given::<CheckedOp>(m, "op") == CheckedOp::Convolve {
        operands[1].flip_spatial(2)
    } else {
        operands[1].clone()
    };
    Reference::correlate_scaled(&engine, &operands[0], &weight, operands.get(2), &geometry)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Reads the one candidate `--candidate`, judges it (its label: the path and `note`), prints
/// the report and writes its JSON; Ok(false) when it fails.
fn judge_one(
    path: &Path,
    note: &str,
    reference: &Reference,
    oracle: &OracleArgs,
) -> Result<bool, String> {
    let candidate = read_candidate("--candidate", path)?;
    judge_read(path, &candidate, note, reference, oracle)
}

/// Judges the candidate read from `path` ([`judge_one`] after the reading).
fn judge_read(
    path: &Path,
    candidate: &FloatArray,
    note: &str,
    reference: &Reference,
    oracle: &OracleArgs,
) -> Result<bool, String> {
    let label = format!("{}{note}", path.display());
    let report = judge(&label, reference, candidate, oracle)?;
    write_report(oracle, &[("output", &report)])?;
    Ok(report.passed())
}

fn run_pool(args: PoolArgs, oracle: OracleArgs) -> Result<bool, String> {
    if !args.out.paths().is_empty() || args.indices.is_some() {
        return Err("--output, --exact-json and --indices do not apply to check".into());
    }
    let candidate_path = oracle.candidate.clone().expect("required");
    refuse_clobber(&[&args.input], &oracle.outputs())?;
    let input = read_flag("--input", &args.input)?;
    let x = oracle.prepare(input, "--input")?;
    let reference = pool_op(&args, &x)?
        .reference(&x)
        .map_err(|e| e.to_string())?;
    judge_one(&candidate_path, "", &reference, &oracle)
}

fn run_transpose(args: TransposeArgs, oracle: OracleArgs) -> Result<bool, String> {
    if !args.out.paths().is_empty() {
        return Err("--output and --exact-json do not apply to check".into());
    }
    let candidate_path = oracle.candidate.clone().expect("required");
    if oracle.round_inputs.is_none() {
        let required = [args.input.as_path(), args.weight.as_path()];
        let bias = args.bias.as_deref();
        if let Some((ops, _)) = read_float_operands(&required, bias, &oracle.outputs())? {
            let rank = ops[1].shape().len();
            if rank >= 3 {
                let geometry = transpose_geometry(&args, rank - 2)?;
                let engine = engine(&args.engine)?;
                let reference = Reference::conv_transpose_scaled(
                    &engine,
                    &ops[0],
                    &ops[1],
                    ops.get(2),
                    &geometry,
                )
                .map_err(|e| e.to_string())?;
                return judge_one(&candidate_path, "", &reference, &oracle);
            }
        }
    }
    let files = read_layer_files(
        &args.input,
        &args.weight,
        args.bias.as_deref(),
        &oracle.outputs(),
    )?;
    let geometry = transpose_geometry(&args, weight_rank(&files.weight, "--weight")?)?;
    let engine = engine(&args.engine)?;
    let (x, w, b) = oracle.prepare_layer(files)?;
    let reference = ConvTranspose(geometry)
        .reference(&engine, &x, &w, b.as_ref())
        .map_err(|e| e.to_string())?;
    judge_one(&candidate_path, "", &reference, &oracle)
}

fn run_grad(args: GradArgs, oracle: OracleArgs) -> Result<bool, String> {
    let candidates = [
        ("grad_input", "--grad-input", &args.grad_input),
        ("grad_weight", "--grad-weight", &args.grad_weight),
        ("grad_bias", "--grad-bias", &args.grad_bias),
    ];
    if candidates.iter().all(|(_, _, p)| p.is_none()) {
        return Err(
            "name at least one candidate: --grad-input, --grad-weight or --grad-bias".into(),
        );
    }
    if args.output_dtype.is_some() {
        return Err("--output-dtype does not apply to check".into());
    }
    refuse_clobber(
        &[&args.input, &args.weight, &args.grad_output],
        &oracle.outputs(),
    )?;
    let input = read_flag("--input", &args.input)?;
    let weight = read_flag("--weight", &args.weight)?;
    let grad_output = read_flag("--grad-output", &args.grad_output)?;
    let geometry = args.geometry.geometry(weight_rank(&weight, "--weight")?)?;
    args.check_bias(weight.values.shape(), &oracle.outputs())?;
    let engine = engine(&args.engine)?;
    let x = oracle.prepare(input, "--input")?;
    let w = oracle.prepare(weight, "--weight")?;
    let g = oracle.prepare(grad_output, "--grad-output")?;
    let references = ConvGradients(geometry)
        .references(&engine, &x, &w, &g)
        .map_err(|e| e.to_string())?;
    let mut reports = Vec::new();
    for ((name, flag, path), reference) in candidates.iter().zip(&references) {
        if let Some(path) = path {
            let candidate = read_candidate(flag, path)?;
            let report = judge(
                &format!("{name} ({})", path.display()),
                reference,
                &candidate,
                &oracle,
            )?;
            reports.push((*name, report));
        }
    }
    let named: Vec<(&str, &Report)> = reports.iter().map(|(n, r)| (*n, r)).collect();
    write_report(&oracle, &named)?;
    Ok(reports.iter().all(|(_, r)| r.passed()))
}
