//! im2col + GEMM: per batch element, group and tile of output positions, the input is gathered
//! into a matrix X (rows (c, j) for c < C_in/G and tap j, columns the tile's positions; padded
//! positions read zero), and Y = W_g X + b, accumulating onto the bias, by the micro-kernel of
//! [`super::packed`] over the weight packed once per call (or once per prepared layer) where
//! the processor has AVX-512F, else by the `gemm` crate (register-blocked, packing both
//! operands per call, AVX2/NEON chosen at run time; on AVX2 it beat the own AVX2 kernel over
//! the gathered matrix, 0.93 against 1.08 ms on ResNet-50's 1x1 layer, 2.13 against 2.42 ms on
//! conv2 3x3, measured on this AVX-512 machine with both limited to AVX2):
//!
//! ```text
//! Y[o, t] = b[o] + sum_{r < C_in/G prod k} W_g[o, r] X[r, t]
//! ```
//!
//! The tile width keeps X near 1 MiB, so memory stays bounded for long signals. With zero
//! padding the gather reads runs computed from the geometry ([`Layer::zero_padding_runs`]);
//! other padding modes go through the tile's gather map ([`Layer::tile`], [`Layer::runs`]). The
//! summation order is the GEMM's (blocked, with fused multiply-adds); the componentwise bound
//! of the module documentation holds for every order.

use super::packed::{Isa, MicroKernel, PackedWeights};
use super::{tiles, FloatScalar, Layer};
use crate::parallel::SharedOutput;

/// The most bytes of the gathered matrix X per tile.
const TILE_BYTES: usize = 1 << 20;

/// The layer's output (N, C_out, P) in C order.
pub fn correlate<T: FloatScalar>(layer: &Layer<'_, T>) -> Vec<T> {
    match MicroKernel::detect().filter(|kernel| kernel.isa == Some(Isa::Avx512)) {
        Some(kernel) => match layer.packed {
            Some(packed) => correlate_with(layer, Product::Packed(kernel, packed)),
            None => {
                let s = &layer.shape;
                let packed =
                    PackedWeights::new(&layer.weight, &layer.bias, s.groups, layer.depth());
                correlate_with(layer, Product::Packed(kernel, &packed))
            }
        },
        None => correlate_with(layer, Product::GemmCrate),
    }
}

/// How a tile's product W_g X is computed.
#[derive(Clone, Copy)]
pub(crate) enum Product<'p, T> {
    /// By the micro-kernel over the packed weight.
    Packed(MicroKernel<T>, &'p PackedWeights<T>),
    /// By the `gemm` crate.
    GemmCrate,
}

/// The layer's output (N, C_out, P) in C order, the products computed by `product`.
pub(crate) fn correlate_with<T: FloatScalar>(
    layer: &Layer<'_, T>,
    product: Product<'_, T>,
) -> Vec<T> {
    // Tiles of at least 256 columns (the GEMM packs the weight once per tile) and at least two
    // per thread, with X within TILE_BYTES (about the L2 cache: measured best among 1, 2 and 8
    // MiB on the ResNet layers here).
    let per_thread = layer.positions.div_ceil(2 * crate::parallel::threads());
    let per_thread = per_thread.clamp(256, 4096).div_ceil(16) * 16;
    // 1x1 kernels multiply the input in place (no X to keep small).
    let width = if layer.map_taps() == 1 {
        per_thread.min(layer.positions.max(1))
    } else {
        layer.tile_width(TILE_BYTES).min(per_thread)
    };
    // As many tiles per thread for every thread: the tile count rounded up to a multiple of
    // the thread count, the width shrunk to match (whole vectors of 16).
    let threads = crate::parallel::threads();
    let count = layer.positions.div_ceil(width.max(1)).div_ceil(threads) * threads;
    let width = layer.positions.div_ceil(count.max(1)).div_ceil(16) * 16;
    let s = &layer.shape;
    // The output is written once, by the tiles (not cleared first).
    let total = s.batch * s.out_channels * layer.positions;
    let mut out: Vec<T> = Vec::with_capacity(total);
    let shared = SharedOutput::new(&mut out.spare_capacity_mut()[..total]);
    // Each thread keeps its gathered matrix X and its block of Y from tile to tile.
    crate::parallel::for_each_item(
        &tiles(layer, width),
        || (Vec::new(), Vec::new()),
        |buffers, tile| compute_tile(layer, product, tile, buffers, &shared),
    );
    // SAFETY: the tiles cover every batch element and position, and each writes every output
    // channel's row there (the micro-kernel every panel's rows, the gemm crate's branch every
    // row of its block, the bias alone when there are no reduction terms), so each of the
    // `total` elements was written above.
    unsafe { out.set_len(total) };
    out
}

/// One tile (n, t0, t1): every output row's positions t0..t1, written in place.
fn compute_tile<T: FloatScalar>(
    layer: &Layer<'_, T>,
    product: Product<'_, T>,
    (n, t0, t1): (usize, usize, usize),
    (columns, block): &mut (Vec<T>, Vec<T>),
    out: &SharedOutput<std::mem::MaybeUninit<T>>,
) {
    let s = &layer.shape;
    let (in_per_group, out_per_group) = (s.in_channels / s.groups, s.out_channels / s.groups);
    let taps = layer.map_taps();
    let depth = in_per_group * taps;
    let width = t1 - t0;
    let stride = layer.spatial;
    // Zero padding: the runs straight from the geometry; other modes through the gather map.
    let (map, runs) = if layer.zero_padding {
        (Vec::new(), layer.zero_padding_runs(t0, t1))
    } else {
        let map = layer.tile(t0, t1);
        let runs = layer.runs(&map, width);
        (map, runs)
    };
    let step = layer.run_step();
    // A 1x1 kernel reading one run (stride 1, no padding in the tile): X is the input itself,
    // its rows one channel stride apart; nothing is copied.
    let in_place = taps == 1 && step == 1 && runs[0].len() == 1 && width > 0;
    let positions = layer.positions;
    if !in_place {
        // Every element is written below (each position of each tap belongs to one run, or
        // the tap is read through the map).
        columns.resize(depth * width, T::zero());
    }
    for g in 0..s.groups {
        let first_channel = (n * s.in_channels + g * in_per_group) * stride;
        // X: row (c, j) holds channel c read at tap j's sources, run by run.
        if !in_place {
            for c in 0..in_per_group {
                let channel = &layer.input[first_channel + c * stride..][..stride];
                for (j, tap_runs) in runs.iter().enumerate() {
                    let row = &mut columns[(c * taps + j) * width..][..width];
                    if tap_runs.is_empty() {
                        for (x, &src) in row.iter_mut().zip(&map[j * width..][..width]) {
                            *x = channel.get(src as usize).copied().unwrap_or(T::zero());
                        }
                    }
                    for &(t, len, first) in tap_runs {
                        if first >= stride {
                            // Padding (source `spatial`): zeros.
                            row[t..t + len].fill(T::zero());
                        } else if len == 1 {
                            // A padded position (source `spatial`) reads zero.
                            row[t] = channel.get(first).copied().unwrap_or(T::zero());
                        } else if step == 1 {
                            row[t..t + len].copy_from_slice(&channel[first..first + len]);
                        } else if step == 2 && first + 2 * len <= channel.len() {
                            // Every other input: pairs, first of each (vectorises as a
                            // de-interleave, where a strided iterator reads one at a time).
                            let pairs = channel[first..first + 2 * len].chunks_exact(2);
                            for (x, pair) in row[t..t + len].iter_mut().zip(pairs) {
                                *x = pair[0];
                            }
                        } else {
                            let sources = channel[first..].iter().step_by(step);
                            for (x, &v) in row[t..t + len].iter_mut().zip(sources) {
                                *x = v;
                            }
                        }
                    }
                }
            }
        }
        let first_row = (n * s.out_channels + g * out_per_group) * positions + t0;
        let (rhs, rhs_rs) = if in_place && depth > 0 {
            let offset = first_channel + runs[0][0].2;
            // The last row's run lies inside its channel: every row is within the input.
            let last = &layer.input[offset + (in_per_group - 1) * stride..][..width];
            debug_assert_eq!(last.len(), width);
            (layer.input[offset..].as_ptr(), stride)
        } else {
            (columns.as_ptr(), width)
        };
        if let Product::Packed(kernel, packed) = product {
            if width == 0 || out_per_group == 0 {
                continue;
            }
            // SAFETY: rhs covers depth rows of width values rhs_rs apart (the gathered
            // columns, or the input rows whose last one is checked above); the output rows
            // (n, g C_out/G + o), positions t0..t1, belong to this tile only; the kernel was
            // detected on this processor.
            let offsets: Vec<usize> = (0..depth).map(|l| l * rhs_rs).collect();
            let chunk = super::packed::chunk_columns(depth * std::mem::size_of::<T>());
            // The input's rows lie a channel apart: copied block by block into the buffer
            // the gathered matrix would use (1.15-1.3x on ResNet's 1x1 layer's products here),
            // where the tile has a whole block (so the copy is at most twice the tile's rows).
            let copy = (in_place && width >= kernel.columns).then_some(&mut *columns);
            unsafe {
                let y = out.pointer(first_row, (out_per_group - 1) * positions + width);
                let y = y.cast::<T>();
                let all = (g, 0..packed.panels());
                packed.multiply(kernel, all, rhs, &offsets, width, chunk, y, positions, copy);
            }
            continue;
        }
        // Y is computed in a contiguous block (the GEMM writes rows `width` apart; rows P
        // apart in the output halved its speed on 1x1 layers here), then copied out.
        block.clear();
        for o in 0..out_per_group {
            block.extend(std::iter::repeat_n(
                layer.bias[g * out_per_group + o],
                width,
            ));
        }
        let weight = &layer.weight[g * out_per_group * depth..][..out_per_group * depth];
        if width == 0 {
            continue;
        }
        // With no reduction terms (C_in/G = 0) the block holds the bias, copied out below.
        if depth > 0 {
            // SAFETY: dst is the out_per_group x width block (row stride width), lhs
            // out_per_group x depth (row stride depth), rhs depth x width (row stride rhs_rs:
            // the gathered columns, or the input rows whose last one is checked above), all
            // within their slices, and T is f32 or f64 (the types gemm dispatches on).
            unsafe {
                gemm::gemm(
                    out_per_group,
                    width,
                    depth,
                    block.as_mut_ptr(),
                    1,
                    width as isize,
                    true,
                    weight.as_ptr(),
                    1,
                    depth as isize,
                    rhs,
                    1,
                    rhs_rs as isize,
                    T::ONE,
                    T::ONE,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        for (o, row) in block.chunks(width).enumerate() {
            // SAFETY: row (n, g C_out/G + o), positions t0..t1, belongs to this tile only.
            let cells = unsafe { out.range(first_row + o * positions, width) };
            // SAFETY: both runs hold width elements, in different allocations.
            unsafe {
                std::ptr::copy_nonoverlapping(row.as_ptr(), cells.as_mut_ptr().cast::<T>(), width)
            };
        }
    }
}
