//! Implicit GEMM for stride-1 layers with zero padding: the micro-kernel of [`super::packed`]
//! reads the zero-padded input in place, so no im2col matrix is gathered.
//!
//! With stride 1, output o and tap j read the padded input at o + j dil, so in the padded
//! input's C-order positions (strides S_d, plane = prod P_d for the padded sizes
//! P_d = L_d + p_b + p_e) output o sits at t' = sum_d o_d S_d and its term (c, j) reads
//! xpad[c plane + off_j + t'] with off_j = sum_d j_d dil_d S_d. Row (c, j) of the product's
//! right-hand side is therefore the padded input from c plane + off_j on: the micro-kernel
//! is given one offset per reduction term and computes
//!
//! ```text
//! Y'[o, t'] = b[o] + sum_{c < C_in/G} sum_j W_g[o, (c, j)] xpad[c plane + off_j + t']
//! ```
//!
//! for t' < T' = sum_d (O_d - 1) S_d + 1, the same sums as im2col's in the same order (bias
//! first, then the terms (c, j) in weight order). The positions t' that are no output (those
//! whose last coordinate is at or beyond O_last, p_b + p_e - dil (k - 1) per row) are computed
//! and dropped: the waste is that fraction of each row (two columns of 58 on a 56-wide 3x3
//! layer). Cost: one copy of the input into its padding, 2 C_out T' (C_in/G) prod k flops, and
//! one copy of each output from the tile's block.

use super::kernel::correlate_in_both;
use super::packed::{chunk_columns, MicroKernel, PackedWeights, MR, VECTORS};
use super::{FloatScalar, Kernel, Layer, Problem, Refusal};
use crate::parallel::SharedOutput;
use rayon::prelude::*;

/// The most bytes of packed weight one work item multiplies by (half the second-level cache
/// here).
const PANEL_BYTES: usize = 512 << 10;

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
        if problem.shape.dims.iter().any(|d| d.stride != 1) {
            return refuse("needs stride 1 in every dimension");
        }
        if !problem.zero_padding {
            return refuse("needs zero padding (or none)");
        }
        Ok(())
    }

    correlate_in_both!(|_this, layer| correlate(layer));
}

/// The padded input's geometry: per spatial dimension the padded size, the strides of its C
/// order, and the tap offsets and output grid in those positions.
struct Grid {
    /// Positions per padded channel: prod P_d.
    plane: usize,
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
        let padded: Vec<usize> = dims
            .iter()
            .map(|d| d.padded_input().expect("checked with the shape"))
            .collect();
        let mut strides = vec![1; dims.len()];
        for d in (0..dims.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * padded[d + 1];
        }
        let plane = padded.iter().product();
        // Offsets of every multi-index of `sizes` (C order) with step `step[d]` along d.
        let offsets = |sizes: &[usize], step: &dyn Fn(usize) -> usize| -> Vec<usize> {
            let mut all = vec![0usize];
            for (d, &size) in sizes.iter().enumerate() {
                all = all
                    .iter()
                    .flat_map(|&base| (0..size).map(move |i| base + i * step(d)))
                    .collect();
            }
            all
        };
        let taps = offsets(&layer.shape.kernel(), &|d| dims[d].dilation * strides[d]);
        let last = dims.len() - 1;
        let rows = offsets(&output[..last], &|d| strides[d]);
        let span = output
            .iter()
            .zip(&strides)
            .map(|(&o, &s)| (o.max(1) - 1) * s)
            .sum::<usize>()
            + 1;
        Grid {
            plane,
            taps,
            span,
            rows,
            row_len: output[last],
        }
    }
}

/// The input (N, C_in, L...) copied into zeros of the padded sizes, one plane per channel.
fn padded_input<T: FloatScalar>(layer: &Layer<'_, T>, grid: &Grid) -> Vec<T> {
    let dims = &layer.shape.dims;
    let last = dims.len() - 1;
    let row = dims[last].input;
    let inner: Vec<usize> = dims.iter().map(|d| d.input).collect();
    // Per input row (every coordinate but the last): its start in the padded plane.
    let mut starts = vec![0usize];
    let mut stride = grid.plane;
    for (d, dim) in dims.iter().enumerate() {
        stride /= dim.padded_input().expect("checked with the shape");
        if d == last {
            starts.iter_mut().for_each(|s| *s += dim.pad_begin * stride);
            break;
        }
        starts = starts
            .iter()
            .flat_map(|&base| (0..inner[d]).map(move |i| base + (i + dim.pad_begin) * stride))
            .collect();
    }
    let channels = layer.shape.batch * layer.shape.in_channels;
    let mut padded = vec![T::zero(); channels * grid.plane];
    padded
        .par_chunks_mut(grid.plane.max(1))
        .enumerate()
        .for_each(|(channel, plane)| {
            let source = &layer.input[channel * layer.spatial..][..layer.spatial];
            for (values, &start) in source.chunks(row.max(1)).zip(&starts) {
                plane[start..start + values.len()].copy_from_slice(values);
            }
        });
    padded
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
    let mut out = vec![T::zero(); s.batch * s.out_channels * layer.positions];
    if layer.positions == 0 {
        return out;
    }
    let grid = Grid::new(layer);
    let input = padded_input(layer, &grid);
    // Row (c, j) of the right-hand side starts at c plane + off_j.
    let offsets: Vec<usize> = (0..in_per_group)
        .flat_map(|c| grid.taps.iter().map(move |&off| c * grid.plane + off))
        .collect();
    // Work items (n, columns t0..t1, panels p0..p1): the panels cut so that each part of
    // the packed weight stays within half the second-level cache, the columns so that there
    // are at least two items per thread, in whole blocks.
    let columns = VECTORS * kernel.lanes;
    let threads = rayon::current_num_threads();
    let panels = packed.panels();
    let panel_parts = packed
        .bytes()
        .div_ceil(PANEL_BYTES)
        .div_ceil(threads)
        .saturating_mul(threads)
        .clamp(1, panels.max(1));
    let blocks = grid.span.div_ceil(columns);
    let column_parts = (2 * threads).div_ceil(panel_parts).clamp(1, blocks);
    let items: Vec<(usize, usize, usize, usize, usize)> = (0..s.batch)
        .flat_map(|n| {
            (0..column_parts).flat_map(move |i| {
                let t0 = (blocks * i / column_parts * columns).min(grid.span);
                let t1 = (blocks * (i + 1) / column_parts * columns).min(grid.span);
                (0..panel_parts).map(move |k| {
                    let (p0, p1) = (panels * k / panel_parts, panels * (k + 1) / panel_parts);
                    (n, t0, t1, p0, p1)
                })
            })
        })
        .filter(|&(_, t0, t1, p0, p1)| t0 < t1 && p0 < p1)
        .collect();
    let chunk = chunk_columns(in_per_group * std::mem::size_of::<T>());
    let shared = SharedOutput::new(&mut out);
    items
        .into_par_iter()
        .for_each_init(Vec::new, |block, (n, t0, t1, p0, p1)| {
            let width = t1 - t0;
            let channels = (p0 * MR)..(p1 * MR).min(out_per_group);
            block.resize(channels.len() * width, T::zero());
            // Rows of the output meeting [t0, t1).
            let first = grid.rows.partition_point(|&r| r + grid.row_len <= t0);
            for g in 0..s.groups {
                let b = &input[(n * s.in_channels + g * in_per_group) * grid.plane + t0..];
                // SAFETY: b + offsets[l] covers width values for every l (the last term's row
                // ends at (C_in/G - 1) plane + off_max + T' - 1 = the group's last padded
                // position); the block has a row of width for each channel of the panels; the
                // kernel was detected on this processor or is the portable one.
                unsafe {
                    let y = block.as_mut_ptr();
                    packed.multiply(
                        kernel,
                        (g, p0..p1),
                        b.as_ptr(),
                        &offsets,
                        width,
                        chunk,
                        y,
                        width,
                    );
                }
                let first_row = (n * s.out_channels + g * out_per_group) * layer.positions;
                for (r, &start) in grid.rows.iter().enumerate().skip(first) {
                    if start >= t1 {
                        break;
                    }
                    let (from, to) = (start.max(t0), (start + grid.row_len).min(t1));
                    for (o, values) in channels.clone().zip(block.chunks(width)) {
                        let at = first_row + o * layer.positions + r * grid.row_len + from - start;
                        // SAFETY: output row r's positions from..to of channel o have their t' in
                        // this item only (t' is one to one with the outputs, the panels with the
                        // channels).
                        unsafe { shared.range(at, to - from) }
                            .copy_from_slice(&values[from - t0..to - t0]);
                    }
                }
            }
        });
    out
}
