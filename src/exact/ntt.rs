//! Exact long 1-D products by number-theoretic transforms modulo several primes.
//!
//! For a signal of length n and a kernel of length k, the full product z = x * w (z[t] =
//! sum_j x[t - j] w[j], length n + k - 1) is a polynomial product. Modulo a prime
//! p = c 2^L + 1 with 2^L >= n + k - 1, the cyclic convolution of length N = 2^L computed by the
//! transform (Pollard, "The fast Fourier transform in a finite field", 1971) equals the linear one,
//! because no index wraps. Several such primes and the Chinese remainder theorem give z exactly
//! (the multi-modular method of FLINT's `fmpz_poly_mul` for long operands). Cost per prime:
//! three transforms of length N, O(N log N) multiplications modulo p.

use super::engine::{combine, Budget, Plan};
use super::modular::{is_prime, pow_mod, Modulus};
use super::scaled::ScaledTensor;
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

/// In-place transform of length 2^log2 (a power of two) modulo p, with root of unity `root` of
/// that order: iterative radix-2, decimation in frequency for the forward direction (natural
/// order in, bit-reversed out) and decimation in time for the inverse (bit-reversed in, natural
/// out), so that no reordering pass is needed between them.
fn transform(values: &mut [u64], root: u64, m: Modulus, inverse: bool) {
    let n = values.len();
    let p = m.p;
    // twiddles[i] = root^i for i < n/2.
    let half = n / 2;
    let mut twiddles = Vec::with_capacity(half.max(1));
    let mut w = 1u64;
    for _ in 0..half.max(1) {
        twiddles.push(w);
        w = m.mul(w, root);
    }
    if !inverse {
        let mut len = n;
        while len >= 2 {
            let h = len / 2;
            let stride = n / len;
            for block in values.chunks_mut(len) {
                let (lo, hi) = block.split_at_mut(h);
                for (i, (a, b)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                    let (x, y) = (*a, *b);
                    let sum = x + y;
                    *a = if sum >= p { sum - p } else { sum };
                    let diff = if x >= y { x - y } else { x + p - y };
                    *b = m.mul(diff, twiddles[i * stride]);
                }
            }
            len = h;
        }
    } else {
        let mut len = 2;
        while len <= n {
            let h = len / 2;
            let stride = n / len;
            for block in values.chunks_mut(len) {
                let (lo, hi) = block.split_at_mut(h);
                for (i, (a, b)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                    let x = *a;
                    let y = m.mul(*b, twiddles[i * stride]);
                    let sum = x + y;
                    *a = if sum >= p { sum - p } else { sum };
                    *b = if x >= y { x - y } else { x + p - y };
                }
            }
            len *= 2;
        }
    }
}

/// The linear convolutions z_o = sum_c x_c * w_{o,c} modulo `prime`, all of length `out_len`,
/// for residues `x[c]` (each of length <= out_len) and `w[o][c]`, with
/// out_len <= 2^prime.max_log2. Returns z[o] (length out_len).
pub fn convolve_mod(
    x: &[Vec<u64>],
    w: &[Vec<Vec<u64>>],
    out_len: usize,
    prime: &NttPrime,
) -> Vec<Vec<u64>> {
    let size = out_len.next_power_of_two().max(2);
    let log2 = size.trailing_zeros();
    assert!(log2 <= prime.max_log2, "the prime supports the length");
    let m = Modulus::new(prime.p);
    let p = prime.p;
    let root = pow_mod(prime.generator, (p - 1) >> log2, p);
    let inverse_root = pow_mod(root, p - 2, p);
    let inverse_size = pow_mod(size as u64, p - 2, p);
    let forward = |values: &[u64]| {
        let mut a = vec![0u64; size];
        a[..values.len()].copy_from_slice(values);
        transform(&mut a, root, m, false);
        a
    };
    let x_hat: Vec<Vec<u64>> = x.iter().map(|v| forward(v)).collect();
    w.iter()
        .map(|row| {
            let mut acc = vec![0u64; size];
            for (wc, xc) in row.iter().zip(&x_hat) {
                let w_hat = forward(wc);
                for ((a, &u), &v) in acc.iter_mut().zip(xc).zip(&w_hat) {
                    let t = *a + m.mul(u, v);
                    *a = if t >= p { t - p } else { t };
                }
            }
            transform(&mut acc, inverse_root, m, true);
            acc.truncate(out_len);
            for a in acc.iter_mut() {
                *a = m.mul(*a, inverse_size);
            }
            acc
        })
        .collect()
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
    let candidates = ntt_primes(log2, wanted);
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
    let lane_outputs: Vec<Vec<f64>> = pool.install(|| {
        primes
            .par_iter()
            .map(|&p| {
                let prime = NttPrime::new(p);
                let x = input.residues(p);
                let w = weight.residues(p);
                let mut out = vec![0.0f64; batch * out_channels * outputs];
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
                                    out[at + t] = *v as f64;
                                }
                            }
                        }
                    }
                }
                out
            })
            .collect()
    });
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
            assert_eq!(z[0][t], expected, "t = {t}");
        }
    }
}
