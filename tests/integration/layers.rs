//! Exact agreement with PyTorch (float64 on small integers, generated once by
//! scripts/make_layer_fixtures.py; versions in the fixture) for transposed convolution, pooling,
//! gradients and unfold / fold, including the cases PyTorch refuses.

use crate::common;

use common::{fixture, tensor};
use convspec::geometry::{
    ConvGeometry, Padding, PaddingMode, PoolParams, TransposeGeometry, TransposePadding,
};
use convspec::reference::pool::{
    adaptive_avg_pool, adaptive_max_pool, avg_pool, avg_pool_backward, max_pool, max_pool_backward,
    AvgOptions,
};
use convspec::reference::{
    conv_transpose, correlate_backward, fold, unfold, OpError, UnfoldParams,
};
use convspec::scalar::{round_to_f64, Rational};
use ndarray::ArrayD;
use serde_json::Value;
use std::collections::BTreeMap;

fn per_dim(value: &Value, rank: usize) -> Vec<usize> {
    match value {
        Value::Number(n) => vec![n.as_u64().unwrap() as usize; rank],
        Value::Array(items) => items.iter().map(|v| v.as_u64().unwrap() as usize).collect(),
        other => panic!("unexpected {other}"),
    }
}

fn indices(value: &Value) -> ArrayD<usize> {
    tensor(value).mapv(|q| usize::try_from(q.to_integer()).unwrap())
}

fn pool_params(args: &Value, rank: usize) -> PoolParams {
    let kernel = per_dim(&args["kernel_size"], rank);
    let stride = if args["stride"].is_null() {
        kernel.clone()
    } else {
        per_dim(&args["stride"], rank)
    };
    let dilation = if args["dilation"].is_null() {
        vec![1; rank]
    } else {
        per_dim(&args["dilation"], rank)
    };
    PoolParams::new(kernel)
        .with_stride(stride)
        .with_padding(per_dim(&args["padding"], rank))
        .with_dilation(dilation)
        .with_ceil_mode(args["ceil_mode"].as_bool().unwrap_or(false))
}

fn avg_options(args: &Value) -> AvgOptions {
    AvgOptions {
        count_include_pad: args["count_include_pad"].as_bool().unwrap(),
        divisor_override: args["divisor_override"].as_u64().map(|d| d as usize),
    }
}

fn conv_geometry(args: &Value, rank: usize) -> ConvGeometry {
    let padding = match &args["padding"] {
        Value::String(s) if s == "same" => Padding::Same,
        other => Padding::Explicit(per_dim(other, rank).into_iter().map(|p| (p, p)).collect()),
    };
    let padding_mode = match args["padding_mode"].as_str().unwrap() {
        "zeros" => PaddingMode::Zeros,
        "reflect" => PaddingMode::Reflect,
        "replicate" => PaddingMode::Replicate,
        "circular" => PaddingMode::Circular,
        other => panic!("mode {other}"),
    };
    ConvGeometry::new(rank)
        .with_stride(per_dim(&args["stride"], rank))
        .with_dilation(per_dim(&args["dilation"], rank))
        .with_padding(padding)
        .with_padding_mode(padding_mode)
        .with_groups(args["groups"].as_u64().unwrap() as usize)
}

/// Checks one case; Err(message) when we refuse it, Ok(()) when every recorded output agrees.
fn check(case: &Value) -> Result<(), OpError> {
    let name = case["name"].as_str().unwrap();
    let args = &case["args"];
    let x = tensor(&case["x"]);
    let batched_rank = x.ndim() - 2;
    match case["kind"].as_str().unwrap() {
        "conv_transpose" => {
            let w = tensor(&case["w"]);
            let b = (!case["b"].is_null()).then(|| tensor(&case["b"]));
            let rank = w.ndim() - 2;
            let geometry = TransposeGeometry::new(rank)
                .with_stride(per_dim(&args["stride"], rank))
                .with_dilation(per_dim(&args["dilation"], rank))
                .with_padding(TransposePadding::Explicit(
                    per_dim(&args["padding"], rank)
                        .into_iter()
                        .map(|p| (p, p))
                        .collect(),
                ))
                .with_output_padding(per_dim(&args["output_padding"], rank))
                .with_groups(args["groups"].as_u64().unwrap() as usize);
            let y = conv_transpose(&x, &w, b.as_ref(), &geometry)?;
            assert_eq!(y, tensor(&case["expected"]), "{name}");
        }
        "max_pool" => {
            let rank = x.ndim() - if name.contains("unbatched") { 1 } else { 2 };
            let out = max_pool(&x, &pool_params(args, rank))?;
            assert_eq!(out.values, tensor(&case["expected"]), "{name}");
            assert_eq!(out.indices, indices(&case["indices"]), "{name}: indices");
        }
        "ceil_size" => {
            let out = max_pool(&x, &pool_params(args, 1).with_ceil_mode(true))?;
            assert_eq!(
                out.values.shape(),
                tensor(&case["expected"]).shape(),
                "{name}"
            );
        }
        "avg_pool" => {
            let y = avg_pool(&x, &pool_params(args, batched_rank), &avg_options(args))?;
            assert_eq!(y, tensor(&case["expected"]), "{name}");
        }
        "avg_pool_float" => {
            let params = PoolParams::new(vec![2])
                .with_stride(vec![3])
                .with_ceil_mode(true);
            let y = avg_pool(&x, &params, &AvgOptions::default())?;
            let expected: Vec<f64> = case["expected_float"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(y.iter().map(round_to_f64).collect::<Vec<_>>(), expected);
            assert_eq!(expected, vec![0.5, 3.5, 6.0]);
        }
        "adaptive_avg_pool" => {
            let y = adaptive_avg_pool(&x, &per_dim(&args["output_size"], batched_rank))?;
            assert_eq!(y, tensor(&case["expected"]), "{name}");
        }
        "adaptive_max_pool" => {
            let out = adaptive_max_pool(&x, &per_dim(&args["output_size"], batched_rank))?;
            assert_eq!(out.values, tensor(&case["expected"]), "{name}");
            assert_eq!(out.indices, indices(&case["indices"]), "{name}: indices");
        }
        "conv_grad" => {
            let w = tensor(&case["w"]);
            let g = tensor(&case["g"]);
            let geometry = conv_geometry(args, w.ndim() - 2);
            let grads = correlate_backward(&x, &w, &g, &geometry)?;
            assert_eq!(grads.input, tensor(&case["grad_input"]), "{name}: input");
            assert_eq!(grads.weight, tensor(&case["grad_weight"]), "{name}: weight");
            assert_eq!(grads.bias, tensor(&case["grad_bias"]), "{name}: bias");
        }
        "max_pool_grad" => {
            let g = tensor(&case["g"]);
            let gi = max_pool_backward(&g, &x, &pool_params(args, batched_rank))?;
            assert_eq!(gi, tensor(&case["grad_input"]), "{name}");
        }
        "avg_pool_grad" => {
            let g = tensor(&case["g"]);
            let params = pool_params(args, batched_rank);
            let gi = avg_pool_backward(&g, x.shape(), &params, &avg_options(args))?;
            assert_eq!(gi, tensor(&case["grad_input"]), "{name}");
        }
        "unfold" => {
            let rank = 2;
            let mut params = UnfoldParams::new(per_dim(&args["kernel_size"], rank));
            params.dilation = per_dim(&args["dilation"], rank);
            params.padding = per_dim(&args["padding"], rank);
            params.stride = per_dim(&args["stride"], rank);
            assert_eq!(unfold(&x, &params)?, tensor(&case["expected"]), "{name}");
        }
        "fold" => {
            let rank = 2;
            let mut params = UnfoldParams::new(per_dim(&args["kernel_size"], rank));
            params.dilation = per_dim(&args["dilation"], rank);
            params.padding = per_dim(&args["padding"], rank);
            params.stride = per_dim(&args["stride"], rank);
            let y = fold(&x, &per_dim(&args["output_size"], rank), &params)?;
            assert_eq!(y, tensor(&case["expected"]), "{name}");
        }
        other => panic!("unknown fixture kind {other}"),
    }
    Ok(())
}

#[test]
fn pytorch_layers_agree_exactly() {
    let doc = fixture("torch_layers.json");
    let mut agreed: BTreeMap<String, usize> = BTreeMap::new();
    let mut refused = 0;
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let result = check(case);
        if case.get("expected").is_some_and(Value::is_null) {
            let error = result.expect_err(&format!(
                "{name}: PyTorch refused ({}) but we computed",
                case["error"]
            ));
            assert!(!error.to_string().is_empty());
            refused += 1;
        } else {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
            *agreed
                .entry(case["kind"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    // Every family is covered, and the refusals were really checked.
    for kind in [
        "conv_transpose",
        "max_pool",
        "avg_pool",
        "adaptive_avg_pool",
        "adaptive_max_pool",
        "conv_grad",
        "max_pool_grad",
        "avg_pool_grad",
        "unfold",
        "fold",
        "ceil_size",
    ] {
        assert!(
            agreed.get(kind).copied().unwrap_or(0) >= 2,
            "{kind}: {agreed:?}"
        );
    }
    assert!(refused >= 5, "{refused} refusals");
}

#[test]
fn ceil_mode_sizes_that_frameworks_got_wrong() {
    // (L, k, s, p) -> correct output size, as PyTorch and ONNX opset 22 give it.
    for (length, kernel, stride, pad, expected) in [
        (32, 1, 2, 0, 16),
        (5, 2, 2, 1, 3),
        (9, 4, 4, 2, 3),
        (6, 1, 2, 0, 3),
    ] {
        let x = ArrayD::from_elem(
            ndarray::IxDyn(&[1, 1, length]),
            Rational::from_integer(1.into()),
        );
        let params = PoolParams::new(vec![kernel])
            .with_stride(vec![stride])
            .with_padding(vec![pad])
            .with_ceil_mode(true);
        let out = max_pool(&x, &params).unwrap();
        assert_eq!(
            out.values.shape(),
            &[1, 1, expected],
            "L={length} k={kernel} s={stride} p={pad}"
        );
    }
}

fn list(value: &Value) -> Option<Vec<usize>> {
    value
        .as_array()
        .map(|items| items.iter().map(|v| v.as_u64().unwrap() as usize).collect())
}

/// ONNX `pads` (all begins, then all ends) as (begin, end) pairs.
fn onnx_pads(value: &Value, rank: usize) -> Option<Vec<(usize, usize)>> {
    list(value).map(|p| (0..rank).map(|d| (p[d], p[rank + d])).collect())
}

#[test]
fn onnx_runtime_conv_conv_transpose_and_max_pool_agree_exactly() {
    let doc = fixture("onnx_layers.json");
    let (mut checked, mut deviations) = (0, 0);
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let attrs = &case["attrs"];
        let x = tensor(&case["x"]);
        let rank = x.ndim() - 2;
        match case["kind"].as_str().unwrap() {
            "conv_transpose" => {
                let w = tensor(&case["w"]);
                let extra_at_end = attrs["auto_pad"].as_str() == Some("SAME_UPPER");
                let same = matches!(
                    attrs["auto_pad"].as_str(),
                    Some("SAME_UPPER" | "SAME_LOWER")
                );
                let padding =
                    if let Some(shape) = list(&attrs["output_shape"]) {
                        TransposePadding::OutputShape {
                            shape,
                            extra_at_end,
                        }
                    } else if same {
                        TransposePadding::Same { extra_at_end }
                    } else {
                        TransposePadding::Explicit(
                            onnx_pads(&attrs["pads"], rank).unwrap_or(vec![(0, 0); rank]),
                        )
                    };
                let geometry = TransposeGeometry::new(rank)
                    .with_stride(list(&attrs["strides"]).unwrap_or(vec![1; rank]))
                    .with_dilation(list(&attrs["dilations"]).unwrap_or(vec![1; rank]))
                    .with_output_padding(list(&attrs["output_padding"]).unwrap_or(vec![0; rank]))
                    .with_padding(padding)
                    .with_groups(attrs["group"].as_u64().unwrap() as usize);
                let y = conv_transpose(&x, &w, None, &geometry)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                if case["reference_agrees"] == Value::Bool(false) {
                    // ONNX Runtime stops at the uncropped size where SAME asks for L * s; the
                    // ONNX reference evaluator (the operator's definition) and we do not.
                    assert_eq!(y, tensor(&case["reference"]), "{name}: ONNX reference");
                    assert_ne!(y.shape(), tensor(&case["expected"]).shape(), "{name}");
                    deviations += 1;
                } else {
                    assert_eq!(y, tensor(&case["expected"]), "{name}");
                }
            }
            "conv" => {
                let w = tensor(&case["w"]);
                let padding = match attrs["auto_pad"].as_str() {
                    Some("SAME_UPPER") => Padding::SameUpper,
                    Some("SAME_LOWER") => Padding::SameLower,
                    Some("VALID") => Padding::Valid,
                    _ => Padding::Explicit(
                        onnx_pads(&attrs["pads"], rank).unwrap_or(vec![(0, 0); rank]),
                    ),
                };
                let geometry = ConvGeometry::new(rank)
                    .with_stride(list(&attrs["strides"]).unwrap_or(vec![1; rank]))
                    .with_dilation(list(&attrs["dilations"]).unwrap_or(vec![1; rank]))
                    .with_padding(padding)
                    .with_groups(attrs["group"].as_u64().unwrap() as usize);
                let y = convspec::reference::correlate(&x, &w, None, &geometry)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(y, tensor(&case["expected"]), "{name}");
            }
            "max_pool" => {
                let kernel = list(&attrs["kernel_shape"]).unwrap();
                let params = PoolParams::new(kernel)
                    .with_stride(list(&attrs["strides"]).unwrap_or(vec![1; rank]))
                    .with_pads(onnx_pads(&attrs["pads"], rank).unwrap_or(vec![(0, 0); rank]))
                    .with_dilation(list(&attrs["dilations"]).unwrap_or(vec![1; rank]))
                    .with_ceil_mode(attrs["ceil_mode"].as_u64() == Some(1));
                let out = max_pool(&x, &params).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(out.values, tensor(&case["expected"]), "{name}");
                assert_eq!(
                    out.onnx_indices(x.shape()),
                    indices(&case["indices"]),
                    "{name}: indices"
                );
            }
            other => panic!("unknown kind {other}"),
        }
        checked += 1;
    }
    assert!(checked >= 16, "{checked}");
    assert_eq!(
        deviations, 1,
        "ONNX Runtime's known deviation is still recorded"
    );
}
