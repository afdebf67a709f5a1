//! Adjointness: <A x, y> = <x, A^T y>, transposed convolution as the adjoint of correlation,
//! and the backward pass as the transpose of the Toeplitz matrices.

use super::{inner, same, show, Convolution, Counterexample, LawResult};
use crate::geometry::{ConvGeometry, PaddingMode, TransposeGeometry, TransposePadding};
use crate::reference::{correlate_backward, ConvGradients, OpError};
use crate::scalar::Ring;
use crate::toeplitz::{apply, correlate_matrix, probe, MatrixLimit};
use ndarray::{ArrayD, IxDyn};

fn scalar<T: Ring>(value: T) -> ArrayD<T> {
    ArrayD::from_elem(IxDyn(&[1]), value)
}

/// Adjointness of a pair of linear maps: <forward(x), y> = <x, adjoint(y)> for the standard
/// inner products (sum of elementwise products).
pub fn adjointness<T: Ring>(
    law: &'static str,
    forward: impl Fn(&ArrayD<T>) -> Result<ArrayD<T>, OpError>,
    adjoint: impl Fn(&ArrayD<T>) -> Result<ArrayD<T>, OpError>,
    x: &ArrayD<T>,
    y: &ArrayD<T>,
) -> LawResult {
    let inputs = || format!("x = {}, y = {}", show(x), show(y));
    let fx = forward(x);
    let ay = adjoint(y);
    match (fx, ay) {
        (Ok(fx), Ok(ay)) if fx.shape() == y.shape() && ay.shape() == x.shape() => same(
            law,
            inputs,
            Ok(scalar(inner(&fx, y))),
            Ok(scalar(inner(x, &ay))),
        ),
        (fx, ay) => same(law, inputs, fx, ay),
    }
}

/// The output padding that makes a transposed convolution's output as large as the
/// correlation's input: a = (L + p_b + p_e - d(k-1) - 1) mod s per dimension.
pub fn leftover(
    geometry: &ConvGeometry,
    input: &[usize],
    kernel: &[usize],
) -> Result<Vec<usize>, OpError> {
    let dims = geometry.resolve(input, kernel)?;
    Ok(dims
        .iter()
        .map(|g| (g.input + g.pad_begin + g.pad_end - (g.dilation * (g.kernel - 1) + 1)) % g.stride)
        .collect())
}

/// Transposed convolution is the adjoint of correlation: for zeros padding, any stride,
/// dilation, padding rule (resolved to its explicit pads) and groups, and output_padding =
/// [`leftover`]. Outside those hypotheses (another padding mode, an invalid geometry) it returns
/// a counterexample saying so rather than passing untested.
/// <correlate(x, w), g> = <x, conv_transpose(g, w)>.
pub fn transpose_is_adjoint<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    g: &ArrayD<T>,
    geometry: &ConvGeometry,
) -> LawResult {
    let law = "transposed convolution is the adjoint of correlation";
    let refuse = |why: String| Counterexample {
        law,
        inputs: format!(
            "x {:?}, w {:?}, geometry {geometry:?}",
            x.shape(),
            w.shape()
        ),
        left: why,
        right: String::new(),
        at: None,
    };
    if geometry.padding_mode != PaddingMode::Zeros {
        return Err(refuse(format!(
            "the law holds for zeros padding, not {}",
            geometry.padding_mode
        )));
    }
    let rank = geometry.rank();
    // Any padding rule, resolved against the shapes to the explicit pads it stands for.
    let dims = geometry
        .resolve(&x.shape()[2..], &w.shape()[2..])
        .map_err(|e| refuse(e.to_string()))?;
    let pads: Vec<(usize, usize)> = dims.iter().map(|d| (d.pad_begin, d.pad_end)).collect();
    let output_padding =
        leftover(geometry, &x.shape()[2..], &w.shape()[2..]).map_err(|e| refuse(e.to_string()))?;
    let transpose = TransposeGeometry::new(rank)
        .with_stride(geometry.stride.clone())
        .with_dilation(geometry.dilation.clone())
        .with_padding(TransposePadding::Explicit(pads))
        .with_output_padding(output_padding)
        .with_groups(geometry.groups);
    adjointness(
        law,
        |x| imp.correlate(x, w, geometry),
        |g| imp.conv_transpose(g, w, &transpose),
        x,
        g,
    )
}

/// The backward pass is the transpose of the Toeplitz forms: with A the matrix of
/// x -> correlate(x, w) and B the matrix of w -> correlate(x, w) (one sample),
///
/// ```text
/// vec(dL/dx) = A^T vec(g),   vec(dL/dw) = B^T vec(g),   dL/db = sum of g over positions,
/// ```
///
/// for every geometry (stride, dilation, padding rule and mode, groups) and one sample
/// (x of shape (1, C_in, L...)). Checks the reference engine's [`correlate_backward`].
pub fn gradients_are_toeplitz_transposes<T: Ring + 'static>(
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    g: &ArrayD<T>,
    geometry: &ConvGeometry,
) -> LawResult {
    gradients_of_backward_are_toeplitz_transposes(&correlate_backward, x, w, g, geometry)
}

/// Signature of a backward pass of the correlation layer.
pub type BackwardFn<T> =
    dyn Fn(&ArrayD<T>, &ArrayD<T>, &ArrayD<T>, &ConvGeometry) -> Result<ConvGradients<T>, OpError>;

/// [`gradients_are_toeplitz_transposes`] for any backward pass (`backward(x, w, g, geometry)`).
pub fn gradients_of_backward_are_toeplitz_transposes<T: Ring + 'static>(
    backward: &BackwardFn<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    g: &ArrayD<T>,
    geometry: &ConvGeometry,
) -> LawResult {
    let inputs = || {
        format!(
            "x = {}, w = {}, g = {}, {geometry:?}",
            show(x),
            show(w),
            show(g)
        )
    };
    let sample = &x.shape()[1..];
    let law = "gradients are the transposed Toeplitz forms";
    let grads = match backward(x, w, g, geometry) {
        Ok(grads) => grads,
        Err(e) => return same(law, inputs, Err(e), Ok(g.clone())),
    };
    let to_op = |e: crate::toeplitz::ToeplitzError| OpError::Invalid(e.to_string());
    let a = correlate_matrix(w, sample, geometry, MatrixLimit::unlimited()).map_err(to_op);
    let x_sample = x.index_axis(ndarray::Axis(0), 0).to_owned();
    let b = probe(
        w.shape(),
        |w: &ArrayD<T>| crate::reference::correlate(&x_sample, w, None, geometry),
        MatrixLimit::unlimited(),
    )
    .map_err(to_op);
    let g_vec: Vec<T> = g.iter().cloned().collect();
    let expected_input = a.and_then(|a| {
        let v = apply(&a.transpose(), &g_vec).map_err(to_op)?;
        Ok(ArrayD::from_shape_vec(IxDyn(x.shape()), v).expect("sample shape"))
    });
    same(law, inputs, Ok(grads.input.clone()), expected_input)?;
    let expected_weight = b.and_then(|b| {
        let v = apply(&b.transpose(), &g_vec).map_err(to_op)?;
        Ok(ArrayD::from_shape_vec(IxDyn(w.shape()), v).expect("weight shape"))
    });
    same(law, inputs, Ok(grads.weight.clone()), expected_weight)?;
    let channels = g.shape()[1];
    let bias: Vec<T> = (0..channels)
        .map(|o| {
            g.index_axis(ndarray::Axis(1), o)
                .iter()
                .fold(T::zero(), |s, v| s + v.clone())
        })
        .collect();
    same(
        law,
        inputs,
        Ok(grads.bias.clone()),
        Ok(ArrayD::from_shape_vec(IxDyn(&[channels]), bias).expect("1-D")),
    )
}
