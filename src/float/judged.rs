//! The float engine as an implementation of the laws ([`crate::laws::Convolution`]), every
//! result judged by the oracle: the same harness of laws that runs on the specification and on
//! the exact engine runs on each float algorithm (RustFFT's one `check_fft_algorithm` for
//! every algorithm; tract's one suite for every runtime).
//!
//! A call computes the layer in f64 with the chosen algorithm (inputs rounded to nearest), and
//! asks the oracle whether that output is legal for the exact inputs under the algorithm's own
//! bound ([`Algorithm::reference`], fp64 contract). A legal output stands for the exact value it
//! approximates, so the call returns the exact layer and the law is then checked exactly; an
//! illegal one is an error naming the first failing element. A law run on [`Judged`] thus
//! requires every float result along the law's inputs to be legal.

use super::{Algorithm, FloatEngine};
use crate::exact::ExactEngine;
use crate::geometry::{ConvGeometry, TransposeGeometry};
use crate::laws::Convolution;
use crate::oracle::{check, CheckOptions, Operands};
use crate::reference::conv::flip_kernel;
use crate::reference::OpError;
use crate::scalar::{round_to_f64, Precision, Rational};
use ndarray::ArrayD;

/// A float algorithm on a float engine, judged by the oracle on every call.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The engine computing in f64.
    pub engine: FloatEngine,
    /// The algorithm it uses.
    pub algorithm: Algorithm,
    exact: ExactEngine,
}

impl Judged {
    /// `algorithm` on one thread.
    pub fn new(algorithm: Algorithm) -> Judged {
        Judged {
            engine: FloatEngine::new(1),
            algorithm,
            exact: ExactEngine::new(1),
        }
    }

    /// The f64 result of `w` on `x` (correlated, or convolved when `flip`), judged against the
    /// exact layer; the exact layer when it is legal.
    fn judged(
        &self,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        geometry: &ConvGeometry,
        flip: bool,
    ) -> Result<ArrayD<Rational>, OpError> {
        let (xf, wf) = (x.map(round_to_f64), w.map(round_to_f64));
        let run = if flip {
            FloatEngine::convolve
        } else {
            FloatEngine::correlate
        };
        let (y, _) = run(
            &self.engine,
            xf.view(),
            wf.view(),
            None,
            geometry,
            Some(self.algorithm),
        )?;
        let correlated = if flip { flip_kernel(w) } else { w.clone() };
        let invalid = |e: &dyn std::fmt::Display| OpError::Invalid(e.to_string());
        let reference = self
            .algorithm
            .reference(
                &self.exact,
                Operands {
                    input: x,
                    weight: &correlated,
                    bias: None,
                    geometry,
                },
                Precision::Fp64,
            )
            .map_err(|e| invalid(&e))?;
        let report = check(
            &reference,
            y.view(),
            Precision::Fp64,
            &CheckOptions::default(),
        )
        .map_err(|e| invalid(&e))?;
        if !report.passed() {
            return Err(OpError::Invalid(format!(
                "the {} kernel's f64 output is illegal:\n{}",
                self.algorithm,
                report.render()
            )));
        }
        Ok(reference.exact.to_rationals())
    }
}

/// An exact tensor.
type Exact = ArrayD<Rational>;

impl Convolution<Rational> for Judged {
    fn correlate(&self, x: &Exact, w: &Exact, geometry: &ConvGeometry) -> Result<Exact, OpError> {
        self.judged(x, w, geometry, false)
    }

    fn convolve(&self, x: &Exact, w: &Exact, geometry: &ConvGeometry) -> Result<Exact, OpError> {
        self.judged(x, w, geometry, true)
    }

    /// The float engine has no transposed convolution: refused.
    fn conv_transpose(
        &self,
        _: &Exact,
        _: &Exact,
        _: &TransposeGeometry,
    ) -> Result<Exact, OpError> {
        Err(OpError::Invalid(
            "the float engine has no transposed convolution".into(),
        ))
    }
}
