//! Convolution and correlation of plain arrays, as NumPy and SciPy define them: no channels,
//! no batch, the output size set by a mode (`full`, `same`, `valid`).
//!
//! ```text
//! full:  z[k] = sum_i a[i] v[k - i]         (convolution; correlation with v reversed)
//! same:  the centred len(a) entries of full  (NumPy) or of in1's shape (SciPy)
//! valid: the entries where v lies inside a
//! ```

use crate::reference::numpy::{np_convolve, np_correlate, Mode};
use crate::reference::scipy::{
    convolve2d, correlate2d, signal_convolve, signal_correlate, Boundary,
};
use crate::reference::OpError;
use crate::scalar::Rational;
use ndarray::{ArrayD, IxDyn};

/// Whose rules.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayForm {
    /// `numpy.convolve` / `numpy.correlate`: 1-D arrays, the longer one slides.
    Numpy,
    /// `scipy.signal.convolve` / `scipy.signal.correlate`: N-D arrays of equal rank.
    Scipy,
    /// `scipy.signal.convolve2d` / `scipy.signal.correlate2d`: 2-D arrays with a boundary rule
    /// and the fill value of `fill`.
    Scipy2d(Boundary, Rational),
}

/// A NumPy/SciPy convolution (`flip`) or correlation of two arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayConv {
    /// Whose rules.
    pub form: ArrayForm,
    /// The output's extent.
    pub mode: Mode,
    /// True for convolution (the second array reversed), false for correlation.
    pub flip: bool,
}

impl ArrayConv {
    /// The function's name in its library (`numpy.convolve`, `scipy.signal.correlate2d`, ...).
    pub fn library_name(&self) -> String {
        let verb = if self.flip { "convolve" } else { "correlate" };
        match self.form {
            ArrayForm::Numpy => format!("numpy.{verb}"),
            ArrayForm::Scipy => format!("scipy.signal.{verb}"),
            ArrayForm::Scipy2d(..) => format!("scipy.signal.{verb}2d"),
        }
    }

    /// The exact result, by the specification's functions.
    pub fn evaluate(
        &self,
        a: &ArrayD<Rational>,
        v: &ArrayD<Rational>,
    ) -> Result<ArrayD<Rational>, OpError> {
        match &self.form {
            ArrayForm::Numpy => {
                let (a, v) = (one_d(a, "a")?, one_d(v, "v")?);
                let f = if self.flip { np_convolve } else { np_correlate };
                let out = f(&a, &v, self.mode)?;
                Ok(ArrayD::from_shape_vec(IxDyn(&[out.len()]), out).expect("1-D"))
            }
            ArrayForm::Scipy => {
                let f = if self.flip {
                    signal_convolve
                } else {
                    signal_correlate
                };
                f(a, v, self.mode)
            }
            ArrayForm::Scipy2d(boundary, fill) => {
                let f = if self.flip { convolve2d } else { correlate2d };
                f(a, v, self.mode, *boundary, fill)
            }
        }
    }
}

/// The values of a 1-D array (NumPy's functions take only those).
fn one_d(t: &ArrayD<Rational>, name: &str) -> Result<Vec<Rational>, OpError> {
    if t.ndim() != 1 {
        return Err(OpError::Invalid(format!(
            "numpy takes 1-D arrays; {name} has shape {:?}",
            t.shape()
        )));
    }
    Ok(t.iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::rational_from_i64;

    fn array(shape: &[usize], values: &[i64]) -> ArrayD<Rational> {
        ArrayD::from_shape_vec(
            IxDyn(shape),
            values.iter().map(|&v| rational_from_i64(v)).collect(),
        )
        .unwrap()
    }

    /// The seed's 1-D example by hand: [2, -1, 1] * [1, 1, 2] = [2, 1, 4, -1, 2] under
    /// NumPy's and SciPy's rules; correlation is convolution with the second array reversed;
    /// NumPy refuses 2-D arrays.
    #[test]
    fn every_form_computes_the_seeds_example() {
        let (a, v) = (array(&[3], &[2, -1, 1]), array(&[3], &[1, 1, 2]));
        let reversed = array(&[3], &[2, 1, 1]);
        let full = array(&[5], &[2, 1, 4, -1, 2]);
        for form in [ArrayForm::Numpy, ArrayForm::Scipy] {
            for (flip, second) in [(true, &v), (false, &reversed)] {
                let op = ArrayConv {
                    form: form.clone(),
                    mode: Mode::Full,
                    flip,
                };
                let name = op.library_name();
                assert_eq!(op.evaluate(&a, second).unwrap(), full, "{name}");
            }
        }
        let numpy = ArrayConv {
            form: ArrayForm::Numpy,
            mode: Mode::Full,
            flip: true,
        };
        assert!(numpy.evaluate(&array(&[1, 3], &[2, -1, 1]), &v).is_err());
        let scipy2d = ArrayConv {
            form: ArrayForm::Scipy2d(Boundary::Fill, rational_from_i64(0)),
            mode: Mode::Full,
            flip: true,
        };
        assert_eq!(scipy2d.library_name(), "scipy.signal.convolve2d");
        assert_eq!(
            scipy2d
                .evaluate(&array(&[1, 3], &[2, -1, 1]), &array(&[1, 3], &[1, 1, 2]))
                .unwrap(),
            array(&[1, 5], &[2, 1, 4, -1, 2])
        );
    }
}
