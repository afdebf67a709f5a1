//! Winograd's minimal filtering F(m x m, 3 x 3) (Lavin and Gray, "Fast algorithms for
//! convolutional neural networks", 2016) for 3x3 layers at stride 1 and dilation 1 with zero
//! padding, in two variants: F(2x2, 3x3) (4x4 input tiles) and F(4x4, 3x3) (6x6 input tiles).
//! Each m x m block of outputs is
//!
//! ```text
//! Y = A^T [ sum_c (G g_c G^T) (.) (B^T d_c B) ] A + b
//! ```
//!
//! with d_c the alpha x alpha input tile of channel c (alpha = m + 2, zeros outside the input),
//! g_c the 3x3 kernel and (.) the elementwise product: alpha^2 multiplications per channel and
//! tile instead of 9 m^2 (16 instead of 36 for F(2x2); 36 instead of 144 for F(4x4)). The
//! transforms are evaluated in this order: U = (G g) G^T, V = (B^T d) B (for a run of tiles at
//! once, the tiles in the innermost loop, on the vector units), the alpha^2 channel sums
//! M = sum_c U (.) V as matrix products (the packed micro-kernel of [`super::packed`] over U
//! packed once per layer), Y = (A^T M) A, then + b. Each
//! linear combination skips zero coefficients and starts from its first term.
//!
//! Error bound (`proofs/exact.md`, W1 and W2, and [`reference()`]):
//! for every output, |Y_hat - Y| <= gamma_(C+R) S_W + (underflow), where
//! S_W = |A^T| sum_c (|G||g_c||G^T|) (.) (|B^T||d_c||B|) |A| + |b|, C = C_in/G and
//! R = [`Variant::roundings`] (11 for F(2x2, 3x3), 23 for F(4x4, 3x3)): the transforms'
//! magnitudes, not S = sum |w||x|, are what the rounding errors scale with (Barabasz et al.,
//! "Error analysis and improving the accuracy of Winograd convolution for deep neural
//! networks", 2020, who show F(4x4)'s larger coefficients costing accuracy; S_W measures it
//! exactly, layer by layer).
//!
//! Matrices (rows of B^T, G, A^T):
//!
//! ```text
//! F(2x2, 3x3):
//! B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//! G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//! A^T = [1 1 1 0; 0 1 -1 -1]
//! F(4x4, 3x3):
//! B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//! G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//! A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//! ```

use super::combine::{Combiner, MOST_TERMS};
use super::kernel::{correlate_in_both, Built, Kernel, Problem, Refusal};
use super::packed::{MicroKernel, PackedWeights, MR};
use super::{FloatScalar, Layer};
use crate::exact::{ExactEngine, ExactError};
use crate::geometry::{ConvGeometry, ConvShape};
use crate::oracle::reference::{
    absolute, batched_shape, formats_of, largest, scaled, scaled_input, with_bias,
};
use crate::oracle::{Operands, Reduction, Reference};
use crate::parallel::{EngineThreads, SharedOutput};
use crate::scalar::{Precision, Rational};
use ndarray::{ArrayD, Dimension, IxDyn};
use num_traits::{Signed, Zero};
use rayon::prelude::*;

/// One variant F(m x m, r x r): its matrices, with G's entries as exact fractions
/// (numerator, denominator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// Outputs per tile side, m.
    pub outputs: usize,
    /// Kernel taps per side, r.
    pub taps: usize,
    /// B^T (alpha x alpha).
    pub b_t: &'static [&'static [i8]],
    /// G (alpha x r) as fractions.
    pub g: &'static [&'static [(i8, i8)]],
    /// A^T (m x alpha).
    pub a_t: &'static [&'static [i8]],
}

/// F(2x2, 3x3).
pub const F2X2: Variant = Variant {
    outputs: 2,
    taps: 3,
    b_t: &[
        &[1, 0, -1, 0],
        &[0, 1, 1, 0],
        &[0, -1, 1, 0],
        &[0, 1, 0, -1],
    ],
    g: &[
        &[(1, 1), (0, 1), (0, 1)],
        &[(1, 2), (1, 2), (1, 2)],
        &[(1, 2), (-1, 2), (1, 2)],
        &[(0, 1), (0, 1), (1, 1)],
    ],
    a_t: &[&[1, 1, 1, 0], &[0, 1, -1, -1]],
};

/// F(4x4, 3x3).
pub const F4X4: Variant = Variant {
    outputs: 4,
    taps: 3,
    b_t: &[
        &[4, 0, -5, 0, 1, 0],
        &[0, -4, -4, 1, 1, 0],
        &[0, 4, -4, -1, 1, 0],
        &[0, -2, -1, 2, 1, 0],
        &[0, 2, -1, -2, 1, 0],
        &[0, 4, 0, -5, 0, 1],
    ],
    g: &[
        &[(1, 4), (0, 1), (0, 1)],
        &[(-1, 6), (-1, 6), (-1, 6)],
        &[(-1, 6), (1, 6), (-1, 6)],
        &[(1, 24), (1, 12), (1, 6)],
        &[(1, 24), (-1, 12), (1, 6)],
        &[(0, 1), (0, 1), (1, 1)],
    ],
    a_t: &[
        &[1, 1, 1, 1, 1, 0],
        &[0, 1, -1, 2, -2, 0],
        &[0, 1, 1, 4, 4, 0],
        &[0, 1, -1, 8, -8, 1],
    ],
};

/// F(3x3, 4x4), for the 4x4 kernels of a stride-2 layer's phases
/// ([`super::phases`]): the points of F(4x4, 3x3) (0, 1, -1, 2, -2 and infinity), so the same
/// B^T; G's row of point p is F(4x4, 3x3)'s factor times (1, p, p^2, p^3), A^T's rows are
/// the powers p^0, p^1, p^2 (infinity in the last).
pub const F3X3_4X4: Variant = Variant {
    outputs: 3,
    taps: 4,
    b_t: F4X4.b_t,
    g: &[
        &[(1, 4), (0, 1), (0, 1), (0, 1)],
        &[(-1, 6), (-1, 6), (-1, 6), (-1, 6)],
        &[(-1, 6), (1, 6), (-1, 6), (1, 6)],
        &[(1, 24), (1, 12), (1, 6), (1, 3)],
        &[(1, 24), (-1, 12), (1, 6), (-1, 3)],
        &[(0, 1), (0, 1), (0, 1), (1, 1)],
    ],
    a_t: &[
        &[1, 1, 1, 1, 1, 0],
        &[0, 1, -1, 2, -2, 0],
        &[0, 1, 1, 4, 4, 1],
    ],
};

/// Roundings one term of a linear combination meets from its coefficient: 0 for +-2^k (exact
/// products), 1 for other integers (the product), 2 for fractions that are not dyadic (the
/// constant's own rounding and the product).
fn coefficient_roundings(numerator: i64, denominator: i64) -> usize {
    let dyadic = |v: i64| v != 0 && (v.unsigned_abs()).is_power_of_two();
    if numerator == 0 || (dyadic(numerator) && dyadic(denominator)) {
        0
    } else if dyadic(denominator) {
        1
    } else {
        2
    }
}

/// The most roundings any term of one row's linear combination meets: its coefficient's
/// plus one per addition (nonzeros - 1).
fn row_roundings(row: impl Iterator<Item = (i64, i64)> + Clone) -> usize {
    let nonzeros = row.clone().filter(|&(n, _)| n != 0).count();
    let worst = row
        .map(|(n, d)| coefficient_roundings(n, d))
        .max()
        .unwrap_or(0);
    worst + nonzeros.saturating_sub(1)
}

impl Variant {
    /// alpha = m + r - 1, the input tile side.
    pub fn alpha(&self) -> usize {
        self.outputs + self.taps - 1
    }

    /// The command line's name of the variant.
    pub fn name(&self) -> &'static str {
        match (self.outputs, self.taps) {
            (2, 3) => "F(2x2, 3x3)",
            (4, 3) => "F(4x4, 3x3)",
            _ => "F(3x3, 4x4)",
        }
    }

    fn max_rows<R>(rows: &[R], each: impl Fn(&R) -> usize) -> usize {
        rows.iter().map(each).max().unwrap_or(0)
    }

    /// The most roundings one row of G, of B^T and of A^T gives a term, (r_G, r_B, r_A): each
    /// row's coefficient roundings plus its additions (`row_roundings`).
    pub fn side_roundings(&self) -> [usize; 3] {
        let integer = |rows: &[&[i8]]| {
            Self::max_rows(rows, |r| {
                row_roundings(r.iter().map(|&v| (i64::from(v), 1)))
            })
        };
        let r_g = Self::max_rows(self.g, |r| {
            row_roundings(r.iter().map(|&(n, d)| (i64::from(n), i64::from(d))))
        });
        [r_g, integer(self.b_t), integer(self.a_t)]
    }

    /// R, so that the bound is gamma_(C+R) S_W: one term meets 2 r_G roundings in U (both
    /// sides), 2 r_B in V, 1 in the product, C - 1 in the channel sum, 2 r_A in Y and 1 in
    /// the bias ([`Variant::side_roundings`]); so R = 2 r_G + 2 r_B + 2 r_A + 1.
    pub fn roundings(&self) -> usize {
        let [r_g, r_b, r_a] = self.side_roundings();
        2 * r_g + 2 * r_b + 2 * r_a + 1
    }

    /// |G|, exactly (the magnitudes of its fractions).
    pub fn g_abs(&self) -> Vec<Vec<crate::scalar::Rational>> {
        use crate::scalar::Rational;
        self.g
            .iter()
            .map(|r| {
                r.iter()
                    .map(|&(n, d)| Rational::new(i64::from(n).abs().into(), i64::from(d).into()))
                    .collect()
            })
            .collect()
    }

    /// The largest row sums of |A^T|, |B^T| and |G|, exactly (19, 10 and 1 for F(4x4, 3x3)).
    pub fn row_sums(&self) -> [crate::scalar::Rational; 3] {
        use crate::scalar::Rational;
        let integer = |rows: &[&[i8]]| {
            rows.iter()
                .map(|r| r.iter().map(|&v| i64::from(v).abs()).sum::<i64>())
                .max()
                .map_or_else(
                    || Rational::from_integer(0.into()),
                    |v| Rational::from_integer(v.into()),
                )
        };
        let g = self
            .g
            .iter()
            .map(|r| {
                r.iter()
                    .map(|&(n, d)| {
                        Rational::new(i64::from(n).abs().into(), i64::from(d).abs().into())
                    })
                    .sum::<Rational>()
            })
            .max()
            .unwrap_or_else(|| Rational::from_integer(0.into()));
        [integer(self.a_t), integer(self.b_t), g]
    }
}

/// Winograd F(m x m, 3x3) as an algorithm: 2-D layers with a 3x3 kernel, stride 1,
/// dilation 1 and zero padding, judged by the variant's tile-aware bound ([`reference()`]).
#[derive(Debug, Clone, Copy)]
pub struct Winograd(pub &'static Variant);

impl Kernel for Winograd {
    fn name(&self) -> &'static str {
        match self.0.outputs {
            2 => "winograd",
            _ => "winograd4",
        }
    }
    fn accepts(&self, problem: &Problem) -> Result<(), Refusal> {
        let dims = &problem.shape.dims;
        if dims.len() == 2
            && problem.zero_padding
            && dims
                .iter()
                .all(|d| d.kernel == 3 && d.stride == 1 && d.dilation == 1)
        {
            return Ok(());
        }
        Err(Refusal {
            algorithm: self.name(),
            reason: "needs a 2-D layer with a 3x3 kernel, stride 1, dilation 1 and zero padding"
                .into(),
        })
    }
    correlate_in_both!(|this, layer| correlate(layer, this.0));
    fn reference(&self, engine: &ExactEngine, layer: Operands, _: Precision) -> Built {
        reference(engine, layer, self.0)
    }
    fn own_bound(&self) -> Option<&'static str> {
        Some(match self.0.outputs {
            2 => "convspec's Winograd F(2x2, 3x3) kernel: its transforms' tile-aware bound",
            _ => "convspec's Winograd F(4x4, 3x3) kernel: its transforms' tile-aware bound",
        })
    }
}

/// A matrix's rows as lists of nonzero coefficients (value, column).
pub(super) type Sparse<T> = Vec<Vec<(T, usize)>>;

pub(super) fn sparse<T: FloatScalar>(rows: &[Vec<T>]) -> Sparse<T> {
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .filter(|(_, &c)| c != T::zero())
                .map(|(i, &c)| (c, i))
                .collect()
        })
        .collect()
}

/// The variant's matrices in T: B^T, G (each fraction divided in T: one rounding), A^T.
pub(super) struct Matrices<T> {
    pub(super) b_t: Vec<Vec<T>>,
    pub(super) g: Vec<Vec<T>>,
    pub(super) a_t: Vec<Vec<T>>,
}

impl<T: FloatScalar> Matrices<T> {
    pub(super) fn new(v: &Variant) -> Matrices<T> {
        let int = |rows: &[&[i8]]| -> Vec<Vec<T>> {
            rows.iter()
                .map(|r| {
                    r.iter()
                        .map(|&x| <T as FloatScalar>::from_f64(f64::from(x)))
                        .collect()
                })
                .collect()
        };
        Matrices {
            b_t: int(v.b_t),
            g: v.g
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|&(n, d)| {
                            <T as FloatScalar>::from_f64(f64::from(n))
                                / <T as FloatScalar>::from_f64(f64::from(d))
                        })
                        .collect()
                })
                .collect(),
            a_t: int(v.a_t),
        }
    }
}

/// out[(a cols + j) count + k] = sum_i rows[a][i] src[(i cols + j) stride + k]: the left side
/// of a transform, for `count` tiles at once (the source's blocks of `count` values `stride`
/// apart). Each combination runs over a row's nonzero coefficients from the first, in order
/// (so that +-1 and +-2^k coefficients add no rounding of their own).
fn transform_rows<T: FloatScalar>(
    combiner: &Combiner<T>,
    rows: &Sparse<T>,
    src: &[T],
    (cols, stride): (usize, usize),
    count: usize,
    out: &mut [T],
) {
    let mut terms = [(T::zero(), 0); MOST_TERMS];
    for (a, row) in rows.iter().enumerate() {
        for j in 0..cols {
            for (term, &(c, i)) in terms.iter_mut().zip(row) {
                *term = (c, (i * cols + j) * stride);
            }
            combiner.combine(
                &mut out[(a * cols + j) * count..][..count],
                &terms[..row.len()],
                src,
            );
        }
    }
}

/// out[(i cols_out + b) stride + k] = sum_j src[(i cols + j) count + k] rows[b][j]: the right
/// side of a transform (the result's blocks of `count` values `stride` apart).
fn transform_cols<T: FloatScalar>(
    combiner: &Combiner<T>,
    rows: &Sparse<T>,
    src: &[T],
    (height, cols): (usize, usize),
    (count, stride): (usize, usize),
    out: &mut [T],
) {
    let cols_out = rows.len();
    let mut terms = [(T::zero(), 0); MOST_TERMS];
    for i in 0..height {
        for (b, row) in rows.iter().enumerate() {
            for (term, &(c, j)) in terms.iter_mut().zip(row) {
                *term = (c, (i * cols + j) * count);
            }
            combiner.combine(
                &mut out[(i * cols_out + b) * stride..][..count],
                &terms[..row.len()],
                src,
            );
        }
    }
}

/// Both sides of a transform, X -> L X R^T with L = `left` (rows x height) and R = `right`
/// (cols_out x cols), by `combiner`; X's blocks of `count` values are `strides.0` apart, the
/// result's `strides.1`.
#[allow(clippy::too_many_arguments)]
fn transform<T: FloatScalar>(
    combiner: &Combiner<T>,
    left: &Sparse<T>,
    right: &Sparse<T>,
    src: &[T],
    cols: usize,
    count: usize,
    strides: (usize, usize),
    half: &mut [T],
    out: &mut [T],
) {
    let rows = left.len();
    let half = &mut half[..rows * cols * count];
    transform_rows(combiner, left, src, (cols, strides.0), count, half);
    transform_cols(combiner, right, half, (rows, cols), (count, strides.1), out);
}

/// A layer's weights transformed for one variant, `U[e][g][o][c] = (G g_(g,o,c) G^T)[e]`: for
/// each transform position e (alpha^2 of them) and group g a (C_out/G) x (C_in/G) matrix,
/// made once by a prepared layer ([`super::FloatEngine::prepare`]) or per call.
#[derive(Debug, Clone)]
pub struct TransformedWeights<T> {
    /// The variant whose G made them.
    pub variant: Variant,
    /// Per transform position e, `U[e]` packed for the micro-kernel ([`PackedWeights`], no
    /// bias).
    packed: Vec<PackedWeights<T>>,
}

impl<T: FloatScalar> TransformedWeights<T> {
    /// The r x r kernels of `weight` (C_out x C_in/G x r x r in C order, for `groups` groups,
    /// r the variant's taps) transformed as vectors: the weight's (kernel, r x r) layout
    /// transposed to (r x r, kernel) in chunks, both sides of the transform run over whole
    /// rows of kernels; then each `U[e]` packed. Cost: alpha^2 values per kernel, from about
    /// r alpha (r + alpha) operations each, and one copy to pack them.
    pub fn new(
        weight: &[T],
        (out_channels, in_per_group, groups): (usize, usize, usize),
        variant: &Variant,
    ) -> TransformedWeights<T> {
        let kernels = out_channels * in_per_group;
        let (alpha, r) = (variant.alpha(), variant.taps);
        let area = alpha * alpha;
        let g_sparse = sparse(&Matrices::<T>::new(variant).g);
        let combiner = Combiner::detect();
        let mut u = vec![T::zero(); area * kernels];
        {
            const CHUNK: usize = 1024;
            let shared = SharedOutput::new(&mut u);
            (0..kernels.div_ceil(CHUNK))
                .into_par_iter()
                .engine_threads()
                .for_each(|piece| {
                    let (k0, k1) = (piece * CHUNK, ((piece + 1) * CHUNK).min(kernels));
                    let count = k1 - k0;
                    let mut wt = vec![T::zero(); r * r * count];
                    for (k, g) in weight[k0 * r * r..k1 * r * r].chunks(r * r).enumerate() {
                        for (j, &v) in g.iter().enumerate() {
                            wt[j * count + k] = v;
                        }
                    }
                    let mut half = vec![T::zero(); alpha * r * count];
                    let mut ut = vec![T::zero(); area * count];
                    let sizes = (count, count);
                    transform_rows(&combiner, &g_sparse, &wt, (r, count), count, &mut half);
                    transform_cols(&combiner, &g_sparse, &half, (alpha, r), sizes, &mut ut);
                    for e in 0..area {
                        // SAFETY: kernels [k0, k1) of position e belong to this piece only.
                        let cells = unsafe { shared.range(e * kernels + k0, count) };
                        cells.copy_from_slice(&ut[e * count..][..count]);
                    }
                });
        }
        let zeros = vec![T::zero(); out_channels];
        let packed = u
            .chunks(kernels.max(1))
            .take(area)
            .map(|u| PackedWeights::new(u, &zeros, groups, in_per_group))
            .collect();
        TransformedWeights {
            variant: *variant,
            packed,
        }
    }
}

crate::simd::vectorised!(fn gather_tiles<T: FloatScalar>(
    x: &[T],
    dims: (crate::geometry::DimGeometry, crate::geometry::DimGeometry),
    tiling: (usize, usize, usize),
    inside: &[(usize, usize)],
    run: (usize, usize),
    d: &mut [T],
) => gather_tiles_with);

/// For each tile column j < alpha, the tiles tw in [lo, hi) whose column m tw + j - p_w lies
/// in [0, W) (the same for every row of tiles and every channel: worked out once per layer).
fn inside_columns(dw: crate::geometry::DimGeometry, m: usize, alpha: usize) -> Vec<(usize, usize)> {
    let (pad, width) = (dw.pad_begin, dw.input);
    (0..alpha)
        .map(|j| {
            let lo = pad.saturating_sub(j).div_ceil(m);
            (lo, (width + pad).saturating_sub(j).div_ceil(m).max(lo))
        })
        .collect()
}

/// Tiles per row up to which [`gather_tiles_with`] reads through a padded copy of the rows.
const SMALL_TILES: usize = 16;

/// The most values of that copy (on the stack).
const SMALL_PLANE: usize = 4096;

/// d[(i alpha + j) count + k] = x[m th + i - p_h, m tw + j - p_w] for the tiles
/// t0 + k = th tiles_w + tw of [t0, t1) (count = t1 - t0), zeros outside the input
/// (`inside`: [`inside_columns`]): the
/// alpha x alpha input tiles of one channel `x` (H x W, C order), a tile row at a time, each
/// of d's rows copied from a row of x read at stride m. Planes of at most [`SMALL_TILES`]
/// tiles per row whose run fits [`SMALL_PLANE`] values go through a zero-padded copy of the
/// run's rows on the stack, read without bounds (short segments otherwise cost more in their
/// bounds than in their copies). Cost: alpha^2 count copies (and the rows' copy).
#[inline(always)]
fn gather_tiles_with<T: FloatScalar>(
    x: &[T],
    (dh, dw): (crate::geometry::DimGeometry, crate::geometry::DimGeometry),
    (m, alpha, tiles_w): (usize, usize, usize),
    inside: &[(usize, usize)],
    (t0, t1): (usize, usize),
    d: &mut [T],
) {
    let count = t1 - t0;
    if count == 0 {
        return;
    }
    let (pad, width) = (dw.pad_begin, dw.input);
    // Narrow planes (few tiles per row: short segments, each with its own bounds) go through
    // a zero-padded copy of the run's rows on the stack, read without bounds.
    let (th0, th1) = (t0 / tiles_w, (t1 - 1) / tiles_w + 1);
    let (rows, padded_width) = (m * (th1 - th0) + alpha - m, m * tiles_w + alpha - m);
    if tiles_w <= SMALL_TILES && rows * padded_width <= SMALL_PLANE {
        // Zeros in the part used only (not the whole array: conv4's runs use 324 values).
        let mut storage = [std::mem::MaybeUninit::<T>::uninit(); SMALL_PLANE];
        let plane = &mut storage[..rows * padded_width];
        for cell in plane.iter_mut() {
            cell.write(T::zero());
        }
        // SAFETY: every element of `plane` was written just above.
        let plane = unsafe { &mut *(plane as *mut [std::mem::MaybeUninit<T>] as *mut [T]) };
        for r in 0..rows {
            let row = (m * th0 + r) as i64 - dh.pad_begin as i64;
            if row < 0 || row >= dh.input as i64 {
                continue;
            }
            let source = &x[row as usize * width..][..width];
            let line = &mut plane[r * padded_width..][..padded_width];
            let end = (pad + width).min(padded_width);
            if pad < end {
                line[pad..end].copy_from_slice(&source[..end - pad]);
            }
        }
        for (th, (tw0, tw1), k0) in tile_rows((t0, t1), tiles_w) {
            for i in 0..alpha {
                let line = &plane[(m * (th - th0) + i) * padded_width..][..padded_width];
                for j in 0..alpha {
                    let out = &mut d[(i * alpha + j) * count + k0..][..tw1 - tw0];
                    every_m(m, &line[m * tw0 + j..], out);
                }
            }
        }
        return;
    }
    for (th, (tw0, tw1), k0) in tile_rows((t0, t1), tiles_w) {
        for i in 0..alpha {
            let row = (m * th + i) as i64 - dh.pad_begin as i64;
            let source =
                (row >= 0 && row < dh.input as i64).then(|| &x[row as usize * width..][..width]);
            for j in 0..alpha {
                let out = &mut d[(i * alpha + j) * count + k0..][..tw1 - tw0];
                let Some(source) = source else {
                    out.fill(T::zero());
                    continue;
                };
                // The tiles whose column m tw + j - p_w lies in [0, W): tw in [lo, hi).
                let lo = inside[j].0.clamp(tw0, tw1);
                let hi = inside[j].1.clamp(lo, tw1);
                out[..lo - tw0].fill(T::zero());
                out[hi - tw0..].fill(T::zero());
                if lo < hi {
                    every_m(m, &source[m * lo + j - pad..], &mut out[lo - tw0..hi - tw0]);
                }
            }
        }
    }
}

/// The tiles [t0, t1) (numbered th tiles_w + tw) by tile row: (th, its tiles [tw0, tw1) in
/// the run, k0 = the first one's place in the run).
fn tile_rows(
    (t0, t1): (usize, usize),
    tiles_w: usize,
) -> impl Iterator<Item = (usize, (usize, usize), usize)> {
    let mut tile = t0;
    std::iter::from_fn(move || {
        (tile < t1).then(|| {
            let (th, tw0) = (tile / tiles_w, tile % tiles_w);
            let tw1 = tiles_w.min(tw0 + t1 - tile);
            let k0 = tile - t0;
            tile += tw1 - tw0;
            (th, (tw0, tw1), k0)
        })
    })
}

/// out[k] = source[k m], by [`every`] for m = 2 and 4.
#[inline(always)]
fn every_m<T: Copy>(m: usize, source: &[T], out: &mut [T]) {
    match m {
        2 => every::<T, 2>(source, out),
        4 => every::<T, 4>(source, out),
        _ => {
            for (o, &v) in out.iter_mut().zip(source.iter().step_by(m)) {
                *o = v;
            }
        }
    }
}

/// out[k] = source[k M] (M a constant: interleaved loads on the vector units).
#[inline(always)]
pub(super) fn every<T: Copy, const M: usize>(source: &[T], out: &mut [T]) {
    let whole = (source.len() / M).min(out.len());
    for (o, group) in out[..whole].iter_mut().zip(source.chunks_exact(M)) {
        *o = group[0];
    }
    for (k, o) in out.iter_mut().enumerate().skip(whole) {
        *o = source[k * M];
    }
}

/// Where a channel's outputs go: the shared output, the channel's first position and its
/// (H_out, W_out).
type Plane<'a, T> = (&'a SharedOutput<T>, usize, (usize, usize));

crate::simd::vectorised!(fn scatter_tiles<T: FloatScalar>(
    y: &[T],
    tiling: (usize, usize),
    run: (usize, usize),
    plane: Plane<'_, T>,
    bias: T,
) => scatter_tiles_with);

/// Y[m th + r, m tw + q] = y[(r m + q) count + k] + b for the tiles t0 + k = th tiles_w + tw
/// of [t0, t1) (count = t1 - t0), the outputs within (H_out, W_out) only: one channel's m x m
/// output tiles, a tile row at a time, each output row written in order. The outputs of
/// these tiles must be written by no one else meanwhile. Cost: m^2 count additions.
#[inline(always)]
fn scatter_tiles_with<T: FloatScalar>(
    y: &[T],
    (m, tiles_w): (usize, usize),
    (t0, t1): (usize, usize),
    (shared, first, (out_h, out_w)): Plane<'_, T>,
    bias: T,
) {
    let count = t1 - t0;
    for (th, (tw0, tw1), k0) in tile_rows((t0, t1), tiles_w) {
        for r in 0..m.min(out_h.saturating_sub(m * th)) {
            let row = m * th + r;
            let (c0, c1) = (m * tw0, (m * tw1).min(out_w));
            // SAFETY: these outputs belong to the tiles [t0, t1), which only this caller
            // writes (the caller's contract).
            let cells = unsafe { shared.range(first + row * out_w + c0, c1 - c0) };
            let sources = |q: usize| &y[(r * m + q) * count + k0..][..tw1 - tw0];
            match m {
                2 => interleave::<T, 2>([sources(0), sources(1)], bias, as_cells(cells)),
                4 => interleave::<T, 4>(
                    [sources(0), sources(1), sources(2), sources(3)],
                    bias,
                    as_cells(cells),
                ),
                _ => {
                    for (c, cell) in cells.iter_mut().enumerate() {
                        *cell = sources(c % m)[c / m] + bias;
                    }
                }
            }
        }
    }
}

/// cells[k M + q] = sources[q][k] + b (M a constant: interleaved stores on the vector units),
/// every cell written.
#[inline(always)]
pub(super) fn interleave<T: FloatScalar, const M: usize>(
    sources: [&[T]; M],
    bias: T,
    cells: &mut [std::mem::MaybeUninit<T>],
) {
    let whole = cells.len() / M;
    for (k, group) in cells.chunks_exact_mut(M).enumerate() {
        for q in 0..M {
            group[q].write(sources[q][k] + bias);
        }
    }
    for (c, cell) in cells.iter_mut().enumerate().skip(whole * M) {
        cell.write(sources[c % M][c / M] + bias);
    }
}

/// `cells` as cells that may be written (every value of T is one of MaybeUninit<T>).
pub(super) fn as_cells<T>(cells: &mut [T]) -> &mut [std::mem::MaybeUninit<T>] {
    // SAFETY: MaybeUninit<T> has T's layout, and only initialised values are written through
    // the result.
    unsafe { &mut *(cells as *mut [T] as *mut [std::mem::MaybeUninit<T>]) }
}

/// The layer's output (N, C_out, H_out, W_out) in C order by `variant` (the layer must
/// satisfy [`Winograd::accepts`](Kernel::accepts)).
pub fn correlate<T: FloatScalar>(layer: &Layer<'_, T>, variant: &Variant) -> Vec<T> {
    let s = &layer.shape;
    let (m, alpha) = (variant.outputs, variant.alpha());
    let area = alpha * alpha;
    let matrices = Matrices::<T>::new(variant);
    let (dh, dw) = (s.dims[0], s.dims[1]);
    let (out_h, out_w) = (layer.output_shape[2], layer.output_shape[3]);
    let (tiles_h, tiles_w) = (out_h.div_ceil(m), out_w.div_ceil(m));
    let tiles = tiles_h * tiles_w;
    let (in_per_group, out_per_group) = (s.in_channels / s.groups, s.out_channels / s.groups);
    let computed;
    let u = match layer.transformed.filter(|t| t.variant == *variant) {
        Some(prepared) => prepared,
        None => {
            let sizes = (s.out_channels, in_per_group, s.groups);
            computed = TransformedWeights::new(&layer.weight, sizes, variant);
            &computed
        }
    };
    let kernel = MicroKernel::detect().unwrap_or_else(MicroKernel::portable);
    let combiner = Combiner::detect();
    let (b_t, a_t) = (sparse(&matrices.b_t), sparse(&matrices.a_t));
    let inside = inside_columns(dw, m, alpha);
    let positions = layer.positions;
    let mut out = vec![T::zero(); s.batch * s.out_channels * positions];
    let shared = SharedOutput::new(&mut out);
    // Jobs: (batch element, group, a run of tiles, output channels o0..o1), so that one image
    // uses every thread; runs of at most 128 tiles keep V and M (alpha^2 C count values each)
    // near the caches, and as long as that allows (one run per thread: each run's alpha^2
    // matrix products are as wide as the run, and narrow products cost the GEMM more in
    // packing than in arithmetic). With fewer runs than threads (few tiles: a 14x14 layer
    // has 16 of F(4x4)), each run's V is made once, its input channels shared among the
    // threads, and then its output channels are split among them, in whole panels of MR
    // rows, each part multiplying by its rows of U only.
    let threads = crate::parallel::threads();
    let chunk = tiles.div_ceil(threads).clamp(16, 128);
    let runs = s.batch * s.groups * tiles.div_ceil(chunk);
    let parts = threads
        .div_ceil(runs)
        .clamp(1, out_per_group.div_ceil(MR).max(1));
    let jobs: Vec<(usize, usize, usize, usize, usize, usize)> = (0..s.batch)
        .flat_map(|n| (0..s.groups).map(move |g| (n, g)))
        .flat_map(|(n, g)| {
            (0..tiles).step_by(chunk).flat_map(move |t0| {
                (0..parts).map(move |part| {
                    let (o0, o1) = (
                        out_per_group * part / parts / MR * MR,
                        (out_per_group * (part + 1) / parts / MR * MR).min(out_per_group),
                    );
                    let o1 = if part + 1 == parts { out_per_group } else { o1 };
                    (n, g, t0, (t0 + chunk).min(tiles), o0, o1)
                })
            })
        })
        .filter(|&(.., o0, o1)| o0 < o1 || out_per_group == 0)
        .collect();
    let most = chunk.min(tiles);
    // V[e][c] of the run [t0, t1) for channel c of image n and group g, its rows `count`
    // values apart in `out` (blocks `stride` apart between positions e).
    let transform_channel = |(n, g, c): (usize, usize, usize),
                             (t0, t1): (usize, usize),
                             (d, half): (&mut [T], &mut [T]),
                             out: &mut [T],
                             stride: usize| {
        let count = t1 - t0;
        let channel = &layer.input[(n * s.in_channels + g * in_per_group + c) * layer.spatial..]
            [..layer.spatial];
        let d = &mut d[..area * count];
        gather_tiles(channel, (dh, dw), (m, alpha, tiles_w), &inside, (t0, t1), d);
        let strides = (count, stride);
        transform(&combiner, &b_t, &b_t, d, alpha, count, strides, half, out);
    };
    // The outputs of channels o0..o1 of group g over the run [t0, t1) of image n from the
    // run's V (`v`: V[e] at e C count, row c of it at c count): M[e] = U[e] V[e] for those
    // rows, by the micro-kernel over U[e]'s panels o0 / MR.., then Y = A^T M A + b per
    // channel, scattered.
    let outputs =
        |(n, g): (usize, usize),
         (t0, t1): (usize, usize),
         (o0, o1): (usize, usize),
         v: &[T],
         (mm, half, vt, offsets): (&mut [T], &mut [T], &mut [T], &mut Vec<usize>)| {
            let count = t1 - t0;
            let rows = o1 - o0;
            let mm = &mut mm[..area * rows * count];
            if in_per_group > 0 && rows > 0 && count > 0 {
                offsets.clear();
                offsets.extend((0..in_per_group).map(|c| c * count));
                let panels = (g, o0 / MR..o1.div_ceil(MR));
                for (e, packed) in u.packed.iter().enumerate() {
                    let rhs = &v[e * in_per_group * count..][..in_per_group * count];
                    let dst = &mut mm[e * rows * count..][..rows * count];
                    // SAFETY: row c of V[e] (rhs + c count) holds count values; dst holds a
                    // row of count values for each of the rows o0..o1 (o0 a whole panel's
                    // first); the kernel was detected on this processor or is the portable
                    // one.
                    unsafe {
                        let (b, y) = (rhs.as_ptr(), dst.as_mut_ptr());
                        packed.multiply(
                            kernel,
                            panels.clone(),
                            b,
                            offsets,
                            count,
                            count,
                            y,
                            count,
                            None,
                        );
                    }
                }
            }
            // Y = A^T M A per output channel, for the run of tiles at once.
            let y = &mut vt[..m * m * count];
            for o in o0..o1 {
                // M[e][o] read in place (blocks rows count apart).
                let strides = (rows * count, count);
                transform(
                    &combiner,
                    &a_t,
                    &a_t,
                    &mm[(o - o0) * count..],
                    alpha,
                    count,
                    strides,
                    half,
                    y,
                );
                let channel = g * out_per_group + o;
                let first = (n * s.out_channels + channel) * positions;
                let plane = (&shared, first, (out_h, out_w));
                let bias = layer.bias[channel];
                scatter_tiles(y, (m, tiles_w), (t0, t1), plane, bias);
            }
        };
    if parts == 1 {
        let scratch = || {
            (
                vec![T::zero(); area * in_per_group * most],
                vec![T::zero(); area * most],
                vec![T::zero(); area * most],
                vec![T::zero(); area * most],
                vec![T::zero(); area * out_per_group * most],
                Vec::with_capacity(in_per_group),
            )
        };
        jobs.into_par_iter().engine_threads().for_each_init(
            scratch,
            |buffers, (n, g, t0, t1, o0, o1)| {
                let (v, d, half, vt, mm, offsets) = buffers;
                let count = t1 - t0;
                let v = &mut v[..area * in_per_group * count];
                for c in 0..in_per_group {
                    // V[e][c] straight into its place (blocks in_per_group count apart).
                    let stride = in_per_group * count;
                    transform_channel((n, g, c), (t0, t1), (d, half), &mut v[c * count..], stride);
                }
                outputs((n, g), (t0, t1), (o0, o1), v, (mm, half, vt, offsets));
            },
        );
    } else {
        // Fewer runs than threads: each run's V made once, its channels shared among the
        // threads, then its output channels in parts (each part multiplies by its rows of U
        // only), so that no thread transforms the input again.
        let mut v = vec![T::zero(); area * in_per_group * most];
        for &(n, g, t0, t1, ..) in jobs.iter().filter(|job| job.4 == 0) {
            let count = t1 - t0;
            {
                let shared_v = SharedOutput::new(&mut v[..area * in_per_group * count]);
                (0..in_per_group)
                    .into_par_iter()
                    .engine_threads()
                    .for_each_init(
                        || {
                            let buffer = || vec![T::zero(); area * count];
                            (buffer(), buffer(), buffer())
                        },
                        |(d, half, own), c| {
                            transform_channel((n, g, c), (t0, t1), (d, half), own, count);
                            for e in 0..area {
                                // SAFETY: row c of V[e] is written by this channel's task only.
                                let cells = unsafe {
                                    shared_v.range((e * in_per_group + c) * count, count)
                                };
                                cells.copy_from_slice(&own[e * count..][..count]);
                            }
                        },
                    );
            }
            let v = &v[..area * in_per_group * count];
            let parts: Vec<(usize, usize)> = jobs
                .iter()
                .filter(|job| (job.0, job.1, job.2) == (n, g, t0))
                .map(|job| (job.4, job.5))
                .collect();
            parts.into_par_iter().engine_threads().for_each_init(
                || {
                    (
                        vec![T::zero(); area * out_per_group * count],
                        vec![T::zero(); area * count],
                        vec![T::zero(); area * count],
                        Vec::with_capacity(in_per_group),
                    )
                },
                |(mm, half, vt, offsets), (o0, o1)| {
                    outputs((n, g), (t0, t1), (o0, o1), v, (mm, half, vt, offsets));
                },
            );
        }
    }
    out
}

/// The reference of Winograd's F(m x m, r x r) (`crate::float::winograd`, `variant` F2X2,
/// F4X4 or F3X3_4X4): y exact as for [`Reference::correlate`], but the magnitude is the transforms'
/// S_W = |A^T| sum_c (|G||g_c||G^T|) (.) (|B^T||d_c||B|) |A| + |b| and
/// n = C_in/G + R - 1 (R = [`Variant::roundings`]),
/// so that the contract's gamma_(n+1) S_W is the bound of `proofs/exact.md` W1 and W2; the
/// absolute terms are those of `proofs/oracle.md` O6: 2 a^2 C (1 + 24 b^2 max|x|) underflow
/// units and cut weights 2 a^2 b^2 g^2 C (max|x| + max|w|), with a, b, g the largest row
/// sums of |A^T|, |B^T| and |G|. This is the bound of convspec's own transforms
/// (`crate::float::winograd`), not of another library's Winograd kernels.
///
/// Refused (a typed error) for layers the transforms do not apply to: anything but a 2-D
/// correlation with an r x r kernel, stride 1, dilation 1 and zero padding.
///
/// S_W is computed exactly: for each output parity (r, s) of the m x m tiles,
/// S_W[m t + r, m v + s] - |b| is a stride-m correlation of |x| (padded as the layer, and at
/// the end to whole tiles) with the alpha x alpha kernel
/// kappa_(r,s)[i, j] = sum_(a,b) |A^T|\[r,a\] |A^T|\[s,b\] |B^T|\[a,i\] |B^T|\[b,j\] (|G||g||G^T|)\[a,b\].
pub fn reference(
    engine: &ExactEngine,
    layer: Operands<'_>,
    variant: &Variant,
) -> Result<Reference, ExactError> {
    let (input, weight, bias, geometry) = (layer.input, layer.weight, layer.bias, layer.geometry);
    use crate::geometry::{Padding, PaddingMode};
    let applies = weight.ndim() == 4
        && weight.shape()[2..] == [variant.taps, variant.taps]
        && geometry.stride.iter().all(|&s| s == 1)
        && geometry.dilation.iter().all(|&d| d == 1)
        && geometry.padding_mode == PaddingMode::Zeros;
    if !applies {
        return Err(crate::geometry::GeometryError::Unsupported(
            format!("the winograd bound of convspec's {} kernel applies to 2-D correlations with a {r}x{r} kernel, stride 1, dilation 1 and zero padding", variant.name(), r = variant.taps),
        )
        .into());
    }
    // y as for the direct bound; the magnitude is S_W (below), not S.
    let exact = engine.correlate(
        &scaled_input(input)?,
        &scaled_input(weight)?,
        bias.map(scaled_input).transpose()?.as_ref(),
        geometry,
    )?;
    let batched = batched_shape(input, weight);
    let shape = ConvShape::new(&batched, weight.shape(), bias.map(|b| b.len()), geometry)?;
    let dims = &shape.dims;
    let output = exact.shape().to_vec();
    let (m, alpha) = (variant.outputs, variant.alpha());
    let (out_h, out_w) = (output[output.len() - 2], output[output.len() - 1]);
    let (tiles_h, tiles_w) = (out_h.div_ceil(m), out_w.div_ceil(m));
    let in_per_group = weight.shape()[1];
    let out_channels = weight.shape()[0];
    let q = |v: i64| Rational::from_integer(v.into());
    let g_abs = variant.g_abs();
    let b_abs = |a: usize, i: usize| i64::from(variant.b_t[a][i]).abs();

    let a_abs = |r: usize, a: usize| i64::from(variant.a_t[r][a]).abs();
    // |G||g||G^T| per (o, c): alpha x alpha.
    let mut u_abs = vec![q(0); out_channels * in_per_group * alpha * alpha];
    for o in 0..out_channels {
        for c in 0..in_per_group {
            for a in 0..alpha {
                for b in 0..alpha {
                    let mut u = q(0);
                    for kk in 0..variant.taps {
                        for l in 0..variant.taps {
                            if g_abs[a][kk].is_zero() || g_abs[b][l].is_zero() {
                                continue;
                            }
                            u += &g_abs[a][kk] * &g_abs[b][l] * weight[[o, c, kk, l]].abs();
                        }
                    }
                    u_abs[((o * in_per_group + c) * alpha + a) * alpha + b] = u;
                }
            }
        }
    }
    let x_abs = scaled(&absolute(input));
    let end = |d: &crate::geometry::DimGeometry, tiles: usize| {
        (m * tiles.saturating_sub(1) + alpha).saturating_sub(d.input + d.pad_begin)
    };
    let tiled = ConvGeometry::new(2)
        .with_stride(vec![m, m])
        .with_groups(shape.groups)
        .with_padding(Padding::Explicit(vec![
            (dims[0].pad_begin, end(&dims[0], tiles_h)),
            (dims[1].pad_begin, end(&dims[1], tiles_w)),
        ]));
    let mut magnitude = ArrayD::from_elem(IxDyn(&output), q(0));
    for r in 0..m {
        for s_ in 0..m {
            let mut kappa =
                ArrayD::from_elem(IxDyn(&[out_channels, in_per_group, alpha, alpha]), q(0));
            for o in 0..out_channels {
                for c in 0..in_per_group {
                    for a in 0..alpha {
                        for b in 0..alpha {
                            let coefficient = a_abs(r, a) * a_abs(s_, b);
                            if coefficient == 0 {
                                continue;
                            }
                            let u = &u_abs[((o * in_per_group + c) * alpha + a) * alpha + b];
                            if u.is_zero() {
                                continue;
                            }
                            for i in 0..alpha {
                                for j in 0..alpha {
                                    let t = b_abs(a, i) * b_abs(b, j);
                                    if t != 0 {
                                        kappa[[o, c, i, j]] += u * q(coefficient * t);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let part = engine
                .correlate(&x_abs, &scaled(&kappa), None, &tiled)?
                .to_rationals();
            for (index, value) in part.indexed_iter() {
                let index = index.slice();
                let rank = index.len();
                let (th, tw) = (index[rank - 2], index[rank - 1]);
                let (row, col) = (m * th + r, m * tw + s_);
                if row < out_h && col < out_w {
                    let mut at = index.to_vec();
                    at[rank - 2] = row;
                    at[rank - 1] = col;
                    magnitude[IxDyn(&at)] = value.clone();
                }
            }
        }
    }
    if let Some(b) = bias {
        let channel_axis = output.len() - 3;
        for (index, value) in magnitude.indexed_iter_mut() {
            *value += b[[index[channel_axis]]].abs();
        }
    }
    let terms = in_per_group + variant.roundings() - 1;
    Ok(transform_reference(
        exact,
        &magnitude,
        variant,
        (in_per_group, terms),
        (input, weight, bias),
    ))
}

/// The reference of a kernel by Winograd's transforms, from y exact, S_W and the roundings
/// `terms` = C + R - 1 one term meets, C terms in each of its matrix products: the absolute
/// terms of `proofs/oracle.md` O6 (errors in M reach an output through |A^T| (.) |A^T|, at
/// most a_sum^2, the cut's through |B^T| and |G| on both sides; (1 + gamma) <= 2), which bound
/// those of one-sided transforms too.
pub(super) fn transform_reference(
    exact: crate::exact::ScaledTensor,
    magnitude: &ArrayD<Rational>,
    variant: &Variant,
    (channels, terms): (usize, usize),
    (input, weight, bias): (
        &ArrayD<Rational>,
        &ArrayD<Rational>,
        Option<&ArrayD<Rational>>,
    ),
) -> Reference {
    let q = |v: i64| Rational::from_integer(v.into());
    let c = q(channels as i64);
    let [a_sum, b_sum, g_sum] = variant.row_sums();
    let (a2, b2) = (&a_sum * &a_sum, &b_sum * &b_sum);
    let two = q(2);
    let reach = &two * &a2 * &c * &b2 * &g_sum * &g_sum;
    let (m_x, m_w) = (largest(input), largest(weight));
    Reference {
        exact,
        magnitude: crate::oracle::reference::Magnitude::exact(scaled(magnitude)),
        reduction: Reduction {
            terms,
            factors: 2,
            bias: bias.is_some(),
            cut_weight: &reach * (&m_x + &m_w) + q(i64::from(bias.is_some())),
            cut_products: reach,
            underflow_ops: &two * &a2 * &c * (q(1) + q(24) * &b2 * &m_x),
            matrix_unit: false,
        },
        selection: false,
        inputs_in_format: formats_of(&with_bias(input, weight, bias)),
    }
}
