//! The decision of the common element, a block at a time.
//!
//! Almost every element of a check is a value of the output format (binary32 or binary64)
//! that the claimed contract's float filter passes, with S's enclosure telling on which side
//! of the probabilistic level its score lies and y~ telling y's rounding into the output
//! format. For those, everything the report records (B~, e / B~, the score, the ulp
//! distance) is a handful of f64 operations, computed here for a block of elements in loops
//! without branches (compiled for the widest vector unit). The same formulas as the general
//! path of [`check`](super::check), so the same bits; every other element takes that path
//! (the tests compare the two reports).

use super::filter::FloatBound;
use super::magnitude::{MagnitudeF64, MagnitudesF64};
use super::report::ElementReport;

/// The elements of a block.
pub(super) const BLOCK: usize = 256;

/// 2^-50: y~ within 2^-53 relative of y, so every value within 2^-50 of y~ rounds as y does
/// when they all round alike.
const TWO_POW_M50: f64 = f64::from_bits((1023 - 50) << 52);

/// The score e / (u S) of an error e (f64), with S's f64 image: infinite for a non-finite
/// error, 0 for none.
#[inline(always)]
pub(super) fn score_of(error: f64, unit: f64, magnitude: f64) -> f64 {
    if !error.is_finite() {
        f64::INFINITY
    } else if error == 0.0 {
        0.0
    } else {
        error / (unit * magnitude)
    }
}

/// Whether S's enclosure tells on which side of the level the score is. The score falls as
/// S grows (score(hi) <= score(S~) <= score(lo)), so above the level only hi can tell, below
/// it only lo.
#[inline(always)]
pub(super) fn score_told(error: f64, unit: f64, s: MagnitudeF64, score: f64, level: f64) -> bool {
    (s.lo == s.hi)
        | if score > level {
            score_of(error, unit, s.hi) > level
        } else {
            score_of(error, unit, s.lo) <= level
        }
}

/// The check's constants the lean pass needs.
pub(super) struct Lean<'a> {
    /// The claimed contract's filter.
    pub filter: &'a FloatBound,
    /// The output format is binary32 (else binary64).
    pub single: bool,
    /// The score's unit u and the level.
    pub unit: f64,
    pub level: f64,
}

/// A block's elements: the inputs, then what the lean pass settles.
pub(super) struct Block {
    candidate: [f64; BLOCK],
    approx: [f64; BLOCK],
    lo: [f64; BLOCK],
    hi: [f64; BLOCK],
    /// Settled: the claimed contract passes the element and the values below are final.
    pub settled: [bool; BLOCK],
    /// B~ = kappa S~ + mu |y~| + alpha.
    pub bound: [f64; BLOCK],
    /// e~ / B~ (0 for no error).
    pub ratio: [f64; BLOCK],
    /// e~ / (u S~).
    pub score: [f64; BLOCK],
    /// Ulps from the candidate to y rounded into the output format.
    pub ulps: [u64; BLOCK],
}

impl Block {
    /// An empty block.
    pub fn new() -> Box<Block> {
        Box::new(Block {
            candidate: [0.0; BLOCK],
            approx: [0.0; BLOCK],
            lo: [0.0; BLOCK],
            hi: [0.0; BLOCK],
            settled: [false; BLOCK],
            bound: [0.0; BLOCK],
            ratio: [0.0; BLOCK],
            score: [0.0; BLOCK],
            ulps: [0; BLOCK],
        })
    }

    /// The report of settled element j, at C-order position `flat` of `shape`, with `exact`
    /// the f64 image of its y.
    pub fn report(&self, j: usize, flat: usize, shape: &[usize], exact: f64) -> ElementReport {
        let candidate = self.candidate[j];
        ElementReport {
            index: crate::index::unravel(flat, shape),
            candidate,
            exact,
            error: (candidate - exact).abs(),
            bound: self.bound[j],
            ratio: self.ratio[j],
            score: self.score[j],
            ulps: Some(self.ulps[j]),
            reason: None,
        }
    }

    /// Settles the elements at C-order positions `start..start + candidate.len()` (at most
    /// [`BLOCK`]): `candidate` their values, `y` the f64 images of y, `magnitudes` S's.
    pub fn settle<T: Copy + Into<f64>>(
        &mut self,
        lean: &Lean<'_>,
        start: usize,
        candidate: &[T],
        y: &[f64],
        magnitudes: &MagnitudesF64<'_>,
    ) {
        let n = candidate.len();
        for (c, &v) in self.candidate.iter_mut().zip(candidate) {
            *c = v.into();
        }
        magnitudes.fill(
            start,
            &mut self.approx[..n],
            &mut self.lo[..n],
            &mut self.hi[..n],
        );
        let Block {
            candidate,
            approx,
            lo,
            hi,
            settled,
            bound,
            ratio,
            score,
            ulps,
        } = self;
        let inputs = (&candidate[..n], y, &approx[..n], &lo[..n], &hi[..n]);
        let outputs = (settled, bound, ratio, score, ulps);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has AVX-512F (checked above).
            unsafe { settle_avx512(lean, inputs, outputs) };
            return;
        }
        settle_all(lean, inputs, outputs);
    }
}

/// The inputs of a block: candidates, y~, S~ and S's enclosure.
type Inputs<'a> = (&'a [f64], &'a [f64], &'a [f64], &'a [f64], &'a [f64]);
/// What the lean pass writes for a block (see [`Block`]).
type Outputs<'a> = (
    &'a mut [bool; BLOCK],
    &'a mut [f64; BLOCK],
    &'a mut [f64; BLOCK],
    &'a mut [f64; BLOCK],
    &'a mut [u64; BLOCK],
);

/// [`settle_all`] compiled for AVX-512F (a `#[target_feature]` function of its own: the loop
/// is too large for LLVM to inline into a generic wrapper).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn settle_avx512(lean: &Lean<'_>, inputs: Inputs<'_>, outputs: Outputs<'_>) {
    settle_all(lean, inputs, outputs)
}

/// [`element`] of every element of a block.
#[inline(always)]
fn settle_all(lean: &Lean<'_>, inputs: Inputs<'_>, outputs: Outputs<'_>) {
    let (candidate, y, approx, lo, hi) = inputs;
    let (settled, bound, ratio, score, ulps) = outputs;
    for j in 0..candidate.len() {
        let s = MagnitudeF64 {
            approx: approx[j],
            lo: lo[j],
            hi: hi[j],
        };
        let one = element(lean, candidate[j], y[j], s);
        (settled[j], bound[j], ratio[j], score[j], ulps[j]) = one;
    }
}

/// One element: (settled, B~, ratio, score, ulps). Settled when the candidate c is a value of
/// the output format, the claimed filter passes it, the enclosure tells the score's side, and
/// in binary32 every value within 2^-50 of y~ rounds alike (binary64: y~ is y's rounding).
#[inline(always)]
fn element(lean: &Lean<'_>, c: f64, y: f64, s: MagnitudeF64) -> (bool, f64, f64, f64, u64) {
    let single = lean.single;
    let representable = c.is_finite() & (!single | (f64::from(c as f32) == c));
    let passes = representable & lean.filter.passes_within(c, y, s.lo, s.hi);
    let error = (c - y).abs();
    let bound = lean.filter.bound(y, s.approx);
    let ratio = if error == 0.0 { 0.0 } else { error / bound };
    let score = score_of(error, lean.unit, s.approx);
    let told = score_told(error, lean.unit, s, score, lean.level);
    let (ulps, rounding_told) = ulps_of(single, c, y);
    (passes & told & rounding_told, bound, ratio, score, ulps)
}

/// (the ulps from c to y's rounding into binary32 or binary64, whether y~ tells that
/// rounding): `ulp_distance(encode_f64(c), rounded_bits(y~))` without branches, for a value c
/// of the format.
#[inline(always)]
fn ulps_of(single: bool, c: f64, y: f64) -> (u64, bool) {
    // The encodings of c and of y's rounding, as `encode_f64` and `rounded_bits` give them.
    let (low, high) = (y * (1.0 - TWO_POW_M50), y * (1.0 + TWO_POW_M50));
    let (y_bits, told) = if single {
        let a = (low as f32).to_bits();
        let alike = a == (high as f32).to_bits();
        let normal = y.is_normal() & low.is_normal() & high.is_normal();
        (u64::from(a), normal & alike)
    } else {
        (y.to_bits(), true)
    };
    let c_bits = if c == 0.0 {
        0
    } else if single {
        u64::from((c as f32).to_bits())
    } else {
        c.to_bits()
    };
    // The distance along the ordered encodings (`ulp_distance`): of the magnitudes' fields
    // for the same sign, their sum for opposite signs.
    let width = if single { 32 } else { 64 };
    let sign = |bits: u64| bits >> (width - 1);
    let magnitude = |bits: u64| bits & ((1u64 << (width - 1)) - 1);
    let (a, b) = (magnitude(c_bits), magnitude(y_bits));
    let ulps = if sign(c_bits) == sign(y_bits) {
        a.abs_diff(b)
    } else {
        a + b
    };
    (ulps, told)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::filter::encode_f64;
    use crate::oracle::{rounded_bits, ulp_distance};
    use crate::scalar::{rational_from_f64, FloatFormat};

    /// The lean ulps agree with the general path's wherever y~ tells the rounding: candidates
    /// and y~ of both signs (opposite ones too), zeros, subnormals, the largest values, and y~
    /// at and next to binary32 midpoints (where y~ cannot tell and the lean pass must say so).
    #[test]
    fn lean_ulps_agree_with_the_general_path() {
        let mut rng = crate::oracle::legal::Rng::new(0x853C_49E6_748F_EA9B);
        let mut next = || rng.next_u64();
        let mut values = vec![
            0.0,
            -0.0,
            f64::from(f32::MAX),
            f64::from(f32::MIN_POSITIVE),
            1e-45,
        ];
        for _ in 0..3000 {
            let v = f64::from(f32::from_bits(next() as u32 & 0x7f7f_ffff));
            let sign = if next() & 1 == 1 { -1.0 } else { 1.0 };
            values.push(sign * v);
            // The midpoint above v (in binary32) and its f64 neighbours.
            let up = f64::from(f32::from_bits((v as f32).to_bits() + 1));
            if up.is_finite() {
                let mid = sign * (v + (up - v) / 2.0);
                values.extend([mid, f64::from_bits(mid.to_bits() + 1)]);
            }
            values.push(sign * f64::from_bits(next() >> 2));
        }
        let (mut told, mut untold, mut opposite) = (0, 0, 0);
        for (i, &y) in values.iter().enumerate() {
            for &c in &values[i.saturating_sub(3)..(i + 3).min(values.len())] {
                for (single, format) in [(true, FloatFormat::F32), (false, FloatFormat::F64)] {
                    if single && f64::from(c as f32) != c {
                        continue;
                    }
                    let (ulps, tells) = ulps_of(single, c, y);
                    let exact = rational_from_f64(y).expect("finite");
                    let bits = rounded_bits(y, || &exact, format);
                    if tells {
                        let expected = ulp_distance(encode_f64(c, format), bits, format);
                        assert_eq!(ulps, expected, "c {c:e}, y {y:e}, {format:?}");
                        told += 1;
                        opposite += usize::from(c * y < 0.0);
                    } else {
                        untold += 1;
                    }
                }
            }
        }
        assert!(
            told > 10_000 && untold > 1000 && opposite > 1000,
            "{told} {untold} {opposite}"
        );
    }
}
