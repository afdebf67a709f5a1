//! Matrix products of integers held in f64, exact by a bound on the partial sums.
//!
//! C = A B with A (m x k) and B (k x n) whose entries are integers such that, for every output,
//! the sum of |a_il b_lj| over l is at most 2^53: then every partial sum of every summation
//! order is an integer of magnitude at most 2^53 and no operation rounds, with or without fused
//! multiply-add. The caller guarantees the bound (see [`super::modular::prime_limit`]); this
//! module only multiplies.
//!
//! Why not a GEMM crate: the product has to run on packed panels that the caller writes
//! directly (im2col of residues straight into the layout the micro-kernel reads, so that no
//! unpacked copy exists), and the reduction is cut into chunks with a reduction modulo p between
//! them. What remains is one register-blocked micro-kernel per instruction set, in the style of
//! BLIS (Van Zee and van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS
//! Functionality", 2015): C[MR x NR] += A_panel[MR x kc] B_panel[kc x NR] with the A and B
//! panels stored k-major. Cost: 2 m n k flops; the micro-kernel keeps MR NR accumulators in
//! registers.
//!
//! Kernels: AVX-512F (MR = 8, NR = 24), AVX2 + FMA (MR = 4, NR = 12), and a portable one
//! (MR = 4, NR = 8) chosen at run time by [`Kernel::detect`].

/// A micro-kernel and its register-block shape.
#[derive(Clone, Copy)]
pub struct Kernel {
    /// Rows of A per panel.
    pub mr: usize,
    /// Columns of B per panel.
    pub nr: usize,
    /// The instruction set, for reports.
    pub name: &'static str,
    run: unsafe fn(usize, *const f64, *const f64, *mut f64, usize),
    /// The 64-bit integer kernel of the plan [`Plan::Wide`](super::Plan::Wide), where this
    /// processor has a fast one.
    pub wide: Option<super::wide::WideKernel>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kernel({}, {}x{}", self.name, self.mr, self.nr)?;
        match &self.wide {
            Some(wide) => write!(f, ", {wide:?})"),
            None => write!(f, ")"),
        }
    }
}

impl Kernel {
    /// The fastest kernel this processor runs.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Kernel::AVX512.with_wide(super::wide::WideKernel::detect());
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Kernel::AVX2;
            }
        }
        Kernel::PORTABLE
    }

    /// Every kernel this processor can run (for tests).
    pub fn available() -> Vec<Kernel> {
        let mut kernels = vec![Kernel::PORTABLE];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                kernels.push(Kernel::AVX2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                kernels.push(Kernel::AVX512);
                if super::wide::WideKernel::detect().is_some() {
                    kernels.push(Kernel::AVX512.with_wide(super::wide::WideKernel::detect()));
                }
            }
        }
        kernels
    }

    /// This kernel with `wide` for the plan [`Plan::Wide`](super::Plan::Wide) (the engine
    /// chooses that plan only with a wide kernel).
    pub fn with_wide(self, wide: Option<super::wide::WideKernel>) -> Kernel {
        Kernel { wide, ..self }
    }

    /// Portable Rust, MR = 4, NR = 8.
    pub const PORTABLE: Kernel = Kernel {
        mr: 4,
        nr: 8,
        name: "portable",
        run: portable_4x8,
        wide: None,
    };

    #[cfg(target_arch = "x86_64")]
    const AVX2: Kernel = Kernel {
        mr: 4,
        nr: 12,
        name: "avx2+fma",
        run: avx2_4x12,
        wide: None,
    };

    #[cfg(target_arch = "x86_64")]
    const AVX512: Kernel = Kernel {
        mr: 8,
        nr: 24,
        name: "avx512f",
        run: avx512_8x24,
        wide: None,
    };

    /// C[mr x nr] (row stride `ldc`) += A_panel B_panel over `depth` steps, where
    /// `a_panel[l * mr + i]` = A[i, l] and `b_panel[l * nr + j]` = B[l, j].
    ///
    /// # Panics
    /// When a slice is too short for the block.
    pub fn multiply_add(
        &self,
        depth: usize,
        a_panel: &[f64],
        b_panel: &[f64],
        c: &mut [f64],
        ldc: usize,
    ) {
        assert!(a_panel.len() >= depth * self.mr);
        assert!(b_panel.len() >= depth * self.nr);
        assert!(ldc >= self.nr && c.len() >= (self.mr - 1) * ldc + self.nr);
        // SAFETY: the slices cover every element the kernel reads and writes (checked above),
        // and the kernel was chosen for an instruction set this processor has.
        unsafe {
            (self.run)(
                depth,
                a_panel.as_ptr(),
                b_panel.as_ptr(),
                c.as_mut_ptr(),
                ldc,
            )
        }
    }
}

/// # Safety
/// `a` holds depth*4, `b` depth*8 values; `c` covers 4 rows of 8 at stride ldc.
unsafe fn portable_4x8(depth: usize, a: *const f64, b: *const f64, c: *mut f64, ldc: usize) {
    let a = std::slice::from_raw_parts(a, depth * 4);
    let b = std::slice::from_raw_parts(b, depth * 8);
    let mut acc = [[0.0f64; 8]; 4];
    for l in 0..depth {
        let bl = &b[l * 8..l * 8 + 8];
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = a[l * 4 + i];
            for (x, &bj) in row.iter_mut().zip(bl) {
                *x += ai * bj;
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, x) in row.iter().enumerate() {
            *c.add(i * ldc + j) += x;
        }
    }
}

/// # Safety
/// AVX2 and FMA must be present; `a` holds depth*4, `b` depth*12 values; `c` covers 4 rows of
/// 12 at stride ldc.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_4x12(depth: usize, a: *const f64, b: *const f64, c: *mut f64, ldc: usize) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_pd(); 3]; 4];
    for l in 0..depth {
        let bp = b.add(l * 12);
        let b0 = _mm256_loadu_pd(bp);
        let b1 = _mm256_loadu_pd(bp.add(4));
        let b2 = _mm256_loadu_pd(bp.add(8));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm256_broadcast_sd(&*a.add(l * 4 + i));
            row[0] = _mm256_fmadd_pd(ai, b0, row[0]);
            row[1] = _mm256_fmadd_pd(ai, b1, row[1]);
            row[2] = _mm256_fmadd_pd(ai, b2, row[2]);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let p = c.add(i * ldc + 4 * j);
            _mm256_storeu_pd(p, _mm256_add_pd(_mm256_loadu_pd(p), *v));
        }
    }
}

/// # Safety
/// AVX-512F must be present; `a` holds depth*8, `b` depth*24 values; `c` covers 8 rows of 24
/// at stride ldc.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_8x24(depth: usize, a: *const f64, b: *const f64, c: *mut f64, ldc: usize) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_pd(); 3]; 8];
    for l in 0..depth {
        let bp = b.add(l * 24);
        let b0 = _mm512_loadu_pd(bp);
        let b1 = _mm512_loadu_pd(bp.add(8));
        let b2 = _mm512_loadu_pd(bp.add(16));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm512_set1_pd(*a.add(l * 8 + i));
            row[0] = _mm512_fmadd_pd(ai, b0, row[0]);
            row[1] = _mm512_fmadd_pd(ai, b1, row[1]);
            row[2] = _mm512_fmadd_pd(ai, b2, row[2]);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let p = c.add(i * ldc + 8 * j);
            _mm512_storeu_pd(p, _mm512_add_pd(_mm512_loadu_pd(p), *v));
        }
    }
}

/// A packed for `kernel`: panels of `mr` rows (the last one padded with zero rows), each
/// k-major over columns `k0..k1` of the row-major m x k matrix `a`.
pub fn pack_a(kernel: &Kernel, a: &[f64], m: usize, k: usize, k0: usize, k1: usize) -> Vec<f64> {
    let mr = kernel.mr;
    let panels = m.div_ceil(mr);
    let depth = k1 - k0;
    let mut packed = crate::parallel::recycle::zeros(panels * mr * depth);
    for panel in 0..panels {
        let block = &mut packed[panel * mr * depth..(panel + 1) * mr * depth];
        for i in 0..mr {
            let row = panel * mr + i;
            if row >= m {
                break;
            }
            for (l, &value) in a[row * k + k0..row * k + k1].iter().enumerate() {
                block[l * mr + i] = value;
            }
        }
    }
    packed
}

/// C (m x n, row stride ldc, columns padded to whole panels) += A B, from A packed by
/// [`pack_a`] (depth rows of A's panels) and B packed as n/nr panels of depth x nr, k-major.
/// `c` has at least m rounded up to mr rows.
#[allow(clippy::too_many_arguments)] // the BLAS-style argument list of a GEMM
pub fn multiply_packed(
    kernel: &Kernel,
    m: usize,
    depth: usize,
    a_packed: &[f64],
    b_packed: &[f64],
    b_panels: usize,
    c: &mut [f64],
    ldc: usize,
) {
    let (mr, nr) = (kernel.mr, kernel.nr);
    // Cut the depth so that one B panel (KC x nr: 24 KiB for AVX-512) stays in the first-level
    // cache while every A panel of the block (m x KC, in the second level) passes over it.
    const KC: usize = 128;
    let mut l0 = 0;
    while l0 < depth {
        let l1 = (l0 + KC).min(depth);
        for panel_b in 0..b_panels {
            let b_panel = &b_packed[panel_b * depth * nr..(panel_b + 1) * depth * nr];
            for panel_a in 0..m.div_ceil(mr) {
                let a_panel = &a_packed[panel_a * depth * mr..(panel_a + 1) * depth * mr];
                let c_block = &mut c[panel_a * mr * ldc + panel_b * nr..];
                kernel.multiply_add(
                    l1 - l0,
                    &a_panel[l0 * mr..l1 * mr],
                    &b_panel[l0 * nr..l1 * nr],
                    c_block,
                    ldc,
                );
            }
        }
        l0 = l1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_multiplies_exactly() {
        for kernel in Kernel::available() {
            let (m, k, n) = (11, 37, 2 * kernel.nr + 5);
            // Integers up to 2^20 in magnitude, so partial sums stay far below 2^53.
            let value = |i: usize, j: usize, s: usize| {
                (((i * 7919 + j * 104_729 + s) % 2_000_003) as f64) - 1_000_001.0
            };
            let a: Vec<f64> = (0..m * k).map(|t| value(t / k, t % k, 1)).collect();
            let b: Vec<f64> = (0..k * n).map(|t| value(t / n, t % n, 2)).collect();
            let panels = n.div_ceil(kernel.nr);
            let mut b_packed = vec![0.0; panels * k * kernel.nr];
            for l in 0..k {
                for j in 0..n {
                    b_packed[(j / kernel.nr) * k * kernel.nr + l * kernel.nr + j % kernel.nr] =
                        b[l * n + j];
                }
            }
            let a_packed = pack_a(&kernel, &a, m, k, 0, k);
            let ldc = panels * kernel.nr;
            let mut c = vec![0.0; m.div_ceil(kernel.mr) * kernel.mr * ldc];
            multiply_packed(&kernel, m, k, &a_packed, &b_packed, panels, &mut c, ldc);
            for i in 0..m {
                for j in 0..n {
                    let exact: i128 = (0..k)
                        .map(|l| a[i * k + l] as i128 * b[l * n + j] as i128)
                        .sum();
                    assert_eq!(c[i * ldc + j] as i128, exact, "{kernel:?} at ({i}, {j})");
                }
            }
        }
    }
}
