//! `convspec conv-transpose`, `pool`, `grad`, `unfold` and `fold`.

use crate::args::{choice, get, get_path, get_text, given, number, path, switch, text, value_enum};
use crate::common::{
    read_flag, read_float_operands, read_layer_files, refuse_clobber, scaled, EngineArgs,
    GeometryArgs, OutputArgs,
};
use clap::{ArgMatches, Command, ValueEnum};
use convspec::geometry::parse::{parse_bool, parse_list, parse_onnx_pads, parse_per_dim};
use convspec::geometry::{Padding, PoolParams, TransposeGeometry, TransposePadding};
use convspec::io::{write_exact_json, write_npy, write_npy_scaled, Dtype, ExactTensor};
use convspec::op::{ConvGradients, ConvTranspose, Pool, Window};
use convspec::reference::pool::AvgOptions;
use convspec::reference::UnfoldParams;
use convspec::scalar::Rational;
use ndarray::ArrayD;
use std::path::{Path, PathBuf};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The spatial rank of a layer from its weight (C_?, C_?, k...).
pub(crate) fn weight_rank(weight: &ExactTensor, flag: &str) -> Result<usize, String> {
    weight
        .values
        .ndim()
        .checked_sub(2)
        .filter(|r| *r >= 1)
        .ok_or_else(|| {
            format!(
                "{flag} has shape {:?}: expected (channels, channels, k...) with at least one spatial dimension",
                weight.values.shape()
            )
        })
}

/// Arguments of `convspec conv-transpose`.
#[derive(Debug)]
pub struct TransposeArgs {
    pub(crate) input: PathBuf,
    pub(crate) weight: PathBuf,
    pub(crate) bias: Option<PathBuf>,
    pub(crate) stride: Option<String>,
    pub(crate) padding: Option<String>,
    pub(crate) output_padding: Option<String>,
    pub(crate) dilation: Option<String>,
    pub(crate) groups: Option<usize>,
    pub(crate) pads: Option<String>,
    pub(crate) output_shape: Option<String>,
    pub(crate) auto_pad: Option<String>,
    pub(crate) engine: EngineArgs,
    pub(crate) out: OutputArgs,
}

impl TransposeArgs {
    /// Adds the flags of `conv-transpose` to a subcommand.
    pub fn define(cmd: Command) -> Command {
        let cmd = cmd.args([
            path("input", "Input .npy (N, C_in, L...) or unbatched (C_in, L...) (.json reads exact JSON).").required(true),
            path("weight", "Weight .npy (C_in, C_out/groups, k...), PyTorch's layout for transposed convolution.").required(true),
            path("bias", "Bias .npy (C_out,)."),
            text("stride", "Stride: one value or a comma list (default 1)."),
            text("padding", "Padding (cropped from both ends of each dimension): one value or a comma list (default 0).")
                .conflicts_with_all(["pads", "output-shape"]),
            text("output-padding", "Output padding added at the end of each dimension; must be smaller than the stride or the dilation (default 0)."),
            text("dilation", "Dilation: one value or a comma list (default 1)."),
            number("groups", "Groups (default 1)."),
            text("pads", "ONNX-ordered asymmetric pads: all begins, then all ends.")
                .conflicts_with_all(["output-shape", "auto-pad"]),
            text("output-shape", "ONNX output_shape (spatial sizes): the pads are derived from it."),
            text("auto-pad", "ONNX auto_pad: same-upper | same-lower (output L*stride unless --output-shape) | valid | notset."),
        ]);
        OutputArgs::define(EngineArgs::define(cmd))
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        TransposeArgs {
            input: given(m, "input"),
            weight: given(m, "weight"),
            bias: get_path(m, "bias"),
            stride: get_text(m, "stride"),
            padding: get_text(m, "padding"),
            output_padding: get_text(m, "output-padding"),
            dilation: get_text(m, "dilation"),
            groups: get(m, "groups"),
            pads: get_text(m, "pads"),
            output_shape: get_text(m, "output-shape"),
            auto_pad: get_text(m, "auto-pad"),
            engine: EngineArgs::from_matches(m),
            out: OutputArgs::from_matches(m),
        }
    }
}

pub(crate) fn transpose_geometry(
    args: &TransposeArgs,
    rank: usize,
) -> Result<TransposeGeometry, String> {
    let mut g = TransposeGeometry::new(rank);
    if let Some(v) = &args.stride {
        g.stride = parse_per_dim("--stride", v, rank).map_err(err)?;
    }
    if let Some(v) = &args.dilation {
        g.dilation = parse_per_dim("--dilation", v, rank).map_err(err)?;
    }
    if let Some(v) = &args.output_padding {
        g.output_padding = parse_per_dim("--output-padding", v, rank).map_err(err)?;
    }
    if let Some(v) = &args.padding {
        let p = parse_per_dim("--padding", v, rank).map_err(err)?;
        g.padding = TransposePadding::Explicit(p.into_iter().map(|p| (p, p)).collect());
    }
    if let Some(v) = &args.pads {
        match parse_onnx_pads("--pads", v, rank).map_err(err)? {
            Padding::Explicit(pads) => g.padding = TransposePadding::Explicit(pads),
            _ => unreachable!("parse_onnx_pads gives explicit pads"),
        }
    }
    let extra_at_end = match args.auto_pad.as_deref().map(str::trim) {
        None | Some("notset") => None,
        Some("same-upper") => Some(true),
        Some("same-lower") => Some(false),
        Some("valid") => {
            g.padding = TransposePadding::Explicit(vec![(0, 0); rank]);
            None
        }
        Some(other) => {
            return Err(format!(
                "invalid value '{other}' for --auto-pad: expected same-upper, same-lower, valid or notset"
            ))
        }
    };
    if let Some(v) = &args.output_shape {
        let shape = parse_list("--output-shape", v).map_err(err)?;
        if shape.len() != rank {
            return Err(format!(
                "--output-shape has {} values but the weight has {rank} spatial dimensions",
                shape.len()
            ));
        }
        g.padding = TransposePadding::OutputShape {
            shape,
            extra_at_end: extra_at_end.unwrap_or(false),
        };
    } else if let Some(extra_at_end) = extra_at_end {
        g.padding = TransposePadding::Same { extra_at_end };
    }
    if let Some(groups) = args.groups {
        g.groups = groups;
    }
    Ok(g)
}

/// Runs `convspec conv-transpose`.
pub fn run_transpose(args: TransposeArgs) -> Result<(), String> {
    // Float `.npy` operands on the fast engine: straight to scaled integers and back to the
    // rounded output, no rationals (the general path below reads anything else).
    if let Some(engine) = args.engine.fast()? {
        let required = [args.input.as_path(), args.weight.as_path()];
        let read = read_float_operands(&required, args.bias.as_deref(), &args.out.paths())?;
        if let Some((operands, promoted)) = read {
            let rank = operands[1].shape().len();
            if rank >= 3 {
                let layer = ConvTranspose(transpose_geometry(&args, rank - 2)?);
                let y = layer
                    .evaluate_fast(&engine, &operands[0], &operands[1], operands.get(2))
                    .map_err(err)?;
                return args.out.emit_scaled(&y, promoted);
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
    let layer = ConvTranspose(transpose_geometry(&args, weight_rank(weight, "--weight")?)?);
    let result = match args.engine.fast()? {
        Some(engine) => layer
            .evaluate_fast(
                &engine,
                &scaled(input)?,
                &scaled(weight)?,
                bias.as_ref().map(scaled).transpose()?.as_ref(),
            )
            .map_err(err)?
            .to_rationals(),
        None => layer
            .evaluate(
                &input.values,
                &weight.values,
                bias.as_ref().map(|b| &b.values),
            )
            .map_err(err)?,
    };
    args.out.emit(&result, files.promoted)
}

/// The pooling operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// max_pool{1,2,3}d (ONNX MaxPool).
    Max,
    /// avg_pool{1,2,3}d (ONNX AveragePool).
    Avg,
    /// adaptive_avg_pool{1,2,3}d.
    AdaptiveAvg,
    /// adaptive_max_pool{1,2,3}d.
    AdaptiveMax,
    /// ONNX GlobalAveragePool.
    GlobalAvg,
    /// ONNX GlobalMaxPool.
    GlobalMax,
}

value_enum!(PoolKind {
    Max => "max": "max_pool{1,2,3}d (ONNX MaxPool)",
    Avg => "avg": "avg_pool{1,2,3}d (ONNX AveragePool)",
    AdaptiveAvg => "adaptive-avg": "adaptive_avg_pool{1,2,3}d",
    AdaptiveMax => "adaptive-max": "adaptive_max_pool{1,2,3}d",
    GlobalAvg => "global-avg": "ONNX GlobalAveragePool",
    GlobalMax => "global-max": "ONNX GlobalMaxPool",
});

/// Whose index convention `--indices` follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexLayout {
    /// Flat within each (n, c) plane (PyTorch's return_indices).
    Pytorch,
    /// Flat over the whole input tensor (ONNX MaxPool's Indices, storage_order 0).
    Onnx,
}

value_enum!(IndexLayout {
    Pytorch => "pytorch": "Flat within each (n, c) plane (PyTorch's return_indices)",
    Onnx => "onnx": "Flat over the whole input tensor (ONNX MaxPool's Indices, storage_order 0)",
});

/// Arguments of `convspec pool`.
#[derive(Debug)]
pub struct PoolArgs {
    pub(crate) kind: PoolKind,
    pub(crate) input: PathBuf,
    pub(crate) kernel_size: Option<String>,
    pub(crate) stride: Option<String>,
    pub(crate) padding: Option<String>,
    pub(crate) pads: Option<String>,
    pub(crate) dilation: Option<String>,
    pub(crate) ceil_mode: Option<String>,
    pub(crate) count_include_pad: Option<String>,
    pub(crate) divisor_override: Option<usize>,
    pub(crate) output_size: Option<String>,
    pub(crate) unbatched: bool,
    pub(crate) indices: Option<PathBuf>,
    pub(crate) indices_layout: IndexLayout,
    pub(crate) out: OutputArgs,
}

impl PoolArgs {
    /// Adds the flags of `pool` to a subcommand.
    pub fn define(cmd: Command) -> Command {
        let cmd = cmd.args([
            clap::Arg::new("kind")
                .value_name("KIND")
                .help("max | avg | adaptive-avg | adaptive-max | global-avg | global-max.")
                .value_parser(clap::builder::EnumValueParser::<PoolKind>::new())
                .required(true),
            path("input", "Input .npy (N, C, L...), or (C, L...) with --unbatched or a comma list of --kernel-size one shorter than the input's spatial axes.").required(true),
            switch("unbatched", "The input has no batch axis: (C, L...). One --kernel-size or --output-size value then applies to ndim - 1 spatial dimensions instead of ndim - 2."),
            text("kernel-size", "Window size: one value for every spatial dimension of the input (N, C, spatial...), as PyTorch's avg_pool2d(x, 3); or a comma list, whose length sets the spatial rank (max, avg)."),
            text("stride", "Stride (default: the kernel size)."),
            text("padding", "Padding on both sides, at most half the kernel size (default 0).")
                .conflicts_with("pads"),
            text("pads", "ONNX-ordered asymmetric pads: all begins, then all ends."),
            text("dilation", "Dilation (max pooling; default 1)."),
            text("ceil-mode", "Round output sizes up: true | false (default false)."),
            text("count-include-pad", "Average over the padded window: true | false (default true)."),
            number("divisor-override", "Divide every average by this instead (non-zero)."),
            text("output-size", "Output size for adaptive pooling: one value or a comma list."),
            path("indices", "Write the chosen indices (int64 .npy) of max pooling here."),
            choice::<IndexLayout>("indices-layout", "Index convention of --indices: pytorch (per plane, default) | onnx (whole tensor).", "pytorch"),
        ]);
        OutputArgs::define(cmd)
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        PoolArgs {
            kind: given(m, "kind"),
            input: given(m, "input"),
            kernel_size: get_text(m, "kernel-size"),
            stride: get_text(m, "stride"),
            padding: get_text(m, "padding"),
            pads: get_text(m, "pads"),
            dilation: get_text(m, "dilation"),
            ceil_mode: get_text(m, "ceil-mode"),
            count_include_pad: get_text(m, "count-include-pad"),
            divisor_override: get(m, "divisor-override"),
            output_size: get_text(m, "output-size"),
            unbatched: m.get_flag("unbatched"),
            indices: get_path(m, "indices"),
            indices_layout: given(m, "indices-layout"),
            out: OutputArgs::from_matches(m),
        }
    }
}

/// The window of max and avg pooling; one `--kernel-size` value applies to each of `rank_hint`
/// spatial dimensions (the input's, [`spatial_rank`]), a comma list sets the rank itself.
fn pool_params(args: &PoolArgs, rank_hint: usize) -> Result<PoolParams, String> {
    let kernel = args
        .kernel_size
        .as_deref()
        .ok_or("--kernel-size is required for max and avg pooling")?;
    let mut kernel = parse_list("--kernel-size", kernel).map_err(err)?;
    if kernel.len() == 1 {
        kernel = vec![kernel[0]; rank_hint];
    }
    let rank = kernel.len();
    let mut params = PoolParams::new(kernel);
    if let Some(v) = &args.stride {
        params.stride = parse_per_dim("--stride", v, rank).map_err(err)?;
    }
    if let Some(v) = &args.padding {
        params = params.with_padding(parse_per_dim("--padding", v, rank).map_err(err)?);
    }
    if let Some(v) = &args.pads {
        match parse_onnx_pads("--pads", v, rank).map_err(err)? {
            Padding::Explicit(pads) => params.padding = pads,
            _ => unreachable!("parse_onnx_pads gives explicit pads"),
        }
    }
    if let Some(v) = &args.dilation {
        params.dilation = parse_per_dim("--dilation", v, rank).map_err(err)?;
    }
    if let Some(v) = &args.ceil_mode {
        params.ceil_mode = parse_bool("--ceil-mode", v).map_err(err)?;
    }
    Ok(params)
}

fn refuse_flags(args: &PoolArgs, flags: &[(&str, bool)]) -> Result<(), String> {
    for (name, given) in flags {
        if *given {
            return Err(format!(
                "{name} does not apply to {} pooling",
                args.kind.to_possible_value().expect("named").get_name()
            ));
        }
    }
    Ok(())
}

/// The `--output-size` of adaptive pooling; a single value applies to each of `rank_hint`
/// spatial dimensions.
fn adaptive_output_size(args: &PoolArgs, rank_hint: usize) -> Result<Vec<usize>, String> {
    let text = args
        .output_size
        .as_deref()
        .ok_or("--output-size is required for adaptive pooling")?;
    let list = parse_list("--output-size", text).map_err(err)?;
    Ok(if list.len() == 1 {
        vec![list[0]; rank_hint]
    } else {
        list
    })
}

/// The spatial rank pools infer from the input: (N, C, L...), or (C, L...) with `--unbatched`.
fn spatial_rank(args: &PoolArgs, x: &ArrayD<Rational>) -> usize {
    let lead = if args.unbatched { 1 } else { 2 };
    x.ndim().saturating_sub(lead).max(1)
}

/// The fixed-window flags given (max and avg pooling only).
fn window_flags(args: &PoolArgs) -> [(&'static str, bool); 6] {
    [
        ("--kernel-size", args.kernel_size.is_some()),
        ("--stride", args.stride.is_some()),
        ("--padding", args.padding.is_some()),
        ("--pads", args.pads.is_some()),
        ("--dilation", args.dilation.is_some()),
        ("--ceil-mode", args.ceil_mode.is_some()),
    ]
}

/// The average-pooling flags given.
fn avg_flags(args: &PoolArgs) -> [(&'static str, bool); 2] {
    [
        ("--count-include-pad", args.count_include_pad.is_some()),
        ("--divisor-override", args.divisor_override.is_some()),
    ]
}

/// The pooling operator the flags describe for input `x`, refusing the flags its kind does not
/// take: the one place where `pool` and `check pool` turn flags into a [`Pool`].
pub(crate) fn pool_op(args: &PoolArgs, x: &ArrayD<Rational>) -> Result<Pool, String> {
    let window = window_flags(args);
    let avg = avg_flags(args);
    let indices = [("--indices", args.indices.is_some())];
    let adaptive = [("--output-size", args.output_size.is_some())];
    let rank = spatial_rank(args, x);
    let refuse_all = |groups: &[&[(&str, bool)]]| -> Result<(), String> {
        groups
            .iter()
            .try_for_each(|flags| refuse_flags(args, flags))
    };
    Ok(match args.kind {
        PoolKind::Max => {
            refuse_all(&[&avg, &adaptive])?;
            Pool::Max(pool_params(args, rank)?)
        }
        PoolKind::Avg => {
            refuse_all(&[&indices, &adaptive])?;
            let mut options = AvgOptions::default();
            if let Some(v) = &args.count_include_pad {
                options.count_include_pad = parse_bool("--count-include-pad", v).map_err(err)?;
            }
            options.divisor_override = args.divisor_override;
            Pool::Avg(pool_params(args, rank)?, options)
        }
        PoolKind::AdaptiveAvg => {
            refuse_all(&[&window, &avg, &indices])?;
            Pool::AdaptiveAvg(adaptive_output_size(args, rank)?)
        }
        PoolKind::AdaptiveMax => {
            refuse_all(&[&window, &avg])?;
            Pool::AdaptiveMax(adaptive_output_size(args, rank)?)
        }
        PoolKind::GlobalAvg => {
            refuse_all(&[&window, &avg, &indices, &adaptive])?;
            Pool::GlobalAvg(rank)
        }
        PoolKind::GlobalMax => {
            refuse_all(&[&window, &avg, &adaptive])?;
            Pool::GlobalMax(rank)
        }
    })
}

/// Runs `convspec pool`.
pub fn run_pool(args: PoolArgs) -> Result<(), String> {
    let mut outputs = args.out.paths();
    if let Some(p) = &args.indices {
        outputs.push(p);
    }
    refuse_clobber(&[&args.input], &outputs)?;
    let input = read_flag("--input", &args.input)?;
    let x = &input.values;
    let pooled = pool_op(&args, x)?.evaluate(x).map_err(err)?;
    if let (Some(path), Some(out)) = (&args.indices, &pooled.selection) {
        let indices = match args.indices_layout {
            IndexLayout::Pytorch => out.indices.clone(),
            IndexLayout::Onnx => out.onnx_indices(x.shape()),
        };
        let as_rational = indices.mapv(|i| Rational::from_integer(i.into()));
        write_npy(path, &as_rational, Dtype::Int(8)).map_err(err)?;
    }
    args.out.emit(&pooled.values, input.dtype)
}

/// Arguments of `convspec grad`.
#[derive(Debug)]
pub struct GradArgs {
    pub(crate) input: PathBuf,
    pub(crate) weight: PathBuf,
    pub(crate) grad_output: PathBuf,
    pub(crate) bias: Option<PathBuf>,
    pub(crate) engine: EngineArgs,
    pub(crate) geometry: GeometryArgs,
    pub(crate) grad_input: Option<PathBuf>,
    pub(crate) grad_weight: Option<PathBuf>,
    pub(crate) grad_bias: Option<PathBuf>,
    pub(crate) output_dtype: Option<String>,
}

impl GradArgs {
    /// Adds the flags of `grad` to a subcommand.
    pub fn define(cmd: Command) -> Command {
        let cmd = cmd.args([
            path(
                "input",
                "Forward input .npy (N, C_in, L...) or unbatched (C_in, L...).",
            )
            .required(true),
            path("weight", "Forward weight .npy (C_out, C_in/groups, k...).").required(true),
            path("bias", "Forward bias .npy (C_out,): accepted so that the forward command line works unchanged; the gradients do not depend on it (its length is checked)."),
            path(
                "grad-output",
                "Upstream gradient dL/dy .npy, the shape of the forward output.",
            )
            .required(true),
        ]);
        GeometryArgs::define(EngineArgs::define(cmd)).args([
            path(
                "grad-input",
                "Write dL/dx here (.npy, or exact JSON when the name ends in .json).",
            ),
            path("grad-weight", "Write dL/dw here."),
            path("grad-bias", "Write dL/db here."),
            text(
                "output-dtype",
                "dtype of the .npy gradients (default: promotion of the input dtypes).",
            ),
        ])
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        GradArgs {
            input: given(m, "input"),
            weight: given(m, "weight"),
            grad_output: given(m, "grad-output"),
            bias: get_path(m, "bias"),
            engine: EngineArgs::from_matches(m),
            geometry: GeometryArgs::from_matches(m),
            grad_input: get_path(m, "grad-input"),
            grad_weight: get_path(m, "grad-weight"),
            grad_bias: get_path(m, "grad-bias"),
            output_dtype: get_text(m, "output-dtype"),
        }
    }
}

impl GradArgs {
    /// Reads `--bias` when given and checks that it has one entry per output channel.
    pub(crate) fn check_bias(
        &self,
        weight_shape: &[usize],
        outputs: &[&Path],
    ) -> Result<(), String> {
        let Some(path) = &self.bias else {
            return Ok(());
        };
        refuse_clobber(&[path], outputs)?;
        let bias = read_flag("--bias", path)?;
        let channels = weight_shape.first().copied().unwrap_or(0);
        if bias.values.shape() != [channels] {
            return Err(format!(
                "--bias has shape {:?}: expected ({channels},), one entry per output channel of the weight",
                bias.values.shape()
            ));
        }
        Ok(())
    }
}

/// The gradients with float `.npy` operands on the fast engine written to `.npy` files:
/// operands straight to scaled integers, each gradient rounded straight from them; false
/// (nothing done) when another path applies (other files, JSON or printed outputs, the
/// reference engine, a weight without spatial dimensions).
fn fast_grad(args: &GradArgs, outputs: &[&Path]) -> Result<bool, String> {
    let json = outputs
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "json"));
    let Some(engine) = args.engine.fast()? else {
        return Ok(false);
    };
    if outputs.is_empty() || json {
        return Ok(false);
    }
    let paths = [
        args.input.as_path(),
        args.weight.as_path(),
        args.grad_output.as_path(),
    ];
    let Some((operands, promoted)) = read_float_operands(&paths, None, outputs)? else {
        return Ok(false);
    };
    let rank = operands[1].shape().len();
    let dtype = crate::common::parse_dtype(args.output_dtype.as_deref())?.unwrap_or(promoted);
    if dtype.float_format().is_none() || rank < 3 {
        return Ok(false);
    }
    let geometry = args.geometry.geometry(rank - 2)?;
    args.check_bias(operands[1].shape(), outputs)?;
    let grads = engine
        .correlate_backward(&operands[0], &operands[1], &operands[2], &geometry)
        .map_err(err)?;
    for (path, values) in [
        (&args.grad_input, &grads.input),
        (&args.grad_weight, &grads.weight),
        (&args.grad_bias, &grads.bias),
    ] {
        if let Some(path) = path {
            write_npy_scaled(path, values, dtype).map_err(err)?;
        }
    }
    Ok(true)
}

/// Runs `convspec grad`.
pub fn run_grad(args: GradArgs) -> Result<(), String> {
    let outputs: Vec<&Path> = [&args.grad_input, &args.grad_weight, &args.grad_bias]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
        .collect();
    refuse_clobber(&[&args.input, &args.weight, &args.grad_output], &outputs)?;
    if fast_grad(&args, &outputs)? {
        return Ok(());
    }
    let input = read_flag("--input", &args.input)?;
    let weight = read_flag("--weight", &args.weight)?;
    let grad_output = read_flag("--grad-output", &args.grad_output)?;
    let geometry = args.geometry.geometry(weight_rank(&weight, "--weight")?)?;
    args.check_bias(weight.values.shape(), &outputs)?;
    let gradients = ConvGradients(geometry);
    let grads = match args.engine.fast()? {
        Some(engine) => gradients
            .evaluate_fast(
                &engine,
                &scaled(&input)?,
                &scaled(&weight)?,
                &scaled(&grad_output)?,
            )
            .map_err(err)?,
        None => gradients
            .evaluate(&input.values, &weight.values, &grad_output.values)
            .map_err(err)?,
    };
    let promoted = input.dtype.promote(weight.dtype).promote(grad_output.dtype);
    let dtype = crate::common::parse_dtype(args.output_dtype.as_deref())?.unwrap_or(promoted);
    let write = |path: &Path, values: &ArrayD<Rational>| -> Result<(), String> {
        if path.extension().is_some_and(|e| e == "json") {
            write_exact_json(path, values).map_err(err)
        } else {
            write_npy(path, values, dtype).map_err(err)
        }
    };
    let targets = [
        ("grad_input", &args.grad_input, &grads.input),
        ("grad_weight", &args.grad_weight, &grads.weight),
        ("grad_bias", &args.grad_bias, &grads.bias),
    ];
    if outputs.is_empty() {
        for (name, _, values) in targets {
            println!("{name}:");
            print!("{}", crate::common::render(values));
        }
        return Ok(());
    }
    for (_, path, values) in targets {
        if let Some(path) = path {
            write(path, values)?;
        }
    }
    Ok(())
}

/// Arguments shared by `convspec unfold` and `convspec fold`.
#[derive(Debug)]
pub struct UnfoldArgs {
    input: PathBuf,
    kernel_size: String,
    dilation: Option<String>,
    padding: Option<String>,
    stride: Option<String>,
    output_size: Option<String>,
    out: OutputArgs,
}

impl UnfoldArgs {
    /// Adds the flags of `unfold` and `fold` to a subcommand.
    pub fn define(cmd: Command) -> Command {
        let cmd = cmd.args([
            path("input", "Input .npy: unfold takes (N, C, spatial...) or (C, spatial...); fold takes (N, C*prod(k), L) or (C*prod(k), L).").required(true),
            text("kernel-size", "Window size: one value per spatial dimension, or a comma list.").required(true),
            text("dilation", "Dilation (default 1)."),
            text("padding", "Zero padding on both sides (default 0)."),
            text("stride", "Stride (default 1)."),
            text("output-size", "fold only: the spatial output size."),
        ]);
        OutputArgs::define(cmd)
    }

    /// The flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        UnfoldArgs {
            input: given(m, "input"),
            kernel_size: given(m, "kernel-size"),
            dilation: get_text(m, "dilation"),
            padding: get_text(m, "padding"),
            stride: get_text(m, "stride"),
            output_size: get_text(m, "output-size"),
            out: OutputArgs::from_matches(m),
        }
    }
}

fn unfold_params(args: &UnfoldArgs, rank: usize) -> Result<UnfoldParams, String> {
    let kernel = parse_per_dim("--kernel-size", &args.kernel_size, rank).map_err(err)?;
    let mut params = UnfoldParams::new(kernel);
    if let Some(v) = &args.dilation {
        params.dilation = parse_per_dim("--dilation", v, rank).map_err(err)?;
    }
    if let Some(v) = &args.padding {
        params.padding = parse_per_dim("--padding", v, rank).map_err(err)?;
    }
    if let Some(v) = &args.stride {
        params.stride = parse_per_dim("--stride", v, rank).map_err(err)?;
    }
    Ok(params)
}

/// Runs `convspec unfold` (`fold_back` false) or `convspec fold`.
pub fn run_unfold(args: UnfoldArgs, fold_back: bool) -> Result<(), String> {
    refuse_clobber(&[&args.input], &args.out.paths())?;
    let input = read_flag("--input", &args.input)?;
    let window = if fold_back {
        let text = args
            .output_size
            .as_deref()
            .ok_or("--output-size is required for fold")?;
        let output_size = parse_list("--output-size", text).map_err(err)?;
        Window::Fold(unfold_params(&args, output_size.len())?, output_size)
    } else {
        if args.output_size.is_some() {
            return Err("--output-size applies to fold, not unfold".into());
        }
        let given = parse_list("--kernel-size", &args.kernel_size)
            .map_err(err)?
            .len();
        let rank = Window::unfold_rank(given, input.values.ndim());
        Window::Unfold(unfold_params(&args, rank)?)
    };
    let result = window.evaluate(&input.values).map_err(err)?;
    args.out.emit(&result, input.dtype)
}
