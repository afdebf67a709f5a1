//! Operators as values: one type per family that owns its parameters, its names, its exact
//! evaluation and its oracle reference, so that the command line, the checks and other callers
//! dispatch on it instead of each keeping its own match (tract's ops, one struct an op).
//!
//! | type | operators |
//! |---|---|
//! | [`Conv`] | `conv{1,2,3}d` (cross-correlation), true convolution |
//! | [`ConvTranspose`] | `conv_transpose{1,2,3}d` |
//! | [`ConvGradients`] | the gradients of the correlation layer |
//! | [`Pool`] | max, average, adaptive and global pooling |
//! | [`Window`] | `unfold`, `fold` |
//! | [`ArrayConv`] | `numpy.convolve`/`correlate`, `scipy.signal.convolve`/`correlate`(`2d`) |

pub mod array;
pub mod conv;
pub mod pool;
pub mod torch;
pub mod unfold;

pub use array::{ArrayConv, ArrayForm};
pub use conv::{Conv, ConvGradients, ConvTranspose, FastLayer};
pub use pool::{Pool, Pooled};
pub use torch::Arg;
pub use unfold::Window;

use crate::exact::{ExactEngine, ExactError};
use crate::oracle::Reference;
use crate::reference::OpError;
use crate::scalar::Rational;
use ndarray::ArrayD;

/// Any operator of the family, as one value: what the conformance suite, the command line
/// and the bindings name, evaluate and describe.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Cross-correlation or true convolution (operands input, weight, optional bias).
    Conv(Conv),
    /// A NumPy or SciPy array convolution (operands a, v or in1, in2).
    Array(ArrayConv),
    /// Transposed convolution (operands input, weight, optional bias).
    ConvTranspose(ConvTranspose),
    /// Pooling (operand input).
    Pool(Pool),
    /// Unfold or fold (operand input).
    Window(Window),
    /// The gradients of the correlation layer for an upstream gradient (operands input,
    /// weight, grad_output).
    Gradients(ConvGradients),
}

/// One output of an operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Exact values.
    Values(ArrayD<Rational>),
    /// Indices (max pooling's `return_indices`, per (n, c) plane as PyTorch counts them).
    Indices(ArrayD<usize>),
}

impl Op {
    /// A short name of the operation ("correlate", "max_pool", ...), as the conformance
    /// suite's manifest gives it.
    pub fn operation(&self) -> &'static str {
        match self {
            Op::Conv(conv) => conv.name(),
            Op::Array(array) => match (&array.form, array.flip) {
                (ArrayForm::Numpy, true) => "numpy_convolve",
                (ArrayForm::Numpy, false) => "numpy_correlate",
                (ArrayForm::Scipy, true) => "scipy_convolve",
                (ArrayForm::Scipy, false) => "scipy_correlate",
                (ArrayForm::Scipy2d(..), true) => "scipy_convolve2d",
                (ArrayForm::Scipy2d(..), false) => "scipy_correlate2d",
            },
            Op::ConvTranspose(_) => "conv_transpose",
            Op::Pool(Pool::Max(_)) => "max_pool",
            Op::Pool(Pool::Avg(..)) => "avg_pool",
            Op::Pool(Pool::AdaptiveAvg(_)) => "adaptive_avg_pool",
            Op::Pool(Pool::AdaptiveMax(_)) => "adaptive_max_pool",
            Op::Pool(Pool::GlobalAvg(_)) => "global_avg_pool",
            Op::Pool(Pool::GlobalMax(_)) => "global_max_pool",
            Op::Window(window) => window.name(),
            Op::Gradients(_) => "correlate_backward",
        }
    }

    /// The number of spatial dimensions the operator works on (None for SciPy's N-D
    /// functions, whose rank is their arrays').
    pub fn spatial_rank(&self) -> Option<usize> {
        Some(match self {
            Op::Conv(conv) => conv.geometry().rank(),
            Op::Gradients(grads) => grads.0.rank(),
            Op::ConvTranspose(t) => t.0.stride.len(),
            Op::Pool(Pool::Max(p) | Pool::Avg(p, _)) => p.rank(),
            Op::Pool(Pool::AdaptiveAvg(size) | Pool::AdaptiveMax(size)) => size.len(),
            Op::Pool(Pool::GlobalAvg(rank) | Pool::GlobalMax(rank)) => *rank,
            Op::Window(window) => window.params().kernel_size.len(),
            Op::Array(array) => match array.form {
                ArrayForm::Numpy => 1,
                ArrayForm::Scipy2d(..) => 2,
                ArrayForm::Scipy => return None,
            },
        })
    }

    /// The operands in argument order, under PyTorch's (or NumPy's, SciPy's) names; the
    /// optional ones last (`bias`).
    pub fn operands(&self) -> &'static [&'static str] {
        match self {
            Op::Conv(_) | Op::ConvTranspose(_) => &["input", "weight", "bias"],
            Op::Array(ArrayConv {
                form: ArrayForm::Numpy,
                ..
            }) => &["a", "v"],
            Op::Array(_) => &["in1", "in2"],
            Op::Pool(_) | Op::Window(_) => &["input"],
            Op::Gradients(_) => &["input", "weight", "grad_output"],
        }
    }

    /// The outputs, named, computed by the specification from the operands `operand(name)`
    /// returns (None for an absent optional one).
    pub fn evaluate<'a>(
        &self,
        operand: impl Fn(&str) -> Option<&'a ArrayD<Rational>>,
    ) -> Result<Vec<(String, Output)>, OpError> {
        let required = |name: &str| {
            operand(name).ok_or_else(|| OpError::Invalid(format!("no operand `{name}`")))
        };
        let values = |name: &str, t: ArrayD<Rational>| (name.to_string(), Output::Values(t));
        Ok(match self {
            Op::Conv(conv) => {
                let y = conv.evaluate(required("input")?, required("weight")?, operand("bias"))?;
                vec![values("output", y)]
            }
            Op::Array(array) => {
                let [first, second] = [self.operands()[0], self.operands()[1]];
                vec![values(
                    "output",
                    array.evaluate(required(first)?, required(second)?)?,
                )]
            }
            Op::ConvTranspose(t) => {
                let y = t.evaluate(required("input")?, required("weight")?, operand("bias"))?;
                vec![values("output", y)]
            }
            Op::Pool(pool) => {
                let pooled = pool.evaluate(required("input")?)?;
                let mut out = vec![values("output", pooled.values)];
                if let Some(selection) = pooled.selection {
                    out.push(("indices".into(), Output::Indices(selection.indices)));
                }
                out
            }
            Op::Window(window) => vec![values("output", window.evaluate(required("input")?)?)],
            Op::Gradients(grads) => {
                let g = grads.evaluate(
                    required("input")?,
                    required("weight")?,
                    required("grad_output")?,
                )?;
                vec![
                    values("grad_input", g.input),
                    values("grad_weight", g.weight),
                    values("grad_bias", g.bias),
                ]
            }
        })
    }
}

impl Op {
    /// The oracle's references of the outputs, named as [`Op::evaluate`] names them (`output`;
    /// `grad_input`, `grad_weight`, `grad_bias` for the gradients), from the operands
    /// `operand(name)` returns. The layers and pools have one; unfold, fold and the array
    /// forms are refused (no oracle contract for them yet).
    pub fn references<'a>(
        &self,
        engine: &ExactEngine,
        operand: impl Fn(&str) -> Option<&'a ArrayD<Rational>>,
    ) -> Result<Vec<(String, Reference)>, ExactError> {
        let required = |name: &str| {
            operand(name)
                .ok_or_else(|| ExactError::Op(OpError::Invalid(format!("no operand `{name}`"))))
        };
        let one = |r: Reference| vec![("output".to_string(), r)];
        Ok(match self {
            Op::Conv(conv) => one(conv.reference(
                engine,
                required("input")?,
                required("weight")?,
                operand("bias"),
            )?),
            Op::ConvTranspose(t) => one(t.reference(
                engine,
                required("input")?,
                required("weight")?,
                operand("bias"),
            )?),
            Op::Pool(pool) => one(pool.reference(required("input")?)?),
            Op::Gradients(grads) => {
                let [input, weight, bias] = grads.references(
                    engine,
                    required("input")?,
                    required("weight")?,
                    required("grad_output")?,
                )?;
                vec![
                    ("grad_input".into(), input),
                    ("grad_weight".into(), weight),
                    ("grad_bias".into(), bias),
                ]
            }
            Op::Window(_) | Op::Array(_) => {
                return Err(ExactError::Op(OpError::Invalid(format!(
                    "the oracle has no contract for {} yet",
                    self.operation()
                ))))
            }
        })
    }
}
