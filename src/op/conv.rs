//! The convolution layers as types: cross-correlation (what frameworks call convolution) or
//! true convolution, and the transposed convolution, each with its geometry.

use crate::exact::{ExactEngine, ExactError, ScaledTensor};
use crate::geometry::{ConvGeometry, TransposeGeometry};
use crate::oracle::Reference;
use crate::reference::OpError;
use crate::scalar::Rational;
use ndarray::ArrayD;

/// A convolution layer: y = b + sum w x over the layer's windows, the kernel as given
/// (correlation) or flipped in every spatial dimension (convolution).
#[derive(Debug, Clone, PartialEq)]
pub enum Conv {
    /// Cross-correlation: `torch.nn.functional.conv{1,2,3}d`, ONNX `Conv`.
    Correlate(ConvGeometry),
    /// True convolution: the kernel flipped (the seed's operation, `scipy.signal.convolve` on a
    /// layer).
    Convolve(ConvGeometry),
}

impl Conv {
    /// The layer's geometry.
    pub fn geometry(&self) -> &ConvGeometry {
        match self {
            Conv::Correlate(g) | Conv::Convolve(g) => g,
        }
    }

    /// The command line's name.
    pub fn name(&self) -> &'static str {
        match self {
            Conv::Correlate(_) => "correlate",
            Conv::Convolve(_) => "convolve",
        }
    }

    /// PyTorch's function for `rank` spatial dimensions (convolution has none: PyTorch's conv
    /// is a correlation).
    pub fn torch_name(&self, rank: usize) -> Option<String> {
        match self {
            Conv::Correlate(_) => Some(format!("torch.nn.functional.conv{rank}d")),
            Conv::Convolve(_) => None,
        }
    }

    /// The exact result by the specification (`reference::correlate` / `convolve`).
    pub fn evaluate(
        &self,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        b: Option<&ArrayD<Rational>>,
    ) -> Result<ArrayD<Rational>, OpError> {
        match self {
            Conv::Correlate(g) => crate::reference::correlate(x, w, b, g),
            Conv::Convolve(g) => crate::reference::convolve(x, w, b, g),
        }
    }

    /// The same exact result by the fast exact engine.
    pub fn evaluate_fast(
        &self,
        engine: &ExactEngine,
        x: &ScaledTensor,
        w: &ScaledTensor,
        b: Option<&ScaledTensor>,
    ) -> Result<ScaledTensor, ExactError> {
        match self {
            Conv::Correlate(g) => engine.correlate(x, w, b, g),
            Conv::Convolve(g) => engine.convolve(x, w, b, g),
        }
    }

    /// The oracle's reference of a candidate computed from x, w, b (the direct bound: any
    /// summation order, FMA, blocking, tensor cores).
    pub fn reference(
        &self,
        engine: &ExactEngine,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        b: Option<&ArrayD<Rational>>,
    ) -> Result<Reference, ExactError> {
        match self {
            Conv::Correlate(g) => Reference::correlate(engine, x, w, b, g),
            Conv::Convolve(g) => Reference::convolve(engine, x, w, b, g),
        }
    }
}

/// The transposed convolution layer (`torch.nn.functional.conv_transpose{1,2,3}d`, ONNX
/// `ConvTranspose`): the adjoint of the correlation layer, with its geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvTranspose(pub TransposeGeometry);

impl ConvTranspose {
    /// The command line's name.
    pub fn name(&self) -> &'static str {
        "conv-transpose"
    }

    /// PyTorch's function for `rank` spatial dimensions.
    pub fn torch_name(&self, rank: usize) -> String {
        format!("torch.nn.functional.conv_transpose{rank}d")
    }

    /// The exact result by the specification.
    pub fn evaluate(
        &self,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        b: Option<&ArrayD<Rational>>,
    ) -> Result<ArrayD<Rational>, OpError> {
        crate::reference::conv_transpose(x, w, b, &self.0)
    }

    /// The same exact result by the fast exact engine.
    pub fn evaluate_fast(
        &self,
        engine: &ExactEngine,
        x: &ScaledTensor,
        w: &ScaledTensor,
        b: Option<&ScaledTensor>,
    ) -> Result<ScaledTensor, ExactError> {
        engine.conv_transpose(x, w, b, &self.0)
    }

    /// The oracle's reference of a candidate computed from x, w, b.
    pub fn reference(
        &self,
        engine: &ExactEngine,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        b: Option<&ArrayD<Rational>>,
    ) -> Result<Reference, ExactError> {
        Reference::conv_transpose(engine, x, w, b, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    /// Both kinds: the specification, the fast engine and the oracle's exact values agree, and
    /// convolution is correlation with the flipped kernel (by hand on one element).
    #[test]
    fn both_kinds_agree_on_every_path() {
        let q = |v: i64| Rational::from_integer(v.into());
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 4]), vec![q(1), q(2), q(3), q(4)]).unwrap();
        let w = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2]), vec![q(1), q(-1)]).unwrap();
        let engine = ExactEngine::new(1);
        let scaled = |t: &ArrayD<Rational>| ScaledTensor::from_rationals(t.view());
        for conv in [
            Conv::Correlate(ConvGeometry::new(1)),
            Conv::Convolve(ConvGeometry::new(1)),
        ] {
            let y = conv.evaluate(&x, &w, None).unwrap();
            let fast = conv
                .evaluate_fast(&engine, &scaled(&x), &scaled(&w), None)
                .unwrap();
            assert_eq!(fast.to_rationals(), y);
            let reference = conv.reference(&engine, &x, &w, None).unwrap();
            assert_eq!(reference.exact.to_rationals(), y);
            // y[0] = 1*1 + 2*(-1) = -1 correlated; 1*(-1) + 2*1 = 1 convolved.
            let expected = if conv.name() == "correlate" { -1 } else { 1 };
            assert_eq!(y[[0, 0, 0]], q(expected), "{}", conv.name());
        }
    }
}
