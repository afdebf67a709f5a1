//! `convspec correlate` and `convspec convolve`.

use crate::args::{get_path, get_text, given, path, text};
use crate::common::{
    read_float_operands, read_layer_files, scaled, EngineArgs, GeometryArgs, OutputArgs,
};
use clap::{ArgMatches, Command};
use convspec::exact::ExactEngine;
use convspec::io::{Dtype, ExactTensor};
use convspec::op::Conv;
use convspec::op::{ArrayConv, ArrayForm};
use convspec::reference::numpy::Mode;
use convspec::reference::scipy::Boundary;
use convspec::scalar::{rational_from_f64, round_to_format, FloatFormat, Rational};
use ndarray::ArrayD;
use std::path::PathBuf;

/// Which operation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Cross-correlation (no flip).
    Correlate,
    /// True convolution (flip).
    Convolve,
}

/// Files, geometry and output options of correlate/convolve.
#[derive(Debug)]
pub struct ConvArgs {
    input: PathBuf,
    weight: PathBuf,
    bias: Option<PathBuf>,
    out: OutputArgs,
    geometry: GeometryArgs,
    engine: EngineArgs,
    mode: Option<String>,
    boundary: Option<String>,
    fillvalue: Option<String>,
    library: Option<String>,
}

impl ConvArgs {
    /// Adds the flags of correlate/convolve to a subcommand.
    pub fn define(cmd: Command) -> Command {
        let cmd = cmd.args([
            path("input", "Input: .npy (N, C_in, spatial...) or unbatched (C_in, spatial...); with --mode, any array (NumPy's a, SciPy's in1). A .json name reads exact JSON.").required(true),
            path("weight", "Weight: .npy (C_out, C_in/groups, k...); with --mode, NumPy's v / SciPy's in2.").required(true),
            path("bias", "Bias: .npy (C_out,)."),
        ]);
        let cmd = EngineArgs::define(GeometryArgs::define(OutputArgs::define(cmd)));
        cmd.args([
            text("mode", "NumPy/SciPy output mode: full | same | valid (selects the array form instead of the layer form)."),
            text("boundary", "scipy.signal.convolve2d/correlate2d boundary: fill | wrap | symm (2-D arrays; implies --mode full if absent)."),
            text("fillvalue", "Fill value for --boundary fill (integer, p/q or decimal; default 0)."),
            text("library", "Whose rules for --mode on 1-D arrays: numpy (default for 1-D) or scipy (default otherwise)."),
        ])
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        ConvArgs {
            input: given(m, "input"),
            weight: given(m, "weight"),
            bias: get_path(m, "bias"),
            out: OutputArgs::from_matches(m),
            geometry: GeometryArgs::from_matches(m),
            engine: EngineArgs::from_matches(m),
            mode: get_text(m, "mode"),
            boundary: get_text(m, "boundary"),
            fillvalue: get_text(m, "fillvalue"),
            library: get_text(m, "library"),
        }
    }
}

fn parse_fillvalue(text: &str) -> Result<Rational, String> {
    if let Ok(q) = text.trim().parse::<Rational>() {
        return Ok(q);
    }
    let v: f64 = text.trim().parse().map_err(|_| {
        format!(
            "invalid value '{text}' for --fillvalue: expected an integer, p/q or a decimal number"
        )
    })?;
    rational_from_f64(v).map_err(|e| format!("invalid value '{text}' for --fillvalue: {e}"))
}

/// The fill value as SciPy uses it: cast to the arrays' dtype first (rounded to nearest for a
/// float dtype, truncated toward zero for an integer one: `fillvalue=0.5` fills integer arrays
/// with 0); exact JSON inputs keep it exact.
fn fill_in_dtype(fill: Rational, dtype: Dtype) -> Rational {
    let format = match dtype {
        Dtype::F64 => FloatFormat::F64,
        Dtype::F32 => FloatFormat::F32,
        Dtype::F16 => FloatFormat::F16,
        Dtype::Bf16 => FloatFormat::BF16,
        Dtype::Int(_) | Dtype::Uint(_) | Dtype::Bool => return fill.trunc(),
        Dtype::Exact => return fill,
    };
    round_to_format(&fill, format).unwrap_or(fill)
}

fn compute_array_form(
    args: &ConvArgs,
    op: Operation,
    input: &ExactTensor,
    weight: &ExactTensor,
) -> Result<ArrayD<Rational>, String> {
    if args.geometry.any() {
        return Err("layer flags (--stride, --padding, --dilation, --groups, --padding-mode, --pads, --auto-pad) do not apply with --mode/--boundary (NumPy/SciPy form)".into());
    }
    if args.bias.is_some() {
        return Err("--bias does not apply with --mode/--boundary (NumPy/SciPy form)".into());
    }
    let mode: Mode = args
        .mode
        .as_deref()
        .unwrap_or("full")
        .parse()
        .map_err(|e| format!("--mode: {e}"))?;
    let form = if args.boundary.is_some() || args.fillvalue.is_some() {
        let boundary: Boundary = args
            .boundary
            .as_deref()
            .unwrap_or("fill")
            .parse()
            .map_err(|e| format!("--boundary: {e}"))?;
        let fill = args
            .fillvalue
            .as_deref()
            .map(parse_fillvalue)
            .transpose()?
            .unwrap_or_default();
        ArrayForm::Scipy2d(
            boundary,
            fill_in_dtype(fill, input.dtype.promote(weight.dtype)),
        )
    } else {
        let both_1d = input.values.ndim() == 1 && weight.values.ndim() == 1;
        match args.library.as_deref() {
            Some("numpy") => ArrayForm::Numpy,
            Some("scipy") => ArrayForm::Scipy,
            None if both_1d => ArrayForm::Numpy,
            None => ArrayForm::Scipy,
            Some(other) => {
                return Err(format!(
                    "invalid value '{other}' for --library: expected numpy or scipy"
                ))
            }
        }
    };
    let conv = ArrayConv {
        form,
        mode,
        flip: op == Operation::Convolve,
    };
    conv.evaluate(&input.values, &weight.values)
        .map_err(|e| e.to_string())
}

/// The layer with float `.npy` operands on the fast engine, from scaled integers to the rounded
/// output without rationals; false (nothing done) when the operands are not float `.npy`
/// files or the weight has no spatial dimension (the general path then reads them and says
/// what is wrong).
fn fast_layer(args: &ConvArgs, op: Operation, engine: &ExactEngine) -> Result<bool, String> {
    let required = [args.input.as_path(), args.weight.as_path()];
    let read = read_float_operands(&required, args.bias.as_deref(), &args.out.paths())?;
    let Some((operands, promoted)) = read else {
        return Ok(false);
    };
    let rank = operands[1].shape().len();
    if rank < 3 {
        return Ok(false);
    }
    let geometry = args.geometry.geometry(rank - 2)?;
    let conv = if op == Operation::Convolve {
        Conv::Convolve(geometry)
    } else {
        Conv::Correlate(geometry)
    };
    let layer = conv.on_engine(engine, [&operands[0], &operands[1]], operands.get(2));
    args.out.emit_layer(&layer, promoted)?;
    Ok(true)
}

/// Runs the subcommand.
pub fn run(args: ConvArgs, op: Operation) -> Result<(), String> {
    let array_form = args.mode.is_some()
        || args.boundary.is_some()
        || args.fillvalue.is_some()
        || args.library.is_some();
    if !array_form {
        if let Some(engine) = args.engine.fast()? {
            if fast_layer(&args, op, &engine)? {
                return Ok(());
            }
        }
    }
    let files = read_layer_files(
        &args.input,
        &args.weight,
        args.bias.as_deref(),
        &args.out.paths(),
    )?;
    let (input, weight, bias) = (&files.input, &files.weight, &files.bias);
    let result = if array_form {
        compute_array_form(&args, op, input, weight)?
    } else {
        let rank = weight.values.ndim().checked_sub(2).filter(|r| *r >= 1).ok_or_else(|| {
            format!("--weight {} has shape {:?}: expected (C_out, C_in/groups, k...) with at least one spatial dimension (or use --mode for NumPy/SciPy arrays)", args.weight.display(), weight.values.shape())
        })?;
        let geometry = args.geometry.geometry(rank)?;
        let conv = if op == Operation::Convolve {
            Conv::Convolve(geometry)
        } else {
            Conv::Correlate(geometry)
        };
        match args.engine.fast()? {
            Some(engine) => {
                let (x, w) = (scaled(input)?, scaled(weight)?);
                let b = bias.as_ref().map(scaled).transpose()?;
                conv.evaluate_fast(&engine, &x, &w, b.as_ref())
                    .map_err(|e| e.to_string())?
                    .to_rationals()
            }
            None => conv
                .evaluate(
                    &input.values,
                    &weight.values,
                    bias.as_ref().map(|b| &b.values),
                )
                .map_err(|e| e.to_string())?,
        }
    };
    args.out.emit(&result, files.promoted)
}
