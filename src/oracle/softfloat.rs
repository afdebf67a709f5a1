//! A software model of the floating-point arithmetic that kernels claim: exact dyadic values,
//! rounding to any binary format (to nearest even or toward zero, with subnormals), and a
//! tensor core's block fused multiply-add as the hardware studies describe it (Fasi, Higham,
//! Mikaitis and Pranesh 2021; Khattak and Mikaitis, arXiv 2512.07004): addends aligned to the
//! largest exponent, the bits below the kept ones dropped, the aligned values summed exactly, the
//! sum normalised to the accumulator format.
//!
//! It exists to generate outputs that real arithmetic can produce ([`super::legal`]), so that
//! the oracle's bounds are tested from the legal side. Every operation is exact big-integer
//! arithmetic on m 2^e: O(bits) per operation.

use crate::scalar::{rational_from_parts, FloatFormat, Integer, Rational};
use num_bigint::Sign;
use num_traits::{One, Signed, Zero};

/// An exact dyadic value m 2^e.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    m: Integer,
    e: i64,
}

/// A rounding rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// To nearest, ties to even (IEEE 754's default).
    Nearest,
    /// Toward zero (truncation, chopping).
    TowardZero,
    /// Toward minus infinity (two's-complement truncation).
    Down,
}

impl Value {
    /// Zero.
    pub fn zero() -> Value {
        Value {
            m: Integer::zero(),
            e: 0,
        }
    }

    /// m 2^e.
    pub fn new(m: Integer, e: i64) -> Value {
        Value { m, e }
    }

    /// The value of a dyadic rational (None when the denominator is not a power of two).
    pub fn from_rational(q: &Rational) -> Option<Value> {
        let d = q.denom();
        let shift = d.trailing_zeros().unwrap_or(0);
        if d.bits() != shift + 1 {
            return None;
        }
        Some(Value::new(q.numer().clone(), -(shift as i64)))
    }

    /// The value of a finite f64.
    pub fn from_f64(v: f64) -> Value {
        crate::scalar::rational_from_f64(v)
            .ok()
            .and_then(|q| Value::from_rational(&q))
            .unwrap_or_else(Value::zero)
    }

    /// The exact rational.
    pub fn to_rational(&self) -> Rational {
        rational_from_parts(self.m.clone(), self.e)
    }

    /// The nearest f64 (the model's values in formats up to binary64 convert exactly).
    pub fn to_f64(&self) -> f64 {
        crate::scalar::round_to_f64(&self.to_rational())
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.m.is_zero()
    }

    /// floor(log2 |v|), None for zero.
    pub fn exponent(&self) -> Option<i64> {
        (!self.is_zero()).then(|| self.top())
    }

    /// floor(log2 |v|) for v != 0.
    fn top(&self) -> i64 {
        self.e + self.m.bits() as i64 - 1
    }

    /// The exact sum.
    pub fn add(&self, other: &Value) -> Value {
        if self.is_zero() {
            return other.clone();
        }
        if other.is_zero() {
            return self.clone();
        }
        let e = self.e.min(other.e);
        let a = &self.m << (self.e - e) as usize;
        let b = &other.m << (other.e - e) as usize;
        Value::new(a + b, e)
    }

    /// The exact product.
    pub fn mul(&self, other: &Value) -> Value {
        Value::new(&self.m * &other.m, self.e + other.e)
    }

    /// The negation.
    pub fn neg(&self) -> Value {
        Value::new(-self.m.clone(), self.e)
    }

    /// The multiple of 2^g next to v by `rule` (v itself when it is one already).
    fn to_grid(&self, g: i64, rule: Rounding) -> Value {
        if self.e >= g || self.is_zero() {
            return self.clone();
        }
        let shift = (g - self.e) as usize;
        let magnitude = self.m.magnitude();
        let mut q = Integer::from_biguint(Sign::Plus, magnitude >> shift);
        let remainder = magnitude - (q.magnitude() << shift);
        let negative = self.m.is_negative();
        let inexact = !remainder.is_zero();
        match rule {
            Rounding::Nearest => {
                let half = num_bigint::BigUint::one() << (shift - 1);
                if remainder > half || (remainder == half && q.bit(0)) {
                    q += 1;
                }
            }
            Rounding::TowardZero => {}
            Rounding::Down => {
                if negative && inexact {
                    q += 1;
                }
            }
        }
        Value::new(if negative { -q } else { q }, g)
    }
}

/// v rounded into `format` by `rule`, with gradual underflow; None when it overflows to
/// infinity (round toward zero never does: it stops at the largest finite value).
pub fn round(v: &Value, format: FloatFormat, rule: Rounding) -> Option<Value> {
    if v.is_zero() {
        return Some(Value::zero());
    }
    let p = i64::from(format.precision);
    let e_min = format.min_exponent();
    let ulp = v.top().max(e_min) - (p - 1);
    let r = v.to_grid(ulp, rule);
    let largest = Value::new(
        (Integer::one() << format.precision as usize) - Integer::one(),
        format.bias() + 1 - p,
    );
    if !r.is_zero() && r.top() > format.bias() {
        return match rule {
            Rounding::Nearest => None,
            Rounding::TowardZero => Some(if v.m.is_negative() {
                largest.neg()
            } else {
                largest
            }),
            Rounding::Down => (!v.m.is_negative()).then_some(largest),
        };
    }
    Some(r)
}

/// A tensor core's block fused multiply-add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockFma {
    /// Fraction bits kept beyond p - 1 when aligning to the largest exponent.
    pub extra_bits: u32,
    /// How the bits shifted out are dropped (toward zero, or down as two's complement does).
    pub alignment: Rounding,
    /// How the exact sum of the aligned values is normalised to the accumulator.
    pub normalisation: Rounding,
    /// Whether subnormal results are flushed to zero.
    pub flush_subnormals: bool,
}

impl BlockFma {
    /// The block's result for `addends` (exact products and the accumulator) in `format`.
    pub fn sum(&self, addends: &[Value], format: FloatFormat) -> Option<Value> {
        let tops = addends.iter().filter(|a| !a.is_zero()).map(Value::top);
        let Some(e_max) = tops.max() else {
            return Some(Value::zero());
        };
        let grid = e_max - (i64::from(format.precision) - 1 + i64::from(self.extra_bits));
        let aligned = addends.iter().fold(Value::zero(), |s, a| {
            s.add(&a.to_grid(grid, self.alignment))
        });
        let r = round(&aligned, format, self.normalisation)?;
        if self.flush_subnormals && !r.is_zero() && r.top() < format.min_exponent() {
            return Some(Value::zero());
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::{rational_from_f64, round_to_format};

    #[test]
    fn nearest_rounding_agrees_with_the_exact_rounding() {
        let samples = [
            1.0,
            1.0 + 2f64.powi(-30),
            -3.0000001,
            2f64.powi(-140) * 1.37,
            2f64.powi(-149) * 0.5,
            2f64.powi(-149) * 1.5,
            65519.0,
            65520.0,
            2f64.powi(-24) * 0.75,
            0.1,
        ];
        for format in [
            FloatFormat::F32,
            FloatFormat::F16,
            FloatFormat::BF16,
            FloatFormat::TF32,
        ] {
            for v in samples {
                let exact = rational_from_f64(v).unwrap();
                let ours = round(&Value::from_f64(v), format, Rounding::Nearest);
                assert_eq!(
                    ours.map(|r| r.to_rational()),
                    round_to_format(&exact, format),
                    "{v} {format:?}"
                );
            }
        }
    }

    #[test]
    fn toward_zero_and_down_by_hand() {
        let v = Value::from_f64(1.0 + 2f64.powi(-11) + 2f64.powi(-13));
        let f = FloatFormat::F16; // 10 fraction bits
        let rz = round(&v, f, Rounding::TowardZero).unwrap();
        assert_eq!(rz.to_f64(), 1.0);
        assert_eq!(
            round(&v, f, Rounding::Nearest).unwrap().to_f64(),
            1.0 + 2f64.powi(-10)
        );
        let neg = round(&v.neg(), f, Rounding::Down).unwrap();
        assert_eq!(neg.to_f64(), -(1.0 + 2f64.powi(-10)));
        // Toward zero saturates at the largest finite value.
        let big = Value::from_f64(70000.0);
        assert_eq!(
            round(&big, f, Rounding::TowardZero).unwrap().to_f64(),
            65504.0
        );
        assert!(round(&big, f, Rounding::Nearest).is_none());
    }

    #[test]
    fn block_fma_truncates_the_small_addends() {
        // 1 + 3 * 2^-25 in a block with no extra bits: each 2^-25 is below the grid 2^-23.
        let fma = BlockFma {
            extra_bits: 0,
            alignment: Rounding::TowardZero,
            normalisation: Rounding::TowardZero,
            flush_subnormals: false,
        };
        let small = Value::from_f64(2f64.powi(-25));
        let addends = [Value::from_f64(1.0), small.clone(), small.clone(), small];
        assert_eq!(fma.sum(&addends, FloatFormat::F32).unwrap().to_f64(), 1.0);
        // With three extra bits they survive: 1 + 3 * 2^-25, truncated to 24 bits.
        let wider = BlockFma {
            extra_bits: 3,
            ..fma
        };
        let r = wider.sum(&addends, FloatFormat::F32).unwrap().to_f64();
        // 3 * 2^-25 = 0.75 ulp of 1.0 at 24 bits: the normalisation toward zero drops it.
        assert_eq!(r, 1.0);
        let r2 = wider
            .sum(
                &[
                    Value::from_f64(1.0),
                    Value::from_f64(2f64.powi(-24)),
                    Value::from_f64(2f64.powi(-24)),
                ],
                FloatFormat::F32,
            )
            .unwrap()
            .to_f64();
        assert_eq!(r2, 1.0 + 2f64.powi(-23));
        // IEEE round to nearest of the same sum, one addition at a time, keeps 1.
        assert_eq!(
            fma.sum(
                &[Value::from_f64(1.0), Value::from_f64(2f64.powi(-24))],
                FloatFormat::F32
            )
            .unwrap()
            .to_f64(),
            1.0
        );
    }
}
