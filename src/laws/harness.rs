//! The suite of layer laws on one generated problem, for any implementation: the one harness
//! that runs on the specification, the exact engine and every float algorithm (judged by the
//! oracle), as RustFFT's `check_fft_algorithm` runs on every FFT algorithm.

use super::strategies::LayerProblem;
use super::{adjoint, algebra, sizes, Convolution, Counterexample};
use crate::geometry::PaddingMode;
use crate::scalar::Rational;

/// A layer problem and two scalars (for bilinearity).
pub type LawCase = (LayerProblem, Rational, Rational);

/// The forward laws on a case (p, a, b): bilinearity, distributivity, correlation as flipped
/// convolution, and the output shape.
pub fn forward_laws(
    imp: &impl Convolution<Rational>,
    case: &LawCase,
) -> Result<(), Counterexample> {
    let (p, a, b) = case;
    algebra::bilinearity(imp, a, &p.x, b, &p.x2, &p.w, &p.w2, &p.geometry)?;
    algebra::distributivity(imp, &p.x, &p.w, &p.w2, &p.geometry)?;
    algebra::correlation_is_flipped_convolution(imp, &p.x, &p.w, &p.geometry)?;
    sizes::conv_output_shape::<Rational>(imp, p.x.shape(), p.w.shape(), &p.geometry)
}

/// [`forward_laws`], and the transposed convolution (zero padding) as the adjoint of the layer,
/// tested against the layer's output plus one.
pub fn layer_laws(imp: &impl Convolution<Rational>, case: &LawCase) -> Result<(), Counterexample> {
    forward_laws(imp, case)?;
    let p = &case.0;
    let zeros = p.geometry.clone().with_padding_mode(PaddingMode::Zeros);
    let y = crate::reference::correlate(&p.x, &p.w, None, &zeros).expect("a valid layer");
    let one = Rational::from_integer(1.into());
    adjoint::transpose_is_adjoint(imp, &p.x, &p.w, &y.map(|v| v + &one), &zeros)
}
