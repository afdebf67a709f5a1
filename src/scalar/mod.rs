//! Scalars the reference engine is generic over.
//!
//! The specification is written once, over a [`Ring`] (addition, subtraction, multiplication,
//! zero and one). Exact results use [`Rational`] (`num_rational::BigRational`, a ratio of
//! arbitrary-precision integers) or [`Integer`] (`num_bigint::BigInt`); the same code also runs on
//! `f32` and `f64`, which is how float kernels can be compared step for step with the definition.
//!
//! Floats enter the exact world without loss ([`rational_from_f64`], [`rational_from_f32`]: every
//! finite binary float is m * 2^e, a rational) and leave it correctly rounded
//! ([`round`]).

pub mod convert;
pub mod precision;
pub mod round;
mod round_many;
pub(crate) use round_many::{round_scaled_into, MachineInteger};

pub use convert::{
    exact, rational_from_f32, rational_from_f64, ConversionError, ExactValue, TensorConversionError,
};
pub use convert::{
    rational_from_bf16, rational_from_f16, rational_from_format_bits, rational_from_parts,
};
pub use precision::Precision;
pub use round::{
    f64_from_format_bits, round_dyadic_to_bits, round_dyadic_to_value, round_to_bf16,
    round_to_bits, round_to_f16, round_to_f32, round_to_f64, round_to_format, round_to_tf32,
    scaled_i128_rounding, FloatFormat,
};

use num_traits::{One, Zero};
use std::fmt::{Debug, Display};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Exact rational number, the scalar of the specification.
pub type Rational = num_rational::BigRational;
/// Exact integer.
pub type Integer = num_bigint::BigInt;

/// A commutative ring with unit: what correlation and convolution need
/// (`y = b + sum w * x` uses only `+`, `*` and `0`).
///
/// Floats implement it too (their `+` and `*` round, so they are only approximately a ring); the
/// exact types implement it exactly.
pub trait Ring:
    Clone
    + Debug
    + Display
    + PartialEq
    + Zero
    + One
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
{
    /// True when arithmetic in this type is exact (no rounding).
    const EXACT: bool;
}

/// A field: a [`Ring`] with division by non-zero elements (average pooling, exact scaling).
pub trait Field: Ring + Div<Output = Self> {}

impl Ring for Rational {
    const EXACT: bool = true;
}
impl Field for Rational {}

impl Ring for Integer {
    const EXACT: bool = true;
}

impl Ring for f64 {
    const EXACT: bool = false;
}
impl Field for f64 {}

impl Ring for f32 {
    const EXACT: bool = false;
}
impl Field for f32 {}

/// Exact rational from an integer.
pub fn rational_from_integer(value: Integer) -> Rational {
    Rational::from_integer(value)
}

/// Exact rational from an `i64`.
pub fn rational_from_i64(value: i64) -> Rational {
    Rational::from_integer(Integer::from(value))
}
