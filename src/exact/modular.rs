//! Arithmetic modulo word-sized primes, and Chinese remaindering back to integers.
//!
//! The fast exact engine computes an integer correlation y = sum w x modulo several primes
//! p_1..p_k, each with floating-point dot products that are exact because every partial sum is
//! an integer below 2^53 (see [`prime_limit`]); the Chinese remainder theorem then gives y
//! modulo M = p_1 ... p_k, which is y itself when M > 2 |y|max. This is the multi-modular
//! method of exact linear algebra (FLINT, and Ozaki, Uchino and Imamura's "Ozaki scheme II" for
//! GEMM), with the reconstruction by Garner's mixed-radix algorithm (Knuth, TAOCP vol. 2,
//! 4.3.2).

use crate::scalar::Integer;
use num_traits::{One, Zero};

/// Largest value of |partial sum| that f64 holds exactly for every integer up to it: 2^53.
pub const F64_EXACT: f64 = 9_007_199_254_740_992.0;

/// The largest modulus p for which `length` products of symmetric residues
/// (|r| <= (p - 1) / 2) sum exactly in f64 in any order:
/// length ((p - 1) / 2)^2 <= 2^53, i.e. p <= 2 sqrt(2^53 / length) + 1.
///
/// Every partial sum of such a dot product is an integer of magnitude at most the sum of the
/// magnitudes of its terms, so no rounding happens whatever the summation order or the use of
/// fused multiply-add. Capped at 2^31 so that products of residues fit in u64.
pub fn prime_limit(length: usize) -> u64 {
    let length = length.max(1) as u128;
    // The largest h with length * h^2 <= 2^53, by integer square root (no float rounding).
    let target = (1u128 << 53) / length;
    let mut h = (target as f64).sqrt() as u128;
    while h * h > target {
        h -= 1;
    }
    while (h + 1) * (h + 1) <= target {
        h += 1;
    }
    (2 * h as u64 + 1).min(1 << 31)
}

/// True when n < 2^32 is prime: deterministic Miller-Rabin with the bases 2, 7 and 61, which
/// has no pseudoprime below 4759123141 (Jaeschke, "On strong pseudoprimes to several bases",
/// 1993).
pub fn is_prime(n: u64) -> bool {
    assert!(n < 1 << 32, "is_prime is for 32-bit numbers");
    if n < 2 {
        return false;
    }
    for small in [2u64, 3, 5, 7, 11, 13, 61] {
        if n.is_multiple_of(small) {
            return n == small;
        }
    }
    let (mut d, mut r) = (n - 1, 0);
    while d % 2 == 0 {
        d /= 2;
        r += 1;
    }
    'bases: for a in [2u64, 7, 61] {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..r {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// The `count` largest primes not above `limit`, largest first.
///
/// # Panics
/// Never for the limits used here (there are millions of primes below 2^20).
pub fn primes_below(limit: u64, count: usize) -> Vec<u64> {
    let mut primes = Vec::with_capacity(count);
    let mut candidate = limit;
    while primes.len() < count && candidate >= 2 {
        if is_prime(candidate) {
            primes.push(candidate);
        }
        candidate -= 1;
    }
    primes
}

/// A modulus p < 2^32 with Barrett's precomputed reciprocal, for reductions without a division
/// instruction (Barrett, "Implementing the Rivest Shamir and Adleman public key encryption
/// algorithm on a standard digital signal processor", 1986): with mu = floor((2^64 - 1) / p),
/// q = floor(a mu / 2^64) satisfies floor(a / p) - 2 <= q <= floor(a / p), so a - q p lies in
/// [0, 3p) and at most two subtractions finish the reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modulus {
    /// The modulus.
    pub p: u64,
    mu: u64,
}

impl Modulus {
    /// Prepares reductions modulo p (2 <= p < 2^32).
    pub fn new(p: u64) -> Modulus {
        Modulus {
            p,
            mu: u64::MAX / p,
        }
    }

    /// a mod p for any u64 a.
    #[inline]
    pub fn reduce(self, a: u64) -> u64 {
        let q = ((u128::from(a) * u128::from(self.mu)) >> 64) as u64;
        let r = a - q * self.p;
        // r < 3p < 2^34: two branch-free conditional subtractions (r - p wraps above r when
        // r < p, so the minimum keeps r).
        let r = r.min(r.wrapping_sub(self.p));
        r.min(r.wrapping_sub(self.p))
    }

    /// a b mod p for a, b < p.
    #[inline]
    pub fn mul(self, a: u64, b: u64) -> u64 {
        self.reduce(a * b)
    }

    /// The residue in [0, p) of an i64.
    #[inline]
    pub fn residue_i64(self, a: i64) -> u64 {
        let r = self.reduce(a.unsigned_abs());
        if a < 0 && r != 0 {
            self.p - r
        } else {
            r
        }
    }

    /// The residue in [0, p) of an exact integer held in an f64 (|v| < 2^63).
    #[inline]
    pub fn residue_f64(self, v: f64) -> u64 {
        self.residue_i64(v as i64)
    }
}

/// a * b mod p for a, b < p < 2^32.
#[inline]
pub fn mul_mod(a: u64, b: u64, p: u64) -> u64 {
    (a * b) % p
}

/// a^e mod p by square and multiply.
pub fn pow_mod(mut a: u64, mut e: u64, p: u64) -> u64 {
    let mut result = 1 % p;
    a %= p;
    while e > 0 {
        if e & 1 == 1 {
            result = mul_mod(result, a, p);
        }
        a = mul_mod(a, a, p);
        e >>= 1;
    }
    result
}

/// The inverse of a modulo the prime p (Fermat: a^(p-2)); a must not be a multiple of p.
pub fn inv_mod(a: u64, p: u64) -> u64 {
    pow_mod(a, p - 2, p)
}

/// The residue of a big integer in [0, p).
pub fn residue_big(value: &Integer, p: u64) -> u64 {
    let r = value % Integer::from(p);
    let r = if r < Integer::zero() { r + p } else { r };
    u64::try_from(r).expect("a residue is below p")
}

/// The symmetric representative of a residue r in [0, p): r or r - p, whichever is nearer 0,
/// as an f64 (exact, |result| <= (p - 1) / 2).
#[inline]
pub fn symmetric(r: u64, p: u64) -> f64 {
    if r > p / 2 {
        r as f64 - p as f64
    } else {
        r as f64
    }
}

/// Chinese remaindering for a fixed set of pairwise distinct primes, by Garner's algorithm:
/// the residues r_i of y give mixed-radix digits v_i with y = v_0 + v_1 p_0 + v_2 p_0 p_1 + ...
/// (mod M), then the symmetric representative in (-M/2, M/2].
#[derive(Debug, Clone)]
pub struct Crt {
    primes: Vec<u64>,
    moduli: Vec<Modulus>,
    /// inverse[i][j] = p_j^{-1} mod p_i for j < i.
    inverse: Vec<Vec<u64>>,
    /// M = product of the primes.
    modulus: Integer,
    /// M when it fits in u128 (then reconstruction runs in u128 arithmetic).
    modulus_u128: Option<u128>,
    /// floor(M / 2) when M fits in u128 (no u128 division per element).
    half_modulus_u128: u128,
    /// The radices p_0 ... p_{i-1} as u128 while they fit.
    radix_u128: Vec<u128>,
}

impl Crt {
    /// Prepares reconstruction for the given distinct primes.
    pub fn new(primes: &[u64]) -> Crt {
        let inverse = primes
            .iter()
            .enumerate()
            .map(|(i, &pi)| primes[..i].iter().map(|&pj| inv_mod(pj % pi, pi)).collect())
            .collect();
        let modulus = primes
            .iter()
            .fold(Integer::one(), |m, &p| m * Integer::from(p));
        let modulus_u128 = u128::try_from(&modulus).ok();
        let mut radix_u128 = Vec::with_capacity(primes.len());
        let mut radix: u128 = 1;
        for &p in primes {
            radix_u128.push(radix);
            radix = radix.saturating_mul(u128::from(p));
        }
        Crt {
            primes: primes.to_vec(),
            moduli: primes.iter().map(|&p| Modulus::new(p)).collect(),
            inverse,
            modulus,
            modulus_u128,
            half_modulus_u128: modulus_u128.map_or(0, |m| m / 2),
            radix_u128,
        }
    }

    /// M, the product of the primes.
    pub fn modulus(&self) -> &Integer {
        &self.modulus
    }

    /// True when [`Crt::to_i128`] applies (M < 2^128, so |y| <= M/2 < 2^127).
    pub fn fits_i128(&self) -> bool {
        self.modulus_u128.is_some()
    }

    /// The mixed-radix digits of the residues (one per prime, each below its prime).
    fn digits(&self, residues: &[u64], digits: &mut [u64]) {
        for i in 0..self.primes.len() {
            let m = self.moduli[i];
            let p = m.p;
            let mut t = m.reduce(residues[i]);
            for (&digit, &inverse) in digits[..i].iter().zip(&self.inverse[i]) {
                // t = (t - v_j) / p_j mod p_i
                let vj = m.reduce(digit);
                t = m.mul(if t >= vj { t - vj } else { t + p - vj }, inverse);
            }
            digits[i] = t;
        }
    }

    /// The y in (-M/2, M/2] with y = r_i mod p_i, when M < 2^128.
    ///
    /// # Panics
    /// When M does not fit in u128 (check [`Crt::fits_i128`]).
    pub fn to_i128(&self, residues: &[u64], scratch: &mut [u64]) -> i128 {
        let modulus = self.modulus_u128.expect("M < 2^128");
        self.digits(residues, scratch);
        let mut value: u128 = 0;
        for (digit, radix) in scratch.iter().zip(&self.radix_u128) {
            value += u128::from(*digit) * radix;
        }
        if value > self.half_modulus_u128 {
            -((modulus - value) as i128)
        } else {
            value as i128
        }
    }

    /// The y in (-M/2, M/2] with y = r_i mod p_i, for any M.
    pub fn to_integer(&self, residues: &[u64], scratch: &mut [u64]) -> Integer {
        self.digits(residues, scratch);
        let mut value = Integer::zero();
        for (i, digit) in scratch.iter().enumerate().rev() {
            value = value * Integer::from(self.primes[i]) + Integer::from(*digit);
        }
        if value.clone() * 2 > self.modulus {
            value - &self.modulus
        } else {
            value
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prime_limit_is_the_exactness_boundary() {
        for length in [1usize, 2, 3, 9, 576, 4608, 10_001, 1 << 20] {
            let p = prime_limit(length);
            let h = u128::from((p - 1) / 2);
            assert!(length as u128 * h * h <= 1 << 53, "length {length}");
            if p < 1 << 31 {
                let h1 = h + 1;
                assert!(
                    length as u128 * h1 * h1 > 1 << 53,
                    "length {length} not tight"
                );
            }
        }
    }

    #[test]
    fn barrett_reduction_agrees_with_division() {
        for p in [2u64, 3, 997, 8_388_593, (1 << 31) - 1, 4_294_967_291] {
            let m = Modulus::new(p);
            for a in [
                0u64,
                1,
                p - 1,
                p,
                p + 1,
                2 * p + 1,
                u64::MAX,
                u64::MAX - 1,
                1 << 63,
                123_456_789_012_345,
            ] {
                assert_eq!(m.reduce(a), a % p, "{a} mod {p}");
            }
            for a in [-1i64, i64::MIN, i64::MAX, -(p as i64), -(p as i64) - 1, 5] {
                assert_eq!(
                    m.residue_i64(a),
                    a.rem_euclid(p as i64) as u64,
                    "{a} mod {p}"
                );
            }
        }
    }

    #[test]
    fn miller_rabin_agrees_with_trial_division() {
        let trial = |n: u64| {
            n >= 2
                && (2..)
                    .take_while(|d| d * d <= n)
                    .all(|d| !n.is_multiple_of(d))
        };
        for n in (0..5000).chain(4_294_960_000..4_294_967_295) {
            assert_eq!(is_prime(n), trial(n), "{n}");
        }
        // Strong pseudoprimes to some of the bases: 2047 (base 2), 3215031751 (2, 3, 5, 7).
        assert!(!is_prime(2047) && !is_prime(3_215_031_751));
    }

    #[test]
    fn primes_are_prime_and_descending() {
        let primes = primes_below(1000, 5);
        assert_eq!(primes, vec![997, 991, 983, 977, 971]); // the largest primes below 1000
    }

    #[test]
    fn garner_reconstructs_signed_values() {
        let primes = primes_below(prime_limit(576), 5); // M about 2^114
        let crt = Crt::new(&primes);
        assert!(crt.fits_i128());
        let mut scratch = vec![0; primes.len()];
        let values: [i128; 6] = [
            0,
            1,
            -1,
            123_456_789_012_345_678,
            -(1i128 << 100),
            (1 << 112) + 7,
        ];
        for &y in &values {
            let residues: Vec<u64> = primes
                .iter()
                .map(|&p| y.rem_euclid(i128::from(p)) as u64)
                .collect();
            assert_eq!(crt.to_i128(&residues, &mut scratch), y);
            assert_eq!(crt.to_integer(&residues, &mut scratch), Integer::from(y));
        }
    }

    #[test]
    fn garner_beyond_u128() {
        let primes = primes_below(1 << 20, 10); // M about 2^200
        let crt = Crt::new(&primes);
        assert!(!crt.fits_i128());
        let y: Integer = -(Integer::from(3) << 190usize) + 12345;
        let residues: Vec<u64> = primes.iter().map(|&p| residue_big(&y, p)).collect();
        let mut scratch = vec![0; primes.len()];
        assert_eq!(crt.to_integer(&residues, &mut scratch), y);
    }
}
