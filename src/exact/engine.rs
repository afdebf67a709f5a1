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
use crate::parallel::{recycle, SharedOutput};
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
    /// The integers cut into limbs (sign and magnitude, digits in base 2^x_width for the input
    /// and 2^w_width for the weight) narrow enough that every product of an input limb and a
    /// weight limb is exact in f64: x_limbs x w_limbs products, recombined with shifts.
    Split {
        /// Bits per input limb.
        x_width: u32,
        /// Bits per weight limb.
        w_width: u32,
        /// Input limbs.
        x_limbs: usize,
        /// Weight limbs.
        w_limbs: usize,
    },
    /// Products of the offset integers (below 2^52) in unsigned 64-bit lanes, their low and
    /// high 52 bits summed apart (AVX-512 IFMA), the offsets' terms subtracted after
    /// ([`super::wide`]).
    Wide,
    /// Products modulo each prime (each exact in f64 over reductions of at most `chunk` terms,
    /// reduced modulo p between chunks), then CRT.
    MultiModular {
        /// The primes.
        primes: Vec<u64>,
        /// Reduction terms between two reductions modulo p.
        chunk: usize,
    },
    /// 1-D layers with at most two output channels per group: one dot product per output in
    /// i64 x i64 -> i128 arithmetic (`super::direct`); the bound is at most 2^126.
    Direct,
    /// Long 1-D products by number-theoretic transforms modulo each prime, then CRT.
    Ntt {
        /// The primes (each c 2^L + 1 with 2^L at least the product's length).
        primes: Vec<u64>,
    },
}

/// Reductions longer than this are cut into chunks (keeps the primes above 2^21).
const MAX_CHUNK: usize = 8192;

/// How many plans [`Plan::choose`] remembers (of distinct bit bounds and chunk lengths).
pub(super) const REMEMBERED_PLANS: usize = 32;

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
        // Finding the primes takes Miller-Rabin tests of about a thousand candidates (0.1 ms,
        // a few percent of a ResNet layer), and every call of a layer asks for the same plan:
        // the most recent plans are remembered.
        type Chosen = Vec<((u64, usize), Plan)>;
        static CHOSEN: std::sync::Mutex<Chosen> = std::sync::Mutex::new(Vec::new());
        let remembered = |chosen: &Chosen| {
            chosen
                .iter()
                .find(|(key, _)| *key == (bound_bits, chunk))
                .map(|(_, plan)| plan.clone())
        };
        let lock = || {
            CHOSEN
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(plan) = remembered(&lock()) {
            return plan;
        }
        let plan = Plan::find_primes(bound_bits, chunk);
        let mut chosen = lock();
        if chosen.len() == REMEMBERED_PLANS {
            chosen.remove(0);
        }
        chosen.push(((bound_bits, chunk), plan.clone()));
        plan
    }

    /// [`Plan::choose`] for chunks of `chunk` terms, without its memory.
    fn find_primes(bound_bits: u64, chunk: usize) -> Plan {
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

    /// The cheapest plan for results bounded by |y| < 2^bound_bits from reductions of `length`
    /// products of integers |x| < 2^x_bits and |w| < 2^w_bits.
    ///
    /// Float when bound_bits <= 53. Otherwise the fewer products of [`Plan::Split`] (limb
    /// widths a + b <= 53 - ceil(log2 length), so that every partial sum of limb products is an
    /// integer below 2^53; fewest ceil(x_bits / a) ceil(w_bits / b)) and of the modular plan
    /// ([`Plan::choose`]); on a tie the split (no reductions modulo p, no CRT).
    pub fn for_products(x_bits: u64, w_bits: u64, length: usize, bound_bits: u64) -> Plan {
        let modular = Plan::choose(bound_bits, length);
        if modular == Plan::Float {
            return modular;
        }
        let Some(room) = 53u64.checked_sub(ceil_log2(length.max(1))) else {
            return modular;
        };
        let split = (1..room)
            .map(|a| {
                let b = room - a;
                let x_limbs = x_bits.div_ceil(a).max(1) as usize;
                let w_limbs = w_bits.div_ceil(b).max(1) as usize;
                (x_limbs * w_limbs, a, b, x_limbs, w_limbs)
            })
            .min();
        match split {
            Some((lanes, a, b, x_limbs, w_limbs)) if lanes <= modular.lanes() => Plan::Split {
                x_width: a as u32,
                w_width: b as u32,
                x_limbs,
                w_limbs,
            },
            _ => modular,
        }
    }

    /// [`Plan::for_products`] on a processor with a fast [`Plan::Wide`] kernel: that plan where
    /// it applies ([`super::wide::fits`]) and the others need more than two f64 products (it
    /// costs two 64-bit multiply-adds per product).
    pub fn for_products_wide(x_bits: u64, w_bits: u64, length: usize, bound_bits: u64) -> Plan {
        let plan = Plan::for_products(x_bits, w_bits, length, bound_bits);
        if plan.lanes() > 2 && super::wide::fits(x_bits, w_bits, length, bound_bits) {
            Plan::Wide
        } else {
            plan
        }
    }

    /// Number of products per layer (1 for Float, the number of limb pairs or primes otherwise).
    pub fn lanes(&self) -> usize {
        match self {
            Plan::Split {
                x_limbs, w_limbs, ..
            } => x_limbs * w_limbs,
            Plan::Wide => 2,
            _ => self.primes().map_or(1, <[u64]>::len),
        }
    }

    /// The primes of a modular plan.
    pub fn primes(&self) -> Option<&[u64]> {
        match self {
            Plan::Float | Plan::Split { .. } | Plan::Direct | Plan::Wide => None,
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
    /// The bit length of the largest |X| (the input's integers).
    pub x_bits: u64,
    /// The bit length of the largest |W|.
    pub w_bits: u64,
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
        let (x_bits, w_bits) = (operands.input.bits(), operands.weight.bits());
        let bits_xw = x_bits + w_bits + ceil_log2(depth.max(1)) + multiplier_xw.bits();
        let bound_bits = match operands.bias {
            Some(b) => bits_xw.max(b.bits() + multiplier_b.bits()) + 1,
            None => bits_xw,
        };
        Budget {
            scale,
            multiplier_xw,
            multiplier_b,
            bound_bits,
            x_bits,
            w_bits,
        }
    }
}

/// One operand of the GEMMs: a tensor's integers as exactly representable f64 values, in C
/// order (the integers themselves, one limb of them, or their symmetric residues modulo a prime).
type Variant = Vec<f64>;

/// The f64 operands of a plan: the input's variants and the weight's variants, and the lanes
/// (one GEMM result each) as pairs (input variant, weight variant).
fn variants(plan: &Plan, operands: &Operands<'_>) -> (Vec<Variant>, Vec<Variant>) {
    let (x, w) = (operands.input, operands.weight);
    match plan {
        Plan::Direct | Plan::Wide => unreachable!("run() replaces the Direct and Wide plans"),
        Plan::Float => (
            vec![x
                .exact_f64()
                .expect("the Float plan bounds the integers below 2^53")],
            vec![w
                .exact_f64()
                .expect("the Float plan bounds the integers below 2^53")],
        ),
        Plan::Split {
            x_width,
            w_width,
            x_limbs,
            w_limbs,
        } => (
            {
                let mut limbs: Vec<Variant> =
                    (0..*x_limbs).map(|_| recycle::take(x.len())).collect();
                x.limbs_into(*x_width, &mut limbs);
                limbs
            },
            {
                let mut limbs: Vec<Variant> =
                    (0..*w_limbs).map(|_| recycle::take(w.len())).collect();
                w.limbs_into(*w_width, &mut limbs);
                limbs
            },
        ),
        Plan::MultiModular { primes, .. } | Plan::Ntt { primes } => (
            primes
                .par_iter()
                .map(|&q| x.symmetric_residues(q))
                .collect(),
            primes
                .par_iter()
                .map(|&q| w.symmetric_residues(q))
                .collect(),
        ),
    }
}

/// One GEMM per batch element, group and tile: the input variant `x` gathered, times the weight
/// variants `w` stacked as rows (all limbs of the weight share one gathered input), modulo
/// `prime` between chunks (modular plans).
struct Job {
    x: usize,
    w: Vec<usize>,
    prime: Option<u64>,
}

impl Job {
    /// Rows of the job's stacked weight: variants x output channels per group.
    fn rows(&self, out_per_group: usize) -> usize {
        self.w.len() * out_per_group
    }
}

impl Plan {
    /// The GEMM jobs of the plan, in the order of the lanes that [`Combiner`] reads (job by job,
    /// then stacked weight variant by variant).
    fn jobs(&self) -> Vec<Job> {
        match self {
            Plan::Direct | Plan::Wide => unreachable!("run() replaces the Direct and Wide plans"),
            Plan::Float => vec![Job {
                x: 0,
                w: vec![0],
                prime: None,
            }],
            Plan::Split {
                x_limbs, w_limbs, ..
            } => (0..*x_limbs)
                .map(|i| Job {
                    x: i,
                    w: (0..*w_limbs).collect(),
                    prime: None,
                })
                .collect(),
            Plan::MultiModular { primes, .. } | Plan::Ntt { primes } => primes
                .iter()
                .enumerate()
                .map(|(q, &prime)| Job {
                    x: q,
                    w: vec![q],
                    prime: Some(prime),
                })
                .collect(),
        }
    }
}

/// Per-thread buffers of the tile loop, reused from tile to tile.
struct Scratch {
    /// One packed B buffer per chunk of the reduction.
    b: Vec<Vec<f64>>,
    /// The C block of each job.
    c: Vec<Vec<f64>>,
    /// The combiner's buffers.
    combine: (Vec<u64>, Vec<u64>),
}

/// Everything the tile loop of [`run`] reads.
struct Execution<'a, 'p> {
    problem: &'a GatherProblem<'p>,
    kernel: &'a Kernel,
    jobs: Vec<Job>,
    /// Per job, group and chunk: the stacked weight variants, packed.
    packed: Vec<Vec<Vec<Vec<f64>>>>,
    x_variants: Vec<Variant>,
    chunks: Vec<(usize, usize)>,
    /// Columns per tile.
    width: usize,
    /// lane -> (job, stacked variant) of the combiner's lane numbering.
    lane_slots: Vec<(usize, usize)>,
    combiner: Combiner,
}

impl Execution<'_, '_> {
    fn out_per_group(&self) -> usize {
        self.problem.out_channels / self.problem.groups
    }

    /// Runs every tile on `pool`; for each output channel of a tile, `row` writes the tile's
    /// outputs of that channel from the lanes' rows (lane l of output t is rows[l][t]).
    fn run<T: Send>(
        &self,
        pool: &rayon::ThreadPool,
        out: &mut [T],
        row: impl Fn(&Combiner, &[&[f64]], usize, &mut [T], &mut (Vec<u64>, Vec<u64>)) + Send + Sync,
    ) {
        let p = self.problem;
        let (nr, mr) = (self.kernel.nr, self.kernel.mr);
        let tiles: Vec<(usize, usize, usize, usize)> = (0..p.batch)
            .flat_map(|n| (0..p.groups).map(move |g| (n, g)))
            .flat_map(|(n, g)| {
                (0..p.map.positions)
                    .step_by(self.width)
                    .map(move |t0| (n, g, t0, (t0 + self.width).min(p.map.positions)))
            })
            .collect();
        let shared = SharedOutput::new(out);
        // One scratch per thread of the pool, from recycled buffers.
        let scratches: Vec<std::sync::Mutex<Scratch>> = (0..pool.current_num_threads())
            .map(|_| {
                std::sync::Mutex::new(Scratch {
                    b: self
                        .chunks
                        .iter()
                        .map(|&(k0, k1)| recycle::zeros(self.width * (k1 - k0)))
                        .collect(),
                    c: self
                        .jobs
                        .iter()
                        .map(|job| {
                            recycle::zeros(
                                job.rows(self.out_per_group()).div_ceil(mr) * mr * self.width,
                            )
                        })
                        .collect(),
                    combine: self.combiner.scratch(),
                })
            })
            .collect();
        pool.install(|| {
            tiles.par_iter().for_each(|&tile| {
                let index = rayon::current_thread_index().unwrap_or(0) % scratches.len();
                let mut guard = scratches[index].lock().unwrap_or_else(|e| e.into_inner());
                let scratch = &mut *guard;
                {
                    self.tile(scratch, tile);
                    let (n, g, t0, t1) = tile;
                    let ldc = (t1 - t0).div_ceil(nr) * nr;
                    let opg = self.out_per_group();
                    let cols = t1 - t0;
                    let Scratch { c, combine, .. } = scratch;
                    for o in 0..opg {
                        let channel = g * opg + o;
                        let at = (n * p.out_channels + channel) * p.map.positions + t0;
                        // Row o of each lane's C block.
                        let rows: Vec<&[f64]> = self
                            .lane_slots
                            .iter()
                            .map(|&(k, j)| &c[k][(j * opg + o) * ldc..][..cols])
                            .collect();
                        // SAFETY: outputs (n, channel, t0..t1) belong to this tile only.
                        let out = unsafe { shared.range(at, cols) };
                        row(&self.combiner, &rows, channel, out, combine);
                    }
                }
            })
        });
        for scratch in scratches {
            let scratch = scratch.into_inner().unwrap_or_else(|e| e.into_inner());
            scratch
                .b
                .into_iter()
                .chain(scratch.c)
                .for_each(recycle::give);
        }
    }

    /// The GEMMs of one tile (batch element n, group g, output positions t0..t1): C of every
    /// job, rows (stacked variant, output channel of the group), columns t - t0.
    fn tile(&self, scratch: &mut Scratch, (n, g, t0, t1): (usize, usize, usize, usize)) {
        let p = self.problem;
        let (nr, mr) = (self.kernel.nr, self.kernel.mr);
        let cols = t1 - t0;
        let panels = cols.div_ceil(nr);
        let ldc = panels * nr;
        let map = p.map.tile(t0, t1);
        let in_per_group = p.in_channels / p.groups;
        for (k, (job, packed)) in self.jobs.iter().zip(&self.packed).enumerate() {
            let rows = job.rows(self.out_per_group());
            let c = &mut scratch.c[k][..rows.div_ceil(mr) * mr * ldc];
            c.fill(0.0);
            let sample = &self.x_variants[job.x][n * p.in_channels * p.spatial..];
            for (chunk_index, &(k0, k1)) in self.chunks.iter().enumerate() {
                let d = k1 - k0;
                let b = &mut scratch.b[chunk_index][..panels * d * nr];
                gather(
                    b,
                    sample,
                    |v| v,
                    0.0,
                    &map,
                    p,
                    g * in_per_group,
                    (k0, k1),
                    cols,
                    nr,
                );
                let a = &packed[g][chunk_index];
                multiply_packed(self.kernel, rows, d, a, b, panels, c, ldc);
                if let Some(prime) = job.prime {
                    if chunk_index + 1 < self.chunks.len() {
                        let m = Modulus::new(prime);
                        for v in c.iter_mut() {
                            *v = symmetric(m.residue_f64(*v), prime);
                        }
                    }
                }
            }
        }
    }
}

/// The operands' budget for the problem's reduction, and the plan: `plan` when the caller
/// gives one (tests use deliberately short ones), except Direct, which is not a GEMM plan,
/// and Wide where it does not apply; else the cheapest plan for the bit widths.
fn budget_and_plan(
    p: &GatherProblem<'_>,
    operands: &Operands<'_>,
    kernel: &Kernel,
    plan: Option<Plan>,
) -> (Budget, Plan) {
    let depth = p.in_channels / p.groups * p.map.taps;
    let budget = Budget::new(operands, depth);
    let wide_fits = super::wide::fits(budget.x_bits, budget.w_bits, depth, budget.bound_bits);
    let plan = plan
        .filter(|p| *p != Plan::Direct && (*p != Plan::Wide || wide_fits))
        .unwrap_or_else(|| {
            if kernel.wide.is_some() {
                Plan::for_products_wide(budget.x_bits, budget.w_bits, depth, budget.bound_bits)
            } else {
                Plan::for_products(budget.x_bits, budget.w_bits, depth, budget.bound_bits)
            }
        });
    (budget, plan)
}

/// [`run`] with each value correctly rounded into `format` and handed to `map` as it is made,
/// when the plan is [`Plan::Wide`] (the exact integers are then never held); None for
/// another plan.
pub fn run_rounded<T: Copy + Default + Send + Sync>(
    problem: &GatherProblem<'_>,
    operands: &Operands<'_>,
    kernel: &Kernel,
    pool: &rayon::ThreadPool,
    (format, map): (crate::scalar::FloatFormat, &(impl Fn(f64) -> T + Sync)),
) -> Option<ArrayD<T>> {
    let (budget, plan) = budget_and_plan(problem, operands, kernel, None);
    let wide = kernel.wide.filter(|_| plan == Plan::Wide)?;
    Some(super::wide::run_rounded(
        problem, operands, &budget, wide, pool, format, map,
    ))
}

/// Runs the problem exactly: y = b + W gather(X) per batch element and group, with the plan
/// of the bit budget (or `plan`, when given).
pub fn run(
    problem: &GatherProblem<'_>,
    operands: &Operands<'_>,
    kernel: &Kernel,
    pool: &rayon::ThreadPool,
    plan: Option<Plan>,
) -> Result<(ScaledTensor, Plan), ExactError> {
    let p = problem;
    let in_per_group = p.in_channels / p.groups;
    let out_per_group = p.out_channels / p.groups;
    let depth = in_per_group * p.map.taps; // reduction length
    let (budget, plan) = budget_and_plan(p, operands, kernel, plan);
    if plan == Plan::Wide {
        let wide = kernel.wide.unwrap_or(super::wide::WideKernel::PORTABLE);
        return Ok((super::wide::run(p, operands, &budget, wide, pool), plan));
    }
    let outputs: usize = p.output_shape.iter().product();
    let jobs = plan.jobs();

    let chunk = match &plan {
        Plan::MultiModular { chunk, .. } => *chunk,
        _ => depth.max(1),
    };
    let chunks: Vec<(usize, usize)> = (0..depth)
        .step_by(chunk)
        .map(|k0| (k0, (k0 + chunk).min(depth)))
        .collect();

    // The variants, and per job, group and chunk the weight variants stacked and packed.
    let (x_variants, w_variants) = pool.install(|| variants(&plan, operands));
    let packed: Vec<Vec<Vec<Vec<f64>>>> = pool.install(|| {
        jobs.par_iter()
            .map(|job| {
                (0..p.groups)
                    .map(|g| {
                        let mut rows = Vec::with_capacity(job.rows(out_per_group) * depth);
                        for &v in &job.w {
                            let at = g * out_per_group * depth;
                            rows.extend_from_slice(&w_variants[v][at..at + out_per_group * depth]);
                        }
                        chunks
                            .iter()
                            .map(|&(k0, k1)| {
                                pack_a(kernel, &rows, job.rows(out_per_group), depth, k0, k1)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    });
    w_variants.into_iter().for_each(recycle::give);

    // Column tiles: one B tile (depth x width) of about 1 MiB, or the whole output when it is
    // smaller (the scratch buffers are width wide: a small layer must not zero megabytes).
    let nr = kernel.nr;
    let width = ((((1usize << 17) / depth.max(1)) / nr).max(1) * nr)
        .min(p.map.positions.div_ceil(nr).max(1) * nr);
    let lane_slots = jobs
        .iter()
        .enumerate()
        .flat_map(|(k, job)| (0..job.w.len()).map(move |j| (k, j)))
        .collect();
    let execution = Execution {
        problem: p,
        kernel,
        combiner: Combiner::new(&plan, &budget, operands.bias, p.out_channels),
        jobs,
        packed,
        x_variants,
        chunks,
        width,
        lane_slots,
    };
    let shape = IxDyn(&p.output_shape);
    let integers = if execution.combiner.wide {
        let mut values = vec![0i128; outputs];
        execution.run(pool, &mut values, |c, rows, channel, out, s| {
            c.wide_row(rows, channel, out, s)
        });
        Integers::Wide(ArrayD::from_shape_vec(shape, values).expect("shape"))
    } else {
        let mut values = vec![Integer::zero(); outputs];
        execution.run(pool, &mut values, |c, rows, channel, out, s| {
            for (t, v) in out.iter_mut().enumerate() {
                *v = c.big(|l| rows[l][t], channel, s);
            }
        });
        Integers::Big(ArrayD::from_shape_vec(shape, values).expect("shape"))
    };
    let Execution {
        x_variants, packed, ..
    } = execution;
    x_variants.into_iter().for_each(recycle::give);
    packed
        .into_iter()
        .flatten()
        .flatten()
        .for_each(recycle::give);
    let result = ScaledTensor {
        integers,
        scale: budget.scale.clone(),
    };
    Ok((result, plan))
}

/// im2col of one tile into packed B panels: row kk - k0 of panel P holds, for the reduction
/// index kk = (channel, tap), the input values read by the tile's outputs P nr .. P nr + nr,
/// each mapped by `convert` (`zero` where the map says [`NONE`]; every slot is written, so the
/// buffer needs no clearing).
///
/// The map depends on the tap only, so whether a block of nr outputs reads nr consecutive
/// inputs (the interior of stride-1 layers: one copy) is decided once per (tap, panel), not
/// once per channel.
#[allow(clippy::too_many_arguments)]
pub(super) fn gather<S: Copy, T: Copy>(
    b: &mut [T],
    sample: &[S],
    convert: impl Fn(S) -> T,
    zero: T,
    map: &[u32],
    p: &GatherProblem<'_>,
    first_channel: usize,
    (k0, k1): (usize, usize),
    cols: usize,
    nr: usize,
) {
    let d = k1 - k0;
    let taps = p.map.taps;
    let panels = cols.div_ceil(nr);
    // runs[tap * panels + panel] = the first input position when the block is a full run of
    // nr consecutive positions inside the channel.
    let runs: Vec<Option<usize>> = (0..taps)
        .flat_map(|tap| map[tap * cols..(tap + 1) * cols].chunks(nr))
        .map(|block| {
            let first = block[0] as usize;
            let run = block.len() == nr
                && first < p.spatial
                && p.spatial - first >= nr
                && block
                    .windows(2)
                    .all(|pair| pair[1] == pair[0].wrapping_add(1));
            run.then_some(first)
        })
        .collect();
    for kk in k0..k1 {
        let (ch, tap) = (kk / taps, kk % taps);
        let channel = &sample[(first_channel + ch) * p.spatial..][..p.spatial];
        let sources = &map[tap * cols..(tap + 1) * cols];
        let row = kk - k0;
        for (panel, block) in sources.chunks(nr).enumerate() {
            let slots = &mut b[panel * d * nr + row * nr..][..nr];
            if let Some(first) = runs[tap * panels + panel] {
                for (slot, &v) in slots.iter_mut().zip(&channel[first..first + nr]) {
                    *slot = convert(v);
                }
            } else {
                // NONE (u32::MAX) is beyond every channel (GatherMap::new refuses larger
                // inputs), so `get` turns it into the padding's zero without a separate test;
                // the slots past a partial block are zero too.
                for (i, slot) in slots.iter_mut().enumerate() {
                    *slot = block
                        .get(i)
                        .and_then(|&s| channel.get(s as usize))
                        .map_or(zero, |&v| convert(v));
                }
            }
        }
    }
}

/// How the lanes of one output (its limb products, or its residues modulo the primes) become
/// the exact integer Y = multiplier_xw sum W X + multiplier_b B (`proofs/exact.md`, E2-E5).
pub struct Combiner {
    rule: Rule,
    /// Whether every result fits i128 (then [`Combiner::wide`] applies, else [`Combiner::big`]).
    pub wide: bool,
    multiplier_xw: Integer,
    multiplier_xw_wide: i128,
    /// b[o] * multiplier_b per output channel.
    biases: Vec<Integer>,
    biases_wide: Vec<i128>,
}

enum Rule {
    /// sum W X = sum over lanes of lane << shift (exact f64 integers; one unshifted lane for
    /// the Float plan).
    Shifts(Vec<(usize, usize)>),
    /// Residues modulo the primes, then CRT.
    Remainders {
        crt: Box<Crt>,
        moduli: Vec<Modulus>,
        /// multiplier_xw mod p per lane.
        multiplier: Vec<u64>,
        /// bias[lane][o] = b[o] multiplier_b mod p.
        bias: Vec<Vec<u64>>,
    },
}

impl Combiner {
    /// The combination for a plan, a budget and the bias of `out_channels` channels.
    pub fn new(
        plan: &Plan,
        budget: &Budget,
        bias: Option<&ScaledTensor>,
        out_channels: usize,
    ) -> Combiner {
        let biases: Vec<Integer> = (0..out_channels)
            .map(|o| bias.map_or_else(Integer::zero, |b| b.integer(o) * &budget.multiplier_b))
            .collect();
        let (rule, wide) = match plan {
            Plan::MultiModular { primes, .. } | Plan::Ntt { primes } => {
                let crt = Crt::new(primes);
                let wide = crt.fits_i128();
                let rule = Rule::Remainders {
                    multiplier: primes
                        .iter()
                        .map(|&q| residue_big(&budget.multiplier_xw, q))
                        .collect(),
                    bias: primes
                        .iter()
                        .map(|&q| biases.iter().map(|b| residue_big(b, q)).collect())
                        .collect(),
                    moduli: primes.iter().map(|&q| Modulus::new(q)).collect(),
                    crt: Box::new(crt),
                };
                (rule, wide)
            }
            Plan::Split {
                x_width,
                w_width,
                x_limbs,
                w_limbs,
            } => {
                let shifts = (0..*x_limbs)
                    .flat_map(|i| {
                        (0..*w_limbs).map(move |j| {
                            (
                                i * w_limbs + j,
                                i * *x_width as usize + j * *w_width as usize,
                            )
                        })
                    })
                    .collect();
                (Rule::Shifts(shifts), budget.bound_bits <= 126)
            }
            Plan::Float => (Rule::Shifts(vec![(0, 0)]), true),
            Plan::Direct | Plan::Wide => unreachable!("run() replaces the Direct and Wide plans"),
        };
        let narrow = |v: &Integer| {
            if wide {
                i128::try_from(v).expect("below 2^126")
            } else {
                0
            }
        };
        Combiner {
            rule,
            wide,
            multiplier_xw_wide: narrow(&budget.multiplier_xw),
            multiplier_xw: budget.multiplier_xw.clone(),
            biases_wide: biases.iter().map(narrow).collect(),
            biases,
        }
    }

    /// Scratch buffers for [`Combiner::wide`] and [`Combiner::big`].
    pub fn scratch(&self) -> (Vec<u64>, Vec<u64>) {
        let lanes = match &self.rule {
            Rule::Shifts(_) => 0,
            Rule::Remainders { moduli, .. } => moduli.len(),
        };
        (vec![0; lanes], vec![0; lanes])
    }

    /// The residues of Y modulo each prime, into scratch.0.
    fn residues(&self, lane: &impl Fn(usize) -> f64, channel: usize, residues: &mut [u64]) {
        if let Rule::Remainders {
            moduli,
            multiplier,
            bias,
            ..
        } = &self.rule
        {
            for (q, m) in moduli.iter().enumerate() {
                let r = m.residue_f64(lane(q));
                // r, the multiplier < p < 2^32 and the bias residue < p: no overflow.
                residues[q] = m.reduce(r * multiplier[q] + bias[q][channel]);
            }
        }
    }

    /// Y for output channel `channel` from its lanes, when [`Combiner::wide`] holds. Every
    /// partial sum is bounded by sum |W| |X| (the limbs of one integer share its sign), so
    /// below 2^bound_bits like Y.
    #[inline]
    pub fn wide(
        &self,
        lane: impl Fn(usize) -> f64,
        channel: usize,
        scratch: &mut (Vec<u64>, Vec<u64>),
    ) -> i128 {
        match &self.rule {
            Rule::Shifts(shifts) => {
                // Each lane is an integer below 2^53: exact through i64.
                let sum: i128 = shifts
                    .iter()
                    .map(|&(l, shift)| i128::from(lane(l) as i64) << shift)
                    .sum();
                if self.multiplier_xw_wide == 1 {
                    sum + self.biases_wide[channel]
                } else {
                    sum * self.multiplier_xw_wide + self.biases_wide[channel]
                }
            }
            Rule::Remainders { crt, .. } => {
                self.residues(&lane, channel, &mut scratch.0);
                crt.to_i128(&scratch.0, &mut scratch.1)
            }
        }
    }

    /// [`Combiner::wide`] for consecutive outputs of one channel: out\[t\] from rows\[l\]\[t\].
    /// The limb rule runs as one tight loop per row (no closure per output).
    pub fn wide_row(
        &self,
        rows: &[&[f64]],
        channel: usize,
        out: &mut [i128],
        scratch: &mut (Vec<u64>, Vec<u64>),
    ) {
        match &self.rule {
            Rule::Shifts(shifts) => {
                let (multiplier, bias) = (self.multiplier_xw_wide, self.biases_wide[channel]);
                // Each lane is an integer below 2^53: exact through i64.
                let lane = |l: usize, t: usize| i128::from(rows[l][t] as i64);
                match shifts.as_slice() {
                    // The common 2 x 2 limb split, unrolled.
                    &[(a, sa), (b, sb), (c, sc), (d, sd)] => {
                        let (ra, rb, rc, rd) = (rows[a], rows[b], rows[c], rows[d]);
                        for ((((v, &xa), &xb), &xc), &xd) in
                            out.iter_mut().zip(ra).zip(rb).zip(rc).zip(rd)
                        {
                            let sum = (i128::from(xa as i64) << sa)
                                + (i128::from(xb as i64) << sb)
                                + (i128::from(xc as i64) << sc)
                                + (i128::from(xd as i64) << sd);
                            *v = if multiplier == 1 {
                                sum + bias
                            } else {
                                sum * multiplier + bias
                            };
                        }
                    }
                    _ => {
                        for (t, v) in out.iter_mut().enumerate() {
                            let sum: i128 = shifts.iter().map(|&(l, s)| lane(l, t) << s).sum();
                            *v = sum * multiplier + bias;
                        }
                    }
                }
            }
            Rule::Remainders { .. } => {
                for (t, v) in out.iter_mut().enumerate() {
                    *v = self.wide(|l| rows[l][t], channel, scratch);
                }
            }
        }
    }

    /// Y for output channel `channel` from its lanes, in big integers.
    pub fn big(
        &self,
        lane: impl Fn(usize) -> f64,
        channel: usize,
        scratch: &mut (Vec<u64>, Vec<u64>),
    ) -> Integer {
        match &self.rule {
            Rule::Shifts(shifts) => {
                let mut sum = Integer::zero();
                for &(l, shift) in shifts {
                    sum += Integer::from(lane(l) as i64) << shift;
                }
                sum * &self.multiplier_xw + &self.biases[channel]
            }
            Rule::Remainders { crt, .. } => {
                self.residues(&lane, channel, &mut scratch.0);
                crt.to_integer(&scratch.0, &mut scratch.1)
            }
        }
    }
}

/// Combines per-lane results, all in C order over the output shape, into the exact result
/// y = scale (multiplier_xw sum W X + multiplier_b B) ([`Combiner`]).
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
    let combiner = Combiner::new(plan, budget, bias, out_channels);
    let channel_of = |i: usize| (i / positions) % out_channels;
    let integers = if combiner.wide {
        let values = fill_parallel(
            outputs,
            0i128,
            pool,
            || combiner.scratch(),
            |s, i| {
                // One output channel: no division per element.
                let channel = if out_channels == 1 { 0 } else { channel_of(i) };
                combiner.wide(|l| lane_outputs[l][i], channel, s)
            },
        );
        Integers::Wide(ArrayD::from_shape_vec(IxDyn(output_shape), values).expect("shape"))
    } else {
        let values = fill_parallel(
            outputs,
            Integer::zero(),
            pool,
            || combiner.scratch(),
            |s, i| combiner.big(|l| lane_outputs[l][i], channel_of(i), s),
        );
        Integers::Big(ArrayD::from_shape_vec(IxDyn(output_shape), values).expect("shape"))
    };
    ScaledTensor {
        integers,
        scale: budget.scale.clone(),
    }
}

/// values[i] = value(state, i) for i < len, computed in parallel blocks on `pool`, each block
/// with its own `state` (scratch buffers).
pub(super) fn fill_parallel<T: Clone + Send, S>(
    len: usize,
    zero: T,
    pool: &rayon::ThreadPool,
    state: impl Fn() -> S + Send + Sync,
    value: impl Fn(&mut S, usize) -> T + Send + Sync,
) -> Vec<T> {
    const BLOCK: usize = 4096;
    let mut values = vec![zero; len];
    pool.install(|| {
        values.par_chunks_mut(BLOCK).enumerate().for_each_init(
            &state,
            |scratch, (block_index, block)| {
                for (k, v) in block.iter_mut().enumerate() {
                    *v = value(scratch, block_index * BLOCK + k);
                }
            },
        )
    });
    values
}

impl ScaledTensor {
    /// The integer at one C-order position.
    pub fn integer(&self, index: usize) -> Integer {
        match &self.integers {
            Integers::Dyadic(a) => a.as_slice().map_or_else(
                || a.iter().nth(index).expect("in range").to_integer(),
                |s| s[index].to_integer(),
            ),
            Integers::Narrow(a) => Integer::from(
                *a.as_slice()
                    .map_or_else(|| a.iter().nth(index), |s| s.get(index))
                    .expect("in range"),
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

    /// Every integer, in C order (one pass).
    pub fn integer_values(&self) -> Vec<Integer> {
        match &self.integers {
            Integers::Dyadic(a) => a.iter().map(|d| d.to_integer()).collect(),
            Integers::Narrow(a) => a.iter().map(|&v| Integer::from(v)).collect(),
            Integers::Wide(a) => a.iter().map(|&v| Integer::from(v)).collect(),
            Integers::Big(a) => a.iter().cloned().collect(),
        }
    }
}
