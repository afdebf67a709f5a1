//! Every linear operator of the engine as an explicit matrix (nalgebra `DMatrix`).
//!
//! For a linear operator `op` acting on one sample x of shape (C, L_1, ..., L_r), the builders
//! here return the matrix A with
//!
//! ```text
//! A vec(x) = vec(op(x))
//! ```
//!
//! # Vectorisation order
//!
//! `vec` is C (row-major) order over the sample's axes: the input x of shape (C_in, L...) becomes
//! the column index c * prod(L) + ravel(i), and the output of shape (C_out, O...) the row index
//! o * prod(O) + ravel(i), where ravel is C order over the spatial multi-index (the last spatial
//! index varies fastest). This is NumPy's `x.reshape(-1)` and PyTorch's `x.flatten()` of one
//! sample. A batch of N samples is acted on by the block-diagonal matrix I_N (x) A; a bias b
//! makes the layer affine, y = A vec(x) + b (x) 1, and is not part of A.
//!
//! # Structure
//!
//! The matrices are built from the operators' index maps, not by probing: row (o, i) of a
//! correlation matrix holds w[o, c, j] in the column of the input position that output i reads
//! at tap j (i*s + j*d - p_b, sent through the padding mode). Hence
//!
//! * 1-D, one channel, stride 1, zero padding: a Toeplitz matrix (constant along diagonals);
//! * 2-D: a doubly block Toeplitz matrix (Toeplitz blocks, arranged as a Toeplitz matrix);
//! * circular padding with 'same' size: circulant (blocks);
//! * reflect and replicate padding: still linear, the taps that land in the padding are added
//!   into the column of the input element they copy ("folded" columns);
//! * channels and groups: a C_out x C_in block matrix whose block (o, c) is zero unless o and c
//!   are in the same group;
//! * stride s keeps every s-th row, dilation d spreads the kernel d columns apart.
//!
//! [`probe`] builds the same matrix from the operator itself (column j is op(e_j)); the tests
//! check the structural builders against it and against the reference engine.
//!
//! # Size
//!
//! A dense matrix has prod(output) x prod(input) entries: for a 1x64x56x56 -> 64 layer that is
//! 200704 x 200704, 4.0e10 entries. Every builder takes a [`MatrixLimit`] and refuses, before
//! allocating, a matrix with more entries than the limit (default [`MatrixLimit::DEFAULT`]).

pub mod layer;
pub mod operator;
pub mod scipy;
pub mod window;

pub use layer::{conv_transpose_matrix, convolve_matrix, correlate_matrix};
pub use scipy::{convolution_matrix, toeplitz};
pub use window::{avg_pool_matrix, unfold_matrix};

use crate::geometry::{GeometryError, Padding};
use crate::reference::numpy::Mode;
use crate::reference::OpError;
use crate::scalar::Ring;
use nalgebra::DMatrix;
use ndarray::{ArrayD, IxDyn};

/// Why a matrix cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToeplitzError {
    /// The operator itself is not defined for these shapes and this geometry.
    Op(OpError),
    /// The dense matrix would have more entries than allowed.
    TooLarge {
        /// Rows (output elements of one sample).
        rows: usize,
        /// Columns (input elements of one sample).
        cols: usize,
        /// rows * cols.
        entries: u128,
        /// entries times the size of one scalar, a lower bound of the memory needed.
        bytes: u128,
        /// The limit in force.
        limit: u64,
    },
    /// Arguments outside the operator's domain (SciPy's own errors, vector lengths).
    Invalid(String),
}

impl std::fmt::Display for ToeplitzError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToeplitzError::Op(inner) => std::fmt::Display::fmt(inner, f),
            ToeplitzError::TooLarge {
                rows,
                cols,
                entries,
                bytes,
                limit,
            } => {
                write!(f, "the dense matrix would be {rows} x {cols} = {entries} entries (at least {bytes} bytes), more than the limit of {limit} entries; ask for it explicitly with a higher limit (command line: --max-entries {entries}; library: MatrixLimit::entries({entries}))")
            }
            ToeplitzError::Invalid(v0) => write!(f, "{v0}"),
        }
    }
}

impl std::error::Error for ToeplitzError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ToeplitzError::Op(inner) => std::error::Error::source(inner),
            _ => None,
        }
    }
}

impl From<OpError> for ToeplitzError {
    fn from(error: OpError) -> Self {
        ToeplitzError::Op(error)
    }
}

impl From<GeometryError> for ToeplitzError {
    fn from(error: GeometryError) -> Self {
        ToeplitzError::Op(OpError::Geometry(error))
    }
}

/// The largest dense matrix (in entries) a builder may allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixLimit {
    /// Maximum rows * cols.
    pub max_entries: u64,
}

impl MatrixLimit {
    /// 2^22 = 4194304 entries (a 2048 x 2048 matrix; about 256 MiB of zero rationals).
    pub const DEFAULT: MatrixLimit = MatrixLimit {
        max_entries: 1 << 22,
    };

    /// A limit of `max_entries` entries.
    pub fn entries(max_entries: u64) -> MatrixLimit {
        MatrixLimit { max_entries }
    }

    /// No limit: the caller takes responsibility for the memory.
    pub fn unlimited() -> MatrixLimit {
        MatrixLimit {
            max_entries: u64::MAX,
        }
    }

    /// Refuses a rows x cols matrix of `T` larger than the limit.
    pub fn check<T>(&self, rows: usize, cols: usize) -> Result<(), ToeplitzError> {
        let entries = rows as u128 * cols as u128;
        if entries > u128::from(self.max_entries) || entries > isize::MAX as u128 {
            return Err(ToeplitzError::TooLarge {
                rows,
                cols,
                entries,
                bytes: entries * std::mem::size_of::<T>() as u128,
                limit: self.max_entries,
            });
        }
        Ok(())
    }
}

impl Default for MatrixLimit {
    fn default() -> Self {
        MatrixLimit::DEFAULT
    }
}

/// A rows x cols zero matrix, after checking the limit.
pub(crate) fn zero_matrix<T: Ring + 'static>(
    rows: usize,
    cols: usize,
    limit: MatrixLimit,
) -> Result<DMatrix<T>, ToeplitzError> {
    limit.check::<T>(rows, cols)?;
    Ok(DMatrix::from_element(rows, cols, T::zero()))
}

/// Adds `value` to entry (row, col).
pub(crate) fn accumulate<T: Ring + 'static>(
    matrix: &mut DMatrix<T>,
    row: usize,
    col: usize,
    value: T,
) {
    let entry = &mut matrix[(row, col)];
    *entry = entry.clone() + value;
}

/// The padding that NumPy's and SciPy's modes select for a stride-1 layer:
///
/// * `full`: d(k-1) on each side ([`Padding::Full`]);
/// * `valid`: none ([`Padding::Valid`]);
/// * `same`: total d(k-1), the extra element at the *beginning* ([`Padding::SameLower`] at
///   stride 1). SciPy keeps the centre of the full result, starting at index (k-1)/2 (floor),
///   so the output starts ceil(d(k-1)/2) positions into the padded input. This differs from
///   PyTorch's `padding='same'` (extra element at the end) for even kernels.
pub fn array_mode_padding(mode: Mode) -> Padding {
    match mode {
        Mode::Full => Padding::Full,
        Mode::Valid => Padding::Valid,
        Mode::Same => Padding::SameLower,
    }
}

/// The matrix of a linear operator found by probing: column j is vec(op(e_j)) for the unit
/// sample e_j of shape `sample_shape`. This is the check for the structural builders: it only
/// assumes that `op` is linear.
///
/// Cost: prod(sample_shape) evaluations of `op`.
pub fn probe<T: Ring + 'static>(
    sample_shape: &[usize],
    op: impl Fn(&ArrayD<T>) -> Result<ArrayD<T>, OpError>,
    limit: MatrixLimit,
) -> Result<DMatrix<T>, ToeplitzError> {
    let cols = crate::geometry::checked_product(sample_shape, "sample size")? as usize;
    let mut columns = Vec::with_capacity(cols);
    for j in 0..cols {
        let mut unit = ArrayD::from_elem(IxDyn(sample_shape), T::zero());
        unit.as_slice_mut().expect("standard layout")[j] = T::one();
        let image = op(&unit)?;
        if j == 0 {
            limit.check::<T>(image.len(), cols)?;
        }
        columns.push(image.iter().cloned().collect::<Vec<T>>());
    }
    let rows = columns.first().map_or(0, Vec::len);
    Ok(DMatrix::from_fn(rows, cols, |r, c| columns[c][r].clone()))
}

/// Where a matrix and its operator disagree (see [`verify`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixMismatch<T> {
    /// Row of the first differing entry (an output element).
    pub row: usize,
    /// Column (an input element).
    pub col: usize,
    /// The entry of the matrix under test.
    pub built: T,
    /// The entry the operator gives: op(e_col)\[row\].
    pub probed: T,
}

/// Checks a matrix against the operator it claims to represent: the shapes agree and every
/// column equals vec(op(e_j)) ([`probe`]). Returns the first differing entry, in column-major
/// order, or `Ok(())`.
pub fn verify<T: Ring + 'static>(
    matrix: &DMatrix<T>,
    sample_shape: &[usize],
    op: impl Fn(&ArrayD<T>) -> Result<ArrayD<T>, OpError>,
) -> Result<Result<(), MatrixMismatch<T>>, ToeplitzError> {
    let probed = probe(sample_shape, op, MatrixLimit::unlimited())?;
    if probed.shape() != matrix.shape() {
        return Err(ToeplitzError::Invalid(format!(
            "the matrix is {} x {} but the operator maps {} inputs to {} outputs",
            matrix.nrows(),
            matrix.ncols(),
            probed.ncols(),
            probed.nrows()
        )));
    }
    for col in 0..matrix.ncols() {
        for row in 0..matrix.nrows() {
            if matrix[(row, col)] != probed[(row, col)] {
                return Ok(Err(MatrixMismatch {
                    row,
                    col,
                    built: matrix[(row, col)].clone(),
                    probed: probed[(row, col)].clone(),
                }));
            }
        }
    }
    Ok(Ok(()))
}

/// A vec(x): the matrix-vector product in the ring of `T` (exact for exact scalars).
pub fn apply<T: Ring + 'static>(matrix: &DMatrix<T>, x: &[T]) -> Result<Vec<T>, ToeplitzError> {
    if x.len() != matrix.ncols() {
        return Err(ToeplitzError::Invalid(format!(
            "a {} x {} matrix cannot multiply a vector of length {}",
            matrix.nrows(),
            matrix.ncols(),
            x.len()
        )));
    }
    Ok((0..matrix.nrows())
        .map(|r| {
            x.iter().enumerate().fold(T::zero(), |sum, (c, value)| {
                let entry = &matrix[(r, c)];
                if entry.is_zero() {
                    sum
                } else {
                    sum + entry.clone() * value.clone()
                }
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_refuses_before_allocating() {
        let limit = MatrixLimit::DEFAULT;
        assert!(limit.check::<f64>(2048, 2048).is_ok());
        let error = limit.check::<f64>(200_704, 200_704).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("200704 x 200704 = 40282095616 entries"),
            "{message}"
        );
        assert!(message.contains("--max-entries 40282095616"), "{message}");
        assert!(MatrixLimit::unlimited()
            .check::<f64>(200_704, 200_704)
            .is_ok());
    }
}
