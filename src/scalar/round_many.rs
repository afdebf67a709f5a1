//! [`scaled_i128_rounding`] over a slice: machine integers v sharing one exponent k, each v 2^k
//! correctly rounded into binary32 or binary64, eight at a time on AVX-512.
//!
//! The vector rounding is the scalar one lane by lane: |v| from the two's complement (lo, hi)
//! halves, its 128-bit leading zeros from `vplzcntq` on each half, the cut d = max(128 - q -
//! lz, 0) by variable shifts (`vpsrlvq`/`vpsllvq` give 0 for a count of 64 or more, which is
//! what the halves need), the sticky bit from the dropped bits of both halves, then
//! `vcvtqq2pd` (binary64 rounding to nearest even of an integer below 2^63), the products by
//! 2^d and 2^k (exact, see [`scaled_i128_rounding`]) and, for binary32, `vcvtpd2ps`. Every
//! step is an exact integer operation or one IEEE rounding to nearest, the same as the
//! scalar's, so the results are the same bits (checked against the scalar rounding on every
//! width and on ties in the tests). O(1) per element.

use super::round::scaled_i128_rounding;
use super::FloatFormat;

/// Integers the slice rounding reads: 64-bit and 128-bit two's complement.
pub(crate) trait MachineInteger: Copy + Into<i128> + Sync {
    /// Rounds `values` (a multiple of 8 of them) with AVX-512; see the module docs.
    ///
    /// # Safety
    /// The processor has AVX-512 F, CD and DQ.
    #[cfg(target_arch = "x86_64")]
    unsafe fn round_avx512(values: &[Self], q: u64, k: i64, single: bool, out: &mut [f64]);
}

impl MachineInteger for i64 {
    #[cfg(target_arch = "x86_64")]
    unsafe fn round_avx512(values: &[i64], q: u64, k: i64, single: bool, out: &mut [f64]) {
        avx512::round_i64(values, q, k, single, out)
    }
}

impl MachineInteger for i128 {
    #[cfg(target_arch = "x86_64")]
    unsafe fn round_avx512(values: &[i128], q: u64, k: i64, single: bool, out: &mut [f64]) {
        avx512::round_i128(values, q, k, single, out)
    }
}

/// out\[i\] = values\[i\] 2^k correctly rounded (to nearest, ties to even; overflow to
/// infinity) into `format`, as [`scaled_i128_rounding`] gives it; false (and `out`
/// untouched) for the formats and exponents it does not cover (binary32 and binary64 only,
/// k in \[-1022, 895\]). On AVX-512 (F, CD, DQ) eight values per step.
pub(crate) fn round_scaled_into<V: MachineInteger>(
    values: &[V],
    k: i64,
    format: FloatFormat,
    out: &mut [f64],
) -> bool {
    assert_eq!(values.len(), out.len(), "one output per value");
    let Some(round) = scaled_i128_rounding(k, format) else {
        return false;
    };
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512cd")
        && std::arch::is_x86_feature_detected!("avx512dq")
    {
        let single = format == FloatFormat::F32;
        let q = if single { 53 } else { 63 };
        done = values.len() / 8 * 8;
        // SAFETY: the processor has AVX-512 F, CD and DQ (checked above); the slices hold
        // `done` elements.
        unsafe { V::round_avx512(&values[..done], q, k, single, &mut out[..done]) };
    }
    for (o, &v) in out[done..].iter_mut().zip(&values[done..]) {
        *o = round(v.into());
    }
    true
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Eight values given as their low and high 64-bit halves (two's complement), rounded.
    #[inline]
    #[target_feature(enable = "avx512f,avx512cd,avx512dq")]
    fn round8(lo: __m512i, hi: __m512i, q: u64, power: __m512d, single: bool) -> __m512d {
        let zero = _mm512_setzero_si512();
        let one = _mm512_set1_epi64(1);
        let sixty_four = _mm512_set1_epi64(64);
        // |v| = (v xor s) - s with s = -1 for a negative v: the carry into the high half
        // when the low half is zero.
        let s = _mm512_srai_epi64::<63>(hi);
        let negative = _mm512_cmplt_epi64_mask(hi, zero);
        let a_lo = _mm512_sub_epi64(_mm512_xor_si512(lo, s), s);
        let flipped = _mm512_xor_si512(hi, s);
        let carry = negative & _mm512_cmpeq_epi64_mask(lo, zero);
        let a_hi = _mm512_mask_add_epi64(flipped, carry, flipped, one);
        // Leading zeros of the 128 bits (vplzcntq gives 64 for a zero half).
        let lz_hi = _mm512_lzcnt_epi64(a_hi);
        let hi_zero = _mm512_cmpeq_epi64_mask(a_hi, zero);
        let lz = _mm512_mask_add_epi64(lz_hi, hi_zero, lz_hi, _mm512_lzcnt_epi64(a_lo));
        // d = max(128 - q - lz, 0) <= 128 - q; |v| >> d below 2^q.
        let d = _mm512_max_epi64(
            _mm512_sub_epi64(_mm512_set1_epi64(128 - q as i64), lz),
            zero,
        );
        let left = _mm512_sub_epi64(sixty_four, d);
        let shifted = _mm512_or_si512(
            _mm512_or_si512(_mm512_srlv_epi64(a_lo, d), _mm512_sllv_epi64(a_hi, left)),
            _mm512_srlv_epi64(a_hi, _mm512_sub_epi64(d, sixty_four)),
        );
        // A dropped bit: of the low half (all of it when d > 64), of the high half when d > 64.
        let low_dropped = _mm512_sllv_epi64(a_lo, left);
        let high_dropped = _mm512_sllv_epi64(a_hi, _mm512_sub_epi64(_mm512_set1_epi64(128), d));
        let sticky = _mm512_test_epi64_mask(low_dropped, low_dropped)
            | (_mm512_cmpgt_epi64_mask(d, sixty_four) & _mm512_test_epi64_mask(a_lo, a_lo))
            | _mm512_test_epi64_mask(high_dropped, high_dropped);
        let m = _mm512_mask_or_epi64(shifted, sticky, shifted, one);
        // m 2^d 2^k: 2^d from its exponent field (d <= 75).
        let cut = _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_add_epi64(
            d,
            _mm512_set1_epi64(1023),
        )));
        let mut r = _mm512_mul_pd(_mm512_mul_pd(_mm512_cvtepi64_pd(m), cut), power);
        if single {
            r = _mm512_cvtps_pd(_mm512_cvtpd_ps(r));
        }
        // The sign: -r for a negative v.
        let sign = _mm512_and_si512(s, _mm512_set1_epi64(i64::MIN));
        _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(r), sign))
    }

    /// 2^k as eight lanes (k in [-1022, 1023]).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn power_of_two(k: i64) -> __m512d {
        _mm512_set1_pd(f64::from_bits(((k + 1023) as u64) << 52))
    }

    /// 64-bit values, eight per step (the high half is the sign extension); len % 8 == 0.
    #[target_feature(enable = "avx512f,avx512cd,avx512dq")]
    pub(super) fn round_i64(values: &[i64], q: u64, k: i64, single: bool, out: &mut [f64]) {
        let power = power_of_two(k);
        for (v, o) in values.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
            // SAFETY: eight i64 read, eight f64 written, unaligned.
            unsafe {
                let lo = _mm512_loadu_si512(v.as_ptr().cast());
                let hi = _mm512_srai_epi64::<63>(lo);
                _mm512_storeu_pd(o.as_mut_ptr(), round8(lo, hi, q, power, single));
            }
        }
    }

    /// 128-bit values, eight per step (two loads split into low and high halves); len % 8 == 0.
    #[target_feature(enable = "avx512f,avx512cd,avx512dq")]
    pub(super) fn round_i128(values: &[i128], q: u64, k: i64, single: bool, out: &mut [f64]) {
        let power = power_of_two(k);
        let low_halves = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
        let high_halves = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
        for (v, o) in values.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
            // SAFETY: eight i128 (sixteen 64-bit words, low half first) read, eight f64
            // written, unaligned.
            unsafe {
                let a = _mm512_loadu_si512(v.as_ptr().cast());
                let b = _mm512_loadu_si512(v.as_ptr().add(4).cast());
                let lo = _mm512_permutex2var_epi64(a, low_halves, b);
                let hi = _mm512_permutex2var_epi64(a, high_halves, b);
                _mm512_storeu_pd(o.as_mut_ptr(), round8(lo, hi, q, power, single));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slice rounding gives the scalar rounding's bits on 128-bit and 64-bit values of
    /// every width, ties at 24 and 53 bits and just above them by a bit only the sticky bit
    /// sees, i128::MIN, zero, and exponents at both formats' edges; slices of every length
    /// mod 8 (the scalar tail).
    #[test]
    fn slice_rounding_agrees_with_the_scalar_rounding() {
        let mut rng = crate::oracle::legal::Rng::new(0x5DEE_CE66_D1CE_4E5B);
        let mut next = || rng.next_u64();
        let mut wide = vec![0i128, i128::MIN, i128::MAX, -1, 1, i128::MIN + 1];
        for case in 0..4000u32 {
            let v = super::super::round::test_magnitude(&mut next, case);
            wide.push(if next() & 1 == 1 { -v } else { v });
        }
        let narrow: Vec<i64> = wide
            .iter()
            .map(|&v| v as i64)
            .chain([i64::MIN, i64::MAX, 0, -1])
            .collect();
        for k in [-1022, -1000, -180, -149, -126, -60, 0, 1, 60, 127, 830, 895] {
            for format in [FloatFormat::F32, FloatFormat::F64] {
                let round = scaled_i128_rounding(k, format).expect("k in range");
                for len in [wide.len(), 13, 8, 7] {
                    let mut out = vec![f64::NAN; len];
                    assert!(round_scaled_into(&wide[..len], k, format, &mut out));
                    for (&v, o) in wide.iter().zip(&out) {
                        assert_eq!(o.to_bits(), round(v).to_bits(), "{v} 2^{k} {format:?}");
                    }
                }
                let mut out = vec![f64::NAN; narrow.len()];
                assert!(round_scaled_into(&narrow, k, format, &mut out));
                for (&v, o) in narrow.iter().zip(&out) {
                    let expected = round(i128::from(v));
                    assert_eq!(o.to_bits(), expected.to_bits(), "{v} 2^{k} {format:?}");
                }
            }
        }
        let mut out = [0.0; 1];
        assert!(!round_scaled_into(
            &[1i64],
            -1023,
            FloatFormat::F64,
            &mut out
        ));
        assert!(!round_scaled_into(&[1i64], 0, FloatFormat::F16, &mut out));
    }
}
