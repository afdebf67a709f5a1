//! The direct float kernel: each output row accumulated term by term,
//!
//! ```text
//! y[n, o, t] = b[o]; then for c < C_in/G, for j < k: y[n, o, t] += w[o, c, j] xpad[n, g C_in/G + c, src(j, t)]
//! ```
//!
//! (a recursive summation of n = C_in/G prod(k) products after the bias). The innermost loop
//! runs over a tile's output positions, over runs of consecutive inputs (slices, on the vector
//! units; padded positions contribute nothing) or through the gather map; the same
//! loops are compiled for AVX-512 and AVX2 and chosen at run time. Cost: N C_out P (C_in/G)
//! prod(k) multiply-adds; memory: one map tile and one tile of outputs per task.

use super::{by_tiles, FloatScalar, Layer};
use crate::parallel::EngineThreads;
use rayon::prelude::*;

/// Output positions per tile.
const WIDTH: usize = 512;

/// Output positions per task of the 1-D path (a tile of outputs stays in the L1 cache while
/// every tap adds to it).
const WIDTH_1D: usize = 4096;

/// The layer's output (N, C_out, P) in C order.
pub fn correlate<T: FloatScalar>(layer: &Layer<'_, T>) -> Vec<T> {
    if layer.shape.dims.len() == 1 && layer.zero_padding {
        return correlate_1d(layer);
    }
    if layer.shape.dims.len() == 2 && layer.zero_padding {
        return correlate_2d(layer);
    }
    // As many tiles per thread for every thread (the count rounded up to a multiple of the
    // thread count, the width shrunk to match).
    let threads = crate::parallel::threads();
    let count = layer.positions.div_ceil(WIDTH).div_ceil(threads) * threads;
    let width = layer.positions.div_ceil(count.max(1)).div_ceil(16) * 16;
    by_tiles(layer, width.max(16), compute_tile)
}

/// One tile: C_out rows of t1 - t0 outputs.
fn compute_tile<T: FloatScalar>(
    layer: &Layer<'_, T>,
    (n, t0, t1): (usize, usize, usize),
) -> Vec<T> {
    let map = layer.tile(t0, t1);
    let mut out = vec![T::zero(); layer.shape.out_channels * (t1 - t0)];
    dispatch(layer, n, &map, t1 - t0, &mut out);
    out
}

crate::simd::vectorised!(fn dispatch<T: FloatScalar>(
    layer: &Layer<'_, T>,
    n: usize,
    map: &[u32],
    width: usize,
    out: &mut [T],
) => rows);

/// Every output row of batch element n over one tile (`map`: taps x width sources).
#[inline(always)]
fn rows<T: FloatScalar>(layer: &Layer<'_, T>, n: usize, map: &[u32], width: usize, out: &mut [T]) {
    let s = &layer.shape;
    let (in_per_group, out_per_group) = (s.in_channels / s.groups, s.out_channels / s.groups);
    let taps = layer.map_taps();
    let stride = layer.spatial;
    let (runs, step) = (layer.runs(map, width), layer.run_step());
    for (o, y) in out.chunks_mut(width).enumerate() {
        let g = o / out_per_group;
        y.fill(layer.bias[o]);
        for c in 0..in_per_group {
            let channel =
                &layer.input[(n * s.in_channels + g * in_per_group + c) * stride..][..stride];
            let weights = &layer.weight[(o * in_per_group + c) * taps..][..taps];
            for (j, (&w, tap_runs)) in weights.iter().zip(&runs).enumerate() {
                if tap_runs.is_empty() {
                    // A strided tap: through the map (padded positions add nothing).
                    let sources = &map[j * width..][..width];
                    for (yt, &src) in y.iter_mut().zip(sources) {
                        if let Some(&x) = channel.get(src as usize) {
                            *yt += w * x;
                        }
                    }
                }
                for &(t, len, first) in tap_runs {
                    if first == stride {
                        continue; // a padded position
                    }
                    // Inputs `step` apart: a (strided) slice multiply-add on the vector units.
                    if step == 1 {
                        let sources = &channel[first..first + len];
                        for (yt, &x) in y[t..t + len].iter_mut().zip(sources) {
                            *yt += w * x;
                        }
                    } else {
                        let sources = channel[first..].iter().step_by(step);
                        for (yt, &x) in y[t..t + len].iter_mut().zip(sources) {
                            *yt += w * x;
                        }
                    }
                }
            }
        }
    }
}

/// 1-D layers with zero padding, without a gather map: for tap j the outputs t with
/// 0 <= t s + j d - p_b < L form one range, computed directly, and
/// y[t] += w[o, c, j] x[c, t s + j d - p_b] runs over it as one slice operation (contiguous
/// for stride 1). Tasks are (n, o, tile of WIDTH_1D outputs).
fn correlate_1d<T: FloatScalar>(layer: &Layer<'_, T>) -> Vec<T> {
    let s = &layer.shape;
    let d = s.dims[0];
    let (in_per_group, out_per_group) = (s.in_channels / s.groups, s.out_channels / s.groups);
    let (taps, positions, stride) = (d.kernel, layer.positions, layer.spatial);
    let mut out = vec![T::zero(); s.batch * s.out_channels * positions];
    // Tasks: (row (n, o), tile of the row), so that one long signal uses every thread.
    out.par_chunks_mut(positions.max(1))
        .enumerate()
        .engine_threads()
        .flat_map(|(row, y_row)| {
            y_row
                .par_chunks_mut(WIDTH_1D)
                .enumerate()
                .engine_threads()
                .map(move |(tile, y)| (row, tile, y))
        })
        .for_each(|(row, tile, y)| {
            let (n, o) = (row / s.out_channels, row % s.out_channels);
            let g = o / out_per_group;
            let task = Task1d {
                n,
                o,
                g,
                in_per_group,
                taps,
                stride,
                t0: tile * WIDTH_1D,
            };
            dispatch_1d(layer, &task, y);
        });
    out
}

/// One task of the 1-D path: outputs t0 .. t0 + y.len() of row (n, o) in group g.
struct Task1d {
    n: usize,
    o: usize,
    g: usize,
    in_per_group: usize,
    taps: usize,
    stride: usize,
    t0: usize,
}

crate::simd::vectorised!(fn dispatch_1d<T: FloatScalar>(
    layer: &Layer<'_, T>,
    task: &Task1d,
    y: &mut [T],
) => tile_1d);

/// One tile of an output row of the 1-D path. At stride 1, the outputs that every tap reads
/// inside the signal are computed 16 at a time with the taps' sum held in registers (one
/// load and one store of y per output instead of one per tap); the rest tap by tap.
#[inline(always)]
fn tile_1d<T: FloatScalar>(layer: &Layer<'_, T>, task: &Task1d, y: &mut [T]) {
    const LANES: usize = 16;
    let s = &layer.shape;
    let d = s.dims[0];
    y.fill(layer.bias[task.o]);
    for c in 0..task.in_per_group {
        let channel = &layer.input
            [(task.n * s.in_channels + task.g * task.in_per_group + c) * task.stride..][..d.input];
        let weights = &layer.weight[(task.o * task.in_per_group + c) * task.taps..][..task.taps];
        // Tile-relative outputs [lo_j, hi_j) of tap j inside [0, L) (empty when lo_j >= hi_j).
        let width = y.len();
        let range = |j: usize| {
            let offset = range_offset(j, d);
            let (first, last) = valid_range(task.t0 + width, d.stride, offset, d.input);
            let first = first.max(task.t0);
            (
                offset,
                first - task.t0,
                last.saturating_sub(task.t0).max(first - task.t0),
            )
        };
        // The register-blocked interior (stride 1, short kernels).
        let (mut inner_lo, mut inner_hi) = (0, 0);
        if d.stride == 1 && task.taps <= 32 {
            let (lo, hi) = (0..task.taps).fold((0, width), |(lo, hi), j| {
                let (_, a, b) = range(j);
                (lo.max(a), hi.min(b))
            });
            if lo < hi {
                let blocks = (hi - lo) / LANES;
                (inner_lo, inner_hi) = (lo, lo + blocks * LANES);
                for block in 0..blocks {
                    let t = inner_lo + block * LANES;
                    let mut acc = [T::zero(); LANES];
                    acc.copy_from_slice(&y[t..t + LANES]);
                    for (j, &w) in weights.iter().enumerate() {
                        let base = ((task.t0 + t) as i64 + range_offset(j, d)) as usize;
                        // Inside the signal for every lane: t is in the interior of every tap.
                        let x = &channel[base..base + LANES];
                        for l in 0..LANES {
                            acc[l] += w * x[l];
                        }
                    }
                    y[t..t + LANES].copy_from_slice(&acc);
                }
            }
        }
        for (j, &w) in weights.iter().enumerate() {
            let (offset, lo, hi) = range(j);
            // The tap's outputs outside the blocked interior: [lo, hi) minus [inner_lo, inner_hi).
            for (a, b) in [(lo, hi.min(inner_lo)), (lo.max(inner_hi), hi)] {
                if a >= b {
                    continue;
                }
                let start = ((task.t0 + a) as i64 * d.stride as i64 + offset) as usize;
                if d.stride == 1 {
                    for (yt, &x) in y[a..b].iter_mut().zip(&channel[start..]) {
                        *yt += w * x;
                    }
                } else {
                    for (yt, &x) in y[a..b]
                        .iter_mut()
                        .zip(channel[start..].iter().step_by(d.stride))
                    {
                        *yt += w * x;
                    }
                }
            }
        }
    }
}

/// Tap j's input offset j d - p_b of the 1-D path.
#[inline(always)]
fn range_offset(j: usize, d: crate::geometry::DimGeometry) -> i64 {
    (j * d.dilation) as i64 - d.pad_begin as i64
}

/// 2-D layers with zero padding, plane by plane without a gather map: for output row t_h, tap
/// (j_h, j_w) reads input row t_h s_h + j_h d_h - p_h (skipped outside), and the outputs t_w
/// with 0 <= t_w s_w + j_w d_w - p_w < W form one range, added as one (strided) slice
/// multiply-add. The output row stays in the L1 cache while every tap adds to it. Tasks are
/// the planes (n, o).
fn correlate_2d<T: FloatScalar>(layer: &Layer<'_, T>) -> Vec<T> {
    let s = &layer.shape;
    let (dh, dw) = (s.dims[0], s.dims[1]);
    let (out_h, out_w) = (layer.output_shape[2], layer.output_shape[3]);
    let (in_per_group, out_per_group) = (s.in_channels / s.groups, s.out_channels / s.groups);
    let total = s.batch * s.out_channels * layer.positions;
    // Every output is written once by its plane: the buffer is not cleared first (on
    // memory-bound layers such as depthwise ones, clearing costs a tenth of the time).
    let mut out: Vec<T> = Vec::with_capacity(total);
    // Each thread keeps its padded plane and output grid from plane to plane.
    out.spare_capacity_mut()[..total]
        .par_chunks_mut(layer.positions.max(1))
        .enumerate()
        .engine_threads()
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |scratch, (plane, y)| {
                let (n, o) = (plane / s.out_channels, plane % s.out_channels);
                let g = o / out_per_group;
                let plane = (n, o, g, in_per_group);
                dispatch_2d(layer, plane, (out_h, out_w), (dh, dw), y, scratch);
            },
        );
    // SAFETY: the planes cover the `total` elements, and plane_2d writes each of its plane's.
    unsafe { out.set_len(total) };
    out
}

/// A padded input plane and an output grid ([`plane_2d_padded`]), kept between planes.
type Scratch<T> = (Vec<T>, Vec<T>);

/// Taps added to the grid in one pass (each position's sum held in a register through them):
/// a 3x3 kernel in one pass, larger ones in passes of this many.
const GROUP: usize = 9;

/// sums[t] += w[0] x[t + offsets[0]], then w[1] x[t + offsets[1]], ... in order, for every
/// t < sums.len() (at most [`GROUP`] taps; `x` reaches every offset plus sums.len()).
#[inline(always)]
fn add_taps<T: FloatScalar>(sums: &mut [T], w: &[T], offsets: &[usize], x: &[T]) {
    match w.len() {
        1 => add_taps_n::<T, 1>(sums, w, offsets, x),
        2 => add_taps_n::<T, 2>(sums, w, offsets, x),
        3 => add_taps_n::<T, 3>(sums, w, offsets, x),
        4 => add_taps_n::<T, 4>(sums, w, offsets, x),
        5 => add_taps_n::<T, 5>(sums, w, offsets, x),
        6 => add_taps_n::<T, 6>(sums, w, offsets, x),
        7 => add_taps_n::<T, 7>(sums, w, offsets, x),
        8 => add_taps_n::<T, 8>(sums, w, offsets, x),
        9 => add_taps_n::<T, 9>(sums, w, offsets, x),
        _ => unreachable!("at most GROUP taps per pass"),
    }
}

/// [`add_taps`] with N taps: each position's sum loaded once, added to in a register, stored
/// once (the loop runs over positions, on the vector units; the taps are unrolled).
#[inline(always)]
fn add_taps_n<T: FloatScalar, const N: usize>(sums: &mut [T], w: &[T], offsets: &[usize], x: &[T]) {
    let count = sums.len();
    let w: [T; N] = std::array::from_fn(|i| w[i]);
    let x: [&[T]; N] = std::array::from_fn(|i| &x[offsets[i]..][..count]);
    for (t, sum) in sums.iter_mut().enumerate() {
        let mut s = *sum;
        for i in 0..N {
            s += w[i] * x[i][t];
        }
        *sum = s;
    }
}

type Dims2 = (crate::geometry::DimGeometry, crate::geometry::DimGeometry);

crate::simd::vectorised!(fn dispatch_2d<T: FloatScalar>(
    layer: &Layer<'_, T>,
    plane: (usize, usize, usize, usize),
    out: (usize, usize),
    dims: Dims2,
    y: &mut [std::mem::MaybeUninit<T>],
    scratch: &mut Scratch<T>,
) => plane_2d);

/// The range of outputs t in [0, count) with 0 <= t s + offset < length, as (first, end).
pub(crate) fn valid_range(count: usize, step: usize, offset: i64, length: usize) -> (usize, usize) {
    let step = step as i64;
    let first = ((-offset).max(0) + step - 1).div_euclid(step);
    let end = ((length as i64 - 1 - offset).div_euclid(step) + 1).min(count as i64);
    (first.max(0) as usize, end.max(first).max(0) as usize)
}

/// [`plane_2d`] at stride 1: each channel is copied into a zero-padded plane of width
/// W_p = p_b + W + p_e, and the outputs are computed on a grid of the same width, so that one
/// tap's contribution is a contiguous multiply-add y_p[t] += w x_p[t + j_h d_h W_p + j_w d_w]
/// over t < (O_h - 1) W_p + O_w (no row ends, no scalar remainders per row); the grid's
/// columns beyond O_w are dropped at the end. The taps of a channel are added in passes of
/// [`GROUP`] over the grid, each position's sum held in a register through a pass. Every
/// output receives the bias, then its taps in order, as in [`plane_2d`].
#[inline(always)]
fn plane_2d_padded<T: FloatScalar>(
    layer: &Layer<'_, T>,
    (n, o, g, in_per_group): (usize, usize, usize, usize),
    (out_h, out_w): (usize, usize),
    (dh, dw): Dims2,
    y: &mut [std::mem::MaybeUninit<T>],
    (padded, grid): &mut Scratch<T>,
) {
    let s = &layer.shape;
    let taps = dh.kernel * dw.kernel;
    let (h_p, w_p) = (
        dh.pad_begin + dh.input + dh.pad_end,
        dw.pad_begin + dw.input + dw.pad_end,
    );
    let span = (out_h - 1) * w_p + out_w;
    let reach = (dh.kernel - 1) * dh.dilation * w_p + (dw.kernel - 1) * dw.dilation;
    // Zeros outside the channel's rows (the padding, and past the plane for the last
    // row's reads): written once per thread, the rows overwritten per channel.
    let length = (reach + span).max(h_p * w_p);
    if padded.len() != length {
        padded.clear();
        padded.resize(length, T::zero());
    }
    grid.clear();
    grid.resize(span, layer.bias[o]);
    // Tap j's shift in the padded plane.
    let offsets: Vec<usize> = (0..taps)
        .map(|j| (j / dw.kernel) * dh.dilation * w_p + (j % dw.kernel) * dw.dilation)
        .collect();
    for c in 0..in_per_group {
        let channel = &layer.input[(n * s.in_channels + g * in_per_group + c) * layer.spatial..]
            [..layer.spatial];
        for (row, source) in channel.chunks(dw.input).enumerate() {
            padded[(row + dh.pad_begin) * w_p + dw.pad_begin..][..dw.input].copy_from_slice(source);
        }
        let weights = &layer.weight[(o * in_per_group + c) * taps..][..taps];
        for (w, offsets) in weights.chunks(GROUP).zip(offsets.chunks(GROUP)) {
            add_taps(grid, w, offsets, padded);
        }
    }
    for (t_h, row) in y.chunks_mut(out_w).enumerate() {
        for (cell, &v) in row.iter_mut().zip(&grid[t_h * w_p..][..out_w]) {
            cell.write(v);
        }
    }
}

/// One output plane (n, o) of the 2-D path, every element of `y` written.
#[inline(always)]
fn plane_2d<T: FloatScalar>(
    layer: &Layer<'_, T>,
    (n, o, g, in_per_group): (usize, usize, usize, usize),
    (out_h, out_w): (usize, usize),
    (dh, dw): Dims2,
    y: &mut [std::mem::MaybeUninit<T>],
    scratch: &mut Scratch<T>,
) {
    let s = &layer.shape;
    if dh.stride == 1 && dw.stride == 1 {
        let plane = (n, o, g, in_per_group);
        return plane_2d_padded(layer, plane, (out_h, out_w), (dh, dw), y, scratch);
    }
    for v in y.iter_mut() {
        v.write(layer.bias[o]);
    }
    // SAFETY: every element was written just above (what `assume_init_mut` does).
    let y = unsafe { &mut *(y as *mut [std::mem::MaybeUninit<T>] as *mut [T]) };
    let taps = dh.kernel * dw.kernel;
    for c in 0..in_per_group {
        let channel = &layer.input[(n * s.in_channels + g * in_per_group + c) * layer.spatial..]
            [..layer.spatial];
        let weights = &layer.weight[(o * in_per_group + c) * taps..][..taps];
        for jh in 0..dh.kernel {
            let offset_h = (jh * dh.dilation) as i64 - dh.pad_begin as i64;
            let (rows_first, rows_end) = valid_range(out_h, dh.stride, offset_h, dh.input);
            for jw in 0..dw.kernel {
                let w = weights[jh * dw.kernel + jw];
                let offset_w = (jw * dw.dilation) as i64 - dw.pad_begin as i64;
                let (lo, hi) = valid_range(out_w, dw.stride, offset_w, dw.input);
                if lo >= hi {
                    continue;
                }
                let start = (lo as i64 * dw.stride as i64 + offset_w) as usize;
                for t_h in rows_first..rows_end {
                    let input_row = (t_h as i64 * dh.stride as i64 + offset_h) as usize;
                    let x = &channel[input_row * dw.input..][..dw.input];
                    let y_row = &mut y[t_h * out_w..][..out_w];
                    if dw.stride == 1 {
                        for (yt, &v) in y_row[lo..hi].iter_mut().zip(&x[start..]) {
                            *yt += w * v;
                        }
                    } else {
                        for (yt, &v) in y_row[lo..hi]
                            .iter_mut()
                            .zip(x[start..].iter().step_by(dw.stride))
                        {
                            *yt += w * v;
                        }
                    }
                }
            }
        }
    }
}
