//! The suite's manifest: each case named as PyTorch, ONNX, NumPy or SciPy call it, and the
//! `convspec check` command line that judges a candidate output.
//!
//! PyTorch entries give the function (`torch.nn.functional.conv2d`, ...), its positional
//! operands and its keyword arguments under PyTorch's names. Where PyTorch pads with a mode
//! (`nn.Conv2d(padding_mode=...)`) or asymmetrically, the entry has a `pad` step, the
//! `torch.nn.functional.pad(input, pad, mode)` call that `nn.Conv2d` itself makes, and
//! `padding` 0. ONNX entries give the nodes (opset 19: `Pad` with mode `wrap` needs it), their
//! attributes under ONNX's names, and any constant inputs (`pads` of `Pad`, `image_shape` and
//! `block_shape` of `Col2Im`). An entry is null where that library has no such operator.

use super::{Case, Output};
use crate::geometry::{ConvGeometry, Padding, PaddingMode, PoolParams, TransposePadding};
use crate::io::Dtype;
use crate::op::{ArrayForm, Conv, ConvGradients, ConvTranspose, Op, Pool, Window};
use crate::reference::numpy::Mode;
use crate::reference::scipy::Boundary;
use crate::reference::AvgOptions;
use crate::scalar::{round_to_f64, Rational};
use ndarray::ArrayD;
use serde_json::{json, Value};

/// The placeholder of the candidate file in `convspec_check` command lines.
pub const CANDIDATE: &str = "<candidate.npy>";
/// The placeholder of the claimed precision in `convspec_check` command lines.
pub const PRECISION: &str = "<fp64|fp32|tf32|fp16|bf16>";

/// The manifest of a suite from its case entries.
pub fn manifest(cases: Vec<Value>) -> Value {
    json!({
        "suite": "convspec conformance vectors",
        "convspec_version": env!("CARGO_PKG_VERSION"),
        "conventions": {
            "layout": "N, C, spatial... (PyTorch and ONNX); weight (C_out, C_in / groups, k...), for transposed convolution (C_in, C_out / groups, k...)",
            "exact": "<name>.json: {\"shape\": [...], \"data\": [\"p/q\", ...]} in C order, every value exact",
            "rounded": "<name>.f64.npy and <name>.f32.npy: the exact values correctly rounded (to nearest, ties to even)",
            "inputs": "<name>.npy holds the exact operand (float32 when every value is one); <name>.json the same values exactly",
            "indices": "indices.npy (int64): PyTorch's return_indices, the flat index within each (n, c) plane; ONNX MaxPool's Indices add (n C + c) times the plane size",
            "pytorch.pad": "torch.nn.functional.pad(input, pad, mode) applied to the input first (the call nn.ConvNd makes for padding_mode, and the way to pad asymmetrically)",
            "pytorch.flip_weight": "true: the weight is flipped along its spatial axes first (true convolution)",
            "convspec_check": "judge an output: replace <candidate.npy> by its file and <fp64|...> by the precision it was computed in; run in the case's directory",
        },
        "cases": cases,
    })
}

fn dtype_name(dtype: Option<Dtype>) -> Value {
    dtype.map_or(Value::Null, |d| Value::from(d.name()))
}

/// The manifest entry of one case.
pub fn manifest_entry(
    case: &Case,
    inputs: &[(&str, &ArrayD<Rational>, Option<Dtype>)],
    outputs: &[(&str, &Output)],
) -> Value {
    let inputs: Vec<Value> = inputs
        .iter()
        .map(|(name, values, dtype)| {
            json!({
                "name": name,
                "shape": values.shape(),
                "npy": dtype.map(|_| format!("{name}.npy")),
                "dtype": dtype_name(*dtype),
                "exact": format!("{name}.json"),
            })
        })
        .collect();
    let outputs: Vec<Value> = outputs
        .iter()
        .map(|(name, output)| match output {
            Output::Values(values) => json!({
                "name": name,
                "shape": values.shape(),
                "exact": format!("{name}.json"),
                "float64": format!("{name}.f64.npy"),
                "float32": format!("{name}.f32.npy"),
            }),
            Output::Indices(indices) => json!({
                "name": name,
                "shape": indices.shape(),
                "npy": format!("{name}.npy"),
                "dtype": "int64",
            }),
        })
        .collect();
    let mut entry = json!({
        "name": case.name,
        "about": case.about,
        "operation": case.layer.operation(),
        "inputs": inputs,
        "outputs": outputs,
    });
    let object = entry.as_object_mut().expect("an object");
    let (library, call) = library_call(case);
    object.insert(library.into(), call);
    if library == "pytorch" {
        object.insert("onnx".into(), onnx(case));
    }
    object.insert(
        "convspec_check".into(),
        check_command(case).map_or(Value::Null, Value::from),
    );
    entry
}

/// The number of spatial dimensions of a layer's input.
fn spatial_rank(case: &Case) -> usize {
    case.layer
        .spatial_rank()
        .or_else(|| case.inputs.first().map(|(_, t)| t.ndim()))
        .unwrap_or(0)
}

fn last(shape: &[usize], n: usize) -> Vec<usize> {
    shape[shape.len() - n..].to_vec()
}

/// The resolved (begin, end) padding of a correlation case, per spatial dimension.
fn resolved_pads(case: &Case, g: &ConvGeometry) -> Option<Vec<(usize, usize)>> {
    let rank = g.rank();
    let input = case.input("input")?.shape();
    let kernel = case.input("weight")?.shape();
    let dims = g.resolve(&last(input, rank), &last(kernel, rank)).ok()?;
    Some(dims.iter().map(|d| (d.pad_begin, d.pad_end)).collect())
}

/// ONNX order: every begin, then every end.
fn onnx_pads(pads: &[(usize, usize)]) -> Vec<usize> {
    pads.iter()
        .map(|p| p.0)
        .chain(pads.iter().map(|p| p.1))
        .collect()
}

/// `torch.nn.functional.pad`'s order: the last dimension first, (begin, end) each.
fn torch_pad(pads: &[(usize, usize)]) -> Vec<usize> {
    pads.iter().rev().flat_map(|&(b, e)| [b, e]).collect()
}

fn torch_mode(mode: PaddingMode) -> &'static str {
    match mode {
        PaddingMode::Zeros => "constant",
        PaddingMode::Reflect => "reflect",
        PaddingMode::Replicate => "replicate",
        PaddingMode::Circular => "circular",
    }
}

fn onnx_mode(mode: PaddingMode) -> &'static str {
    match mode {
        PaddingMode::Zeros => "constant",
        PaddingMode::Reflect => "reflect",
        PaddingMode::Replicate => "edge",
        PaddingMode::Circular => "wrap",
    }
}

fn operand_names(case: &Case) -> Vec<&str> {
    case.inputs.iter().map(|(n, _)| n.as_str()).collect()
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Full => "full",
        Mode::Same => "same",
        Mode::Valid => "valid",
    }
}

fn boundary_name(boundary: Boundary) -> &'static str {
    match boundary {
        Boundary::Fill => "fill",
        Boundary::Wrap => "wrap",
        Boundary::Symm => "symm",
    }
}

/// PyTorch's conv keyword arguments, with a `pad` step where PyTorch needs one.
fn torch_conv(case: &Case, g: &ConvGeometry, function: &str) -> Value {
    let rank = g.rank();
    let mut call = json!({
        "function": format!("torch.nn.functional.{function}{rank}d"),
        "args": operand_names(case),
        "kwargs": {"stride": g.stride, "dilation": g.dilation, "groups": g.groups},
    });
    let pads = resolved_pads(case, g).unwrap_or_default();
    let symmetric = pads.iter().all(|(b, e)| b == e);
    let padding = match (&g.padding, g.padding_mode) {
        (Padding::Same, PaddingMode::Zeros) => json!("same"),
        (Padding::Valid, PaddingMode::Zeros) => json!("valid"),
        (_, PaddingMode::Zeros) if symmetric => {
            json!(pads.iter().map(|p| p.0).collect::<Vec<_>>())
        }
        _ => {
            call["pad"] = json!({"pad": torch_pad(&pads), "mode": torch_mode(g.padding_mode)});
            json!(vec![0; rank])
        }
    };
    call["kwargs"]["padding"] = padding;
    call
}

fn pool_kwargs(p: &PoolParams) -> Option<Value> {
    let symmetric = p.padding.iter().all(|(b, e)| b == e);
    symmetric.then(|| {
        json!({
            "kernel_size": p.kernel_size,
            "stride": p.stride,
            "padding": p.padding.iter().map(|x| x.0).collect::<Vec<_>>(),
            "ceil_mode": p.ceil_mode,
        })
    })
}

/// The library a case comes from and its call there.
fn library_call(case: &Case) -> (&'static str, Value) {
    let rank = spatial_rank(case);
    let functional = |name: &str| format!("torch.nn.functional.{name}{rank}d");
    let call = match &case.layer {
        Op::Conv(Conv::Correlate(g)) => torch_conv(case, g, "conv"),
        Op::Conv(Conv::Convolve(g)) => {
            let mut call = torch_conv(case, g, "conv");
            call["flip_weight"] = json!(true);
            call
        }
        Op::Gradients(ConvGradients(g)) => {
            let mut call = torch_conv(case, g, "conv");
            call["args"] = json!(["input", "weight", "bias"]);
            call["backward"] = json!({
                "grad_output": "grad_output",
                "grad_input": "input.grad",
                "grad_weight": "weight.grad",
                "grad_bias": "bias.grad, for a bias of shape (C_out,) (its value does not matter)",
            });
            call
        }
        Op::Array(array) => {
            let mut kwargs = json!({"mode": mode_name(array.mode)});
            if let ArrayForm::Scipy2d(boundary, fillvalue) = &array.form {
                kwargs["boundary"] = json!(boundary_name(*boundary));
                kwargs["fillvalue"] = json!(round_to_f64(fillvalue));
            }
            let library = match array.form {
                ArrayForm::Numpy => "numpy",
                _ => "scipy",
            };
            return (
                library,
                json!({"function": array.library_name(), "args": case.layer.operands(), "kwargs": kwargs}),
            );
        }
        Op::ConvTranspose(ConvTranspose(g)) => match &g.padding {
            TransposePadding::Explicit(pads) if pads.iter().all(|(b, e)| b == e) => json!({
                "function": functional("conv_transpose"),
                "args": operand_names(case),
                "kwargs": {
                    "stride": g.stride,
                    "padding": pads.iter().map(|p| p.0).collect::<Vec<_>>(),
                    "output_padding": g.output_padding,
                    "groups": g.groups,
                    "dilation": g.dilation,
                },
            }),
            _ => Value::Null,
        },
        Op::Pool(Pool::Max(p)) => match pool_kwargs(p) {
            Some(mut kwargs) => {
                kwargs["dilation"] = json!(p.dilation);
                kwargs["return_indices"] = json!(true);
                json!({"function": functional("max_pool"), "args": ["input"], "kwargs": kwargs})
            }
            None => Value::Null,
        },
        Op::Pool(Pool::Avg(p, options)) => match pool_kwargs(p) {
            // avg_pool1d has no divisor_override; no PyTorch average pool has a dilation.
            Some(mut kwargs)
                if p.dilation.iter().all(|&d| d == 1)
                    && (rank > 1 || options.divisor_override.is_none()) =>
            {
                kwargs["count_include_pad"] = json!(options.count_include_pad);
                if rank > 1 {
                    kwargs["divisor_override"] = json!(options.divisor_override);
                }
                json!({"function": functional("avg_pool"), "args": ["input"], "kwargs": kwargs})
            }
            _ => Value::Null,
        },
        Op::Pool(Pool::AdaptiveAvg(size)) => json!({
            "function": functional("adaptive_avg_pool"),
            "args": ["input"],
            "kwargs": {"output_size": size},
        }),
        Op::Pool(Pool::AdaptiveMax(size)) => json!({
            "function": functional("adaptive_max_pool"),
            "args": ["input"],
            "kwargs": {"output_size": size, "return_indices": true},
        }),
        Op::Window(window @ Window::Unfold(p)) => json!({
            "function": window.torch_name(),
            "args": ["input"],
            "kwargs": {"kernel_size": p.kernel_size, "dilation": p.dilation, "padding": p.padding, "stride": p.stride},
        }),
        Op::Window(window @ Window::Fold(p, output_size)) => json!({
            "function": window.torch_name(),
            "args": ["input"],
            "kwargs": {"output_size": output_size, "kernel_size": p.kernel_size, "dilation": p.dilation, "padding": p.padding, "stride": p.stride},
        }),
        Op::Pool(Pool::GlobalAvg(_) | Pool::GlobalMax(_)) => Value::Null,
    };
    ("pytorch", call)
}

fn node(op_type: &str, inputs: Vec<&str>, outputs: Vec<&str>, attributes: Value) -> Value {
    json!({"op_type": op_type, "inputs": inputs, "outputs": outputs, "attributes": attributes})
}

fn onnx_graph(nodes: Vec<Value>) -> Value {
    json!({"opset": 19, "nodes": nodes})
}

/// The ONNX nodes of a case (null where ONNX has no such operator).
fn onnx(case: &Case) -> Value {
    let rank = spatial_rank(case);
    // ONNX operators take batched tensors only.
    let batched_rank = match case.layer {
        Op::Window(Window::Fold(..)) => 3,
        _ => rank + 2,
    };
    if case
        .inputs
        .first()
        .is_some_and(|(_, x)| x.ndim() != batched_rank)
    {
        return Value::Null;
    }
    match &case.layer {
        Op::Conv(Conv::Correlate(g)) => {
            let Some(pads) = resolved_pads(case, g) else {
                return Value::Null;
            };
            let kernel = last(case.input("weight").map_or(&[][..], |w| w.shape()), rank);
            let mut attributes = json!({
                "kernel_shape": kernel,
                "strides": g.stride,
                "dilations": g.dilation,
                "group": g.groups,
            });
            let mut inputs = operand_names(case);
            let mut nodes = Vec::new();
            match (&g.padding, g.padding_mode) {
                (Padding::SameUpper, PaddingMode::Zeros) => {
                    attributes["auto_pad"] = json!("SAME_UPPER")
                }
                (Padding::SameLower, PaddingMode::Zeros) => {
                    attributes["auto_pad"] = json!("SAME_LOWER")
                }
                (Padding::Valid, PaddingMode::Zeros) => attributes["auto_pad"] = json!("VALID"),
                (_, PaddingMode::Zeros) => attributes["pads"] = json!(onnx_pads(&pads)),
                (_, mode) => {
                    // Pad's pads cover every axis, N and C (zero) included: begins, then ends.
                    let lead = case.input("input").map_or(2, |x| x.ndim() - rank);
                    let full: Vec<(usize, usize)> = std::iter::repeat_n((0, 0), lead)
                        .chain(pads.iter().copied())
                        .collect();
                    let mut pad = node(
                        "Pad",
                        vec!["input", "pads"],
                        vec!["padded"],
                        json!({"mode": onnx_mode(mode)}),
                    );
                    pad["constants"] = json!({"pads": onnx_pads(&full)});
                    nodes.push(pad);
                    inputs[0] = "padded";
                }
            }
            nodes.push(node("Conv", inputs, vec!["output"], attributes));
            onnx_graph(nodes)
        }
        Op::ConvTranspose(ConvTranspose(g)) => {
            let TransposePadding::Explicit(pads) = &g.padding else {
                return Value::Null;
            };
            let kernel = last(case.input("weight").map_or(&[][..], |w| w.shape()), rank);
            onnx_graph(vec![node(
                "ConvTranspose",
                operand_names(case),
                vec!["output"],
                json!({
                    "kernel_shape": kernel,
                    "strides": g.stride,
                    "dilations": g.dilation,
                    "group": g.groups,
                    "pads": onnx_pads(pads),
                    "output_padding": g.output_padding,
                }),
            )])
        }
        Op::Pool(Pool::Max(p)) => onnx_graph(vec![node(
            "MaxPool",
            vec!["input"],
            vec!["output"],
            json!({
                "kernel_shape": p.kernel_size,
                "strides": p.stride,
                "pads": onnx_pads(&p.padding),
                "dilations": p.dilation,
                "ceil_mode": i32::from(p.ceil_mode),
            }),
        )]),
        Op::Pool(Pool::Avg(
            p,
            AvgOptions {
                count_include_pad,
                divisor_override: None,
            },
        )) => onnx_graph(vec![node(
            "AveragePool",
            vec!["input"],
            vec!["output"],
            json!({
                "kernel_shape": p.kernel_size,
                "strides": p.stride,
                "pads": onnx_pads(&p.padding),
                "dilations": p.dilation,
                "ceil_mode": i32::from(p.ceil_mode),
                "count_include_pad": i32::from(*count_include_pad),
            }),
        )]),
        Op::Pool(Pool::AdaptiveAvg(size)) if size.iter().all(|&s| s == 1) => {
            onnx_graph(vec![node(
                "GlobalAveragePool",
                vec!["input"],
                vec!["output"],
                json!({}),
            )])
        }
        Op::Pool(Pool::AdaptiveMax(size)) if size.iter().all(|&s| s == 1) => {
            onnx_graph(vec![node(
                "GlobalMaxPool",
                vec!["input"],
                vec!["output"],
                json!({}),
            )])
        }
        Op::Window(Window::Fold(p, output_size)) => {
            let mut col2im = node(
                "Col2Im",
                vec!["input", "image_shape", "block_shape"],
                vec!["output"],
                json!({
                    "dilations": p.dilation,
                    "pads": onnx_pads(&p.padding.iter().map(|&x| (x, x)).collect::<Vec<_>>()),
                    "strides": p.stride,
                }),
            );
            col2im["constants"] = json!({"image_shape": output_size, "block_shape": p.kernel_size});
            onnx_graph(vec![col2im])
        }
        _ => Value::Null,
    }
}

fn list(values: &[usize]) -> String {
    values
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn geometry_flags(args: &mut Vec<String>, g: &ConvGeometry, pads: &[(usize, usize)]) {
    let flags = [
        ("--stride", list(&g.stride)),
        ("--dilation", list(&g.dilation)),
        ("--groups", g.groups.to_string()),
        ("--pads", list(&onnx_pads(pads))),
        ("--padding-mode", g.padding_mode.name().to_string()),
    ];
    for (flag, value) in flags {
        args.push(flag.into());
        args.push(value);
    }
}

fn operand_flags(args: &mut Vec<String>, case: &Case) {
    for (name, _) in &case.inputs {
        args.push(format!("--{}", name.replace('_', "-")));
        args.push(format!("{name}.npy"));
    }
}

/// The `convspec check` command line (argv) that judges a candidate output of this case, with
/// the placeholders [`CANDIDATE`] and [`PRECISION`] (for gradients: `<grad_input.npy>`, ...).
pub fn check_command(case: &Case) -> Option<Vec<String>> {
    let mut args: Vec<String> = vec!["convspec".into(), "check".into()];
    let candidate = |args: &mut Vec<String>| {
        args.extend(["--candidate".into(), CANDIDATE.into()]);
    };
    match &case.layer {
        Op::Conv(Conv::Correlate(g)) | Op::Conv(Conv::Convolve(g)) => {
            let pads = resolved_pads(case, g)?;
            operand_flags(&mut args, case);
            geometry_flags(&mut args, g, &pads);
            if matches!(case.layer, Op::Conv(Conv::Convolve(_))) {
                args.extend(["--op".into(), "convolve".into()]);
            }
            candidate(&mut args);
        }
        Op::Gradients(ConvGradients(g)) => {
            let pads = resolved_pads(case, g)?;
            args.push("grad".into());
            operand_flags(&mut args, case);
            geometry_flags(&mut args, g, &pads);
            for name in ["grad-input", "grad-weight", "grad-bias"] {
                args.push(format!("--{name}"));
                args.push(format!("<{}.npy>", name.replace('-', "_")));
            }
        }
        Op::ConvTranspose(ConvTranspose(g)) => {
            let TransposePadding::Explicit(pads) = &g.padding else {
                return None;
            };
            args.push("conv-transpose".into());
            operand_flags(&mut args, case);
            let flags = [
                ("--stride", list(&g.stride)),
                ("--dilation", list(&g.dilation)),
                ("--groups", g.groups.to_string()),
                ("--pads", list(&onnx_pads(pads))),
                ("--output-padding", list(&g.output_padding)),
            ];
            for (flag, value) in flags {
                args.extend([flag.into(), value]);
            }
            candidate(&mut args);
        }
        Op::Pool(Pool::Max(p)) | Op::Pool(Pool::Avg(p, _)) => {
            let kind = if matches!(case.layer, Op::Pool(Pool::Max(_))) {
                "max"
            } else {
                "avg"
            };
            args.extend(["pool".into(), kind.into()]);
            operand_flags(&mut args, case);
            let mut flags = vec![
                ("--kernel-size", list(&p.kernel_size)),
                ("--stride", list(&p.stride)),
                ("--pads", list(&onnx_pads(&p.padding))),
                ("--ceil-mode", p.ceil_mode.to_string()),
            ];
            match &case.layer {
                Op::Pool(Pool::Max(_)) => flags.push(("--dilation", list(&p.dilation))),
                Op::Pool(Pool::Avg(_, options)) => {
                    flags.push(("--count-include-pad", options.count_include_pad.to_string()));
                    if let Some(d) = options.divisor_override {
                        flags.push(("--divisor-override", d.to_string()));
                    }
                }
                _ => {}
            }
            for (flag, value) in flags {
                args.extend([flag.into(), value]);
            }
            candidate(&mut args);
        }
        Op::Pool(Pool::AdaptiveAvg(size)) | Op::Pool(Pool::AdaptiveMax(size)) => {
            let kind = if matches!(case.layer, Op::Pool(Pool::AdaptiveAvg(_))) {
                "adaptive-avg"
            } else {
                "adaptive-max"
            };
            args.extend(["pool".into(), kind.into()]);
            operand_flags(&mut args, case);
            args.extend(["--output-size".into(), list(size)]);
            candidate(&mut args);
        }
        _ => return None,
    }
    args.extend(["--precision".into(), PRECISION.into()]);
    Some(args)
}
