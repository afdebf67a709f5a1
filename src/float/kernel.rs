//! The float algorithm as one trait (RustFFT's `Fft`): its name, the layers it computes (a
//! typed refusal for the others), its computation in f32 and f64, and the error bound it meets
//! as the oracle reference it builds. [`super::Algorithm`] is a handle on one implementation;
//! [`super::Algorithm::ALL`] is the table that the planner, `bench`, `check --algorithm` and the
//! float tests iterate.

use super::Layer;
use crate::exact::{ExactEngine, ExactError};
use crate::geometry::{ConvShape, PaddingMode};
use crate::oracle::{Operands, Reference};
use crate::reference::OpError;
use crate::scalar::Precision;

/// What an algorithm looks at to decide whether it computes a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The resolved shapes.
    pub shape: ConvShape,
    /// The spatial output sizes.
    pub output: Vec<usize>,
    /// Padded positions read zero (padding mode zeros, or no padding).
    pub zero_padding: bool,
    /// Bytes per element of the arithmetic (4 for f32, 8 for f64).
    pub element_bytes: usize,
}

impl Problem {
    /// The problem of a layer of `shape` under `mode`, computed in elements of `element_bytes`.
    pub fn new(shape: ConvShape, mode: PaddingMode, element_bytes: usize) -> Problem {
        let zero_padding = mode == PaddingMode::Zeros
            || shape
                .dims
                .iter()
                .all(|d| d.pad_begin == 0 && d.pad_end == 0);
        Problem {
            output: shape.output_spatial(),
            shape,
            zero_padding,
            element_bytes,
        }
    }
}

/// Why an algorithm does not compute a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The algorithm's name.
    pub algorithm: &'static str,
    /// What the layer lacks, as a sentence fragment ("needs ...").
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.algorithm, self.reason)
    }
}

impl std::error::Error for Refusal {}

impl From<Refusal> for OpError {
    fn from(refusal: Refusal) -> OpError {
        OpError::Invalid(refusal.to_string())
    }
}

/// The oracle reference an algorithm builds, or why it could not.
pub type Built = Result<Reference, ExactError>;

/// A float algorithm for the correlation layer
/// y[n, o, t] = b\[o\] + sum_{c < C_in/G} sum_{j < k} w[o, c, j] xpad[n, g(o) C_in/G + c, src(j, t)].
pub trait Kernel: Send + Sync {
    /// The command line's name.
    fn name(&self) -> &'static str;

    /// Ok when the algorithm computes the layer, the reason otherwise (by default every
    /// layer).
    fn accepts(&self, problem: &Problem) -> Result<(), Refusal> {
        let _ = problem;
        Ok(())
    }

    /// The output (N, C_out, O...) in C order, in f32.
    fn correlate_f32(&self, layer: &Layer<'_, f32>) -> Vec<f32>;

    /// The output (N, C_out, O...) in C order, in f64.
    fn correlate_f64(&self, layer: &Layer<'_, f64>) -> Vec<f64>;

    /// The oracle's reference for this algorithm's output in `precision`: the exact y with the
    /// magnitude and reduction of the bound the algorithm meets. By default the direct
    /// componentwise bound, which holds for every summation order.
    fn reference(&self, engine: &ExactEngine, layer: Operands, unit: Precision) -> Built {
        let _ = unit;
        Reference::correlate(
            engine,
            layer.input,
            layer.weight,
            layer.bias,
            layer.geometry,
        )
    }

    /// The error bound the algorithm meets, in words, when it is not the direct componentwise
    /// bound (which holds for every summation order, so for other libraries' direct and GEMM
    /// kernels too).
    fn own_bound(&self) -> Option<&'static str> {
        None
    }
}

/// Implements [`Kernel::correlate_f32`] and [`Kernel::correlate_f64`] by one generic function
/// of the layer (`$this` binds `self`, `$layer` the layer).
macro_rules! correlate_in_both {
    (|$this:ident, $layer:ident| $body:expr) => {
        fn correlate_f32(&self, $layer: &$crate::float::Layer<'_, f32>) -> Vec<f32> {
            let $this = self;
            let _ = $this;
            $body
        }
        fn correlate_f64(&self, $layer: &$crate::float::Layer<'_, f64>) -> Vec<f64> {
            let $this = self;
            let _ = $this;
            $body
        }
    };
}
pub(crate) use correlate_in_both;

/// An algorithm of one generic function that computes every layer and meets the direct
/// componentwise bound (the direct sum, im2col + GEMM).
#[derive(Debug, Clone, Copy)]
pub struct Plain {
    /// The command line's name.
    pub name: &'static str,
    /// The function in f32.
    pub f32: fn(&Layer<'_, f32>) -> Vec<f32>,
    /// The function in f64.
    pub f64: fn(&Layer<'_, f64>) -> Vec<f64>,
}

impl Kernel for Plain {
    fn name(&self) -> &'static str {
        self.name
    }
    fn correlate_f32(&self, layer: &Layer<'_, f32>) -> Vec<f32> {
        (self.f32)(layer)
    }
    fn correlate_f64(&self, layer: &Layer<'_, f64>) -> Vec<f64> {
        (self.f64)(layer)
    }
}
