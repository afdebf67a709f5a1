//! NumPy's one-dimensional `np.convolve` and `np.correlate`, reproduced exactly.
//!
//! NumPy computes both through one kernel, `_pyarray_correlate(a, v, mode)`, which needs
//! len(a) >= len(v) and pads `a` on the left by n_left:
//!
//! ```text
//! core(a, v)[k] = sum_{j < n} a[k - n_left + j] * v[j]     (a = 0 outside [0, len a))
//! n = len(v); valid: n_left = 0, length len(a) - n + 1;
//!             same:  n_left = floor(n / 2), length len(a);
//!             full:  n_left = n - 1, length len(a) + n - 1.
//! ```
//!
//! * `np.convolve(a, v, mode)` swaps a and v when len(v) > len(a), then returns
//!   core(a, reversed v). Because of the swap its 'same' output has length max(len a, len v).
//! * `np.correlate(a, v, mode)` returns core(a, v) when len(a) >= len(v), and otherwise the
//!   reversal of core(v, a): the argument-swap rule (for complex inputs NumPy also conjugates,
//!   which does not arise for the real scalars here).
//!
//! For even n the 'same' window is not centred: it keeps one more element on the right of the
//! full result than on the left.

use super::OpError;
use crate::scalar::Ring;
use std::fmt;
use std::str::FromStr;

/// NumPy/SciPy output mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every position where the arrays overlap at least partly.
    Full,
    /// The size of the first (for NumPy: the longer) argument.
    Same,
    /// Only positions where they overlap completely.
    Valid,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "full" => Ok(Mode::Full),
            "same" => Ok(Mode::Same),
            "valid" => Ok(Mode::Valid),
            other => Err(format!(
                "invalid mode '{other}': expected full, same or valid"
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Full => "full",
            Mode::Same => "same",
            Mode::Valid => "valid",
        })
    }
}

/// NumPy's `_pyarray_correlate` for len(a) >= len(v) >= 1.
fn core<T: Ring>(a: &[T], v: &[T], mode: Mode) -> Vec<T> {
    let n = v.len();
    let (n_left, length) = match mode {
        Mode::Valid => (0, a.len() - n + 1),
        Mode::Same => (n / 2, a.len()),
        Mode::Full => (n - 1, a.len() + n - 1),
    };
    (0..length)
        .map(|k| {
            (0..n).fold(T::zero(), |sum, j| {
                let position = k as i64 - n_left as i64 + j as i64;
                if (0..a.len() as i64).contains(&position) {
                    sum + a[position as usize].clone() * v[j].clone()
                } else {
                    sum
                }
            })
        })
        .collect()
}

fn check_non_empty<T>(a: &[T], v: &[T]) -> Result<(), OpError> {
    if a.is_empty() {
        return Err(OpError::Invalid("a cannot be empty".into()));
    }
    if v.is_empty() {
        return Err(OpError::Invalid("v cannot be empty".into()));
    }
    Ok(())
}

/// `np.convolve(a, v, mode)`: discrete linear convolution, (a * v)\[t\] = sum_m a\[m\] v[t - m],
/// with NumPy's alignment for 'same' and 'valid'.
pub fn np_convolve<T: Ring>(a: &[T], v: &[T], mode: Mode) -> Result<Vec<T>, OpError> {
    let (a, v) = if v.len() > a.len() { (v, a) } else { (a, v) };
    check_non_empty(a, v)?;
    let reversed: Vec<T> = v.iter().rev().cloned().collect();
    Ok(core(a, &reversed, mode))
}

/// `np.correlate(a, v, mode)` (NumPy >= 1.5 semantics): c\[k\] = sum_n a[n + k] v\[n\], with the
/// argument-swap rule for len(v) > len(a).
pub fn np_correlate<T: Ring>(a: &[T], v: &[T], mode: Mode) -> Result<Vec<T>, OpError> {
    check_non_empty(a, v)?;
    if a.len() >= v.len() {
        Ok(core(a, v, mode))
    } else {
        let mut swapped = core(v, a, mode);
        swapped.reverse();
        Ok(swapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::Integer;

    fn ints(v: &[i64]) -> Vec<Integer> {
        v.iter().map(|&x| Integer::from(x)).collect()
    }

    #[test]
    fn numpy_documentation_examples() {
        // From the NumPy docs: np.convolve([1, 2, 3], [0, 1, 0.5]) = [0, 1, 2.5, 4, 1.5];
        // doubled to stay in integers: [1,2,3] * [0,2,1] = [0, 2, 5, 8, 3].
        let (a, v) = (ints(&[1, 2, 3]), ints(&[0, 2, 1]));
        assert_eq!(
            np_convolve(&a, &v, Mode::Full).unwrap(),
            ints(&[0, 2, 5, 8, 3])
        );
        assert_eq!(np_convolve(&a, &v, Mode::Same).unwrap(), ints(&[2, 5, 8]));
        assert_eq!(np_convolve(&a, &v, Mode::Valid).unwrap(), ints(&[5]));
        // np.correlate([1, 2, 3], [0, 1, 0.5], 'full') = [0.5, 2, 3.5, 3, 0]; doubled:
        assert_eq!(
            np_correlate(&a, &v, Mode::Full).unwrap(),
            ints(&[1, 4, 7, 6, 0])
        );
        assert_eq!(np_correlate(&a, &v, Mode::Same).unwrap(), ints(&[4, 7, 6]));
        // Swapped arguments reverse the result: np.correlate([0, 1, 0.5], [1, 2, 3], 'full').
        assert_eq!(
            np_correlate(&v, &a, Mode::Full).unwrap(),
            ints(&[0, 6, 7, 4, 1])
        );
    }

    #[test]
    fn empty_arguments_are_refused() {
        assert!(np_convolve::<Integer>(&[], &ints(&[1]), Mode::Full).is_err());
        assert!(np_correlate::<Integer>(&ints(&[1]), &[], Mode::Full).is_err());
    }
}
