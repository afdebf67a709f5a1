//! Implicit GEMM for layers with zero padding: the micro-kernel of [`super::packed`] reads
//! the input in place (copied once into its padding), so no im2col matrix is gathered.
//!
//! Output o at tap j reads the padded input at o_d s_d + j_d dil_d along each dimension d. Write
//! j_d dil_d = q_d s_d + a_d (0 <= a_d < s_d): that is position o_d + q_d of phase a_d, the
//! padded positions a_d, a_d + s_d, ... So the input is stored as s_1 ... s_r phase planes per
//! channel (one plane at stride 1), each of the sizes Q_d = ceil(P_d / s_d) (P_d = L_d + p_b +
//! p_e) in C order with strides S_d. Output o sits at t' = sum_d o_d S_d and its term (c, j)
//! reads position c plane + off_j + t' with off_j = phase(a) Q + sum_d q_d S_d: row (c, j) of
//! the product's right-hand side is the phased input from c plane + off_j on, and the
//! micro-kernel, given one offset per reduction term, computes
//!
//! ```text
//! Y'[o, t'] = b[o] + sum_{c < C_in/G} sum_j W_g[o, (c, j)] xphased[c plane + off_j + t']
//! ```
//!
//! for t' < T' = sum_d (O_d - 1) S_d + 1, the same sums as im2col's in the same order (bias
//! first, then the terms (c, j) in weight order). The positions t' that are no output (those
//! whose last coordinate is at or beyond O_last: Q_last - O_last per row) are computed and
//! dropped. At stride 1 consecutive rows share their padding (a row holds L_last + max(p_b,
//! p_e) positions), so a 3x3 layer with padding 1 drops one column per row (of 57 on a 56-wide
//! layer); ResNet's 7x7 stride-2 stem has three of 115, which its rows, computed in place (below),
//! never compute. Cost: one copy of the input into its phases and padding, 2 C_out T' (C_in/G) prod k
//! flops, and one copy of each output from the work item's block (none for rows of at least two
//! blocks of the micro-kernel's columns, computed in place a row at a time).

use super::kernel::correlate_in_both;
use super::packed::{chunk_columns, MicroKernel, PackedWeights, MR};
use super::{FloatScalar, Kernel, Layer, Problem, Refusal};
use crate::parallel::{EngineThreads, SharedOutput};
use rayon::prelude::*;

/// The most bytes of packed weight one work item multiplies by (half the second-level cache
/// here).
const PANEL_BYTES: usize = 512 << 10;

/// The most bytes of a work item's block of outputs between copies to the output.
const BLOCK_BYTES: usize = 128 << 10;

/// Implicit GEMM (the command line's `implicit`).
#[derive(Debug, Clone, Copy)]
pub struct Implicit;

impl Kernel for Implicit {
    fn name(&self) -> &'static str {
        "implicit"
    }

    fn accepts(&self, problem: &Problem) -> Result<(), Refusal> {
        let refuse = |reason: &str| {
            Err(Refusal {
                algorithm: "implicit",
                reason: reason.to_string(),
            })
        };
        if !problem.zero_padding {
            return refuse("needs zero padding (or none)");
        }
        Ok(())
    }

    correlate_in_both!(|_this, layer| correlate(layer));
}

/// Where the phased input keeps each padded position, and the tap offsets and output grid in
/// those positions (see the module documentation).
struct Grid {
    /// Positions per channel: prod s_d phase planes of prod Q_d positions.
    plane: usize,
    /// Per dimension: (s_d, the phase's step s_{d+1} ... s_last times the phase plane, S_d).
    steps: Vec<(usize, usize, usize)>,
    /// off_j per tap j (weight order).
    taps: Vec<usize>,
    /// T': the positions t' from the first output to the last.
    span: usize,
    /// t' of the first output of every row (all coordinates but the last), in order.
    rows: Vec<usize>,
    /// Outputs per row: O_last.
    row_len: usize,
}

impl Grid {
    fn new<T: FloatScalar>(layer: &Layer<'_, T>) -> Grid {
        let dims = &layer.shape.dims;
        let output = &layer.output_shape[2..];
        let rank = dims.len();
        // Q_d = ceil(P_d / s_d) per phase, C-order strides S_d over Q.
        let mut phase_sizes: Vec<usize> = dims
            .iter()
            .map(|d| {
                d.padded_input()
                    .expect("checked with the shape")
                    .div_ceil(d.stride)
            })
            .collect();
        // At stride 1, consecutive rows share their padding: a row of S = L + max(p_b, p_e)
        // positions (at least O_last) holds its L inputs after p_b zeros, the zeros after
        // them serve as this row's end padding and the next row's start padding, and the
        // last row's end padding runs into `slack` zeros after the plane.
        let last = rank - 1;
        let mut slack = 0;
        if dims.iter().all(|d| d.stride == 1) {
            let d = &dims[last];
            let shared = (d.input + d.pad_begin.max(d.pad_end)).max(output[last]);
            slack = phase_sizes[last].saturating_sub(shared);
            phase_sizes[last] = shared.min(phase_sizes[last]);
        }
        let mut strides = vec![1; rank];
        let mut phase_steps = vec![1; rank];
        for d in (0..rank.saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * phase_sizes[d + 1];
            phase_steps[d] = phase_steps[d + 1] * dims[d + 1].stride;
        }
        let phase_plane: usize = phase_sizes.iter().product();
        let phases: usize = dims.iter().map(|d| d.stride).product();
        let steps: Vec<(usize, usize, usize)> = (0..rank)
            .map(|d| (dims[d].stride, phase_steps[d] * phase_plane, strides[d]))
            .collect();
        // Every multi-index of `sizes` (C order), its offset the sum of place(d, i_d).
        let offsets = |sizes: &[usize], place: &dyn Fn(usize, usize) -> usize| -> Vec<usize> {
            let mut all = vec![0usize];
            for (d, &size) in sizes.iter().enumerate() {
                all = all
                    .iter()
                    .flat_map(|&base| (0..size).map(move |i| base + place(d, i)))
                    .collect();
            }
            all
        };
        let rows = offsets(&output[..last], &|d, o| o * strides[d]);
        let span = output
            .iter()
            .zip(&strides)
            .map(|(&o, &s)| (o.max(1) - 1) * s)
            .sum::<usize>()
            + 1;
        let mut grid = Grid {
            plane: phases * phase_plane + slack,
            steps,
            taps: Vec::new(),
            span,
            rows,
            row_len: output[last],
        };
        grid.taps = offsets(&layer.shape.kernel(), &|d, j| {
            grid.place(d, j * dims[d].dilation)
        });
        grid
    }

    /// The output rows meeting the positions t' in [u0, u1): (row r, its first t', the part
    /// from..to of [u0, u1) in it), in order.
    fn rows_meeting(
        &self,
        (u0, u1): (usize, usize),
    ) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        let first = self.rows.partition_point(|&r| r + self.row_len <= u0);
        (self.rows.iter().enumerate().skip(first))
            .take_while(move |&(_, &start)| start < u1)
            .map(move |(r, &start)| (r, start, start.max(u0), (start + self.row_len).min(u1)))
    }

    /// Where padded position p along dimension d goes: its phase's plane and its place in it.
    fn place(&self, d: usize, p: usize) -> usize {
        let (s, phase, stride) = self.steps[d];
        (p % s) * phase + (p / s) * stride
    }
}

/// The input (N, C_in, L...) in its phases ([`Grid`]), zeros in the padding, one block of
/// phase planes per channel.
fn phased_input<T: FloatScalar>(layer: &Layer<'_, T>, grid: &Grid) -> Vec<T> {
    let dims = &layer.shape.dims;
    let last = dims.len() - 1;
    let row = dims[last].input;
    // Per input row (every coordinate but the last): where its elements' leading
    // coordinates put them.
    let mut starts = vec![0usize];
    for (d, dim) in dims.iter().enumerate().take(last) {
        starts = starts
            .iter()
            .flat_map(|&base| (0..dim.input).map(move |i| base + grid.place(d, i + dim.pad_begin)))
            .collect();
    }
    let (pad, stride) = (dims[last].pad_begin, dims[last].stride);
    let channels = layer.shape.batch * layer.shape.in_channels;
    // Each channel's plane in regions, one per phase a_0 of the first dimension (the inputs
    // with (i_0 + p_b) % s_0 = a_0 land in region a_0 only), so that a strided layer of few
    // channels (the stem: 3) still gives every thread its share.
    let regions = if last > 0 { dims[0].stride } else { 1 };
    let region = grid.plane / regions;
    let mut phased = T::pool().take(channels * grid.plane);
    phased.spare_capacity_mut()[..channels * grid.plane]
        .par_chunks_mut(region.max(1))
        .enumerate()
        .engine_threads()
        .for_each(|(index, part)| {
            let (channel, a) = (index / regions, index % regions);
            // Zeros first (the padding), in parallel, region by region.
            part.fill(std::mem::MaybeUninit::new(T::zero()));
            // SAFETY: every element was written just above.
            let part = unsafe { &mut *(part as *mut [std::mem::MaybeUninit<T>] as *mut [T]) };
            let source = &layer.input[channel * layer.spatial..][..layer.spatial];
            for (values, &start) in source.chunks(row.max(1)).zip(&starts) {
                if start / region.max(1) != a {
                    continue;
                }
                let start = start - a * region;
                if stride == 1 {
                    let at = start + grid.place(last, pad);
                    part[at..at + values.len()].copy_from_slice(values);
                    continue;
                }
                // Phase a holds the inputs i with (i + pad) % s = a, consecutively.
                for first in 0..stride.min(values.len()) {
                    let at = start + grid.place(last, first + pad);
                    let sources = values[first..].iter().step_by(stride);
                    for (x, &v) in part[at..].iter_mut().zip(sources) {
                        *x = v;
                    }
                }
            }
        });
    // SAFETY: the planes cover the channels * plane elements, each filled above.
    unsafe { phased.set_len(channels * grid.plane) };
    phased
}

/// A work item's block of outputs, taken from and given back to the free list.
struct Scratch<T: FloatScalar>(Vec<T>);

impl<T: FloatScalar> Default for Scratch<T> {
    fn default() -> Scratch<T> {
        Scratch(T::pool().take(0))
    }
}

impl<T: FloatScalar> Drop for Scratch<T> {
    fn drop(&mut self) {
        T::pool().give(std::mem::take(&mut self.0));
    }
}

/// The layer's output (N, C_out, O...) in C order.
pub fn correlate<T: FloatScalar>(layer: &Layer<'_, T>) -> Vec<T> {
    let kernel = MicroKernel::detect().unwrap_or_else(MicroKernel::portable);
    correlate_with(layer, kernel)
}

/// The layer's output by `kernel` (the packed weight from the layer, or packed here).
pub(crate) fn correlate_with<T: FloatScalar>(
    layer: &Layer<'_, T>,
    kernel: MicroKernel<T>,
) -> Vec<T> {
    let s = &layer.shape;
    let (in_per_group, out_per_group) = (s.in_channels / s.groups, s.out_channels / s.groups);
    let packed_here;
    let packed = match layer.packed {
        Some(packed) => packed,
        None => {
            packed_here = PackedWeights::new(&layer.weight, &layer.bias, s.groups, layer.depth());
            &packed_here
        }
    };
    let total = s.batch * s.out_channels * layer.positions;
    if total == 0 {
        return Vec::new();
    }
    if layer.depth() == 0 {
        // No reduction terms (C_in/G = 0): every output is its channel's bias.
        let per_channel = layer
            .bias
            .iter()
            .map(|&b| std::iter::repeat_n(b, layer.positions));
        return per_channel.flatten().cycle().take(total).collect();
    }
    let grid = Grid::new(layer);
    let input = phased_input(layer, &grid);
    // Row (c, j) of the right-hand side starts at c plane + off_j.
    let offsets: Vec<usize> = (0..in_per_group)
        .flat_map(|c| grid.taps.iter().map(move |&off| c * grid.plane + off))
        .collect();
    // Work items (n, columns t0..t1, panels p0..p1): the panels cut so that each part of
    // the packed weight stays within half the second-level cache, the columns so that there
    // are at least two items per thread.
    let columns = kernel.columns;
    let threads = crate::parallel::threads();
    let panels = packed.panels();
    let panel_parts = packed
        .bytes()
        .div_ceil(PANEL_BYTES)
        .div_ceil(threads)
        .saturating_mul(threads)
        .clamp(1, panels.max(1));
    // Columns cut in whole vectors (not whole blocks of `columns`: 17 blocks in two parts
    // leave one thread 12 % more work).
    let lanes = kernel.lanes;
    let vectors = grid.span.div_ceil(lanes);
    let column_parts = (2 * threads).div_ceil(panel_parts).clamp(1, vectors);
    let items: Vec<(usize, usize, usize, usize, usize)> = (0..s.batch)
        .flat_map(|n| {
            (0..column_parts).flat_map(move |i| {
                let t0 = (vectors * i / column_parts * lanes).min(grid.span);
                let t1 = (vectors * (i + 1) / column_parts * lanes).min(grid.span);
                (0..panel_parts).map(move |k| {
                    let (p0, p1) = (panels * k / panel_parts, panels * (k + 1) / panel_parts);
                    (n, t0, t1, p0, p1)
                })
            })
        })
        .filter(|&(_, t0, t1, p0, p1)| t0 < t1 && p0 < p1)
        .collect();
    let chunk = chunk_columns(in_per_group * std::mem::size_of::<T>());
    // Rows of at least two blocks of the kernel's columns (the stem's 112) are computed
    // straight into the output, a row at a time: no position dropped, no copy; shorter rows
    // (a 14-wide layer's) in runs of t' through a block, copied out without the dropped
    // positions. The same sums in the same order either way.
    let in_place = grid.row_len >= 2 * columns;
    // The output is written once, by the work items (not cleared first).
    let mut out: Vec<T> = Vec::with_capacity(total);
    let shared = SharedOutput::new(&mut out.spare_capacity_mut()[..total]);
    crate::parallel::for_each_item(
        &items,
        Scratch::default,
        |Scratch(block), (n, t0, t1, p0, p1)| {
            let channels = (p0 * MR)..(p1 * MR).min(out_per_group);
            if in_place {
                for g in 0..s.groups {
                    let first_row = (n * s.out_channels + g * out_per_group) * layer.positions;
                    let group_input = (n * s.in_channels + g * in_per_group) * grid.plane;
                    for (r, start, from, to) in grid.rows_meeting((t0, t1)) {
                        let at = first_row
                            + channels.start * layer.positions
                            + r * grid.row_len
                            + (from - start);
                        let span = (channels.len() - 1) * layer.positions + (to - from);
                        let b = &input[group_input + from..];
                        // SAFETY: as for the blocks below (b + offsets[l] covers to - from
                        // values); y's rows, `positions` apart, are output row r's positions
                        // from..to of the panels' channels, which only this item writes (t' is
                        // one to one with the outputs, the panels with the channels).
                        unsafe {
                            let y = shared.pointer(at, span).cast::<T>();
                            let panels = (g, p0..p1);
                            let (b, width) = (b.as_ptr(), to - from);
                            packed.multiply(
                                kernel,
                                panels,
                                b,
                                &offsets,
                                width,
                                chunk,
                                y,
                                layer.positions,
                                None,
                            );
                        }
                    }
                }
                return;
            }
            // Columns in runs whose block of outputs stays within BLOCK_BYTES, each copied
            // out while it is in the cache.
            let per_column = channels.len().max(1) * std::mem::size_of::<T>();
            let run = (BLOCK_BYTES / per_column).div_ceil(columns).max(1) * columns;
            block.resize(channels.len() * run.min(t1 - t0), T::zero());
            for g in 0..s.groups {
                let first_row = (n * s.out_channels + g * out_per_group) * layer.positions;
                for u0 in (t0..t1).step_by(run) {
                    let u1 = (u0 + run).min(t1);
                    let width = u1 - u0;
                    let b = &input[(n * s.in_channels + g * in_per_group) * grid.plane + u0..];
                    // SAFETY: b + offsets[l] covers width values for every l (o_d + q_d < Q_d
                    // for every output and tap, and where rows share their padding the plane's
                    // slack holds the reads past its last row, so the last term's row ends
                    // within the group's last channel); the block has a row of width for each
                    // channel of the panels; the kernel was detected on this processor or is
                    // the portable one.
                    unsafe {
                        let y = block.as_mut_ptr();
                        let panels = (g, p0..p1);
                        let b = b.as_ptr();
                        packed.multiply(kernel, panels, b, &offsets, width, chunk, y, width, None);
                    }
                    for (r, start, from, to) in grid.rows_meeting((u0, u1)) {
                        for (o, values) in channels.clone().zip(block.chunks(width)) {
                            let at =
                                first_row + o * layer.positions + r * grid.row_len + from - start;
                            // SAFETY: output row r's positions from..to of channel o have their
                            // t' in this item only (t' is one to one with the outputs, the
                            // panels with the channels).
                            let cells = unsafe { shared.range(at, to - from) };
                            let values = &values[from - u0..to - u0];
                            // SAFETY: both runs hold to - from elements, in different
                            // allocations (memcpy: the C library's copy for this processor).
                            unsafe {
                                let cells = cells.as_mut_ptr().cast::<T>();
                                std::ptr::copy_nonoverlapping(values.as_ptr(), cells, values.len());
                            }
                        }
                    }
                }
            }
        },
    );
    T::pool().give(input);
    // SAFETY: the work items cover every batch element, output channel (groups and panels)
    // and t' of an output, so each of the `total` elements was written above.
    unsafe { out.set_len(total) };
    out
}
