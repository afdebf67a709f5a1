//! Correct rounding of exact rationals to binary floating-point formats.
//!
//! For a format with precision p (significand bits, implicit bit included), exponent width w,
//! bias B = 2^(w-1) - 1, e_max = B and e_min = 1 - B, a non-zero rational q is written
//! |q| = M * 2^(e - (p-1)) with e = max(floor(log2 |q|), e_min). The real M lies in [2^(p-1), 2^p)
//! for normal results and in (0, 2^(p-1)) for subnormal ones. M is rounded to the nearest integer,
//! ties to even (IEEE 754 roundTiesToEven); a carry to 2^p bumps e. If e then exceeds e_max the
//! result is infinity (IEEE overflow under round-to-nearest). The encoding is
//! sign | biased exponent | fraction, with biased exponent 0 for subnormals.
//!
//! One division of big integers per value: O(M(n)) for operands of n bits.

use super::Rational;
use num_bigint::BigInt;
use num_integer::Integer as _;
use num_traits::{One, Signed, Zero};

/// A binary floating-point format, described by its precision and exponent width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FloatFormat {
    /// Significand bits including the implicit leading bit (53 for f64).
    pub precision: u32,
    /// Exponent field width in bits (11 for f64).
    pub exponent_bits: u32,
}

impl FloatFormat {
    /// IEEE binary64 (`f64`).
    pub const F64: FloatFormat = FloatFormat {
        precision: 53,
        exponent_bits: 11,
    };
    /// IEEE binary32 (`f32`).
    pub const F32: FloatFormat = FloatFormat {
        precision: 24,
        exponent_bits: 8,
    };
    /// IEEE binary16 (`f16`, NumPy `float16`).
    pub const F16: FloatFormat = FloatFormat {
        precision: 11,
        exponent_bits: 5,
    };
    /// bfloat16: f32's exponent range with 8 bits of precision.
    pub const BF16: FloatFormat = FloatFormat {
        precision: 8,
        exponent_bits: 8,
    };
    /// NVIDIA TF32: f32's exponent range with 11 bits of precision (10 stored).
    pub const TF32: FloatFormat = FloatFormat {
        precision: 11,
        exponent_bits: 8,
    };

    /// Total width of the encoding in bits.
    pub fn width(self) -> u32 {
        1 + self.exponent_bits + self.precision - 1
    }

    /// The exponent bias B = 2^(w-1) - 1, which is also e_max.
    pub fn bias(self) -> i64 {
        (1i64 << (self.exponent_bits - 1)) - 1
    }

    /// The smallest exponent of a normal number, e_min = 1 - B.
    pub fn min_exponent(self) -> i64 {
        1 - self.bias()
    }

    /// The largest finite value, (2 - 2^(1-p)) 2^e_max, exactly.
    pub fn max_finite(self) -> Rational {
        let p = i64::from(self.precision);
        let m = (BigInt::one() << self.precision as usize) - BigInt::one();
        super::convert::rational_from_parts(m, self.bias() + 1 - p)
    }
}

/// floor(log2(n / d)) for positive integers n, d.
fn floor_log2_ratio(n: &BigInt, d: &BigInt) -> i64 {
    let estimate = n.bits() as i64 - d.bits() as i64;
    // n / d lies in [2^(estimate-1), 2^(estimate+1)); decide which half by one comparison.
    let (lhs, rhs) = if estimate >= 0 {
        (n.clone(), d << estimate as usize)
    } else {
        (n << (-estimate) as usize, d.clone())
    };
    if lhs >= rhs {
        estimate
    } else {
        estimate - 1
    }
}

/// The bits of `q` correctly rounded (to nearest, ties to even) into `format`, in the low
/// `format.width()` bits of the result. Zero maps to +0.
pub fn round_to_bits(q: &Rational, format: FloatFormat) -> u64 {
    if q.is_zero() {
        return 0;
    }
    let negative = q.is_negative();
    let n = q.numer().abs();
    let d = q.denom().clone();
    let p = i64::from(format.precision);
    let e_max = format.bias();
    let e_min = 1 - e_max;

    let mut e = floor_log2_ratio(&n, &d).max(e_min);
    // M = |q| * 2^(p-1-e) as quotient and remainder.
    let shift = p - 1 - e;
    let (num, den) = if shift >= 0 {
        (n << shift as usize, d)
    } else {
        (n, d << (-shift) as usize)
    };
    let (mut m, r) = num.div_rem(&den);
    let twice_r: BigInt = r << 1usize;
    if twice_r > den || (twice_r == den && m.is_odd()) {
        m += 1;
    }
    let implicit = BigInt::one() << (p - 1) as usize;
    if m == (&implicit << 1usize) {
        m >>= 1usize;
        e += 1;
    }
    let sign_bit = u64::from(negative) << (format.width() - 1);
    let fraction_bits = format.precision - 1;
    if e > e_max {
        let infinity_exponent = (1u64 << format.exponent_bits) - 1;
        return sign_bit | (infinity_exponent << fraction_bits);
    }
    let (biased, fraction) = if m >= implicit {
        ((e + e_max) as u64, m - implicit)
    } else {
        (0u64, m)
    };
    let fraction = u64::try_from(fraction).expect("fraction fits in the format");
    sign_bit | (biased << fraction_bits) | fraction
}

/// The bits of (-1)^negative * magnitude * 2^k correctly rounded (to nearest, ties to even)
/// into `format`, as [`round_to_bits`] gives them for that rational, without big-number
/// arithmetic: O(1). Scaled integer results (an integer times a power of two) round this way.
pub fn round_dyadic_to_bits(negative: bool, magnitude: u128, k: i64, format: FloatFormat) -> u64 {
    if magnitude == 0 {
        return 0;
    }
    let p = i64::from(format.precision);
    let bits = 128 - i64::from(magnitude.leading_zeros());
    let mut e = (bits - 1 + k).max(format.min_exponent());
    // M = magnitude 2^(k - (e - (p - 1))), rounded; a right shift keeps quotient and remainder.
    let shift = e - (p - 1) - k;
    let mut m = if shift <= 0 {
        // bits <= p here (e >= bits - 1 + k), so M < 2^p.
        magnitude << (-shift) as u32
    } else if shift > 128 {
        0
    } else {
        let (q, rem) = if shift == 128 {
            (0, magnitude)
        } else {
            (magnitude >> shift, magnitude & ((1u128 << shift) - 1))
        };
        let half = 1u128 << (shift - 1);
        if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    let implicit = 1u128 << (p - 1);
    if m == implicit << 1 {
        m >>= 1;
        e += 1;
    }
    let sign_bit = u64::from(negative) << (format.width() - 1);
    let fraction_bits = format.precision - 1;
    if e > format.bias() {
        let infinity_exponent = (1u64 << format.exponent_bits) - 1;
        return sign_bit | (infinity_exponent << fraction_bits);
    }
    let (biased, fraction) = if m >= implicit {
        ((e + format.bias()) as u64, (m - implicit) as u64)
    } else {
        (0, m as u64)
    };
    sign_bit | (biased << fraction_bits) | fraction
}

/// (-1)^negative magnitude 2^k correctly rounded into `format`, as the f64 holding that value:
/// `f64_from_format_bits(round_dyadic_to_bits(..))`, by the processor's own rounding where
/// that is provably the same.
///
/// Round to odd (`proofs/exact.md`, E8): cut the magnitude to its top q bits and set the last
/// one when any dropped bit is set. For q >= p + 2 that changes nothing under a later rounding
/// to nearest at precision p (Boldo and Melquiond, "Emulation of FMA and correctly rounded
/// sums: proved algorithms using rounding to odd", IEEE TC 2008), also when that rounding
/// lands in the subnormal range (fewer than p bits). So:
/// - binary32: q = 53; the cut value m 2^s is an f64 exactly when its leading bit's exponent
///   is in [-1022, 1023], and `as f32` rounds it to nearest, ties to even, with subnormals and
///   overflow to infinity as IEEE 754 says;
/// - binary64: q = 63; `m as f64` rounds m to 53 bits, and multiplying by 2^s is exact while
///   the result stays normal (its leading exponent in [-1022, 1022]), overflow going to
///   infinity as the rounding would.
///
/// Everything else (other formats, results near f64's range limits) goes through
/// [`round_dyadic_to_bits`]. O(1).
pub fn round_dyadic_to_value(negative: bool, magnitude: u128, k: i64, format: FloatFormat) -> f64 {
    let general =
        || f64_from_format_bits(round_dyadic_to_bits(negative, magnitude, k, format), format);
    let q = match format {
        FloatFormat::F32 => 53,
        FloatFormat::F64 => 63,
        _ => return general(),
    };
    if magnitude == 0 {
        return general();
    }
    let bits = 128 - i64::from(magnitude.leading_zeros());
    let drop = (bits - q).max(0);
    let mut m = (magnitude >> drop) as u64;
    if drop > 0 && magnitude & ((1u128 << drop) - 1) != 0 {
        m |= 1;
    }
    // value ~ m 2^s, leading bit at exponent (bits - drop - 1) + s = bits - 1 + k.
    let s = k + drop;
    let leading = bits - 1 + k;
    if !(-1022..=1022).contains(&leading) || s < -1074 {
        return general();
    }
    // 2^s as an f64 (s in [-1074, 1022]: a subnormal power below -1022).
    let power = if s >= -1022 {
        f64::from_bits(((s + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (s + 1074))
    };
    let value = match format {
        // m < 2^53: exact in f64, and so is the product (its leading exponent is normal).
        FloatFormat::F32 => f64::from((m as f64 * power) as f32),
        // m as f64 rounds to 53 bits; the product by 2^s is exact or overflows to infinity.
        _ => m as f64 * power,
    };
    if negative {
        -value
    } else {
        value
    }
}

/// [`round_dyadic_to_value`] for 128-bit integers (|v| <= 2^127) sharing one exponent k: the
/// rounding of v 2^k into binary32 or binary64 as a function of v, without branches on the
/// value; None for other formats and for k outside [-1022, 895].
///
/// Every non-zero v 2^k then has its leading exponent in [k, 127 + k] within f64's normal
/// range [-1022, 1022] (and a carry of the rounding stays below 2^1024), so scaling by powers
/// of two is exact. |v| is first rounded to odd at
/// q bits (its top q bits, the last one set when a dropped bit is set), q = 63 for binary64
/// and 53 for binary32: an integer m below 2^q times 2^d. binary64: `m as f64` rounds to
/// nearest even at 53 bits; binary32: `m as f64` is exact and `as f32` rounds to nearest even
/// at 24 bits, subnormals and overflow included. Either way q >= p + 2, so by the argument of
/// [`round_dyadic_to_value`] the two roundings give the one correct rounding of v 2^k; the
/// sign by symmetry. O(1).
pub fn scaled_i128_rounding(k: i64, format: FloatFormat) -> Option<impl Fn(i128) -> f64> {
    let (single, q) = match format {
        FloatFormat::F32 => (true, 53u32),
        FloatFormat::F64 => (false, 63u32),
        _ => return None,
    };
    if !(-1022..=895).contains(&k) {
        return None;
    }
    let power = f64::from_bits(((k + 1023) as u64) << 52);
    Some(move |v: i128| {
        let a = v.unsigned_abs();
        let drop = (128 - q).saturating_sub(a.leading_zeros());
        let sticky = u128::from(a & ((1u128 << drop) - 1) != 0);
        let m = ((a >> drop) | sticky) as i64;
        let cut = f64::from_bits((u64::from(drop) + 1023) << 52);
        let r = m as f64 * cut * power;
        let r = if single { f64::from(r as f32) } else { r };
        if v < 0 {
            -r
        } else {
            r
        }
    })
}

/// The value of a float of `format` given by its bits (the low `format.width()` bits), as
/// the f64 that holds it exactly (every format here fits in f64); infinities stay infinite.
pub fn f64_from_format_bits(bits: u64, format: FloatFormat) -> f64 {
    match format {
        FloatFormat::F64 => f64::from_bits(bits),
        FloatFormat::F32 => f64::from(f32::from_bits(bits as u32)),
        _ => match super::convert::decode(bits, format.precision, format.exponent_bits) {
            Ok((negative, m, e)) => {
                // m < 2^p <= 2^24 and e >= -149 - 23: the product is exact in f64.
                let v = m as f64 * 2f64.powi(e as i32);
                if negative {
                    -v
                } else {
                    v
                }
            }
            Err(super::convert::ConversionError::Infinite { negative: true }) => f64::NEG_INFINITY,
            Err(super::convert::ConversionError::Infinite { negative: false }) => f64::INFINITY,
            Err(_) => f64::NAN,
        },
    }
}

/// `q` correctly rounded into `format`, as an exact rational (`None` when it overflows to
/// infinity). `round_to_format(q, f) == q` says that q is representable in f.
pub fn round_to_format(q: &Rational, format: FloatFormat) -> Option<Rational> {
    super::convert::rational_from_format_bits(round_to_bits(q, format), format).ok()
}

/// `q` correctly rounded to `f64`.
pub fn round_to_f64(q: &Rational) -> f64 {
    f64::from_bits(round_to_bits(q, FloatFormat::F64))
}

/// `q` correctly rounded to `f32`.
pub fn round_to_f32(q: &Rational) -> f32 {
    f32::from_bits(round_to_bits(q, FloatFormat::F32) as u32)
}

/// `q` correctly rounded to IEEE binary16, as its 16 bits (no crate needed for a storage type:
/// Rust's own `f16` is not stable yet).
pub fn round_to_f16(q: &Rational) -> u16 {
    round_to_bits(q, FloatFormat::F16) as u16
}

/// `q` correctly rounded to bfloat16, as its 16 bits; `f32::from_bits((b as u32) << 16)` is the
/// same value as an f32.
pub fn round_to_bf16(q: &Rational) -> u16 {
    round_to_bits(q, FloatFormat::BF16) as u16
}

/// `q` correctly rounded to TF32 (round to nearest), returned as the `f32` that holds it
/// (TF32 values are the f32 values whose 13 low fraction bits are zero).
pub fn round_to_tf32(q: &Rational) -> f32 {
    let bits = round_to_bits(q, FloatFormat::TF32) as u32;
    f32::from_bits(bits << 13)
}

/// A magnitude below 2^127 for the rounding tests: of a random width; for one `case` in four
/// a tie at 24 or 53 bits, for one in sixteen just above that tie by a bit below the 53 or 63
/// kept before the final rounding (only the sticky bit tells them apart).
#[cfg(test)]
pub(crate) fn test_magnitude(next: &mut impl FnMut() -> u64, case: u32) -> i128 {
    let width = 1 + (next() % 127) as u32;
    let random = u128::from(next()) << 64 | u128::from(next());
    let mut v = (random >> (128 - width)) as i128;
    if case.is_multiple_of(4) && width > 25 {
        let p = if case.is_multiple_of(8) {
            24
        } else {
            53.min(width - 1)
        };
        let low = width - p;
        v = (v >> low << low) | (1i128 << (low - 1));
        if case % 16 == 8 {
            v |= 1;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::super::convert::{rational_from_f32, rational_from_f64, rational_from_parts};
    use super::*;

    /// Exhaustively for binary16: every magnitude below 2^13 (up to two bits beyond the 11 of
    /// precision, so every case: exact, below, at and above the halfway point, odd and even)
    /// times every power of two from 2^-37 (below half the smallest subnormal, 2^-24) to 2^17
    /// (beyond the largest finite value, 65504), both signs: the machine-integer rounding gives
    /// the rational rounding's bits.
    #[test]
    fn dyadic_rounding_is_exhaustively_right_for_binary16() {
        let format = FloatFormat::F16;
        for k in -37..=17i64 {
            for magnitude in 1..(1u128 << 13) {
                let q = rational_from_parts(BigInt::from(magnitude), k);
                let expected = round_to_bits(&q, format);
                assert_eq!(
                    round_dyadic_to_bits(false, magnitude, k, format),
                    expected,
                    "{magnitude} 2^{k}"
                );
                let negative = round_to_bits(&-q, format);
                assert_eq!(round_dyadic_to_bits(true, magnitude, k, format), negative);
            }
        }
    }

    /// A xorshift generator (the tests' fixed pseudo-random data).
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// The rounding of 128-bit integers agrees with the general dyadic rounding bit for bit at
    /// the edges of binary32 and binary64, ties and near-ties included, and on i128::MIN.
    #[test]
    fn scaled_i128_rounding_agrees_at_the_binary32_and_binary64_boundaries() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        // Exponents that put v 2^k among binary32's subnormals and its overflow, binary64's
        // subnormal edge and its largest values; magnitudes of every width up to 127 bits,
        // one in four a tie at 24 or 53 bits, some of those just above the tie by a bit below
        // the 53 or 63 kept before the final rounding: only the sticky bit tells them apart.
        let ks = (-215..=130).chain(-1022..=-950).chain(830..=895);
        for k in ks {
            for case in 0..64 {
                let v = test_magnitude(&mut next, case);
                let negative = next() & 1 == 1;
                for format in [FloatFormat::F32, FloatFormat::F64] {
                    let round = scaled_i128_rounding(k, format).expect("k in range");
                    let got = round(if negative { -v } else { v });
                    let bits = round_dyadic_to_bits(negative, v as u128, k, format);
                    let expected = f64_from_format_bits(bits, format);
                    if v != 0 {
                        assert_eq!(got.to_bits(), expected.to_bits(), "{v} 2^{k} {format:?}");
                    }
                }
            }
        }
        for k in [-1022, -149, 0, 895] {
            for format in [FloatFormat::F32, FloatFormat::F64] {
                let got = scaled_i128_rounding(k, format).expect("k in range")(i128::MIN);
                let bits = round_dyadic_to_bits(true, 1u128 << 127, k, format);
                let expected = f64_from_format_bits(bits, format);
                assert_eq!(got.to_bits(), expected.to_bits(), "-2^127 2^{k} {format:?}");
            }
        }
        assert!(scaled_i128_rounding(-1023, FloatFormat::F32).is_none());
        assert!(scaled_i128_rounding(896, FloatFormat::F64).is_none());
        assert!(scaled_i128_rounding(0, FloatFormat::F16).is_none());
    }

    /// The machine-integer rounding agrees with the rational one on every format, over
    /// magnitudes of every width, exponents across the subnormal, normal and overflow ranges,
    /// and exact ties.
    #[test]
    fn dyadic_rounding_agrees_with_the_rational_rounding() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let formats = [
            FloatFormat::F64,
            FloatFormat::F32,
            FloatFormat::F16,
            FloatFormat::BF16,
            FloatFormat::TF32,
        ];
        for case in 0..20000 {
            let width = 1 + (next() % 127) as u32;
            let mut magnitude = (u128::from(next()) << 64 | u128::from(next())) >> (128 - width);
            if case % 7 == 0 {
                // A tie: an odd number of kept bits followed by 1000...
                magnitude = (magnitude | 1) << (next() % 40);
                magnitude |= 1u128 << (magnitude.trailing_zeros().saturating_sub(1));
            }
            let k = (next() % 2400) as i64 - 1300;
            let negative = next() & 1 == 1;
            let q = rational_from_parts(BigInt::from(magnitude), k);
            let q = if negative { -q } else { q };
            for format in formats {
                let bits = round_dyadic_to_bits(negative, magnitude, k, format);
                assert_eq!(
                    bits,
                    round_to_bits(&q, format),
                    "{magnitude} 2^{k} in {format:?}"
                );
                if let (Some(round), Ok(v)) =
                    (scaled_i128_rounding(k, format), i128::try_from(magnitude))
                {
                    let v = if negative { -v } else { v };
                    let fast = round(v);
                    let expected = f64_from_format_bits(bits, format);
                    // v = 0 has no sign: +0.
                    if v != 0 {
                        assert_eq!(
                            fast.to_bits(),
                            expected.to_bits(),
                            "{v} 2^{k} in {format:?}"
                        );
                    }
                }
                let value = round_dyadic_to_value(negative, magnitude, k, format);
                let expected = f64_from_format_bits(bits, format);
                assert_eq!(
                    value.to_bits(),
                    expected.to_bits(),
                    "{magnitude} 2^{k} in {format:?}"
                );
            }
        }
    }

    fn pow2(e: i64) -> Rational {
        rational_from_parts(BigInt::one(), e)
    }
    fn int(v: i64) -> Rational {
        Rational::from_integer(BigInt::from(v))
    }

    #[test]
    fn ties_go_to_even_in_f64() {
        // 1 + 2^-53 is halfway between 1 and 1 + 2^-52: even is 1.
        assert_eq!(round_to_f64(&(int(1) + pow2(-53))), 1.0);
        // 1 + 3 * 2^-53 is halfway between 1 + 2^-52 (odd) and 1 + 2^-51 (even).
        assert_eq!(
            round_to_f64(&(int(1) + int(3) * pow2(-53))),
            1.0 + 2f64.powi(-51)
        );
        // Just above the tie rounds up.
        assert_eq!(
            round_to_f64(&(int(1) + pow2(-53) + pow2(-200))),
            1.0 + 2f64.powi(-52)
        );
        // Negative ties mirror positive ones.
        assert_eq!(round_to_f64(&-(int(1) + pow2(-53))), -1.0);
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: 2^53 is even.
        assert_eq!(round_to_f64(&int((1i64 << 53) + 1)), 9007199254740992.0);
        assert_eq!(round_to_f64(&int((1i64 << 53) + 3)), 9007199254740996.0);
    }

    #[test]
    fn thirds_and_tenths() {
        let third = Rational::new(BigInt::from(1), BigInt::from(3));
        assert_eq!(round_to_f64(&third), 1.0 / 3.0);
        assert_eq!(round_to_f32(&third), 1.0f32 / 3.0);
        let tenth = Rational::new(BigInt::from(1), BigInt::from(10));
        assert_eq!(round_to_f64(&tenth), 0.1);
        assert_eq!(round_to_f32(&tenth), 0.1f32);
        assert_eq!(round_to_f16(&tenth), 0x2E66);
        assert_eq!(round_to_bf16(&tenth), 0x3DCD);
    }

    #[test]
    fn overflow_goes_to_infinity_exactly_at_the_threshold() {
        // f64: the threshold is 2^1024 - 2^970 (max + half an ulp); below it stays max.
        let threshold = pow2(1024) - pow2(970);
        assert_eq!(round_to_f64(&threshold), f64::INFINITY);
        assert_eq!(round_to_f64(&(threshold.clone() - pow2(-10))), f64::MAX);
        assert_eq!(round_to_f64(&-threshold), f64::NEG_INFINITY);
        // f16: max 65504, threshold 65520.
        assert_eq!(round_to_f16(&int(65519)), 0x7BFF); // 65504
        assert_eq!(round_to_f16(&int(65520)), 0x7C00); // +infinity
                                                       // bf16: same range as f32, max (2^8 - 1) 2^120, threshold max + 2^119.
        let bf16_max = int(255) * pow2(120);
        assert_eq!(round_to_bf16(&bf16_max), 0x7F7F);
        assert_eq!(round_to_bf16(&(bf16_max + pow2(119))), 0x7F80); // +infinity
                                                                    // f32: max + half ulp ties to even, which is 2^128: overflow.
        let f32_max = rational_from_f32(f32::MAX).unwrap();
        assert_eq!(round_to_f32(&(f32_max.clone() + pow2(103))), f32::INFINITY);
        assert_eq!(round_to_f32(&(f32_max + pow2(102))), f32::MAX);
    }

    #[test]
    fn subnormals_round_correctly() {
        // Half the smallest f64 subnormal is a tie between 0 (even) and 2^-1074.
        assert_eq!(round_to_f64(&pow2(-1075)).to_bits(), 0);
        // Three quarters of it rounds up to it; 3/2 of it ties to 2 * 2^-1074 (even).
        assert_eq!(round_to_f64(&(int(3) * pow2(-1076))).to_bits(), 1);
        assert_eq!(round_to_f64(&(int(3) * pow2(-1075))).to_bits(), 2);
        // The largest subnormal rounds up into the smallest normal when it should.
        let below_min_normal = pow2(-1022) - pow2(-1075);
        assert_eq!(round_to_f64(&below_min_normal), f64::MIN_POSITIVE);
        // f16: smallest subnormal 2^-24, smallest normal 2^-14.
        assert_eq!(round_to_f16(&pow2(-24)), 1);
        assert_eq!(round_to_f16(&pow2(-25)), 0);
        assert_eq!(round_to_f16(&(int(3) * pow2(-26))), 1);
        assert_eq!(round_to_f16(&pow2(-14)), 0x0400);
        // Negative subnormal keeps its sign.
        assert_eq!(round_to_f32(&-pow2(-149)).to_bits(), 0x8000_0001);
        // bf16 smallest subnormal is 2^-133.
        assert_eq!(round_to_bf16(&pow2(-133)), 1);
    }

    #[test]
    fn tf32_keeps_ten_fraction_bits() {
        assert_eq!(round_to_tf32(&(int(1) + pow2(-10))), 1.0 + 2f32.powi(-10));
        assert_eq!(round_to_tf32(&(int(1) + pow2(-11))), 1.0);
        assert_eq!(
            round_to_tf32(&(int(1) + int(3) * pow2(-11))),
            1.0 + 2f32.powi(-9)
        );
    }

    #[test]
    fn round_trip_of_floats_is_identity() {
        for v in [
            1.0,
            -2.5,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            0.1,
            1e300,
            -7e-310,
        ] {
            assert_eq!(round_to_f64(&rational_from_f64(v).unwrap()), v);
        }
        for v in [1.0f32, f32::MAX, f32::MIN_POSITIVE, 1e-45, 0.3] {
            assert_eq!(round_to_f32(&rational_from_f32(v).unwrap()), v);
        }
    }

    proptest::proptest! {
        // Rust's `f64 as f32` is correctly rounded (to nearest, ties to even) from the exact f64
        // value: an independent oracle for f32. (f16 and bf16 are checked exhaustively below.)
        #[test]
        fn narrowing_f64_matches_the_cast(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            proptest::prop_assume!(v.is_finite() && v != 0.0);
            let q = rational_from_f64(v).unwrap();
            proptest::prop_assert_eq!(round_to_f64(&q).to_bits(), v.to_bits());
            proptest::prop_assert_eq!(round_to_f32(&q).to_bits(), (v as f32).to_bits());
        }

        #[test]
        fn narrowing_f32_round_trips(bits in proptest::num::u32::ANY) {
            let v = f32::from_bits(bits);
            proptest::prop_assume!(v.is_finite() && v != 0.0);
            let q = rational_from_f32(v).unwrap();
            proptest::prop_assert_eq!(round_to_f32(&q).to_bits(), v.to_bits());
        }
    }

    /// Exhaustive check of a 16-bit format: every finite value rounds to itself, and around
    /// every gap between neighbours a and b, values just above a and just below b round to
    /// them and the midpoint goes to the one with the even bit pattern; past the largest value
    /// the threshold max + ulp/2 goes to infinity. Only the order of the rationals is used, so
    /// this is an oracle independent of any other conversion code.
    fn check_16_bit_format(
        format: FloatFormat,
        exact: fn(u16) -> Result<Rational, crate::scalar::ConversionError>,
        round: fn(&Rational) -> u16,
        infinity: u16,
    ) {
        let finite: Vec<(u16, Rational)> = (0..infinity)
            .map(|bits| (bits, exact(bits).unwrap()))
            .collect();
        for (bits, q) in &finite {
            assert_eq!(round(q), *bits, "{format:?} {bits:#06x}");
            assert_eq!(
                round(&-q.clone()),
                if *bits == 0 { 0 } else { bits | 0x8000 }
            );
        }
        for pair in finite.windows(2) {
            let ((a_bits, a), (b_bits, b)) = (&pair[0], &pair[1]);
            let quarter = (b.clone() - a.clone()) / int(4);
            let middle = (a.clone() + b.clone()) / int(2);
            assert_eq!(round(&(a.clone() + quarter.clone())), *a_bits);
            assert_eq!(round(&(b.clone() - quarter)), *b_bits);
            let even = if a_bits % 2 == 0 { a_bits } else { b_bits };
            assert_eq!(
                round(&middle),
                *even,
                "{format:?} tie between {a_bits:#06x} and {b_bits:#06x}"
            );
        }
        let (max_bits, max) = finite.last().unwrap();
        let below = finite[finite.len() - 2].1.clone();
        let threshold = max.clone() + (max.clone() - below) / int(2);
        assert_eq!(round(&threshold), infinity);
        assert_eq!(round(&(threshold - pow2(-200))), *max_bits);
    }

    #[test]
    fn every_f16_and_bf16_boundary_rounds_correctly() {
        use crate::scalar::{rational_from_bf16, rational_from_f16};
        check_16_bit_format(FloatFormat::F16, rational_from_f16, round_to_f16, 0x7C00);
        check_16_bit_format(FloatFormat::BF16, rational_from_bf16, round_to_bf16, 0x7F80);
    }
}
