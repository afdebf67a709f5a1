//! The weight packed once for a register-blocked micro-kernel, and that micro-kernel: the
//! matrix product of im2col (and of a prepared layer, [`super::PreparedConv`]) without a GEMM
//! library's per-call packing.
//!
//! Per group g the weight is the matrix W_g (C_out/G x depth, depth = C_in/G prod k). It is
//! cut into panels of MR = 8 output channels (the last one padded with zero rows), each
//! stored k-major, `panel[l MR + r] = W_g[p MR + r, l]`, with the bias padded alike. The
//! micro-kernel computes, for one panel and up to NR columns (a few vectors) of output positions,
//!
//! ```text
//! C[r, t] = b[r] + sum_{l < depth} A[r, l] B[l, t]      (r < MR, t < width <= NR)
//! ```
//!
//! holding the MR x NR sums in registers, starting from the bias and adding the terms in the
//! order l = 0, 1, ... with fused multiply-adds: a recursive summation, so the componentwise
//! bound of the float module holds. B is read in place, rows `ldb` apart (the gathered columns
//! of im2col, or the input itself for a 1x1 layer, whose rows a channel apart are copied into
//! contiguous blocks by the first panel that reads them: [`PackedWeights::multiply`]), the last
//! vector through a mask, so nothing beyond `width` columns of B or C is read or written. Cost:
//! 2 MR NR depth flops per call with MR NR / lanes accumulators, NR / lanes vector loads of B
//! and MR broadcasts of A per step.
//!
//! The kernels, chosen at run time ([`MicroKernel::detect`]): AVX-512F's (16 f32 or 8 f64
//! lanes, NR = 3 vectors: the 8 x 3 sums in 24 of the 32 registers); AVX2 with FMA's (8 f32 or
//! 4 f64 lanes, NR = 2 vectors: the 16 registers hold 4 x 2 sums, so the panel goes in two
//! passes of 4 rows, each adding the terms in the same order, so the two agree bit for bit);
//! a portable one in plain Rust without fused multiply-adds (used by implicit GEMM where
//! neither is present; im2col multiplies with the `gemm` crate there).

use super::FloatScalar;

/// Output channels per panel.
pub const MR: usize = 8;

/// Most vectors of output positions per call of the AVX-512F and portable kernels.
pub const VECTORS: usize = 3;

/// The weight of a layer packed for the micro-kernel (with its bias): per group, panels of
/// MR output channels, each depth x MR, k-major.
#[derive(Debug, Clone)]
pub struct PackedWeights<T> {
    groups: usize,
    out_per_group: usize,
    depth: usize,
    panels: usize,
    weight: Vec<T>,
    bias: Vec<T>,
}

impl<T: FloatScalar> PackedWeights<T> {
    /// Packs `weight` (C_out rows of `depth` values, C order) and `bias` (C_out values) for
    /// `groups` groups.
    pub fn new(weight: &[T], bias: &[T], groups: usize, depth: usize) -> PackedWeights<T> {
        let out_per_group = bias.len() / groups.max(1);
        let panels = out_per_group.div_ceil(MR);
        let mut packed = vec![T::zero(); groups * panels * MR * depth];
        let mut padded = vec![T::zero(); groups * panels * MR];
        for g in 0..groups {
            for o in 0..out_per_group {
                let (p, r) = (o / MR, o % MR);
                let row = g * out_per_group + o;
                let panel = &mut packed[(g * panels + p) * MR * depth..][..MR * depth];
                for (l, &value) in weight[row * depth..][..depth].iter().enumerate() {
                    panel[l * MR + r] = value;
                }
                padded[(g * panels + p) * MR + r] = bias[row];
            }
        }
        PackedWeights {
            groups,
            out_per_group,
            depth,
            panels,
            weight: packed,
            bias: padded,
        }
    }

    /// Output channels per group.
    pub fn out_per_group(&self) -> usize {
        self.out_per_group
    }

    /// Reduction terms per output: C_in/G prod k.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The groups.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Panels of MR output channels per group.
    pub fn panels(&self) -> usize {
        self.panels
    }

    /// The weight's bytes in all groups.
    pub fn bytes(&self) -> usize {
        self.weight.len() * std::mem::size_of::<T>()
    }

    /// Y_g = W_g B + b_g for group `g` and the output channels of `panels` (all:
    /// 0..[`PackedWeights::panels`]): row l of B is the `width` values from `b + offsets[l]`
    /// (rows `ldb` apart for a matrix, shifted windows of one padded input for implicit GEMM);
    /// output channel o's row starts at `y + (o - panels.start MR) ldy`. The columns go in
    /// chunks of `chunk` (rounded up to whole blocks), each passed over by every panel.
    ///
    /// With `copy`, each chunk's rows of B are copied into it as contiguous blocks of the
    /// kernel's columns (depth x columns each, k-major, the first at a 64-byte boundary so
    /// that every row starts a cache line), the chunk cut so that the copy stays within
    /// CHUNK_BYTES: the chunk's first panel reads B in place, prefetching the rows AHEAD terms
    /// on, and stores each row it loads into the copy; the other panels read the copy. Where
    /// B's rows lie far apart (the input's channels of a 1x1 layer, 12.5 KB apart on ResNet's
    /// 56x56 layers) they then read a few pages instead of one per term, and the one pass
    /// over B in memory does a panel's products meanwhile (ResNet's 1x1 layer at one thread,
    /// paired: 0.98 -> 0.89 ms against a copy made before the panels). The sums and their
    /// order are the same either way. Cost: one copy of B's `depth x width` values, made as
    /// they are first read.
    ///
    /// # Safety
    /// For every l < depth, `b + offsets[l]` covers `width` values; `y` covers a row of
    /// `width` values `ldy` apart for each of those output channels, written by no one else
    /// meanwhile; `kernel` runs on this processor ([`MicroKernel::detect`]).
    #[allow(clippy::too_many_arguments)] // the BLAS-style argument list of a GEMM
    pub unsafe fn multiply(
        &self,
        kernel: MicroKernel<T>,
        (g, panels): (usize, std::ops::Range<usize>),
        b: *const T,
        offsets: &[usize],
        width: usize,
        chunk: usize,
        y: *mut T,
        ldy: usize,
        mut copy: Option<&mut Vec<T>>,
    ) {
        assert_eq!(offsets.len(), self.depth, "one offset per reduction term");
        assert!(panels.end <= self.panels, "panels of the group");
        let (columns, depth, size) = (kernel.columns, self.depth, std::mem::size_of::<T>());
        let mut chunk = chunk.div_ceil(columns).max(1) * columns;
        // With a copy: row l of a block starts l columns in, the blocks `aligned` elements
        // into the buffer (from a 64-byte boundary: each row of a block starts a cache line).
        let (copied_offsets, aligned): (Vec<usize>, usize) = match copy {
            Some(ref mut buffer) => {
                let fits = chunk_columns(depth * columns * size).max(1);
                chunk = chunk.min(fits * columns);
                let copied_columns = chunk.min(width.div_ceil(columns) * columns);
                buffer.resize(depth * copied_columns + 64 / size, T::zero());
                let aligned = buffer.as_ptr().align_offset(64).min(64 / size);
                ((0..depth).map(|l| l * columns).collect(), aligned)
            }
            None => (Vec::new(), 0),
        };
        // The copy's blocks, written by the chunk's first panel as it reads B in place.
        let copied = copy.map(|buffer| buffer.as_mut_ptr().add(aligned));
        for c0 in (0..width).step_by(chunk) {
            let c1 = (c0 + chunk).min(width);
            for p in panels.clone() {
                let block = (g * self.panels + p) * MR;
                let rows = (self.out_per_group - p * MR).min(MR);
                for (i, t) in (c0..c1).step_by(columns).enumerate() {
                    let (b, offsets, pack) = match copied {
                        None => (b.add(t), offsets, std::ptr::null_mut()),
                        Some(copied) => {
                            let in_copy = copied.add(i * depth * columns);
                            if p == panels.start {
                                (b.add(t), offsets, in_copy)
                            } else {
                                (
                                    in_copy.cast_const(),
                                    &copied_offsets[..],
                                    std::ptr::null_mut(),
                                )
                            }
                        }
                    };
                    (kernel.run)(&Block {
                        depth,
                        a: self.weight[block * depth..].as_ptr(),
                        bias: self.bias[block..].as_ptr(),
                        b,
                        offsets: offsets.as_ptr(),
                        width: (c1 - t).min(columns),
                        c: y.add((p - panels.start) * MR * ldy + t),
                        ldc: ldy,
                        rows,
                        pack,
                    });
                }
            }
        }
    }
}

/// Columns per chunk of B for `bytes_per_column` bytes per column: about CHUNK_BYTES.
pub fn chunk_columns(bytes_per_column: usize) -> usize {
    (CHUNK_BYTES / bytes_per_column.max(1)).max(1)
}

/// The most bytes of B that the panels pass over in turn (a quarter of the second-level
/// cache here; 64 KiB to everything measured the same on the im2col layers).
const CHUNK_BYTES: usize = 256 << 10;

/// One micro-kernel call: C[r, t] = bias\[r\] + sum_l a[l MR + r] b[offsets\[l\] + t] for
/// r < rows, t < width (at most the kernel's `columns`).
pub struct Block<T> {
    depth: usize,
    a: *const T,
    bias: *const T,
    b: *const T,
    offsets: *const usize,
    width: usize,
    c: *mut T,
    ldc: usize,
    rows: usize,
    /// Where not null: the vectors of row l of B as loaded (zeros past `width`) are also
    /// stored at `pack + l columns` (the kernel's columns), and the row AHEAD terms on is
    /// prefetched.
    pack: *mut T,
}

/// Terms ahead of the one being added whose row of B the packing kernels prefetch.
const AHEAD: usize = 8;

/// A micro-kernel for T: its vector width and its function.
pub struct MicroKernel<T> {
    /// The instruction set (None: the portable kernel).
    pub isa: Option<Isa>,
    /// Lanes per vector.
    pub lanes: usize,
    /// Most columns per call (vectors per row of sums times lanes).
    pub columns: usize,
    run: unsafe fn(&Block<T>),
}

impl<T> Clone for MicroKernel<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for MicroKernel<T> {}

impl<T: FloatScalar> MicroKernel<T> {
    /// The portable kernel: the same sums in the same order in plain Rust (no fused
    /// multiply-add), VECTORS x 16 columns per call.
    pub fn portable() -> MicroKernel<T> {
        MicroKernel {
            isa: None,
            lanes: PORTABLE_LANES,
            columns: VECTORS * PORTABLE_LANES,
            run: portable::<T>,
        }
    }

    /// The fastest vector kernel the processor runs (AVX-512F, else AVX2 with FMA), else None.
    pub fn detect() -> Option<MicroKernel<T>> {
        MicroKernel::available().into_iter().skip(1).last()
    }

    /// Every kernel this processor runs, slowest first: the portable one, AVX2 with FMA,
    /// AVX-512F (for tests and benchmarks).
    pub fn available() -> Vec<MicroKernel<T>> {
        let mut kernels = vec![MicroKernel::portable()];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                kernels.push(T::simd_kernel(Isa::Avx2));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                kernels.push(T::simd_kernel(Isa::Avx512));
            }
        }
        kernels
    }
}

/// The vector instruction sets with a micro-kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX2 with FMA (256-bit vectors, 16 registers).
    Avx2,
    /// AVX-512F (512-bit vectors, 32 registers).
    Avx512,
}

const PORTABLE_LANES: usize = 16;

/// # Safety
/// The block's pointers cover what it reads and writes (see [`PackedWeights::multiply`]);
/// `k.width` is at most VECTORS * PORTABLE_LANES.
unsafe fn portable<T: FloatScalar>(k: &Block<T>) {
    const COLUMNS: usize = VECTORS * PORTABLE_LANES;
    let width = k.width.min(COLUMNS);
    let mut acc = [[T::zero(); COLUMNS]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        row.fill(*k.bias.add(r));
    }
    let a = std::slice::from_raw_parts(k.a, k.depth * MR);
    for (l, a) in a.chunks_exact(MR).enumerate() {
        let b = std::slice::from_raw_parts(k.b.add(*k.offsets.add(l)), width);
        if !k.pack.is_null() {
            let row = std::slice::from_raw_parts_mut(k.pack.add(l * COLUMNS), COLUMNS);
            row[..width].copy_from_slice(b);
            row[width..].fill(T::zero());
        }
        for (row, &a) in acc.iter_mut().zip(a) {
            for (sum, &b) in row.iter_mut().zip(b) {
                *sum += a * b;
            }
        }
    }
    for (r, row) in acc.iter().enumerate().take(k.rows) {
        std::slice::from_raw_parts_mut(k.c.add(r * k.ldc), width).copy_from_slice(&row[..width]);
    }
}

/// The AVX-512F micro-kernels of f32 and f64 (one body, two lane types).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use super::{Block, Isa, MicroKernel, AHEAD, MR, VECTORS};
    use std::arch::x86_64::*;

    macro_rules! kernel {
        ($name:ident, $run:ident, $T:ty, $lanes:literal, $mask:ty, $zero:ident, $set1:ident,
         $maskz_load:ident, $load:ident, $fmadd:ident, $store:ident, $mask_store:ident) => {
            /// # Safety
            /// AVX-512F is present and the block's pointers cover what it reads and writes
            /// (see [`super::PackedWeights::multiply`]).
            #[target_feature(enable = "avx512f")]
            unsafe fn $name<const NV: usize, const PACK: bool>(k: &Block<$T>) {
                let tail = k.width - (NV - 1) * $lanes;
                let mask: $mask = if tail >= $lanes {
                    !0
                } else {
                    ((1u32 << tail) - 1) as $mask
                };
                let mut acc = [[$zero(); NV]; MR];
                for (r, row) in acc.iter_mut().enumerate() {
                    *row = [$set1(*k.bias.add(r)); NV];
                }
                for l in 0..k.depth {
                    let bp = k.b.add(*k.offsets.add(l));
                    if PACK && l + AHEAD < k.depth {
                        let ahead = k.b.add(*k.offsets.add(l + AHEAD));
                        for v in 0..NV {
                            _mm_prefetch::<_MM_HINT_T0>(ahead.add(v * $lanes).cast());
                        }
                    }
                    let mut b = [$zero(); NV];
                    for (v, bv) in b.iter_mut().enumerate() {
                        *bv = if v + 1 < NV {
                            $load(bp.add(v * $lanes))
                        } else {
                            $maskz_load(mask, bp.add(v * $lanes))
                        };
                    }
                    if PACK {
                        let row = k.pack.add(l * VECTORS * $lanes);
                        for (v, &bv) in b.iter().enumerate() {
                            $store(row.add(v * $lanes), bv);
                        }
                    }
                    let ap = k.a.add(l * MR);
                    for (r, row) in acc.iter_mut().enumerate() {
                        let a = $set1(*ap.add(r));
                        for (sum, &bv) in row.iter_mut().zip(&b) {
                            *sum = $fmadd(a, bv, *sum);
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate().take(k.rows) {
                    let cp = k.c.add(r * k.ldc);
                    for (v, &sum) in row.iter().enumerate() {
                        if v + 1 < NV {
                            $store(cp.add(v * $lanes), sum);
                        } else {
                            $mask_store(cp.add(v * $lanes), mask, sum);
                        }
                    }
                }
            }

            /// The kernel instance for the block's width (vectors of B) and whether it stores
            /// B's rows.
            ///
            /// # Safety
            #[doc = concat!("As [`", stringify!($name), "`]; `k.width` is at most VECTORS * ", stringify!($lanes), ".")]
            unsafe fn $run(k: &Block<$T>) {
                match (k.width.div_ceil($lanes), k.pack.is_null()) {
                    (1, true) => $name::<1, false>(k),
                    (2, true) => $name::<2, false>(k),
                    (_, true) => $name::<VECTORS, false>(k),
                    (1, false) => $name::<1, true>(k),
                    (2, false) => $name::<2, true>(k),
                    (_, false) => $name::<VECTORS, true>(k),
                }
            }
        };
    }

    kernel!(
        block_f32,
        run_f32,
        f32,
        16,
        __mmask16,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_maskz_loadu_ps,
        _mm512_loadu_ps,
        _mm512_fmadd_ps,
        _mm512_storeu_ps,
        _mm512_mask_storeu_ps
    );
    kernel!(
        block_f64,
        run_f64,
        f64,
        8,
        __mmask8,
        _mm512_setzero_pd,
        _mm512_set1_pd,
        _mm512_maskz_loadu_pd,
        _mm512_loadu_pd,
        _mm512_fmadd_pd,
        _mm512_storeu_pd,
        _mm512_mask_storeu_pd
    );

    /// The f32 kernel (call only where AVX-512F is present).
    pub(crate) const F32: MicroKernel<f32> = MicroKernel {
        isa: Some(Isa::Avx512),
        lanes: 16,
        columns: VECTORS * 16,
        run: run_f32,
    };

    /// The f64 kernel (call only where AVX-512F is present).
    pub(crate) const F64: MicroKernel<f64> = MicroKernel {
        isa: Some(Isa::Avx512),
        lanes: 8,
        columns: VECTORS * 8,
        run: run_f64,
    };
}

/// The AVX2 + FMA micro-kernels of f32 and f64 (one body, two lane types): the panel's rows in
/// two passes of HALF rows, each holding HALF x NV sums, NV vectors of B and a broadcast.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::{Block, Isa, MicroKernel, AHEAD, MR};
    use std::arch::x86_64::*;

    /// Rows per pass.
    const HALF: usize = MR / 2;

    /// Most vectors per row of sums: HALF x NV sums, NV vectors of B and a broadcast take 11
    /// of the 16 registers (with NV = 3 they take all 16; the compiler then spilled a sum and
    /// the kernel ran at half speed).
    const NV: usize = 2;

    macro_rules! kernel {
        ($name:ident, $T:ty, $lanes:literal, $mask:expr, $zero:ident, $set1:ident,
         $maskload:ident, $load:ident, $fmadd:ident, $store:ident, $maskstore:ident) => {
            /// # Safety
            /// AVX2 and FMA are present and the block's pointers cover what it reads and
            /// writes (see [`super::PackedWeights::multiply`]).
            #[target_feature(enable = "avx2,fma")]
            unsafe fn $name<const V: usize, const MASKED: bool>(k: &Block<$T>) {
                let tail = k.width - (V - 1) * $lanes;
                let mask: __m256i = $mask(tail);
                // The last vector through the mask only where it is partial: a full block
                // keeps the mask out of the 16 registers.
                let partial = |v: usize| MASKED && v + 1 == V;
                for r0 in (0..k.rows).step_by(HALF) {
                    let mut acc = [[$zero(); V]; HALF];
                    for (r, row) in acc.iter_mut().enumerate() {
                        *row = [$set1(*k.bias.add(r0 + r)); V];
                    }
                    // The first pass stores B's rows where asked (the second reads them again).
                    let pack = r0 == 0 && !k.pack.is_null();
                    for l in 0..k.depth {
                        let bp = k.b.add(*k.offsets.add(l));
                        if pack && l + AHEAD < k.depth {
                            let ahead = k.b.add(*k.offsets.add(l + AHEAD));
                            for v in 0..V {
                                _mm_prefetch::<_MM_HINT_T0>(ahead.add(v * $lanes).cast());
                            }
                        }
                        let mut b = [$zero(); V];
                        for (v, bv) in b.iter_mut().enumerate() {
                            *bv = if partial(v) {
                                $maskload(bp.add(v * $lanes), mask)
                            } else {
                                $load(bp.add(v * $lanes))
                            };
                        }
                        if pack {
                            let row = k.pack.add(l * NV * $lanes);
                            for (v, &bv) in b.iter().enumerate() {
                                $store(row.add(v * $lanes), bv);
                            }
                        }
                        let ap = k.a.add(l * MR + r0);
                        for (r, row) in acc.iter_mut().enumerate() {
                            let a = $set1(*ap.add(r));
                            for (sum, &bv) in row.iter_mut().zip(&b) {
                                *sum = $fmadd(a, bv, *sum);
                            }
                        }
                    }
                    for (r, row) in acc.iter().enumerate().take(k.rows - r0) {
                        let cp = k.c.add((r0 + r) * k.ldc);
                        for (v, &sum) in row.iter().enumerate() {
                            if partial(v) {
                                $maskstore(cp.add(v * $lanes), mask, sum);
                            } else {
                                $store(cp.add(v * $lanes), sum);
                            }
                        }
                    }
                }
            }
        };
    }

    /// Lanes i < tail set (all ones), the others clear, as 32-bit lanes.
    #[target_feature(enable = "avx2")]
    fn mask_f32(tail: usize) -> __m256i {
        let tail = _mm256_set1_epi32(tail as i32);
        _mm256_cmpgt_epi32(tail, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }

    /// Lanes i < tail set (all ones), the others clear, as 64-bit lanes.
    #[target_feature(enable = "avx2")]
    fn mask_f64(tail: usize) -> __m256i {
        let tail = _mm256_set1_epi64x(tail as i64);
        _mm256_cmpgt_epi64(tail, _mm256_setr_epi64x(0, 1, 2, 3))
    }

    kernel!(
        block_f32,
        f32,
        8,
        mask_f32,
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_maskload_ps,
        _mm256_loadu_ps,
        _mm256_fmadd_ps,
        _mm256_storeu_ps,
        _mm256_maskstore_ps
    );
    kernel!(
        block_f64,
        f64,
        4,
        mask_f64,
        _mm256_setzero_pd,
        _mm256_set1_pd,
        _mm256_maskload_pd,
        _mm256_loadu_pd,
        _mm256_fmadd_pd,
        _mm256_storeu_pd,
        _mm256_maskstore_pd
    );

    /// # Safety
    /// As [`block_f32`]; `k.width` is at most NV * 8.
    unsafe fn run_f32(k: &Block<f32>) {
        match (k.width <= 8, !k.width.is_multiple_of(8)) {
            (true, false) => block_f32::<1, false>(k),
            (true, true) => block_f32::<1, true>(k),
            (false, false) => block_f32::<NV, false>(k),
            (false, true) => block_f32::<NV, true>(k),
        }
    }

    /// # Safety
    /// As [`block_f64`]; `k.width` is at most NV * 4.
    unsafe fn run_f64(k: &Block<f64>) {
        match (k.width <= 4, !k.width.is_multiple_of(4)) {
            (true, false) => block_f64::<1, false>(k),
            (true, true) => block_f64::<1, true>(k),
            (false, false) => block_f64::<NV, false>(k),
            (false, true) => block_f64::<NV, true>(k),
        }
    }

    /// The f32 kernel (call only where AVX2 and FMA are present).
    pub(crate) const F32: MicroKernel<f32> = MicroKernel {
        isa: Some(Isa::Avx2),
        lanes: 8,
        columns: NV * 8,
        run: run_f32,
    };

    /// The f64 kernel (call only where AVX2 and FMA are present).
    pub(crate) const F64: MicroKernel<f64> = MicroKernel {
        isa: Some(Isa::Avx2),
        lanes: 4,
        columns: NV * 4,
        run: run_f64,
    };
}

#[cfg(test)]
mod tests {
    use super::{MicroKernel, PackedWeights, MR};

    /// Values in [-1, 1) from a 64-bit generator, deterministic.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 23) as f32) - 1.0
            })
            .collect()
    }

    /// B read in place and B copied block by block give the same outputs bit for bit, for
    /// every kernel, with rows far apart, chunks cut by the copy (depth 700: one block per
    /// chunk), partial blocks and panels of fewer than MR rows; and every output is the
    /// recursive sum in order (checked against a plain loop with fused multiply-adds only
    /// where the kernel fuses, so bit equality there; the portable kernel's is checked the
    /// same way without fusing).
    #[test]
    fn copied_rows_give_the_products_read_in_place() {
        for (depth, out, width, ldb) in [(700, 11, 150, 1009), (5, 19, 101, 333), (64, 8, 48, 48)] {
            let w = values(out * depth, 1);
            let bias = values(out, 2);
            let b = values(depth * ldb, 3);
            let packed = PackedWeights::new(&w, &bias, 1, depth);
            let offsets: Vec<usize> = (0..depth).map(|l| l * ldb).collect();
            for kernel in MicroKernel::<f32>::available() {
                let run = |copy: Option<&mut Vec<f32>>| {
                    let mut y = vec![f32::NAN; out * width];
                    // SAFETY: row l of B is the width values from l ldb (width <= ldb), y has
                    // out rows of width values, the kernel runs on this processor.
                    unsafe {
                        let panels = (0, 0..packed.panels());
                        let (b, y_ptr) = (b.as_ptr(), y.as_mut_ptr());
                        packed.multiply(kernel, panels, b, &offsets, width, 64, y_ptr, width, copy);
                    }
                    y
                };
                let in_place = run(None);
                let mut buffer = vec![f32::NAN; 3];
                let copied = run(Some(&mut buffer));
                let first_difference =
                    (in_place.iter().zip(&copied)).position(|(a, b)| a.to_bits() != b.to_bits());
                assert_eq!(first_difference, None, "{:?}, depth {depth}", kernel.isa);
                for (o, t) in [(0, 0), (out - 1, width - 1), (MR.min(out - 1), 49 % width)] {
                    let sum = (0..depth).fold(bias[o], |s, l| {
                        let (a, x) = (w[o * depth + l], b[l * ldb + t]);
                        if kernel.isa.is_some() {
                            a.mul_add(x, s)
                        } else {
                            s + a * x
                        }
                    });
                    assert_eq!(copied[o * width + t].to_bits(), sum.to_bits(), "({o}, {t})");
                }
            }
        }
    }
}
