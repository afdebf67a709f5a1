//! The laws of convolution, as reusable checks.
//!
//! Each law is a function of an implementation (the [`Convolution`] or [`Pooling`] trait, which
//! any crate can implement, or plain closures through [`Closures`]) and of inputs, returning
//! `Ok(())` or a [`Counterexample`]: the inputs, both sides, and the first index where they
//! differ. The functions are generic over the scalar, so the same law runs
//!
//! * on random exact inputs in property tests (proptest and quickcheck; the generators are
//!   exported as proptest strategies behind the `proptest-support` feature, as nalgebra does);
//! * on the symbolic scalar ([`Polynomial`](crate::symbolic::Polynomial)): an identity of
//!   polynomials proves the law for every value at that shape ([`prove`]);
//! * on a deliberately wrong implementation, which it must reject (the negative controls in
//!   the tests).
//!
//! The hypotheses of each law are stated on its function. The catalogue with proofs is
//! `proofs/` at the root of the repository.
//!
//! Laws that are *false* (correlation is neither commutative nor associative; strided layers
//! are not equivariant to every shift) are written as the claim, so that a search finds and
//! shrinks a counterexample to it.
//!
//! Every law is re-exported here (`laws::bilinearity`, ...). What each kind catches in a
//! kernel under test, and what it cannot:
//!
//! | laws | catch | cannot catch |
//! |---|---|---|
//! | [`bilinearity`], [`distributivity`] | anything nonlinear: state kept between calls, a bias or constant added inside, clamping, integer overflow, rounding in the wrong place | index errors: an off-by-one or flipped kernel is still linear |
//! | [`full_equivariance`], [`interior_equivariance`], [`circular_equivariance`], [`max_pool_shift`] | position-dependent indexing: off-by-one taps, a wrong stride or dilation, a stride applied to the wrong axis | a consistently flipped or transposed kernel (still equivariant); border bugs (the interior law looks away from the padding) |
//! | [`commutativity`], [`associativity`], [`delta_identity`], [`composition`] | wrong lengths and offsets of full convolution (the 'full' padding, the kernel flip) | errors a kernel makes identically in all the calls compared |
//! | [`correlation_is_flipped_convolution`], [`correlation_reversal`] | correlation and convolution confused, or one of them flipped twice | a bug shared by the two paths |
//! | [`transpose_is_adjoint`], [`gradients_are_toeplitz_transposes`], [`adjointness`] | transposed convolutions and gradients that are not the adjoint of the forward layer: wrong output_padding, group mapping, stride placement | a forward layer that is itself wrong (the pair is adjoint to each other, not to the specification) |
//! | [`conv_output_shape`], [`transpose_output_shape`], [`pool_output_shape`], [`transpose_inverts_size`], [`parameter_count_law`] | output sizes (floor/ceil, dilation, ceil mode's last window) and parameter counts | the values inside a correctly sized output |
//! | [`global_pool_invariance`], [`max_pool_window_permutation`], [`max_pool_monotone`], [`avg_pool_is_correlation`] | pooling that depends on positions it should not, an average instead of a maximum, a wrong divisor or padding count | a window placed wrongly but consistently (use the shift law) |
//!
//! Values are checked against the specification itself by comparing with
//! [`Reference`], or with the oracle for float kernels; a law is a property, not a value.

pub mod adjoint;
pub mod algebra;
#[cfg(any(test, feature = "proptest-support"))]
pub mod harness;
pub mod pool;
pub mod prove;
pub mod shift;
pub mod sizes;
#[cfg(any(test, feature = "proptest-support"))]
pub mod strategies;
#[cfg(test)]
mod tests;

pub use adjoint::{
    adjointness, gradients_are_toeplitz_transposes, gradients_of_backward_are_toeplitz_transposes,
    leftover, transpose_is_adjoint,
};
pub use algebra::{
    associativity, bilinearity, commutativity, composed_kernel, composition,
    correlation_associativity, correlation_commutativity, correlation_is_flipped_convolution,
    correlation_reversal, delta_identity, dilate, distributivity, full,
};
pub use pool::{
    avg_pool_is_correlation, global_pool_invariance, max_pool_monotone, max_pool_window_permutation,
};
pub use shift::{
    circular_equivariance, full_equivariance, interior, interior_equivariance, max_pool_shift,
};
pub use sizes::{
    conv_output_shape, parameter_count_law, parameter_formula_law, pool_output_shape,
    transpose_inverts_size, transpose_output_shape,
};

use crate::geometry::{ConvGeometry, PoolParams, TransposeGeometry};
use crate::reference::pool::AvgOptions;
use crate::reference::OpError;
use crate::scalar::{Field, Ring};
use ndarray::{ArrayD, Axis, Dimension, IxDyn, Slice};
use std::fmt;

/// Why a law does not hold for some inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counterexample {
    /// The law's name.
    pub law: &'static str,
    /// The inputs (shapes and values).
    pub inputs: String,
    /// The left-hand side (or the error it gave).
    pub left: String,
    /// The right-hand side (or the error it gave).
    pub right: String,
    /// The first (C-order) index where the two sides differ; `None` when the shapes differ or
    /// a side failed.
    pub at: Option<Vec<usize>>,
}

impl std::error::Error for Counterexample {}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "law '{}' fails", self.law)?;
        writeln!(f, "  inputs: {}", self.inputs)?;
        writeln!(f, "  left:   {}", self.left)?;
        writeln!(f, "  right:  {}", self.right)?;
        match &self.at {
            Some(at) => write!(f, "  first difference at {at:?}"),
            None => write!(f, "  the shapes differ or a side failed"),
        }
    }
}

/// The outcome of checking a law on one input.
pub type LawResult = Result<(), Counterexample>;

/// A tensor as text: shape and values in C order.
pub fn show<T: fmt::Display>(tensor: &ArrayD<T>) -> String {
    let values: Vec<String> = tensor.iter().map(|v| v.to_string()).collect();
    format!("{:?} [{}]", tensor.shape(), values.join(", "))
}

fn show_result<T: fmt::Display>(side: &Result<ArrayD<T>, OpError>) -> String {
    match side {
        Ok(t) => show(t),
        Err(e) => format!("error: {e}"),
    }
}

/// Compares two sides of a law: equal shapes and equal values, or a [`Counterexample`].
pub fn same<T: Ring>(
    law: &'static str,
    inputs: impl FnOnce() -> String,
    left: Result<ArrayD<T>, OpError>,
    right: Result<ArrayD<T>, OpError>,
) -> LawResult {
    let at = match (&left, &right) {
        (Ok(l), Ok(r)) if l.shape() == r.shape() => {
            match l.indexed_iter().zip(r.iter()).find(|((_, a), b)| a != b) {
                None => return Ok(()),
                Some(((index, _), _)) => Some(index.slice().to_vec()),
            }
        }
        _ => None,
    };
    Err(Counterexample {
        law,
        inputs: inputs(),
        left: show_result(&left),
        right: show_result(&right),
        at,
    })
}

/// A convolution implementation under test.
///
/// Tensors are laid out as in the reference engine: input (N, C_in, L...), weight
/// (C_out, C_in/G, k...) for correlation and convolution, (C_in, C_out/G, k...) for the
/// transposed convolution.
pub trait Convolution<T> {
    /// Cross-correlation (what frameworks call convolution).
    fn correlate(
        &self,
        x: &ArrayD<T>,
        w: &ArrayD<T>,
        geometry: &ConvGeometry,
    ) -> Result<ArrayD<T>, OpError>;
    /// True convolution (kernel flipped).
    fn convolve(
        &self,
        x: &ArrayD<T>,
        w: &ArrayD<T>,
        geometry: &ConvGeometry,
    ) -> Result<ArrayD<T>, OpError>;
    /// Transposed convolution.
    fn conv_transpose(
        &self,
        x: &ArrayD<T>,
        w: &ArrayD<T>,
        geometry: &TransposeGeometry,
    ) -> Result<ArrayD<T>, OpError>;
}

/// A pooling implementation under test. Inputs are (N, C, L...).
pub trait Pooling<T> {
    /// Max pooling.
    fn max_pool(&self, x: &ArrayD<T>, params: &PoolParams) -> Result<ArrayD<T>, OpError>;
    /// Average pooling.
    fn avg_pool(
        &self,
        x: &ArrayD<T>,
        params: &PoolParams,
        options: &AvgOptions,
    ) -> Result<ArrayD<T>, OpError>;
    /// Global max pooling over `rank` spatial dimensions (output (N, C, 1...)).
    fn global_max_pool(&self, x: &ArrayD<T>, rank: usize) -> Result<ArrayD<T>, OpError>;
    /// Global average pooling over `rank` spatial dimensions.
    fn global_avg_pool(&self, x: &ArrayD<T>, rank: usize) -> Result<ArrayD<T>, OpError>;
}

/// The reference engine as an implementation: the specification checked against itself in the
/// tests, and the comparison point for the negative controls.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reference;

impl<T: Ring> Convolution<T> for Reference {
    fn correlate(
        &self,
        x: &ArrayD<T>,
        w: &ArrayD<T>,
        geometry: &ConvGeometry,
    ) -> Result<ArrayD<T>, OpError> {
        crate::reference::correlate(x, w, None, geometry)
    }
    fn convolve(
        &self,
        x: &ArrayD<T>,
        w: &ArrayD<T>,
        geometry: &ConvGeometry,
    ) -> Result<ArrayD<T>, OpError> {
        crate::reference::convolve(x, w, None, geometry)
    }
    fn conv_transpose(
        &self,
        x: &ArrayD<T>,
        w: &ArrayD<T>,
        geometry: &TransposeGeometry,
    ) -> Result<ArrayD<T>, OpError> {
        crate::reference::conv_transpose(x, w, None, geometry)
    }
}

/// The fast exact engine as an implementation: every law that runs on the reference runs on
/// it (inputs scaled to integers, results back as rationals), as RustFFT's one test harness
/// runs on every algorithm.
impl Convolution<crate::scalar::Rational> for crate::exact::ExactEngine {
    fn correlate(&self, x: &Exact, w: &Exact, geometry: &ConvGeometry) -> Result<Exact, OpError> {
        on_engine(x, w, |x, w| {
            crate::exact::ExactEngine::correlate(self, x, w, None, geometry)
        })
    }
    fn convolve(&self, x: &Exact, w: &Exact, geometry: &ConvGeometry) -> Result<Exact, OpError> {
        on_engine(x, w, |x, w| {
            crate::exact::ExactEngine::convolve(self, x, w, None, geometry)
        })
    }
    fn conv_transpose(
        &self,
        x: &Exact,
        w: &Exact,
        geometry: &TransposeGeometry,
    ) -> Result<Exact, OpError> {
        on_engine(x, w, |x, w| {
            crate::exact::ExactEngine::conv_transpose(self, x, w, None, geometry)
        })
    }
}

/// An exact tensor.
type Exact = ArrayD<crate::scalar::Rational>;

/// `run` on x and w scaled to integers, its result back as rationals and its errors as the
/// reference's.
fn on_engine(
    x: &Exact,
    w: &Exact,
    run: impl FnOnce(
        &crate::exact::ScaledTensor,
        &crate::exact::ScaledTensor,
    ) -> Result<crate::exact::ScaledTensor, crate::exact::ExactError>,
) -> Result<Exact, OpError> {
    let scaled = |t: &Exact| crate::exact::ScaledTensor::from_rationals(t.view());
    match run(&scaled(x), &scaled(w)) {
        Ok(t) => Ok(t.to_rationals()),
        Err(crate::exact::ExactError::Op(e)) => Err(e),
        Err(e) => Err(OpError::Invalid(e.to_string())),
    }
}

impl<T: Field + PartialOrd> Pooling<T> for Reference {
    fn max_pool(&self, x: &ArrayD<T>, params: &PoolParams) -> Result<ArrayD<T>, OpError> {
        Ok(crate::reference::max_pool(x, params)?.values)
    }
    fn avg_pool(
        &self,
        x: &ArrayD<T>,
        params: &PoolParams,
        options: &AvgOptions,
    ) -> Result<ArrayD<T>, OpError> {
        crate::reference::avg_pool(x, params, options)
    }
    fn global_max_pool(&self, x: &ArrayD<T>, rank: usize) -> Result<ArrayD<T>, OpError> {
        Ok(crate::reference::global_max_pool(x, rank)?.values)
    }
    fn global_avg_pool(&self, x: &ArrayD<T>, rank: usize) -> Result<ArrayD<T>, OpError> {
        crate::reference::global_avg_pool(x, rank)
    }
}

/// Signature of a correlation or convolution closure.
pub type LayerFn<'a, T> =
    dyn Fn(&ArrayD<T>, &ArrayD<T>, &ConvGeometry) -> Result<ArrayD<T>, OpError> + 'a;

/// An implementation from closures: the correlation, and optionally the convolution (default:
/// the correlation of the flipped kernel) and the transposed convolution (default: the
/// reference's).
pub struct Closures<'a, T> {
    /// Cross-correlation.
    pub correlate: Box<LayerFn<'a, T>>,
    /// True convolution; `None` flips the kernel and calls `correlate`.
    pub convolve: Option<Box<LayerFn<'a, T>>>,
}

impl<T: Ring> Convolution<T> for Closures<'_, T> {
    fn correlate(
        &self,
        x: &ArrayD<T>,
        w: &ArrayD<T>,
        geometry: &ConvGeometry,
    ) -> Result<ArrayD<T>, OpError> {
        (self.correlate)(x, w, geometry)
    }
    fn convolve(
        &self,
        x: &ArrayD<T>,
        w: &ArrayD<T>,
        geometry: &ConvGeometry,
    ) -> Result<ArrayD<T>, OpError> {
        match &self.convolve {
            Some(f) => f(x, w, geometry),
            None => (self.correlate)(x, &crate::reference::conv::flip_kernel(w), geometry),
        }
    }
    fn conv_transpose(
        &self,
        x: &ArrayD<T>,
        w: &ArrayD<T>,
        geometry: &TransposeGeometry,
    ) -> Result<ArrayD<T>, OpError> {
        crate::reference::conv_transpose(x, w, None, geometry)
    }
}

// ---- small tensor helpers shared by the laws ----

/// a + b (same shapes).
pub(crate) fn add<T: Ring>(a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    ndarray::Zip::from(a)
        .and(b)
        .map_collect(|x, y| x.clone() + y.clone())
}

/// s * a.
pub(crate) fn scale<T: Ring>(s: &T, a: &ArrayD<T>) -> ArrayD<T> {
    a.map(|x| s.clone() * x.clone())
}

/// <a, b> = sum a_i b_i (same shapes).
pub(crate) fn inner<T: Ring>(a: &ArrayD<T>, b: &ArrayD<T>) -> T {
    a.iter()
        .zip(b.iter())
        .fold(T::zero(), |s, (x, y)| s + x.clone() * y.clone())
}

/// Circular shift along `axis` by `shift` (NumPy's `np.roll`): out[i] = a[(i - shift) mod n].
pub(crate) fn roll<T: Clone>(a: &ArrayD<T>, axis: usize, shift: usize) -> ArrayD<T> {
    let n = a.shape()[axis];
    let shift = if n == 0 { 0 } else { shift % n };
    let mut out = a.clone();
    for i in 0..n {
        let source = (i + n - shift) % n;
        out.index_axis_mut(Axis(axis), i)
            .assign(&a.index_axis(Axis(axis), source));
    }
    out
}

/// Shift along `axis` by `shift` filling with zeros, same shape: out[i] = a[i - shift] for
/// i >= shift, 0 before; the last `shift` elements of `a` fall off.
pub(crate) fn shift_zero<T: Ring>(a: &ArrayD<T>, axis: usize, shift: usize) -> ArrayD<T> {
    let n = a.shape()[axis];
    let mut out = ArrayD::from_elem(a.raw_dim(), T::zero());
    if shift < n {
        out.slice_axis_mut(Axis(axis), Slice::from(shift..))
            .assign(&a.slice_axis(Axis(axis), Slice::from(..n - shift)));
    }
    out
}

/// `shift` zeros prepended along `axis` (the shape grows).
pub(crate) fn prepend_zeros<T: Ring>(a: &ArrayD<T>, axis: usize, shift: usize) -> ArrayD<T> {
    let mut shape = a.shape().to_vec();
    shape[axis] += shift;
    let mut out = ArrayD::from_elem(IxDyn(&shape), T::zero());
    out.slice_axis_mut(Axis(axis), Slice::from(shift..))
        .assign(a);
    out
}
