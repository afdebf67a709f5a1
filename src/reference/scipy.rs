//! SciPy's `scipy.signal.convolve` / `correlate` (N-D) and `convolve2d` / `correlate2d`
//! (2-D with boundary conditions), reproduced exactly.
//!
//! # `scipy.signal.convolve(in1, in2, mode)` and `correlate`
//!
//! ```text
//! full[t] = sum_j in2[j] * in1[t - j]      (multi-indices; in1 = 0 outside), shape s1 + s2 - 1
//! same:  out[m] = full[m + floor((s2 - 1) / 2)],  shape s1 (the shape of in1, always)
//! valid: out[m] = full[m + min(s1, s2) - 1],      shape |s1 - s2| + 1
//! ```
//!
//! 'valid' needs one argument at least as large as the other in every dimension. `correlate`
//! is `convolve(in1, reversed in2)` (for real data; SciPy also conjugates). Two 0-d arrays
//! give their product; arguments of different rank are refused; an empty argument gives an
//! empty 1-D result, as in SciPy.
//!
//! # `convolve2d(in1, in2, mode, boundary, fillvalue)` and `correlate2d`
//!
//! With K the kernel shape and c = floor((K - 1) / 2), SciPy's C loop reads in1 at
//!
//! ```text
//! convolve:  full: m - j     same: m + c - j       valid: m + K - 1 - j
//! correlate: full: m - K + 1 + j   same: m - c + j   valid: m + j
//! ```
//!
//! for kernel index j, and extends in1 past its edges by `fill` (the fill value), `wrap`
//! (periodic) or `symm` (mirror with the edge repeated: ... x1 x0 | x0 x1 ...), as often as
//! needed. Note that correlate2d 'same' with an even kernel is aligned differently from
//! `scipy.signal.correlate(..., 'same')`: it keeps one more element of the full result on the left.
//! For 'valid', the arguments are swapped when in2 is the larger; correlate2d then reverses
//! the result in both dimensions.

use super::numpy::Mode;
use super::OpError;
use crate::index::multi_indices;
use crate::scalar::Ring;
use ndarray::{ArrayD, Axis, IxDyn};
use std::fmt;
use std::str::FromStr;

/// How `convolve2d` / `correlate2d` extend in1 past its edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Boundary {
    /// Pad with the fill value.
    Fill,
    /// Periodic extension.
    Wrap,
    /// Symmetric extension, the edge repeated.
    Symm,
}

impl FromStr for Boundary {
    type Err = String;
    fn from_str(s: &str) -> Result<Boundary, String> {
        match s {
            "fill" | "pad" => Ok(Boundary::Fill),
            "wrap" | "circular" => Ok(Boundary::Wrap),
            "symm" | "symmetric" => Ok(Boundary::Symm),
            other => Err(format!(
                "invalid boundary '{other}': expected fill, wrap or symm"
            )),
        }
    }
}

impl fmt::Display for Boundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Boundary::Fill => "fill",
            Boundary::Wrap => "wrap",
            Boundary::Symm => "symm",
        })
    }
}

impl Boundary {
    /// SciPy's index maps `reflect_symm_index` and `circular_wrap_index`; None means "fill".
    fn source(self, j: i64, len: usize) -> Option<usize> {
        let m = len as i64;
        if (0..m).contains(&j) {
            return Some(j as usize);
        }
        match self {
            Boundary::Fill => None,
            Boundary::Wrap => Some(j.rem_euclid(m) as usize),
            Boundary::Symm => {
                let k = if j >= 0 {
                    j % (2 * m)
                } else {
                    (j + 1).abs() % (2 * m)
                };
                Some(if k >= m { 2 * m - k - 1 } else { k } as usize)
            }
        }
    }
}

/// SciPy's `_inputs_swap_needed`: in 'valid' mode, true when in2 is the larger argument;
/// an error when neither is at least as large as the other in every dimension.
fn swap_needed(mode: Mode, s1: &[usize], s2: &[usize]) -> Result<bool, OpError> {
    if mode != Mode::Valid {
        return Ok(false);
    }
    let ok1 = s1.iter().zip(s2).all(|(a, b)| a >= b);
    let ok2 = s2.iter().zip(s1).all(|(a, b)| a >= b);
    if !(ok1 || ok2) {
        return Err(OpError::Invalid(
            "For 'valid' mode, one must be at least as large as the other in every dimension"
                .into(),
        ));
    }
    Ok(!ok1)
}

fn reversed<T: Clone>(a: &ArrayD<T>) -> ArrayD<T> {
    let mut view = a.view();
    for axis in 0..a.ndim() {
        view.invert_axis(Axis(axis));
    }
    view.to_owned()
}

/// `scipy.signal.convolve(in1, in2, mode)` (the result of every `method`).
pub fn signal_convolve<T: Ring>(
    in1: &ArrayD<T>,
    in2: &ArrayD<T>,
    mode: Mode,
) -> Result<ArrayD<T>, OpError> {
    if in1.ndim() == 0 && in2.ndim() == 0 {
        return Ok(ArrayD::from_elem(
            IxDyn(&[]),
            in1.first().unwrap().clone() * in2.first().unwrap().clone(),
        ));
    }
    if in1.ndim() != in2.ndim() {
        return Err(OpError::Invalid(
            "volume and kernel should have the same dimensionality".into(),
        ));
    }
    if in1.is_empty() || in2.is_empty() {
        return Ok(ArrayD::from_shape_vec(IxDyn(&[0]), Vec::new()).expect("empty"));
    }
    let (s1, s2) = (in1.shape(), in2.shape());
    swap_needed(mode, s1, s2)?;
    let (shape, offset): (Vec<usize>, Vec<usize>) = match mode {
        Mode::Full => (
            s1.iter().zip(s2).map(|(a, b)| a + b - 1).collect(),
            vec![0; s1.len()],
        ),
        Mode::Same => (s1.to_vec(), s2.iter().map(|b| (b - 1) / 2).collect()),
        Mode::Valid => (
            s1.iter()
                .zip(s2)
                .map(|(a, b)| a.max(b) - a.min(b) + 1)
                .collect(),
            s1.iter().zip(s2).map(|(a, b)| a.min(b) - 1).collect(),
        ),
    };
    let taps = multi_indices(s2);
    Ok(ArrayD::from_shape_fn(IxDyn(&shape), |m| {
        let mut sum = T::zero();
        'taps: for j in &taps {
            let mut source = Vec::with_capacity(j.len());
            for d in 0..j.len() {
                let t = (m[d] + offset[d]) as i64 - j[d] as i64;
                if !(0..s1[d] as i64).contains(&t) {
                    continue 'taps;
                }
                source.push(t as usize);
            }
            sum = sum + in2[IxDyn(j)].clone() * in1[IxDyn(&source)].clone();
        }
        sum
    }))
}

/// `scipy.signal.correlate(in1, in2, mode)`: `convolve(in1, reversed in2, mode)`.
pub fn signal_correlate<T: Ring>(
    in1: &ArrayD<T>,
    in2: &ArrayD<T>,
    mode: Mode,
) -> Result<ArrayD<T>, OpError> {
    if in1.ndim() == 0 && in2.ndim() == 0 {
        return signal_convolve(in1, in2, mode);
    }
    if in1.ndim() != in2.ndim() {
        return Err(OpError::Invalid(
            "in1 and in2 should have the same dimensionality".into(),
        ));
    }
    signal_convolve(in1, &reversed(in2), mode)
}

/// SciPy's `_convolve2d` C loop (see the module documentation), for in1 (image) and in2 (kernel).
fn convolve2d_core<T: Ring>(
    image: &ArrayD<T>,
    kernel: &ArrayD<T>,
    flip: bool,
    mode: Mode,
    boundary: Boundary,
    fillvalue: &T,
) -> ArrayD<T> {
    let (ns, nw) = (image.shape(), kernel.shape());
    let out_shape: Vec<usize> = (0..2)
        .map(|d| match mode {
            Mode::Full => ns[d] + nw[d] - 1,
            Mode::Same => ns[d],
            Mode::Valid => ns[d] - nw[d] + 1,
        })
        .collect();
    let base = |m: usize, d: usize| -> i64 {
        let (m, k) = (m as i64, nw[d] as i64);
        match (mode, flip) {
            (Mode::Full, true) => m,
            (Mode::Full, false) => m - k + 1,
            (Mode::Same, true) => m + (k - 1) / 2,
            (Mode::Same, false) => m - (k - 1) / 2,
            (Mode::Valid, true) => m + k - 1,
            (Mode::Valid, false) => m,
        }
    };
    ArrayD::from_shape_fn(IxDyn(&out_shape), |index| {
        let mut sum = T::zero();
        for j in 0..nw[0] {
            for k in 0..nw[1] {
                let step = |d: usize, t: usize| {
                    if flip {
                        base(index[d], d) - t as i64
                    } else {
                        base(index[d], d) + t as i64
                    }
                };
                let value = match (
                    boundary.source(step(0, j), ns[0]),
                    boundary.source(step(1, k), ns[1]),
                ) {
                    (Some(r), Some(c)) => image[IxDyn(&[r, c])].clone(),
                    _ => fillvalue.clone(),
                };
                sum = sum + kernel[IxDyn(&[j, k])].clone() * value;
            }
        }
        sum
    })
}

fn check_2d<T>(in1: &ArrayD<T>, in2: &ArrayD<T>, name: &str) -> Result<(), OpError> {
    if in1.ndim() != 2 || in2.ndim() != 2 {
        return Err(OpError::Invalid(format!(
            "{name} inputs must both be 2-D arrays"
        )));
    }
    if in1.is_empty() || in2.is_empty() {
        return Err(OpError::Invalid(format!("{name} inputs must not be empty")));
    }
    Ok(())
}

/// `scipy.signal.convolve2d(in1, in2, mode, boundary, fillvalue)`.
pub fn convolve2d<T: Ring>(
    in1: &ArrayD<T>,
    in2: &ArrayD<T>,
    mode: Mode,
    boundary: Boundary,
    fillvalue: &T,
) -> Result<ArrayD<T>, OpError> {
    check_2d(in1, in2, "convolve2d")?;
    let (in1, in2) = if swap_needed(mode, in1.shape(), in2.shape())? {
        (in2, in1)
    } else {
        (in1, in2)
    };
    Ok(convolve2d_core(in1, in2, true, mode, boundary, fillvalue))
}

/// `scipy.signal.correlate2d(in1, in2, mode, boundary, fillvalue)`.
pub fn correlate2d<T: Ring>(
    in1: &ArrayD<T>,
    in2: &ArrayD<T>,
    mode: Mode,
    boundary: Boundary,
    fillvalue: &T,
) -> Result<ArrayD<T>, OpError> {
    check_2d(in1, in2, "correlate2d")?;
    let swapped = swap_needed(mode, in1.shape(), in2.shape())?;
    let (a, b) = if swapped { (in2, in1) } else { (in1, in2) };
    let out = convolve2d_core(a, b, false, mode, boundary, fillvalue);
    Ok(if swapped { reversed(&out) } else { out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::Integer;

    fn grid(shape: &[usize], v: &[i64]) -> ArrayD<Integer> {
        ArrayD::from_shape_vec(IxDyn(shape), v.iter().map(|&x| Integer::from(x)).collect()).unwrap()
    }

    #[test]
    fn symm_and_wrap_index_maps_match_scipy_comments() {
        // SciPy's own tables for m = 5, j = -7..=10.
        let symm: Vec<usize> = (-7..=10)
            .map(|j| Boundary::Symm.source(j, 5).unwrap())
            .collect();
        assert_eq!(
            symm,
            vec![3, 4, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 0]
        );
        let wrap: Vec<usize> = (-7..=10)
            .map(|j| Boundary::Wrap.source(j, 5).unwrap())
            .collect();
        assert_eq!(
            wrap,
            vec![3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0]
        );
    }

    #[test]
    fn convolve_full_by_hand_and_same_keeps_in1_shape() {
        let a = grid(&[3], &[1, 2, 3]);
        let v = grid(&[2], &[1, 1]);
        assert_eq!(
            signal_convolve(&a, &v, Mode::Full)
                .unwrap()
                .into_raw_vec_and_offset()
                .0,
            grid(&[4], &[1, 3, 5, 3]).into_raw_vec_and_offset().0
        );
        // same: offset floor(1/2) = 0 -> [1, 3, 5]; with in1 shorter the shape is still in1's.
        assert_eq!(signal_convolve(&a, &v, Mode::Same).unwrap().shape(), &[3]);
        assert_eq!(signal_convolve(&v, &a, Mode::Same).unwrap().shape(), &[2]);
        assert!(signal_convolve(
            &grid(&[2, 3], &[0; 6]),
            &grid(&[3, 2], &[0; 6]),
            Mode::Valid
        )
        .is_err());
    }

    #[test]
    fn convolve2d_fill_equals_signal_convolve() {
        let a = grid(&[3, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let k = grid(&[2, 2], &[1, -1, 2, 0]);
        for mode in [Mode::Full, Mode::Same, Mode::Valid] {
            let zero = Integer::from(0);
            assert_eq!(
                convolve2d(&a, &k, mode, Boundary::Fill, &zero).unwrap(),
                signal_convolve(&a, &k, mode).unwrap()
            );
        }
    }
}
