//! Linear combinations of rows, the inner operation of Winograd's transforms:
//!
//! ```text
//! dst[k] = c_0 src[o_0 + k] + c_1 src[o_1 + k] + ... + c_(N-1) src[o_(N-1) + k],   k < dst.len()
//! ```
//!
//! evaluated left to right, each product rounded, then each sum (no fused multiply-add), so
//! that every instruction set gives the same values: one product per term and N - 1 additions
//! per value. A [`Combiner`] is the implementation for one format and instruction set, chosen
//! at run time as the micro-kernels of [`super::packed`] are. The vector ones hold a block of
//! values in one register from the first term to the store, and finish a row with a masked
//! block (AVX-512) or value by value (AVX2): the loop of the portable one, compiled for the
//! vector units, had left whole rows of fewer than 32 or 64 values to scalar code, depending
//! on LLVM's choices. Cost: N multiplications and N - 1 additions per value.

use super::packed::Isa;
use super::FloatScalar;

/// Most terms a combination takes.
pub const MOST_TERMS: usize = 8;

/// A combination's implementation: (dst, terms (coefficient, offset in src), src).
type Run<T> = unsafe fn(&mut [std::mem::MaybeUninit<T>], &[(T, usize)], &[T]);

/// The combination for one format and instruction set.
pub struct Combiner<T> {
    /// The instruction set (None: portable Rust).
    pub isa: Option<Isa>,
    run: Run<T>,
}

impl<T> Clone for Combiner<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Combiner<T> {}

impl<T: FloatScalar> Combiner<T> {
    /// The portable combination (plain Rust).
    pub fn portable() -> Combiner<T> {
        Combiner {
            isa: None,
            run: portable::<T>,
        }
    }

    /// The combination on the widest vector unit the processor has (AVX-512F, else AVX2),
    /// else the portable one.
    pub fn detect() -> Combiner<T> {
        Combiner::available()
            .pop()
            .unwrap_or_else(Combiner::portable)
    }

    /// Every combination this processor runs, slowest first (for tests).
    pub fn available() -> Vec<Combiner<T>> {
        let mut combiners = vec![Combiner::portable()];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                combiners.push(T::simd_combiner(Isa::Avx2));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                combiners.push(T::simd_combiner(Isa::Avx512));
            }
        }
        combiners
    }

    /// dst\[k\] = sum_i terms\[i\].0 src\[terms\[i\].1 + k\] for k < dst.len(), the terms in order
    /// (at most [`MOST_TERMS`] of them; none: zeros).
    ///
    /// # Panics
    /// If there are more than [`MOST_TERMS`] terms, or `src` does not reach
    /// terms\[i\].1 + dst.len() for every term.
    pub fn combine(&self, dst: &mut [T], terms: &[(T, usize)], src: &[T]) {
        // SAFETY: MaybeUninit<T> has T's layout, and only values of T are written to it.
        let dst = unsafe { &mut *(dst as *mut [T] as *mut [std::mem::MaybeUninit<T>]) };
        self.combine_into(dst, terms, src);
    }

    /// [`Combiner::combine`] into cells not yet written, each written.
    ///
    /// # Panics
    /// As [`Combiner::combine`].
    pub fn combine_into(
        &self,
        dst: &mut [std::mem::MaybeUninit<T>],
        terms: &[(T, usize)],
        src: &[T],
    ) {
        assert!(terms.len() <= MOST_TERMS, "at most {MOST_TERMS} terms");
        for &(_, offset) in terms {
            assert!(offset + dst.len() <= src.len(), "a term's row within src");
        }
        if terms.is_empty() {
            dst.fill(std::mem::MaybeUninit::new(T::zero()));
            return;
        }
        // SAFETY: the rows lie within src (checked above); a vector combiner was made only
        // where the processor has its instruction set (`available`).
        unsafe { (self.run)(dst, terms, src) }
    }
}

/// # Safety
/// At least one term; every term's row lies within `src` (checked by [`Combiner::combine`]).
unsafe fn portable<T: FloatScalar>(
    dst: &mut [std::mem::MaybeUninit<T>],
    terms: &[(T, usize)],
    src: &[T],
) {
    let count = dst.len();
    let (first, rest) = terms.split_first().expect("a term");
    let first_row = &src[first.1..][..count];
    for (k, d) in dst.iter_mut().enumerate() {
        let mut sum = first.0 * first_row[k];
        for &(c, offset) in rest {
            sum += c * src[offset + k];
        }
        d.write(sum);
    }
}

/// The AVX-512F combinations of f32 and f64 (one body, two lane types).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use super::{Combiner, Isa, MOST_TERMS};
    use std::arch::x86_64::*;

    macro_rules! combiner {
        ($name:ident, $T:ty, $lanes:literal, $mask:ty, $set1:ident, $maskz_load:ident,
         $load:ident, $mul:ident, $add:ident, $store:ident, $mask_store:ident) => {
            /// # Safety
            /// AVX-512F is present; 1 to MOST_TERMS terms, every term's row within `src`.
            #[target_feature(enable = "avx512f")]
            unsafe fn $name(
                dst: &mut [std::mem::MaybeUninit<$T>],
                terms: &[($T, usize)],
                src: &[$T],
            ) {
                match terms.len() {
                    1 => body::<1>(dst, terms, src),
                    2 => body::<2>(dst, terms, src),
                    3 => body::<3>(dst, terms, src),
                    4 => body::<4>(dst, terms, src),
                    5 => body::<5>(dst, terms, src),
                    6 => body::<6>(dst, terms, src),
                    7 => body::<7>(dst, terms, src),
                    _ => body::<MOST_TERMS>(dst, terms, src),
                }

                /// $name with N terms: the coefficients in registers, the term loop unrolled.
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn body<const N: usize>(
                    dst: &mut [std::mem::MaybeUninit<$T>],
                    terms: &[($T, usize)],
                    src: &[$T],
                ) {
                    let count = dst.len();
                    let c: [_; N] = std::array::from_fn(|i| $set1(terms[i].0));
                    let rows: [*const $T; N] =
                        std::array::from_fn(|i| src.as_ptr().add(terms[i].1));
                    let d = dst.as_mut_ptr().cast::<$T>();
                    let mut k = 0;
                    while k + $lanes <= count {
                        let mut sum = $mul(c[0], $load(rows[0].add(k)));
                        for i in 1..N {
                            sum = $add(sum, $mul(c[i], $load(rows[i].add(k))));
                        }
                        $store(d.add(k), sum);
                        k += $lanes;
                    }
                    if k < count {
                        let mask: $mask = (1 << (count - k)) - 1;
                        let mut sum = $mul(c[0], $maskz_load(mask, rows[0].add(k)));
                        for i in 1..N {
                            sum = $add(sum, $mul(c[i], $maskz_load(mask, rows[i].add(k))));
                        }
                        $mask_store(d.add(k), mask, sum);
                    }
                }
            }
        };
    }

    combiner!(
        combine_f32,
        f32,
        16,
        __mmask16,
        _mm512_set1_ps,
        _mm512_maskz_loadu_ps,
        _mm512_loadu_ps,
        _mm512_mul_ps,
        _mm512_add_ps,
        _mm512_storeu_ps,
        _mm512_mask_storeu_ps
    );
    combiner!(
        combine_f64,
        f64,
        8,
        __mmask8,
        _mm512_set1_pd,
        _mm512_maskz_loadu_pd,
        _mm512_loadu_pd,
        _mm512_mul_pd,
        _mm512_add_pd,
        _mm512_storeu_pd,
        _mm512_mask_storeu_pd
    );

    /// The f32 combination (made only where AVX-512F is present).
    pub(crate) const F32: Combiner<f32> = Combiner {
        isa: Some(Isa::Avx512),
        run: combine_f32,
    };

    /// The f64 combination (made only where AVX-512F is present).
    pub(crate) const F64: Combiner<f64> = Combiner {
        isa: Some(Isa::Avx512),
        run: combine_f64,
    };
}

/// The AVX2 combinations of f32 and f64 (one body, two lane types; the last values of a row,
/// fewer than a vector, one at a time).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::{Combiner, Isa, MOST_TERMS};
    use std::arch::x86_64::*;

    macro_rules! combiner {
        ($name:ident, $T:ty, $lanes:literal, $set1:ident, $load:ident, $mul:ident,
         $add:ident, $store:ident) => {
            /// # Safety
            /// AVX2 is present; 1 to MOST_TERMS terms, every term's row within `src`.
            #[target_feature(enable = "avx2")]
            unsafe fn $name(
                dst: &mut [std::mem::MaybeUninit<$T>],
                terms: &[($T, usize)],
                src: &[$T],
            ) {
                match terms.len() {
                    1 => body::<1>(dst, terms, src),
                    2 => body::<2>(dst, terms, src),
                    3 => body::<3>(dst, terms, src),
                    4 => body::<4>(dst, terms, src),
                    5 => body::<5>(dst, terms, src),
                    6 => body::<6>(dst, terms, src),
                    7 => body::<7>(dst, terms, src),
                    _ => body::<MOST_TERMS>(dst, terms, src),
                }

                /// $name with N terms: the coefficients in registers, the term loop unrolled.
                #[target_feature(enable = "avx2")]
                #[inline]
                unsafe fn body<const N: usize>(
                    dst: &mut [std::mem::MaybeUninit<$T>],
                    terms: &[($T, usize)],
                    src: &[$T],
                ) {
                    let count = dst.len();
                    let c: [_; N] = std::array::from_fn(|i| $set1(terms[i].0));
                    let rows: [*const $T; N] =
                        std::array::from_fn(|i| src.as_ptr().add(terms[i].1));
                    let d = dst.as_mut_ptr().cast::<$T>();
                    let mut k = 0;
                    while k + $lanes <= count {
                        let mut sum = $mul(c[0], $load(rows[0].add(k)));
                        for i in 1..N {
                            sum = $add(sum, $mul(c[i], $load(rows[i].add(k))));
                        }
                        $store(d.add(k), sum);
                        k += $lanes;
                    }
                    while k < count {
                        let mut sum = terms[0].0 * *rows[0].add(k);
                        for i in 1..N {
                            sum += terms[i].0 * *rows[i].add(k);
                        }
                        *d.add(k) = sum;
                        k += 1;
                    }
                }
            }
        };
    }

    combiner!(
        combine_f32,
        f32,
        8,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_mul_ps,
        _mm256_add_ps,
        _mm256_storeu_ps
    );
    combiner!(
        combine_f64,
        f64,
        4,
        _mm256_set1_pd,
        _mm256_loadu_pd,
        _mm256_mul_pd,
        _mm256_add_pd,
        _mm256_storeu_pd
    );

    /// The f32 combination (made only where AVX2 is present).
    pub(crate) const F32: Combiner<f32> = Combiner {
        isa: Some(Isa::Avx2),
        run: combine_f32,
    };

    /// The f64 combination (made only where AVX2 is present).
    pub(crate) const F64: Combiner<f64> = Combiner {
        isa: Some(Isa::Avx2),
        run: combine_f64,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combiner gives the portable one's values bit for bit, for 1 to MOST_TERMS terms
    /// and row lengths around the vector widths (masked and value-by-value tails); a
    /// combination with one term dropped differs.
    fn agree<T: FloatScalar>(from: impl Fn(f64) -> T) {
        let src: Vec<T> = (0..400)
            .map(|i| from(((i * 7919) % 1013) as f64 / 97.0 - 5.0))
            .collect();
        for n in 1..=MOST_TERMS {
            let terms: Vec<(T, usize)> = (0..n)
                .map(|i| (from(0.37 * i as f64 - 1.1), 11 * i + 3))
                .collect();
            for count in [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 25, 31, 32, 33, 49, 64, 100] {
                let mut expected = vec![T::zero(); count];
                Combiner::portable().combine(&mut expected, &terms, &src);
                for (k, &e) in expected.iter().enumerate() {
                    let mut sum = terms[0].0 * src[terms[0].1 + k];
                    for &(c, o) in &terms[1..] {
                        sum += c * src[o + k];
                    }
                    assert_eq!(e, sum, "portable, {n} terms, value {k}");
                }
                for combiner in Combiner::<T>::available() {
                    let mut got = vec![T::zero(); count];
                    combiner.combine(&mut got, &terms, &src);
                    assert_eq!(
                        got, expected,
                        "{:?}, {n} terms, {count} values",
                        combiner.isa
                    );
                    if n > 1 && count > 0 {
                        let mut short = vec![T::zero(); count];
                        combiner.combine(&mut short, &terms[..n - 1], &src);
                        assert_ne!(short, expected, "{:?}: a dropped term shows", combiner.isa);
                    }
                }
            }
        }
    }

    #[test]
    fn every_combiner_gives_the_portable_values() {
        agree::<f32>(|v| v as f32);
        agree::<f64>(|v| v);
    }

    #[test]
    #[should_panic(expected = "within src")]
    fn a_row_beyond_the_source_is_refused() {
        let src = [1.0f32; 10];
        Combiner::<f32>::detect().combine(&mut [0.0; 4], &[(1.0, 7)], &src);
    }
}
