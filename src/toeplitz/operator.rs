//! One operator of the family as its matrix, for one sample: what `convspec toeplitz` prints.
//!
//! A request names the operator with its parameters ([`MatrixOperator`]) and, for the linear
//! layers, its kernel, numeric or symbolic ([`MatrixKernel`]). The sample's shape (C, L...) comes
//! from the input shape the caller gives: a plain kernel k... (or one window size) means one
//! channel, (C_out, C_in/G, k...) a layer over (C_in, L...). [`OperatorMatrix`] holds the matrix
//! (always symbolic, numeric too when the kernel is), the shapes of x and y, and renders
//! y = A vec(x) as text or LaTeX.

use super::{
    apply, avg_pool_matrix, conv_transpose_matrix, convolve_matrix, correlate_matrix,
    unfold_matrix, MatrixLimit, ToeplitzError,
};
use crate::geometry::{ConvGeometry, ConvShape, PoolParams, TransposeGeometry, TransposeShape};
use crate::reference::pool::{pool_windows, AvgOptions};
use crate::reference::UnfoldParams;
use crate::scalar::{Rational, Ring};
use crate::symbolic::render::{matrix_latex, matrix_text, vector_latex, vector_text};
use crate::symbolic::{variable_tensor, Polynomial};
use nalgebra::DMatrix;
use ndarray::ArrayD;

/// An operator whose matrix is built, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum MatrixOperator {
    /// Cross-correlation (`torch.nn.functional.conv*d`).
    Correlate(ConvGeometry),
    /// True convolution (the kernel flipped).
    Convolve(ConvGeometry),
    /// Transposed convolution.
    ConvTranspose(TransposeGeometry),
    /// Average pooling.
    AvgPool(PoolParams, AvgOptions),
    /// im2col.
    Unfold(UnfoldParams),
}

impl MatrixOperator {
    /// The command line's name of the operator.
    pub fn name(&self) -> &'static str {
        match self {
            MatrixOperator::Correlate(_) => "correlate",
            MatrixOperator::Convolve(_) => "convolve",
            MatrixOperator::ConvTranspose(_) => "conv-transpose",
            MatrixOperator::AvgPool(..) => "avg-pool",
            MatrixOperator::Unfold(_) => "unfold",
        }
    }
}

/// The kernel of a linear layer: numbers, or the variables k_{...} of a shape.
#[derive(Debug, Clone, PartialEq)]
pub enum MatrixKernel {
    /// A numeric kernel.
    Numeric(ArrayD<Rational>),
    /// A symbolic kernel of this shape.
    Symbolic(Vec<usize>),
}

impl MatrixKernel {
    /// The kernel's shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            MatrixKernel::Numeric(k) => k.shape().to_vec(),
            MatrixKernel::Symbolic(shape) => shape.clone(),
        }
    }
}

/// The sample of one layer: (C, L...) and whether the kernel is a plain one-channel k...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The shape of one sample, (C, L...).
    pub shape: Vec<usize>,
    /// True when the kernel (or window) is a plain k...: one channel, shown as x_{i...}.
    pub one_channel: bool,
}

impl Sample {
    /// The spatial rank.
    pub fn rank(&self) -> usize {
        self.shape.len() - 1
    }

    /// The sample of a linear layer with a kernel of `kernel_shape` on an input of shape
    /// `given`: a kernel with one size per dimension of `given` is a one-channel k...; a weight
    /// (C_out, C_in/G, k...) goes with `given` = (C_in, L...).
    pub fn of_layer(kernel_shape: &[usize], given: &[usize]) -> Result<Sample, ToeplitzError> {
        let one_channel = if kernel_shape.len() == given.len() {
            true
        } else if kernel_shape.len() == given.len() + 1 && given.len() >= 2 {
            false
        } else {
            return Err(ToeplitzError::Invalid(format!(
                "kernel of shape {kernel_shape:?} does not fit --input-shape {given:?}: give a kernel k... with one size per spatial dimension of the input, or a weight (C_out, C_in/groups, k...) with --input-shape C,L..."
            )));
        };
        let sample = Sample::with_channels(given, one_channel);
        if sample.rank() == 0 {
            return Err(ToeplitzError::Invalid(
                "--input-shape needs at least one spatial size".into(),
            ));
        }
        Ok(sample)
    }

    /// The sample of a window operator (pooling, unfold) of `window` sizes on `given`, and
    /// the window for every spatial dimension: one size applies to every dimension of a
    /// one-channel sample; a window one shorter than `given` means (C, L...).
    pub fn of_window(
        window: &[usize],
        given: &[usize],
    ) -> Result<(Sample, Vec<usize>), ToeplitzError> {
        let (rank, one_channel) = if window.len() == 1 && given.len() > 1 {
            (given.len(), true)
        } else if window.len() == given.len() {
            (window.len(), true)
        } else if window.len() + 1 == given.len() {
            (window.len(), false)
        } else {
            return Err(ToeplitzError::Invalid(format!(
                "--kernel-size {window:?} does not fit --input-shape {given:?}: give one size per spatial dimension"
            )));
        };
        let window = if window.len() == 1 {
            vec![window[0]; rank]
        } else {
            window.to_vec()
        };
        Ok((Sample::with_channels(given, one_channel), window))
    }

    fn with_channels(given: &[usize], one_channel: bool) -> Sample {
        let shape = if one_channel {
            std::iter::once(1).chain(given.iter().copied()).collect()
        } else {
            given.to_vec()
        };
        Sample { shape, one_channel }
    }
}

/// An operator's matrix A for one sample, y = A vec(x) (C order on both sides).
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorMatrix {
    /// The operator's name.
    pub name: &'static str,
    /// A with numbers, for numeric kernels and window operators.
    pub numeric: Option<DMatrix<Rational>>,
    /// A as polynomials (the numbers as constants when the kernel is numeric).
    pub symbolic: DMatrix<Polynomial>,
    /// The sample x.
    pub sample: Sample,
    /// The shape of y for that sample.
    pub output_shape: Vec<usize>,
}

/// Places a plain (one-channel) kernel k... as the weight (1, 1, k...) of a layer.
fn as_weight<T: Clone>(kernel: ArrayD<T>, one_channel: bool) -> ArrayD<T> {
    if one_channel {
        kernel
            .insert_axis(ndarray::Axis(0))
            .insert_axis(ndarray::Axis(0))
    } else {
        kernel
    }
}

/// The matrix of a linear layer (correlate, convolve, conv-transpose) with weight `weight`.
fn layer_of<T: Ring + 'static>(
    operator: &MatrixOperator,
    weight: &ArrayD<T>,
    sample: &[usize],
    limit: MatrixLimit,
) -> Result<DMatrix<T>, ToeplitzError> {
    match operator {
        MatrixOperator::Correlate(g) => correlate_matrix(weight, sample, g, limit),
        MatrixOperator::Convolve(g) => convolve_matrix(weight, sample, g, limit),
        MatrixOperator::ConvTranspose(g) => conv_transpose_matrix(weight, sample, g, limit),
        other => Err(ToeplitzError::Invalid(format!(
            "{} is not a layer with a kernel",
            other.name()
        ))),
    }
}

/// The largest A (in entries) for which y = A vec(x) is also rendered.
pub const PRODUCT_SHOWN_UP_TO: usize = 1 << 16;

impl OperatorMatrix {
    /// The matrix of a linear layer (`Correlate`, `Convolve` or `ConvTranspose`) with `kernel`
    /// on `sample`, refused above `limit` entries. O(entries) for numeric kernels.
    pub fn layer(
        operator: &MatrixOperator,
        kernel: MatrixKernel,
        sample: Sample,
        limit: MatrixLimit,
    ) -> Result<OperatorMatrix, ToeplitzError> {
        let symbolic_kernel = match &kernel {
            MatrixKernel::Numeric(k) => k.map(|q| Polynomial::constant(q.clone())),
            MatrixKernel::Symbolic(shape) => variable_tensor("k", shape, 0),
        };
        let symbolic_weight = as_weight(symbolic_kernel, sample.one_channel);
        let batched: Vec<usize> = std::iter::once(1).chain(sample.shape.clone()).collect();
        let output_shape = match operator {
            MatrixOperator::ConvTranspose(g) => {
                TransposeShape::new(&batched, symbolic_weight.shape(), None, g)?.output_shape()?
            }
            MatrixOperator::Correlate(g) | MatrixOperator::Convolve(g) => {
                ConvShape::new(&batched, symbolic_weight.shape(), None, g)?.output_shape()?
            }
            other => {
                return Err(ToeplitzError::Invalid(format!(
                    "{} has no kernel: it is a window operator",
                    other.name()
                )))
            }
        }[1..]
            .to_vec();
        let (numeric, symbolic) = match kernel {
            MatrixKernel::Numeric(k) => {
                let numeric = layer_of(
                    operator,
                    &as_weight(k, sample.one_channel),
                    &sample.shape,
                    limit,
                )?;
                let symbolic = numeric.map(Polynomial::constant);
                (Some(numeric), symbolic)
            }
            MatrixKernel::Symbolic(_) => (
                None,
                layer_of(operator, &symbolic_weight, &sample.shape, limit)?,
            ),
        };
        Ok(OperatorMatrix {
            name: operator.name(),
            numeric,
            symbolic,
            sample,
            output_shape,
        })
    }

    /// The matrix of a window operator (`AvgPool` or `Unfold`) on `sample`.
    pub fn window(
        operator: &MatrixOperator,
        sample: Sample,
        limit: MatrixLimit,
    ) -> Result<OperatorMatrix, ToeplitzError> {
        let shape = &sample.shape;
        let (matrix, output_shape) = match operator {
            MatrixOperator::AvgPool(params, options) => {
                let matrix: DMatrix<Rational> = avg_pool_matrix(shape, params, options, limit)?;
                let (_, output) = pool_windows(&shape[1..], params)?;
                (matrix, std::iter::once(shape[0]).chain(output).collect())
            }
            MatrixOperator::Unfold(params) => {
                let matrix: DMatrix<Rational> = unfold_matrix(shape, params, limit)?;
                let window_size: usize = params.kernel_size.iter().product();
                let columns = matrix.nrows() / (shape[0] * window_size).max(1);
                (matrix, vec![shape[0] * window_size, columns])
            }
            other => {
                return Err(ToeplitzError::Invalid(format!(
                    "{} needs a kernel",
                    other.name()
                )))
            }
        };
        Ok(OperatorMatrix {
            name: operator.name(),
            symbolic: matrix.map(Polynomial::constant),
            numeric: Some(matrix),
            sample,
            output_shape,
        })
    }

    /// One line: what A maps, its size and the C orders of its rows and columns.
    pub fn describe(&self) -> String {
        format!(
            "{}: y = A vec(x); A is {} x {}; rows: y in C order over {:?}; columns: x in C order over {:?}",
            self.name,
            self.symbolic.nrows(),
            self.symbolic.ncols(),
            self.output_shape,
            self.sample.shape
        )
    }

    /// vec(x) as variables x_{...} (the channel index left out of a one-channel sample), and
    /// y = A vec(x) when A has at most [`PRODUCT_SHOWN_UP_TO`] entries.
    fn vectors(&self) -> Result<(Vec<Polynomial>, Option<Vec<Polynomial>>), ToeplitzError> {
        let x: Vec<Polynomial> = variable_tensor(
            "x",
            &self.sample.shape,
            usize::from(self.sample.one_channel),
        )
        .iter()
        .cloned()
        .collect();
        let product = if self.symbolic.len() <= PRODUCT_SHOWN_UP_TO {
            Some(apply(&self.symbolic, &x)?)
        } else {
            None
        };
        Ok((x, product))
    }

    /// A, vec(x) and y = A vec(x) as aligned text.
    pub fn text(&self) -> Result<String, ToeplitzError> {
        let (x, product) = self.vectors()?;
        let mut out = format!(
            "{}\n\nA =\n{}",
            self.describe(),
            matrix_text(&self.symbolic)
        );
        out.push_str(&format!("\nvec(x) =\n{}", vector_text(&x)));
        match &product {
            Some(y) => out.push_str(&format!("\ny = A vec(x) =\n{}", vector_text(y))),
            None => out.push_str(&format!(
                "\n(y = A vec(x) is not printed for matrices of more than {PRODUCT_SHOWN_UP_TO} entries)\n"
            )),
        }
        Ok(out)
    }

    /// A vec(x) = y as LaTeX (bmatrix).
    pub fn latex(&self) -> Result<String, ToeplitzError> {
        let (x, product) = self.vectors()?;
        let mut out = format!("% {}\n\\[\n", self.describe());
        out.push_str(&matrix_latex(&self.symbolic));
        out.push('\n');
        out.push_str(&vector_latex(&x));
        if let Some(y) = &product {
            out.push_str("\n=\n");
            out.push_str(&vector_latex(y));
        }
        out.push_str("\n\\]\n");
        Ok(out)
    }
}
