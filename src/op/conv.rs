//! The convolution layers as types: cross-correlation (what frameworks call convolution) or
//! true convolution, and the transposed convolution, each with its geometry.

use crate::exact::{ExactEngine, ExactError, ScaledTensor};
use crate::geometry::{ConvGeometry, TransposeGeometry};
use crate::io::RoundedSource;
use crate::oracle::Reference;
use crate::reference::OpError;
use crate::scalar::{FloatFormat, Rational};
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

    /// The layer on the fast exact engine, still to be computed: its values can be had
    /// exactly ([`FastLayer::exact`]) or correctly rounded into a float format as they are
    /// made ([`RoundedSource`]).
    pub fn on_engine<'a>(
        &'a self,
        engine: &'a ExactEngine,
        [x, w]: [&'a ScaledTensor; 2],
        b: Option<&'a ScaledTensor>,
    ) -> FastLayer<'a> {
        FastLayer {
            conv: self,
            engine,
            operands: [x, w],
            bias: b,
        }
    }
}

/// A convolution layer with its operands on the fast exact engine ([`Conv::on_engine`]).
pub struct FastLayer<'a> {
    conv: &'a Conv,
    engine: &'a ExactEngine,
    operands: [&'a ScaledTensor; 2],
    bias: Option<&'a ScaledTensor>,
}

impl FastLayer<'_> {
    /// The exact values ([`Conv::evaluate_fast`]).
    pub fn exact(&self) -> Result<ScaledTensor, ExactError> {
        let [x, w] = self.operands;
        self.conv.evaluate_fast(self.engine, x, w, self.bias)
    }
}

impl RoundedSource for FastLayer<'_> {
    type Error = ExactError;

    /// [`ExactEngine::correlate_rounded`], with the kernel flipped for a convolution.
    fn rounded<T: Copy + Default + Send + Sync>(
        &self,
        format: FloatFormat,
        map: impl Fn(f64) -> T + Sync + Send,
    ) -> Result<ArrayD<T>, ExactError> {
        let [x, w] = self.operands;
        match self.conv {
            Conv::Correlate(g) => self
                .engine
                .correlate_rounded([x, w], self.bias, g, format, map),
            Conv::Convolve(g) => {
                let flipped = w.flip_spatial(2);
                self.engine
                    .correlate_rounded([x, &flipped], self.bias, g, format, map)
            }
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

/// The gradients of the correlation layer (autograd of `conv{1,2,3}d`): dL/dx, dL/dw and dL/db
/// for an upstream gradient g, with the layer's geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvGradients(pub ConvGeometry);

impl ConvGradients {
    /// The command line's name.
    pub fn name(&self) -> &'static str {
        "grad"
    }

    /// The exact gradients by the specification.
    pub fn evaluate(
        &self,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        g: &ArrayD<Rational>,
    ) -> Result<crate::reference::ConvGradients<Rational>, OpError> {
        crate::reference::correlate_backward(x, w, g, &self.0)
    }

    /// The same gradients by the fast exact engine, as rationals.
    pub fn evaluate_fast(
        &self,
        engine: &ExactEngine,
        x: &ScaledTensor,
        w: &ScaledTensor,
        g: &ScaledTensor,
    ) -> Result<crate::reference::ConvGradients<Rational>, ExactError> {
        let grads = engine.correlate_backward(x, w, g, &self.0)?;
        Ok(crate::reference::ConvGradients {
            input: grads.input.to_rationals(),
            weight: grads.weight.to_rationals(),
            bias: grads.bias.to_rationals(),
        })
    }

    /// The oracle's references of dL/dx, dL/dw and dL/db.
    pub fn references(
        &self,
        engine: &ExactEngine,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        g: &ArrayD<Rational>,
    ) -> Result<[Reference; 3], ExactError> {
        Reference::correlate_backward(engine, x, w, g, &self.0)
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

    /// The transposed layer and the gradients: specification, fast engine and oracle agree.
    #[test]
    fn transposed_layer_and_gradients_agree_on_every_path() {
        let q = |v: i64| Rational::from_integer(v.into());
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 3]), (1..=6).map(q).collect()).unwrap();
        let w = ArrayD::from_shape_vec(IxDyn(&[2, 2, 2]), (-3..5).map(q).collect()).unwrap();
        let engine = ExactEngine::new(1);
        let scaled = |t: &ArrayD<Rational>| ScaledTensor::from_rationals(t.view());
        let transpose = ConvTranspose(TransposeGeometry::new(1));
        let y = transpose.evaluate(&x, &w, None).unwrap();
        let fast = transpose
            .evaluate_fast(&engine, &scaled(&x), &scaled(&w), None)
            .unwrap();
        assert_eq!(fast.to_rationals(), y);
        assert_eq!(
            transpose
                .reference(&engine, &x, &w, None)
                .unwrap()
                .exact
                .to_rationals(),
            y
        );
        let gradients = ConvGradients(ConvGeometry::new(1));
        let g = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2]), vec![q(1), q(-1), q(2), q(0)]).unwrap();
        let exact = gradients.evaluate(&x, &w, &g).unwrap();
        let fast = gradients
            .evaluate_fast(&engine, &scaled(&x), &scaled(&w), &scaled(&g))
            .unwrap();
        assert_eq!(fast, exact);
        let [dx, dw, db] = gradients.references(&engine, &x, &w, &g).unwrap();
        assert_eq!(dx.exact.to_rationals(), exact.input);
        assert_eq!(dw.exact.to_rationals(), exact.weight);
        assert_eq!(db.exact.to_rationals(), exact.bias);
    }
}
