//! Exact long 1-D products by number-theoretic transforms modulo several primes.
//!
//! For a signal of length n and a kernel of length k, the full product z = x * w (z\[t\] =
//! sum_j x[t - j] w\[j\], length n + k - 1) is a polynomial product. Modulo a prime
//! p = c 2^L + 1 with 2^L >= n + k - 1, the cyclic convolution of length N = 2^L computed by the
//! transform (Pollard, "The fast Fourier transform in a finite field", 1971) equals the linear one,
//! because no index wraps. Several such primes and the Chinese remainder theorem give z exactly
//! (the multi-modular method of FLINT's `fmpz_poly_mul` for long operands). Cost per prime:
//! three transforms of length N, O(N log N) multiplications modulo p.
//!
//! Speed (`proofs/exact.md`, E5): primes below 2^31 so that residues are u32 and the
//! butterflies run on whole vectors (compiled for AVX-512 or AVX2 when present, chosen at run
//! time); Shoup products with precomputed quotients for the twiddle factors, whose tables are
//! built once per (prime, length) and cached as RustFFT's planner caches its twiddles;
//! Montgomery products for the pointwise product; Garner's reconstruction lane by lane.

use super::engine::{combine, Budget, Plan};
use super::modular::{inv_mod, is_prime, pow_mod, residue_big, Modulus};
use super::scaled::{Integers, ScaledTensor};
use crate::scalar::Integer;
use ndarray::{ArrayD, IxDyn};
use num_traits::Zero;
use rayon::prelude::*;

/// A prime p = c 2^L + 1 < 2^31 supporting transforms of length up to 2^L, with a generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NttPrime {
    /// The prime.
    pub p: u64,
    /// The largest power-of-two length it supports (2-adic valuation of p - 1).
    pub max_log2: u32,
    /// A primitive root modulo p.
    pub generator: u64,
}

/// The distinct prime factors of n.
fn prime_factors(mut n: u64) -> Vec<u64> {
    let mut factors = Vec::new();
    let mut d = 2;
    while d * d <= n {
        if n.is_multiple_of(d) {
            factors.push(d);
            while n.is_multiple_of(d) {
                n /= d;
            }
        }
        d += 1;
    }
    if n > 1 {
        factors.push(n);
    }
    factors
}

impl NttPrime {
    /// The prime p with its 2-adic order and its smallest primitive root (g is a primitive root
    /// when g^((p-1)/q) != 1 for every prime q dividing p - 1).
    pub fn new(p: u64) -> NttPrime {
        let factors = prime_factors(p - 1);
        let generator = (2..p)
            .find(|&g| factors.iter().all(|&q| pow_mod(g, (p - 1) / q, p) != 1))
            .expect("a prime has a primitive root");
        NttPrime {
            p,
            max_log2: (p - 1).trailing_zeros(),
            generator,
        }
    }
}

impl NttPrime {
    /// [`NttPrime::new`], computed once per process for each p (the primitive-root search
    /// factors p - 1 by trial division, about 0.1 ms).
    pub fn cached(p: u64) -> NttPrime {
        use std::collections::HashMap;
        use std::sync::{Mutex, OnceLock};
        static CACHE: OnceLock<Mutex<HashMap<u64, NttPrime>>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(&q) = cache.lock().expect("no panic holds the lock").get(&p) {
            return q;
        }
        let q = NttPrime::new(p);
        cache.lock().expect("no panic holds the lock").insert(p, q);
        q
    }
}

/// [`ntt_primes`], computed once per process for each (log2_len, count).
fn ntt_primes_cached(log2_len: u32, count: usize) -> Vec<NttPrime> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Cache = Mutex<HashMap<(u32, usize), Vec<NttPrime>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(primes) = cache
        .lock()
        .expect("no panic holds the lock")
        .get(&(log2_len, count))
    {
        return primes.clone();
    }
    let primes = ntt_primes(log2_len, count);
    cache
        .lock()
        .expect("no panic holds the lock")
        .insert((log2_len, count), primes.clone());
    primes
}

/// The `count` largest primes p = c 2^L + 1 < 2^31 with L >= log2_len, largest first.
pub fn ntt_primes(log2_len: u32, count: usize) -> Vec<NttPrime> {
    let step = 1u64 << log2_len;
    let mut primes = Vec::with_capacity(count);
    let mut c = ((1u64 << 31) - 2) / step;
    while primes.len() < count && c >= 1 {
        let p = c * step + 1;
        if is_prime(p) {
            primes.push(NttPrime::new(p));
        }
        c -= 1;
    }
    primes
}

/// floor(w 2^32 / p), Shoup's precomputed quotient of a constant factor w < p.
fn shoup_quotient(w: u32, p: u32) -> u32 {
    ((u64::from(w) << 32) / u64::from(p)) as u32
}

/// b w mod p for any b < 2^32 and a constant w < p with quotient `wq` = floor(w 2^32 / p)
/// (Shoup; Harvey, "Faster arithmetic for number-theoretic transforms", 2014): with
/// q = floor(b wq / 2^32), b w - q p lies in [0, 2p), computed in wrapping 32-bit arithmetic
/// (p < 2^31), then one conditional subtraction. One 32 x 32 -> 64 multiply and two low
/// multiplies, which vectorise (vpmuludq, vpmulld).
#[inline(always)]
fn mul_shoup(b: u32, w: u32, wq: u32, p: u32) -> u32 {
    let q = ((u64::from(b) * u64::from(wq)) >> 32) as u32;
    let r = b.wrapping_mul(w).wrapping_sub(q.wrapping_mul(p));
    r.min(r.wrapping_sub(p))
}

/// x mod p for x < 2p: min(x, x - p) in wrapping arithmetic (x - p wraps above x when x < p).
#[inline(always)]
fn reduce_once(x: u32, p: u32) -> u32 {
    x.min(x.wrapping_sub(p))
}

/// -p^-1 mod 2^32 for odd p (Newton's iteration x <- x (2 - p x) doubles the correct low bits
/// of p^-1, from 3 at x = p).
fn neg_inverse_u32(p: u32) -> u32 {
    let mut inverse = p;
    for _ in 0..4 {
        inverse = inverse.wrapping_mul(2u32.wrapping_sub(p.wrapping_mul(inverse)));
    }
    inverse.wrapping_neg()
}

/// a b 2^-32 mod p for a, b < p < 2^31 (Montgomery, "Modular multiplication without trial
/// division", 1985): with t = a b and m = t (-p^-1) mod 2^32, t + m p is divisible by 2^32 and
/// (t + m p) / 2^32 < 2p. For products of two varying residues (the pointwise product of
/// two transforms), where Shoup's precomputed quotient is not available; vectorises like it.
#[inline(always)]
fn mul_montgomery(a: u32, b: u32, p: u32, p_neg_inverse: u32) -> u32 {
    let t = u64::from(a) * u64::from(b);
    let m = (t as u32).wrapping_mul(p_neg_inverse);
    let u = ((t + u64::from(m) * u64::from(p)) >> 32) as u32;
    reduce_once(u, p)
}

/// The twiddle factors of transforms of length n = 2^log2 modulo one prime p < 2^31, with
/// Shoup quotients, laid out by stage: `forward[h + i]` = r_{2h}^i for every half-length h (a
/// power of two below n) and i < h, where r_{2h} is the primitive 2h-th root of unity
/// g^((p-1)/2h); `inverse` the same for r_{2h}^-1. n - 1 entries each, contiguous per stage, so
/// the butterflies of a stage read them in order.
#[derive(Debug)]
pub struct NttTables {
    p: u32,
    n: usize,
    forward: Vec<u32>,
    forward_q: Vec<u32>,
    inverse: Vec<u32>,
    inverse_q: Vec<u32>,
    /// n^-1 mod p and its quotient (the inverse transform's scaling).
    n_inverse: (u32, u32),
    /// n^-1 2^32 mod p and its quotient: the scaling after Montgomery products (which leave a
    /// factor 2^-32).
    n_inverse_montgomery: (u32, u32),
    /// -p^-1 mod 2^32.
    p_neg_inverse: u32,
}

impl NttTables {
    /// Builds the tables (O(n) multiplications and divisions).
    pub fn new(prime: &NttPrime, log2: u32) -> NttTables {
        assert!(log2 >= 1 && log2 <= prime.max_log2 && prime.p < 1 << 31);
        let (p, n) = (prime.p, 1usize << log2);
        let m = Modulus::new(p);
        let root = pow_mod(prime.generator, (p - 1) >> log2, p);
        let table = |root: u64| {
            let (mut values, mut quotients) = (vec![0u32; n], vec![0u32; n]);
            // Stage of half-length h uses r_{2h} = root^(n / 2h).
            let mut h = n / 2;
            let mut r = root;
            while h >= 1 {
                let mut w = 1u64;
                for i in 0..h {
                    values[h + i] = w as u32;
                    quotients[h + i] = shoup_quotient(w as u32, p as u32);
                    w = m.mul(w, r);
                }
                r = m.mul(r, r);
                h /= 2;
            }
            (values, quotients)
        };
        let (forward, forward_q) = table(root);
        let (inverse, inverse_q) = table(pow_mod(root, p - 2, p));
        let n_inv = pow_mod(n as u64, p - 2, p) as u32;
        let n_inv_montgomery = ((u64::from(n_inv) << 32) % p) as u32;
        NttTables {
            n_inverse_montgomery: (n_inv_montgomery, shoup_quotient(n_inv_montgomery, p as u32)),
            p_neg_inverse: neg_inverse_u32(p as u32),
            p: p as u32,
            n,
            forward,
            forward_q,
            inverse,
            inverse_q,
            n_inverse: (n_inv, shoup_quotient(n_inv, p as u32)),
        }
    }

    /// The tables for (p, log2), built once per process and shared (as RustFFT's planner
    /// caches its twiddles): transforms up to 2^18 keep theirs (at most 4 MiB per prime and
    /// length, at most 32 of them: the cache is emptied when full); longer ones are built per
    /// call.
    pub fn cached(prime: &NttPrime, log2: u32) -> std::sync::Arc<NttTables> {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex, OnceLock};
        type Cache = Mutex<HashMap<(u64, u32), Arc<NttTables>>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        if log2 > 18 {
            return Arc::new(NttTables::new(prime, log2));
        }
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(t) = cache
            .lock()
            .expect("no panic holds the lock")
            .get(&(prime.p, log2))
        {
            return t.clone();
        }
        let tables = Arc::new(NttTables::new(prime, log2));
        let mut cache = cache.lock().expect("no panic holds the lock");
        if cache.len() >= 32 {
            cache.clear();
        }
        cache.insert((prime.p, log2), tables.clone());
        tables
    }

    /// Forward transform in place: decimation in frequency, natural order in, bit-reversed
    /// out; values in [0, p) in and out.
    pub fn forward(&self, values: &mut [u32]) {
        dispatch(values, self, false, self.n_inverse)
    }

    /// Inverse transform in place, scaled by n^-1: decimation in time, bit-reversed in,
    /// natural order out, so that no reordering pass is needed between the two.
    pub fn inverse(&self, values: &mut [u32]) {
        dispatch(values, self, true, self.n_inverse)
    }

    /// [`NttTables::inverse`] of a pointwise product of Montgomery products (scaled by
    /// n^-1 2^32 instead, which cancels their factor 2^-32).
    fn inverse_of_montgomery(&self, values: &mut [u32]) {
        dispatch(values, self, true, self.n_inverse_montgomery)
    }
}

/// The transform on the widest vector unit the processor has (the same code compiled for
/// AVX-512 or AVX2, chosen at run time; the portable build otherwise).
fn dispatch(values: &mut [u32], t: &NttTables, inverse: bool, scale: (u32, u32)) {
    assert_eq!(values.len(), t.n, "the tables' length");
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has AVX-512F (checked above).
            return unsafe { transform_avx512(values, t, inverse, scale) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked above).
            return unsafe { transform_avx2(values, t, inverse, scale) };
        }
    }
    transform(values, t, inverse, scale)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transform_avx512(values: &mut [u32], t: &NttTables, inverse: bool, scale: (u32, u32)) {
    transform(values, t, inverse, scale)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transform_avx2(values: &mut [u32], t: &NttTables, inverse: bool, scale: (u32, u32)) {
    transform(values, t, inverse, scale)
}

/// One stage of half-length H < 16 over groups of 32 values (16 butterflies of 32 / 2H
/// blocks each): the butterflies' operands are gathered into two arrays of 16 so that the
/// arithmetic runs on whole vectors, as in the long stages (a stage with H = 1 would otherwise
/// run one butterfly per loop trip).
#[inline(always)]
fn short_stage<const H: usize, const INVERSE: bool>(
    values: &mut [u32],
    w: &[u32],
    wq: &[u32],
    p: u32,
) {
    let (mut tw, mut twq) = ([0u32; 16], [0u32; 16]);
    for k in 0..16 {
        tw[k] = w[k % H];
        twq[k] = wq[k % H];
    }
    let at = |k: usize| (k / H) * 2 * H + k % H;
    for chunk in values.chunks_exact_mut(32) {
        let (mut lo, mut hi) = ([0u32; 16], [0u32; 16]);
        for k in 0..16 {
            lo[k] = chunk[at(k)];
            hi[k] = chunk[at(k) + H];
        }
        for k in 0..16 {
            let (x, y) = (lo[k], hi[k]);
            if INVERSE {
                let y = mul_shoup(y, tw[k], twq[k], p);
                lo[k] = reduce_once(x + y, p);
                hi[k] = reduce_once(x + p - y, p);
            } else {
                lo[k] = reduce_once(x + y, p);
                hi[k] = mul_shoup(x + p - y, tw[k], twq[k], p);
            }
        }
        for k in 0..16 {
            chunk[at(k)] = lo[k];
            chunk[at(k) + H] = hi[k];
        }
    }
}

/// The stage of half-length h < 16 by [`short_stage`]; false when it does not apply (fewer
/// than 32 values).
#[inline(always)]
fn short_stage_for(values: &mut [u32], t: &NttTables, h: usize, inverse: bool) -> bool {
    if t.n < 32 || h >= 16 {
        return false;
    }
    let (table, quotients) = if inverse {
        (&t.inverse, &t.inverse_q)
    } else {
        (&t.forward, &t.forward_q)
    };
    let (w, wq, p) = (&table[h..2 * h], &quotients[h..2 * h], t.p);
    match (h, inverse) {
        (1, false) => short_stage::<1, false>(values, w, wq, p),
        (2, false) => short_stage::<2, false>(values, w, wq, p),
        (4, false) => short_stage::<4, false>(values, w, wq, p),
        (8, false) => short_stage::<8, false>(values, w, wq, p),
        (1, true) => short_stage::<1, true>(values, w, wq, p),
        (2, true) => short_stage::<2, true>(values, w, wq, p),
        (4, true) => short_stage::<4, true>(values, w, wq, p),
        _ => short_stage::<8, true>(values, w, wq, p),
    }
    true
}

/// Radix-2 butterflies, stage by stage (Cooley-Tukey; Gentleman-Sande for the forward
/// direction). Forward stage of half-length h on each block (lo, hi):
/// (lo, hi) <- (lo + hi, (lo - hi) r^i); inverse: (lo, hi) <- (lo + hi r^-i, lo - hi r^-i).
#[inline(always)]
fn transform(values: &mut [u32], t: &NttTables, inverse: bool, scale: (u32, u32)) {
    let (n, p) = (t.n, t.p);
    if !inverse {
        let mut h = n / 2;
        while h >= 1 {
            if short_stage_for(values, t, h, false) {
                h /= 2;
                continue;
            }
            let (w, wq) = (&t.forward[h..2 * h], &t.forward_q[h..2 * h]);
            for block in values.chunks_exact_mut(2 * h) {
                let (lo, hi) = block.split_at_mut(h);
                for (((a, b), &w), &wq) in lo.iter_mut().zip(hi.iter_mut()).zip(w).zip(wq) {
                    let (x, y) = (*a, *b);
                    *a = reduce_once(x + y, p);
                    *b = mul_shoup(x + p - y, w, wq, p);
                }
            }
            h /= 2;
        }
    } else {
        let mut h = 1;
        while h < n {
            if short_stage_for(values, t, h, true) {
                h *= 2;
                continue;
            }
            let (w, wq) = (&t.inverse[h..2 * h], &t.inverse_q[h..2 * h]);
            for block in values.chunks_exact_mut(2 * h) {
                let (lo, hi) = block.split_at_mut(h);
                for (((a, b), &w), &wq) in lo.iter_mut().zip(hi.iter_mut()).zip(w).zip(wq) {
                    let x = *a;
                    let y = mul_shoup(*b, w, wq, p);
                    *a = reduce_once(x + y, p);
                    *b = reduce_once(x + p - y, p);
                }
            }
            h *= 2;
        }
        let (s, sq) = scale;
        for v in values.iter_mut() {
            *v = mul_shoup(*v, s, sq, p);
        }
    }
}

/// The linear convolutions z_o = sum_c x_c * w_{o,c} modulo `prime`, all of length `out_len`,
/// for residues `x[c]` (each of length <= out_len) and `w[o][c]`, with
/// out_len <= 2^prime.max_log2. Returns z\[o\] (length out_len, residues in [0, p)).
pub fn convolve_mod(
    x: &[Vec<u64>],
    w: &[Vec<Vec<u64>>],
    out_len: usize,
    prime: &NttPrime,
) -> Vec<Vec<u32>> {
    let size = out_len.next_power_of_two().max(2);
    let log2 = size.trailing_zeros();
    assert!(log2 <= prime.max_log2, "the prime supports the length");
    let tables = NttTables::cached(prime, log2);
    let (p, p_neg_inverse) = (tables.p, tables.p_neg_inverse);
    let forward = |values: &[u64]| {
        let mut a = vec![0u32; size];
        for (a, &v) in a.iter_mut().zip(values) {
            *a = v as u32;
        }
        tables.forward(&mut a);
        a
    };
    let x_hat: Vec<Vec<u32>> = x.iter().map(|v| forward(v)).collect();
    w.iter()
        .map(|row| {
            let mut acc = vec![0u32; size];
            for (wc, xc) in row.iter().zip(&x_hat) {
                let w_hat = forward(wc);
                crate::simd::on_vector_units(|| {
                    for ((a, &u), &v) in acc.iter_mut().zip(xc).zip(&w_hat) {
                        *a = reduce_once(*a + mul_montgomery(u, v, p, p_neg_inverse), p);
                    }
                });
            }
            tables.inverse_of_montgomery(&mut acc);
            acc.truncate(out_len);
            acc
        })
        .collect()
}

/// The exact integers from their residues modulo the primes (one lane per prime, all in C
/// order over the output), with Y = multiplier_xw (sum W X) + multiplier_b B applied modulo
/// each prime first, when the primes' product M is below 2^128 and every prime exceeds 2^30;
/// None otherwise (then [`combine`] applies).
///
/// Garner's mixed-radix reconstruction (Knuth, TAOCP vol. 2, 4.3.2) run lane by lane: digit
/// d_i = (((r_i - d_0) p_0^-1 - d_1) p_1^-1 - ...) mod p_i, each step a Shoup product by a
/// constant over a whole lane (vectorised), then y = sum_i d_i prod_{j<i} p_j in u128 per
/// element, taken in (-M/2, M/2]. Primes above 2^30 are within a factor 2 of each other, so
/// d_j mod p_i is one conditional subtraction.
#[allow(clippy::too_many_arguments)]
fn combine_wide(
    primes: &[u64],
    lanes: &mut [Vec<u32>],
    budget: &Budget,
    bias: Option<&ScaledTensor>,
    out_channels: usize,
    positions: usize,
    output_shape: &[usize],
) -> Option<ScaledTensor> {
    let mut modulus: u128 = 1;
    for &p in primes {
        if p <= 1 << 30 || p >= 1 << 31 {
            return None;
        }
        modulus = modulus.checked_mul(u128::from(p))?;
    }
    let biases: Vec<Integer> = (0..out_channels)
        .map(|o| bias.map_or_else(Integer::zero, |b| b.integer(o) * &budget.multiplier_b))
        .collect();
    for (lane, &p) in lanes.iter_mut().zip(primes) {
        let multiplier = residue_big(&budget.multiplier_xw, p) as u32;
        let offsets: Vec<u32> = biases.iter().map(|b| residue_big(b, p) as u32).collect();
        if multiplier == 1 && offsets.iter().all(|&b| b == 0) {
            continue;
        }
        let (p, quotient) = (p as u32, shoup_quotient(multiplier, p as u32));
        for (row, chunk) in lane.chunks_mut(positions.max(1)).enumerate() {
            let offset = offsets[row % out_channels];
            crate::simd::on_vector_units(|| {
                for v in chunk.iter_mut() {
                    *v = reduce_once(mul_shoup(*v, multiplier, quotient, p) + offset, p);
                }
            });
        }
    }
    for i in 1..primes.len() {
        let p = primes[i] as u32;
        let (digits, rest) = lanes.split_at_mut(i);
        let target = &mut rest[0];
        for (digit, &pj) in digits.iter().zip(primes) {
            let inverse = inv_mod(pj % u64::from(p), u64::from(p)) as u32;
            let quotient = shoup_quotient(inverse, p);
            crate::simd::on_vector_units(|| {
                for (t, &d) in target.iter_mut().zip(digit.iter()) {
                    *t = mul_shoup(*t + p - reduce_once(d, p), inverse, quotient, p);
                }
            });
        }
    }
    let mut radices = Vec::with_capacity(primes.len());
    let mut radix: u128 = 1;
    for &p in primes {
        radices.push(radix);
        radix = radix.wrapping_mul(u128::from(p));
    }
    let half = modulus / 2;
    let len = lanes.first().map_or(0, Vec::len);
    let values: Vec<i128> = (0..len)
        .map(|k| {
            let v: u128 = lanes
                .iter()
                .zip(&radices)
                .map(|(lane, &r)| u128::from(lane[k]) * r)
                .sum();
            if v > half {
                -((modulus - v) as i128)
            } else {
                v as i128
            }
        })
        .collect();
    Some(ScaledTensor {
        integers: Integers::Wide(ArrayD::from_shape_vec(IxDyn(output_shape), values).ok()?),
        scale: budget.scale.clone(),
    })
}

/// Kernels at least this long use transforms (shorter ones: the gather-GEMM path).
pub const MIN_TAPS: usize = 64;

/// The NTT plan for products of length `out_len` whose integers are below 2^bound_bits: primes
/// c 2^L + 1 < 2^31 with 2^L >= out_len until their product exceeds 2^(bound_bits + 1), or None
/// when there are not enough such primes (then the gather-GEMM path applies).
pub fn plan(out_len: usize, bound_bits: u64) -> Option<Plan> {
    let log2 = out_len.next_power_of_two().max(2).trailing_zeros();
    if log2 > 27 {
        return None;
    }
    // About 30.9 bits per prime; two spare candidates.
    let wanted = (bound_bits as usize + 3) / 30 + 2;
    let candidates = ntt_primes_cached(log2, wanted);
    let mut primes = Vec::new();
    let mut log2_m = 0.0f64;
    for q in candidates {
        if log2_m > (bound_bits + 1) as f64 + 1.0 {
            break;
        }
        log2_m += ((q.p - 1) as f64).log2();
        primes.push(q.p);
    }
    (log2_m > (bound_bits + 1) as f64 + 1.0).then_some(Plan::Ntt { primes })
}

/// 1-D correlation with stride 1, dilation 1 and zero padding (p_b before the input) by
/// transforms: y[n, o, t] = sum_c sum_j w[o, c, j] x[n, c, t + j - p_b] is the coefficient
/// t + k - 1 - p_b of sum_c x_c * rev(w_{o,c}) (full product, length L + k - 1), or 0 outside it.
#[allow(clippy::too_many_arguments)]
pub fn correlate_1d(
    input: &ScaledTensor,
    weight: &ScaledTensor,
    bias: Option<&ScaledTensor>,
    output_shape: &[usize],
    pad_begin: usize,
    groups: usize,
    (plan, budget): (Plan, &Budget),
    pool: &rayon::ThreadPool,
) -> ScaledTensor {
    let (batch, in_channels, length) = (input.shape()[0], input.shape()[1], input.shape()[2]);
    let (out_channels, in_per_group, taps) =
        (weight.shape()[0], weight.shape()[1], weight.shape()[2]);
    let out_per_group = out_channels / groups;
    let outputs = output_shape[2];
    let full = length + taps - 1;
    let primes = plan.primes().expect("a modular plan").to_vec();
    let mut lanes: Vec<Vec<u32>> = pool.install(|| {
        primes
            .par_iter()
            .map(|&p| {
                let prime = NttPrime::cached(p);
                let x = input.residues(p);
                let w = weight.residues(p);
                let mut out = vec![0u32; batch * out_channels * outputs];
                for n in 0..batch {
                    for g in 0..groups {
                        let xs: Vec<Vec<u64>> = (0..in_per_group)
                            .map(|c| {
                                let at = (n * in_channels + g * in_per_group + c) * length;
                                x[at..at + length].to_vec()
                            })
                            .collect();
                        let ws: Vec<Vec<Vec<u64>>> = (0..out_per_group)
                            .map(|o| {
                                (0..in_per_group)
                                    .map(|c| {
                                        let at =
                                            ((g * out_per_group + o) * in_per_group + c) * taps;
                                        w[at..at + taps].iter().rev().copied().collect()
                                    })
                                    .collect()
                            })
                            .collect();
                        let z = convolve_mod(&xs, &ws, full, &prime);
                        for (o, zo) in z.iter().enumerate() {
                            let at = (n * out_channels + g * out_per_group + o) * outputs;
                            for t in 0..outputs {
                                let index = (t + taps - 1).checked_sub(pad_begin);
                                if let Some(v) = index.and_then(|i| zo.get(i)) {
                                    out[at + t] = *v;
                                }
                            }
                        }
                    }
                }
                out
            })
            .collect()
    });
    if let Some(y) = combine_wide(
        &primes,
        &mut lanes,
        budget,
        bias,
        out_channels,
        outputs,
        output_shape,
    ) {
        return y;
    }
    let lane_outputs: Vec<Vec<f64>> = lanes
        .iter()
        .map(|lane| lane.iter().map(|&v| f64::from(v)).collect())
        .collect();
    combine(
        &plan,
        &lane_outputs,
        budget,
        bias,
        out_channels,
        outputs,
        output_shape,
        pool,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntt_primes_have_primitive_roots() {
        let primes = ntt_primes(20, 6);
        assert_eq!(primes.len(), 6);
        assert!(primes.windows(2).all(|w| w[0].p > w[1].p));
        for q in &primes {
            assert!(is_prime(q.p) && q.p < 1 << 31 && q.max_log2 >= 20);
            // A generator has order p - 1: not a square (nor any q-th power).
            assert_eq!(pow_mod(q.generator, q.p - 1, q.p), 1);
            assert_ne!(pow_mod(q.generator, (q.p - 1) / 2, q.p), 1);
        }
        // The transform primes known from the literature are found: 15 * 2^27 + 1 and
        // 119 * 2^23 + 1.
        let all = ntt_primes(23, 40);
        assert!(all.iter().any(|q| q.p == 2_013_265_921));
        assert!(all.iter().any(|q| q.p == 998_244_353));
    }

    #[test]
    fn transforms_multiply_polynomials() {
        let prime = ntt_primes(12, 1)[0];
        let x: Vec<u64> = (0..300u64).map(|i| (i * i * 7919 + 3) % prime.p).collect();
        let w: Vec<u64> = (0..77u64).map(|i| (i * 104_729 + 11) % prime.p).collect();
        let out_len = x.len() + w.len() - 1;
        let z = convolve_mod(
            std::slice::from_ref(&x),
            &[vec![w.clone()]],
            out_len,
            &prime,
        );
        for t in 0..out_len {
            let mut expected = 0u64;
            for j in 0..w.len() {
                if t >= j && t - j < x.len() {
                    expected = (expected + x[t - j] * w[j] % prime.p) % prime.p;
                }
            }
            assert_eq!(u64::from(z[0][t]), expected, "t = {t}");
        }
    }
}
