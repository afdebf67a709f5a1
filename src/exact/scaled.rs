//! Exact tensors as integers times one common scale.
//!
//! Every finite binary float is m 2^e with an integer m, so a tensor of floats is exactly
//! 2^e_min times a tensor of integers m_i 2^(e_i - e_min); a tensor of rationals is 1/D times a
//! tensor of integers, D the least common multiple of the denominators. The fast engine
//! convolves the integers and applies the scale once at the end (as FLINT's `fmpq_poly` keeps one
//! denominator per polynomial).

use super::modular::{residue_big, symmetric, Modulus};
use super::ExactError;
use crate::scalar::convert::decode;
use crate::scalar::{Integer, Rational};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use num_integer::Integer as _;
use num_traits::{One, Signed, Zero};
use rayon::prelude::*;

/// An integer mantissa * 2^shift: one element of a float tensor scaled to integers, without
/// materialising the (possibly hundreds of bits wide) integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dyadic {
    /// The significand with its sign (|mantissa| < 2^53 for floats, any i64 for integers).
    pub mantissa: i64,
    /// The power of two it is multiplied by.
    pub shift: u32,
}

impl Dyadic {
    /// The bit length of |mantissa * 2^shift| (0 for zero).
    pub fn bits(self) -> u64 {
        if self.mantissa == 0 {
            0
        } else {
            u64::from(64 - self.mantissa.unsigned_abs().leading_zeros()) + u64::from(self.shift)
        }
    }

    /// The integer mantissa * 2^shift.
    pub fn to_integer(self) -> Integer {
        Integer::from(self.mantissa) << self.shift as usize
    }
}

/// The integers of a [`ScaledTensor`], in the narrowest storage that holds them.
#[derive(Debug, Clone, PartialEq)]
pub enum Integers {
    /// mantissa * 2^shift per element (float inputs whose integers are wider than 63 bits,
    /// machine integers).
    Dyadic(ArrayD<Dyadic>),
    /// Integers below 2^63 in magnitude, as they are (float inputs whose exponents span few
    /// bits: half the memory of [`Integers::Dyadic`]).
    Narrow(ArrayD<i64>),
    /// Integers below 2^127 in magnitude (results reconstructed in 128-bit arithmetic).
    Wide(ArrayD<i128>),
    /// Arbitrary integers (rational inputs with large numerators, very wide results).
    Big(ArrayD<Integer>),
}

/// An exact tensor: value\[i\] = integers\[i\] * scale, with one positive rational scale.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaledTensor {
    /// The integers, in C order.
    pub integers: Integers,
    /// The common scale (a power of two for float data, 1/D for rationals).
    pub scale: Rational,
}

fn not_finite(index: usize, shape: &[usize], value: String) -> ExactError {
    ExactError::NotFinite {
        index: crate::index::unravel(index, shape),
        value,
    }
}

/// The fields of a binary float format's encoding, read branch-free.
#[derive(Clone, Copy)]
struct Fields {
    /// Fraction bits (precision - 1).
    fraction: u32,
    /// The biased exponent's mask (all ones: NaN or infinity).
    exponent_mask: u64,
    /// The sign bit's position.
    sign: u32,
    /// bias + fraction bits: e = max(biased, 1) - this.
    offset: i64,
}

impl Fields {
    fn new(precision: u32, exponent_bits: u32) -> Fields {
        Fields {
            fraction: precision - 1,
            exponent_mask: (1 << exponent_bits) - 1,
            sign: precision - 1 + exponent_bits,
            offset: (1i64 << (exponent_bits - 1)) - 1 + i64::from(precision - 1),
        }
    }

    /// (m, e, non-finite) with |value| = m 2^e for a finite value (m < 2^precision; the
    /// implicit bit set for normal numbers, e = 1 - bias - fraction bits for subnormals).
    #[inline(always)]
    fn split(self, bits: u64) -> (u64, i64, bool) {
        let biased = (bits >> self.fraction) & self.exponent_mask;
        let fraction = bits & ((1 << self.fraction) - 1);
        let normal = u64::from(biased != 0);
        let m = fraction | (normal << self.fraction);
        let e = biased.max(1) as i64 - self.offset;
        (m, e, biased == self.exponent_mask)
    }

    /// Every bit of the encoding but the sign.
    #[inline(always)]
    fn magnitude_mask(self) -> u64 {
        (1 << self.sign) - 1
    }
}

/// k for p = 2^k with k <= 52, from the exponent of the f64 (2^53 + 2p) - 2^53 = 2p (exact;
/// p's bits placed in 2^53's fraction, whose last place is 2); a value below 0 for p = 0.
/// Without a branch or a bit scan, so that a loop over many values runs on the vector units.
#[inline(always)]
fn exponent_of_power_of_two(p: u64) -> i64 {
    const TWO_POW_53: f64 = 9_007_199_254_740_992.0;
    let twice = f64::from_bits(TWO_POW_53.to_bits() | p) - TWO_POW_53;
    (twice.to_bits() >> 52) as i64 - 1024
}

impl ScaledTensor {
    /// Scales floats given by their bits (precision p and exponent width of the format) to
    /// integers: value = (-1)^s m 2^e exactly; trailing zero bits of m are moved into e so that
    /// the common exponent e_min is as large as possible (fewer bits per integer).
    fn from_float_bits<T: Copy + Send + Sync>(
        values: ArrayViewD<'_, T>,
        to_bits: impl Fn(T) -> u64 + Sync,
        precision: u32,
        exponent_bits: u32,
        describe: impl Fn(u64) -> String,
    ) -> Result<ScaledTensor, ExactError> {
        // (sign, odd significand or 0, exponent) of one float.
        let parts = |v: T| {
            decode(to_bits(v), precision, exponent_bits).map(|(negative, m, e)| {
                let tz = if m == 0 { 0 } else { m.trailing_zeros() };
                let m = (m >> tz) as i64;
                (if negative { -m } else { m }, e + i64::from(tz))
            })
        };
        let data = values.as_slice().map_or_else(
            || std::borrow::Cow::Owned(values.iter().copied().collect()),
            std::borrow::Cow::Borrowed,
        );
        let fields = Fields::new(precision, exponent_bits);
        // Pass 1, branch-free over slices on the vector units (the dynamic-rank iterator and
        // a branch per value cost more than the decoding): the lowest set bit's exponent
        // e + tz(m) over the non-zero values, and the largest magnitude's encoding (floats
        // order as their encodings without the sign; NaN and infinity above every finite
        // value). In parallel (the current rayon pool) where that pays ([`crate::parallel::worth_a_pool`]).
        let none = (i64::MAX, 0u64);
        let extremes = |chunk: &[T]| {
            crate::simd::on_vector_units(|| {
                let (mut low, mut largest) = none;
                for &v in chunk {
                    let bits = to_bits(v);
                    let (m, e, _) = fields.split(bits);
                    let lsb = e + exponent_of_power_of_two(m & m.wrapping_neg());
                    low = low.min(if m == 0 { i64::MAX } else { lsb });
                    largest = largest.max(bits & fields.magnitude_mask());
                }
                (low, largest)
            })
        };
        let join = |a: (i64, u64), b: (i64, u64)| (a.0.min(b.0), a.1.max(b.1));
        let (e_min, largest) =
            crate::parallel::fold_chunks(&data, PARALLEL_GRAIN, none, extremes, join);
        let (m, e, refused) = fields.split(largest);
        if refused {
            // The first non-finite value, found again in order.
            let (i, &v) = (data.iter().enumerate())
                .find(|&(_, &v)| parts(v).is_err())
                .expect("a value that does not decode");
            return Err(not_finite(i, values.shape(), describe(to_bits(v))));
        }
        let top = if m == 0 {
            i64::MIN
        } else {
            e + i64::from(64 - m.leading_zeros())
        };
        let e_min = if e_min == i64::MAX { 0 } else { e_min };
        let scale = crate::scalar::rational_from_parts(Integer::one(), e_min);
        // Pass 2: m 2^(e - e_min) per value (decoding again is cheaper than keeping the first
        // pass's results in a buffer as large as the input); as i64 when every one is below
        // 2^63 (top - e_min <= 63 bits).
        if top - e_min <= 63 {
            let mut integers = vec![0i64; data.len()];
            let scale_chunk = |(out, chunk): (&mut [i64], &[T])| {
                crate::simd::on_vector_units(|| {
                    for (o, &v) in out.iter_mut().zip(chunk) {
                        let bits = to_bits(v);
                        let (m, e, _) = fields.split(bits);
                        // e < e_min when m's trailing zeros reach below e_min: then they
                        // are shifted out (exactly).
                        let d = e - e_min;
                        let magnitude = if d >= 0 {
                            m << d.min(63)
                        } else {
                            m >> (-d).min(63)
                        } as i64;
                        let sign = -(((bits >> fields.sign) & 1) as i64); // 0 or -1
                        *o = (magnitude ^ sign) - sign;
                    }
                })
            };
            if crate::parallel::worth_a_pool(data.len()) {
                integers
                    .par_chunks_mut(PARALLEL_GRAIN)
                    .zip(data.par_chunks(PARALLEL_GRAIN))
                    .for_each(scale_chunk);
            } else {
                (integers.chunks_mut(PARALLEL_GRAIN))
                    .zip(data.chunks(PARALLEL_GRAIN))
                    .for_each(scale_chunk);
            }
            let integers = ArrayD::from_shape_vec(IxDyn(values.shape()), integers).expect("shape");
            return Ok(ScaledTensor {
                integers: Integers::Narrow(integers),
                scale,
            });
        }
        let integers: Vec<Dyadic> = data
            .par_iter()
            .with_min_len(PARALLEL_GRAIN)
            .map(|&v| {
                let (m, e) = parts(v).expect("finite (pass 1)");
                Dyadic {
                    mantissa: m,
                    shift: if m == 0 { 0 } else { (e - e_min) as u32 },
                }
            })
            .collect();
        let integers = ArrayD::from_shape_vec(IxDyn(values.shape()), integers).expect("shape");
        Ok(ScaledTensor {
            integers: Integers::Dyadic(integers),
            scale,
        })
    }

    /// The exact values of an f32 tensor; NaN and infinity are refused with their index.
    pub fn from_f32(values: ArrayViewD<'_, f32>) -> Result<ScaledTensor, ExactError> {
        Self::from_float_bits(
            values,
            |v: f32| u64::from(v.to_bits()),
            24,
            8,
            |b| f32::from_bits(b as u32).to_string(),
        )
    }

    /// The exact values of an f64 tensor; NaN and infinity are refused with their index.
    pub fn from_f64(values: ArrayViewD<'_, f64>) -> Result<ScaledTensor, ExactError> {
        Self::from_float_bits(values, f64::to_bits, 53, 11, |b| {
            f64::from_bits(b).to_string()
        })
    }

    /// The exact values of float32 (`single`) or float64 data given as little-endian bytes in
    /// C order (a `.npy` file's data read in place, without a copy of the values), of the
    /// given shape; NaN and infinity are refused with their index.
    ///
    /// # Panics
    /// When the bytes are not exactly the shape's elements.
    pub fn from_le_bytes(
        shape: &[usize],
        bytes: &[u8],
        single: bool,
    ) -> Result<ScaledTensor, ExactError> {
        let count: usize = shape.iter().product();
        if single {
            let (values, rest) = bytes.as_chunks::<4>();
            assert!(
                values.len() == count && rest.is_empty(),
                "4 bytes per element"
            );
            let values =
                ArrayViewD::from_shape(IxDyn(shape), values).expect("the shape's elements");
            Self::from_float_bits(
                values,
                |b: [u8; 4]| u64::from(u32::from_le_bytes(b)),
                24,
                8,
                |b| f32::from_bits(b as u32).to_string(),
            )
        } else {
            let (values, rest) = bytes.as_chunks::<8>();
            assert!(
                values.len() == count && rest.is_empty(),
                "8 bytes per element"
            );
            let values =
                ArrayViewD::from_shape(IxDyn(shape), values).expect("the shape's elements");
            Self::from_float_bits(values, u64::from_le_bytes, 53, 11, |b| {
                f64::from_bits(b).to_string()
            })
        }
    }

    /// The exact values of an i64 tensor (scale 1).
    pub fn from_i64(values: ArrayViewD<'_, i64>) -> ScaledTensor {
        ScaledTensor {
            integers: Integers::Dyadic(values.mapv(|m| Dyadic {
                mantissa: m,
                shift: 0,
            })),
            scale: Rational::one(),
        }
    }

    /// Rationals over their least common denominator D: value = (value D) / D. Dyadic
    /// rationals (floats read exactly) whose odd parts fit in an i64 keep the mantissa-shift
    /// form of [`ScaledTensor::from_f64`] instead, with a power-of-two scale.
    pub fn from_rationals(values: ArrayViewD<'_, Rational>) -> ScaledTensor {
        Self::try_from_rationals(values, u64::MAX).expect("no limit")
    }

    /// [`ScaledTensor::from_rationals`], refused (with the limit's message) when the scaled
    /// integers would take more than `limit` bytes: n elements of (bits of the common
    /// denominator + bits of the widest numerator) bits each. The common denominator is the
    /// LCM of every denominator, so inputs with many unrelated denominators (1/p for many
    /// primes p) make every integer as wide as all of them together; the check runs as the
    /// LCM grows, before the integers are formed.
    pub fn try_from_rationals(
        values: ArrayViewD<'_, Rational>,
        limit: u64,
    ) -> Result<ScaledTensor, String> {
        if let Some(dyadic) = Self::dyadic_from_rationals(&values) {
            return Ok(dyadic);
        }
        let count = values.len() as u128;
        let numerator_bits = values.iter().map(|q| q.numer().bits()).max().unwrap_or(0);
        let mut denominator = Integer::one();
        for q in values.iter() {
            denominator = denominator.lcm(q.denom());
            let bytes = count * u128::from(denominator.bits() + numerator_bits + 64) / 8;
            if bytes > u128::from(limit) {
                return Err(format!(
                    "the exact inputs' common denominator has {} bits or more: their scaled integers need about {}, above the memory limit of {} (raise it with --memory-limit)",
                    denominator.bits(),
                    crate::limits::human(bytes),
                    crate::limits::human(u128::from(limit))
                ));
            }
        }
        let integers = values.mapv(|q| q.numer() * (&denominator / q.denom()));
        let integers = if integers.iter().all(|v| v.bits() < 64) {
            Integers::Dyadic(integers.mapv(|v| Dyadic {
                mantissa: i64::try_from(&v).expect("fits"),
                shift: 0,
            }))
        } else {
            Integers::Big(integers)
        };
        Ok(ScaledTensor {
            integers,
            scale: Rational::new(Integer::one(), denominator),
        })
    }

    /// q = m 2^e with m odd (or zero) in an i64 for every element, as Dyadic integers over
    /// 2^e_min; None when a denominator is not a power of two or an odd part is too wide.
    fn dyadic_from_rationals(values: &ArrayViewD<'_, Rational>) -> Option<ScaledTensor> {
        let mut parts = Vec::with_capacity(values.len());
        let mut e_min: Option<i64> = None;
        for q in values.iter() {
            if q.is_zero() {
                parts.push((0i64, 0i64));
                continue;
            }
            let d = q.denom();
            let d_exp = d.trailing_zeros().unwrap_or(0);
            if d.bits() != d_exp + 1 {
                return None;
            }
            let n = q.numer();
            let tz = n.trailing_zeros().unwrap_or(0);
            let m = i64::try_from(&(n >> tz as usize)).ok()?;
            let e = tz as i64 - d_exp as i64;
            e_min = Some(e_min.map_or(e, |low| low.min(e)));
            parts.push((m, e));
        }
        let e_min = e_min.unwrap_or(0);
        let integers = parts
            .into_iter()
            .map(|(m, e)| {
                let shift = if m == 0 {
                    0
                } else {
                    u32::try_from(e - e_min).ok()?
                };
                Some(Dyadic { mantissa: m, shift })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ScaledTensor {
            integers: Integers::Dyadic(
                ArrayD::from_shape_vec(IxDyn(values.shape()), integers).expect("shape"),
            ),
            scale: crate::scalar::rational_from_parts(Integer::one(), e_min),
        })
    }

    /// |value| elementwise (the same scale).
    pub fn abs(&self) -> ScaledTensor {
        let integers = match &self.integers {
            // -(i64::MIN) is not an i64.
            Integers::Dyadic(a) if in_c_order(a).iter().any(|d| d.mantissa == i64::MIN) => {
                Integers::Big(a.mapv(|d| d.to_integer().abs()))
            }
            Integers::Dyadic(a) => Integers::Dyadic(par_map(a, |d| Dyadic {
                mantissa: d.mantissa.abs(),
                ..*d
            })),
            Integers::Narrow(a) if in_c_order(a).contains(&i64::MIN) => {
                Integers::Wide(a.mapv(|v| i128::from(v).abs()))
            }
            Integers::Narrow(a) => Integers::Narrow(par_map(a, |v| v.abs())),
            Integers::Wide(a) => Integers::Wide(par_map(a, |v| v.abs())),
            Integers::Big(a) => Integers::Big(a.mapv(|v| v.abs())),
        };
        ScaledTensor {
            integers,
            scale: self.scale.clone(),
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match &self.integers {
            Integers::Dyadic(a) => a.shape(),
            Integers::Narrow(a) => a.shape(),
            Integers::Wide(a) => a.shape(),
            Integers::Big(a) => a.shape(),
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The largest bit length of the integers: every |integer| < 2^bits.
    pub fn bits(&self) -> u64 {
        match &self.integers {
            Integers::Dyadic(a) => in_c_order(a).iter().map(|d| d.bits()).max().unwrap_or(0),
            Integers::Narrow(a) => {
                u64::from(64 - Magnitudes::of(&in_c_order(a)).largest.leading_zeros())
            }
            Integers::Wide(a) => a
                .iter()
                .map(|v| u64::from(128 - v.unsigned_abs().leading_zeros()))
                .max()
                .unwrap_or(0),
            Integers::Big(a) => a.iter().map(|v| v.bits()).max().unwrap_or(0),
        }
    }

    /// The integers as i64, in C order, when every one is below 2^63 in magnitude.
    pub fn i64_values(&self) -> Option<Vec<i64>> {
        if self.bits() > 63 {
            return None;
        }
        Some(match &self.integers {
            // bits <= 63: the shift loses nothing.
            Integers::Dyadic(a) => a.iter().map(|d| d.mantissa << d.shift).collect(),
            Integers::Narrow(a) => in_c_order(a).into_owned(),
            Integers::Wide(a) => a.iter().map(|&v| v as i64).collect(),
            Integers::Big(a) => a
                .iter()
                .map(|v| i64::try_from(v).expect("below 2^63"))
                .collect(),
        })
    }

    /// The integers plus 2^bits as u64, in C order, when every one is below 2^bits <= 2^62 in
    /// magnitude (then each result is below 2^(bits + 1)); None otherwise.
    pub fn offset_u64(&self, bits: u64) -> Option<Vec<u64>> {
        if bits > 62 {
            return None;
        }
        let offset = 1i64 << bits;
        match &self.integers {
            // Every width checked first; bits <= 62: the shift and the sum lose nothing, and
            // the sum is positive.
            Integers::Dyadic(a) => {
                let a = in_c_order(a);
                let fits = a
                    .par_iter()
                    .with_min_len(PARALLEL_GRAIN)
                    .all(|d| d.bits() <= bits);
                // Collected by index straight into the result (an Option per element would
                // gather pieces and copy them).
                fits.then(|| {
                    a.par_iter()
                        .with_min_len(PARALLEL_GRAIN)
                        .map(|d| ((d.mantissa << d.shift) + offset) as u64)
                        .collect()
                })
            }
            Integers::Narrow(a) => {
                let a = in_c_order(a);
                let fits = a
                    .par_iter()
                    .with_min_len(PARALLEL_GRAIN)
                    .all(|v| v.unsigned_abs() >> bits == 0);
                fits.then(|| {
                    a.par_iter()
                        .with_min_len(PARALLEL_GRAIN)
                        .map(|&v| (v + offset) as u64)
                        .collect()
                })
            }
            _ if self.bits() > bits => None,
            _ => Some(
                self.i64_values()
                    .expect("below 2^62")
                    .into_iter()
                    .map(|v| (v + offset) as u64)
                    .collect(),
            ),
        }
    }

    /// Residues modulo the prime p of the integers, in C order.
    pub fn residues(&self, p: u64) -> Vec<u64> {
        match &self.integers {
            Integers::Dyadic(a) => {
                let max_shift = a.iter().map(|d| d.shift).max().unwrap_or(0);
                // 2^shift mod p for every shift that occurs, by repeated doubling.
                let mut powers = Vec::with_capacity(max_shift as usize + 1);
                let mut power = 1 % p;
                for _ in 0..=max_shift {
                    powers.push(power);
                    power = (power * 2) % p;
                }
                let m = Modulus::new(p);
                in_c_order(a)
                    .iter()
                    .map(|d| m.mul(m.residue_i64(d.mantissa), powers[d.shift as usize]))
                    .collect()
            }
            Integers::Narrow(a) => {
                let m = Modulus::new(p);
                in_c_order(a).iter().map(|&v| m.residue_i64(v)).collect()
            }
            Integers::Wide(a) => a
                .iter()
                .map(|&v| v.rem_euclid(i128::from(p)) as u64)
                .collect(),
            Integers::Big(a) => a.iter().map(|v| residue_big(v, p)).collect(),
        }
    }

    /// Symmetric residues modulo p as f64 (exact, |r| <= (p - 1) / 2), in C order.
    pub fn symmetric_residues(&self, p: u64) -> Vec<f64> {
        self.residues(p)
            .into_iter()
            .map(|r| symmetric(r, p))
            .collect()
    }

    /// The integers as f64 when every one is below 2^53 (exact), in C order.
    pub fn exact_f64(&self) -> Option<Vec<f64>> {
        if self.bits() > 53 {
            return None;
        }
        Some(match &self.integers {
            // mantissa * 2^shift is below 2^53, so both factors and the product are exact.
            Integers::Dyadic(a) => a
                .iter()
                .map(|d| d.mantissa as f64 * 2f64.powi(d.shift as i32))
                .collect(),
            Integers::Narrow(a) => a.iter().map(|&v| v as f64).collect(),
            Integers::Wide(a) => a.iter().map(|&v| v as f64).collect(),
            Integers::Big(a) => a
                .iter()
                .map(|v| i64::try_from(v).expect("below 2^53") as f64)
                .collect(),
        })
    }

    /// Limb i of the integers in base 2^width (1 <= width <= 53), as f64 in C order:
    /// v = sum_i limb_i(v) 2^(width i), where limb_i(v) carries the sign of v and
    /// |limb_i(v)| < 2^width is digit i of |v| in base 2^width.
    pub fn limb(&self, width: u32, i: usize) -> Vec<f64> {
        let mut limb = Vec::new();
        self.limb_into(width, i, &mut limb);
        limb
    }

    /// Limbs 0..outs.len() of the integers in base 2^width into `outs` (each cleared first,
    /// allocations reused): [`ScaledTensor::limb`] for every i, in one pass over the integers
    /// when they are i64 integers or mantissa-shift pairs of at most 64 + 63 bits (floats of
    /// one tensor) and the limbs cover at most 128 bits.
    pub fn limbs_into(&self, width: u32, outs: &mut [Vec<f64>]) {
        assert!((1..=53).contains(&width), "a limb fits in an f64");
        let within_u128 = outs.len() * width as usize <= 128;
        match &self.integers {
            Integers::Dyadic(a) if within_u128 && in_c_order(a).iter().all(|d| d.shift < 64) => {
                limbs_in_one_pass(&in_c_order(a), width, outs, |v| {
                    let magnitude = u128::from(v.mantissa.unsigned_abs()) << v.shift;
                    (magnitude, -i64::from(v.mantissa < 0))
                })
            }
            Integers::Narrow(a) if within_u128 => {
                limbs_in_one_pass(&in_c_order(a), width, outs, |&v| {
                    (u128::from(v.unsigned_abs()), -i64::from(v < 0))
                })
            }
            _ => {
                for (i, out) in outs.iter_mut().enumerate() {
                    self.limb_into(width, i, out);
                }
            }
        }
    }

    /// [`ScaledTensor::limb`] into `out` (cleared first; its allocation is reused).
    pub fn limb_into(&self, width: u32, i: usize, out: &mut Vec<f64>) {
        out.clear();
        assert!((1..=53).contains(&width), "a limb fits in an f64");
        let mask = (1u64 << width) - 1;
        let low = u64::from(width) * i as u64; // the limb's lowest bit
        let signed = |negative: bool, digit: u64| {
            // Below 2^53: exact. Branch-free (signs of data are unpredictable): negate through
            // the two's complement mask, then one i64 -> f64 conversion.
            let sign = -i64::from(negative); // 0 or -1
            (((digit as i64) ^ sign) - sign) as f64
        };
        // The shift of the u128 case: limbs from bit 128 on are zero there.
        let low_u128 = u32::try_from(low).ok().filter(|&l| l < 128);
        match &self.integers {
            Integers::Dyadic(a) => out.extend(in_c_order(a).iter().map(|v| {
                // |v| = m 2^shift: bits low.. of |v| are bits (low - shift).. of m.
                let m = v.mantissa.unsigned_abs();
                let shift = u64::from(v.shift);
                let digit = if shift < 64 {
                    // The whole integer fits u128.
                    low_u128.map_or(0, |l| ((u128::from(m) << shift) >> l) as u64)
                } else if low >= shift {
                    m.checked_shr((low - shift).try_into().unwrap_or(u32::MAX))
                        .unwrap_or(0)
                } else if shift - low >= u64::from(width) {
                    0
                } else {
                    // shift - low < width <= 53: the low bits of m, moved up.
                    (u128::from(m) << (shift - low)) as u64
                };
                signed(v.mantissa < 0, digit & mask)
            })),
            Integers::Narrow(a) => out.extend(in_c_order(a).iter().map(|&v| {
                let shifted = v
                    .unsigned_abs()
                    .checked_shr(low.try_into().unwrap_or(u32::MAX))
                    .unwrap_or(0);
                signed(v < 0, shifted & mask)
            })),
            Integers::Wide(a) => out.extend(a.iter().map(|&v| {
                let shifted = v
                    .unsigned_abs()
                    .checked_shr(low.try_into().unwrap_or(u32::MAX))
                    .unwrap_or(0);
                signed(v < 0, (shifted as u64) & mask)
            })),
            Integers::Big(a) => out.extend(a.iter().map(|v| {
                let digit = (v.magnitude() >> low) & num_bigint::BigUint::from(mask);
                signed(v.is_negative(), u64::try_from(digit).expect("below 2^53"))
            })),
        }
    }

    /// The exact value of the element at C-order position `flat`.
    pub fn value(&self, flat: usize) -> Rational {
        let integer = match &self.integers {
            Integers::Dyadic(a) => in_c_order(a)[flat].to_integer(),
            Integers::Narrow(a) => Integer::from(in_c_order(a)[flat]),
            Integers::Wide(a) => Integer::from(in_c_order(a)[flat]),
            Integers::Big(a) => in_c_order(a)[flat].clone(),
        };
        Rational::from_integer(integer) * &self.scale
    }

    /// Every value as the nearest f64 (ties to even; beyond f64's range, infinity), in C
    /// order: [`ScaledTensor::rounded`] into binary64, made in parallel chunks.
    pub fn to_f64_approx(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.len()];
        out.par_chunks_mut(PARALLEL_GRAIN)
            .enumerate()
            .for_each(|(i, chunk)| self.to_f64_approx_into(i * PARALLEL_GRAIN, chunk));
        out
    }

    /// [`ScaledTensor::to_f64_approx`] of the values at C-order positions `start..` into `out`
    /// (one chunk at a time, so that a caller can use the images while they are in cache).
    pub fn to_f64_approx_into(&self, start: usize, out: &mut [f64]) {
        self.rounded_into(crate::scalar::FloatFormat::F64, start, out);
    }

    /// Every value correctly rounded (to nearest, ties to even) into `format`, as the f64 that
    /// holds it, in C order. A power-of-two scale (float data) rounds each integer directly
    /// ([`round_dyadic_to_bits`](crate::scalar::round_dyadic_to_bits), O(1) per element; a big
    /// integer through its top 126 bits with a sticky bit); any other scale through the exact
    /// rational. Overflow gives infinity, as IEEE rounding to nearest does.
    pub fn rounded(&self, format: crate::scalar::FloatFormat) -> Vec<f64> {
        self.rounded_map(format, |v| v)
    }

    /// [`ScaledTensor::rounded`] with each rounded value mapped by `map` as it is made (into
    /// the bytes of a file, say), without a buffer of all the rounded values: in parallel
    /// chunks, each rounded into a small buffer and mapped.
    pub fn rounded_map<T: Send>(
        &self,
        format: crate::scalar::FloatFormat,
        map: impl Fn(f64) -> T + Sync + Send,
    ) -> Vec<T> {
        let len = self.len();
        (0..len.div_ceil(PARALLEL_GRAIN))
            .into_par_iter()
            .flat_map_iter(|chunk| {
                let start = chunk * PARALLEL_GRAIN;
                let mut values = vec![0.0; PARALLEL_GRAIN.min(len - start)];
                self.rounded_into(format, start, &mut values);
                values.into_iter().map(&map)
            })
            .collect()
    }

    /// The values at C-order positions `start..` correctly rounded into `format` (to
    /// nearest, ties to even; overflow gives infinity), as the f64 that holds each, into
    /// `out`. A power-of-two scale (float data) rounds each integer directly
    /// ([`round_dyadic_to_value`](crate::scalar::round_dyadic_to_value), O(1) per element; a
    /// big integer through its top 126 bits with a sticky bit); any other scale through the
    /// exact rational.
    pub fn rounded_into(&self, format: crate::scalar::FloatFormat, start: usize, out: &mut [f64]) {
        use crate::scalar::{f64_from_format_bits, round_dyadic_to_value, round_to_bits};
        let range = start..start + out.len();
        let Some(e) = self.power_of_two_scale() else {
            for (o, i) in out.iter_mut().zip(range) {
                *o = f64_from_format_bits(round_to_bits(&self.value(i), format), format);
            }
            return;
        };
        // Machine integers: into binary32 or binary64 with e in [-1022, 895] a slice at a time
        // (`round_scaled_into`). Otherwise, into binary64 with -1022 <= e <= 970, one below
        // 2^53 times 2^e is exact (a multiple of 2^-1074 below 2^1024): one conversion and
        // one multiplication; the others rounded from 128 bits.
        fn machine<V: crate::scalar::MachineInteger>(
            values: &[V],
            e: i64,
            format: crate::scalar::FloatFormat,
            out: &mut [f64],
        ) {
            if crate::scalar::round_scaled_into(values, e, format, out) {
                return;
            }
            let round = i128_rounding(e, format);
            let exact = exact_f64_scale(e, format);
            for (o, &v) in out.iter_mut().zip(values) {
                let v: i128 = v.into();
                *o = match exact {
                    Some(power) if v.unsigned_abs() < 1 << 53 => v as i64 as f64 * power,
                    _ => round(v),
                };
            }
        }
        match &self.integers {
            Integers::Dyadic(a) => {
                for (o, d) in out.iter_mut().zip(in_c_order_at(a, range).iter()) {
                    let (negative, magnitude) = (d.mantissa < 0, d.mantissa.unsigned_abs());
                    let k = e + i64::from(d.shift);
                    *o = round_dyadic_to_value(negative, u128::from(magnitude), k, format);
                }
            }
            Integers::Narrow(a) => machine(&in_c_order_at(a, range), e, format, out),
            Integers::Wide(a) => machine(&in_c_order_at(a, range), e, format, out),
            Integers::Big(a) => {
                for (o, v) in out.iter_mut().zip(in_c_order_at(a, range).iter()) {
                    let bits = v.bits() as i64;
                    let drop = (bits - 126).max(0);
                    let magnitude = v.magnitude();
                    let top = magnitude >> drop as usize;
                    let sticky = magnitude.trailing_zeros().unwrap_or(0) < drop as u64;
                    let top = num_traits::ToPrimitive::to_u128(&top).expect("126 bits");
                    *o = round_dyadic_to_value(
                        v.is_negative(),
                        top | u128::from(sticky),
                        e + drop,
                        format,
                    );
                }
            }
        }
    }

    /// The largest |value| exactly, read from the integers (mantissa-shift integers compared
    /// by bit length, then aligned; no rationals but the one returned). O(n).
    pub fn largest_abs(&self) -> Rational {
        let top = match &self.integers {
            Integers::Dyadic(a) => a
                .iter()
                .map(|d| (d.mantissa.unsigned_abs(), d.shift))
                .max_by(|&(ma, sa), &(mb, sb)| {
                    let bits = |m: u64, s: u32| {
                        if m == 0 {
                            0
                        } else {
                            64 - m.leading_zeros() + s
                        }
                    };
                    bits(ma, sa).cmp(&bits(mb, sb)).then_with(|| {
                        // Equal bit lengths: the shifts differ by less than 64.
                        let low = sa.min(sb);
                        (u128::from(ma) << (sa - low)).cmp(&(u128::from(mb) << (sb - low)))
                    })
                })
                .map(|(m, shift)| Integer::from(m) << shift as usize),
            Integers::Narrow(a) => Some(Integer::from(Magnitudes::of(&in_c_order(a)).largest)),
            Integers::Wide(a) => a.iter().map(|v| v.unsigned_abs()).max().map(Integer::from),
            Integers::Big(a) => a.iter().map(|v| v.abs()).max(),
        };
        top.map_or_else(Rational::zero, |m| Rational::from_integer(m) * &self.scale)
    }

    /// For each of `formats`, whether every value is a value of it (an odd integer of at most
    /// p bits times a power of two within the format's range), read from the integers when the
    /// scale is a power of two; None for another scale (decide from the rationals).
    pub fn formats_met(&self, formats: &[crate::scalar::FloatFormat]) -> Option<Vec<bool>> {
        let k = self.power_of_two_scale()?;
        // (widest odd part, lowest exponent of a last set bit, highest leading exponent) over
        // the non-zero values: each format's three conditions hold for every value exactly
        // when they hold for these extremes.
        type Extremes = (i64, i64, i64);
        let none: Extremes = (0, i64::MAX, i64::MIN);
        // (odd part's width, trailing zeros) of a non-zero magnitude; 64-bit arithmetic where
        // the integers fit.
        let extremes = |(width, zeros): (u32, u32), e: i64| -> Extremes {
            let low = e + i64::from(zeros);
            (i64::from(width), low, low + i64::from(width) - 1)
        };
        let extremes64 = |magnitude: u64, e: i64| -> Extremes {
            if magnitude == 0 {
                return none;
            }
            let zeros = magnitude.trailing_zeros();
            extremes((64 - (magnitude >> zeros).leading_zeros(), zeros), e)
        };
        let extremes128 = |magnitude: u128, e: i64| -> Extremes {
            if magnitude == 0 {
                return none;
            }
            let zeros = magnitude.trailing_zeros();
            extremes((128 - (magnitude >> zeros).leading_zeros(), zeros), e)
        };
        let join = |a: Extremes, b: Extremes| (a.0.max(b.0), a.1.min(b.1), a.2.max(b.2));
        let (width, low, top) = match &self.integers {
            Integers::Dyadic(a) => in_c_order(a)
                .par_iter()
                .with_min_len(PARALLEL_GRAIN)
                .map(|d| extremes64(d.mantissa.unsigned_abs(), k + i64::from(d.shift)))
                .reduce(|| none, join),
            Integers::Narrow(a) => {
                let Magnitudes {
                    largest,
                    union,
                    widest,
                } = Magnitudes::of(&in_c_order(a));
                if largest == 0 {
                    none
                } else {
                    let low = k + i64::from(union.trailing_zeros());
                    let top = k + i64::from(64 - largest.leading_zeros()) - 1;
                    (i64::from(widest), low, top)
                }
            }
            Integers::Wide(a) => in_c_order(a)
                .par_iter()
                .with_min_len(PARALLEL_GRAIN)
                .map(|v| extremes128(v.unsigned_abs(), k))
                .reduce(|| none, join),
            Integers::Big(_) => return None,
        };
        let met = formats
            .iter()
            .map(|f| {
                let p = i64::from(f.precision);
                width == 0 || (width <= p && low >= f.min_exponent() - (p - 1) && top <= f.bias())
            })
            .collect();
        Some(met)
    }

    /// k when the scale is 2^k.
    fn power_of_two_scale(&self) -> Option<i64> {
        power_of_two_exponent(&self.scale)
    }

    /// The exact values as rationals.
    pub fn to_rationals(&self) -> ArrayD<Rational> {
        let scale = &self.scale;
        match &self.integers {
            Integers::Dyadic(a) => a.mapv(|d| Rational::from_integer(d.to_integer()) * scale),
            Integers::Narrow(a) => a.mapv(|v| Rational::from_integer(Integer::from(v)) * scale),
            Integers::Wide(a) => a.mapv(|v| Rational::from_integer(Integer::from(v)) * scale),
            Integers::Big(a) => a.mapv(|v| Rational::from_integer(v) * scale),
        }
    }
}

/// v 2^k correctly rounded into `format` (to nearest, ties to even; overflow to infinity) as
/// the f64 that holds it, for any i128 v: one rounding of v's top bits where k allows it
/// ([`scaled_i128_rounding`](crate::scalar::scaled_i128_rounding)), else through the dyadic
/// rounding of |v| 2^k.
pub(crate) fn i128_rounding(
    k: i64,
    format: crate::scalar::FloatFormat,
) -> impl Fn(i128) -> f64 + Sync {
    let fast = crate::scalar::scaled_i128_rounding(k, format);
    move |v| match &fast {
        Some(round) => round(v),
        None => crate::scalar::round_dyadic_to_value(v < 0, v.unsigned_abs(), k, format),
    }
}

/// 2^e when rounding into `format` is binary64 and every integer below 2^53 times 2^e is an
/// f64 exactly (-1022 <= e <= 970), else None.
fn exact_f64_scale(e: i64, format: crate::scalar::FloatFormat) -> Option<f64> {
    (format == crate::scalar::FloatFormat::F64 && (-1022..=970).contains(&e))
        .then(|| f64::from_bits(((e + 1023) as u64) << 52))
}

/// k when a positive rational is 2^k.
pub(crate) fn power_of_two_exponent(q: &Rational) -> Option<i64> {
    let (n, d) = (q.numer(), q.denom());
    let is_power = |v: &Integer| v.bits() == v.trailing_zeros().unwrap_or(0) + 1;
    (is_power(n) && is_power(d))
        .then(|| n.trailing_zeros().unwrap_or(0) as i64 - d.trailing_zeros().unwrap_or(0) as i64)
}

/// What the formats, the bit length and the largest value of machine integers are read from.
struct Magnitudes {
    /// The largest |v|.
    largest: u64,
    /// Every |v| ORed together (its trailing zeros: the fewest of any non-zero |v|).
    union: u64,
    /// The widest odd part of a non-zero |v|: bits(|v|) - tz(|v|), with 1 for 0.
    widest: u32,
}

impl Magnitudes {
    /// One pass over `values` on the vector units (tz(m) as 63 - lz(m & -m)), in parallel
    /// where that pays ([`crate::parallel::worth_a_pool`]).
    fn of(values: &[i64]) -> Magnitudes {
        let chunk = |chunk: &[i64]| {
            crate::simd::on_vector_units(|| {
                let (mut largest, mut union, mut widest) = (0u64, 0u64, 0u64);
                for &v in chunk {
                    let m = v.unsigned_abs();
                    largest = largest.max(m);
                    union |= m;
                    let lowest = m & m.wrapping_neg();
                    let width =
                        1 + u64::from(lowest.leading_zeros()) - u64::from(m.leading_zeros());
                    widest = widest.max(width);
                }
                (largest, union, widest)
            })
        };
        let join = |a: (u64, u64, u64), b: (u64, u64, u64)| (a.0.max(b.0), a.1 | b.1, a.2.max(b.2));
        let (largest, union, widest) =
            crate::parallel::fold_chunks(values, PARALLEL_GRAIN, (0, 0, 0), chunk, join);
        Magnitudes {
            largest,
            union,
            widest: widest as u32,
        }
    }
}

/// The fewest elements a thread takes in the parallel elementwise passes.
const PARALLEL_GRAIN: usize = 1 << 14;

/// f applied to every element in parallel (the current rayon pool), in C order.
fn par_map<T: Clone + Sync, U: Send>(
    a: &ArrayD<T>,
    f: impl Fn(&T) -> U + Sync + Send,
) -> ArrayD<U> {
    let values: Vec<U> = in_c_order(a)
        .par_iter()
        .with_min_len(PARALLEL_GRAIN)
        .map(f)
        .collect();
    ArrayD::from_shape_vec(IxDyn(a.shape()), values).expect("shape")
}

/// Limbs 0..outs.len() in base 2^width (outs.len() width <= 128) of integers below 2^128, each
/// given by `parts` as (|v|, 0 or -1 for its sign), into `outs` (resized), in one pass split
/// among the threads of the current rayon pool (the engine's, inside its calls).
fn limbs_in_one_pass<V: Sync>(
    values: &[V],
    width: u32,
    outs: &mut [Vec<f64>],
    parts: impl Fn(&V) -> (u128, i64) + Sync,
) {
    for out in outs.iter_mut() {
        out.clear();
        out.resize(values.len(), 0.0);
    }
    let pieces_count = rayon::current_num_threads()
        .min(values.len() / (1 << 14))
        .max(1);
    let chunk = values.len().div_ceil(pieces_count).max(1);
    let mut pieces: Vec<Vec<&mut [f64]>> = (0..pieces_count).map(|_| Vec::new()).collect();
    for out in outs.iter_mut() {
        for (piece, slice) in pieces.iter_mut().zip(out.chunks_mut(chunk)) {
            piece.push(slice);
        }
    }
    let mask = (1u128 << width) - 1;
    pieces
        .into_par_iter()
        .zip(values.par_chunks(chunk))
        .for_each(|(mut piece, values)| fill_limbs(values, width, mask, &parts, &mut piece));
}

/// Limbs 0..outs.len() (base 2^width, `mask` = 2^width - 1) of integers below 2^128 given by
/// `parts`: limb i of |v| is bits width i .. of |v|, with v's sign, exact in f64 (below
/// 2^53). The sign is applied branch-free (data signs are unpredictable).
fn fill_limbs<V>(
    values: &[V],
    width: u32,
    mask: u128,
    parts: impl Fn(&V) -> (u128, i64),
    outs: &mut [&mut [f64]],
) {
    let digit = |magnitude: u128, sign: i64, i: usize| {
        let d = ((magnitude >> (width as usize * i)) & mask) as i64;
        ((d ^ sign) - sign) as f64
    };
    if let [low, high] = outs {
        for ((v, l), h) in values.iter().zip(low.iter_mut()).zip(high.iter_mut()) {
            let (magnitude, sign) = parts(v);
            *l = digit(magnitude, sign, 0);
            *h = digit(magnitude, sign, 1);
        }
    } else {
        for (k, v) in values.iter().enumerate() {
            let (magnitude, sign) = parts(v);
            for (i, out) in outs.iter_mut().enumerate() {
                out[k] = digit(magnitude, sign, i);
            }
        }
    }
}

/// The elements in C order as one slice (borrowed when the array is laid out that way): plain
/// slice loops in the hot conversions, not ndarray's N-dimensional iterator.
fn in_c_order<T: Clone>(a: &ArrayD<T>) -> std::borrow::Cow<'_, [T]> {
    in_c_order_at(a, 0..a.len())
}

/// The elements at C-order positions `range`, as [`in_c_order`] gives them.
fn in_c_order_at<T: Clone>(
    a: &ArrayD<T>,
    range: std::ops::Range<usize>,
) -> std::borrow::Cow<'_, [T]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(&s[range]),
        None => std::borrow::Cow::Owned(
            a.iter()
                .skip(range.start)
                .take(range.len())
                .cloned()
                .collect(),
        ),
    }
}

/// The greatest common divisor of two positive rationals: gcd(a/b, c/d) = gcd(a, c) / lcm(b, d),
/// the largest rational of which both are integer multiples.
pub fn rational_gcd(a: &Rational, b: &Rational) -> Rational {
    if a.is_zero() {
        return b.abs();
    }
    if b.is_zero() {
        return a.abs();
    }
    Rational::new(a.numer().gcd(b.numer()), a.denom().lcm(b.denom()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::rational_from_f32;
    use ndarray::arr1;

    /// `formats_met` of narrow integers agrees with the decision from the rationals at each
    /// format's edges: odd parts of p and p + 1 bits (binary32, TF32, binary16, bfloat16),
    /// binary16's smallest subnormal and half of it, its largest value and the next power of
    /// two; each beside 1 and -3, and with its sign flipped.
    #[test]
    fn narrow_formats_met_agree_with_the_rationals_at_the_edges() {
        use crate::scalar::FloatFormat;
        let formats = [
            FloatFormat::F32,
            FloatFormat::TF32,
            FloatFormat::F16,
            FloatFormat::BF16,
        ];
        let mut edges = vec![2f64.powi(-24), 2f64.powi(-25), 65504.0, 65536.0, 0.0];
        for p in [8, 11, 24] {
            edges.push(2f64.powi(p) - 1.0);
            edges.push((2f64.powi(p + 1) - 1.0) * 2f64.powi(-30));
        }
        for v in edges.iter().flat_map(|&v| [v, -v]) {
            let values = arr1(&[v, 1.0, -3.0]).into_dyn();
            let tensor = ScaledTensor::from_f64(values.view()).expect("finite");
            assert!(matches!(tensor.integers, Integers::Narrow(_)), "{v}");
            let expected = crate::oracle::filter::formats_met(&[&tensor.to_rationals()], &formats);
            assert_eq!(tensor.formats_met(&formats), Some(expected), "{v}");
        }
    }

    /// The exponent of every power of two a significand's lowest bit can be (2^0..2^52, the
    /// last one the float trick's edge), below 0 for 0; and the trick without its doubling
    /// (2^52 as the magic, whose exponent's last bit is set) fails at 2^52.
    #[test]
    fn powers_of_two_read_their_exponents() {
        for k in 0..=52 {
            assert_eq!(exponent_of_power_of_two(1 << k), i64::from(k), "2^{k}");
        }
        assert!(exponent_of_power_of_two(0) < 0);
        let undoubled = |p: u64| {
            const TWO_POW_52: f64 = 4_503_599_627_370_496.0;
            let exact = f64::from_bits(TWO_POW_52.to_bits() | p) - TWO_POW_52;
            (exact.to_bits() >> 52) as i64 - 1023
        };
        assert_eq!(undoubled(1 << 51), 51);
        assert_ne!(undoubled(1 << 52), 52);
    }

    /// The largest magnitude, the trailing zeros of their union and the widest odd part, with
    /// i64::MIN (2^63, one bit) and zeros among them, by one thread and in a pool.
    #[test]
    fn magnitudes_of_machine_integers() {
        let values: Vec<i64> = (0..40_000)
            .map(|i| match i {
                7 => i64::MIN,
                20_000 => -((1 << 40) + 1) * 8,
                _ if i % 3 == 0 => 0,
                _ => (i % 512) * 16,
            })
            .collect();
        let pool = crate::parallel::thread_pool(2).expect("a pool");
        for m in [
            Magnitudes::of(&values),
            pool.install(|| Magnitudes::of(&values)),
        ] {
            assert_eq!(m.largest, 1 << 63);
            assert_eq!(m.union.trailing_zeros(), 3);
            assert_eq!(m.widest, 41);
        }
        let zeros = Magnitudes::of(&[0, 0]);
        assert_eq!((zeros.largest, zeros.union), (0, 0));
    }

    /// The conversion by one thread outside a pool and in parallel inside one give the same
    /// tensor (narrow and dyadic integers, subnormals, zeros, both signs), and a non-finite
    /// value is refused at the same index by both.
    #[test]
    fn floats_scale_alike_alone_and_in_a_pool() {
        let mut rng = crate::oracle::legal::Rng::new(11);
        let mut next = move || rng.next_u64() >> 32;
        let pool = crate::parallel::thread_pool(2).expect("a pool");
        for spread in [8u64, 60, 250] {
            let values: Vec<f32> = (0..(3 * PARALLEL_GRAIN + 5))
                .map(|i| {
                    let bits =
                        (next() as u32 & 0x807f_ffff) | (((next() % spread) as u32 + 1) << 23);
                    if i % 97 == 0 {
                        0.0
                    } else {
                        f32::from_bits(bits)
                    }
                })
                .collect();
            let values = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[values.len()]), values)
                .expect("a vector");
            assert!(!crate::parallel::worth_a_pool(values.len()));
            let alone = ScaledTensor::from_f32(values.view()).expect("finite");
            let pooled = pool.install(|| {
                assert!(crate::parallel::worth_a_pool(values.len()));
                ScaledTensor::from_f32(values.view()).expect("finite")
            });
            assert_eq!(alone, pooled, "spread {spread}");
            assert_eq!(
                matches!(alone.integers, Integers::Narrow(_)),
                spread < 30,
                "spread {spread}"
            );
            let mut bad = values.clone();
            bad[2 * PARALLEL_GRAIN + 1] = f32::NAN;
            let error = |r: Result<ScaledTensor, ExactError>| r.expect_err("NaN").to_string();
            let alone = error(ScaledTensor::from_f32(bad.view()));
            assert_eq!(
                alone,
                error(pool.install(|| ScaledTensor::from_f32(bad.view())))
            );
            assert!(
                alone.contains(&(2 * PARALLEL_GRAIN + 1).to_string()),
                "{alone}"
            );
        }
    }

    #[test]
    fn floats_scale_to_integers_exactly() {
        let values = arr1(&[1.5f32, -0.375, 0.0, 3.0e-38, f32::from_bits(1), 1.0e30]).into_dyn();
        let scaled = ScaledTensor::from_f32(values.view()).unwrap();
        let exact = scaled.to_rationals();
        for (v, q) in values.iter().zip(exact.iter()) {
            assert_eq!(&rational_from_f32(*v).unwrap(), q);
        }
        // The smallest subnormal 2^-149 is the scale, and 1e30 ~ 2^99.66 needs 249 bits.
        assert_eq!(
            scaled.scale,
            crate::scalar::rational_from_parts(1.into(), -149)
        );
        assert_eq!(scaled.bits(), 100 + 149);
    }

    /// Floats whose exponents span at most 63 bits are held as plain i64 integers; every
    /// method reads them as it reads the same integers held as mantissa-shift pairs.
    #[test]
    fn narrow_integers_read_as_their_mantissa_shift_pairs() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..40 {
            // Exponent spans of 0 to 36 bits, and 39 in one case of eight (integers up to 2^25
            // times 2^span: below 2^63); zeros of both signs in every case.
            let span = if case % 8 == 7 { 39 } else { case % 37 };
            let values: Vec<f32> = (0..257)
                .map(|i| {
                    let r = next();
                    let m = (r >> 40) as f32 + 1.0;
                    let e = (r % (span as u64 + 1)) as i32 - 20;
                    let v = m * 2f32.powi(e);
                    match i % 29 {
                        0 => 0.0,
                        1 => -0.0,
                        _ if r & (1 << 39) != 0 => -v,
                        _ => v,
                    }
                })
                .collect();
            let values = ArrayD::from_shape_vec(IxDyn(&[257]), values).unwrap();
            let narrow = ScaledTensor::from_f32(values.view()).unwrap();
            let Integers::Narrow(integers) = &narrow.integers else {
                panic!("span {span}: not narrow");
            };
            let pairs = ScaledTensor {
                integers: Integers::Dyadic(integers.mapv(|m| Dyadic {
                    mantissa: m,
                    shift: 0,
                })),
                scale: narrow.scale.clone(),
            };
            let exact: Vec<Rational> = values
                .iter()
                .map(|&v| rational_from_f32(v).unwrap())
                .collect();
            assert_eq!(narrow.to_rationals().into_raw_vec_and_offset().0, exact);
            assert_eq!(narrow.bits(), pairs.bits());
            assert_eq!(narrow.i64_values(), pairs.i64_values());
            for bits in [narrow.bits(), narrow.bits() + 3, 62] {
                assert_eq!(narrow.offset_u64(bits), pairs.offset_u64(bits));
            }
            assert_eq!(narrow.offset_u64(narrow.bits().saturating_sub(1)), None);
            assert_eq!(narrow.residues(1_000_003), pairs.residues(1_000_003));
            assert_eq!(narrow.exact_f64(), pairs.exact_f64());
            for width in [17, 40, 53] {
                for i in 0..3 {
                    assert_eq!(narrow.limb(width, i), pairs.limb(width, i));
                }
                let (mut a, mut b) = (vec![Vec::new(); 2], vec![Vec::new(); 2]);
                narrow.limbs_into(width, &mut a);
                pairs.limbs_into(width, &mut b);
                assert_eq!(a, b);
                assert_eq!(a[1], narrow.limb(width, 1));
            }
            assert_eq!(narrow.value(5), pairs.value(5));
            assert_eq!(narrow.integer(7), pairs.integer(7));
            assert_eq!(narrow.to_f64_approx(), pairs.to_f64_approx());
            use crate::scalar::FloatFormat;
            for format in [FloatFormat::F32, FloatFormat::F16, FloatFormat::BF16] {
                let (a, b) = (narrow.rounded(format), pairs.rounded(format));
                assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
            }
            assert_eq!(narrow.largest_abs(), pairs.largest_abs());
            let formats = [FloatFormat::F32, FloatFormat::F16, FloatFormat::BF16];
            assert_eq!(narrow.formats_met(&formats), pairs.formats_met(&formats));
            assert_eq!(narrow.abs().to_rationals(), pairs.abs().to_rationals());
            assert_eq!(
                narrow.reshape(&[1, 257]).unwrap().to_rationals(),
                pairs.reshape(&[1, 257]).unwrap().to_rationals()
            );
        }
        // Subnormals, signed zeros and trailing zeros below the lowest set bit, in both
        // formats: narrow, and exactly the values.
        let f32s = arr1(&[
            f32::from_bits(1),
            -f32::from_bits(6),
            f32::from_bits(0x0080_0000),
            -0.0,
            3.0e-39,
            1.0e-30,
        ])
        .into_dyn();
        let scaled = ScaledTensor::from_f32(f32s.view()).unwrap();
        assert!(matches!(scaled.integers, Integers::Narrow(_)));
        let exact: Vec<Rational> = f32s
            .iter()
            .map(|&v| rational_from_f32(v).unwrap())
            .collect();
        assert_eq!(scaled.to_rationals().into_raw_vec_and_offset().0, exact);
        let f64s = arr1(&[
            f64::from_bits(1),
            12.0,
            -0.75,
            2f64.powi(-1000),
            0.0,
            1.0 + f64::EPSILON,
        ])
        .into_dyn();
        for (values, narrow) in [
            (f64s.slice(ndarray::s![1..3]).to_owned().into_dyn(), true),
            (f64s.clone(), false),
        ] {
            let scaled = ScaledTensor::from_f64(values.view()).unwrap();
            assert_eq!(matches!(scaled.integers, Integers::Narrow(_)), narrow);
            let exact: Vec<Rational> = values
                .iter()
                .map(|&v| crate::scalar::rational_from_f64(v).unwrap())
                .collect();
            assert_eq!(scaled.to_rationals().into_raw_vec_and_offset().0, exact);
        }
    }

    #[test]
    fn nan_is_refused_with_its_index() {
        let values = arr1(&[1.0f64, 2.0, f64::NAN]).into_dyn();
        match ScaledTensor::from_f64(values.view()) {
            Err(ExactError::NotFinite { index, .. }) => assert_eq!(index, vec![2]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rationals_share_one_denominator() {
        let q = |a: i64, b: i64| Rational::new(a.into(), b.into());
        let values = arr1(&[q(1, 2), q(-2, 3), q(5, 1)]).into_dyn();
        let scaled = ScaledTensor::from_rationals(values.view());
        assert_eq!(scaled.scale, q(1, 6));
        assert_eq!(scaled.to_rationals(), values);
        assert_eq!(scaled.residues(7), vec![3, 3, 2]); // 3, -4, 30 mod 7
    }

    #[test]
    fn rational_gcd_is_the_common_unit() {
        let q = |a: i64, b: i64| Rational::new(a.into(), b.into());
        assert_eq!(rational_gcd(&q(1, 4), &q(3, 8)), q(1, 8));
        assert_eq!(rational_gcd(&q(2, 3), &q(4, 9)), q(2, 9));
    }
}
