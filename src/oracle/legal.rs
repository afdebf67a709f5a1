//! Legal outputs: what real floating-point arithmetic can return for an operator, computed
//! element by element with the software model of [`super::softfloat`] in many legal orders
//! (sequential, reversed, shuffled, pairwise, split-K, fused multiply-adds, tensor-core blocks
//! of any size with truncated alignment), with the bias fused or added after the output's
//! rounding, and PyTorch's pad-then-fold order for gradients through padding. The oracle must
//! pass every one of them (`proofs/oracle.md` O1-O4); the tests in this module check that on
//! random and adversarial layers, and that outputs just beyond the bound fail.
//!
//! An element is described by its terms, as the symbolic engine lists them: the products
//! w x (or the summands of a mean), grouped where the computation groups them (the copies of
//! a padded input's gradient), the bias, and the divisor of a mean.

use super::contract::{Cut, Precision};
use super::softfloat::{round, BlockFma, Rounding, Value};
use crate::scalar::{FloatFormat, Rational};
use crate::symbolic::{Polynomial, Variable};
use ndarray::ArrayD;
use num_traits::{One, Signed, ToPrimitive};

/// One term of an element: a product of two inputs, or one input of a sum.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// w x.
    Product(Value, Value),
    /// x.
    Single(Value),
}

/// An output element as the arithmetic sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element {
    /// The terms, in groups that are summed first (one group unless the computation groups).
    pub groups: Vec<Vec<Term>>,
    /// The bias.
    pub bias: Option<Value>,
    /// The divisor of a mean.
    pub divisor: Option<Rational>,
}

/// A summation order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Order {
    /// Left to right, products rounded first.
    Sequential,
    /// Right to left.
    Reverse,
    /// A permutation drawn from the seed.
    Shuffled(u64),
    /// Pairwise (recursive halves).
    Pairwise,
    /// Chunks of k summed from zero, then the chunks' sums in order (split-K).
    SplitK(usize),
    /// Left to right with fused multiply-adds (products not rounded).
    Fma,
    /// Tensor-core blocks of `block` products added to the accumulator by a block FMA.
    TensorCore {
        /// Products per block.
        block: usize,
        /// The block's arithmetic.
        fma: BlockFma,
    },
}

impl Order {
    /// Whether the order is IEEE arithmetic.
    pub fn is_ieee(self) -> bool {
        !matches!(self, Order::TensorCore { .. })
    }
}

/// Where the bias enters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BiasPlacement {
    /// As the accumulator's first value.
    First,
    /// Added to the accumulated sum in the accumulator format.
    Last,
    /// Added to the output after its rounding (`out = conv(x, w); out.add_(bias)`), the sum
    /// computed in the accumulator format and rounded to the output format.
    AfterRounding,
}

/// How a mean is divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Division {
    /// fl(sum / d).
    Divide,
    /// fl(sum * fl(1/d)).
    Reciprocal,
    /// sum of fl(x * fl(1/d)).
    ReciprocalEach,
}

/// The arithmetic of one legal computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arithmetic {
    /// The claimed precision (formats of inputs, accumulator and output).
    pub precision: Precision,
    /// The summation order.
    pub order: Order,
    /// The bias's place.
    pub bias: BiasPlacement,
    /// The mean's division.
    pub division: Division,
}

fn nearest(v: &Value, format: FloatFormat) -> Option<Value> {
    round(v, format, Rounding::Nearest)
}

/// A rational (a quotient, not a dyadic value) rounded to nearest into `format`.
fn nearest_rational(q: &Rational, format: FloatFormat) -> Option<Value> {
    Value::from_rational(&crate::scalar::round_to_format(q, format)?)
}

/// The inputs cut to the precision's input format as the hardware does (round to nearest;
/// TF32 by `tf32_cut`). Values beyond the format are refused.
pub fn cut(t: &ArrayD<Rational>, precision: Precision, tf32_cut: Cut) -> Option<ArrayD<Rational>> {
    let rule = match (precision, tf32_cut) {
        (Precision::Tf32, Cut::Truncation) => Rounding::TowardZero,
        _ => Rounding::Nearest,
    };
    let values: Option<Vec<Rational>> = t
        .iter()
        .map(|q| {
            Value::from_rational(q)
                .and_then(|v| round(&v, precision.input_format(), rule))
                .map(|v| v.to_rational())
        })
        .collect();
    ArrayD::from_shape_vec(t.raw_dim(), values?).ok()
}

/// A small deterministic generator (xorshift64*), for shuffles and test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// The sum of `leaves` from `init` in `order`, every addition rounded to nearest in `acc`
/// (leaves already rounded unless the order fuses them).
fn ieee_sum(init: Value, leaves: &[Value], order: Order, acc: FloatFormat) -> Option<Value> {
    let add = |a: &Value, b: &Value| nearest(&a.add(b), acc);
    let sequential = |init: Value, leaves: &mut dyn Iterator<Item = &Value>| {
        let mut s = init;
        for l in leaves {
            s = add(&s, l)?;
        }
        Some(s)
    };
    match order {
        Order::Sequential | Order::Fma | Order::TensorCore { .. } => {
            sequential(init, &mut leaves.iter())
        }
        Order::Reverse => sequential(init, &mut leaves.iter().rev()),
        Order::Shuffled(seed) => {
            let mut rng = Rng::new(seed);
            let mut index: Vec<usize> = (0..leaves.len()).collect();
            for i in (1..index.len()).rev() {
                index.swap(i, rng.below(i + 1));
            }
            sequential(init, &mut index.iter().map(|&i| &leaves[i]))
        }
        Order::Pairwise => {
            fn pairwise(leaves: &[Value], acc: FloatFormat) -> Option<Value> {
                match leaves.len() {
                    0 => Some(Value::zero()),
                    1 => Some(leaves[0].clone()),
                    n => {
                        let (a, b) = leaves.split_at(n / 2);
                        nearest(&pairwise(a, acc)?.add(&pairwise(b, acc)?), acc)
                    }
                }
            }
            add(&init, &pairwise(leaves, acc)?)
        }
        Order::SplitK(k) => {
            let partials: Option<Vec<Value>> = leaves
                .chunks(k.max(1))
                .map(|c| sequential(Value::zero(), &mut c.iter()))
                .collect();
            sequential(init, &mut partials?.iter())
        }
    }
}

/// The value a computation with `arithmetic` returns for `element` (None: it overflowed).
pub fn compute(element: &Element, arithmetic: &Arithmetic) -> Option<Value> {
    let precision = arithmetic.precision;
    let (acc, out) = (precision.accumulator_format(), precision.output_format());
    let bias = element.bias.clone();
    let fused_bias = matches!(arithmetic.bias, BiasPlacement::First);
    let reciprocal = match &element.divisor {
        Some(d) => Some(nearest_rational(&d.recip(), acc)?),
        None => None,
    };
    // The leaves of one group: rounded products (exact ones where the order fuses them).
    let leaves = |group: &[Term]| -> Option<Vec<Value>> {
        group
            .iter()
            .map(|t| match t {
                Term::Product(w, x) => {
                    let p = w.mul(x);
                    if matches!(arithmetic.order, Order::Fma | Order::TensorCore { .. }) {
                        Some(p)
                    } else {
                        nearest(&p, acc)
                    }
                }
                Term::Single(x) => match (arithmetic.division, &reciprocal) {
                    (Division::ReciprocalEach, Some(r)) => nearest(&x.mul(r), acc),
                    _ => Some(x.clone()),
                },
            })
            .collect()
    };
    let mut sums = Vec::with_capacity(element.groups.len());
    for (g, group) in element.groups.iter().enumerate() {
        let init = if g == 0 && fused_bias {
            bias.clone().unwrap_or_else(Value::zero)
        } else {
            Value::zero()
        };
        let leaves = leaves(group)?;
        let sum = match arithmetic.order {
            Order::TensorCore { block, fma } => {
                leaves.chunks(block.max(1)).try_fold(init, |c, chunk| {
                    let mut addends = vec![c];
                    addends.extend_from_slice(chunk);
                    fma.sum(&addends, acc)
                })?
            }
            order => ieee_sum(init, &leaves, order, acc)?,
        };
        sums.push(sum);
    }
    // The copies' sums (PyTorch's F.pad backward), in order.
    let mut z = sums
        .iter()
        .skip(1)
        .try_fold(sums.first().cloned().unwrap_or_else(Value::zero), |s, v| {
            nearest(&s.add(v), acc)
        })?;
    if let Some(d) = &element.divisor {
        z = match (arithmetic.division, &reciprocal) {
            (Division::Divide, _) => nearest_rational(&(z.to_rational() / d), acc)?,
            (Division::Reciprocal, Some(r)) => nearest(&z.mul(r), acc)?,
            _ => z,
        };
    }
    match (&bias, arithmetic.bias) {
        (Some(b), BiasPlacement::Last) => z = nearest(&z.add(b), acc)?,
        (Some(b), BiasPlacement::AfterRounding) => {
            let rounded = nearest(&z, out)?;
            z = nearest(&rounded.add(b), acc)?;
        }
        _ => {}
    }
    nearest(&z, out)
}

/// The elements of an operator's output from its symbolic form: `polynomials` are the
/// operator applied to variable tensors (symbols `x`, `w`, `g` for inputs and `b` for the
/// bias), `value` gives each variable's number. A coefficient c of a product repeats it c
/// times; the summands of a mean share the coefficient 1/d.
pub fn elements(
    polynomials: &ArrayD<Polynomial>,
    value: &dyn Fn(&Variable) -> Value,
) -> Vec<Element> {
    polynomials
        .iter()
        .map(|p| {
            let mut element = Element::default();
            let mut terms = Vec::new();
            for (monomial, coefficient) in p.terms() {
                let factors = monomial.factors();
                match factors {
                    [(v, 1)] if v.symbol == "b" => element.bias = Some(value(v)),
                    [(a, 1), (b, 1)] => {
                        let times = coefficient.to_integer().to_usize().unwrap_or(1);
                        for _ in 0..times {
                            terms.push(Term::Product(value(a), value(b)));
                        }
                    }
                    [(a, 2)] => terms.push(Term::Product(value(a), value(a))),
                    [(v, 1)] => {
                        if !coefficient.is_one() {
                            element.divisor = Some(coefficient.abs().recip());
                        }
                        terms.push(Term::Single(value(v)));
                    }
                    _ => {}
                }
            }
            element.groups.push(terms);
            element
        })
        .collect()
}

/// The largest |candidate - y| / B over `candidates`, for reports of how tight bounds are.
pub fn worst_ratio(report: &super::Report) -> f64 {
    report.worst.as_ref().map_or(0.0, |w| w.ratio)
}

/// The smallest value of `format` above q >= 0 (None beyond the format's range).
pub fn next_above(q: &Rational, format: FloatFormat) -> Option<Value> {
    let upper = Value::from_rational(&super::contract::round_up_64(q))?;
    let mut r = round(&upper, format, Rounding::TowardZero)?;
    while r.to_rational() <= *q {
        let e = r
            .exponent()
            .unwrap_or(format.min_exponent())
            .max(format.min_exponent());
        let ulp = Value::new(
            crate::scalar::Integer::one(),
            e - (i64::from(format.precision) - 1),
        );
        r = round(&r.add(&ulp), format, Rounding::Nearest)?;
    }
    Some(r)
}

#[cfg(test)]
mod tests;
