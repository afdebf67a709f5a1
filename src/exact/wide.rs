//! Exact products of integers up to 51 bits in unsigned 64-bit lanes: the plan [`Plan::Wide`](super::engine::Plan::Wide).
//!
//! With |x| < 2^bx and |w| < 2^bw, bx, bw <= 51, the offset operands X = x + 2^bx and
//! W = w + 2^bw are integers in [1, 2^52). Each product X W < 2^104 is cut into its low and
//! high 52 bits, lo(X W) = X W mod 2^52 and hi(X W) = floor(X W / 2^52), summed in two unsigned
//! 64-bit accumulators per output: AVX-512 IFMA's `vpmadd52luq` and `vpmadd52huq` do exactly
//! that, eight lanes per instruction. Over a chunk of at most [`CHUNK`] terms the low sum stays
//! below (CHUNK + 1) 2^52 <= 2^64 (the + 1 is the carry-in, below 2^52 after normalisation);
//! between chunks the carry floor(lo / 2^52) moves into the high sum. Every high sum is at most
//! floor(S / 2^52) for S = sum X W < 2^116 ([`fits`]), so below 2^64, and S = hi 2^52 + lo.
//! Then (`proofs/exact.md`, E9)
//!
//! ```text
//! sum x w = S - 2^bw sum X - 2^bx sum W + n 2^(bx + bw)
//! ```
//!
//! with sum X the column sums of the gathered offset input (a padding zero is gathered as
//! X = 2^bx), sum W the row sums of the offset weight and n the reduction length. A column
//! of the gathered input holds, per tap, one input position's values over the group's
//! channels, so sum X = sum over taps of C(source), with C(s) the offset input summed over
//! the group's channels at position s (in_channels/groups 2^bx where the tap reads padding).
//!
//! Cost: two 64-bit multiply-adds per product (the f64 limb plans need four for the 44- and
//! 42-bit integers of float32 data at 576 terms), plus one addition per input value for the
//! channel sums and one per tap and output position for the column sums; memory for the
//! channel sums, 16 bytes per (batch element, group, input position).

use super::engine::{gather, Budget, GatherProblem, Operands};
use super::scaled::{Integers, ScaledTensor};
use crate::parallel::SharedOutput;
use crate::scalar::{f64_from_format_bits, round_to_bits, FloatFormat, Rational};
use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

/// Reduction terms between two normalisations of the low sums.
pub const CHUNK: usize = 4095;

/// The low 52 bits.
const LOW: u64 = (1 << 52) - 1;

/// Whether the plan applies: operands below 2^51 and S = sum X W below 2^116
/// (bx + bw + 2 + ceil(log2 n) <= 116), results below 2^126 (i128 arithmetic).
pub fn fits(x_bits: u64, w_bits: u64, length: usize, bound_bits: u64) -> bool {
    let log2_n = u64::from(usize::BITS - length.max(1).saturating_sub(1).leading_zeros());
    x_bits <= 51 && w_bits <= 51 && x_bits + w_bits + 2 + log2_n <= 116 && bound_bits <= 126
}

/// A micro-kernel of 52-bit products: lo\[i, j\] += sum_l lo(A\[i, l\] B\[l, j\]) and
/// hi\[i, j\] += sum_l hi(A\[i, l\] B\[l, j\]) over an mr x nr block.
#[derive(Clone, Copy)]
pub struct WideKernel {
    /// Rows of A per panel.
    pub mr: usize,
    /// Columns of B per panel.
    pub nr: usize,
    /// The instruction set, for reports.
    pub name: &'static str,
    run: unsafe fn(usize, *const u64, *const u64, *mut u64, *mut u64, usize),
}

impl std::fmt::Debug for WideKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WideKernel({}, {}x{})", self.name, self.mr, self.nr)
    }
}

impl PartialEq for WideKernel {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl WideKernel {
    /// The AVX-512 IFMA kernel when this processor has it (the plan is chosen only then: the
    /// portable kernel is slower than the f64 limb plans).
    pub fn detect() -> Option<WideKernel> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512ifma")
            {
                return Some(WideKernel::IFMA);
            }
        }
        None
    }

    /// Portable Rust (u128 products), MR = 4, NR = 8.
    pub const PORTABLE: WideKernel = WideKernel {
        mr: 4,
        nr: 8,
        name: "portable",
        run: portable_4x8,
    };

    /// AVX-512 IFMA, MR = 4, NR = 24.
    #[cfg(target_arch = "x86_64")]
    pub const IFMA: WideKernel = WideKernel {
        mr: 4,
        nr: 24,
        name: "avx512ifma",
        run: ifma_4x24,
    };

    /// The block update over `depth` steps, with `a_panel[l * mr + i]` = A\[i, l\] and
    /// `b_panel[l * nr + j]` = B\[l, j\], every entry below 2^52.
    ///
    /// # Panics
    /// When a slice is too short for the block.
    pub fn multiply_add(
        &self,
        depth: usize,
        a_panel: &[u64],
        b_panel: &[u64],
        (lo, hi): (&mut [u64], &mut [u64]),
        ldc: usize,
    ) {
        assert!(a_panel.len() >= depth * self.mr);
        assert!(b_panel.len() >= depth * self.nr);
        let need = (self.mr - 1) * ldc + self.nr;
        assert!(ldc >= self.nr && lo.len() >= need && hi.len() >= need);
        // SAFETY: the slices cover every element the kernel reads and writes (checked above),
        // and the kernel was chosen for an instruction set this processor has.
        unsafe {
            (self.run)(
                depth,
                a_panel.as_ptr(),
                b_panel.as_ptr(),
                lo.as_mut_ptr(),
                hi.as_mut_ptr(),
                ldc,
            )
        }
    }
}

/// # Safety
/// `a` holds depth*4, `b` depth*8 values below 2^52; `lo` and `hi` cover 4 rows of 8 at
/// stride ldc.
unsafe fn portable_4x8(
    depth: usize,
    a: *const u64,
    b: *const u64,
    lo: *mut u64,
    hi: *mut u64,
    ldc: usize,
) {
    let a = std::slice::from_raw_parts(a, depth * 4);
    let b = std::slice::from_raw_parts(b, depth * 8);
    let mut low = [[0u64; 8]; 4];
    let mut high = [[0u64; 8]; 4];
    for l in 0..depth {
        for i in 0..4 {
            let ai = u128::from(a[l * 4 + i]);
            for j in 0..8 {
                let product = ai * u128::from(b[l * 8 + j]);
                // Wrapping, as the instructions do (the plan's bound keeps the sums below
                // 2^64; only the tests' negative control exceeds it).
                low[i][j] = low[i][j].wrapping_add(product as u64 & LOW);
                high[i][j] = high[i][j].wrapping_add((product >> 52) as u64);
            }
        }
    }
    for i in 0..4 {
        for j in 0..8 {
            *lo.add(i * ldc + j) = (*lo.add(i * ldc + j)).wrapping_add(low[i][j]);
            *hi.add(i * ldc + j) = (*hi.add(i * ldc + j)).wrapping_add(high[i][j]);
        }
    }
}

/// # Safety
/// AVX-512F and IFMA must be present; `a` holds depth*4, `b` depth*24 values below 2^52;
/// `lo` and `hi` cover 4 rows of 24 at stride ldc.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn ifma_4x24(
    depth: usize,
    a: *const u64,
    b: *const u64,
    lo: *mut u64,
    hi: *mut u64,
    ldc: usize,
) {
    use std::arch::x86_64::*;
    let mut low = [[_mm512_setzero_si512(); 3]; 4];
    let mut high = [[_mm512_setzero_si512(); 3]; 4];
    for l in 0..depth {
        let bp = b.add(l * 24) as *const __m512i;
        let b0 = _mm512_loadu_si512(bp);
        let b1 = _mm512_loadu_si512(bp.add(1));
        let b2 = _mm512_loadu_si512(bp.add(2));
        for i in 0..4 {
            let ai = _mm512_set1_epi64(*a.add(l * 4 + i) as i64);
            low[i][0] = _mm512_madd52lo_epu64(low[i][0], ai, b0);
            low[i][1] = _mm512_madd52lo_epu64(low[i][1], ai, b1);
            low[i][2] = _mm512_madd52lo_epu64(low[i][2], ai, b2);
            high[i][0] = _mm512_madd52hi_epu64(high[i][0], ai, b0);
            high[i][1] = _mm512_madd52hi_epu64(high[i][1], ai, b1);
            high[i][2] = _mm512_madd52hi_epu64(high[i][2], ai, b2);
        }
    }
    for i in 0..4 {
        for j in 0..3 {
            let p = lo.add(i * ldc + 8 * j) as *mut __m512i;
            _mm512_storeu_si512(p, _mm512_add_epi64(_mm512_loadu_si512(p), low[i][j]));
            let p = hi.add(i * ldc + 8 * j) as *mut __m512i;
            _mm512_storeu_si512(p, _mm512_add_epi64(_mm512_loadu_si512(p), high[i][j]));
        }
    }
}

/// A (m x k, row-major) packed in panels of `mr` rows (the last padded with zero rows), each
/// k-major over columns k0..k1.
fn pack_a(mr: usize, a: &[u64], m: usize, k: usize, (k0, k1): (usize, usize)) -> Vec<u64> {
    let panels = m.div_ceil(mr);
    let depth = k1 - k0;
    let mut packed = vec![0u64; panels * mr * depth];
    for (row, values) in a.chunks(k).take(m).enumerate() {
        let block = &mut packed[(row / mr) * mr * depth..][..mr * depth];
        for (l, &value) in values[k0..k1].iter().enumerate() {
            block[l * mr + row % mr] = value;
        }
    }
    packed
}

/// The offset integers v + 2^bits of a tensor with |v| < 2^bits <= 2^51, in C order.
fn offset(tensor: &ScaledTensor, bits: u64) -> Vec<u64> {
    tensor
        .offset_u64(bits)
        .expect("fits() bounds the integers below 2^51")
}

/// The offset integer v + 2^bx of an input integer |v| < 2^bx, given `zero` = 2^bx (the
/// padding's offset value): in [1, 2^(bx + 1)).
fn offset_narrow(v: i64, zero: u64) -> u64 {
    (v + zero as i64) as u64
}

/// The input as the gather reads it: i64 integers offset as they are gathered (no copy of the
/// input), or offset integers made beforehand from another storage.
enum Input<'a> {
    Narrow(&'a [i64]),
    Offset(Vec<u64>),
}

/// The layer exactly by the plan [`Plan::Wide`](super::engine::Plan::Wide) (the caller checked [`fits`]).
pub fn run(
    problem: &GatherProblem<'_>,
    operands: &Operands<'_>,
    budget: &Budget,
    kernel: WideKernel,
    pool: &rayon::ThreadPool,
) -> ScaledTensor {
    run_in_chunks(problem, operands, budget, kernel, pool, CHUNK)
}

/// The layer by the plan [`Plan::Wide`](super::engine::Plan::Wide), each value y = Y scale
/// correctly rounded into `format` (to nearest, ties to even; overflow to infinity) as it is
/// made and handed to `map`, in C order: the exact integers Y are never held.
pub fn run_rounded<T: Copy + Default + Send + Sync>(
    problem: &GatherProblem<'_>,
    operands: &Operands<'_>,
    budget: &Budget,
    kernel: WideKernel,
    pool: &rayon::ThreadPool,
    format: FloatFormat,
    map: &(impl Fn(f64) -> T + Sync),
) -> ArrayD<T> {
    // A power-of-two scale (float data) rounds the integers directly; another (rationals over
    // their common denominator) through the exact value.
    let dyadic = super::scaled::power_of_two_exponent(&budget.scale)
        .map(|k| (k, super::scaled::i128_rounding(k, format)));
    let finish = |values: &[i128], out: &mut [T]| {
        // A row a block at a time: rounded into `rounded`, then mapped.
        let mut rounded = [0.0; 64];
        for (values, out) in values.chunks(64).zip(out.chunks_mut(64)) {
            let rounded = &mut rounded[..values.len()];
            match &dyadic {
                Some((k, _)) if crate::scalar::round_scaled_into(values, *k, format, rounded) => {}
                Some((_, round)) => {
                    for (r, &v) in rounded.iter_mut().zip(values) {
                        *r = round(v);
                    }
                }
                None => {
                    for (r, &v) in rounded.iter_mut().zip(values) {
                        let exact = Rational::from_integer(v.into()) * &budget.scale;
                        *r = f64_from_format_bits(round_to_bits(&exact, format), format);
                    }
                }
            }
            for (o, &r) in out.iter_mut().zip(rounded.iter()) {
                *o = map(r);
            }
        }
    };
    let values = run_with(problem, operands, budget, kernel, pool, CHUNK, finish);
    ArrayD::from_shape_vec(IxDyn(&problem.output_shape), values).expect("shape")
}

/// [`run`] with the low sums normalised every `chunk` terms (exact for chunk <= [`CHUNK`];
/// longer chunks are the negative control of the tests).
pub(super) fn run_in_chunks(
    problem: &GatherProblem<'_>,
    operands: &Operands<'_>,
    budget: &Budget,
    kernel: WideKernel,
    pool: &rayon::ThreadPool,
    chunk: usize,
) -> ScaledTensor {
    let values = run_with(problem, operands, budget, kernel, pool, chunk, |v, out| {
        out.copy_from_slice(v)
    });
    ScaledTensor {
        integers: Integers::Wide(
            ArrayD::from_shape_vec(IxDyn(&problem.output_shape), values).expect("shape"),
        ),
        scale: budget.scale.clone(),
    }
}

/// The layer's integers Y, handed to `finish` a row of a tile at a time as they are made
/// (`finish(values, out)` writes one output per value), in C order.
fn run_with<T: Copy + Default + Send + Sync>(
    problem: &GatherProblem<'_>,
    operands: &Operands<'_>,
    budget: &Budget,
    kernel: WideKernel,
    pool: &rayon::ThreadPool,
    chunk: usize,
    finish: impl Fn(&[i128], &mut [T]) + Sync,
) -> Vec<T> {
    let p = problem;
    let (mr, nr) = (kernel.mr, kernel.nr);
    let in_per_group = p.in_channels / p.groups;
    let out_per_group = p.out_channels / p.groups;
    let depth = in_per_group * p.map.taps;
    let (bx, bw) = (budget.x_bits, budget.w_bits);
    let x = match &operands.input.integers {
        Integers::Narrow(a) if a.is_standard_layout() => {
            Input::Narrow(a.as_slice().expect("standard layout"))
        }
        _ => Input::Offset(offset(operands.input, bx)),
    };
    let w = offset(operands.weight, bw);
    let chunks: Vec<(usize, usize)> = (0..depth)
        .step_by(chunk)
        .map(|k0| (k0, (k0 + chunk).min(depth)))
        .collect();
    // Per group and chunk, the group's offset weight rows packed.
    let packed: Vec<Vec<Vec<u64>>> = (0..p.groups)
        .map(|g| {
            let rows = &w[g * out_per_group * depth..(g + 1) * out_per_group * depth];
            chunks
                .iter()
                .map(|&chunk| pack_a(mr, rows, out_per_group, depth, chunk))
                .collect()
        })
        .collect();
    let n = depth as i128;
    let (ox, ow) = (1i128 << bx, 1i128 << bw);
    let multiplier = i128::try_from(&budget.multiplier_xw).expect("bound_bits <= 126");
    // Per output channel: n 2^(bx + bw) - 2^bx sum W, and the bias times its multiplier.
    let constant: Vec<i128> = (0..p.out_channels)
        .map(|o| {
            let row_sum: i128 = w[o * depth..(o + 1) * depth]
                .iter()
                .map(|&v| i128::from(v))
                .sum();
            n * ox * ow - ox * row_sum
        })
        .collect();
    let biases: Vec<i128> = (0..p.out_channels)
        .map(|o| {
            operands.bias.map_or(0, |b| {
                i128::try_from(&(b.integer(o) * &budget.multiplier_b)).expect("bound_bits <= 126")
            })
        })
        .collect();

    // Tiles of about 2^17 gathered values (the B panel stays in L2), and with several threads
    // at least 16 tiles per thread over the layer, so that the last tiles balance the threads.
    let threads = pool.current_num_threads();
    let per_thread = if threads > 1 {
        (p.batch * p.groups * p.map.positions / (16 * threads) / nr).max(1) * nr
    } else {
        usize::MAX
    };
    let width = ((((1usize << 17) / depth.max(1)) / nr).max(1) * nr)
        .min(per_thread)
        .min(p.map.positions.div_ceil(nr).max(1) * nr);
    let tiles: Vec<(usize, usize, usize, usize)> = (0..p.batch)
        .flat_map(|b| (0..p.groups).map(move |g| (b, g)))
        .flat_map(|(b, g)| {
            (0..p.map.positions)
                .step_by(width)
                .map(move |t0| (b, g, t0, (t0 + width).min(p.map.positions)))
        })
        .collect();
    let sums = channel_sums(p, &x, ox as u64, pool);
    // A tap that reads padding adds the offset zero 2^bx once per channel of the group.
    let padding = in_per_group as u128 * ox as u128;
    let outputs: usize = p.output_shape.iter().product();
    let mut values = vec![T::default(); outputs];
    let shared = SharedOutput::new(&mut values);
    let rows = out_per_group.div_ceil(mr) * mr;
    let ldc_max = width.div_ceil(nr) * nr;
    pool.install(|| {
        crate::parallel::for_each_item(
            &tiles,
            || {
                (
                    vec![0u64; ldc_max * chunks.first().map_or(0, |c| c.1 - c.0)],
                    vec![0u64; rows * ldc_max],
                    vec![0u64; rows * ldc_max],
                    vec![0i128; ldc_max],
                    vec![0i128; ldc_max],
                )
            },
            |(b, lo, hi, column_sums, row), (batch, g, t0, t1)| {
                let cols = t1 - t0;
                let panels = cols.div_ceil(nr);
                let ldc = panels * nr;
                let map = p.map.tile(t0, t1);
                let at = batch * p.in_channels * p.spatial;
                let (lo, hi) = (&mut lo[..rows * ldc], &mut hi[..rows * ldc]);
                lo.fill(0);
                hi.fill(0);
                // sum X per column: over the taps, the channel sums at the tap's source, or
                // `padding`.
                let sums = &sums[(batch * p.groups + g) * p.spatial..][..p.spatial];
                column_sums[..cols].fill(0);
                for sources in map.chunks(cols) {
                    for (total, &s) in column_sums[..cols].iter_mut().zip(sources) {
                        *total += sums.get(s as usize).map_or(padding, |&v| v) as i128;
                    }
                }
                for (index, &(k0, k1)) in chunks.iter().enumerate() {
                    let d = k1 - k0;
                    let b = &mut b[..panels * d * nr];
                    let zero = ox as u64;
                    let (channels, chunk) = (g * in_per_group, (k0, k1));
                    match &x {
                        Input::Narrow(x) => {
                            let offset = |v: i64| offset_narrow(v, zero);
                            gather(
                                b,
                                &x[at..],
                                offset,
                                zero,
                                &map,
                                p,
                                channels,
                                chunk,
                                cols,
                                nr,
                            );
                        }
                        Input::Offset(x) => {
                            gather(b, &x[at..], |v| v, zero, &map, p, channels, chunk, cols, nr);
                        }
                    }
                    multiply(
                        kernel,
                        out_per_group,
                        d,
                        &packed[g][index],
                        b,
                        panels,
                        lo,
                        hi,
                        ldc,
                    );
                    if index + 1 < chunks.len() {
                        for (l, h) in lo.iter_mut().zip(hi.iter_mut()) {
                            *h += *l >> 52;
                            *l &= LOW;
                        }
                    }
                }
                // 2^bw sum X per column, once per tile (the same for every output channel).
                for sum_x in column_sums[..cols].iter_mut() {
                    *sum_x <<= bw;
                }
                for o in 0..out_per_group {
                    let channel = g * out_per_group + o;
                    let at = (batch * p.out_channels + channel) * p.map.positions + t0;
                    // SAFETY: outputs (batch, channel, t0..t1) belong to this tile only.
                    let out = unsafe { shared.range(at, cols) };
                    let (lo, hi) = (&lo[o * ldc..][..cols], &hi[o * ldc..][..cols]);
                    let constant = constant[channel];
                    let row = &mut row[..cols];
                    for (((v, &l), &h), &offset_x) in
                        row.iter_mut().zip(lo).zip(hi).zip(&*column_sums)
                    {
                        let s = (i128::from(h) << 52) + i128::from(l);
                        let sum_xw = s - offset_x + constant;
                        *v = if multiplier == 1 {
                            sum_xw + biases[channel]
                        } else {
                            sum_xw * multiplier + biases[channel]
                        };
                    }
                    finish(row, out);
                }
            },
        )
    });
    values
}

/// Per batch element and group, the offset input X = x + 2^bx summed over the group's
/// channels at each input position, in C order (batch, group, position): the column of the
/// gathered input for output position c sums, over the taps, the channel sums at the tap's
/// source, so that sum X per column costs `taps` additions instead of `depth`. Each sum is at
/// most in_channels 2^52 < 2^128.
fn channel_sums(
    p: &GatherProblem<'_>,
    x: &Input<'_>,
    zero: u64,
    pool: &rayon::ThreadPool,
) -> Vec<u128> {
    const BLOCK: usize = 1024;
    let in_per_group = p.in_channels / p.groups;
    let mut sums = vec![0u128; p.batch * p.groups * p.spatial];
    pool.install(|| {
        sums.par_chunks_mut(p.spatial.max(1))
            .enumerate()
            .for_each(|(at, sums)| {
                let (batch, g) = (at / p.groups, at % p.groups);
                sums.par_chunks_mut(BLOCK)
                    .enumerate()
                    .for_each(|(block, sums)| {
                        let (first, len) = (block * BLOCK, sums.len());
                        for ch in 0..in_per_group {
                            let at =
                                (batch * p.in_channels + g * in_per_group + ch) * p.spatial + first;
                            match x {
                                Input::Narrow(x) => {
                                    for (s, &v) in sums.iter_mut().zip(&x[at..at + len]) {
                                        *s += u128::from(offset_narrow(v, zero));
                                    }
                                }
                                Input::Offset(x) => {
                                    for (s, &v) in sums.iter_mut().zip(&x[at..at + len]) {
                                        *s += u128::from(v);
                                    }
                                }
                            }
                        }
                    });
            });
    });
    sums
}

/// lo, hi (m x n, row stride ldc) += the low and high sums of A B over `depth`, A packed by
/// [`pack_a`], B as n/nr panels of depth x nr, k-major; blocked like
/// [`super::gemm::multiply_packed`].
#[allow(clippy::too_many_arguments)] // the BLAS-style argument list of a GEMM
fn multiply(
    kernel: WideKernel,
    m: usize,
    depth: usize,
    a_packed: &[u64],
    b_packed: &[u64],
    b_panels: usize,
    lo: &mut [u64],
    hi: &mut [u64],
    ldc: usize,
) {
    let (mr, nr) = (kernel.mr, kernel.nr);
    const KC: usize = 128;
    let mut l0 = 0;
    while l0 < depth {
        let l1 = (l0 + KC).min(depth);
        for panel_b in 0..b_panels {
            let b_panel = &b_packed[panel_b * depth * nr..][..depth * nr];
            for panel_a in 0..m.div_ceil(mr) {
                let a_panel = &a_packed[panel_a * depth * mr..][..depth * mr];
                let at = panel_a * mr * ldc + panel_b * nr;
                kernel.multiply_add(
                    l1 - l0,
                    &a_panel[l0 * mr..l1 * mr],
                    &b_panel[l0 * nr..l1 * nr],
                    (&mut lo[at..], &mut hi[at..]),
                    ldc,
                );
            }
        }
        l0 = l1;
    }
}
