//! FFT correlation with overlap-add (realfft's real-to-complex transforms on RustFFT).
//!
//! # The embedding
//!
//! A layer of any rank becomes a 1-D correlation: the padded input (P_1 x ... x P_D per
//! channel, padding modes applied) is read in C order, so that position p has the flat index
//! sum_d p_d R_d with R_d = prod_{e > d} P_e; the kernel tap j sits at the flat offset
//! off(j) = sum_d j_d dil_d R_d, and the stride-1 output at multi-index t is
//!
//! ```text
//! z[flat(t)] = sum_c sum_j w[o, c, j] xpad[c, flat(t) + off(j)]
//! ```
//!
//! which is the 1-D correlation of the flat signal with the flat kernel (length
//! `span` = off(k - 1) + 1, zeros between the taps). The layer's outputs are the stride-s
//! positions flat(s (.) t); the other flat positions (rows that wrap) are computed and dropped.
//!
//! # Overlap-add
//!
//! The flat signal is cut into blocks of B samples; block s (input [sB, sB + B)) contributes to
//! the outputs [sB - span + 1, sB + B). With an FFT length m >= B + span - 1 (a power of two)
//! the circular correlation of the zero-extended block with the kernel is the linear one:
//!
//! ```text
//! z_s = IFFT_m( sum_c FFT_m(x_(c,s)) (.) conj(FFT_m(w_(o,c) / m)) )
//! ```
//!
//! (the correlation theorem for real w; 1/m is folded into the kernel, exactly, as m is a
//! power of two). Block s's outputs [sB, sB + B) are its own; its first span - 1 outputs
//! (circular indices m - span + 1 .. m) are added to block s - 1's. With B >= span - 1 every
//! output is the sum of at most J = 2 blocks and the bias: y = fl(fl(z_s + b) + z_(s+1)).
//! [`FftPlan::new`] picks the m that minimises m log2(m) / B per output.
//!
//! # The normwise bound (Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 24)
//!
//! Model (Higham's Theorem 24.2): a power-of-two FFT computed in L stages of butterflies
//! a +- omega b with computed weights |omega_hat - omega| <= mu satisfies
//! ||X_hat - X||_2 <= epsilon ||X||_2 with epsilon = L eta / (1 - L eta),
//! eta = mu + gamma_4 (sqrt 2 + mu). We take L = log2 m + 1 (realfft's half-length complex FFT
//! plus its post-processing stage, itself a butterfly with weights) and mu = 16 u (RustFFT
//! computes every weight as cos/sin of -2 pi i / m in f64 and rounds it to T).
//!
//! For one output row (n, o) and one block s let X_c = FFT_m(x_(c,s)) and
//! Omega_(o,c) = ||FFT_m(w_(o,c))||_inf (exact spectra), A_c = ||X_c||_inf, and
//! Omega'_(o,c) = Omega_(o,c) + epsilon sqrt(m) ||w_(o,c)||_2 (a bound on the computed
//! spectrum's largest modulus, times m). Let N2 = sum_c ||x_(c,s)||_2 Omega'_(o,c) and
//! N1 = sum_c A_c ||w_(o,c)||_2 (C = C_in/G terms). With W~ = FFT(w / m),
//! ||FFT v||_2 = sqrt(m) ||v||_2 and ||a (.) b||_2 <= ||a||_2 ||b||_inf:
//!
//! * the spectra: ||dX||_2 <= epsilon sqrt(m) ||x||_2, ||dW~||_inf <= ||dW~||_2 <= epsilon
//!   ||w||_2 / sqrt(m), ||W~_hat||_inf <= Omega' / m;
//! * so ||X_hat W~_hat - X W~||_2 <= ||dX||_2 ||W~_hat||_inf + ||X||_inf ||dW~||_2
//!   <= (epsilon / sqrt m) (||x||_2 Omega' + A ||w||_2);
//! * the products and the channel sum per frequency, two real dot products of 2C terms:
//!   |error| <= sqrt(2) gamma_(2C) sum_c |X_hat_c| |W~_hat_c|, in 2-norm
//!   <= sqrt(2) gamma_(2C) (1 + epsilon) N2 / sqrt(m);
//! * the inverse transform (unnormalised, ||IFFT v||_2 = sqrt(m) ||v||_2):
//!   ||z_hat - IFFT(P_hat)||_2 <= epsilon sqrt(m) ||P_hat||_2, with sqrt(m) ||P||_2 <= N2.
//!
//! Together, with E = (epsilon + sqrt(2) gamma_(2C) (1 + epsilon)) N2 + epsilon N1 (the
//! spectral error times sqrt m), ||z_hat_s - z_s||_2 <= (1 + epsilon) E + epsilon N2
//! = delta2 N2 + delta1 N1 with
//!
//! ```text
//! delta2 = (1 + epsilon) (epsilon + sqrt(2) gamma_(2C) (1 + epsilon)) + epsilon
//! delta1 = (1 + epsilon) epsilon
//! ```
//!
//! and every output element, the sum of at most two blocks and the bias, satisfies
//!
//! ```text
//! |y_hat - y| <= (1 + u)^2 sum_(s covering t) (delta2 N2_s + delta1 N1_s) + gamma_2 S
//! ```
//!
//! with S = |b| + sum |w||x| (the direct magnitude). [`reference()`]
//! computes N2 and N1 from the exact inputs ([`block_magnitudes`]: the spectra A and Omega by
//! an f64 FFT, enlarged by that FFT's own bound) and expresses this bound in the oracle's form
//! gamma_(n+1) S' (see [`FftPlan::effective_terms`]). The bound is normwise (each element is
//! allowed the error of its whole block), as an FFT's errors spread over the block.

use super::kernel::{correlate_in_both, Built, Kernel, Problem, Refusal};
use super::{FloatScalar, Layer};
use crate::exact::{ExactEngine, ExactError};
use crate::geometry::ConvShape;
use crate::oracle::reference::{batched_shape, largest, scaled};
use crate::oracle::{Operands, Reduction, Reference};
use crate::parallel::{EngineThreads, SharedOutput};
use crate::scalar::{rational_from_f64, round_to_f64, Precision, Rational};
use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

/// The flat embedding and the blocking of one layer: everything the kernel and the oracle's
/// bound need, from the shapes alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FftPlan {
    /// Padded input extents P_d.
    pub padded: Vec<usize>,
    /// Flat positions per padded channel: prod P_d.
    pub length: usize,
    /// Flat offsets of the kernel taps (C order of the taps).
    pub offsets: Vec<usize>,
    /// The flat kernel's length: the last offset + 1.
    pub span: usize,
    /// Flat stride-1 outputs computed: the last needed output + 1.
    pub computed: usize,
    /// The FFT length m (a power of two).
    pub size: usize,
    /// Input samples per block: B = m - span + 1 (at least span - 1).
    pub block: usize,
    /// Blocks per channel.
    pub blocks: usize,
    /// The layer's output extents O_d.
    pub output: Vec<usize>,
    /// The flat step of output index t_d: s_d R_d.
    pub output_steps: Vec<usize>,
}

impl FftPlan {
    /// The plan of a layer whose output spatial extents are `output`.
    pub fn new(shape: &ConvShape, output: &[usize]) -> FftPlan {
        let dims = &shape.dims;
        let padded: Vec<usize> = dims
            .iter()
            .map(|d| d.pad_begin + d.input + d.pad_end)
            .collect();
        let rank = padded.len();
        let mut row = vec![1usize; rank];
        for d in (0..rank.saturating_sub(1)).rev() {
            row[d] = row[d + 1] * padded[d + 1];
        }
        let length = padded.iter().product();
        let taps: usize = dims.iter().map(|d| d.kernel).product();
        let offsets: Vec<usize> = (0..taps)
            .map(|mut j| {
                let mut offset = 0;
                for d in (0..rank).rev() {
                    offset += (j % dims[d].kernel) * dims[d].dilation * row[d];
                    j /= dims[d].kernel;
                }
                offset
            })
            .collect();
        let span = offsets.last().map_or(1, |&o| o + 1);
        let output_steps: Vec<usize> = (0..rank).map(|d| dims[d].stride * row[d]).collect();
        let computed = output
            .iter()
            .zip(&output_steps)
            .map(|(&o, &step)| o.saturating_sub(1) * step)
            .sum::<usize>()
            + 1;
        let input = computed + span - 1;
        // m: a power of two with B = m - span + 1 >= span - 1, minimising the work per output
        // (blocks m log2 m, a quarter more for m > 2^15, whose buffers leave the L2 cache: the
        // benchmarks' long signals ran faster at 2^15 than at 2^16), up to one block for the
        // whole signal. The plan depends on the shapes alone (the oracle rebuilds it).
        let smallest = (2 * span).next_power_of_two().max(16);
        let largest = (input + span).next_power_of_two().max(smallest);
        let mut size = smallest;
        let mut best = f64::INFINITY;
        let mut m = smallest;
        while m <= largest {
            let block = m - span + 1;
            let cache = if m > 1 << 15 { 1.25 } else { 1.0 };
            let cost = input.div_ceil(block) as f64 * m as f64 * (m as f64).log2() * cache;
            if cost < best * 0.98 {
                best = cost;
                size = m;
            }
            m *= 2;
        }
        let block = size - span + 1;
        FftPlan {
            padded,
            length,
            offsets,
            span,
            computed,
            size,
            block,
            blocks: input.div_ceil(block),
            output: output.to_vec(),
            output_steps,
        }
    }

    /// The flat stride-1 index of output position i (C order over the output extents).
    pub fn output_flat(&self, mut i: usize) -> usize {
        let mut flat = 0;
        for d in (0..self.output.len()).rev() {
            flat += (i % self.output[d]) * self.output_steps[d];
            i /= self.output[d];
        }
        flat
    }

    /// Whether the outputs are exactly the flat stride-1 outputs 0..computed (a 1-D layer at
    /// stride 1).
    pub fn contiguous_output(&self) -> bool {
        self.output.len() == 1 && self.output_steps[0] == 1
    }

    /// The blocks whose outputs include flat output t: its own block and, when t is among the
    /// next block's first span - 1 outputs, that one.
    pub fn blocks_of(&self, t: usize) -> impl Iterator<Item = usize> {
        let own = t / self.block;
        let next = own + 1;
        let lead = next < self.blocks && t + self.span > next * self.block;
        std::iter::once(own).chain(lead.then_some(next))
    }

    /// (delta2, delta1) of the bound for unit roundoff `u` and `channels` = C_in/G terms per
    /// frequency, evaluated in f64 and enlarged by 2^-30 relative (far above the evaluation's
    /// own rounding).
    pub fn deltas(&self, u: f64, channels: usize) -> (f64, f64) {
        let gamma = |n: f64| n * u / (1.0 - n * u);
        let epsilon = self.epsilon(u);
        let products = std::f64::consts::SQRT_2 * gamma(2.0 * channels.max(1) as f64);
        let delta2 = (1.0 + epsilon) * (epsilon + products * (1.0 + epsilon)) + epsilon;
        let delta1 = (1.0 + epsilon) * epsilon;
        let margin = 1.0 + 2f64.powi(-30);
        (delta2 * margin, delta1 * margin)
    }

    /// epsilon, the FFT's relative normwise error for unit roundoff `u`: L eta / (1 - L eta)
    /// with L = log2 m + 1 stages, eta = mu + gamma_4 (sqrt 2 + mu), mu = 16 u, enlarged by
    /// 2^-30 relative.
    pub fn epsilon(&self, u: f64) -> f64 {
        let gamma = |n: f64| n * u / (1.0 - n * u);
        let stages = (self.size as f64).log2() + 1.0;
        let mu = 16.0 * u;
        let eta = mu + gamma(4.0) * (std::f64::consts::SQRT_2 + mu);
        stages * eta / (1.0 - stages * eta) * (1.0 + 2f64.powi(-30))
    }

    /// The n for which the oracle's gamma_(n+1) = (1+u)^(n+1) - 1 >= (n+1) u covers the bound's
    /// constants: (1+u)^2 delta2, (1+u)^2 delta1 and gamma_2; then
    /// |y_hat - y| <= gamma_(n+1) (S + sum_s (N2_s + N1_s)).
    pub fn effective_terms(&self, u: f64, channels: usize) -> usize {
        let (delta2, delta1) = self.deltas(u, channels);
        let growth = (1.0 + u) * (1.0 + u) * (1.0 + 2f64.powi(-30));
        let largest = (growth * delta2.max(delta1)).max(2.0 * u / (1.0 - 2.0 * u));
        (largest / u).ceil() as usize
    }

    /// The bytes of the weight spectra: C_out (C_in/G) (m/2 + 1) complex values of `scalar`
    /// bytes.
    pub fn spectra_bytes(&self, shape: &ConvShape, scalar: usize) -> Option<usize> {
        shape
            .out_channels
            .checked_mul(shape.in_channels / shape.groups)?
            .checked_mul(self.size / 2 + 1)?
            .checked_mul(2 * scalar)
    }
}

/// The padded input (N, C_in, P...) in C order, padding modes applied; `None` when the layer
/// has no padding (the input is already that).
pub fn padded_input<T: Clone + num_traits::Zero>(
    shape: &ConvShape,
    input: &[T],
    mode: crate::geometry::PaddingMode,
) -> Option<Vec<T>> {
    let dims = &shape.dims;
    if dims.iter().all(|d| d.pad_begin == 0 && d.pad_end == 0) {
        return None;
    }
    let rank = dims.len();
    let padded: Vec<usize> = dims
        .iter()
        .map(|d| d.pad_begin + d.input + d.pad_end)
        .collect();
    let length: usize = padded.iter().product();
    let spatial: usize = dims.iter().map(|d| d.input).product();
    // Per dimension: the source index of each padded index (None in zero padding).
    let tables: Vec<Vec<Option<usize>>> = dims
        .iter()
        .zip(&padded)
        .map(|(d, &p)| {
            (0..p)
                .map(|i| mode.source_index(i as i64 - d.pad_begin as i64, d.input))
                .collect()
        })
        .collect();
    let last = rank - 1;
    let (row_len, rows) = (padded[last], length / padded[last].max(1));
    // Per padded row (every index but the last): the source row's offset, or None.
    let row_sources: Vec<Option<usize>> = (0..rows)
        .map(|mut r| {
            let (mut offset, mut scale) = (0, dims[last].input);
            for d in (0..last).rev() {
                let i = r % padded[d];
                r /= padded[d];
                offset += tables[d][i]? * scale;
                scale *= dims[d].input;
            }
            Some(offset)
        })
        .collect();
    let (begin, inner) = (dims[last].pad_begin, dims[last].input);
    let channels = shape.batch * shape.in_channels;
    let mut out = vec![T::zero(); channels * length];
    for (channel, target) in input
        .chunks(spatial.max(1))
        .take(channels)
        .zip(out.chunks_mut(length.max(1)))
    {
        for (source, row) in row_sources.iter().zip(target.chunks_mut(row_len.max(1))) {
            let Some(offset) = *source else { continue };
            let source = &channel[offset..offset + inner];
            // The interior is a copy; the padding follows the table.
            row[begin..begin + inner].clone_from_slice(source);
            for i in (0..begin).chain(begin + inner..row_len) {
                if let Some(s) = tables[last][i] {
                    row[i] = source[s].clone();
                }
            }
        }
    }
    Some(out)
}

/// N2_s + N1_s of the bound for every output row (n, o) and block s, as upper bounds
/// ((N, C_out, blocks) in C order), from the padded input `x` (N, C_in, P...) and the weight
/// `w` (C_out, C_in/G, k...) as f64 values (`epsilon_of_inputs` bounds their relative
/// rounding from the exact values, 0 when exact). The exact spectra's largest moduli A and
/// Omega come from an f64 FFT of the same length m: |computed - exact| is at most
/// epsilon_64 sqrt(m) ||v||_2 + epsilon_of_inputs ||v||_1 per frequency (the f64 FFT's
/// normwise bound, and the inputs' rounding), added to each maximum. Every sum is enlarged by
/// 2^-20 relative (f64 sums of up to 2^32 terms err by less), plus 2^-1000 per term.
pub fn block_magnitudes(
    plan: &FftPlan,
    shape: &ConvShape,
    x: &[f64],
    w: &[f64],
    epsilon_of_inputs: f64,
    u_kernel: f64,
) -> Vec<f64> {
    let m = plan.size;
    let bins = m / 2 + 1;
    let margin = 1.0 + 2f64.powi(-20);
    let tiny = 2f64.powi(-1000);
    let epsilon64 = plan.epsilon(f64::EPSILON / 2.0);
    let epsilon = plan.epsilon(u_kernel);
    let root = (m as f64).sqrt();
    let mut planner = RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(m);
    // (||v||_2, largest spectral modulus) of a signal placed at the front of m samples.
    let measure = |values: &mut dyn Iterator<Item = (usize, f64)>| -> (f64, f64) {
        let mut real = vec![0.0f64; m];
        let (mut one, mut two, mut count) = (0.0f64, 0.0f64, 0usize);
        for (i, v) in values {
            real[i] = v;
            one += v.abs();
            two += v * v;
            count += 1;
        }
        let mut spectrum = vec![Complex::new(0.0, 0.0); bins];
        forward
            .process(&mut real, &mut spectrum)
            .expect("buffer lengths from the plan");
        let largest = spectrum.iter().map(|c| c.norm()).fold(0.0f64, f64::max);
        let norm2 = two.sqrt() * margin + count as f64 * tiny;
        let slack = epsilon64 * root * norm2 + epsilon_of_inputs * one * margin;
        (norm2, (largest + slack) * margin + tiny)
    };
    let taps = plan.offsets.len();
    let in_per_group = shape.in_channels / shape.groups;
    // (||w||_2, Omega') per (o, c).
    let w_measures: Vec<(f64, f64)> = w
        .chunks(taps.max(1))
        .map(|k| {
            let (norm2, omega) = measure(&mut plan.offsets.iter().copied().zip(k.iter().copied()));
            (norm2, (omega + epsilon * root * norm2) * margin)
        })
        .collect();
    // (||x||_2, A) per (n, c, block).
    let channels = shape.batch * shape.in_channels;
    let x_measures: Vec<(f64, f64)> = x
        .chunks(plan.length.max(1))
        .take(channels)
        .flat_map(|signal| {
            (0..plan.blocks)
                .map(move |s| {
                    let start = (s * plan.block).min(signal.len());
                    let end = (start + plan.block).min(signal.len());
                    (start, end)
                })
                .map(|(start, end)| &signal[start..end])
                .collect::<Vec<_>>()
        })
        .map(|block| measure(&mut block.iter().copied().enumerate()))
        .collect();
    let out_per_group = shape.out_channels / shape.groups;
    let mut out = vec![0.0f64; shape.batch * shape.out_channels * plan.blocks];
    for n in 0..shape.batch {
        for o in 0..shape.out_channels {
            let g = o / out_per_group.max(1);
            for s in 0..plan.blocks {
                let mut total = 0.0;
                for c in 0..in_per_group {
                    let channel = n * shape.in_channels + g * in_per_group + c;
                    let (x2, a) = x_measures[channel * plan.blocks + s];
                    let (w2, omega) = w_measures[o * in_per_group + c];
                    total += x2 * omega + a * w2;
                }
                out[(n * shape.out_channels + o) * plan.blocks + s] = total * margin;
            }
        }
    }
    out
}

/// The most memory the FFT algorithm's weight spectra may take: 4 GiB.
pub const FFT_SPECTRA_LIMIT: usize = 1 << 32;

/// FFT correlation with overlap-add as an algorithm: any layer whose weight spectra fit in
/// [`FFT_SPECTRA_LIMIT`] (strided layers compute every stride-1 output and keep the strided
/// ones), judged by its normwise bound ([`reference()`]).
#[derive(Debug, Clone, Copy)]
pub struct Fft;

impl Kernel for Fft {
    fn name(&self) -> &'static str {
        "fft"
    }
    fn accepts(&self, problem: &Problem) -> Result<(), Refusal> {
        let plan = FftPlan::new(&problem.shape, &problem.output);
        let bytes = plan.spectra_bytes(&problem.shape, problem.element_bytes);
        if bytes.is_some_and(|b| b <= FFT_SPECTRA_LIMIT) {
            return Ok(());
        }
        Err(Refusal {
            algorithm: self.name(),
            reason: format!(
                "needs weight spectra within {FFT_SPECTRA_LIMIT} bytes, and this layer's would take {} (FFT length {}): use another algorithm",
                bytes.map_or_else(|| "more than 2^64".into(), |b| b.to_string()),
                plan.size
            ),
        })
    }
    correlate_in_both!(|_this, layer| correlate(layer));
    fn reference(&self, engine: &ExactEngine, layer: Operands, unit: Precision) -> Built {
        reference(engine, layer, unit.accumulator_unit())
    }
    fn own_bound(&self) -> Option<&'static str> {
        Some("convspec's FFT overlap-add kernel: its normwise bound")
    }
}

/// The layer's output (N, C_out, O...) in C order by FFT correlation with overlap-add.
pub fn correlate<T: FloatScalar>(layer: &Layer<'_, T>) -> Vec<T> {
    let s = &layer.shape;
    let plan = FftPlan::new(s, &layer.output_shape[2..]);
    // 1-D layers read their padding block by block ([`fill_block`]); others pad once.
    let padded = if s.dims.len() == 1 {
        None
    } else {
        padded_input(s, &layer.input, layer.mode)
    };
    let (x, reader): (&[T], Option<(usize, usize)>) = match &padded {
        Some(values) => (values, None),
        None if s.dims.len() == 1 => (&layer.input, Some((s.dims[0].pad_begin, s.dims[0].input))),
        None => (&layer.input, None),
    };
    let channel_len = if reader.is_some() {
        s.dims[0].input
    } else {
        plan.length
    };
    let (m, block, span) = (plan.size, plan.block, plan.span);
    let bins = m / 2 + 1;
    let (in_per_group, out_per_group) = (s.in_channels / s.groups, s.out_channels / s.groups);
    let (forward, inverse) = {
        // A poisoned lock only means another thread panicked while planning: the cached plans
        // are still whole (each is inserted complete).
        let mut planner = T::fft_planner()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (planner.plan_fft_forward(m), planner.plan_fft_inverse(m))
    };
    // conj(FFT(w_(o,c) / m)) per (o, c): the kernel's flat form scaled by 1/m (exact).
    let scale = <T as FloatScalar>::from_f64(1.0 / m as f64);
    let taps = plan.offsets.len();
    let spectra: Vec<Complex<T>> = {
        let mut all =
            vec![Complex::new(T::zero(), T::zero()); s.out_channels * in_per_group * bins];
        all.par_chunks_mut(bins)
            .enumerate()
            .engine_threads()
            .for_each_init(
                || (vec![T::zero(); m], forward.make_scratch_vec()),
                |(flat, scratch), (oc, spectrum)| {
                    flat.iter_mut().for_each(|v| *v = T::zero());
                    let w = &layer.weight[oc * taps..][..taps];
                    for (&offset, &value) in plan.offsets.iter().zip(w) {
                        flat[offset] = value * scale;
                    }
                    forward
                        .process_with_scratch(flat, spectrum, scratch)
                        .expect("buffer lengths from the plan");
                    spectrum.iter_mut().for_each(|v| *v = v.conj());
                },
            );
        all
    };
    // Stride-1 flat outputs z (N, C_out, computed), written by disjoint blocks, and each block's
    // first span - 1 outputs (its lead, added to the previous block's) kept apart.
    let computed = plan.computed;
    let direct_output = plan.contiguous_output();
    let mut z = vec![T::zero(); s.batch * s.out_channels * computed];
    let lead_len = span - 1;
    let mut leads = vec![T::zero(); s.batch * s.out_channels * plan.blocks * lead_len];
    {
        let z_shared = SharedOutput::new(&mut z);
        let lead_shared = SharedOutput::new(&mut leads);
        let jobs: Vec<(usize, usize, usize)> = (0..s.batch)
            .flat_map(|n| (0..s.groups).flat_map(move |g| (0..plan.blocks).map(move |b| (n, g, b))))
            .collect();
        jobs.into_par_iter().engine_threads().for_each_init(
            || {
                (
                    vec![T::zero(); m],
                    vec![Complex::new(T::zero(), T::zero()); in_per_group * bins],
                    vec![Complex::new(T::zero(), T::zero()); bins],
                    vec![
                        Complex::new(T::zero(), T::zero());
                        forward.get_scratch_len().max(inverse.get_scratch_len())
                    ],
                )
            },
            |(real, x_spectra, product, scratch), (n, g, b)| {
                let start = b * block;
                let end = (start + block).min(plan.length);
                for c in 0..in_per_group {
                    let channel = n * s.in_channels + g * in_per_group + c;
                    let source = &x[channel * channel_len..][..channel_len];
                    let count = end.saturating_sub(start);
                    match reader {
                        Some((begin, _)) => {
                            fill_block(source, begin, layer.mode, start, &mut real[..count])
                        }
                        None => real[..count].copy_from_slice(&source[start..end]),
                    }
                    real[count..].iter_mut().for_each(|v| *v = T::zero());
                    forward
                        .process_with_scratch(real, &mut x_spectra[c * bins..][..bins], scratch)
                        .expect("buffer lengths from the plan");
                }
                for o in 0..out_per_group {
                    let out_channel = g * out_per_group + o;
                    let weights =
                        &spectra[out_channel * in_per_group * bins..][..in_per_group * bins];
                    multiply_accumulate(product, x_spectra, weights, bins);
                    // Real signals: the DC and Nyquist bins are real.
                    product[0].im = T::zero();
                    product[bins - 1].im = T::zero();
                    inverse
                        .process_with_scratch(product, real, scratch)
                        .expect("buffer lengths from the plan");
                    let row = (n * s.out_channels + out_channel) * computed;
                    if start < computed {
                        let own = block.min(computed - start);
                        let bias = layer.bias[out_channel];
                        // SAFETY: outputs [start, start + own) of this row belong to block b.
                        let cells = unsafe { z_shared.range(row + start, own) };
                        for (cell, &v) in cells.iter_mut().zip(&real[..own]) {
                            *cell = v + bias;
                        }
                    }
                    if lead_len > 0 {
                        let at = ((n * s.out_channels + out_channel) * plan.blocks + b) * lead_len;
                        // SAFETY: this lead belongs to block b of this row.
                        let cells = unsafe { lead_shared.range(at, lead_len) };
                        cells.copy_from_slice(&real[m - lead_len..]);
                    }
                }
            },
        );
    }
    // Overlap-add: block b's lead covers outputs [bB - span + 1, bB) of block b - 1 (disjoint
    // for different b, as B >= span - 1), added after the bias: y = fl(fl(z_s + b) + z_(s+1)).
    let positions = layer.positions;
    if lead_len > 0 {
        let z_shared = SharedOutput::new(&mut z);
        let seams: Vec<(usize, usize)> = (0..s.batch * s.out_channels)
            .flat_map(|r| (1..plan.blocks).map(move |b| (r, b)))
            .filter(|&(_, b)| b * block - lead_len < computed)
            .collect();
        seams.into_par_iter().engine_threads().for_each(|(r, b)| {
            let first = b * block - lead_len;
            let len = lead_len.min(computed - first);
            let lead = &leads[(r * plan.blocks + b) * lead_len..][..len];
            // SAFETY: outputs [first, first + len) of row r take the lead of block b only.
            let cells = unsafe { z_shared.range(r * computed + first, len) };
            for (v, &l) in cells.iter_mut().zip(lead) {
                *v += l;
            }
        });
    }
    if direct_output {
        return z;
    }
    let mut out = vec![T::zero(); s.batch * s.out_channels * positions];
    out.par_chunks_mut(positions.max(1))
        .zip(z.par_chunks(computed.max(1)))
        .engine_threads()
        .for_each(|(dst, src)| {
            for (i, d) in dst.iter_mut().enumerate() {
                *d = src[plan.output_flat(i)];
            }
        });
    out
}

/// dst[i] = the padded 1-D signal at padded index start + i: the signal `source` with
/// `begin` positions of padding before it in `mode` (zeros, reflect, replicate, circular).
fn fill_block<T: FloatScalar>(
    source: &[T],
    begin: usize,
    mode: crate::geometry::PaddingMode,
    start: usize,
    dst: &mut [T],
) {
    let len = source.len();
    // The interior: padded indices [begin, begin + len).
    let lo = begin.clamp(start, start + dst.len());
    let hi = (begin + len).clamp(start, start + dst.len());
    if lo < hi {
        dst[lo - start..hi - start].copy_from_slice(&source[lo - begin..hi - begin]);
    }
    for p in (start..lo).chain(hi..start + dst.len()) {
        dst[p - start] = mode
            .source_index(p as i64 - begin as i64, len)
            .map_or_else(T::zero, |i| source[i]);
    }
}

/// product[f] = sum_c x[c][f] w[c][f] (w already conjugated), over `bins` frequencies.
fn multiply_accumulate<T: FloatScalar>(
    product: &mut [Complex<T>],
    x: &[Complex<T>],
    w: &[Complex<T>],
    bins: usize,
) {
    product
        .iter_mut()
        .for_each(|v| *v = Complex::new(T::zero(), T::zero()));
    for (xc, wc) in x.chunks(bins).zip(w.chunks(bins)) {
        for ((p, a), b) in product.iter_mut().zip(xc).zip(wc) {
            p.re += a.re * b.re - a.im * b.im;
            p.im += a.re * b.im + a.im * b.re;
        }
    }
}

/// The reference of FFT correlation with overlap-add (`crate::float::fft`, whose module
/// documentation derives the bound): y exact as for [`Reference::correlate`]; the magnitude
/// is S + sum_(blocks s covering the element) (N2_s + N1_s) over the blocks of the padded,
/// flattened input ([`block_magnitudes`]), and n is
/// [`FftPlan::effective_terms`](crate::float::fft::FftPlan::effective_terms) for the
/// accumulator's unit roundoff `u`, so that the contract's gamma_(n+1) times that
/// magnitude is the normwise bound. The norms and spectra are evaluated in f64 from the
/// exact inputs and enlarged to stay upper bounds.
///
/// Underflow: a generous count of 8 (C + 1) m (log2 m + 3) (1 + m (max|x| + max|w|))
/// underflow units, for the transforms' products.
pub fn reference(
    engine: &ExactEngine,
    layer: Operands<'_>,
    u: f64,
) -> Result<Reference, ExactError> {
    let (input, weight, bias, geometry) = (layer.input, layer.weight, layer.bias, layer.geometry);
    let base = Reference::correlate(engine, input, weight, bias, geometry)?;
    let batched = batched_shape(input, weight);
    let shape = ConvShape::new(&batched, weight.shape(), bias.map(|b| b.len()), geometry)?;
    let output = shape.output_spatial();
    let plan = FftPlan::new(&shape, &output);
    // The inputs rounded to f64 (relative error at most 2^-53 each; 2^-52 covers the
    // subnormal range's absolute part for these magnitudes' purpose only through `tiny`).
    let x: Vec<f64> = input.iter().map(round_to_f64).collect();
    let padded = padded_input(&shape, &x, geometry.padding_mode);
    let x = padded.as_deref().unwrap_or(&x);
    let w: Vec<f64> = weight.iter().map(round_to_f64).collect();
    let in_per_group = shape.in_channels / shape.groups;
    let block_norms = block_magnitudes(&plan, &shape, x, &w, f64::EPSILON, u);
    let margin = 1.0 + 2f64.powi(-20);
    let positions: usize = output.iter().product();
    let mut magnitude = base.magnitude.to_rationals();
    for (i, value) in magnitude.iter_mut().enumerate() {
        let (row, position) = (i / positions.max(1), i % positions.max(1));
        let t = plan.output_flat(position);
        let extra: f64 = plan
            .blocks_of(t)
            .map(|s| block_norms[row * plan.blocks + s])
            .sum::<f64>()
            * margin;
        *value += rational_from_f64(extra).map_err(|_| {
            ExactError::TooLarge(
                "the FFT bound's norms overflow f64: the inputs are too large for an FFT bound"
                    .into(),
            )
        })?;
    }
    let m = plan.size as i64;
    let stages = i64::from(plan.size.trailing_zeros()) + 3;
    let c = in_per_group as i64;
    let taps: usize = shape.kernel().iter().product();
    let q = |v: i64| Rational::from_integer(v.into());
    let operands = largest(input) + largest(weight);
    // proofs/oracle.md O6: the cut's absolute errors as for the n = C k real products,
    // doubled for the transforms' normwise growth; the transforms' underflow as counted.
    let products = q(2 * c * taps as i64);
    Ok(Reference {
        exact: base.exact,
        magnitude: crate::oracle::reference::Magnitude::exact(scaled(&magnitude)),
        reduction: Reduction {
            terms: plan.effective_terms(u, in_per_group),
            factors: 2,
            bias: bias.is_some(),
            cut_weight: &products * &operands + q(i64::from(bias.is_some())),
            cut_products: products,
            underflow_ops: q(8 * (c + 1) * m * stages) * (q(1) + q(m) * operands),
            matrix_unit: false,
        },
        selection: false,
        inputs_in_format: base.inputs_in_format,
    })
}
