//! Running a loop on the widest vector unit the processor has: the same code compiled for
//! AVX-512 or AVX2 + FMA and chosen at run time (the portable build otherwise), on stable Rust.
//!
//! The closure is a generic argument of a `#[target_feature]` function, so a small loop is
//! inlined there and compiled with those features (a call through `dyn FnMut` is not: its body
//! keeps the baseline features, which is what the NTT's first version did). LLVM's inliner
//! declines large bodies (checked with objdump: the transforms and the float kernels' row
//! loops stayed at baseline through this helper), so those keep explicit `#[target_feature]`
//! wrappers around an `#[inline(always)]` function.

/// Runs `run` compiled for AVX-512F (with CD's leading-zero count per lane), else AVX2 + FMA
/// (with LZCNT and BMI1), else the baseline.
#[inline(always)]
pub(crate) fn on_vector_units<R>(run: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512cd")]
        unsafe fn avx512<R>(run: impl FnOnce() -> R) -> R {
            run()
        }
        #[target_feature(enable = "avx2,fma,lzcnt,bmi1")]
        unsafe fn avx2<R>(run: impl FnOnce() -> R) -> R {
            run()
        }
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512cd") {
            // SAFETY: the processor has AVX-512F and CD (checked above).
            return unsafe { avx512(run) };
        }
        if has!("avx2") && has!("fma") && has!("lzcnt") && has!("bmi1") {
            // SAFETY: the processor has AVX2, FMA, LZCNT and BMI1 (checked above).
            return unsafe { avx2(run) };
        }
    }
    run()
}

/// Defines `$name`, which calls `$inner` with its arguments compiled for AVX-512F, else
/// AVX2 + FMA, else the baseline: explicit `#[target_feature]` wrappers around an
/// `#[inline(always)]` function, for bodies too large for [`on_vector_units`]'s inlining.
macro_rules! vectorised {
    ($vis:vis fn $name:ident<$T:ident: $B:path>($($arg:ident: $ty:ty),* $(,)?) => $inner:ident) => {
        #[allow(clippy::too_many_arguments)]
        $vis fn $name<$T: $B>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512<$T: $B>($($arg: $ty),*) {
                    $inner($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2<$T: $B>($($arg: $ty),*) {
                    $inner($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the processor has AVX-512F (checked above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the processor has AVX2 and FMA (checked above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $inner($($arg),*)
        }
    };
}
pub(crate) use vectorised;
