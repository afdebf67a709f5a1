//! Matrices of the windowed linear operators: average pooling and unfold (im2col).
//!
//! Max pooling is not linear (it is piecewise linear: for fixed input, each output copies one
//! element), so it has no matrix; its gradient routes through the chosen elements.

use super::{accumulate, zero_matrix, MatrixLimit, ToeplitzError};
use crate::geometry::{checked_product, PoolParams};
use crate::index::multi_indices;
use crate::index::ravel;
use crate::reference::pool::{from_count, pool_windows, AvgOptions};
use crate::reference::{OpError, UnfoldParams};
use crate::scalar::{Field, Ring};
use nalgebra::DMatrix;

/// Splits a sample shape (C, spatial...) for an operator of spatial rank `rank`.
fn channels_and_spatial(sample_shape: &[usize], rank: usize) -> Result<usize, ToeplitzError> {
    if rank == 0 || sample_shape.len() != rank + 1 {
        return Err(ToeplitzError::Op(OpError::Invalid(format!(
            "a {rank}-d window needs a sample of shape (C, spatial...) with {rank} spatial dimensions, got {sample_shape:?}"
        ))));
    }
    Ok(sample_shape[0])
}

/// The matrix of average pooling ([`avg_pool`](crate::reference::avg_pool)) on samples of
/// shape (C, L...): block diagonal over channels, and in each block
///
/// ```text
/// A[(c, i), (c, p)] = 1 / divisor(i)   for every input position p of window i,
/// ```
///
/// with the divisor of [`AvgOptions`] (the window's padded size, its input elements, or
/// `divisor_override`). It equals the correlation with the constant kernel 1/prod(k) for
/// `count_include_pad` windows that never overhang (the laws check that).
pub fn avg_pool_matrix<T: Field + 'static>(
    sample_shape: &[usize],
    params: &PoolParams,
    options: &AvgOptions,
    limit: MatrixLimit,
) -> Result<DMatrix<T>, ToeplitzError> {
    options.check()?;
    let channels = channels_and_spatial(sample_shape, params.rank())?;
    let (windows, _) = pool_windows(&sample_shape[1..], params)?;
    let rows = checked_product(&[channels, windows.len()], "output size")? as usize;
    let cols = checked_product(sample_shape, "input size")? as usize;
    let mut matrix = zero_matrix(rows, cols, limit)?;
    for c in 0..channels {
        for (w, window) in windows.iter().enumerate() {
            let weight = T::one() / from_count::<T>(options.divisor(window));
            for position in &window.positions {
                let mut source = vec![c];
                source.extend(position);
                accumulate(
                    &mut matrix,
                    c * windows.len() + w,
                    ravel(&source, sample_shape),
                    weight.clone(),
                );
            }
        }
    }
    Ok(matrix)
}

/// The matrix of [`unfold`](crate::reference::unfold()) (im2col) on samples of shape (C, L...):
/// the output (C prod(k), prod(O)) is vectorised in C order, row r = (c prod(k) + flat(j))
/// prod(O) + flat(i), and
///
/// ```text
/// A[r, (c, i*s + j*d - p)] = 1   when that position is inside the input (zero padding).
/// ```
///
/// A 0/1 selection matrix: each row has at most one 1. Its transpose is the matrix of
/// [`fold`](crate::reference::fold) (col2im).
pub fn unfold_matrix<T: Ring + 'static>(
    sample_shape: &[usize],
    params: &UnfoldParams,
    limit: MatrixLimit,
) -> Result<DMatrix<T>, ToeplitzError> {
    let channels = channels_and_spatial(sample_shape, params.kernel_size.len())?;
    let dims = params.resolve(&sample_shape[1..])?;
    let output: Vec<usize> = dims
        .iter()
        .enumerate()
        .map(|(d, g)| g.output_size(d))
        .collect::<Result<_, _>>()?;
    let taps = multi_indices(&params.kernel_size);
    let positions = multi_indices(&output);
    let rows = checked_product(
        &[channels, taps.len(), positions.len()],
        "unfold output size",
    )? as usize;
    let cols = checked_product(sample_shape, "input size")? as usize;
    let mut matrix = zero_matrix(rows, cols, limit)?;
    for c in 0..channels {
        for (t, tap) in taps.iter().enumerate() {
            'positions: for (p, position) in positions.iter().enumerate() {
                let mut source = vec![c];
                for (dim, g) in dims.iter().enumerate() {
                    let index = g.input_index(position[dim], tap[dim]);
                    if index < 0 || index as usize >= g.input {
                        continue 'positions;
                    }
                    source.push(index as usize);
                }
                let row = (c * taps.len() + t) * positions.len() + p;
                matrix[(row, ravel(&source, sample_shape))] = T::one();
            }
        }
    }
    Ok(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::{rational_from_i64, Rational};

    #[test]
    fn average_pool_rows_by_hand() {
        // L = 4, k = 2, s = 2, padding 1, count_include_pad: windows {-1, 0}, {1, 2}, {3, 4}:
        // rows [1/2 0 0 0], [0 1/2 1/2 0], [0 0 0 1/2].
        let params = PoolParams::new(vec![2])
            .with_stride(vec![2])
            .with_padding(vec![1]);
        let a: DMatrix<Rational> = avg_pool_matrix(
            &[1, 4],
            &params,
            &AvgOptions::default(),
            MatrixLimit::DEFAULT,
        )
        .unwrap();
        let half = Rational::new(1.into(), 2.into());
        let zero = rational_from_i64(0);
        let entries = [1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1];
        let entries: Vec<_> = entries
            .iter()
            .map(|&e| if e == 1 { half.clone() } else { zero.clone() })
            .collect();
        let expected = DMatrix::from_row_slice(3, 4, &entries);
        assert_eq!(a, expected);
        // Without count_include_pad the edge windows divide by 1.
        let options = AvgOptions {
            count_include_pad: false,
            divisor_override: None,
        };
        let a: DMatrix<Rational> =
            avg_pool_matrix(&[1, 4], &params, &options, MatrixLimit::DEFAULT).unwrap();
        assert_eq!(a[(0, 0)], rational_from_i64(1));
        assert_eq!(a[(2, 3)], rational_from_i64(1));
    }

    #[test]
    fn unfold_is_a_selection_matrix() {
        // L = 3, k = 2, padding 1: 4 positions; tap 0 reads -1, 0, 1, 2; tap 1 reads 0, 1, 2, 3.
        let mut params = UnfoldParams::new(vec![2]);
        params.padding = vec![1];
        let a: DMatrix<Rational> = unfold_matrix(&[1, 3], &params, MatrixLimit::DEFAULT).unwrap();
        assert_eq!((a.nrows(), a.ncols()), (8, 3));
        let ones: Vec<(usize, usize)> = (0..8)
            .flat_map(|r| (0..3).map(move |c| (r, c)))
            .filter(|&(r, c)| a[(r, c)] == rational_from_i64(1))
            .collect();
        assert_eq!(ones, vec![(1, 0), (2, 1), (3, 2), (4, 0), (5, 1), (6, 2)]);
    }
}
