//! Stride-2 layers by Winograd's algorithm along the width of their phases (ResNet's 7x7
//! stem). A 2-D correlation at stride 2 is a sum over the four phases (q_h, q_w) in {0, 1}^2
//! of the padded input, each a stride-1 correlation:
//!
//! ```text
//! y[o, t, v] = b[o] + sum_c sum_(q_h, q_w) sum_(a < r_h, b < r_w) w[o, c, 2a + q_h, 2b + q_w] x_q[c, t + a, v + b]
//! x_q[c, p, j] = xpad[c, 2p + q_h, 2j + q_w]
//! ```
//!
//! (w zero past the kernel; r = ceil(k / 2) taps per phase). Along the width each phase row is
//! an r_w-tap correlation, computed by Winograd's one-dimensional F(m, r_w) (F(3, 4) for 7x7
//! and 8x8 kernels, F(4, 3) for 5x5 and 6x6, the matrices of [`super::winograd`]'s F(3x3, 4x4)
//! and F(4x4, 3x3)); along the height the r_h taps are summed with the channels and phases,
//! K = 4 r_h C_in/G terms, in one matrix product per transform position e < alpha = 6:
//!
//! ```text
//! V[e][(c, q)][p][u] = sum_j B^T[e, j] x_q[c, p, m u + j]                 (input rows, once)
//! U[e][o][(c, q, a)] = sum_b G[e, b] w[o, c, 2a + q_h, 2b + q_w]            (weights, once)
//! M[e][o][t][u]      = sum_((c, q), a) U[e][o][(c, q, a)] V[e][(c, q)][t + a][u]  (GEMM)
//! y[o, t, m u + i]   = sum_e A^T[i, e] M[e][o][t][u] + b[o]
//! ```
//!
//! The matrix product reads V in place, row (c, q, a) of output rows [t0, t1) being the
//! contiguous rows t0 + a.. of plane (c, q), as implicit GEMM reads a padded input. Products:
//! alpha K / m per output and output channel (96 for the stem, against the direct sum's 147),
//! the transforms of the input once per phase row and of M once per output.
//!
//! Error bound (the reference, [`reference`]): for every output, |y_hat - y| <= gamma_(K+R)
//! S_W + (underflow), where S_W = |A^T| sum_((c, q), a) (|G| |w_(o,c,q,a)|) (.) (|B^T| |d|) +
//! |b| (d the input row's alpha values of the tile) and R = r_G + r_B + r_A + 1: a term meets
//! r_G roundings in U, r_B in V, one in its product, K - 1 in the sum, r_A in y and one in the
//! bias ([`Variant::side_roundings`]); the absolute terms are those of the two-sided transforms
//! (`proofs/oracle.md` O6) with C = K, which bound the one-sided ones.

use super::combine::{Combiner, MOST_TERMS};
use super::kernel::{correlate_in_both, Built, Kernel, Problem, Refusal};
use super::packed::{MicroKernel, PackedWeights, MR};
use super::winograd::{self, every, interleave, sparse, Matrices, Sparse, Variant};
use super::{FloatScalar, Layer};
use crate::exact::ExactEngine;
use crate::geometry::{ConvGeometry, DimGeometry, Padding, PaddingMode};
use crate::oracle::reference::{absolute, batched_shape, largest, scaled, Magnitude};
use crate::oracle::{Operands, Reduction, Reference};
use crate::parallel::{EngineThreads, SharedOutput};
use crate::scalar::Rational;
use ndarray::{ArrayD, IxDyn};
use num_traits::{Signed, Zero};
use rayon::prelude::*;

/// Winograd along the width of a stride-2 layer's phases (see the module's documentation).
#[derive(Debug, Clone, Copy)]
pub struct PhasedWinograd;

/// The one-dimensional variant for phase rows of r taps: F(4, 3) (r = 3) or F(3, 4) (r = 4).
pub fn variant(taps: usize) -> Option<&'static Variant> {
    match taps {
        3 => Some(&winograd::F4X4),
        4 => Some(&winograd::F3X3_4X4),
        _ => None,
    }
}

/// The taps per phase (r_h, r_w) of a 2-D layer at stride 2 and dilation 1 in both
/// dimensions whose width has a variant.
fn phase_taps(dims: &[DimGeometry]) -> Option<(usize, usize)> {
    let [dh, dw] = dims else { return None };
    let fits = |d: &DimGeometry| d.stride == 2 && d.dilation == 1 && d.kernel > 0;
    let taps = (dh.kernel.div_ceil(2), dw.kernel.div_ceil(2));
    (fits(dh) && fits(dw) && variant(taps.1).is_some()).then_some(taps)
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
                "needs a 2-D layer with stride 2, dilation 1, zero padding and a kernel 5 to 8 wide"
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
        Some("convspec's stride-2 Winograd kernel (F(3, 4) or F(4, 3) along the width of the input's phases): its transforms' tile-aware bound")
    }
}

/// The sizes of the phased computation of one layer.
#[derive(Debug, Clone, Copy)]
struct Phasing {
    /// Taps per phase along the height and the width, (r_h, r_w).
    taps: (usize, usize),
    /// Outputs per tile m and the tile's input width alpha = m + r_w - 1.
    tile: (usize, usize),
    /// Phase rows P = O_h + r_h - 1 and tiles per output row T = ceil(O_w / m).
    rows: usize,
    tiles: usize,
    /// T rounded up to a multiple of 8: the rows of V and M are this far apart (the last
    /// tiles zero), so that blocks of 6 rows are whole blocks of the micro-kernel's columns
    /// (48 f32 or 24 f64 values).
    stride: usize,
    /// Input channels per group C_in/G: the planes per group are 4 C_in/G, the reduction
    /// K = 4 r_h C_in/G.
    in_per_group: usize,
}

impl Phasing {
    fn new(dims: &[DimGeometry], output: &[usize], in_per_group: usize) -> Option<Phasing> {
        let taps = phase_taps(dims)?;
        let m = variant(taps.1)?.outputs;
        Some(Phasing {
            taps,
            tile: (m, m + taps.1 - 1),
            rows: output[0] + taps.0 - 1,
            tiles: output[1].div_ceil(m),
            stride: output[1].div_ceil(m).div_ceil(8) * 8,
            in_per_group,
        })
    }

    /// Planes (c, q) per group.
    fn planes(&self) -> usize {
        4 * self.in_per_group
    }

    /// The reduction K = 4 r_h C_in/G, in the order ((c, q), a).
    fn depth(&self) -> usize {
        self.planes() * self.taps.0
    }
}

/// A layer's weights transformed for [`PhasedWinograd`]: per transform position e, the
/// C_out x K matrix U[e] packed for the micro-kernel, made once by a prepared layer
/// ([`super::FloatEngine::prepare`]) or per call.
#[derive(Debug, Clone)]
pub struct PhaseWeights<T> {
    /// The kernel's (k_h, k_w) they were made for.
    kernel: (usize, usize),
    packed: Vec<PackedWeights<T>>,
}

impl<T: FloatScalar> PhaseWeights<T> {
    /// U[e][o][((c, q_h, q_w), a)] = sum_b G[e, b] w[o, c, 2a + q_h, 2b + q_w] for `weight`
    /// (C_out, C_in/G, k_h, k_w) in C order, each sum over G's nonzero coefficients from the
    /// first; None for a kernel width without a variant. Cost: alpha K r_w operations per
    /// output channel.
    pub fn new(weight: &[T], shape: &[usize], groups: usize) -> Option<PhaseWeights<T>> {
        let [out_channels, in_per_group, k_h, k_w] = *shape else {
            return None;
        };
        let (r_h, r_w) = (k_h.div_ceil(2), k_w.div_ceil(2));
        let variant = variant(r_w)?;
        let g = sparse(&Matrices::<T>::new(variant).g);
        let depth = 4 * in_per_group * r_h;
        let mut u = vec![vec![T::zero(); out_channels * depth]; g.len()];
        for o in 0..out_channels {
            for c in 0..in_per_group {
                let kernel = &weight[(o * in_per_group + c) * k_h * k_w..][..k_h * k_w];
                for q in 0..4 {
                    let (q_h, q_w) = (q / 2, q % 2);
                    for a in 0..r_h {
                        let i = 2 * a + q_h;
                        let tap = |b: usize| {
                            let j = 2 * b + q_w;
                            if i < k_h && j < k_w {
                                kernel[i * k_w + j]
                            } else {
                                T::zero()
                            }
                        };
                        let k = (4 * c + q) * r_h + a;
                        for (e, row) in g.iter().enumerate() {
                            let mut terms =
                                row.iter().map(|&(coefficient, b)| coefficient * tap(b));
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

crate::simd::vectorised!(fn gather_row<T: FloatScalar>(
    source: Option<&[T]>,
    tile: (usize, usize, usize),
    phase: (usize, usize),
    d: &mut [T],
) => gather_row_with);

/// d[j T + u] = source[2 (m u + j) + q_w - p_w] for j < alpha and u < T (zeros outside the
/// source row, all zeros without one): the alpha columns of every tile of one phase row,
/// read at stride 2m. Cost: alpha T copies.
#[inline(always)]
fn gather_row_with<T: FloatScalar>(
    source: Option<&[T]>,
    (m, alpha, tiles): (usize, usize, usize),
    (pad_w, q_w): (usize, usize),
    d: &mut [T],
) {
    let width = source.map_or(0, <[T]>::len);
    for j in 0..alpha {
        let out = &mut d[j * tiles..][..tiles];
        let Some(source) = source else {
            out.fill(T::zero());
            continue;
        };
        // Column 2 (m u + j) + q_w - p_w of x lies in [0, W) for u in [lo, hi).
        let shift = 2 * j + q_w;
        let lo = pad_w.saturating_sub(shift).div_ceil(2 * m).min(tiles);
        let hi = (width + pad_w)
            .saturating_sub(shift)
            .div_ceil(2 * m)
            .clamp(lo, tiles);
        out[..lo].fill(T::zero());
        out[hi..].fill(T::zero());
        if lo < hi {
            let first = 2 * m * lo + shift - pad_w;
            let out = &mut out[lo..hi];
            match m {
                3 => every::<T, 6>(&source[first..], out),
                4 => every::<T, 8>(&source[first..], out),
                _ => {
                    let from = source[first..].iter().step_by(2 * m);
                    for (o, &value) in out.iter_mut().zip(from) {
                        *o = value;
                    }
                }
            }
        }
    }
}

/// V[e][(c, q)][p][u] = sum_j B^T[e, j] x_q[c, p, m u + j] for one plane (c, q) of one
/// channel `x` (H x W, C order): each phase row's alpha columns of every tile gathered from
/// x at stride 2m (zeros outside x), then combined; `v` holds plane (c, q)'s rows of every
/// position e, `stride` values apart. Cost: alpha^2 T values per row, P rows.
#[allow(clippy::too_many_arguments)]
fn transform_plane<T: FloatScalar>(
    combiner: &Combiner<T>,
    b_t: &Sparse<T>,
    x: &[T],
    (dh, dw): (DimGeometry, DimGeometry),
    (q_h, q_w): (usize, usize),
    phasing: &Phasing,
    d: &mut [T],
    (v, stride): (&SharedOutput<T>, (usize, usize)),
) {
    let (m, alpha) = phasing.tile;
    let (rows, tiles) = (phasing.rows, phasing.stride);
    let (height, width) = (dh.input, dw.input);
    let mut terms = [(T::zero(), 0); MOST_TERMS];
    for p in 0..rows {
        let source = (2 * p + q_h)
            .checked_sub(dh.pad_begin)
            .filter(|&r| r < height)
            .map(|r| &x[r * width..][..width]);
        gather_row(source, (m, alpha, tiles), (dw.pad_begin, q_w), d);
        for (e, row) in b_t.iter().enumerate() {
            for (term, &(c, j)) in terms.iter_mut().zip(row) {
                *term = (c, j * tiles);
            }
            // SAFETY: row p of this plane at position e is written by this caller only.
            let cells = unsafe { v.range(e * stride.0 + stride.1 + p * tiles, tiles) };
            combiner.combine(cells, &terms[..row.len()], d);
        }
    }
}

crate::simd::vectorised!(fn scatter_rows<T: FloatScalar>(
    y: &[T],
    sizes: (usize, usize, usize),
    rows: (usize, usize),
    plane: (&SharedOutput<T>, usize, usize),
    bias: T,
) => scatter_rows_with);

/// Y[t, m u + i] = y[i width + (t - t0) T + u] + b for the output rows [t0, t1) of one
/// channel (its first output at `first`, rows of O_w values), the columns within O_w only.
/// These rows must be written by no one else meanwhile. Cost: m T (t1 - t0) additions.
#[inline(always)]
fn scatter_rows_with<T: FloatScalar>(
    y: &[T],
    (m, tiles, width): (usize, usize, usize),
    (t0, t1): (usize, usize),
    (shared, first, out_w): (&SharedOutput<T>, usize, usize),
    bias: T,
) {
    for t in t0..t1 {
        // SAFETY: output row t of this channel belongs to the caller only (its contract).
        let cells = unsafe { shared.range(first + t * out_w, out_w) };
        let k = (t - t0) * tiles;
        let source = |i: usize| &y[i * width + k..][..tiles];
        match m {
            3 => interleave::<T, 3>([source(0), source(1), source(2)], bias, cells),
            _ => interleave::<T, 4>([source(0), source(1), source(2), source(3)], bias, cells),
        }
    }
}

/// The layer's output (N, C_out, O_h, O_w) in C order (the layer must satisfy
/// [`PhasedWinograd::accepts`](Kernel::accepts)).
pub fn correlate<T: FloatScalar>(layer: &Layer<'_, T>) -> Vec<T> {
    let s = &layer.shape;
    let (dh, dw) = (s.dims[0], s.dims[1]);
    let (in_per_group, out_per_group) = (s.in_channels / s.groups, s.out_channels / s.groups);
    let output = &layer.output_shape[2..];
    let phasing = Phasing::new(&s.dims, output, in_per_group).expect("an accepted layer");
    let (r_h, r_w) = phasing.taps;
    let variant = variant(r_w).expect("an accepted layer");
    let (m, alpha) = phasing.tile;
    let (out_h, out_w) = (output[0], output[1]);
    let computed;
    let u = match layer.phased.filter(|t| t.kernel == (dh.kernel, dw.kernel)) {
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
    let (rows, tiles, planes, depth) = (
        phasing.rows,
        phasing.stride,
        phasing.planes(),
        phasing.depth(),
    );
    let positions = layer.positions;
    let mut out = vec![T::zero(); s.batch * s.out_channels * positions];
    let shared = SharedOutput::new(&mut out);
    // V of one image: per position e and group, the planes' rows of T values.
    let plane = rows * tiles;
    let per_e = s.groups * planes * plane;
    let mut v = T::pool().take(alpha * per_e);
    v.resize(alpha * per_e, T::zero());
    // Output rows per block: a multiple of 6 rows of about 256 columns (rows of M), so that
    // a block's M (alpha C_out x columns) and the V rows it reads stay near the caches.
    let block = (6 * (256 / (6 * tiles)).max(1)).clamp(1, out_h.max(1));
    let blocks = out_h.div_ceil(block);
    let threads = crate::parallel::threads();
    let parts = threads
        .div_ceil(blocks * s.groups)
        .clamp(1, out_per_group.div_ceil(MR).max(1));
    for n in 0..s.batch {
        {
            let shared_v = SharedOutput::new(&mut v);
            let jobs = s.groups * planes;
            (0..jobs).into_par_iter().engine_threads().for_each_init(
                || vec![T::zero(); alpha * tiles],
                |d, job| {
                    let (g, plane_index) = (job / planes, job % planes);
                    let (c, q) = (plane_index / 4, plane_index % 4);
                    let channel = (n * s.in_channels + g * in_per_group + c) * layer.spatial;
                    let x = &layer.input[channel..][..layer.spatial];
                    let at = (per_e, job * plane);
                    let phase = (q / 2, q % 2);
                    transform_plane(
                        &combiner,
                        &b_t,
                        x,
                        (dh, dw),
                        phase,
                        &phasing,
                        d,
                        (&shared_v, at),
                    );
                },
            );
        }
        let jobs: Vec<(usize, usize, usize, usize)> = (0..s.groups)
            .flat_map(|g| (0..blocks).map(move |b| (g, b)))
            .flat_map(|(g, b)| {
                (0..parts).map(move |part| {
                    let o0 = out_per_group * part / parts / MR * MR;
                    let o1 = if part + 1 == parts {
                        out_per_group
                    } else {
                        (out_per_group * (part + 1) / parts / MR * MR).min(out_per_group)
                    };
                    (g, b, o0, o1)
                })
            })
            .filter(|&(.., o0, o1)| o0 < o1)
            .collect();
        let v = &v;
        jobs.into_par_iter().engine_threads().for_each_init(
            || {
                (
                    vec![T::zero(); alpha * out_per_group * block * tiles],
                    vec![T::zero(); m * block * tiles],
                    Vec::with_capacity(depth),
                )
            },
            |(mm, y, offsets), (g, b, o0, o1)| {
                let (t0, t1) = (b * block, ((b + 1) * block).min(out_h));
                let (count, width) = (o1 - o0, (t1 - t0) * tiles);
                // Row ((c, q), a) of the product: plane (c, q)'s rows t0 + a.. of V[e][g].
                offsets.clear();
                offsets.extend(
                    (0..planes).flat_map(|pl| (0..r_h).map(move |a| (pl * rows + t0 + a) * tiles)),
                );
                let mm = &mut mm[..alpha * count * width];
                for (e, packed) in u.packed.iter().enumerate() {
                    let rhs = &v[e * per_e + g * planes * plane..][..planes * plane];
                    let dst = &mut mm[e * count * width..][..count * width];
                    // SAFETY: each offset plus `width` lies within plane (c, q)'s rows
                    // (t0 + a + t1 - t0 <= O_h + r_h - 1 = P); dst holds `width` values for
                    // each of the rows o0..o1 (o0 a whole panel's first); the kernel was
                    // detected on this processor or is the portable one.
                    unsafe {
                        packed.multiply(
                            kernel,
                            (g, o0 / MR..o1.div_ceil(MR)),
                            rhs.as_ptr(),
                            offsets,
                            width,
                            width,
                            dst.as_mut_ptr(),
                            width,
                            None,
                        );
                    }
                }
                let mut terms = [(T::zero(), 0); MOST_TERMS];
                let y = &mut y[..m * width];
                for o in o0..o1 {
                    for (i, row) in a_t.iter().enumerate() {
                        for (term, &(c, e)) in terms.iter_mut().zip(row) {
                            *term = (c, (e * count + o - o0) * width);
                        }
                        combiner.combine(&mut y[i * width..][..width], &terms[..row.len()], mm);
                    }
                    let channel = g * out_per_group + o;
                    let bias = layer.bias[channel];
                    let first = (n * s.out_channels + channel) * positions;
                    let plane = (&shared, first, out_w);
                    scatter_rows(y, (m, tiles, width), (t0, t1), plane, bias);
                }
            },
        );
    }
    T::pool().give(v);
    out
}

/// The reference of [`PhasedWinograd`]: y exact as for [`Reference::correlate`]; the
/// magnitude is S_W (the module's documentation), computed exactly: for each output column
/// parity s < m, S_W[o, t, m u + s] - |b| is a correlation at stride (1, m) of the phase
/// planes |x_q| (4 C_in channels, (c, q) = 4c + 2q_h + q_w, zero-padded to P x (m T + alpha
/// - m)) with the r_h x alpha kernel
/// kappa_s[o, (c, q), a, j] = sum_e |A^T|\[s, e\] |B^T|\[e, j\] sum_b |G|\[e, b\] |w[o, c, 2a + q_h, 2b + q_w]|;
/// n = K + R - 1 with K = 4 r_h C_in/G and R = r_G + r_B + r_A + 1. Refused (a typed error)
/// for layers the kernel does not compute.
pub fn reference(engine: &ExactEngine, layer: Operands<'_>) -> Built {
    let (input, weight, bias, geometry) = (layer.input, layer.weight, layer.bias, layer.geometry);
    let refused = || {
        crate::exact::ExactError::from(crate::geometry::GeometryError::Unsupported(
            "the bound of convspec's stride-2 Winograd kernel applies to 2-D correlations with stride 2, dilation 1, zero padding and a kernel 5 to 8 wide".into(),
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
    let variant = variant(phasing.taps.1).expect("a variant");
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
    let (rows, tiles) = (phasing.rows, phasing.tiles);
    let (dh, dw) = (shape.dims[0], shape.dims[1]);
    let (k_h, k_w) = (dh.kernel, dw.kernel);
    let out_channels = shape.out_channels;
    let planes = 4 * in_per_group;
    let width = m * tiles + alpha - m;
    // |x_q|: (N, 4 C_in, P, m T + alpha - m).
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
    let g_abs: Vec<Vec<Rational>> = variant
        .g
        .iter()
        .map(|r| {
            r.iter()
                .map(|&(n, d)| Rational::new(i64::from(n).abs().into(), i64::from(d).into()))
                .collect()
        })
        .collect();
    let b_abs = |e: usize, j: usize| i64::from(variant.b_t[e][j]).abs();
    let a_abs = |s: usize, e: usize| i64::from(variant.a_t[s][e]).abs();
    // (|G||w_(o,c,q,a)|)[e] per (o, plane, a).
    let mut u_abs = vec![q(0); out_channels * planes * r_h * alpha];
    for o in 0..out_channels {
        for plane in 0..planes {
            let (c, phase) = (plane / 4, plane % 4);
            let (q_h, q_w) = (phase / 2, phase % 2);
            for a in 0..r_h {
                for e in 0..alpha {
                    let mut sum = q(0);
                    for (b, g) in g_abs[e].iter().enumerate() {
                        let (i, j) = (2 * a + q_h, 2 * b + q_w);
                        if i < k_h && j < k_w && !g.is_zero() {
                            sum += g * weight[[o, c, i, j]].abs();
                        }
                    }
                    u_abs[((o * planes + plane) * r_h + a) * alpha + e] = sum;
                }
            }
        }
    }
    let tiled = ConvGeometry::new(2)
        .with_stride(vec![1, m])
        .with_groups(shape.groups)
        .with_padding(Padding::Explicit(vec![(0, 0), (0, 0)]));
    let (out_h, out_w) = (output[0], output[1]);
    let mut magnitude = ArrayD::from_elem(exact.shape(), q(0));
    let _ = r_w;
    for s in 0..m {
        let mut kappa = ArrayD::from_elem(IxDyn(&[out_channels, planes, r_h, alpha]), q(0));
        for o in 0..out_channels {
            for plane in 0..planes {
                for a in 0..r_h {
                    for e in 0..alpha {
                        let u = &u_abs[((o * planes + plane) * r_h + a) * alpha + e];
                        if a_abs(s, e) == 0 || u.is_zero() {
                            continue;
                        }
                        for j in 0..alpha {
                            let t = a_abs(s, e) * b_abs(e, j);
                            if t != 0 {
                                kappa[[o, plane, a, j]] += u * q(t);
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
            let (n, o, t, u) = (index[0], index[1], index[2], index[3]);
            let col = m * u + s;
            if t < out_h && col < out_w {
                let at: Vec<usize> = if input.ndim() == 4 {
                    vec![n, o, t, col]
                } else {
                    vec![o, t, col]
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
    let c = q(depth as i64);
    let [a_sum, b_sum, g_sum] = variant.row_sums();
    let (a2, b2) = (&a_sum * &a_sum, &b_sum * &b_sum);
    let two = q(2);
    let reach = &two * &a2 * &c * &b2 * &g_sum * &g_sum;
    let (m_x, m_w) = (largest(input), largest(weight));
    Ok(Reference {
        exact,
        magnitude: Magnitude::exact(scaled(&magnitude)),
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
        inputs_in_format: crate::oracle::reference::formats_of(
            &crate::oracle::reference::with_bias(input, weight, bias),
        ),
    })
}
