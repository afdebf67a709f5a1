//! Floating-point contracts: what an implementation that claims a precision may return.
//!
//! # The model (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., ch. 2-3)
//!
//! Every rounded operation of a format with unit roundoff u returns
//! fl(a op b) = (a op b)(1 + delta) + eta with |delta| <= u and |eta| <= eta_min, where eta is
//! non-zero only for products that underflow (Higham's (2.8) with gradual underflow; sums of
//! floats are exact when they underflow). For round to nearest u = 2^-p and eta_min = 2^(e_min-p)
//! (half the smallest subnormal); for truncation (chopping) both double.
//!
//! An output element of a linear layer is y = b + sum_{t=1..n} w_t x_t (n = the reduction
//! length, C_in/groups times the kernel volume for a convolution). A kernel that claims a
//! precision computes it as follows, in any order of summation (direct, im2col, GEMM, split-K):
//!
//! 1. Inputs cut to the input format: x' = x(1 + alpha) + a with |alpha| <= u_in, |a| <= eta_in
//!    (u_in = eta_in = 0 when the inputs are already in that format).
//! 2. Products and sums in the accumulator format (unit u_acc, underflow eta_acc). Each term
//!    meets at most n + 1 roundings (its product and n additions, the bias included), so by
//!    Higham's Lemma 3.1 and (3.4)-(3.5) the accumulated z satisfies
//!    |z - y| <= [(1+u_in)^f (1+u_acc)^(n+1) - 1] S + A, where S = |b| + sum |w_t||x_t| is the
//!    magnitude, f the number of cut operands per term (2 for products, 1 for pooling sums) and
//!    A = n (eta_in (1+u_in)(m_x + m_w) + eta_in^2 + eta_acc)(1+u_acc)^(n+1) the underflow part
//!    (m_x, m_w the largest input magnitudes).
//! 3. One rounding to the output format (unit u_out, underflow eta_out; zero when the output
//!    format is the accumulator's): |y_hat - z| <= u_out |z| + eta_out.
//!
//! Hence the componentwise bound used by the oracle:
//!
//! ```text
//! B = G + u_out (|y| + G) + eta_out,   G = gamma S + A,   gamma = (1+u_in)^f (1+u_acc)^(n+1) - 1
//! ```
//!
//! with gamma and A rounded *up* to 64 significant bits (the bound stays rigorous and its
//! per-element arithmetic short). The precisions:
//!
//! | precision | inputs cut to | accumulator | output | source |
//! |---|---|---|---|---|
//! | fp64 | binary64 | binary64 | binary64 | IEEE 754 |
//! | fp32 | binary32 | binary32 | binary32 | IEEE 754 |
//! | tf32 | TF32 (10 fraction bits), truncation unless told round to nearest | binary32 | binary32 | NVIDIA Ampere+ tensor cores, PyTorch's default for convolutions |
//! | fp16 | binary16 | binary32 | binary16 | mixed precision with fp32 accumulation |
//! | bf16 | bfloat16 | binary32 | bfloat16 | the same with bfloat16 |
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

/// The arithmetic an implementation claims: the formats of its inputs, accumulator and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Precision {
    /// binary64 throughout.
    Fp64,
    /// binary32 throughout (PyTorch with `allow_tf32 = False`).
    Fp32,
    /// Inputs cut to TF32, binary32 accumulation and output (cuDNN's default in PyTorch).
    Tf32,
    /// binary16 inputs and output, binary32 accumulation.
    Fp16,
    /// bfloat16 inputs and output, binary32 accumulation.
    Bf16,
}

impl Precision {
    /// Every precision, from the tightest contract to the loosest.
    pub const ALL: [Precision; 5] = [
        Precision::Fp64,
        Precision::Fp32,
        Precision::Tf32,
        Precision::Fp16,
        Precision::Bf16,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp64 => "fp64",
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
        }
    }

    /// The format the inputs are cut to before the arithmetic.
    pub fn input_format(self) -> FloatFormat {
        match self {
            Precision::Fp64 => FloatFormat::F64,
            Precision::Fp32 => FloatFormat::F32,
            Precision::Tf32 => FloatFormat::TF32,
            Precision::Fp16 => FloatFormat::F16,
            Precision::Bf16 => FloatFormat::BF16,
        }
    }

    /// The accumulator's unit roundoff u = 2^-p (round to nearest).
    pub fn accumulator_unit(self) -> f64 {
        f64::powi(2.0, -(self.accumulator_format().precision as i32))
    }

    /// The format of the products and sums.
    pub fn accumulator_format(self) -> FloatFormat {
        match self {
            Precision::Fp64 => FloatFormat::F64,
            _ => FloatFormat::F32,
        }
    }

    /// The format of the result.
    pub fn output_format(self) -> FloatFormat {
        match self {
            Precision::Fp64 => FloatFormat::F64,
            Precision::Fp32 | Precision::Tf32 => FloatFormat::F32,
            Precision::Fp16 => FloatFormat::F16,
            Precision::Bf16 => FloatFormat::BF16,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Precision, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "fp64" | "float64" | "f64" | "double" => Precision::Fp64,
            "fp32" | "float32" | "f32" | "float" => Precision::Fp32,
            "tf32" | "tensorfloat32" => Precision::Tf32,
            "fp16" | "float16" | "f16" | "half" => Precision::Fp16,
            "bf16" | "bfloat16" => Precision::Bf16,
            other => {
                return Err(format!(
                    "unknown precision '{other}': expected fp64, fp32, tf32, fp16 or bf16"
                ))
            }
        })
    }
}

/// How inputs are cut to a narrower format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cut {
    /// Truncation toward zero (chopping): u = 2^(1-p). The safe assumption for TF32.
    #[default]
    Truncation,
    /// Round to nearest: u = 2^-p.
    Nearest,
}

/// 2^e exactly.
pub fn pow2(e: i64) -> Rational {
    rational_from_parts(Integer::one(), e)
}

/// Unit roundoff and underflow constant of `format` under a rounding rule.
fn units(format: FloatFormat, cut: Cut) -> (Rational, Rational) {
    let p = i64::from(format.precision);
    let e_min = format.min_exponent();
    match cut {
        Cut::Nearest => (pow2(-p), pow2(e_min - p)),
        Cut::Truncation => (pow2(1 - p), pow2(e_min - p + 1)),
    }
}

/// The smallest dyadic m 2^-k >= q with m of at most 64 bits (q >= 0): an upper bound with the
/// same leading bits, so that products with it stay short.
pub fn round_up_64(q: &Rational) -> Rational {
    if q.is_zero() {
        return Rational::zero();
    }
    let n = q.numer().abs();
    let d = q.denom().clone();
    let magnitude = n.bits() as i64 - d.bits() as i64; // log2 q within 1
    let k = 63 - magnitude; // q 2^k below 2^64
    let scaled = if k >= 0 {
        Rational::new(n << k as usize, d)
    } else {
        Rational::new(n, d << (-k) as usize)
    };
    rational_from_parts(scaled.ceil().to_integer(), -k)
}

/// The constants of one contract for one operation: everything of the bound B that does not
/// depend on the element.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    /// The claimed precision.
    pub precision: Precision,
    /// Whether the inputs were already in the input format (then u_in = eta_in = 0).
    pub inputs_in_format: bool,
    /// gamma = (1+u_in)^f (1+u_acc)^(n+1) - 1, rounded up to 64 bits.
    pub gamma: Rational,
    /// The underflow part A, rounded up to 64 bits.
    pub underflow: Rational,
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
    /// n, the largest number of terms in one output element.
    pub terms: usize,
    /// f, the number of cut operands in one term (2 for products, 1 for sums).
    pub factors: u32,
    /// m_x + m_w: the sum of the largest input magnitudes (for the underflow of the cut).
    pub operand_max: Rational,
    /// A further absolute error of this many times the accumulator's underflow unit eta: the
    /// multiplications an algorithm adds beyond the n products (Winograd's transforms; zero for
    /// direct sums).
    pub underflow_events: Rational,
}

impl Contract {
    /// The contract of `precision` for a reduction; `inputs_in_format` when every input is
    /// representable in the precision's input format; `cut` how inputs are cut to TF32 (other
    /// formats are rounded to nearest, as conversions are).
    pub fn new(
        precision: Precision,
        reduction: &Reduction,
        inputs_in_format: bool,
        cut: Cut,
    ) -> Contract {
        let accumulator = precision.accumulator_format();
        let (u_acc, eta_acc) = units(accumulator, Cut::Nearest);
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
        let one = Rational::one();
        let n = reduction.terms;
        let growth = num_traits::pow(&one + &u_acc, n + 1);
        let cut_growth = num_traits::pow(&one + &u_in, reduction.factors as usize);
        let gamma = round_up_64(&(&cut_growth * &growth - &one));
        let per_term =
            &eta_in * (&one + &u_in) * &reduction.operand_max + &eta_in * &eta_in + &eta_acc;
        let extra = &reduction.underflow_events * &eta_acc;
        let underflow =
            round_up_64(&(per_term * Rational::from_integer(n.into()) * growth + extra));
        let score_unit = [&u_in, &u_out].into_iter().fold(u_acc.clone(), |unit, u| {
            if *u > unit {
                u.clone()
            } else {
                unit
            }
        });
        Contract {
            precision,
            inputs_in_format,
            gamma,
            underflow,
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
        Contract {
            precision,
            inputs_in_format: true,
            gamma: Rational::zero(),
            underflow: Rational::zero(),
            u_out: Rational::zero(),
            eta_out: Rational::zero(),
            u_acc: units(precision.accumulator_format(), Cut::Nearest).0,
            score_unit: units(precision.accumulator_format(), Cut::Nearest).0,
            terms: 1,
        }
    }

    /// B for an element with exact value y and magnitude S (see the module documentation).
    pub fn bound(&self, y: &Rational, magnitude: &Rational) -> Rational {
        let accumulated = &self.gamma * magnitude + &self.underflow;
        if self.u_out.is_zero() {
            return accumulated;
        }
        let rounding = &self.u_out * (y.abs() + &accumulated) + &self.eta_out;
        accumulated + rounding
    }

    /// lambda sqrt(n), the probabilistic level of the score.
    pub fn probabilistic_level(&self, lambda: f64) -> f64 {
        lambda * (self.terms as f64).sqrt()
    }

    /// gamma as a float, for reports.
    pub fn gamma_f64(&self) -> f64 {
        self.gamma.to_f64().unwrap_or(f64::INFINITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_matches_the_first_order_term() {
        // fp32, n = 576 products with inputs in format: gamma ~ 577 * 2^-24.
        let reduction = Reduction {
            terms: 576,
            factors: 2,
            operand_max: Rational::one(),
            underflow_events: Rational::zero(),
        };
        let c = Contract::new(Precision::Fp32, &reduction, true, Cut::Truncation);
        let first_order = 577.0 * 2f64.powi(-24);
        let g = c.gamma_f64();
        assert!(
            g > first_order && g < first_order * 1.0001,
            "{g} {first_order}"
        );
        // TF32 truncation adds 2 * 2^-10.
        let t = Contract::new(Precision::Tf32, &reduction, false, Cut::Truncation);
        let expected = first_order + 2.0 * 2f64.powi(-10);
        assert!(
            (t.gamma_f64() / expected - 1.0).abs() < 1e-3,
            "{}",
            t.gamma_f64()
        );
        let nearest = Contract::new(Precision::Tf32, &reduction, false, Cut::Nearest);
        assert!(nearest.gamma_f64() < t.gamma_f64());
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
