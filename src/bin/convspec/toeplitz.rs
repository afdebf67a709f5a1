//! `convspec toeplitz`: an operator as an explicit matrix, numeric or symbolic.

use crate::args::{
    choice, get, get_path, get_text, given, number, number_u64, path, switch, text, value_enum,
};
use crate::common::{parse_dtype, read_flag, refuse_clobber, GeometryArgs};
use clap::{ArgMatches, Command, ValueEnum};
use convspec::geometry::parse::{parse_bool, parse_list, parse_onnx_pads, parse_per_dim};
use convspec::geometry::{Padding, PoolParams, TransposeGeometry, TransposePadding};
use convspec::io::{write_atomically, write_npy, Dtype};
use convspec::reference::numpy::Mode;
use convspec::reference::pool::AvgOptions;
use convspec::reference::UnfoldParams;
use convspec::toeplitz::operator::{MatrixKernel, MatrixOperator, OperatorMatrix, Sample};
use convspec::toeplitz::{array_mode_padding, MatrixLimit};
use ndarray::{ArrayD, IxDyn};
use std::path::PathBuf;

/// The operator whose matrix is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatrixOp {
    /// Cross-correlation (torch conv): the layer's matrix.
    Correlate,
    /// True convolution (kernel flipped): the seed's Toeplitz matrix.
    Convolve,
    /// Transposed convolution (weight (C_in, C_out/groups, k...)).
    ConvTranspose,
    /// Average pooling (--kernel-size; no weights).
    AvgPool,
    /// unfold / im2col (--kernel-size; a 0/1 selection matrix).
    Unfold,
}

value_enum!(MatrixOp {
    Correlate => "correlate": "Cross-correlation (torch conv): the layer's matrix",
    Convolve => "convolve": "True convolution (kernel flipped): the seed's Toeplitz matrix",
    ConvTranspose => "conv-transpose": "Transposed convolution (weight (C_in, C_out/groups, k...))",
    AvgPool => "avg-pool": "Average pooling (--kernel-size; no weights)",
    Unfold => "unfold": "unfold / im2col (--kernel-size; a 0/1 selection matrix)",
});

/// How the matrix is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned plain text: A, vec(x) and y = A vec(x).
    Text,
    /// LaTeX bmatrix: A vec(x) = y.
    Latex,
    /// The numeric matrix as a 2-D .npy (rows, cols), correctly rounded to --output-dtype.
    Npy,
}

value_enum!(Format {
    Text => "text": "Aligned plain text: A, vec(x) and y = A vec(x)",
    Latex => "latex": "LaTeX bmatrix: A vec(x) = y",
    Npy => "npy": "The numeric matrix as a 2-D .npy (rows, cols), correctly rounded to --output-dtype",
});

/// Arguments of `convspec toeplitz`.
#[derive(Debug)]
pub struct ToeplitzArgs {
    op: MatrixOp,
    kernel: Option<PathBuf>,
    symbolic: bool,
    kernel_shape: Option<String>,
    input_shape: String,
    geometry: GeometryArgs,
    mode: Option<String>,
    output_padding: Option<String>,
    kernel_size: Option<String>,
    ceil_mode: Option<String>,
    count_include_pad: Option<String>,
    divisor_override: Option<usize>,
    format: Format,
    output: Option<PathBuf>,
    output_dtype: Option<String>,
    max_entries: Option<u64>,
}

impl ToeplitzArgs {
    /// Adds the flags of `toeplitz` to a subcommand.
    pub fn define(cmd: Command) -> Command {
        let cmd = cmd.args([
            choice::<MatrixOp>("op", "Operator: correlate | convolve | conv-transpose | avg-pool | unfold.", "convolve"),
            path("kernel", "Numeric kernel .npy (or exact .json): (k...) for one channel, or the layer's weight (C_out, C_in/groups, k...) with --input-shape C,L....")
                .conflicts_with_all(["symbolic", "kernel-shape"]),
            switch("symbolic", "Symbolic kernel entries k_{ij} (1-based, the seed's notation); needs --kernel-shape.")
                .requires("kernel-shape"),
            text("kernel-shape", "Shape of the symbolic kernel: k... for one channel, or C_out,C_in/groups,k...."),
            text("input-shape", "Shape of one input sample: spatial sizes (one channel), or C,L... (channels first).").required(true),
        ]);
        GeometryArgs::define(cmd).args([
            text("mode", "NumPy/SciPy size mode: full | same | valid (stride 1; 'same' centres as SciPy does, the extra padding element at the beginning).")
                .conflicts_with_all(["padding", "pads", "auto-pad", "stride"]),
            text("output-padding", "conv-transpose: output padding at the end of each dimension (default 0)."),
            text("kernel-size", "avg-pool and unfold: window size (one value or a comma list)."),
            text("ceil-mode", "avg-pool: round output sizes up: true | false (default false)."),
            text("count-include-pad", "avg-pool: count padded positions in the divisor: true | false (default true)."),
            number("divisor-override", "avg-pool: divide by this instead (non-zero)."),
            choice::<Format>("format", "text | latex | npy (numeric kernels only).", "text"),
            path("output", "Write here instead of standard output (required for npy)."),
            text("output-dtype", "dtype of --format npy: float64 (default) | float32 | float16 | bfloat16 | int64 | ...."),
            number_u64("max-entries", "Largest matrix (rows x cols entries) to build; default 4194304. Raise it to build a bigger dense matrix on purpose."),
        ])
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        ToeplitzArgs {
            op: given(m, "op"),
            kernel: get_path(m, "kernel"),
            symbolic: m.get_flag("symbolic"),
            kernel_shape: get_text(m, "kernel-shape"),
            input_shape: given(m, "input-shape"),
            geometry: GeometryArgs::from_matches(m),
            mode: get_text(m, "mode"),
            output_padding: get_text(m, "output-padding"),
            kernel_size: get_text(m, "kernel-size"),
            ceil_mode: get_text(m, "ceil-mode"),
            count_include_pad: get_text(m, "count-include-pad"),
            divisor_override: get(m, "divisor-override"),
            format: given(m, "format"),
            output: get_path(m, "output"),
            output_dtype: get_text(m, "output-dtype"),
            max_entries: get(m, "max-entries"),
        }
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn refuse(op: MatrixOp, flags: &[(&str, bool)]) -> Result<(), String> {
    match flags.iter().find(|(_, given)| *given) {
        Some((name, _)) => Err(format!(
            "{name} does not apply to --op {}",
            op.to_possible_value().expect("named").get_name()
        )),
        None => Ok(()),
    }
}

/// Parses the flags into the library's request and builds the matrix.
fn build(args: &ToeplitzArgs) -> Result<OperatorMatrix, String> {
    let limit = args
        .max_entries
        .map_or(MatrixLimit::DEFAULT, MatrixLimit::entries);
    let given = parse_list("--input-shape", &args.input_shape).map_err(err)?;
    let g = &args.geometry;
    let kernel = match (&args.kernel, args.symbolic, &args.kernel_shape) {
        (Some(path), _, _) => Some(MatrixKernel::Numeric(read_flag("--kernel", path)?.values)),
        (None, true, Some(shape)) => Some(MatrixKernel::Symbolic(
            parse_list("--kernel-shape", shape).map_err(err)?,
        )),
        (None, false, Some(_)) => {
            return Err("--kernel-shape is for symbolic kernels: add --symbolic (or give a numeric --kernel FILE)".into())
        }
        (None, _, None) => None,
    };
    match args.op {
        MatrixOp::Correlate | MatrixOp::Convolve | MatrixOp::ConvTranspose => {
            let kernel = kernel
                .ok_or("a kernel is needed: --kernel W.npy, or --symbolic --kernel-shape 2,2")?;
            refuse(
                args.op,
                &[
                    ("--kernel-size", args.kernel_size.is_some()),
                    ("--ceil-mode", args.ceil_mode.is_some()),
                    ("--count-include-pad", args.count_include_pad.is_some()),
                    ("--divisor-override", args.divisor_override.is_some()),
                ],
            )?;
            let sample = Sample::of_layer(&kernel.shape(), &given).map_err(err)?;
            let rank = sample.rank();
            let operator = if args.op == MatrixOp::ConvTranspose {
                refuse(
                    args.op,
                    &[
                        ("--mode", args.mode.is_some()),
                        ("--auto-pad", g.auto_pad.is_some()),
                        ("--padding-mode", g.padding_mode.is_some()),
                    ],
                )?;
                MatrixOperator::ConvTranspose(transpose_geometry(args, rank)?)
            } else {
                refuse(
                    args.op,
                    &[("--output-padding", args.output_padding.is_some())],
                )?;
                let mut geometry = g.geometry(rank)?;
                if let Some(mode) = &args.mode {
                    let mode: Mode = mode.parse().map_err(|e| format!("--mode: {e}"))?;
                    geometry.padding = array_mode_padding(mode);
                }
                if args.op == MatrixOp::Convolve {
                    MatrixOperator::Convolve(geometry)
                } else {
                    MatrixOperator::Correlate(geometry)
                }
            };
            OperatorMatrix::layer(&operator, kernel, sample, limit).map_err(err)
        }
        MatrixOp::AvgPool | MatrixOp::Unfold => {
            if kernel.is_some() || args.symbolic {
                return Err(format!(
                    "--op {} has no kernel entries: give its window with --kernel-size (the matrix is numeric; vec(x) is always shown symbolically)",
                    args.op.to_possible_value().expect("named").get_name()
                ));
            }
            refuse(
                args.op,
                &[
                    ("--mode", args.mode.is_some()),
                    ("--auto-pad", g.auto_pad.is_some()),
                    ("--padding-mode", g.padding_mode.is_some()),
                    ("--groups", g.groups.is_some()),
                    ("--output-padding", args.output_padding.is_some()),
                ],
            )?;
            let window = args
                .kernel_size
                .as_deref()
                .ok_or("--kernel-size is required for avg-pool and unfold")?;
            let window = parse_list("--kernel-size", window).map_err(err)?;
            let (sample, window) = Sample::of_window(&window, &given).map_err(err)?;
            let rank = sample.rank();
            let operator = if args.op == MatrixOp::AvgPool {
                let params = pool_params(args, window, rank)?;
                let mut options = AvgOptions::default();
                if let Some(v) = &args.count_include_pad {
                    options.count_include_pad =
                        parse_bool("--count-include-pad", v).map_err(err)?;
                }
                options.divisor_override = args.divisor_override;
                MatrixOperator::AvgPool(params, options)
            } else {
                refuse(
                    args.op,
                    &[
                        ("--ceil-mode", args.ceil_mode.is_some()),
                        ("--count-include-pad", args.count_include_pad.is_some()),
                        ("--divisor-override", args.divisor_override.is_some()),
                    ],
                )?;
                let mut params = UnfoldParams::new(window);
                if let Some(v) = &g.stride {
                    params.stride = parse_per_dim("--stride", v, rank).map_err(err)?;
                }
                if let Some(v) = &g.dilation {
                    params.dilation = parse_per_dim("--dilation", v, rank).map_err(err)?;
                }
                if let Some(v) = &g.padding {
                    params.padding = parse_per_dim("--padding", v, rank).map_err(err)?;
                }
                if g.pads.is_some() {
                    return Err("--pads does not apply to --op unfold (its padding is symmetric, --padding)".into());
                }
                MatrixOperator::Unfold(params)
            };
            OperatorMatrix::window(&operator, sample, limit).map_err(err)
        }
    }
}

fn pool_params(args: &ToeplitzArgs, window: Vec<usize>, rank: usize) -> Result<PoolParams, String> {
    let g = &args.geometry;
    let mut params = PoolParams::new(window);
    if let Some(v) = &g.stride {
        params.stride = parse_per_dim("--stride", v, rank).map_err(err)?;
    }
    if let Some(v) = &g.padding {
        params = params.with_padding(parse_per_dim("--padding", v, rank).map_err(err)?);
    }
    if let Some(v) = &g.pads {
        match parse_onnx_pads("--pads", v, rank).map_err(err)? {
            Padding::Explicit(pads) => params.padding = pads,
            _ => unreachable!("parse_onnx_pads gives explicit pads"),
        }
    }
    if let Some(v) = &g.dilation {
        params.dilation = parse_per_dim("--dilation", v, rank).map_err(err)?;
    }
    if let Some(v) = &args.ceil_mode {
        params.ceil_mode = parse_bool("--ceil-mode", v).map_err(err)?;
    }
    Ok(params)
}

fn transpose_geometry(args: &ToeplitzArgs, rank: usize) -> Result<TransposeGeometry, String> {
    let g = &args.geometry;
    let mut t = TransposeGeometry::new(rank);
    if let Some(v) = &g.stride {
        t.stride = parse_per_dim("--stride", v, rank).map_err(err)?;
    }
    if let Some(v) = &g.dilation {
        t.dilation = parse_per_dim("--dilation", v, rank).map_err(err)?;
    }
    if let Some(v) = &args.output_padding {
        t.output_padding = parse_per_dim("--output-padding", v, rank).map_err(err)?;
    }
    if let Some(v) = &g.padding {
        let p = parse_per_dim("--padding", v, rank).map_err(err)?;
        t.padding = TransposePadding::Explicit(p.into_iter().map(|p| (p, p)).collect());
    }
    if let Some(v) = &g.pads {
        match parse_onnx_pads("--pads", v, rank).map_err(err)? {
            Padding::Explicit(pads) => t.padding = TransposePadding::Explicit(pads),
            _ => unreachable!("parse_onnx_pads gives explicit pads"),
        }
    }
    if let Some(groups) = g.groups {
        t.groups = groups;
    }
    Ok(t)
}

/// Runs `convspec toeplitz`.
pub fn run(args: ToeplitzArgs) -> Result<(), String> {
    if let (Some(output), Some(kernel)) = (&args.output, &args.kernel) {
        refuse_clobber(&[kernel], &[output])?;
    }
    if args.format == Format::Npy {
        if args.symbolic {
            return Err(
                "--format npy holds numbers: a symbolic matrix is written as text or latex".into(),
            );
        }
        if args.output.is_none() {
            return Err("--format npy needs --output FILE".into());
        }
    } else if args.output_dtype.is_some() {
        return Err("--output-dtype applies to --format npy".into());
    }
    let built = build(&args)?;
    match args.format {
        Format::Npy => {
            let numeric = built.numeric.as_ref().expect("numeric kernels only");
            let dtype = parse_dtype(args.output_dtype.as_deref())?.unwrap_or(Dtype::F64);
            let array = ArrayD::from_shape_fn(IxDyn(&[numeric.nrows(), numeric.ncols()]), |i| {
                numeric[(i[0], i[1])].clone()
            });
            let path = args.output.as_ref().expect("checked above");
            write_npy(path, &array, dtype).map_err(err)
        }
        _ => {
            let text = match args.format {
                Format::Latex => built.latex(),
                _ => built.text(),
            }
            .map_err(err)?;
            match &args.output {
                Some(path) => write_atomically(path, text.as_bytes()).map_err(err),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
    }
}
