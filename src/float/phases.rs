//! Stride-2 layers by Winograd's algorithm along the height of their phases (ResNet's 7x7
//! stem). A 2-D correlation at stride 2 is a sum over the four phases (q_h, q_w) in {0, 1}^2
//! of the padded input, each a stride-1 correlation:
//!
//! ```text
//! y[o, t, v] = b[o] + sum_c sum_(q_h, q_w) sum_(a < r_h, b < r_w) w[o, c, 2a + q_h, 2b + q_w] x_q[c, t + a, v + b]
//! x_q[c, p, j] = xpad[c, 2p + q_h, 2j + q_w]
//! ```
//!
//! (w zero past the kernel; r = ceil(k / 2) taps per phase). Along the height each phase
//! column is an r_h-tap correlation, computed by Winograd's one-dimensional F(m, r_h) (F(3, 4)
//! for 7x7 and 8x8 kernels, F(4, 3) for 5x5 and 6x6, the matrices of [`super::winograd`]'s
//! F(3x3, 4x4) and F(4x4, 3x3)) on tiles of m output rows; along the width the r_w taps are
//! summed with the channels and phases, K = 4 r_w C_in/G terms, in one matrix product per
//! transform position e < alpha:
//!
//! ```text
//! V[e][(c, q)][u][j] = sum_i B^T[e, i] x_q[c, m u + i, j]                  (input rows, once)
//! U[e][o][(c, q, b)] = sum_a G[e, a] w[o, c, 2a + q_h, 2b + q_w]             (weights, once)
//! M[e][o][u][v]      = sum_((c, q), b) U[e][o][(c, q, b)] V[e][(c, q)][u][v + b]   (GEMM)
//! y[o, m u + i, v]   = sum_e A^T[i, e] M[e][o][u][v] + b[o]
//! ```
//!
//! Every transform combines whole rows (the width stays the vector units' direction), and the
//! matrix product reads V in place, row ((c, q), b) of tile row u being row u of plane (c, q)
//! from column b on, as implicit GEMM reads a padded input. Products: alpha K / m per output
//! and output channel (96 for the stem, against the direct sum's 147); the transforms of the
//! input once per phase row and of M once per output.
//!
//! Error bound (the reference, [`reference()`]): for every output, |y_hat - y| <= gamma_(K+R)
//! S_W + (underflow), where S_W = |A^T| sum_((c, q), b) (|G| |w_(o,c,q,b)|) (.) (|B^T| |d|) +
//! |b| (d the phase column's alpha values of the tile) and R = r_G + r_B + r_A + 1: a term
//! meets r_G roundings in U, r_B in V, one in its product, K - 1 in the sum, r_A in y and one
//! in the bias ([`Variant::side_roundings`]); the absolute terms are those of the two-sided
//! transforms (`proofs/oracle.md` O6) with C = K, which bound the one-sided ones.

use super::combine::{Combiner, MOST_TERMS};
use super::kernel::{correlate_in_both, Built, Kernel, Problem, Refusal};
use super::packed::{MicroKernel, PackedWeights, MR};
use super::winograd::{self, every, sparse, Matrices, Sparse, Variant};
use super::{FloatScalar, Layer};
use crate::exact::ExactEngine;
use crate::geometry::{ConvGeometry, DimGeometry, Padding, PaddingMode};
use crate::oracle::reference::{absolute, batched_shape, scaled};
use crate::oracle::Operands;
use crate::parallel::SharedOutput;
use crate::scalar::Rational;
use ndarray::{ArrayD, IxDyn};
use num_traits::{Signed, Zero};

/// Winograd along the height of a stride-2 layer's phases (see the module's documentation).
#[derive(Debug, Clone, Copy)]
pub struct PhasedWinograd;

/// The one-dimensional variant for phase columns of r taps: F(4, 3) (r = 3) or F(3, 4) (r = 4).
pub fn variant(taps: usize) -> Option<&'static Variant> {
    match taps {
        3 => Some(&winograd::F4X4),
        4 => Some(&winograd::F3X3_4X4),
        _ => None,
    }
}

/// The taps per phase (r_h, r_w) of a 2-D layer at stride 2 and dilation 1 in both
/// dimensions whose height has a variant.
fn phase_taps(dims: &[DimGeometry]) -> Option<(usize, usize)> {
    let [dh, dw] = dims else { return None };
    let fits = |d: &DimGeometry| d.stride == 2 && d.dilation == 1 && d.kernel > 0;
    let taps = (dh.kernel.div_ceil(2), dw.kernel.div_ceil(2));
    (fits(dh) && fits(dw) && variant(taps.0).is_some()).then_some(taps)
}

impl Kernel for PhasedWinograd {
    fn name(&self) -> &'static str {
        "winograd-s2"
    }
    fn accepts(&self, problem: &Problem) -> Result<(), Refusal> {
        if problem.zero_padding && phase_taps(&problem.shape.dims).is_some() {
            return Ok(());
        }
        Err(Refusal {
            algorithm: self.name(),
            reason:
                "needs a 2-D layer with stride 2, dilation 1, zero padding and a kernel 5 to 8 high"
                    .into(),
        })
    }
    correlate_in_both!(|_this, layer| correlate(layer));
    fn reference(
        &self,
        engine: &ExactEngine,
        layer: Operands,
        _: crate::scalar::Precision,
    ) -> Built {
        reference(engine, layer)
    }
    fn own_bound(&self) -> Option<&'static str> {
        Some("convspec's stride-2 Winograd kernel (F(3, 4) or F(4, 3) along the height of the input's phases): its transforms' tile-aware bound")
    }
}

/// The sizes of the phased computation of one layer.
#[derive(Debug, Clone, Copy)]
struct Phasing {
    /// Taps per phase along the height and the width, (r_h, r_w).
    taps: (usize, usize),
    /// Output rows per tile m and the tile's input rows alpha = m + r_h - 1.
    tile: (usize, usize),
    /// Tiles U = ceil(O_h / m), and the phase rows P = m U + alpha - m they read.
    tiles: usize,
    rows: usize,
    /// Values per phase row L = O_w + r_w - 1 (the columns v + b read for v < O_w).
    width: usize,
    /// Input channels per group C_in/G: the planes per group are 4 C_in/G, the reduction
    /// K = 4 r_w C_in/G.
    in_per_group: usize,
}

impl Phasing {
    fn new(dims: &[DimGeometry], output: &[usize], in_per_group: usize) -> Option<Phasing> {
        let taps = phase_taps(dims)?;
        let m = variant(taps.0)?.outputs;
        let alpha = m + taps.0 - 1;
        let tiles = output[0].div_ceil(m);
        let width = output[1] + taps.1 - 1;
        Some(Phasing {
            taps,
            tile: (m, alpha),
            tiles,
            rows: m * tiles + alpha - m,
            width,
            in_per_group,
        })
    }

    /// Planes (c, q) per group.
    fn planes(&self) -> usize {
        4 * self.in_per_group
    }

    /// The reduction K = 4 r_w C_in/G, in the order ((c, q), b).
    fn depth(&self) -> usize {
        self.planes() * self.taps.1
    }
}

/// A layer's weights transformed for [`PhasedWinograd`]: per transform position e, the
/// C_out x K matrix U\[e\] packed for the micro-kernel, made once by a prepared layer
/// ([`super::FloatEngine::prepare`]) or per call.
#[derive(Debug, Clone)]
pub struct PhaseWeights<T> {
    /// The kernel's (k_h, k_w) they were made for.
    kernel: (usize, usize),
    packed: Vec<PackedWeights<T>>,
}

impl<T: FloatScalar> PhaseWeights<T> {
    /// `U[e][o][((c, q_h, q_w), b)] = sum_a G[e, a] w[o, c, 2a + q_h, 2b + q_w]` for `weight`
    /// (C_out, C_in/G, k_h, k_w) in C order, each sum over G's nonzero coefficients from the
    /// first; None for a kernel height without a variant. Cost: alpha K r_h operations per
    /// output channel.
    pub fn new(weight: &[T], shape: &[usize], groups: usize) -> Option<PhaseWeights<T>> {
        let [out_channels, in_per_group, k_h, k_w] = *shape else {
            return None;
        };
        let (r_h, r_w) = (k_h.div_ceil(2), k_w.div_ceil(2));
        let variant = variant(r_h)?;
        let g = sparse(&Matrices::<T>::new(variant).g);
        let depth = 4 * in_per_group * r_w;
        let mut u = vec![vec![T::zero(); out_channels * depth]; g.len()];
        for o in 0..out_channels {
            for c in 0..in_per_group {
                let kernel = &weight[(o * in_per_group + c) * k_h * k_w..][..k_h * k_w];
                for q in 0..4 {
                    let (q_h, q_w) = (q / 2, q % 2);
                    for b in 0..r_w {
                        let j = 2 * b + q_w;
                        let tap = |a: usize| {
                            let i = 2 * a + q_h;
                            if i < k_h && j < k_w {
                                kernel[i * k_w + j]
                            } else {
                                T::zero()
                            }
                        };
                        let k = (4 * c + q) * r_w + b;
                        for (e, row) in g.iter().enumerate() {
                            let mut terms =
                                row.iter().map(|&(coefficient, a)| coefficient * tap(a));
                            let first = terms.next().unwrap_or_else(T::zero);
                            u[e][o * depth + k] = terms.fold(first, |sum, v| sum + v);
                        }
                    }
                }
            }
        }
        let zeros = vec![T::zero(); out_channels];
        let packed = u
            .iter()
            .map(|u| PackedWeights::new(u, &zeros, groups, depth))
            .collect();
        Some(PhaseWeights {
            kernel: (k_h, k_w),
            packed,
        })
    }
}

crate::simd::vectorised!(fn phase_row<T: FloatScalar>(
    x: &[T],
    dims: (DimGeometry, DimGeometry),
    phase: (usize, usize),
    p: usize,
    row: &mut [T],
) => phase_row_with);

/// Row p of phase (q_h, q_w) of channel `x` (H x W, C order) into `row` (L values):
/// row[j] = xpad[2p + q_h, 2j + q_w], zeros outside x. Cost: L copies.
#[inline(always)]
fn phase_row_with<T: FloatScalar>(
    x: &[T],
    (dh, dw): (DimGeometry, DimGeometry),
    (q_h, q_w): (usize, usize),
    p: usize,
    row: &mut [T],
) {
    let source = (2 * p + q_h)
        .checked_sub(dh.pad_begin)
        .filter(|&r| r < dh.input)
        .map(|r| &x[r * dw.input..][..dw.input]);
    let Some(source) = source else {
        row.fill(T::zero());
        return;
    };
    // Column 2j + q_w - p_w of x lies in [0, W) for j in [lo, hi).
    let lo = dw.pad_begin.saturating_sub(q_w).div_ceil(2).min(row.len());
    let hi = (dw.input + dw.pad_begin)
        .saturating_sub(q_w)
        .div_ceil(2)
        .clamp(lo, row.len());
    row[..lo].fill(T::zero());
    row[hi..].fill(T::zero());
    if lo < hi {
        let first = 2 * lo + q_w - dw.pad_begin;
        every::<T, 2>(&source[first..], &mut row[lo..hi]);
    }
}

/// V[e][(c, q)][u] = sum_i B^T[e, i] x_q[c, m u + i] (rows of L values) for the tile rows
/// [u0, u1) of one plane (c, q) of one channel `x`: the phase rows m u0 .. m u1 + alpha - m
/// made in `rows`, then combined; `v` holds the plane's block at position e from
/// `e * per_e`, its rows L values apart and then r_w - 1 zeros (read by the last row's
/// columns beyond O_w, computed and dropped). Cost: (m (u1 - u0) + alpha - m) L copies, at
/// most alpha^2 (u1 - u0) L operations.
#[allow(clippy::too_many_arguments)]
fn transform_block<T: FloatScalar>(
    combiner: &Combiner<T>,
    b_t: &Sparse<T>,
    x: &[T],
    dims: (DimGeometry, DimGeometry),
    phase: (usize, usize),
    phasing: &Phasing,
    (u0, u1): (usize, usize),
    rows: &mut [T],
    (v, per_e): (&mut [T], usize),
) {
    let (m, alpha) = phasing.tile;
    let width = phasing.width;
    let count = m * (u1 - u0) + alpha - m;
    for (p, row) in rows.chunks_exact_mut(width).take(count).enumerate() {
        phase_row(x, dims, phase, m * u0 + p, row);
    }
    let mut terms = [(T::zero(), 0); MOST_TERMS];
    let filled = (u1 - u0) * width;
    for (e, b_row) in b_t.iter().enumerate() {
        let block = &mut v[e * per_e..][..filled + phasing.taps.1 - 1];
        for (u, cells) in block[..filled].chunks_exact_mut(width).enumerate() {
            for (term, &(c, i)) in terms.iter_mut().zip(b_row) {
                *term = (c, (m * u + i) * width);
            }
            combiner.combine(cells, &terms[..b_row.len()], rows);
        }
        block[filled..].fill(T::zero());
    }
}

/// Tile rows per job of [`correlate`] at most: the stem's M of two rows (6 x 64 x 2 x 115
/// values) fills a third of the second-level cache here.
const BLOCK_ROWS: usize = 2;

/// The layer's output (N, C_out, O_h, O_w) in C order (the layer must satisfy
/// [`PhasedWinograd::accepts`](Kernel::accepts)).
///
/// A job is a block of tile rows of one image and group: it transforms its rows of every
/// plane into V (kept in its thread's caches), multiplies them by U at each position e (M, in
/// the second-level cache), and transforms M into its output rows.
pub fn correlate<T: FloatScalar>(layer: &Layer<'_, T>) -> Vec<T> {
    let s = &layer.shape;
    let (dh, dw) = (s.dims[0], s.dims[1]);
    let (in_per_group, out_per_group) = (s.in_channels / s.groups, s.out_channels / s.groups);
    let output = &layer.output_shape[2..];
    let phasing = Phasing::new(&s.dims, output, in_per_group).expect("an accepted layer");
    let (r_h, r_w) = phasing.taps;
    let variant = variant(r_h).expect("an accepted layer");
    let (m, alpha) = phasing.tile;
    let (out_h, out_w) = (output[0], output[1]);
    let computed;
    let u_weights = match layer.phased.filter(|t| t.kernel == (dh.kernel, dw.kernel)) {
        Some(prepared) => prepared,
        None => {
            let shape = [s.out_channels, in_per_group, dh.kernel, dw.kernel];
            computed = PhaseWeights::new(&layer.weight, &shape, s.groups).expect("a variant");
            &computed
        }
    };
    let matrices = Matrices::<T>::new(variant);
    let (b_t, a_t) = (sparse(&matrices.b_t), sparse(&matrices.a_t));
    let kernel = MicroKernel::detect().unwrap_or_else(MicroKernel::portable);
    let combiner = Combiner::detect();
    let (planes, width, tiles) = (phasing.planes(), phasing.width, phasing.tiles);
    let positions = layer.positions;
    // Every output is written once, by the output transform (not cleared first).
    let total = s.batch * s.out_channels * positions;
    let mut out: Vec<T> = Vec::with_capacity(total);
    let shared = SharedOutput::new(&mut out.spare_capacity_mut()[..total]);
    // Jobs (n, g, u0, u1, o0, o1): blocks of at most BLOCK_ROWS tile rows, as many as a
    // multiple of the thread count, with the tile rows spread evenly over them (so that the
    // threads' shares are equal); the output channels in parts only where there are fewer
    // blocks than threads.
    let threads = crate::parallel::threads();
    let blocks = tiles
        .div_ceil(BLOCK_ROWS)
        .div_ceil(threads)
        .saturating_mul(threads)
        .clamp(1, tiles.max(1));
    let parts = threads
        .div_ceil(blocks * s.groups * s.batch)
        .clamp(1, out_per_group.div_ceil(MR).max(1));
    type Job = (usize, usize, usize, usize, usize, usize);
    let jobs: Vec<Job> = (0..s.batch)
        .flat_map(|n| (0..s.groups).map(move |g| (n, g)))
        .flat_map(|(n, g)| {
            (0..blocks).map(move |b| (n, g, tiles * b / blocks, tiles * (b + 1) / blocks))
        })
        .flat_map(|(n, g, u0, u1)| {
            (0..parts).map(move |part| {
                let o0 = out_per_group * part / parts / MR * MR;
                let o1 = if part + 1 == parts {
                    out_per_group
                } else {
                    (out_per_group * (part + 1) / parts / MR * MR).min(out_per_group)
                };
                (n, g, u0, u1, o0, o1)
            })
        })
        .filter(|&(_, _, u0, u1, o0, o1)| u0 < u1 && o0 < o1)
        .collect();
    // The largest V and M of a job.
    let largest_rows = tiles.div_ceil(blocks);
    let plane_most = largest_rows * width + r_w - 1;
    let v_most = alpha * planes * plane_most;
    let m_most = alpha * out_per_group * largest_rows * width;
    let rows_most = (m * largest_rows + alpha - m) * width;
    crate::parallel::for_each_item(
        &jobs,
        || {
            (
                vec![T::zero(); rows_most],
                vec![T::zero(); v_most],
                Vec::<std::mem::MaybeUninit<T>>::with_capacity(m_most + width),
                Vec::<usize>::with_capacity(planes * r_w),
            )
        },
        |(rows, v, mm, offsets), (n, g, u0, u1, o0, o1)| {
            let (count, columns) = (o1 - o0, (u1 - u0) * width);
            // V of the block: per position e, the planes of (u1 - u0) rows and r_w - 1 zeros.
            let plane = columns + r_w - 1;
            let per_e = planes * plane;
            for pl in 0..planes {
                let (c, q) = (pl / 4, pl % 4);
                let channel = (n * s.in_channels + g * in_per_group + c) * layer.spatial;
                let x = &layer.input[channel..][..layer.spatial];
                transform_block(
                    &combiner,
                    &b_t,
                    x,
                    (dh, dw),
                    (q / 2, q % 2),
                    &phasing,
                    (u0, u1),
                    rows,
                    (&mut v[pl * plane..], per_e),
                );
            }
            // Row ((c, q), b) of the product: plane (c, q) of V from column b on.
            offsets.clear();
            offsets.extend((0..planes).flat_map(|pl| (0..r_w).map(move |b| pl * plane + b)));
            // M, then a row of ones (the bias's term in the output transform).
            let ones = alpha * count * columns;
            mm.clear();
            mm.reserve(ones + width);
            // SAFETY: within the capacity; a MaybeUninit needs no value.
            unsafe { mm.set_len(ones) };
            mm.resize(ones + width, std::mem::MaybeUninit::new(T::one()));
            for (e, packed) in u_weights.packed.iter().enumerate() {
                let rhs = &v[e * per_e..][..per_e];
                let dst = mm[e * count * columns..][..count * columns].as_mut_ptr();
                // SAFETY: row ((c, q), b) reads plane (c, q) from column b for `columns`
                // values, within the plane (columns + r_w - 1 values); dst holds that many
                // values for each of the rows o0..o1 (o0 a whole panel's first); the kernel
                // was detected on this processor or is the portable one.
                unsafe {
                    packed.multiply(
                        kernel,
                        (g, o0 / MR..o1.div_ceil(MR)),
                        rhs.as_ptr(),
                        offsets,
                        columns,
                        columns,
                        dst.cast::<T>(),
                        columns,
                        None,
                    );
                }
            }
            // SAFETY: the products wrote every value of M (each position's rows o0..o1 of
            // `columns` values), and the ones were written above.
            let mm = unsafe { &*(&mm[..] as *const [std::mem::MaybeUninit<T>] as *const [T]) };
            let mut terms = [(T::zero(), 0); MOST_TERMS];
            for o in o0..o1 {
                let channel = g * out_per_group + o;
                let bias = layer.bias[channel];
                let first = (n * s.out_channels + channel) * positions;
                for u in u0..u1 {
                    for (i, a_row) in a_t.iter().enumerate() {
                        let t = m * u + i;
                        if t >= out_h {
                            break;
                        }
                        let at = (o - o0) * columns + (u - u0) * width;
                        for (term, &(c, e)) in terms.iter_mut().zip(a_row) {
                            *term = (c, e * count * columns + at);
                        }
                        terms[a_row.len()] = (bias, ones);
                        // SAFETY: output row t of this channel belongs to this job only (its
                        // image, tile rows and channel part).
                        let cells = unsafe { shared.range(first + t * out_w, out_w) };
                        combiner.combine_into(cells, &terms[..=a_row.len()], mm);
                    }
                }
            }
        },
    );
    // SAFETY: the jobs cover every image, output channel and tile row, and each writes every
    // output of its rows.
    unsafe { out.set_len(total) };
    out
}

/// The reference of [`PhasedWinograd`]: y exact as for [`Reference::correlate`](crate::oracle::Reference::correlate); the
/// magnitude is S_W (the module's documentation), computed exactly: for each output row
/// parity s < m, S_W[o, m u + s, v] - |b| is a correlation at stride (m, 1) of the phase
/// planes |x_q| (4 C_in channels, (c, q) = 4c + 2q_h + q_w, zero-padded to (m U + alpha - m)
/// x L) with the alpha x r_w kernel
/// kappa_s[o, (c, q), i, b] = sum_e |A^T|\[s, e\] |B^T|\[e, i\] sum_a |G|\[e, a\] |w[o, c, 2a + q_h, 2b + q_w]|;
/// n = K + R - 1 with K = 4 r_w C_in/G and R = r_G + r_B + r_A + 1. Refused (a typed error)
/// for layers the kernel does not compute.
pub fn reference(engine: &ExactEngine, layer: Operands<'_>) -> Built {
    let (input, weight, bias, geometry) = (layer.input, layer.weight, layer.bias, layer.geometry);
    let refused = || {
        crate::exact::ExactError::from(crate::geometry::GeometryError::Unsupported(
            "the bound of convspec's stride-2 Winograd kernel applies to 2-D correlations with stride 2, dilation 1, zero padding and a kernel 5 to 8 high".into(),
        ))
    };
    if weight.ndim() != 4 {
        return Err(refused());
    }
    let batched = batched_shape(input, weight);
    let shape =
        crate::geometry::ConvShape::new(&batched, weight.shape(), bias.map(|b| b.len()), geometry)?;
    let zero_padding = geometry.padding_mode == PaddingMode::Zeros
        || shape
            .dims
            .iter()
            .all(|d| d.pad_begin == 0 && d.pad_end == 0);
    let output = shape.output_spatial();
    let in_per_group = weight.shape()[1];
    let phasing = Phasing::new(&shape.dims, &output, in_per_group)
        .filter(|_| zero_padding)
        .ok_or_else(refused)?;
    let variant = variant(phasing.taps.0).expect("a variant");
    let exact = engine.correlate(
        &crate::oracle::reference::scaled_input(input)?,
        &crate::oracle::reference::scaled_input(weight)?,
        bias.map(crate::oracle::reference::scaled_input)
            .transpose()?
            .as_ref(),
        geometry,
    )?;
    let q = |v: i64| Rational::from_integer(v.into());
    let (r_h, r_w) = phasing.taps;
    let (m, alpha) = phasing.tile;
    let (rows, width) = (phasing.rows, phasing.width);
    let (dh, dw) = (shape.dims[0], shape.dims[1]);
    let (k_h, k_w) = (dh.kernel, dw.kernel);
    let out_channels = shape.out_channels;
    let planes = 4 * in_per_group;
    // |x_q|: (N, 4 C_in, P, L).
    let x_abs = absolute(input)
        .into_shape_with_order(IxDyn(&batched))
        .expect("batched");
    let mut phases = ArrayD::from_elem(
        IxDyn(&[shape.batch, 4 * shape.in_channels, rows, width]),
        q(0),
    );
    for ((n, channel, p, j), cell) in phases
        .indexed_iter_mut()
        .map(|(index, cell)| ((index[0], index[1], index[2], index[3]), cell))
    {
        let (c, phase) = (channel / 4, channel % 4);
        let (q_h, q_w) = (phase / 2, phase % 2);
        let source = |at: usize, q: usize, d: &DimGeometry| {
            (2 * at + q)
                .checked_sub(d.pad_begin)
                .filter(|&v| v < d.input)
        };
        if let (Some(r), Some(col)) = (source(p, q_h, &dh), source(j, q_w, &dw)) {
            *cell = x_abs[[n, c, r, col]].clone();
        }
    }
    let g_abs = variant.g_abs();
    let b_abs = |e: usize, i: usize| i64::from(variant.b_t[e][i]).abs();
    let a_abs = |s: usize, e: usize| i64::from(variant.a_t[s][e]).abs();
    // (|G||w_(o,c,q,b)|)[e] per (o, plane, b).
    let mut u_abs = vec![q(0); out_channels * planes * r_w * alpha];
    for o in 0..out_channels {
        for plane in 0..planes {
            let (c, phase) = (plane / 4, plane % 4);
            let (q_h, q_w) = (phase / 2, phase % 2);
            for b in 0..r_w {
                for e in 0..alpha {
                    let mut sum = q(0);
                    for (a, g) in g_abs[e].iter().enumerate() {
                        let (i, j) = (2 * a + q_h, 2 * b + q_w);
                        if i < k_h && j < k_w && !g.is_zero() {
                            sum += g * weight[[o, c, i, j]].abs();
                        }
                    }
                    u_abs[((o * planes + plane) * r_w + b) * alpha + e] = sum;
                }
            }
        }
    }
    let tiled = ConvGeometry::new(2)
        .with_stride(vec![m, 1])
        .with_groups(shape.groups)
        .with_padding(Padding::Explicit(vec![(0, 0), (0, 0)]));
    let (out_h, out_w) = (output[0], output[1]);
    let mut magnitude = ArrayD::from_elem(exact.shape(), q(0));
    let _ = r_h;
    for s in 0..m {
        let mut kappa = ArrayD::from_elem(IxDyn(&[out_channels, planes, alpha, r_w]), q(0));
        for o in 0..out_channels {
            for plane in 0..planes {
                for b in 0..r_w {
                    for e in 0..alpha {
                        let u = &u_abs[((o * planes + plane) * r_w + b) * alpha + e];
                        if a_abs(s, e) == 0 || u.is_zero() {
                            continue;
                        }
                        for i in 0..alpha {
                            let t = a_abs(s, e) * b_abs(e, i);
                            if t != 0 {
                                kappa[[o, plane, i, b]] += u * q(t);
                            }
                        }
                    }
                }
            }
        }
        let part = engine
            .correlate(&scaled(&phases), &scaled(&kappa), None, &tiled)?
            .to_rationals();
        for (index, value) in part.indexed_iter() {
            let (n, o, u, v) = (index[0], index[1], index[2], index[3]);
            let row = m * u + s;
            if row < out_h && v < out_w {
                let at: Vec<usize> = if input.ndim() == 4 {
                    vec![n, o, row, v]
                } else {
                    vec![o, row, v]
                };
                magnitude[IxDyn(&at)] = value.clone();
            }
        }
    }
    if let Some(b) = bias {
        let channel_axis = magnitude.ndim() - 3;
        for (index, value) in magnitude.indexed_iter_mut() {
            *value += b[[index[channel_axis]]].abs();
        }
    }
    let depth = phasing.depth();
    let [r_g, r_b, r_a] = variant.side_roundings();
    let terms = depth + (r_g + r_b + r_a + 1) - 1;
    Ok(winograd::transform_reference(
        exact,
        &magnitude,
        variant,
        (depth, terms),
        (input, weight, bias),
    ))
}
