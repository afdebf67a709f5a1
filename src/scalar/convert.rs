//! Exact conversion of binary floats to rationals.
//!
//! A finite IEEE 754 binary float with sign s, biased exponent E and fraction f of a format with
//! p bits of precision and bias B is exactly
//!
//! * normal (E > 0):     (-1)^s * (2^(p-1) + f) * 2^(E - B - (p-1)),
//! * subnormal (E = 0):  (-1)^s * f * 2^(1 - B - (p-1)),
//!
//! so every finite float is a rational m * 2^e with an integer m; NaN and the infinities are not
//! numbers and are refused.

use super::Rational;
use num_bigint::BigInt;
use num_traits::{One, Zero};
use std::fmt;

/// A float that has no exact rational value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversionError {
    /// The value is NaN.
    NaN,
    /// The value is +infinity or -infinity.
    Infinite {
        /// True for -infinity.
        negative: bool,
    },
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConversionError::NaN => write!(f, "NaN has no exact value"),
            ConversionError::Infinite { negative: false } => write!(f, "inf has no exact value"),
            ConversionError::Infinite { negative: true } => write!(f, "-inf has no exact value"),
        }
    }
}

impl std::error::Error for ConversionError {}

/// `m * 2^e` as an exact rational, in lowest terms without a gcd: the trailing zero bits of m
/// move into e, and an odd numerator over a power of two is already reduced. O(bits of m).
pub fn rational_from_parts(m: BigInt, e: i64) -> Rational {
    if m.is_zero() {
        return Rational::zero();
    }
    let zeros = m.trailing_zeros().unwrap_or(0);
    let (m, e) = (m >> zeros as usize, e + zeros as i64);
    if e >= 0 {
        Rational::from_integer(m << e as usize)
    } else {
        Rational::new_raw(m, BigInt::one() << e.unsigned_abs() as usize)
    }
}

/// Decodes the bits of a binary float with `precision` bits of significand (implicit bit
/// included) and `exponent_bits` bits of exponent into `(negative, m, e)` with value
/// `(-1)^negative * m * 2^e`, or an error for NaN and infinity.
#[inline]
pub(crate) fn decode(
    bits: u64,
    precision: u32,
    exponent_bits: u32,
) -> Result<(bool, u64, i64), ConversionError> {
    let fraction_bits = precision - 1;
    let negative = (bits >> (fraction_bits + exponent_bits)) & 1 == 1;
    let biased = ((bits >> fraction_bits) & ((1u64 << exponent_bits) - 1)) as i64;
    let fraction = bits & ((1u64 << fraction_bits) - 1);
    let bias = (1i64 << (exponent_bits - 1)) - 1;
    let all_ones = (1i64 << exponent_bits) - 1;
    if biased == all_ones {
        return Err(if fraction == 0 {
            ConversionError::Infinite { negative }
        } else {
            ConversionError::NaN
        });
    }
    let (m, e) = if biased == 0 {
        (fraction, 1 - bias - fraction_bits as i64)
    } else {
        (
            fraction | (1u64 << fraction_bits),
            biased - bias - fraction_bits as i64,
        )
    };
    Ok((negative, m, e))
}

/// The exact rational value of the finite float of `format` whose encoding is the low
/// `format.width()` bits of `bits` (as [`round_to_bits`](crate::scalar::round_to_bits) returns
/// them); NaN and infinities are refused.
pub fn rational_from_format_bits(
    bits: u64,
    format: crate::scalar::FloatFormat,
) -> Result<Rational, ConversionError> {
    rational_from_bits(bits, format.precision, format.exponent_bits)
}

fn rational_from_bits(
    bits: u64,
    precision: u32,
    exponent_bits: u32,
) -> Result<Rational, ConversionError> {
    let (negative, m, e) = decode(bits, precision, exponent_bits)?;
    let m = BigInt::from(m);
    Ok(rational_from_parts(if negative { -m } else { m }, e))
}

/// The exact rational value of a finite `f64`; NaN and infinities are refused.
///
/// `-0.0` maps to `0` (rationals have no signed zero).
pub fn rational_from_f64(value: f64) -> Result<Rational, ConversionError> {
    rational_from_bits(value.to_bits(), 53, 11)
}

/// The exact rational value of a finite `f32`; NaN and infinities are refused.
pub fn rational_from_f32(value: f32) -> Result<Rational, ConversionError> {
    rational_from_bits(u64::from(value.to_bits()), 24, 8)
}

/// The exact rational value of a finite IEEE binary16 value, given by its 16 bits.
pub fn rational_from_f16(bits: u16) -> Result<Rational, ConversionError> {
    rational_from_bits(u64::from(bits), 11, 5)
}

/// The exact rational value of a finite bfloat16 value, given by its 16 bits (the high half of
/// an f32).
pub fn rational_from_bf16(bits: u16) -> Result<Rational, ConversionError> {
    rational_from_bits(u64::from(bits), 8, 8)
}

/// A number with an exact rational value: the element types [`exact`] converts.
pub trait ExactValue {
    /// The exact value (NaN and infinities refused).
    fn exact(&self) -> Result<Rational, ConversionError>;
}

impl ExactValue for f64 {
    fn exact(&self) -> Result<Rational, ConversionError> {
        rational_from_f64(*self)
    }
}

impl ExactValue for f32 {
    fn exact(&self) -> Result<Rational, ConversionError> {
        rational_from_f32(*self)
    }
}

impl ExactValue for Rational {
    fn exact(&self) -> Result<Rational, ConversionError> {
        Ok(self.clone())
    }
}

macro_rules! exact_integers {
    ($($t:ty),*) => {$(
        impl ExactValue for $t {
            fn exact(&self) -> Result<Rational, ConversionError> {
                Ok(Rational::from_integer(BigInt::from(*self)))
            }
        }
    )*};
}
exact_integers!(i8, i16, i32, i64, u8, u16, u32, u64);

/// Why a tensor has no exact value: its first element without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorConversionError {
    /// The multi-index of the element.
    pub index: Vec<usize>,
    /// What it was.
    pub error: ConversionError,
}

impl fmt::Display for TensorConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "element {:?}: {}", self.index, self.error)
    }
}

impl std::error::Error for TensorConversionError {}

/// Any ndarray array of floats, integers or rationals (dynamic or static rank: `ArrayD`,
/// `Array4`, views) as the exact tensor every part of the crate takes, element by element
/// exactly; the first NaN or infinity is reported with its index. O(elements).
pub fn exact<A, S, D>(
    array: &ndarray::ArrayBase<S, D>,
) -> Result<ndarray::ArrayD<Rational>, TensorConversionError>
where
    A: ExactValue,
    S: ndarray::Data<Elem = A>,
    D: ndarray::Dimension,
{
    let shape = array.shape().to_vec();
    let mut values = Vec::with_capacity(array.len());
    for (flat, v) in array.iter().enumerate() {
        values.push(v.exact().map_err(|error| TensorConversionError {
            index: crate::index::unravel(flat, &shape),
            error,
        })?);
    }
    Ok(
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), values)
            .expect("one value per element"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: i64, d: i64) -> Rational {
        Rational::new(BigInt::from(n), BigInt::from(d))
    }

    #[test]
    fn simple_values_are_exact() {
        assert_eq!(rational_from_f64(0.5).unwrap(), q(1, 2));
        assert_eq!(rational_from_f64(-3.0).unwrap(), q(-3, 1));
        assert_eq!(
            rational_from_f64(0.1).unwrap(),
            q(3602879701896397, 36028797018963968)
        );
        assert_eq!(rational_from_f32(0.1).unwrap(), q(13421773, 134217728));
        assert_eq!(rational_from_f64(-0.0).unwrap(), q(0, 1));
    }

    #[test]
    fn extremes_are_exact() {
        // Smallest positive subnormal f64 is 2^-1074, largest finite is (2^53 - 1) 2^971.
        let tiny = rational_from_f64(f64::from_bits(1)).unwrap();
        assert_eq!(
            tiny,
            Rational::new(BigInt::one(), BigInt::one() << 1074usize)
        );
        let max = rational_from_f64(f64::MAX).unwrap();
        assert_eq!(
            max,
            Rational::from_integer(((BigInt::one() << 53usize) - 1) << 971usize)
        );
        let tiny32 = rational_from_f32(f32::from_bits(1)).unwrap();
        assert_eq!(
            tiny32,
            Rational::new(BigInt::one(), BigInt::one() << 149usize)
        );
    }

    #[test]
    fn nan_and_infinity_are_refused() {
        assert_eq!(rational_from_f64(f64::NAN), Err(ConversionError::NaN));
        assert_eq!(
            rational_from_f32(f32::NEG_INFINITY),
            Err(ConversionError::Infinite { negative: true })
        );
    }

    #[test]
    fn tensors_of_any_element_type_and_rank_convert_exactly() {
        let a = ndarray::Array2::from_shape_vec((2, 2), vec![0.5f32, -1.0, 3.0, 0.25]).unwrap();
        let q = exact(&a).unwrap();
        assert_eq!(q.shape(), &[2, 2]);
        assert_eq!(q[[1, 1]], Rational::new(1.into(), 4.into()));
        let ints = ndarray::arr1(&[1i64, -7]);
        assert_eq!(
            exact(&ints).unwrap()[[1]],
            Rational::from_integer((-7).into())
        );
        let bad = ndarray::arr2(&[[1.0, 2.0], [f64::NAN, 0.0]]);
        let e = exact(&bad).unwrap_err();
        assert_eq!(e.index, vec![1, 0]);
        assert_eq!(e.to_string(), "element [1, 0]: NaN has no exact value");
    }
}
