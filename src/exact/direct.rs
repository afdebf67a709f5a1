//! Direct exact correlation in machine integers, for 1-D layers with few output channels per
//! group (a signal times a short kernel, as `np.convolve(x, w)` with `len(w)` small).
//!
//! There the gather-GEMM engine wastes most of its work: its micro-kernel computes 8 output
//! rows where the layer has one or two, and it gathers every tap of every output into an
//! im2col buffer first. Here each output is its own dot product over the integers:
//!
//! ```text
//! Y[n, o, i] = multiplier_xw * sum_{c < C_in/G} sum_{j < k} W[o, c, j] X[n, g C_in/G + c, i s + j d - p]
//!              + multiplier_b * B[o],        g = o / (C_out/G),
//! ```
//!
//! with the padding mode's source index where i s + j d - p falls outside the signal. The
//! integers X and W are taken as i64 and every product as i128; the bit budget (`proofs/exact.md`,
//! E2) bounds |Y| and every partial sum below 2^bound_bits, so with bound_bits <= 126 nothing
//! wraps. Cost: N C_out L_out (C_in/G) k multiply-adds of 64 x 64 -> 128 bits; memory: i64
//! copies of X and W and the i128 output.

use super::engine::{Budget, Operands};
use super::scaled::{Integers, ScaledTensor};
use crate::geometry::{ConvShape, PaddingMode};
use ndarray::{ArrayD, IxDyn};
use num_traits::ToPrimitive;
use rayon::prelude::*;

/// Outputs per parallel task.
const BLOCK: usize = 1 << 14;

/// The largest bound (bits) the i128 accumulator takes: |Y| < 2^126 leaves the sign and one
/// bit of headroom for the bias term's addition.
pub const MAX_BOUND_BITS: u64 = 126;

/// The most output channels per group for which this path beats the GEMM (whose micro-kernel
/// has 8 rows).
pub const MAX_OUT_PER_GROUP: usize = 2;

/// Whether the direct path applies to a 1-D layer with this budget: few output channels per
/// group and the result's bound within [`MAX_BOUND_BITS`] (the operands must also be below
/// 2^63, which [`correlate_1d`] checks as it converts them).
pub fn applies(shape: &ConvShape, budget: &Budget) -> bool {
    shape.dims.len() == 1
        && shape.out_channels / shape.groups <= MAX_OUT_PER_GROUP
        && budget.bound_bits <= MAX_BOUND_BITS
        && budget.multiplier_xw.bits() <= 63
}

/// The exact correlation of a 1-D layer (see the module documentation). Returns None when
/// [`applies`] does not hold or an operand is 2^63 or more in magnitude.
pub fn correlate_1d(
    operands: &Operands<'_>,
    shape: &ConvShape,
    padding_mode: PaddingMode,
    output_shape: &[usize],
    budget: &Budget,
    pool: &rayon::ThreadPool,
) -> Option<ScaledTensor> {
    if !applies(shape, budget) {
        return None;
    }
    let x = operands.input.i64_values()?;
    let w = operands.weight.i64_values()?;
    let multiplier = budget.multiplier_xw.to_i128()?;
    let biases: Vec<i128> = match operands.bias {
        Some(b) => b
            .integer_values()
            .iter()
            .map(|v| (v * &budget.multiplier_b).to_i128())
            .collect::<Option<_>>()?,
        None => vec![0; shape.out_channels],
    };
    let d = &shape.dims[0];
    let (len, taps, out_len) = (d.input, d.kernel, output_shape[2]);
    let in_per_group = shape.in_channels / shape.groups;
    let out_per_group = shape.out_channels / shape.groups;
    let reach = (taps - 1) * d.dilation;

    let rows = output_shape[0] * shape.out_channels;
    // The dot product of output i of one row: the row's signals (one per input channel of its
    // group) against its kernels.
    let dot = |signals: &[&[i64]], kernels: &[&[i64]], i: usize| -> i128 {
        let start = d.input_index(i, 0);
        let mut sum = 0i128;
        if start >= 0 && (start as usize) + reach < len {
            let start = start as usize;
            for (signal, kernel) in signals.iter().zip(kernels) {
                for (j, &wj) in kernel.iter().enumerate() {
                    sum += i128::from(wj) * i128::from(signal[start + j * d.dilation]);
                }
            }
        } else {
            for (signal, kernel) in signals.iter().zip(kernels) {
                for (j, &wj) in kernel.iter().enumerate() {
                    if let Some(t) = padding_mode.source_index(d.input_index(i, j), len) {
                        sum += i128::from(wj) * i128::from(signal[t]);
                    }
                }
            }
        }
        sum
    };
    let mut values = vec![0i128; rows * out_len];
    // Blocks of outputs within one row: long rows are shared among the threads too.
    let block = out_len.clamp(1, BLOCK);
    pool.install(|| {
        values
            .par_chunks_mut(out_len.max(1))
            .enumerate()
            .flat_map(|(row, out)| {
                out.par_chunks_mut(block)
                    .enumerate()
                    .map(move |(b, o)| (row, b, o))
            })
            .for_each(|(row, b, out)| {
                let (n, o) = (row / shape.out_channels, row % shape.out_channels);
                let first_channel = n * shape.in_channels + (o / out_per_group) * in_per_group;
                let signals: Vec<&[i64]> = (0..in_per_group)
                    .map(|c| &x[(first_channel + c) * len..][..len])
                    .collect();
                let kernels: Vec<&[i64]> = (0..in_per_group)
                    .map(|c| &w[(o * in_per_group + c) * taps..][..taps])
                    .collect();
                let first = b * block;
                for (k, v) in out.iter_mut().enumerate() {
                    *v = dot(&signals, &kernels, first + k) * multiplier + biases[o];
                }
            })
    });
    Some(ScaledTensor {
        integers: Integers::Wide(ArrayD::from_shape_vec(IxDyn(output_shape), values).ok()?),
        scale: budget.scale.clone(),
    })
}
