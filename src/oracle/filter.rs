//! A certified float filter in front of the exact comparison.
//!
//! Deciding |c - y| <= B in rational arithmetic costs big-integer gcds per element (B's
//! underflow terms alone have denominators of 2^1075 under the fp64 contract). Almost every
//! element is far from its bound, so each is first decided in f64 with rigorous margins:
//!
//! * y~ = fl64(y), S~ = fl64(S) are correctly rounded: |y~ - y| <= 2^-53 |y| + 2^-1075.
//! * e~ = fl(|c - y~|): | |c - y| - e~ | <= 2^-52 (e~ + |y~|) + 2^-1073.
//! * B~ evaluates B = kappa S + mu |y| + alpha with the constants rounded to nearest and f64
//!   arithmetic: at most ten roundings of non-negative terms, each relative 2^-53 or absolute 2^-1075, so
//!   |B - B~| <= 2^-48 B~ + 2^-1060.
//!
//! If e~ plus its margin is at most B~ minus its margin the element passes; if e~ minus its
//! margin exceeds B~ plus its margin it fails; otherwise (or when anything overflows f64) the
//! exact rational comparison decides. The verdict is therefore always the exact one; the
//! filter only saves time (a property test checks that the two agree).

use super::contract::Contract;
use crate::scalar::{round_to_f64, FloatFormat, Rational};
use ndarray::ArrayD;
use num_traits::{Signed, Zero};

/// 2^-52, 2^-48 and 2^-1060 (a subnormal), the margins of the filter.
const TWO_POW_M52: f64 = f64::from_bits((1023 - 52) << 52);
const TWO_POW_M48: f64 = f64::from_bits((1023 - 48) << 52);
const TWO_POW_M1060: f64 = f64::from_bits(1 << (1074 - 1060));

/// The contract's constants as f64 (rounded to nearest).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatBound {
    kappa: f64,
    mu: f64,
    alpha: f64,
}

impl FloatBound {
    /// The f64 images of a contract's constants.
    pub fn new(contract: &Contract) -> FloatBound {
        FloatBound {
            kappa: round_to_f64(&contract.kappa),
            mu: round_to_f64(&contract.mu),
            alpha: round_to_f64(&contract.alpha),
        }
    }

    /// B~ = kappa~ S~ + mu~ |y~| + alpha~.
    #[inline]
    pub fn bound(&self, y: f64, magnitude: f64) -> f64 {
        self.kappa * magnitude + self.mu * y.abs() + self.alpha
    }

    /// Some(pass) when the filter decides |c - y| <= B, None when only the exact comparison
    /// can (see the module documentation).
    #[inline]
    pub fn decide(&self, candidate: f64, y: f64, magnitude: f64) -> Option<bool> {
        self.decide_within(candidate, y, magnitude, magnitude)
    }

    /// [`FloatBound::decide`] with S known only to lie in \[lo, hi\] (B grows with S: the
    /// pass is judged against B at lo, the failure against B at hi); lo = hi = S~ is the
    /// correctly rounded case.
    #[inline]
    pub fn decide_within(&self, candidate: f64, y: f64, lo: f64, hi: f64) -> Option<bool> {
        let error = (candidate - y).abs();
        let bound_hi = self.bound(y, hi);
        if !error.is_finite() || !bound_hi.is_finite() || !y.is_finite() {
            return None;
        }
        if self.passes_within(candidate, y, lo, hi) {
            Some(true)
        } else if error - error_margin(error, y) > bound_hi + margin(bound_hi) {
            Some(false)
        } else {
            None
        }
    }

    /// True exactly when [`FloatBound::decide_within`] gives Some(true), without branches (so
    /// that a loop over elements vectorises).
    #[inline(always)]
    pub fn passes_within(&self, candidate: f64, y: f64, lo: f64, hi: f64) -> bool {
        let error = (candidate - y).abs();
        let (bound_lo, bound_hi) = (self.bound(y, lo), self.bound(y, hi));
        let finite = error.is_finite() & bound_hi.is_finite() & y.is_finite();
        finite & (error + error_margin(error, y) <= bound_lo - margin(bound_lo))
    }
}

/// The margin of e~ = fl(|c - y~|): 2^-52 (e~ + |y~|) + 2^-1073.
#[inline(always)]
fn error_margin(error: f64, y: f64) -> f64 {
    let tiny = f64::from_bits(1); // 2^-1074
    TWO_POW_M52 * (error + y.abs()) + 2.0 * tiny
}

/// The margin of B~: 2^-48 B~ + 2^-1060.
#[inline(always)]
fn margin(bound: f64) -> f64 {
    TWO_POW_M48 * bound + TWO_POW_M1060
}

/// (sign, odd integer m, exponent e) with |c| = m 2^e, for finite non-zero c.
pub(super) fn odd_parts(c: f64) -> (bool, u64, i64) {
    let bits = c.to_bits();
    let negative = bits >> 63 == 1;
    let field = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1u64 << 52) - 1);
    let (m, e) = if field == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), field - 1075)
    };
    let tz = m.trailing_zeros();
    (negative, m >> tz, e + i64::from(tz))
}

/// True when the finite f64 `c` is a value of `format` (no NaN or infinity).
#[inline]
pub fn representable_f64(c: f64, format: FloatFormat) -> bool {
    if !c.is_finite() {
        return false;
    }
    if c == 0.0 {
        return true;
    }
    match format {
        FloatFormat::F64 => return true,
        // The conversion to binary32 is exact exactly when c is a binary32 value (finite).
        FloatFormat::F32 => return f64::from(c as f32) == c,
        _ => {}
    }
    let (_, m, e) = odd_parts(c);
    let p = i64::from(format.precision);
    let width = i64::from(64 - m.leading_zeros());
    let top = e + width - 1; // floor(log2 |c|)
    let lowest = format.min_exponent() - (p - 1); // exponent of the smallest subnormal
    width <= p && e >= lowest && top <= format.bias()
}

/// The encoding of a value of `format` (as [`crate::scalar::round_to_bits`] gives it), for a
/// finite `c` that [`representable_f64`] accepts.
#[inline]
pub fn encode_f64(c: f64, format: FloatFormat) -> u64 {
    let sign = u64::from(c.is_sign_negative() && c != 0.0) << (format.width() - 1);
    if c == 0.0 {
        return 0;
    }
    match format {
        FloatFormat::F64 => return c.to_bits(),
        FloatFormat::F32 => return u64::from((c as f32).to_bits()),
        _ => {}
    }
    let (_, m, e) = odd_parts(c);
    let p = i64::from(format.precision);
    let width = i64::from(64 - m.leading_zeros());
    let top = e + width - 1;
    let fraction_bits = format.precision - 1;
    if top >= format.min_exponent() {
        // Normal: the significand m 2^(e - top) in [1, 2) with p - 1 fraction bits.
        let significand = m << (p - width) as u32;
        let fraction = significand - (1u64 << fraction_bits);
        sign | (((top + format.bias()) as u64) << fraction_bits) | fraction
    } else {
        // Subnormal: |c| = M 2^(e_min - (p - 1)).
        let shift = e - (format.min_exponent() - (p - 1));
        sign | (m << shift as u32)
    }
}

/// (bit length of the odd part m, exponent e) with |q| = m 2^e, for a non-zero dyadic rational
/// (None when the denominator is not a power of two), without division.
fn dyadic_parts(q: &Rational) -> Option<(u64, i64)> {
    let (n, d) = (q.numer().abs(), q.denom());
    // The denominator of a reduced dyadic rational is a power of two.
    let d_exp = d.trailing_zeros().unwrap_or(0);
    if d.bits() != d_exp + 1 {
        return None;
    }
    let tz = n.trailing_zeros().unwrap_or(0);
    Some((n.bits() - tz, tz as i64 - d_exp as i64))
}

/// Whether m 2^e (m odd, of `width` bits) is a value of `format`.
fn fits_parts(width: u64, e: i64, format: FloatFormat) -> bool {
    let (width, p) = (width as i64, i64::from(format.precision));
    width <= p && e >= format.min_exponent() - (p - 1) && e + width - 1 <= format.bias()
}

/// True when the rational q is a value of `format` (checked without division: q must be an
/// odd integer times a power of two within the format's range).
pub fn fits_format(q: &Rational, format: FloatFormat) -> bool {
    q.is_zero() || dyadic_parts(q).is_some_and(|(width, e)| fits_parts(width, e, format))
}

/// For each of `formats`, whether every element of every tensor is a value of it: one pass
/// over the elements for all formats.
pub fn formats_met(tensors: &[&ArrayD<Rational>], formats: &[FloatFormat]) -> Vec<bool> {
    let mut met = vec![true; formats.len()];
    for q in tensors.iter().flat_map(|t| t.iter()) {
        if q.is_zero() {
            continue;
        }
        let parts = dyadic_parts(q);
        for (fits, &format) in met.iter_mut().zip(formats) {
            *fits = *fits && parts.is_some_and(|(width, e)| fits_parts(width, e, format));
        }
        if !met.contains(&true) {
            break;
        }
    }
    met
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::{rational_from_f64, round_to_bits, round_to_format};
    use num_traits::One;

    const FORMATS: [FloatFormat; 5] = [
        FloatFormat::F64,
        FloatFormat::F32,
        FloatFormat::TF32,
        FloatFormat::F16,
        FloatFormat::BF16,
    ];

    /// Values around the edges of every format: subnormals, the largest finite values, ties.
    fn samples() -> Vec<f64> {
        let mut v = vec![
            0.0,
            1.0,
            -1.0,
            1.5,
            0.1,
            -3.75,
            65504.0,
            65520.0,
            1e-8,
            5.960464477539063e-8,
        ];
        for e in [
            -1074, -1070, -1022, -150, -149, -133, -126, -25, -24, -15, -14, 0, 15, 16, 127, 128,
            1023,
        ] {
            let p = 2f64.powi(e);
            v.extend([
                p,
                -p,
                p * 1.5,
                p * (1.0 + 2f64.powi(-10)),
                p * (1.0 + 2f64.powi(-23)),
            ]);
        }
        v.extend([f64::MAX, f32::MAX as f64, f64::from(f32::MIN_POSITIVE)]);
        v.into_iter().filter(|x| x.is_finite()).collect()
    }

    #[test]
    fn representability_and_encoding_agree_with_exact_rounding() {
        for format in FORMATS {
            for c in samples() {
                let q = rational_from_f64(c).unwrap();
                let exact = round_to_format(&q, format).as_ref() == Some(&q);
                assert_eq!(representable_f64(c, format), exact, "{c} in {format:?}");
                assert_eq!(fits_format(&q, format), exact, "{c} rational in {format:?}");
                let single = ArrayD::from_elem(vec![1], q.clone());
                assert_eq!(formats_met(&[&single], &[format]), vec![exact]);
                if exact {
                    assert_eq!(
                        encode_f64(c, format),
                        round_to_bits(&q, format),
                        "{c} {format:?}"
                    );
                }
            }
        }
        // A non-dyadic rational is never a float.
        assert!(!fits_format(
            &Rational::new(1.into(), 3.into()),
            FloatFormat::F64
        ));
    }

    #[test]
    fn the_filter_never_contradicts_the_exact_comparison() {
        use super::super::contract::{Accumulation, Contract, Cut, Precision, Reduction};
        for precision in Precision::ALL {
            for (in_format, bias) in [(true, false), (false, false), (true, true), (false, true)] {
                let reduction = Reduction::products(9, Rational::one(), bias);
                let contract = Contract::new(
                    precision,
                    &reduction,
                    in_format,
                    Cut::Truncation,
                    Accumulation::Any,
                );
                let filter = FloatBound::new(&contract);
                for y in samples() {
                    let yq = rational_from_f64(y).unwrap();
                    for s in [y.abs(), y.abs() * 4.0, 1.0, 0.0] {
                        let Ok(sq) = rational_from_f64(s) else {
                            continue;
                        };
                        let bound = contract.bound(&yq, &sq);
                        let b = round_to_f64(&bound);
                        // Candidates at, just inside and just outside the bound.
                        for c in [
                            y,
                            y + b,
                            y - b,
                            y + 2.0 * b,
                            y + b * (1.0 + 1e-15),
                            y + 0.5 * b,
                        ] {
                            let Ok(cq) = rational_from_f64(c) else {
                                continue;
                            };
                            let exact = (&cq - &yq).abs() <= bound;
                            if let Some(fast) = filter.decide(c, y, s) {
                                assert_eq!(fast, exact, "{precision} y={y} s={s} c={c}");
                            }
                        }
                    }
                }
            }
        }
    }
}
