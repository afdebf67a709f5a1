//! Size and parameter-count formulas against what the engine produces.
//!
//! Each formula is written out here again, from its statement, and compared with the shape of
//! the tensor an implementation returns for zero inputs.

use super::{same, Convolution, LawResult, Pooling};
use crate::geometry::{ConvGeometry, PoolParams, TransposeGeometry, TransposePadding};
use crate::scalar::Ring;
use ndarray::{ArrayD, IxDyn};

fn shape_tensor<T: Ring>(shape: &[usize]) -> ArrayD<T> {
    ArrayD::from_elem(IxDyn(shape), T::zero())
}

/// A shape as a tensor of that shape (what `same` compares).
fn as_shape<T: Ring>(
    result: Result<ArrayD<T>, crate::reference::OpError>,
) -> Result<ArrayD<T>, crate::reference::OpError> {
    result.map(|t| shape_tensor(t.shape()))
}

/// Correlation output size: O = floor((L + p_b + p_e - d(k-1) - 1) / s) + 1 per dimension,
/// (N, C_out, O...) overall, for every accepted geometry (padding resolved by its rule).
pub fn conv_output_shape<T: Ring>(
    imp: &impl Convolution<T>,
    input_shape: &[usize],
    weight_shape: &[usize],
    geometry: &ConvGeometry,
) -> LawResult {
    let rank = geometry.rank();
    let mut formula = vec![input_shape[0], weight_shape[0]];
    for d in 0..rank {
        let (l, k, s, dil) = (
            input_shape[2 + d],
            weight_shape[2 + d],
            geometry.stride[d],
            geometry.dilation[d],
        );
        let (pb, pe) = match geometry.padding.resolve(d, l, k, s, dil) {
            Ok(p) => p,
            Err(_) => return Ok(()), // outside the formula's hypotheses
        };
        let span = dil * (k - 1) + 1;
        if l + pb + pe < span {
            return Ok(());
        }
        formula.push((l + pb + pe - span) / s + 1);
    }
    let engine = imp.correlate(
        &shape_tensor(input_shape),
        &shape_tensor(weight_shape),
        geometry,
    );
    if engine.is_err() {
        // The engine may refuse for reasons the size formula does not know (padding-mode
        // limits, groups): the law speaks about accepted geometries only.
        return Ok(());
    }
    same(
        "correlation output size formula",
        || format!("input {input_shape:?}, weight {weight_shape:?}, {geometry:?}"),
        as_shape(engine),
        Ok(shape_tensor(&formula)),
    )
}

/// Transposed-convolution output size: O = (L - 1) s + d(k - 1) + 1 + a - p_b - p_e, and
/// C_out = weight\[1\] * groups, for explicit padding.
pub fn transpose_output_shape<T: Ring>(
    imp: &impl Convolution<T>,
    input_shape: &[usize],
    weight_shape: &[usize],
    geometry: &TransposeGeometry,
) -> LawResult {
    let TransposePadding::Explicit(pads) = &geometry.padding else {
        return Ok(());
    };
    let rank = pads.len();
    let mut formula = vec![input_shape[0], weight_shape[1] * geometry.groups];
    for d in 0..rank {
        let full = (input_shape[2 + d] - 1) * geometry.stride[d]
            + geometry.dilation[d] * (weight_shape[2 + d] - 1)
            + 1
            + geometry.output_padding[d];
        let crop = pads[d].0 + pads[d].1;
        if full <= crop {
            return Ok(());
        }
        formula.push(full - crop);
    }
    let engine = imp.conv_transpose(
        &shape_tensor(input_shape),
        &shape_tensor(weight_shape),
        geometry,
    );
    if engine.is_err() {
        return Ok(());
    }
    same(
        "transposed convolution output size formula",
        || format!("input {input_shape:?}, weight {weight_shape:?}, {geometry:?}"),
        as_shape(engine),
        Ok(shape_tensor(&formula)),
    )
}

/// Pooling output size, floor and ceil mode: O = round((L + p_b + p_e - d(k-1) - 1) / s) + 1
/// with round = floor, or ceil in ceil mode, minus 1 in ceil mode when the last window would
/// start at or past L + p_b (PyTorch's rule: the last window must start inside the input or
/// the left padding). Max and average pooling must agree with it.
pub fn pool_output_shape<T: Ring + PartialOrd>(
    imp: &impl Pooling<T>,
    input_shape: &[usize],
    params: &PoolParams,
) -> LawResult {
    let rank = params.rank();
    let mut formula = input_shape[..2].to_vec();
    for d in 0..rank {
        let (l, k, s, dil) = (
            input_shape[2 + d],
            params.kernel_size[d],
            params.stride[d],
            params.dilation[d],
        );
        let (pb, pe) = params.padding[d];
        let span = dil * (k - 1) + 1;
        if l + pb + pe < span {
            return Ok(());
        }
        let room = l + pb + pe - span;
        let mut out = if params.ceil_mode {
            room.div_ceil(s) + 1
        } else {
            room / s + 1
        };
        if params.ceil_mode && (out - 1) * s >= l + pb {
            out -= 1;
        }
        formula.push(out);
    }
    let x = shape_tensor(input_shape);
    let inputs = || format!("input {input_shape:?}, {params:?}");
    let max = imp.max_pool(&x, params);
    if max.is_err() {
        return Ok(()); // refused geometry (padding limit, empty window)
    }
    same(
        "max pooling output size formula",
        inputs,
        as_shape(max),
        Ok(shape_tensor(&formula)),
    )?;
    let avg = imp.avg_pool(&x, params, &crate::reference::pool::AvgOptions::default());
    same(
        "average pooling output size formula",
        inputs,
        as_shape(avg),
        Ok(shape_tensor(&formula)),
    )
}

/// Parameter count: C_out (C_in / G) prod(k) + C_out (with bias) equals the number of entries
/// of a weight (C_out, C_in/G, k...) and a bias (C_out).
pub fn parameter_count_law(
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    kernel: &[usize],
    bias: bool,
) -> LawResult {
    if crate::geometry::check_groups(in_channels, out_channels, groups).is_err() {
        return Ok(()); // outside the hypotheses: the layer does not exist
    }
    parameter_formula_law(
        &|cin, cout, g, k, b| {
            crate::geometry::parameter_count(cin, cout, g, k, b).unwrap_or(u64::MAX)
        },
        in_channels,
        out_channels,
        groups,
        kernel,
        bias,
    )
}

/// Signature of a parameter-count formula (C_in, C_out, groups, kernel, bias).
pub type ParameterFormula = dyn Fn(usize, usize, usize, &[usize], bool) -> u64;

/// The parameter-count law for any formula (hypotheses: G divides C_in and C_out).
pub fn parameter_formula_law(
    formula: &ParameterFormula,
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    kernel: &[usize],
    bias: bool,
) -> LawResult {
    let count = formula(in_channels, out_channels, groups, kernel, bias);
    let mut weight_shape = vec![out_channels, in_channels / groups];
    weight_shape.extend(kernel);
    let entries = weight_shape.iter().product::<usize>() + if bias { out_channels } else { 0 };
    if count == entries as u64 {
        Ok(())
    } else {
        Err(super::Counterexample {
            law: "parameter count formula",
            inputs: format!(
                "C_in {in_channels}, C_out {out_channels}, groups {groups}, kernel {kernel:?}, bias {bias}"
            ),
            left: count.to_string(),
            right: entries.to_string(),
            at: None,
        })
    }
}

/// Transposed-convolution sizes invert correlation sizes: a correlation maps L to O; the
/// transposed convolution with the same stride, dilation and padding and output_padding
/// a = (L + p_b + p_e - d(k-1) - 1) mod s maps O back to L.
pub fn transpose_inverts_size<T: Ring>(
    imp: &impl Convolution<T>,
    input_shape: &[usize],
    weight_shape: &[usize],
    stride: &[usize],
    dilation: &[usize],
    pads: &[(usize, usize)],
) -> LawResult {
    let rank = stride.len();
    let conv = ConvGeometry::new(rank)
        .with_stride(stride.to_vec())
        .with_dilation(dilation.to_vec())
        .with_padding(crate::geometry::Padding::Explicit(pads.to_vec()));
    let Ok(y) = imp.correlate(
        &shape_tensor(input_shape),
        &shape_tensor(weight_shape),
        &conv,
    ) else {
        return Ok(());
    };
    let Ok(output_padding) = super::adjoint::leftover(&conv, &input_shape[2..], &weight_shape[2..])
    else {
        return Ok(());
    };
    let transpose = TransposeGeometry::new(rank)
        .with_stride(stride.to_vec())
        .with_dilation(dilation.to_vec())
        .with_padding(TransposePadding::Explicit(pads.to_vec()))
        .with_output_padding(output_padding);
    // The transposed layer's weight is (C_out, C_in, k...): the correlation's, read the other way.
    let mut back = vec![weight_shape[0], weight_shape[1]];
    back.extend(&weight_shape[2..]);
    same(
        "transposed convolution sizes invert correlation sizes",
        || {
            format!("input {input_shape:?}, weight {weight_shape:?}, stride {stride:?}, dilation {dilation:?}, pads {pads:?}")
        },
        as_shape(imp.conv_transpose(&shape_tensor(y.shape()), &shape_tensor(&back), &transpose)),
        Ok(shape_tensor(input_shape)),
    )
}
