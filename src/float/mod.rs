//! Fast float kernels: cross-correlation (PyTorch's conv) in f32 and f64 with the full geometry
//! (stride, dilation, asymmetric padding and padding modes, groups including depthwise, bias,
//! batch, 1-D to 3-D), each judged against the exact engine by the oracle.
//!
//! Algorithms (one module each, all computing
//! y[n, o, t] = b\[o\] + sum_{c < C_in/G} sum_{j < k} w[o, c, j] xpad[n, g(o) C_in/G + c, src(j, t)]
//! in floating point, in different summation orders):
//!
//! * [`direct`]: the sum as written, accumulated output row by output row, the innermost loop
//!   over output positions (contiguous, so it runs on the vector units; compiled for AVX-512 or
//!   AVX2 when the processor has them, chosen at run time);
//! * [`im2col`]: the input gathered into a (C_in/G prod k) x positions matrix per tile, times the
//!   weight by the register-blocked AVX-512F micro-kernel of [`packed`] over the weight packed
//!   once, or by the `gemm` crate's kernels elsewhere;
//! * [`implicit`]: implicit GEMM for zero-padded layers: a micro-kernel of [`packed`] (AVX-512F,
//!   AVX2 with FMA, or portable) reads the input in place (copied once into its padding, in
//!   phases for strided layers), no gathered copy;
//! * [`winograd`]: Winograd's F(2x2, 3x3) and F(4x4, 3x3) for 3x3 stride-1 layers, with their
//!   tile-aware bound (`proofs/exact.md` W1, W2);
//! * [`fft`]: FFT correlation with overlap-add (realfft on RustFFT), with its normwise bound
//!   (`proofs/exact.md` F1).
//!
//! [`plan`] picks one per layer (as RustFFT's planner picks an FFT algorithm): the FFT for
//! stride-1 layers whose estimated FFT cost is under a quarter of the direct sum's (long
//! kernels), the direct sum for short reductions (depthwise layers, tiny kernels), where a
//! matrix product has nothing to block, implicit GEMM for zero-padded layers of more than one
//! tap where the processor has AVX-512F or AVX2 with FMA, and im2col + GEMM otherwise.
//! [`PreparedConv`] holds a layer's weight packed once for runs on many inputs.
//!
//! Accuracy: direct, im2col and implicit GEMM are recursive or blocked summations of n = C_in/G prod(k) products plus the
//! bias, so each output satisfies the componentwise bound that [`crate::oracle`] checks,
//! |y_hat - y| <= [(1+u)^(n+1) - 1] S (Higham, *Accuracy and Stability of Numerical
//! Algorithms*, ch. 3, for any summation order; fused multiply-adds only lower the error). The
//! property tests in `tests.rs` run every algorithm on random layers and require the oracle's
//! fp32 (f32) and fp64 (f64) contracts for every element; a deliberately wrong kernel is
//! rejected by the same check.
//!
//! Determinism: for a given algorithm and tile width the result does not depend on the thread
//! count (tiles are computed independently, each in a fixed order).

#[doc(hidden)]
pub mod bench;
pub mod combine;
pub mod direct;
pub mod fft;
pub mod im2col;
pub mod implicit;
pub mod judged;
pub mod kernel;
pub mod packed;
pub mod phases;
pub mod prepared;
pub mod winograd;

#[cfg(test)]
mod tests;

use crate::exact::engine::NONE;
use crate::geometry::{ConvGeometry, ConvShape};
use crate::reference::OpError;
use crate::scalar::Precision;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use std::str::FromStr;

pub use fft::FFT_SPECTRA_LIMIT;
pub use judged::Judged;
pub use kernel::{Kernel, Plain, Problem, Refusal};
pub use prepared::PreparedConv;

/// The float formats the kernels compute in.
pub trait FloatScalar:
    Copy
    + Send
    + Sync
    + 'static
    + PartialEq
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::AddAssign
    + num_traits::Zero
    + realfft::FftNum
{
    /// One.
    const ONE: Self;
    /// The oracle's contract of this arithmetic (inputs, accumulation and output in it).
    const PRECISION: Precision;
    /// The value as f64 (exact).
    fn to_f64(self) -> f64;
    /// An f64 rounded to this format (exact for the constants the kernels use, 1/2).
    fn from_f64(value: f64) -> Self;
    /// The process-wide real FFT planner of this type (RustFFT's planners cache their plans
    /// and twiddle tables, so a layer run twice plans once).
    fn fft_planner() -> &'static std::sync::Mutex<realfft::RealFftPlanner<Self>>;
    /// The layer's output by `kernel` in this format.
    fn correlate(kernel: &dyn Kernel, layer: &Layer<'_, Self>) -> Vec<Self>;
    /// The process's free list of buffers of this format.
    fn pool() -> &'static crate::parallel::recycle::Pool<Self>;
    /// The micro-kernel of this format for `isa` (call only where the processor has it).
    #[cfg(target_arch = "x86_64")]
    fn simd_kernel(isa: packed::Isa) -> packed::MicroKernel<Self>;
    /// The combination of rows of this format for `isa` (call only where the processor has
    /// it).
    #[cfg(target_arch = "x86_64")]
    fn simd_combiner(isa: packed::Isa) -> combine::Combiner<Self>;
}

/// The real FFT planner of `T`, started on first use.
fn planner_of<T: realfft::FftNum>(
    cell: &'static std::sync::OnceLock<std::sync::Mutex<realfft::RealFftPlanner<T>>>,
) -> &'static std::sync::Mutex<realfft::RealFftPlanner<T>> {
    cell.get_or_init(|| std::sync::Mutex::new(realfft::RealFftPlanner::new()))
}

impl FloatScalar for f32 {
    fn correlate(kernel: &dyn Kernel, layer: &Layer<'_, Self>) -> Vec<Self> {
        kernel.correlate_f32(layer)
    }
    fn pool() -> &'static crate::parallel::recycle::Pool<Self> {
        &crate::parallel::recycle::F32
    }
    #[cfg(target_arch = "x86_64")]
    fn simd_kernel(isa: packed::Isa) -> packed::MicroKernel<Self> {
        match isa {
            packed::Isa::Avx2 => packed::avx2::F32,
            packed::Isa::Avx512 => packed::avx512::F32,
        }
    }
    #[cfg(target_arch = "x86_64")]
    fn simd_combiner(isa: packed::Isa) -> combine::Combiner<Self> {
        match isa {
            packed::Isa::Avx2 => combine::avx2::F32,
            packed::Isa::Avx512 => combine::avx512::F32,
        }
    }
    const ONE: Self = 1.0;
    const PRECISION: Precision = Precision::Fp32;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    fn fft_planner() -> &'static std::sync::Mutex<realfft::RealFftPlanner<Self>> {
        static PLANNER: std::sync::OnceLock<std::sync::Mutex<realfft::RealFftPlanner<f32>>> =
            std::sync::OnceLock::new();
        planner_of(&PLANNER)
    }
}

impl FloatScalar for f64 {
    fn correlate(kernel: &dyn Kernel, layer: &Layer<'_, Self>) -> Vec<Self> {
        kernel.correlate_f64(layer)
    }
    fn pool() -> &'static crate::parallel::recycle::Pool<Self> {
        &crate::parallel::recycle::F64
    }
    #[cfg(target_arch = "x86_64")]
    fn simd_kernel(isa: packed::Isa) -> packed::MicroKernel<Self> {
        match isa {
            packed::Isa::Avx2 => packed::avx2::F64,
            packed::Isa::Avx512 => packed::avx512::F64,
        }
    }
    #[cfg(target_arch = "x86_64")]
    fn simd_combiner(isa: packed::Isa) -> combine::Combiner<Self> {
        match isa {
            packed::Isa::Avx2 => combine::avx2::F64,
            packed::Isa::Avx512 => combine::avx512::F64,
        }
    }
    const ONE: Self = 1.0;
    const PRECISION: Precision = Precision::Fp64;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(value: f64) -> Self {
        value
    }
    fn fft_planner() -> &'static std::sync::Mutex<realfft::RealFftPlanner<Self>> {
        static PLANNER: std::sync::OnceLock<std::sync::Mutex<realfft::RealFftPlanner<f64>>> =
            std::sync::OnceLock::new();
        planner_of(&PLANNER)
    }
}

/// A float algorithm: a handle on one [`Kernel`] of the table [`Algorithm::ALL`], compared
/// by name.
#[derive(Clone, Copy)]
pub struct Algorithm(&'static dyn Kernel);

impl Algorithm {
    /// The sum as written ([`direct`]).
    pub const DIRECT: Algorithm = Algorithm(&Plain {
        name: "direct",
        f32: direct::correlate,
        f64: direct::correlate,
    });
    /// im2col and a matrix product ([`im2col`]).
    pub const IM2COL: Algorithm = Algorithm(&Plain {
        name: "im2col",
        f32: im2col::correlate,
        f64: im2col::correlate,
    });
    /// Implicit GEMM ([`implicit`]): the micro-kernel reads the zero-padded input in place;
    /// stride 1 with zero padding only.
    pub const IMPLICIT: Algorithm = Algorithm(&implicit::Implicit);
    /// Winograd F(2x2, 3x3) ([`winograd`]): 3x3 kernels at stride 1 and dilation 1 with zero
    /// padding only.
    pub const WINOGRAD: Algorithm = Algorithm(&winograd::Winograd(&winograd::F2X2));
    /// Winograd F(4x4, 3x3) ([`winograd`]): the same layers, 6x6 input tiles.
    pub const WINOGRAD4: Algorithm = Algorithm(&winograd::Winograd(&winograd::F4X4));
    /// Winograd on the four phases of a stride-2 layer ([`phases`]): F(3x3, 4x4) for 7x7 and
    /// 8x8 kernels (ResNet's stem), F(4x4, 3x3) for 5x5 and 6x6; zero padding only.
    pub const WINOGRAD_S2: Algorithm = Algorithm(&phases::PhasedWinograd);
    /// FFT correlation with overlap-add ([`fft`]): any geometry (strided layers compute every
    /// stride-1 output and keep the strided ones).
    pub const FFT: Algorithm = Algorithm(&fft::Fft);

    /// Every algorithm: the one table that the planner, `bench`, `check --algorithm` and the
    /// float tests iterate. A new algorithm is a file implementing [`Kernel`] and a line here.
    pub const ALL: [Algorithm; 7] = [
        Algorithm::DIRECT,
        Algorithm::IM2COL,
        Algorithm::IMPLICIT,
        Algorithm::WINOGRAD,
        Algorithm::WINOGRAD4,
        Algorithm::WINOGRAD_S2,
        Algorithm::FFT,
    ];

    /// The implementation.
    pub fn kernel(self) -> &'static dyn Kernel {
        self.0
    }

    /// The command line's name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Ok when the algorithm computes the layer, the reason otherwise.
    pub fn accepts(self, problem: &Problem) -> Result<(), Refusal> {
        self.0.accepts(problem)
    }

    /// The oracle's reference for this algorithm's output in `precision` ([`Kernel::reference`]):
    /// a float engine result (y, algorithm) is judged by its own algorithm's bound.
    pub fn reference(
        self,
        engine: &crate::exact::ExactEngine,
        layer: crate::oracle::Operands<'_>,
        precision: Precision,
    ) -> Result<crate::oracle::Reference, crate::exact::ExactError> {
        self.0.reference(engine, layer, precision)
    }

    /// The error bound the algorithm meets, in words ([`Kernel::own_bound`]).
    pub fn own_bound(self) -> Option<&'static str> {
        self.0.own_bound()
    }
}

impl PartialEq for Algorithm {
    fn eq(&self, other: &Algorithm) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Algorithm {}

impl std::hash::Hash for Algorithm {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
}

impl std::fmt::Debug for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Algorithm, String> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "unknown algorithm '{s}': expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// The algorithm [`FloatEngine::correlate`] uses when none is given (the same at every
/// thread count): Winograd's F(m x m, 3 x 3) where [`winograd_pays`], Winograd on a stride-2
/// layer's phases where [`phased_winograd_pays`] (both judged by their own bounds, not the
/// direct sum's), else [`plan_direct`]'s choice.
pub fn plan(problem: &Problem) -> Algorithm {
    winograd_pays(problem)
        .or_else(|| phased_winograd_pays(problem))
        .unwrap_or_else(|| plan_direct(problem))
}

/// Winograd on the phases of a stride-2 layer ([`Algorithm::WINOGRAD_S2`]) where it is
/// expected to beat implicit GEMM: a layer it takes with a 7x7 or 8x8 kernel (F(3, 4) along
/// the height: 96 products per output and channel pair against implicit GEMM's 147 for 7x7),
/// at most 4 input and at least 32 output channels per group, and outputs of at least 56 x 56
/// (the transforms' cost per output falls with the output channels, and a few input channels
/// keep each tile row's V within the first caches). Measured on ResNet-50's stem only (f32,
/// prepared layers, `convspec bench`, 8 to 12 rounds alternating, medians): 2.15-2.65 against
/// implicit GEMM's 2.31-2.84 ms at one thread, 1.13-1.49 against 1.14-1.48 at two.
pub fn phased_winograd_pays(problem: &Problem) -> Option<Algorithm> {
    let shape = &problem.shape;
    let groups = shape.groups.max(1);
    let kernel = shape.kernel();
    let applies = Algorithm::WINOGRAD_S2.accepts(problem).is_ok()
        && kernel.iter().all(|&k| k == 7 || k == 8)
        && shape.in_channels / groups <= 4
        && shape.out_channels / groups >= 32
        && problem.output.iter().all(|&o| o >= 56);
    applies.then_some(Algorithm::WINOGRAD_S2)
}

/// The algorithm a call with `algorithm` runs: the one named, else [`plan`]'s choice, the
/// direct sum where that refuses the problem.
pub(crate) fn resolve(problem: &Problem, algorithm: Option<Algorithm>) -> Algorithm {
    algorithm.unwrap_or_else(|| {
        Some(plan(problem))
            .filter(|a| a.accepts(problem).is_ok())
            .unwrap_or(Algorithm::DIRECT)
    })
}

/// Winograd's variant for a layer where it is expected to beat implicit GEMM: a 2-D 3x3
/// layer at stride 1 and dilation 1 with zero padding and outputs of at least 8 x 8, with
/// c = min(C_in, C_out)/G channels per group and T tiles of F(4x4, 3x3) (4 x 4 outputs each,
/// over the batch and groups): F(4x4, 3x3) (36 products per 16 outputs and channel pair,
/// against implicit GEMM's 144) where c >= 64 and T >= 49, or c >= 256 and T >= 16;
/// F(2x2, 3x3) (16 per 4) where c >= 128 otherwise; else none. With fewer channels the
/// transforms (alpha^2 (C_in + C_out) values per tile) weigh against alpha^2 C_in C_out
/// products per tile, and with few tiles the matrix products are too narrow to run at speed.
/// Measured here (f32, prepared layers, `convspec bench` on square layers of c channels and
/// n x n outputs, milliseconds at one / two threads, F(4x4) / F(2x2) / implicit GEMM):
/// c = 32, n = 56: 0.51 / 0.59 / 0.55 and 0.35 / 0.34 / 0.30; c = 64, n = 14: 0.18 / 0.18 /
/// 0.15 and 0.20 / 0.13 / 0.09; c = 64, n = 28: 0.46 / 0.52 / 0.55 and 0.28 / 0.34 / 0.30;
/// c = 128, n = 8: 0.36 / 0.21 / 0.27 and 0.26 / 0.16 / 0.16; c = 128, n = 14: 0.45 / 0.51 /
/// 0.68 and 0.34 / 0.30 / 0.31; c = 256, n = 8: 1.08 / 0.53 / 0.85 and 0.80 / 0.43 / 0.45;
/// c = 256, n = 14 (ResNet-50's conv4): 1.36 / 1.65 / 2.40 and 0.86 / 0.89 / 1.20; c = 512,
/// n = 14: 6.27 / 6.14 / 9.53 and 3.51 / 3.32 / 4.79; ResNet-50's conv2 (c = 64, n = 56) 1.31
/// / 1.66 / 2.13 and 1.03 / 1.33 / 1.59.
pub fn winograd_pays(problem: &Problem) -> Option<Algorithm> {
    let shape = &problem.shape;
    let output = &problem.output;
    let groups = shape.groups.max(1);
    let channels = (shape.in_channels / groups).min(shape.out_channels / groups);
    let applies = Algorithm::WINOGRAD4.accepts(problem).is_ok()
        && channels >= 64
        && output.iter().all(|&o| o >= 8);
    if !applies {
        return None;
    }
    let tiles: usize =
        shape.batch * shape.groups * output.iter().map(|o| o.div_ceil(4)).product::<usize>();
    if tiles >= 49 || (channels >= 256 && tiles >= 16) {
        Some(Algorithm::WINOGRAD4)
    } else if channels >= 128 {
        Some(Algorithm::WINOGRAD)
    } else {
        None
    }
}

/// The algorithm among the direct sum, im2col, implicit GEMM and the FFT (no Winograd): the
/// FFT where its
/// estimated cost is under a quarter of the direct sum's; the direct sum when the reduction C_in/G prod(k) is at most 16 (depthwise
/// 3x3 has 9) or for 1-D layers with at most 4 channels per group (signals: the direct 1-D path
/// reads slices, where im2col would copy the signal k times); implicit GEMM for stride-1
/// layers with zero padding and more than one tap where the processor runs a vector
/// micro-kernel, AVX-512F or AVX2 with FMA (no gathered copy of the input); im2col + GEMM
/// otherwise (1x1 layers read their input in place there too).
pub fn plan_direct(problem: &Problem) -> Algorithm {
    let shape = &problem.shape;
    if fft_pays(shape) {
        return Algorithm::FFT;
    }
    let signal = shape.dims.len() == 1 && shape.in_channels / shape.groups <= 4;
    if shape.reduction_length() <= 16 || signal {
        Algorithm::DIRECT
    } else if shape.kernel().iter().product::<usize>() > 1
        && packed::MicroKernel::<f32>::detect().is_some()
        && Algorithm::IMPLICIT.accepts(problem).is_ok()
    {
        Algorithm::IMPLICIT
    } else {
        Algorithm::IM2COL
    }
}

/// Whether FFT correlation is expected to beat the direct sum by more than the planner's
/// margin: stride 1, and an estimated cost (transforms 2.5 m log2 m flops per channel and
/// block, spectral products 8 flops per bin and channel pair) below a quarter of the direct
/// sum's 2 C_in/G prod(k) flops per output.
fn fft_pays(shape: &ConvShape) -> bool {
    if shape.dims.iter().any(|d| d.stride != 1) || shape.reduction_length() < 64 {
        return false;
    }
    let output = shape.output_spatial();
    let positions: usize = output.iter().product();
    let plan = fft::FftPlan::new(shape, &output);
    let (ci, co) = (
        (shape.in_channels / shape.groups) as f64,
        (shape.out_channels / shape.groups) as f64,
    );
    let m = plan.size as f64;
    let per_block = (ci + co) * 2.5 * m * m.log2() + ci * co * (m / 2.0 + 1.0) * 8.0;
    let fft = (shape.batch * shape.groups * plan.blocks) as f64 * per_block;
    let direct = 2.0
        * (shape.batch * shape.out_channels * positions) as f64
        * shape.reduction_length() as f64;
    4.0 * fft < direct
}

/// A layer prepared for the kernels: the input (borrowed when the caller's array is contiguous),
/// the weight, the bias and per-dimension source tables from which a tile's gather map is built
/// ([`Layer::tile`]). Padded positions are the map's index `spatial`
/// (one past a channel): the kernels read them as zero.
#[doc(hidden)]
#[derive(Clone)]
pub struct Layer<'a, T: Clone> {
    /// The resolved shapes.
    pub shape: ConvShape,
    /// The input (N, C_in, spatial) in C order: channel (n, c) at (n C_in + c) spatial.
    pub input: std::borrow::Cow<'a, [T]>,
    /// The weight (C_out, C_in/G, k...) in C order (borrowed when the caller's array is
    /// contiguous).
    pub weight: std::borrow::Cow<'a, [T]>,
    /// The bias per output channel (zeros without one).
    pub bias: std::borrow::Cow<'a, [T]>,
    /// Spatial input positions per channel.
    pub spatial: usize,
    /// Output positions per channel.
    pub positions: usize,
    /// The output shape (N, C_out, O...).
    pub output_shape: Vec<usize>,
    /// Padded positions read zero (padding mode zeros, or no padding).
    pub zero_padding: bool,
    /// Kernel taps per channel: prod(k).
    taps: usize,
    /// Per spatial dimension d: the source index along d of output t_d at tap j_d, at
    /// [t_d k_d + j_d] (NONE in the padding), when that table is small (at most 2^16
    /// entries; a long 1-D signal's is not kept); the map of a tile is assembled from these.
    sources: Vec<Option<Vec<u32>>>,
    /// The padding mode (for the dimensions without a table).
    mode: crate::geometry::PaddingMode,
    /// The weight packed for im2col's micro-kernel, when a prepared layer holds it.
    pub packed: Option<&'a packed::PackedWeights<T>>,
    /// The weight transformed for a Winograd variant, when a prepared layer holds it.
    pub transformed: Option<&'a winograd::TransformedWeights<T>>,
    /// The weight transformed for Winograd on a stride-2 layer's phases, when a prepared
    /// layer holds it.
    pub phased: Option<&'a phases::PhaseWeights<T>>,
}

impl<T: FloatScalar> Layer<'_, T> {
    /// Source positions of the tile [t0, t1) per tap: map[j (t1 - t0) + t - t0], with
    /// `spatial` where the padding reads zero.
    pub fn tile(&self, t0: usize, t1: usize) -> Vec<u32> {
        let zero = self.spatial as u32;
        let width = t1 - t0;
        let dims = &self.shape.dims;
        let rank = dims.len();
        let output = &self.output_shape[2..];
        let mut map = vec![zero; self.taps * width];
        let last = rank - 1;
        let (o_last, in_last) = (output[last], dims[last].input);
        // Source index along d of output t_d at tap j_d (NONE in zero padding).
        let source = |d: usize, t: usize, j: usize| -> u32 {
            match &self.sources[d] {
                Some(table) => table[t * dims[d].kernel + j],
                None => self
                    .mode
                    .source_index(dims[d].input_index(t, j), dims[d].input)
                    .map_or(NONE, |s| s as u32),
            }
        };
        let mut tap = vec![0usize; rank];
        let mut lead = vec![0usize; rank];
        for (j, row) in map.chunks_mut(width.max(1)).enumerate() {
            self.tap_index(j, &mut tap);
            // Runs of positions along the last dimension: the leading dimensions' part of the
            // source is fixed along a run.
            let mut t = t0;
            while t < t1 {
                let (t_last, run) = (t % o_last, (o_last - t % o_last).min(t1 - t));
                self.lead_index(t / o_last, &mut lead);
                let mut base = Some(0usize);
                for d in 0..last {
                    let s = source(d, lead[d], tap[d]);
                    base = base
                        .filter(|_| s != NONE)
                        .map(|b| b * dims[d].input + s as usize);
                }
                if let Some(base) = base.map(|b| b * in_last) {
                    let slots = &mut row[t - t0..t - t0 + run];
                    match &self.sources[last] {
                        Some(table) => {
                            let k = dims[last].kernel;
                            for (i, slot) in slots.iter_mut().enumerate() {
                                let s = table[(t_last + i) * k + tap[last]];
                                if s != NONE {
                                    *slot = (base + s as usize) as u32;
                                }
                            }
                        }
                        None => {
                            for (i, slot) in slots.iter_mut().enumerate() {
                                let s = source(last, t_last + i, tap[last]);
                                if s != NONE {
                                    *slot = (base + s as usize) as u32;
                                }
                            }
                        }
                    }
                }
                t += run;
            }
        }
        map
    }

    /// The multi-index of kernel tap j (C order over the kernel extents) into `tap`.
    fn tap_index(&self, mut j: usize, tap: &mut [usize]) {
        for (d, g) in self.shape.dims.iter().enumerate().rev() {
            tap[d] = j % g.kernel;
            j /= g.kernel;
        }
    }

    /// The output indices of every dimension but the last for a run's `prefix` (its flat
    /// position divided by the last extent) into `lead`.
    fn lead_index(&self, mut prefix: usize, lead: &mut [usize]) {
        let output = &self.output_shape[2..];
        for d in (0..output.len() - 1).rev() {
            lead[d] = prefix % output[d];
            prefix /= output[d];
        }
    }

    /// The runs of a tile (as [`Layer::runs`] gives them) straight from the geometry, for
    /// zero padding: per tap and per stretch of the tile along the last dimension, the padded
    /// positions before, the interior (one run whose sources advance by the stride) and the
    /// padded positions after; a run whose first source is `spatial` reads zeros (any
    /// length). Contiguous interior runs of consecutive stretches are merged (a 1x1 layer
    /// without padding is one run). No gather map is built.
    pub fn zero_padding_runs(&self, t0: usize, t1: usize) -> Vec<Vec<(usize, usize, usize)>> {
        let zero = self.spatial;
        let dims = &self.shape.dims;
        let rank = dims.len();
        let output = &self.output_shape[2..];
        let last = rank - 1;
        let (o_last, g_last) = (output[last], dims[last]);
        let step = g_last.stride;
        let mut tap = vec![0usize; rank];
        let mut lead = vec![0usize; rank];
        (0..self.taps)
            .map(|j| {
                self.tap_index(j, &mut tap);
                let offset = (tap[last] * g_last.dilation) as i64 - g_last.pad_begin as i64;
                let (lo, hi) = direct::valid_range(o_last, step, offset, g_last.input);
                let mut runs: Vec<(usize, usize, usize)> = Vec::new();
                let mut push = |run: (usize, usize, usize)| {
                    if run.1 == 0 {
                        return;
                    }
                    if let Some(previous) = runs.last_mut() {
                        let data = previous.2 != zero && run.2 != zero;
                        let follows = previous.0 + previous.1 == run.0;
                        if follows
                            && ((data && previous.2 + previous.1 * step == run.2)
                                || (previous.2 == zero && run.2 == zero))
                        {
                            previous.1 += run.1;
                            return;
                        }
                    }
                    runs.push(run);
                };
                let mut t = t0;
                while t < t1 {
                    let (a, len) = (t % o_last, (o_last - t % o_last).min(t1 - t));
                    self.lead_index(t / o_last, &mut lead);
                    let mut base = Some(0usize);
                    for d in 0..last {
                        let g = dims[d];
                        let at = g.input_index(lead[d], tap[d]);
                        base = base
                            .filter(|_| at >= 0 && (at as usize) < g.input)
                            .map(|b| b * g.input + at as usize);
                    }
                    let (b, e) = (a + len, lo.clamp(a, a + len));
                    let f = hi.clamp(e, b);
                    match base {
                        None => push((t - t0, len, zero)),
                        Some(base) => {
                            let base = base * g_last.input;
                            push((t - t0, e - a, zero));
                            if f > e {
                                let first = (e as i64 * step as i64 + offset) as usize;
                                push((t - t0 + e - a, f - e, base + first));
                            }
                            push((t - t0 + f - a, b - f, zero));
                        }
                    }
                    t += len;
                }
                runs
            })
            .collect()
    }

    /// The map of a tile cut into runs per tap: `runs[j]` lists (position offset, length, first
    /// source) of maximal stretches whose sources advance by [`Layer::run_step`] (consecutive
    /// at stride 1), so that the kernels copy or multiply whole (strided) slices there and
    /// gather element by element elsewhere (a run of length 1; a padded position is a run of
    /// length 1 whose source is `spatial`, read as zero). A tap with fewer consecutive
    /// pairs than half its positions (a strided layer) gets an empty list: read its sources
    /// from the map.
    pub fn runs(&self, map: &[u32], width: usize) -> Vec<Vec<(usize, usize, usize)>> {
        let step = self.run_step() as u32;
        map.chunks(width.max(1))
            .map(|sources| {
                // Taps without runs (irregular maps): element by element, without a list.
                let regular = sources
                    .windows(2)
                    .filter(|p| p[1] == p[0].wrapping_add(step))
                    .count();
                if regular * 2 < sources.len() {
                    return Vec::new();
                }
                let zero = self.spatial as u32;
                let mut runs = Vec::new();
                let mut t = 0;
                while t < sources.len() {
                    let first = sources[t];
                    let mut len = 1;
                    while t + len < sources.len()
                        && first != zero
                        && sources[t + len] == first + len as u32 * step
                        && sources[t + len] != zero
                    {
                        len += 1;
                    }
                    runs.push((t, len, first as usize));
                    t += len;
                }
                runs
            })
            .collect()
    }

    /// The source step between neighbouring outputs of a run: the stride of the last spatial
    /// dimension (outputs are in C order, so neighbours differ there).
    pub fn run_step(&self) -> usize {
        self.shape.dims.last().map_or(1, |d| d.stride)
    }

    /// Kernel taps: prod(k).
    pub fn map_taps(&self) -> usize {
        self.taps
    }

    /// Reduction terms per output: C_in/G prod(k).
    pub fn depth(&self) -> usize {
        self.shape.reduction_length()
    }

    /// Output positions per tile for a tile buffer of about `bytes` (a multiple of 16, at
    /// least 16, at most the positions).
    pub fn tile_width(&self, bytes: usize) -> usize {
        let per_position = self.depth().max(1) * std::mem::size_of::<T>();
        ((bytes / per_position) / 16 * 16)
            .max(16)
            .min(self.positions.max(1))
    }
}

/// The values of `t` in C order, borrowed when it is contiguous.
fn contiguous<T: Clone>(t: ArrayViewD<'_, T>) -> std::borrow::Cow<'_, [T]> {
    match t.to_slice() {
        Some(values) => std::borrow::Cow::Borrowed(values),
        None => std::borrow::Cow::Owned(t.iter().cloned().collect()),
    }
}

impl<'a, T: FloatScalar> Layer<'a, T> {
    /// What an algorithm looks at to decide whether it computes this layer.
    pub fn problem(&self) -> Problem {
        Problem {
            shape: self.shape.clone(),
            output: self.output_shape[2..].to_vec(),
            zero_padding: self.zero_padding,
            element_bytes: std::mem::size_of::<T>(),
        }
    }

    /// The layer of `input` (N, C_in, L...), `weight` and `bias` under `geometry`, prepared
    /// for the kernels (shapes checked; the input borrowed when contiguous).
    pub fn prepare(
        input: ArrayViewD<'a, T>,
        weight: ArrayViewD<'a, T>,
        bias: Option<ArrayViewD<'a, T>>,
        geometry: &ConvGeometry,
    ) -> Result<Layer<'a, T>, OpError> {
        if let Some(b) = &bias {
            if b.ndim() != 1 {
                return Err(OpError::Invalid(format!(
                    "bias must be 1-D (C_out,), got shape {:?}",
                    b.shape()
                )));
            }
        }
        let shape = ConvShape::new(
            input.shape(),
            weight.shape(),
            bias.as_ref().map(|b| b.len()),
            geometry,
        )?;
        let output_shape = shape.output_shape()?;
        let spatial_in: Vec<usize> = shape.dims.iter().map(|d| d.input).collect();
        let spatial: usize = spatial_in.iter().product();
        let zero_padding = geometry.padding_mode == crate::geometry::PaddingMode::Zeros
            || shape
                .dims
                .iter()
                .all(|d| d.pad_begin == 0 && d.pad_end == 0);
        // Sources are u32 with NONE (u32::MAX) for the padding.
        if spatial >= NONE as usize {
            return Err(OpError::Invalid(format!(
                "an input of {spatial} spatial positions is beyond the float kernels' 2^32 - 1"
            )));
        }
        let sources: Vec<Option<Vec<u32>>> = shape
            .dims
            .iter()
            .zip(&output_shape[2..])
            .map(|(g, &out)| {
                let entries = out.checked_mul(g.kernel).filter(|&e| e <= 1 << 16)?;
                Some(
                    (0..entries)
                        .map(|i| {
                            let (t, j) = (i / g.kernel, i % g.kernel);
                            geometry
                                .padding_mode
                                .source_index(g.input_index(t, j), g.input)
                                .map_or(NONE, |s| s as u32)
                        })
                        .collect(),
                )
            })
            .collect();
        Ok(Layer {
            positions: output_shape[2..].iter().product(),
            taps: shape.kernel().iter().product(),
            input: contiguous(input),
            weight: contiguous(weight),
            bias: bias.map_or_else(
                || std::borrow::Cow::Owned(vec![T::zero(); shape.out_channels]),
                contiguous,
            ),
            spatial,
            output_shape: output_shape.clone(),
            zero_padding,
            sources,
            mode: geometry.padding_mode,
            shape,
            packed: None,
            transformed: None,
            phased: None,
        })
    }
}

/// The float engine with a fixed thread count: one thread runs a call on the calling thread
/// (its parallel loops in order there, no pool), more run it on the process's rayon pool of
/// that many threads ([`crate::parallel::shared_pool`], taken on first use, or the pool the
/// calling thread joined, [`crate::parallel::join_pool`]).
#[derive(Debug, Clone)]
pub struct FloatEngine {
    threads: usize,
    pool: std::sync::OnceLock<std::sync::Arc<rayon::ThreadPool>>,
}

impl FloatEngine {
    /// An engine on `threads` threads (at least 1).
    pub fn new(threads: usize) -> FloatEngine {
        FloatEngine {
            threads: threads.max(1),
            pool: Default::default(),
        }
    }

    /// The thread count.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// True convolution in T: [`FloatEngine::correlate`] with the kernel flipped in every
    /// spatial dimension, y\[t\] = b + sum_j w[k - 1 - j] xpad[t s + j d] (the seed's operation;
    /// `scipy.signal.convolve` on a layer). The same algorithms and bounds apply.
    pub fn convolve<T: FloatScalar>(
        &self,
        input: ArrayViewD<'_, T>,
        weight: ArrayViewD<'_, T>,
        bias: Option<ArrayViewD<'_, T>>,
        geometry: &ConvGeometry,
        algorithm: Option<Algorithm>,
    ) -> Result<(ArrayD<T>, Algorithm), OpError> {
        let flipped = weight.slice_each_axis(|axis| {
            if axis.axis.index() >= 2 {
                ndarray::Slice::new(0, None, -1)
            } else {
                ndarray::Slice::from(..)
            }
        });
        self.correlate(input, flipped, bias, geometry, algorithm)
    }

    /// Cross-correlation in T (`torch.nn.functional.conv{1,2,3}d` with `padding_mode`): input
    /// (N, C_in, L...) or unbatched (C_in, L...), weight (C_out, C_in/G, k...), bias (C_out).
    /// `algorithm` None lets [`plan`] choose. Returns the output and the algorithm used.
    pub fn correlate<T: FloatScalar>(
        &self,
        input: ArrayViewD<'_, T>,
        weight: ArrayViewD<'_, T>,
        bias: Option<ArrayViewD<'_, T>>,
        geometry: &ConvGeometry,
        algorithm: Option<Algorithm>,
    ) -> Result<(ArrayD<T>, Algorithm), OpError> {
        if input.ndim() + 1 == weight.ndim() {
            let batched = input.insert_axis(ndarray::Axis(0));
            let (y, used) = self.correlate(batched, weight, bias, geometry, algorithm)?;
            return Ok((y.index_axis_move(ndarray::Axis(0), 0), used));
        }
        let (input, weight) = (input.reborrow(), weight.reborrow());
        let layer = Layer::prepare(input, weight, bias.map(|b| b.reborrow()), geometry)?;
        self.run(&layer, algorithm)
    }

    /// The output of a prepared layer by `algorithm` (None: [`plan`]'s choice, the direct sum
    /// where that refuses), with the algorithm used.
    fn run<T: FloatScalar>(
        &self,
        layer: &Layer<'_, T>,
        algorithm: Option<Algorithm>,
    ) -> Result<(ArrayD<T>, Algorithm), OpError> {
        let output_shape = layer.output_shape.clone();
        let problem = layer.problem();
        let used = resolve(&problem, algorithm);
        used.accepts(&problem)?;
        let values = crate::parallel::run_with(&self.pool, self.threads, || {
            T::correlate(used.kernel(), layer)
        })
        .map_err(OpError::Invalid)?;
        let y = ArrayD::from_shape_vec(IxDyn(&output_shape), values)
            .map_err(|e| OpError::Invalid(e.to_string()))?;
        Ok((y, used))
    }
}

/// Output tiles of a layer: (n, t0, t1) for every batch element and tile of `width` positions.
pub(crate) fn tiles<T: Clone>(layer: &Layer<'_, T>, width: usize) -> Vec<(usize, usize, usize)> {
    let width = width.max(1);
    (0..layer.shape.batch)
        .flat_map(|n| {
            (0..layer.positions)
                .step_by(width)
                .map(move |t0| (n, t0, (t0 + width).min(layer.positions)))
        })
        .collect()
}

/// The output (N, C_out, P) from `compute` run on every tile of `width` positions in
/// parallel (each returning C_out rows of t1 - t0 values).
pub(crate) fn by_tiles<T: FloatScalar>(
    layer: &Layer<'_, T>,
    width: usize,
    compute: impl Fn(&Layer<'_, T>, (usize, usize, usize)) -> Vec<T> + Sync,
) -> Vec<T> {
    use crate::parallel::EngineThreads;
    use rayon::prelude::*;
    let pieces: Vec<_> = tiles(layer, width)
        .into_par_iter()
        .engine_threads()
        .map(|tile| (tile, compute(layer, tile)))
        .collect();
    scatter(layer, pieces)
}

/// Writes per-tile results (C_out rows of t1 - t0 values each) into the output (N, C_out, P).
pub(crate) fn scatter<T: FloatScalar>(
    layer: &Layer<'_, T>,
    pieces: Vec<((usize, usize, usize), Vec<T>)>,
) -> Vec<T> {
    let (c_out, positions) = (layer.shape.out_channels, layer.positions);
    let mut out = vec![T::zero(); layer.shape.batch * c_out * positions];
    for ((n, t0, t1), piece) in pieces {
        let width = t1 - t0;
        for (o, row) in piece.chunks(width.max(1)).enumerate().take(c_out) {
            let at = (n * c_out + o) * positions + t0;
            out[at..at + width].copy_from_slice(row);
        }
    }
    out
}
