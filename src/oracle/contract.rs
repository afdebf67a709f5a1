//! Floating-point contracts: what an implementation that claims a precision may return.
//!
//! The theorems behind every constant here are stated and proved in `proofs/oracle.md`
//! (O1-O7); this page summarises them.
//!
//! # The model
//!
//! An output element of a linear layer is y = b + sum_{t=1..n} w_t x_t (n = the reduction
//! length, C_in/groups times the kernel volume for a convolution); a pooling element is
//! (sum_t x_t) / d. A kernel that claims a precision computes it as follows:
//!
//! 1. **Inputs cut** to the input format: x' = x(1 + alpha) + a with |alpha| <= u_in,
//!    |a| <= eta_in (both zero when the inputs are already in that format).
//! 2. **Accumulation** as any tree of operations over the n products (and the bias): every
//!    summation order, fused multiply-adds or not, blocking and split-K, each leaf (a product)
//!    rounded at most once. Under the [`Accumulation`] model an operation with j non-zero
//!    addends t_i errs by at most (j - 1) a sum |t_i| plus an absolute eta_op:
//!    * IEEE 754 round to nearest in the accumulator format: a = u_acc, eta_op = eta_acc
//!      (half the smallest subnormal; only products and fused multiply-adds underflow);
//!    * tensor cores (Fasi, Higham, Mikaitis and Pranesh, PeerJ CS 7:e330, 2021; Khattak and
//!      Mikaitis, arXiv 2512.07004): a block of addends aligned to the largest exponent with
//!      F = p - 1 + e fraction bits (e extra alignment bits), the bits shifted out truncated,
//!      the exact sum of the aligned values normalised with round toward zero:
//!      a = 2^-F + 2^(1-p) (1 + 2^-F), whatever the block size; eta_op = 2^e_min (flushing a
//!      subnormal result to zero included).
//!
//!    By induction over the tree (O2), |z - y| <= gamma S + A with
//!    gamma = (1 + u_in)^f (1 + u_acc) (1 + a)^n - 1, S = |b| + sum |w_t||x_t| the magnitude,
//!    f the cut operands per term (2 for products, 1 for sums), and
//!    A = [eta_in (1 + u_in) M1 + eta_in^2 M2 + eta_op M3] (1 + u_acc)(1 + a)^n, where the
//!    reduction supplies M1 (the total weight of the cut's absolute errors: n (max|x| + max|w|),
//!    plus 1 for the bias), M2 (the products: n) and M3 (the operations that can underflow).
//! 3. **Output**: one rounding to the output format (u_out, eta_out; zero when the output
//!    format is the accumulator's), with the **bias** either in the accumulation (fused) or
//!    added after the rounding, as PyTorch on CUDA does (`out = conv(x, w); out.add_(bias)`):
//!
//! ```text
//! fused:  B = (1 + u_out) G + u_out |y| + eta_out
//! after:  B = (1 + u2)(1 + u_out) G + u_out (1 + u2) S + u2 |y| + (2 + u2) eta_out,
//!         u2 = u_out + u_acc + u_out u_acc,   G = gamma S + A
//! ```
//!
//! The second bound is never below the first, so a layer with a bias and an output format
//! narrower than the accumulator (fp16, bf16) is judged by it: both orders pass (O3).
//! Either way B = kappa S + mu |y| + alpha with three constants, each rounded *up* to 64
//! significant bits, so that the per-element arithmetic stays short and the bound rigorous.
//! The powers in gamma are evaluated by binary powering with every product rounded up to
//! 192 bits (O5): microseconds for any n.
//!
//! | precision | inputs cut to | accumulator | output | source |
//! |---|---|---|---|---|
//! | fp64 | binary64 | binary64 | binary64 | IEEE 754 |
//! | fp32 | binary32 | binary32 | binary32 | IEEE 754 |
//! | tf32 | TF32 (10 fraction bits), truncation unless told round to nearest | binary32 | binary32 | NVIDIA Ampere+ tensor cores, PyTorch's default for convolutions |
//! | fp16 | binary16 | binary32 | binary16 | mixed precision with fp32 accumulation |
//! | bf16 | bfloat16 | binary32 | bfloat16 | the same with bfloat16 |
//!
//! The default accumulation is [`Accumulation::Any`]: for the precisions that run on tensor
//! cores (tf32, fp16, bf16) the bound that holds for IEEE and for tensor-core accumulation
//! alike (the tensor-core one, which dominates), so that no legal GPU output fails unless the
//! user says more (`--accumulation ieee` tightens it about fourfold); for fp32 and fp64, whose
//! inputs matrix units take only as IEEE fused multiply-adds, IEEE (`--accumulation
//! tensor-core` asks for the wider bound there too).
//! Pooling and convspec's own float algorithms run IEEE arithmetic on the CPU: the model
//! applies only to reductions that may run on matrix units ([`Reduction::matrix_unit`]).
//!
//! The probabilistic level (Higham and Mary, "A new approach to probabilistic rounding error
//! analysis", SISC 2019): with rounding errors independent and of mean zero, |z - y| <=
//! gamma~(lambda) S with gamma~ ~ lambda sqrt(n) u_acc except with probability at most
//! 2 exp(-lambda^2 (1-u)^2 / 2). An element whose score e = |y_hat - y| / (u S) exceeds
//! lambda sqrt(n) is legal (within B) but suspicious; u is the largest of u_acc, u_in and u_out
//! (TF32's cut of fp32 inputs and fp16's rounded output dominate their errors).

use crate::scalar::{rational_from_parts, FloatFormat, Integer, Rational};
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::fmt;
use std::str::FromStr;

pub use crate::scalar::Precision;

/// How inputs are cut to a narrower format, or how a block result is normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cut {
    /// Truncation toward zero (chopping): u = 2^(1-p). The safe assumption for TF32.
    #[default]
    Truncation,
    /// Round to nearest: u = 2^-p.
    Nearest,
}

/// A tensor core's block fused multiply-add, as the hardware studies describe it: the addends
/// (exact products and the accumulator) aligned to the largest exponent keeping
/// `p - 1 + extra_bits` fraction bits (the rest truncated), summed exactly, and the sum
/// normalised to the accumulator's p bits by `normalisation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorCore {
    /// Fraction bits kept beyond the accumulator's p - 1 when addends are aligned.
    pub extra_bits: u32,
    /// How the block's sum is normalised to the accumulator format.
    pub normalisation: Cut,
}

impl TensorCore {
    /// The least precise of the published models (no extra alignment bits, round toward
    /// zero): its bound holds for every block size and every model with more bits.
    pub const GENERIC: TensorCore = TensorCore {
        extra_bits: 0,
        normalisation: Cut::Truncation,
    };
}

/// The accumulation model of a contract (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accumulation {
    /// The bound that holds for both IEEE and tensor-core accumulation (the default): the
    /// tensor-core one for tf32, fp16 and bf16; IEEE for fp32 and fp64.
    #[default]
    Any,
    /// IEEE 754 round to nearest in the accumulator format, any order, FMA or not.
    Ieee,
    /// A tensor core's block fused multiply-add, any block size and blocking.
    TensorCore(TensorCore),
}

impl Accumulation {
    /// The name on the command line and in reports.
    pub fn name(self) -> String {
        match self {
            Accumulation::Any => "any (IEEE or tensor core)".into(),
            Accumulation::Ieee => "ieee".into(),
            Accumulation::TensorCore(t) if t == TensorCore::GENERIC => "tensor-core".into(),
            Accumulation::TensorCore(t) => format!(
                "tensor-core:extra-bits={},normalisation={}",
                t.extra_bits,
                match t.normalisation {
                    Cut::Truncation => "rz",
                    Cut::Nearest => "rn",
                }
            ),
        }
    }

    /// a and eta_op of an operation in `format` under this model (module documentation).
    fn operation_units(self, format: FloatFormat) -> (Rational, Rational) {
        let (u, eta) = units(format, Cut::Nearest);
        let tensor_core = |t: TensorCore| {
            let p = i64::from(format.precision);
            let f = p - 1 + i64::from(t.extra_bits);
            let normalise = match t.normalisation {
                Cut::Truncation => pow2(1 - p),
                Cut::Nearest => pow2(-p),
            };
            let a = pow2(-f) + normalise * (Rational::one() + pow2(-f));
            (a, pow2(format.min_exponent()))
        };
        match self {
            Accumulation::Ieee => (u, eta),
            Accumulation::TensorCore(t) => tensor_core(t),
            Accumulation::Any => {
                let (a, eta_tc) = tensor_core(TensorCore::GENERIC);
                (a.max(u), eta_tc.max(eta))
            }
        }
    }
}

impl fmt::Display for Accumulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Accumulation {
    type Err = String;
    /// `any`, `ieee`, `tensor-core`, or `tensor-core:extra-bits=E[,normalisation=rz|rn]`.
    fn from_str(s: &str) -> Result<Accumulation, String> {
        let lower = s.to_ascii_lowercase();
        let (head, tail) = lower.split_once(':').unwrap_or((lower.as_str(), ""));
        let unknown = || {
            format!(
                "unknown accumulation '{s}': expected any, ieee, tensor-core or tensor-core:extra-bits=E,normalisation=rz|rn"
            )
        };
        match head {
            "any" if tail.is_empty() => Ok(Accumulation::Any),
            "ieee" if tail.is_empty() => Ok(Accumulation::Ieee),
            "tensor-core" | "tensorcore" => {
                let mut model = TensorCore::GENERIC;
                for part in tail.split(',').filter(|p| !p.is_empty()) {
                    match part.split_once('=') {
                        Some(("extra-bits", v)) => {
                            model.extra_bits = v
                                .parse::<u32>()
                                .ok()
                                .filter(|&e| e <= 64)
                                .ok_or_else(unknown)?;
                        }
                        Some(("normalisation" | "normalization", "rz")) => {
                            model.normalisation = Cut::Truncation;
                        }
                        Some(("normalisation" | "normalization", "rn")) => {
                            model.normalisation = Cut::Nearest;
                        }
                        _ => return Err(unknown()),
                    }
                }
                Ok(Accumulation::TensorCore(model))
            }
            _ => Err(unknown()),
        }
    }
}

/// 2^e exactly.
pub fn pow2(e: i64) -> Rational {
    rational_from_parts(Integer::one(), e)
}

/// Unit roundoff and underflow constant of `format` under a rounding rule.
pub(super) fn units(format: FloatFormat, cut: Cut) -> (Rational, Rational) {
    let p = i64::from(format.precision);
    let e_min = format.min_exponent();
    match cut {
        Cut::Nearest => (pow2(-p), pow2(e_min - p)),
        Cut::Truncation => (pow2(1 - p), pow2(e_min - p + 1)),
    }
}

/// The smallest dyadic m 2^-k >= q with m of at most `bits` bits (q >= 0): an upper bound with
/// the same leading bits.
fn round_up_bits(q: &Rational, bits: i64) -> Rational {
    if q.is_zero() {
        return Rational::zero();
    }
    let n = q.numer().abs();
    let d = q.denom();
    let magnitude = n.bits() as i64 - d.bits() as i64; // log2 q within 1
    let k = bits - 1 - magnitude; // q 2^k below 2^bits
    let (num, den) = if k >= 0 {
        (n << k as usize, d.clone())
    } else {
        (n, d << (-k) as usize)
    };
    let (quotient, remainder) = num_integer::Integer::div_rem(&num, &den);
    let m = if remainder.is_zero() {
        quotient
    } else {
        quotient + Integer::one()
    };
    rational_from_parts(m, -k)
}

/// The smallest dyadic m 2^-k >= q with m of at most 64 bits (q >= 0): an upper bound with the
/// same leading bits, so that products with it stay short.
pub fn round_up_64(q: &Rational) -> Rational {
    round_up_bits(q, 64)
}

/// An upper bound of base^k (base >= 1), within a relative 2^-180 k: binary powering with
/// every product rounded up to 192 bits (`proofs/oracle.md` O5). O(log k) short products.
///
/// A dyadic base (every base the contracts raise: 1 + a unit roundoff) is powered on
/// (integer, exponent) pairs, each product rounded up to 192 bits by a shift: the same values
/// as the rational steps, without their gcds (tens of microseconds per power otherwise).
pub fn pow_up(base: &Rational, k: usize) -> Rational {
    pow_up_dyadic(base, k).unwrap_or_else(|| pow_up_rational(base, k))
}

/// [`pow_up`] by rational steps, each product rounded up by [`round_up_bits`].
fn pow_up_rational(base: &Rational, k: usize) -> Rational {
    let mut result = Rational::one();
    let mut square = round_up_bits(base, 192);
    let mut k = k;
    while k > 0 {
        if k & 1 == 1 {
            result = round_up_bits(&(&result * &square), 192);
        }
        k >>= 1;
        if k > 0 {
            square = round_up_bits(&(&square * &square), 192);
        }
    }
    result
}

/// [`pow_up`] of a base m 2^e (a power-of-two denominator): m^k 2^(ek) with every product
/// rounded up to 192 bits as [`round_up_bits`] rounds it (a mantissa of more than 192 bits cut
/// to its top 192, plus one when a dropped bit is set); None for another base.
fn pow_up_dyadic(base: &Rational, k: usize) -> Option<Rational> {
    let d = base.denom();
    let shift = d.trailing_zeros()?;
    if d.bits() != shift + 1 || !base.numer().is_positive() {
        return None;
    }
    let up = |(m, e): (Integer, i64)| -> (Integer, i64) {
        let excess = m.bits().saturating_sub(192);
        if excess == 0 {
            return (m, e);
        }
        let dropped = m.trailing_zeros().expect("m > 0") < excess;
        (
            (m >> excess as usize) + Integer::from(u8::from(dropped)),
            e + excess as i64,
        )
    };
    let mut result = (Integer::one(), 0i64);
    let mut square = up((base.numer().clone(), -(shift as i64)));
    let mut k = k;
    while k > 0 {
        if k & 1 == 1 {
            result = up((&result.0 * &square.0, result.1 + square.1));
        }
        k >>= 1;
        if k > 0 {
            square = up((&square.0 * &square.0, 2 * square.1));
        }
    }
    Some(rational_from_parts(result.0, result.1))
}

/// The constants of one contract for one operation: everything of the bound
/// B = kappa S + mu |y| + alpha that does not depend on the element.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    /// The claimed precision.
    pub precision: Precision,
    /// The accumulation model the bound covers (IEEE for reductions that do not run on matrix
    /// units).
    pub accumulation: Accumulation,
    /// Whether the inputs were already in the input format (then u_in = eta_in = 0).
    pub inputs_in_format: bool,
    /// Whether the operation adds a bias.
    pub bias: bool,
    /// Whether the bound also covers a bias added after the output's rounding.
    pub bias_after_rounding: bool,
    /// gamma = (1+u_in)^f (1+u_acc)(1+a)^n - 1, rounded up to 64 bits.
    pub gamma: Rational,
    /// The absolute part A of the accumulation, rounded up to 64 bits.
    pub underflow: Rational,
    /// kappa, the coefficient of S in B.
    pub kappa: Rational,
    /// mu, the coefficient of |y| in B.
    pub mu: Rational,
    /// alpha, the absolute part of B.
    pub alpha: Rational,
    /// u_out (zero when the output format is the accumulator's).
    pub u_out: Rational,
    /// eta_out.
    pub eta_out: Rational,
    /// u_acc, the accumulator's unit roundoff.
    pub u_acc: Rational,
    /// The unit of the score e = |error| / (u S): the largest of u_acc, u_in and u_out.
    pub score_unit: Rational,
    /// The reduction length n.
    pub terms: usize,
}

/// What the bound needs to know of the operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduction {
    /// n, the largest number of terms in one output element (the bias not counted).
    pub terms: usize,
    /// f, the number of cut operands in one term (2 for products, 1 for sums).
    pub factors: u32,
    /// Whether a bias is added (it may be added after the output's rounding).
    pub bias: bool,
    /// M1: the total weight of the inputs' absolute cut errors in one element (for products
    /// sum_t (|x_t| + |w_t|), bounded by n (max|x| + max|w|); for a mean, count / divisor;
    /// plus 1 for the bias).
    pub cut_weight: Rational,
    /// M2: the number of products of two cut absolute errors (n for products, 0 for sums).
    pub cut_products: Rational,
    /// M3: the operations whose underflow (eta_op each, as weighted by the algorithm's
    /// coefficients) can reach one element.
    pub underflow_ops: Rational,
    /// Whether the reduction may run on matrix units (tensor cores): the [`Accumulation`]
    /// model applies. False for pooling and for convspec's own float algorithms.
    pub matrix_unit: bool,
}

impl Reduction {
    /// The reduction of n products w x (a linear layer, a gradient): M1 = n (max|x| + max|w|)
    /// (+ 1 with a bias), M2 = n, M3 = 2n (each product and the operation that adds it).
    pub fn products(terms: usize, operand_max: Rational, bias: bool) -> Reduction {
        let n = Rational::from_integer(terms.into());
        Reduction {
            terms,
            factors: 2,
            bias,
            cut_weight: &n * operand_max + Rational::from_integer(u8::from(bias).into()),
            cut_products: n.clone(),
            underflow_ops: n * Rational::from_integer(2.into()),
            matrix_unit: true,
        }
    }

    /// The reduction of a sum of n inputs divided by d (pooling): M1 = `cut_weight` (the
    /// largest count / divisor), M2 = 0, M3 = n + 1 when it divides (the division, or the n
    /// products by a rounded 1/d of an implementation that scales each input, as a correlation
    /// with the constant kernel 1/d does; additions are exact when they underflow), IEEE
    /// arithmetic.
    pub fn sum(terms: usize, cut_weight: Rational, divides: bool) -> Reduction {
        let divisions = if divides { terms + 1 } else { 0 };
        Reduction {
            terms,
            factors: 1,
            bias: false,
            cut_weight,
            cut_products: Rational::zero(),
            underflow_ops: Rational::from_integer(divisions.into()),
            matrix_unit: false,
        }
    }
}

impl Contract {
    /// The contract of `precision` for a reduction; `inputs_in_format` when every input is
    /// representable in the precision's input format; `cut` how inputs are cut to TF32 (other
    /// formats are rounded to nearest, as conversions are); `accumulation` the model of the
    /// sums (used where the reduction may run on matrix units).
    pub fn new(
        precision: Precision,
        reduction: &Reduction,
        inputs_in_format: bool,
        cut: Cut,
        accumulation: Accumulation,
    ) -> Contract {
        let one = Rational::one();
        let accumulator = precision.accumulator_format();
        let accumulation = match accumulation {
            _ if !reduction.matrix_unit => Accumulation::Ieee,
            // Matrix units take fp32 and fp64 inputs only as IEEE arithmetic (FP64 tensor
            // cores are IEEE fused multiply-adds); an fp32 claim computed on TF32 tensor cores
            // is what the fp32 contract must reject.
            Accumulation::Any if matches!(precision, Precision::Fp32 | Precision::Fp64) => {
                Accumulation::Ieee
            }
            other => other,
        };
        let (u_acc, _) = units(accumulator, Cut::Nearest);
        let (a, eta_op) = accumulation.operation_units(accumulator);
        let (u_in, eta_in) = if inputs_in_format {
            (Rational::zero(), Rational::zero())
        } else {
            let rule = if precision == Precision::Tf32 {
                cut
            } else {
                Cut::Nearest
            };
            units(precision.input_format(), rule)
        };
        let output = precision.output_format();
        let (u_out, eta_out) = if output == accumulator {
            (Rational::zero(), Rational::zero())
        } else {
            units(output, Cut::Nearest)
        };
        let n = reduction.terms;
        // (1 + u_acc)(1 + a)^n and (1 + u_in)^f, upper bounds (O5).
        let growth = round_up_bits(&((&one + &u_acc) * pow_up(&(&one + &a), n)), 192);
        let cut_growth = pow_up(&(&one + &u_in), reduction.factors as usize);
        let gamma = round_up_64(&(&cut_growth * &growth - &one));
        let absolute = &eta_in * (&one + &u_in) * &reduction.cut_weight
            + &eta_in * &eta_in * &reduction.cut_products
            + &eta_op * &reduction.underflow_ops;
        let underflow = round_up_64(&(absolute * &growth));
        let bias_after_rounding = reduction.bias && !u_out.is_zero();
        let (kappa, mu, alpha) = if bias_after_rounding {
            let u2 = &u_out + &u_acc + &u_out * &u_acc;
            let c_g = (&one + &u2) * (&one + &u_out);
            (
                &c_g * &gamma + &u_out * (&one + &u2),
                u2.clone(),
                &c_g * &underflow + (Rational::from_integer(2.into()) + &u2) * &eta_out,
            )
        } else {
            let c_g = &one + &u_out;
            (&c_g * &gamma, u_out.clone(), &c_g * &underflow + &eta_out)
        };
        let score_unit = [&u_in, &u_out].into_iter().fold(u_acc.clone(), |unit, u| {
            if *u > unit {
                u.clone()
            } else {
                unit
            }
        });
        Contract {
            precision,
            accumulation,
            inputs_in_format,
            bias: reduction.bias,
            bias_after_rounding,
            gamma,
            underflow,
            kappa: round_up_64(&kappa),
            mu: round_up_64(&mu),
            alpha: round_up_64(&alpha),
            u_out,
            eta_out,
            u_acc,
            score_unit,
            terms: n,
        }
    }

    /// The contract of a selection (max pooling): the result is one input, so the only error
    /// allowed is the rounding of that input to the output format (B = |fl_out(y) - y|, checked
    /// as equality with the correctly rounded y).
    pub fn selection(precision: Precision) -> Contract {
        let u_acc = units(precision.accumulator_format(), Cut::Nearest).0;
        Contract {
            precision,
            accumulation: Accumulation::Ieee,
            inputs_in_format: true,
            bias: false,
            bias_after_rounding: false,
            gamma: Rational::zero(),
            underflow: Rational::zero(),
            kappa: Rational::zero(),
            mu: Rational::zero(),
            alpha: Rational::zero(),
            u_out: Rational::zero(),
            eta_out: Rational::zero(),
            score_unit: u_acc.clone(),
            u_acc,
            terms: 1,
        }
    }

    /// B = kappa S + mu |y| + alpha for an element with exact value y and magnitude S (see
    /// the module documentation).
    pub fn bound(&self, y: &Rational, magnitude: &Rational) -> Rational {
        &self.kappa * magnitude + &self.mu * y.abs() + &self.alpha
    }

    /// A bound on the magnitude of every partial result of the accumulation: S (1 + gamma) + A.
    pub fn partial_bound(&self, magnitude: &Rational) -> Rational {
        magnitude * (Rational::one() + &self.gamma) + &self.underflow
    }

    /// lambda sqrt(n), the probabilistic level of the score.
    pub fn probabilistic_level(&self, lambda: f64) -> f64 {
        lambda * (self.terms as f64).sqrt()
    }

    /// gamma as a float, for reports.
    pub fn gamma_f64(&self) -> f64 {
        self.gamma.to_f64().unwrap_or(f64::INFINITY)
    }

    /// The one-line description of the contract in reports.
    pub fn describe(&self) -> String {
        format!(
            "{} (inputs {}in its format), accumulation {}, bias {}, n = {}, gamma = {:.4e}",
            self.precision,
            if self.inputs_in_format { "" } else { "not " },
            self.accumulation,
            match (self.bias, self.bias_after_rounding) {
                (_, true) => "fused or added after the output's rounding",
                (true, false) => "fused or added after (one more accumulator rounding)",
                (false, _) => "none",
            },
            self.terms,
            self.gamma_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn products(n: usize) -> Reduction {
        Reduction::products(n, Rational::one(), false)
    }

    /// proofs/oracle.md O1 and O2: gamma to first order, IEEE and tensor core.
    #[test]
    fn gamma_matches_the_first_order_term() {
        // fp32, n = 576 products with inputs in format, IEEE: gamma ~ 577 * 2^-24.
        let c = Contract::new(
            Precision::Fp32,
            &products(576),
            true,
            Cut::Truncation,
            Accumulation::Ieee,
        );
        let first_order = 577.0 * 2f64.powi(-24);
        let g = c.gamma_f64();
        assert!(
            g > first_order && g < first_order * 1.0001,
            "{g} {first_order}"
        );
        // TF32 truncation adds 2 * 2^-10.
        let t = Contract::new(
            Precision::Tf32,
            &products(576),
            false,
            Cut::Truncation,
            Accumulation::Ieee,
        );
        let expected = first_order + 2.0 * 2f64.powi(-10);
        assert!(
            (t.gamma_f64() / expected - 1.0).abs() < 1e-3,
            "{}",
            t.gamma_f64()
        );
        let nearest = Contract::new(
            Precision::Tf32,
            &products(576),
            false,
            Cut::Nearest,
            Accumulation::Ieee,
        );
        assert!(nearest.gamma_f64() < t.gamma_f64());
        // The tensor-core model: a = 2^-23 + 2^-23 (1 + 2^-23) ~ 4 u per term; Any is the same.
        let tc = Contract::new(
            Precision::Fp32,
            &products(576),
            true,
            Cut::Truncation,
            Accumulation::TensorCore(TensorCore::GENERIC),
        );
        let tc_first = 2f64.powi(-24) + 576.0 * 4.0 * 2f64.powi(-24);
        assert!(
            (tc.gamma_f64() / tc_first - 1.0).abs() < 1e-3,
            "{}",
            tc.gamma_f64()
        );
        let any = Contract::new(
            Precision::Fp32,
            &products(576),
            true,
            Cut::Truncation,
            Accumulation::Any,
        );
        assert_eq!(
            any.gamma, c.gamma,
            "fp32 claims are IEEE unless told otherwise"
        );
        let [tc16, any16] = [
            Accumulation::TensorCore(TensorCore::GENERIC),
            Accumulation::Any,
        ]
        .map(|a| Contract::new(Precision::Fp16, &products(576), true, Cut::Truncation, a));
        assert_eq!(tc16.gamma, any16.gamma);
        // Pooling is IEEE whatever the model asked for.
        let pool = Contract::new(
            Precision::Fp32,
            &Reduction::sum(9, Rational::one(), true),
            true,
            Cut::Truncation,
            Accumulation::Any,
        );
        assert_eq!(pool.accumulation, Accumulation::Ieee);
    }

    /// proofs/oracle.md O5.
    #[test]
    fn pow_up_is_an_upper_bound_close_to_the_power() {
        // Against the exact power for small exponents.
        for (base, k) in [(pow2(-24), 1000usize), (pow2(-53), 77), (pow2(-11), 513)] {
            let b = Rational::one() + base;
            let exact = num_traits::pow(b.clone(), k);
            let up = pow_up(&b, k);
            assert!(up >= exact, "k = {k}");
            assert!(&up - &exact <= &exact * pow2(-170), "k = {k}");
        }
        // Large n costs microseconds, not minutes: gamma for n = 10^7 (checked to first order).
        let start = std::time::Instant::now();
        let c = Contract::new(
            Precision::Fp32,
            &products(10_000_000),
            true,
            Cut::Truncation,
            Accumulation::Ieee,
        );
        let expected = ((10_000_001.0f64) * (2f64.powi(-24)).ln_1p()).exp_m1();
        assert!(
            (c.gamma_f64() / expected - 1.0).abs() < 1e-9,
            "{}",
            c.gamma_f64()
        );
        assert!(start.elapsed().as_secs_f64() < 1.0);
    }

    /// The powers of dyadic bases on (integer, exponent) pairs are the rational steps'
    /// powers, value for value: bases 1 + 2^-e of the formats, others with long numerators
    /// (whose products are cut at 192 bits with and without dropped bits set), exponents up to
    /// 10^5; a base with another denominator takes the rational steps.
    #[test]
    fn dyadic_powers_are_the_rational_powers() {
        let mut bases: Vec<Rational> = [8, 11, 24, 53, 113, 200]
            .iter()
            .map(|&e| Rational::one() + pow2(-e))
            .collect();
        bases.push(Rational::new(
            (Integer::one() << 150usize) + Integer::from(12345),
            Integer::one() << 149usize,
        ));
        bases.push(Rational::new(Integer::from(3), Integer::from(2)));
        bases.push(Rational::one());
        for base in &bases {
            for k in [0usize, 1, 2, 3, 7, 64, 576, 1001, 4096, 99_999] {
                assert_eq!(
                    pow_up_dyadic(base, k).expect("a dyadic base"),
                    pow_up_rational(base, k),
                    "{base}^{k}"
                );
            }
        }
        let third = Rational::new(Integer::from(4), Integer::from(3));
        assert!(pow_up_dyadic(&third, 5).is_none());
        assert_eq!(pow_up(&third, 5), pow_up_rational(&third, 5));
    }

    /// proofs/oracle.md O3, with its negative control.
    #[test]
    fn bias_after_rounding_widens_only_narrow_outputs_with_a_bias() {
        let with_bias = Reduction::products(9, Rational::one(), true);
        let fp16 = Contract::new(
            Precision::Fp16,
            &with_bias,
            true,
            Cut::Truncation,
            Accumulation::Ieee,
        );
        assert!(fp16.bias_after_rounding);
        let fp32 = Contract::new(
            Precision::Fp32,
            &with_bias,
            true,
            Cut::Truncation,
            Accumulation::Ieee,
        );
        assert!(!fp32.bias_after_rounding);
        let no_bias = Contract::new(
            Precision::Fp16,
            &products(9),
            true,
            Cut::Truncation,
            Accumulation::Ieee,
        );
        assert!(!no_bias.bias_after_rounding);
        // The seed of the bug: x = 2047, w = 1 + 2^-10, b = -2047 in fp16. PyTorch on CUDA
        // rounds x w = 2048.999 to 2048, then adds b: 1.0 against the exact 1.99902.
        let y = Rational::from_integer(2047.into()) * pow2(-10);
        let s = Rational::from_integer(2047.into()) * (Rational::one() + pow2(-10))
            + Rational::from_integer(2047.into());
        let error = (Rational::one() - &y).abs();
        assert!(
            error <= fp16.bound(&y, &s),
            "added after rounding must pass"
        );
        // The fused bound alone would condemn it (the negative control).
        let fused_only = &no_bias.kappa * &s + &no_bias.mu * &y + &no_bias.alpha;
        assert!(error > fused_only);
    }

    #[test]
    fn accumulation_parses() {
        assert_eq!("ieee".parse::<Accumulation>(), Ok(Accumulation::Ieee));
        assert_eq!("any".parse::<Accumulation>(), Ok(Accumulation::Any));
        assert_eq!(
            "tensor-core".parse::<Accumulation>(),
            Ok(Accumulation::TensorCore(TensorCore::GENERIC))
        );
        assert_eq!(
            "tensor-core:extra-bits=3,normalisation=rn".parse::<Accumulation>(),
            Ok(Accumulation::TensorCore(TensorCore {
                extra_bits: 3,
                normalisation: Cut::Nearest
            }))
        );
        assert!("tensor-core:h100".parse::<Accumulation>().is_err());
        assert!("fast".parse::<Accumulation>().is_err());
    }

    #[test]
    fn round_up_64_is_an_upper_bound_with_64_bits() {
        let third = Rational::new(1.into(), 3.into());
        let up = round_up_64(&third);
        assert!(up > third);
        assert!(up.numer().bits() <= 64);
        assert!(&up - &third < pow2(-64));
        assert_eq!(round_up_64(&pow2(-1075)), pow2(-1075));
    }
}
