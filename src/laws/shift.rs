//! Shift equivariance, and exactly where it fails.
//!
//! A shift moves a signal's contents by t positions along each spatial axis. Three kinds:
//! circular (`roll`, NumPy's `np.roll`), with zero fill keeping the shape
//! (`shift_zero`), and by prepending zeros (the shape grows).

use super::{prepend_zeros, roll, same, shift_zero, show, Convolution, LawResult, Pooling};
use crate::geometry::{ConvGeometry, Padding, PaddingMode, PoolParams};
use crate::reference::OpError;
use crate::scalar::Ring;
use ndarray::{ArrayD, Dimension, IxDyn};

fn roll_all<T: Clone>(a: &ArrayD<T>, shifts: &[usize]) -> ArrayD<T> {
    shifts
        .iter()
        .enumerate()
        .fold(a.clone(), |acc, (dim, &t)| roll(&acc, 2 + dim, t))
}

/// Circular convolution is shift equivariant: with circular padding (p_b, p_e) = (floor(D/2),
/// D - floor(D/2)), D = d(k - 1), stride s dividing L in every dimension, and shifts t that
/// are multiples of s,
///
/// ```text
/// correlate(roll(x, t)) = roll(correlate(x), t / s).
/// ```
///
/// For a shift that is not a multiple of the stride the right side is taken with t / s rounded
/// down, and the law is false: a search finds a counterexample (a strided layer is only
/// equivariant to shifts by multiples of its stride).
pub fn circular_equivariance<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    stride: &[usize],
    dilation: &[usize],
    shift: &[usize],
) -> LawResult {
    let rank = stride.len();
    let pads = (0..rank)
        .map(|d| {
            let span = dilation[d] * (w.shape()[2 + d] - 1);
            (span / 2, span - span / 2)
        })
        .collect();
    let g = ConvGeometry::new(rank)
        .with_stride(stride.to_vec())
        .with_dilation(dilation.to_vec())
        .with_padding(Padding::Explicit(pads))
        .with_padding_mode(PaddingMode::Circular);
    let output_shift: Vec<usize> = shift.iter().zip(stride).map(|(t, s)| t / s).collect();
    same(
        "circular correlation commutes with circular shifts (by multiples of the stride)",
        || {
            format!(
                "x = {}, w = {}, stride {stride:?}, dilation {dilation:?}, shift {shift:?}",
                show(x),
                show(w)
            )
        },
        imp.correlate(&roll_all(x, shift), w, &g),
        imp.correlate(x, w, &g).map(|y| roll_all(&y, &output_shift)),
    )
}

/// Full convolution is shift equivariant: prepending t zeros to x prepends t zeros to x * w
/// (exactly, every t, every rank).
pub fn full_equivariance<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    shift: &[usize],
) -> LawResult {
    let g = super::algebra::full(shift.len());
    let grow = |a: &ArrayD<T>| {
        shift
            .iter()
            .enumerate()
            .fold(a.clone(), |acc, (dim, &t)| prepend_zeros(&acc, 2 + dim, t))
    };
    same(
        "full convolution commutes with shifts",
        || format!("x = {}, w = {}, shift {shift:?}", show(x), show(w)),
        imp.convolve(&grow(x), w, &g),
        imp.convolve(x, w, &g).map(|y| grow(&y)),
    )
}

/// The output positions where a zero-padded stride-1 layer is exactly shift equivariant, per
/// dimension: for x' = x shifted by t >= 0 with zero fill (same shape), y'\[i\] = y[i - t] for
///
/// ```text
/// t + p_b <= i <= L - 1 + p_b - d(k - 1),
/// ```
///
/// i.e. where output i's window lies inside [t, L) of the shifted input (all its taps read
/// shifted input elements) and output i - t exists. Outside this range (the border) the law
/// fails in general: the taps read padding zeros on one side and input elements on the other.
pub fn interior(
    length: usize,
    kernel: usize,
    dilation: usize,
    pad_begin: usize,
    shift: usize,
) -> std::ops::RangeInclusive<i64> {
    let lo = (shift + pad_begin) as i64;
    let hi = length as i64 - 1 + pad_begin as i64 - (dilation * (kernel - 1)) as i64;
    lo..=hi
}

/// Zero-padded 'same' and 'valid' layers (stride 1, any explicit padding, zeros) are shift
/// equivariant away from the border: y'\[i\] = y[i - t] for every i in [`interior`] (in every
/// dimension), with x' the zero-fill shift of x by t.
pub fn interior_equivariance<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    pads: &[(usize, usize)],
    dilation: &[usize],
    shift: &[usize],
) -> LawResult {
    let rank = shift.len();
    let g = ConvGeometry::new(rank)
        .with_dilation(dilation.to_vec())
        .with_padding(Padding::Explicit(pads.to_vec()));
    let shifted = shift
        .iter()
        .enumerate()
        .fold(x.clone(), |acc, (dim, &t)| shift_zero(&acc, 2 + dim, t));
    let inputs = || {
        format!(
            "x = {}, w = {}, pads {pads:?}, dilation {dilation:?}, shift {shift:?}",
            show(x),
            show(w)
        )
    };
    let (y, y_shifted) = match (imp.correlate(x, w, &g), imp.correlate(&shifted, w, &g)) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => return same("interior shift equivariance", inputs, b, a),
    };
    let ranges: Vec<_> = (0..rank)
        .map(|d| {
            interior(
                x.shape()[2 + d],
                w.shape()[2 + d],
                dilation[d],
                pads[d].0,
                shift[d],
            )
        })
        .collect();
    // Compare the interior elements only, as two tensors of the interior's shape.
    let inside: Vec<(Vec<usize>, Vec<usize>)> = y_shifted
        .indexed_iter()
        .filter_map(|(index, _)| {
            let i = index.slice();
            let keep = (0..rank).all(|d| ranges[d].contains(&(i[2 + d] as i64)));
            keep.then(|| {
                let mut source = i.to_vec();
                for d in 0..rank {
                    source[2 + d] -= shift[d];
                }
                (i.to_vec(), source)
            })
        })
        .collect();
    let left: Vec<T> = inside
        .iter()
        .map(|(i, _)| y_shifted[IxDyn(i)].clone())
        .collect();
    let right: Vec<T> = inside.iter().map(|(_, s)| y[IxDyn(s)].clone()).collect();
    let as_tensor = |v: Vec<T>| ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).expect("1-D");
    same(
        "zero-padded layers are shift equivariant away from the border",
        inputs,
        Ok::<_, OpError>(as_tensor(left)),
        Ok(as_tensor(right)),
    )
}

/// Strided max pooling (kernel k, stride s, no padding, no ceil mode) is equivariant to shifts by multiples
/// of the stride: for x' = x shifted by t = m s with zero fill, y'\[i\] = y[i - m] for every
/// output i >= m. For other shifts (t / s rounded down) it is false: strided max pooling is not
/// shift invariant (a search finds a counterexample).
pub fn max_pool_shift<T: Ring + PartialOrd>(
    imp: &impl Pooling<T>,
    x: &ArrayD<T>,
    params: &PoolParams,
    shift: &[usize],
) -> LawResult {
    let rank = shift.len();
    let shifted = shift
        .iter()
        .enumerate()
        .fold(x.clone(), |acc, (dim, &t)| shift_zero(&acc, 2 + dim, t));
    let m: Vec<usize> = shift
        .iter()
        .zip(&params.stride)
        .map(|(t, s)| t / s)
        .collect();
    let inputs = || format!("x = {}, {params:?}, shift {shift:?}", show(x));
    let (y, y_shifted) = match (imp.max_pool(x, params), imp.max_pool(&shifted, params)) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => return same("max pooling shift equivariance", inputs, b, a),
    };
    let pairs: Vec<(Vec<usize>, Vec<usize>)> = y_shifted
        .indexed_iter()
        .filter_map(|(index, _)| {
            let i = index.slice();
            (0..rank).all(|d| i[2 + d] >= m[d]).then(|| {
                let mut source = i.to_vec();
                for d in 0..rank {
                    source[2 + d] -= m[d];
                }
                (i.to_vec(), source)
            })
        })
        .collect();
    let left: Vec<T> = pairs
        .iter()
        .map(|(i, _)| y_shifted[IxDyn(i)].clone())
        .collect();
    let right: Vec<T> = pairs.iter().map(|(_, s)| y[IxDyn(s)].clone()).collect();
    let as_tensor = |v: Vec<T>| ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).expect("1-D");
    same(
        "strided max pooling commutes with shifts by multiples of the stride",
        inputs,
        Ok(as_tensor(left)),
        Ok(as_tensor(right)),
    )
}
