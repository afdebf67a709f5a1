//! `scipy.linalg.convolution_matrix` and `scipy.linalg.toeplitz`, exactly.

use super::{zero_matrix, MatrixLimit, ToeplitzError};
use crate::reference::numpy::Mode;
use crate::scalar::Ring;
use nalgebra::DMatrix;

/// `scipy.linalg.toeplitz(c, r)`: the matrix with first column `c` and first row `r`,
///
/// ```text
/// T[i, j] = c[i - j]  (i >= j),     T[i, j] = r[j - i]  (i < j),
/// ```
///
/// of shape (len(c), len(r)); `r[0]` is ignored (the diagonal comes from `c[0]`), as in SciPy.
/// Without `r`, SciPy uses conj(c); over the real scalars here that is `c` (a symmetric matrix).
pub fn toeplitz<T: Ring + 'static>(c: &[T], r: Option<&[T]>) -> DMatrix<T> {
    let r = r.unwrap_or(c);
    DMatrix::from_fn(c.len(), r.len(), |i, j| {
        if i >= j {
            c[i - j].clone()
        } else {
            r[j - i].clone()
        }
    })
}

/// `scipy.linalg.convolution_matrix(a, n, mode)`: the matrix A with A v = `np.convolve(a, v,
/// mode)` for every v of length n.
///
/// With m = len(a): A[i, j] = a[t + i - j] (zero outside 0..m), where the first kept row t and
/// the number of rows are
///
/// | mode  | t                      | rows                        |
/// |-------|------------------------|-----------------------------|
/// | full  | 0                      | m + n - 1                   |
/// | same  | (min(m, n) - 1) / 2    | max(m, n)                   |
/// | valid | min(m, n) - 1          | max(m, n) - min(m, n) + 1   |
///
/// (NumPy's `np.convolve` swaps its arguments so that 'same' has the longer length; SciPy's
/// construction follows it.) SciPy's errors are kept: n must be positive and `a` non-empty.
pub fn convolution_matrix<T: Ring + 'static>(
    a: &[T],
    n: usize,
    mode: Mode,
    limit: MatrixLimit,
) -> Result<DMatrix<T>, ToeplitzError> {
    if n == 0 {
        return Err(ToeplitzError::Invalid(
            "n must be a positive integer.".into(),
        ));
    }
    if a.is_empty() {
        return Err(ToeplitzError::Invalid("len(a) must be at least 1.".into()));
    }
    let m = a.len();
    let (small, large) = (m.min(n), m.max(n));
    let (first, rows) = match mode {
        Mode::Full => (0, m + n - 1),
        Mode::Same => ((small - 1) / 2, large),
        Mode::Valid => (small - 1, large - small + 1),
    };
    let mut matrix = zero_matrix(rows, n, limit)?;
    for i in 0..rows {
        for j in 0..n {
            let t = (first + i) as i64 - j as i64;
            if (0..m as i64).contains(&t) {
                matrix[(i, j)] = a[t as usize].clone();
            }
        }
    }
    Ok(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::numpy::np_convolve;
    use crate::scalar::{rational_from_i64, Rational};

    fn q(values: &[i64]) -> Vec<Rational> {
        values.iter().map(|&v| rational_from_i64(v)).collect()
    }

    #[test]
    fn convolution_matrix_is_np_convolve_for_every_mode_and_length() {
        let a = q(&[1, -2, 3, 5]);
        for n in 1..=7 {
            let v: Vec<Rational> = (0..n as i64)
                .map(|i| rational_from_i64(i * i - 3))
                .collect();
            for mode in [Mode::Full, Mode::Same, Mode::Valid] {
                let m = convolution_matrix(&a, n, mode, MatrixLimit::DEFAULT).unwrap();
                let product = super::super::apply(&m, &v).unwrap();
                assert_eq!(product, np_convolve(&a, &v, mode).unwrap(), "n={n} {mode}");
            }
        }
        assert!(convolution_matrix::<Rational>(&[], 3, Mode::Full, MatrixLimit::DEFAULT).is_err());
        assert!(convolution_matrix(&a, 0, Mode::Full, MatrixLimit::DEFAULT).is_err());
    }

    #[test]
    fn toeplitz_by_hand() {
        // scipy.linalg.toeplitz([1, 2, 3], [1, 4, 5, 6]) = [[1,4,5,6],[2,1,4,5],[3,2,1,4]].
        let t = toeplitz(&q(&[1, 2, 3]), Some(&q(&[9, 4, 5, 6])));
        assert_eq!(
            t,
            DMatrix::from_row_slice(3, 4, &q(&[1, 4, 5, 6, 2, 1, 4, 5, 3, 2, 1, 4]))
        );
        let s = toeplitz(&q(&[1, 2]), None);
        assert_eq!(s, DMatrix::from_row_slice(2, 2, &q(&[1, 2, 2, 1])));
    }
}
