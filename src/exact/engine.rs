//! The gather-GEMM core of the fast exact engine.
//!
//! Every layer here is, per batch element n and group g, a matrix product
//!
//! ```text
//! Y[n, g m + o, t] = sum_{c < C_in/G} sum_{j < taps} W[g m + o, c, j] X[n, g C_in/G + c, src(j, t)]
//! ```
//!
//! with src(j, t) the input position that output position t reads at tap j (or none: a zero).
//! For correlation src(j, t) = source(t s + j d - p_b) per dimension (the padding mode's source
//! index); for transposed convolution src(j, t) = (t + p_b - j d) / s when that is an integer
//! inside the input. The engine gathers X into packed im2col panels ([`super::gemm`]) and
//! multiplies, modulo each prime of the plan ([`Plan`]), then reconstructs the integers by CRT.

use super::gemm::{multiply_packed, pack_a, Kernel};
use super::modular::{prime_limit, primes_below, residue_big, symmetric, Crt, Modulus};
use super::scaled::{rational_gcd, Integers, ScaledTensor};
use super::ExactError;
use crate::scalar::Integer;
use ndarray::{ArrayD, IxDyn};
use num_traits::Zero;
use rayon::prelude::*;

/// No input position (a zero of the padding, or a tap that does not land on an input).
pub const NONE: u32 = u32::MAX;

/// The input index along one spatial dimension that output index t reads at tap j:
/// `source(dim, t, j)`, or None for a zero.
pub type DimSource<'a> = Box<dyn Fn(usize, usize, usize) -> Option<usize> + Send + Sync + 'a>;

/// The gather map of one layer: for every tap j and output position t (both flattened in C
/// order), the flattened spatial input position read, or [`NONE`]. Computed per tile of output
/// positions (never whole: for long 1-D kernels taps x positions is far larger than the data).
pub struct GatherMap<'a> {
    /// Input sizes per spatial dimension.
    pub input: Vec<usize>,
    /// Kernel sizes per spatial dimension.
    pub kernel: Vec<usize>,
    /// Output sizes per spatial dimension.
    pub output: Vec<usize>,
    /// Number of kernel taps (product of the kernel sizes).
    pub taps: usize,
    /// Number of output positions (product of the output sizes).
    pub positions: usize,
    source: DimSource<'a>,
}

impl std::fmt::Debug for GatherMap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GatherMap(input {:?}, kernel {:?}, output {:?})",
            self.input, self.kernel, self.output
        )
    }
}

impl<'a> GatherMap<'a> {
    /// The map given by one function per spatial dimension: `source(d, t_d, j_d)` is the input
    /// index along dimension d read by output index t_d at tap j_d.
    pub fn new(
        input: &[usize],
        kernel: &[usize],
        output: &[usize],
        source: impl Fn(usize, usize, usize) -> Option<usize> + Send + Sync + 'a,
    ) -> Result<GatherMap<'a>, ExactError> {
        let too_large = || ExactError::TooLarge("the layer's sizes overflow".to_string());
        let spatial = input
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .ok_or_else(too_large)?;
        if spatial >= NONE as usize {
            return Err(ExactError::TooLarge(format!(
                "an input of {spatial} spatial positions is beyond the fast engine's 2^32 - 1"
            )));
        }
        let taps = kernel
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .ok_or_else(too_large)?;
        let positions = output
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .ok_or_else(too_large)?;
        Ok(GatherMap {
            input: input.to_vec(),
            kernel: kernel.to_vec(),
            output: output.to_vec(),
            taps,
            positions,
            source: Box::new(source),
        })
    }

    /// tile[j * (t1 - t0) + (t - t0)] = flat input position read by output t at tap j, for
    /// t in [t0, t1).
    pub fn tile(&self, t0: usize, t1: usize) -> Vec<u32> {
        let rank = self.input.len();
        let width = t1 - t0;
        let mut tile = vec![NONE; self.taps * width];
        let mut tap = vec![0usize; rank];
        let mut position = vec![0usize; rank];
        for j in 0..self.taps {
            let mut rest = j;
            for d in (0..rank).rev() {
                tap[d] = rest % self.kernel[d];
                rest /= self.kernel[d];
            }
            let mut rest = t0;
            for d in (0..rank).rev() {
                position[d] = rest % self.output[d];
                rest /= self.output[d];
            }
            for slot in tile[j * width..(j + 1) * width].iter_mut() {
                let mut flat = 0usize;
                let mut inside = true;
                for d in 0..rank {
                    match (self.source)(d, position[d], tap[d]) {
                        Some(i) => flat = flat * self.input[d] + i,
                        None => {
                            inside = false;
                            break;
                        }
                    }
                }
                if inside {
                    *slot = flat as u32;
                }
                // Next output position in C order.
                for d in (0..rank).rev() {
                    position[d] += 1;
                    if position[d] < self.output[d] {
                        break;
                    }
                    position[d] = 0;
                }
            }
        }
        tile
    }
}

/// A layer reduced to its gather-GEMM form.
#[derive(Debug)]
pub struct GatherProblem<'a> {
    /// Batch size N.
    pub batch: usize,
    /// Groups G.
    pub groups: usize,
    /// Input channels C_in.
    pub in_channels: usize,
    /// Output channels C_out.
    pub out_channels: usize,
    /// Spatial size of one input channel (product of the input sizes).
    pub spatial: usize,
    /// The gather map.
    pub map: GatherMap<'a>,
    /// Output shape (N, C_out, O...).
    pub output_shape: Vec<usize>,
}

/// How the integer products are computed exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Every partial sum is an integer below 2^53: one product in f64, no modulus.
    Float,
    /// Products modulo each prime (each exact in f64 over reductions of at most `chunk` terms,
    /// reduced modulo p between chunks), then CRT.
    MultiModular {
        /// The primes.
        primes: Vec<u64>,
        /// Reduction terms between two reductions modulo p.
        chunk: usize,
    },
    /// Long 1-D products by number-theoretic transforms modulo each prime, then CRT.
    Ntt {
        /// The primes (each c 2^L + 1 with 2^L at least the product's length).
        primes: Vec<u64>,
    },
}

/// Reductions longer than this are cut into chunks (keeps the primes above 2^21).
const MAX_CHUNK: usize = 8192;

/// ceil(log2(n)) for n >= 1.
fn ceil_log2(n: usize) -> u64 {
    u64::from(usize::BITS - n.saturating_sub(1).leading_zeros())
}

impl Plan {
    /// The plan for results bounded by |y| < 2^bound_bits from reductions of `length` terms
    /// whose products are below 2^product_bits.
    ///
    /// Float when bound_bits <= 53 (then every partial sum, bounded by the sum of magnitudes,
    /// is exact in f64). Otherwise primes p below [`prime_limit`]`(chunk + 1)` (the + 1 is the
    /// residue carried between chunks) until their product M exceeds 2^(bound_bits + 1), so that
    /// the symmetric representative modulo M is y.
    pub fn choose(bound_bits: u64, length: usize) -> Plan {
        if bound_bits <= 53 {
            return Plan::Float;
        }
        let chunk = length.clamp(1, MAX_CHUNK);
        let limit = prime_limit(chunk + 1);
        let mut primes = Vec::new();
        let mut log2_m = 0.0f64;
        let mut candidates = primes_below(limit, 64).into_iter();
        while log2_m <= (bound_bits + 1) as f64 + 1.0 {
            match candidates.next() {
                Some(p) => {
                    log2_m += ((p - 1) as f64).log2(); // a lower bound of log2(p)
                    primes.push(p);
                }
                None => {
                    let more = primes_below(*primes.last().expect("some") - 1, 64);
                    candidates = more.into_iter();
                }
            }
        }
        Plan::MultiModular { primes, chunk }
    }

    /// Number of products per layer (1 for Float, the number of primes otherwise).
    pub fn lanes(&self) -> usize {
        self.primes().map_or(1, <[u64]>::len)
    }

    /// The primes of a modular plan.
    pub fn primes(&self) -> Option<&[u64]> {
        match self {
            Plan::Float => None,
            Plan::MultiModular { primes, .. } | Plan::Ntt { primes } => Some(primes),
        }
    }
}

/// One exact integer layer: inputs, weights (C_out, C_in/G, taps) in C order, optional bias,
/// all scaled to integers; the result scaled by `scale`.
pub struct Operands<'a> {
    /// The input, (N, C_in, spatial...) in C order.
    pub input: &'a ScaledTensor,
    /// The weight, (C_out, C_in/G, taps...) in C order.
    pub weight: &'a ScaledTensor,
    /// The bias, (C_out).
    pub bias: Option<&'a ScaledTensor>,
}

/// The common scale of a layer's result and the bound on its integers (`proofs/exact.md`, E2
/// and E3): y = scale * (multiplier_xw * sum W X + multiplier_b * B) with |that integer| <
/// 2^bound_bits.
#[derive(Debug, Clone)]
pub struct Budget {
    /// The common scale s = gcd(s_x s_w, s_b).
    pub scale: crate::scalar::Rational,
    /// s_x s_w / s.
    pub multiplier_xw: Integer,
    /// s_b / s (0 without a bias).
    pub multiplier_b: Integer,
    /// T with |y / s| < 2^T.
    pub bound_bits: u64,
}

impl Budget {
    /// The budget of a layer whose outputs each sum `depth` products.
    pub fn new(operands: &Operands<'_>, depth: usize) -> Budget {
        let product_scale = &operands.input.scale * &operands.weight.scale;
        let scale = match operands.bias {
            Some(b) => rational_gcd(&product_scale, &b.scale),
            None => product_scale.clone(),
        };
        let multiplier_xw = (&product_scale / &scale).to_integer();
        let multiplier_b = operands
            .bias
            .map(|b| (&b.scale / &scale).to_integer())
            .unwrap_or_else(Integer::zero);
        let bits_xw = operands.input.bits()
            + operands.weight.bits()
            + ceil_log2(depth.max(1))
            + multiplier_xw.bits();
        let bound_bits = match operands.bias {
            Some(b) => bits_xw.max(b.bits() + multiplier_b.bits()) + 1,
            None => bits_xw,
        };
        Budget {
            scale,
            multiplier_xw,
            multiplier_b,
            bound_bits,
        }
    }
}

/// Per lane: the input's values (residues or exact), and the weight packed per group and chunk.
type LaneOperands = (Vec<f64>, Vec<Vec<Vec<f64>>>);

/// A rayon pool of exactly `threads` threads.
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool, ExactError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| ExactError::TooLarge(format!("cannot start {threads} threads: {e}")))
}

/// Runs the problem exactly: y = b + W gather(X) per batch element and group, with the plan
/// of the bit budget (or `plan`, when given).
pub fn run(
    problem: &GatherProblem<'_>,
    operands: &Operands<'_>,
    kernel: &Kernel,
    threads: usize,
    plan: Option<Plan>,
) -> Result<(ScaledTensor, Plan), ExactError> {
    let p = problem;
    let in_per_group = p.in_channels / p.groups;
    let out_per_group = p.out_channels / p.groups;
    let depth = in_per_group * p.map.taps; // reduction length
    let budget = Budget::new(operands, depth);
    // A plan given by the caller is used as is (tests use a deliberately short one).
    let plan = plan.unwrap_or_else(|| Plan::choose(budget.bound_bits, depth));
    let outputs: usize = p.output_shape.iter().product();
    let lanes = plan.lanes();

    // Per lane: the input's and the weight's residues (or exact values), the weight packed.
    let lane_prime = |lane: usize| plan.primes().map(|primes| primes[lane]);
    let lane_values = |t: &ScaledTensor, lane: usize| match lane_prime(lane) {
        None => t
            .exact_f64()
            .expect("the Float plan bounds every integer below 2^53"),
        Some(prime) => t.symmetric_residues(prime),
    };
    let chunk = match &plan {
        Plan::MultiModular { chunk, .. } => *chunk,
        _ => depth.max(1),
    };
    let chunks: Vec<(usize, usize)> = (0..depth)
        .step_by(chunk)
        .map(|k0| (k0, (k0 + chunk).min(depth)))
        .collect();
    let pool = thread_pool(threads)?;

    let prepared: Vec<LaneOperands> = pool.install(|| {
        (0..lanes)
            .into_par_iter()
            .map(|lane| {
                let x = lane_values(operands.input, lane);
                let w = lane_values(operands.weight, lane);
                let packed = (0..p.groups)
                    .map(|g| {
                        let rows = &w[g * out_per_group * depth..(g + 1) * out_per_group * depth];
                        chunks
                            .iter()
                            .map(|&(k0, k1)| pack_a(kernel, rows, out_per_group, depth, k0, k1))
                            .collect()
                    })
                    .collect();
                (x, packed)
            })
            .collect()
    });

    // Column tiles: one B tile (depth x width) of about 1 MiB.
    let nr = kernel.nr;
    let width = (((1usize << 17) / depth.max(1)) / nr).max(1) * nr;
    let tiles: Vec<(usize, usize, usize, usize)> = (0..p.batch)
        .flat_map(|n| (0..p.groups).map(move |g| (n, g)))
        .flat_map(|(n, g)| {
            (0..p.map.positions)
                .step_by(width)
                .map(move |t0| (n, g, t0, (t0 + width).min(p.map.positions)))
        })
        .collect();

    // Each tile: per lane, the residues (or exact values) of its outputs.
    let tile_results: Vec<Vec<Vec<f64>>> = pool.install(|| {
        tiles
            .par_iter()
            .map(|&(n, g, t0, t1)| {
                let cols = t1 - t0;
                let panels = cols.div_ceil(nr);
                let ldc = panels * nr;
                let rows = out_per_group.div_ceil(kernel.mr) * kernel.mr;
                let map = p.map.tile(t0, t1);
                // One B buffer per chunk, reused by every lane: the gather writes the same
                // slots for every lane (the map's), and the others stay zero.
                let mut b_buffers: Vec<Vec<f64>> = chunks
                    .iter()
                    .map(|&(k0, k1)| vec![0.0; panels * (k1 - k0) * nr])
                    .collect();
                let mut c = vec![0.0; rows * ldc];
                let mut results = Vec::with_capacity(lanes);
                for (lane, (x, packed)) in prepared.iter().enumerate() {
                    let prime = lane_prime(lane);
                    let sample = &x[n * p.in_channels * p.spatial..];
                    c.fill(0.0);
                    for (chunk_index, &(k0, k1)) in chunks.iter().enumerate() {
                        let d = k1 - k0;
                        let b = &mut b_buffers[chunk_index];
                        for kk in k0..k1 {
                            let (ch, tap) = (kk / p.map.taps, kk % p.map.taps);
                            let channel =
                                &sample[(g * in_per_group + ch) * p.spatial..][..p.spatial];
                            let sources = &map[tap * cols..(tap + 1) * cols];
                            let row = kk - k0;
                            for (panel, block) in sources.chunks(nr).enumerate() {
                                let slots = &mut b[panel * d * nr + row * nr..][..block.len()];
                                for (slot, &s) in slots.iter_mut().zip(block) {
                                    if s != NONE {
                                        *slot = channel[s as usize];
                                    }
                                }
                            }
                        }
                        let a = &packed[g][chunk_index];
                        multiply_packed(kernel, out_per_group, d, a, b, panels, &mut c, ldc);
                        if let Some(prime) = prime {
                            if chunk_index + 1 < chunks.len() {
                                let m = Modulus::new(prime);
                                for v in c.iter_mut() {
                                    *v = symmetric(m.residue_f64(*v), prime);
                                }
                            }
                        }
                    }
                    // Keep the valid block, row-major (o, t).
                    let mut out = Vec::with_capacity(out_per_group * cols);
                    for o in 0..out_per_group {
                        out.extend_from_slice(&c[o * ldc..o * ldc + cols]);
                    }
                    results.push(out);
                }
                results
            })
            .collect()
    });

    // Scatter the tiles into per-lane output buffers (N, C_out, positions) in C order.
    let mut lane_outputs = vec![vec![0.0f64; outputs]; lanes];
    for (&(n, g, t0, t1), result) in tiles.iter().zip(&tile_results) {
        let cols = t1 - t0;
        for (lane, values) in result.iter().enumerate() {
            for o in 0..out_per_group {
                let channel = g * out_per_group + o;
                let at = (n * p.out_channels + channel) * p.map.positions + t0;
                lane_outputs[lane][at..at + cols]
                    .copy_from_slice(&values[o * cols..(o + 1) * cols]);
            }
        }
    }
    drop(tile_results);

    let result = combine(
        &plan,
        &lane_outputs,
        &budget,
        operands.bias,
        p.out_channels,
        p.map.positions,
        &p.output_shape,
        &pool,
    );
    Ok((result, plan))
}

/// Combines per-lane results (the exact values of sum W X for [`Plan::Float`], residues of it,
/// any representative, for the modular plans), all in C order over the output shape, with the
/// bias into the exact result y = scale (multiplier_xw sum W X + multiplier_b B).
#[allow(clippy::too_many_arguments)]
pub fn combine(
    plan: &Plan,
    lane_outputs: &[Vec<f64>],
    budget: &Budget,
    bias: Option<&ScaledTensor>,
    out_channels: usize,
    positions: usize,
    output_shape: &[usize],
    pool: &rayon::ThreadPool,
) -> ScaledTensor {
    let outputs: usize = output_shape.iter().product();
    let (multiplier_xw, multiplier_b) = (&budget.multiplier_xw, &budget.multiplier_b);
    let bias_integer =
        |o: usize| -> Integer { bias.map(|b| b.integer(o)).unwrap_or_else(Integer::zero) };
    let integers = match plan.primes() {
        None => {
            // Every value and the combination are below 2^53 in magnitude: exact in f64 and i128.
            let mx = i128::try_from(multiplier_xw).expect("below 2^53");
            let mb = i128::try_from(multiplier_b).expect("below 2^53");
            let biases: Vec<i128> = (0..out_channels)
                .map(|o| i128::try_from(bias_integer(o)).expect("below 2^53") * mb)
                .collect();
            let values: Vec<i128> = lane_outputs[0]
                .iter()
                .enumerate()
                .map(|(i, &v)| v as i128 * mx + biases[(i / positions) % out_channels])
                .collect();
            Integers::Wide(ArrayD::from_shape_vec(IxDyn(output_shape), values).expect("shape"))
        }
        Some(primes) => {
            let crt = Crt::new(primes);
            let mx: Vec<u64> = primes
                .iter()
                .map(|&q| residue_big(multiplier_xw, q))
                .collect();
            let mb: Vec<u64> = primes
                .iter()
                .map(|&q| residue_big(multiplier_b, q))
                .collect();
            // bias_residue[lane][o] = b[o] * multiplier_b mod p.
            let bias_residue: Vec<Vec<u64>> = primes
                .iter()
                .enumerate()
                .map(|(lane, &q)| {
                    (0..out_channels)
                        .map(|o| residue_big(&bias_integer(o), q) * mb[lane] % q)
                        .collect()
                })
                .collect();
            let moduli: Vec<Modulus> = primes.iter().map(|&q| Modulus::new(q)).collect();
            let residues_of = |i: usize, residues: &mut [u64]| {
                let o = (i / positions) % out_channels;
                for (lane, m) in moduli.iter().enumerate() {
                    let r = m.residue_f64(lane_outputs[lane][i]);
                    // r, mx < p < 2^32 and the bias residue < p: no overflow.
                    residues[lane] = m.reduce(r * mx[lane] + bias_residue[lane][o]);
                }
            };
            let chunk_len = 4096;
            if crt.fits_i128() {
                let mut values = vec![0i128; outputs];
                pool.install(|| {
                    values
                        .par_chunks_mut(chunk_len)
                        .enumerate()
                        .for_each(|(ci, block)| {
                            let mut residues = vec![0u64; primes.len()];
                            let mut scratch = vec![0u64; primes.len()];
                            for (k, v) in block.iter_mut().enumerate() {
                                residues_of(ci * chunk_len + k, &mut residues);
                                *v = crt.to_i128(&residues, &mut scratch);
                            }
                        })
                });
                Integers::Wide(ArrayD::from_shape_vec(IxDyn(output_shape), values).expect("shape"))
            } else {
                let mut values = vec![Integer::zero(); outputs];
                pool.install(|| {
                    values
                        .par_chunks_mut(chunk_len)
                        .enumerate()
                        .for_each(|(ci, block)| {
                            let mut residues = vec![0u64; primes.len()];
                            let mut scratch = vec![0u64; primes.len()];
                            for (k, v) in block.iter_mut().enumerate() {
                                residues_of(ci * chunk_len + k, &mut residues);
                                *v = crt.to_integer(&residues, &mut scratch);
                            }
                        })
                });
                Integers::Big(ArrayD::from_shape_vec(IxDyn(output_shape), values).expect("shape"))
            }
        }
    };
    ScaledTensor {
        integers,
        scale: budget.scale.clone(),
    }
}

impl ScaledTensor {
    /// The integer at one C-order position.
    pub fn integer(&self, index: usize) -> Integer {
        match &self.integers {
            Integers::Dyadic(a) => a.as_slice().map_or_else(
                || a.iter().nth(index).expect("in range").to_integer(),
                |s| s[index].to_integer(),
            ),
            Integers::Wide(a) => Integer::from(
                *a.as_slice()
                    .map_or_else(|| a.iter().nth(index), |s| s.get(index))
                    .expect("in range"),
            ),
            Integers::Big(a) => a
                .as_slice()
                .map_or_else(|| a.iter().nth(index), |s| s.get(index))
                .expect("in range")
                .clone(),
        }
    }
}
