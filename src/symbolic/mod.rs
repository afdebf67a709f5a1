//! A symbolic scalar: multivariate polynomials with exact rational coefficients over named,
//! indexed variables (x_{11}, k_{22}, ...).
//!
//! [`Polynomial`] implements [`Ring`], so the whole reference engine runs
//! on it: `correlate` of a symbolic input with a symbolic kernel gives, element by element, the
//! polynomial sum_j k_j x_{i+j}, and a Toeplitz matrix with entries k_{ij} is an exact symbolic
//! object that can be compared with the engine for *every* numeric value at once.
//!
//! # Canonical form
//!
//! A polynomial is a map from monomials to non-zero rational coefficients. A monomial is a list
//! of (variable, exponent) pairs with exponents >= 1, sorted by variable; variables are ordered
//! by symbol, then by index list. Both maps and lists are kept in that order and zero
//! coefficients are removed after every operation, so two polynomials are equal as functions
//! exactly when they are equal as values (`==`): identity testing is structural equality.
//!
//! Costs: addition O(s + t) map operations for polynomials of s and t terms, multiplication
//! O(s t) monomial products (each O(number of variables)).

pub mod render;

pub use render::Render;

use crate::scalar::{Rational, Ring};
use num_traits::{One, Zero};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A named variable with an index list: `k` with `[1, 2]` is k_{12}.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Variable {
    /// The symbol (`x`, `k`, ...): ASCII letters.
    pub symbol: String,
    /// The indices (1-based in the seed's notation; any numbers are allowed).
    pub indices: Vec<usize>,
}

impl Variable {
    /// The variable `symbol` with `indices`.
    pub fn new(symbol: &str, indices: &[usize]) -> Variable {
        Variable {
            symbol: symbol.to_string(),
            indices: indices.to_vec(),
        }
    }

    /// How the index list is written: digits run together when there are at most two indices
    /// and each is a single digit (k_{12}, the seed's notation), otherwise separated by commas
    /// (k_{1,2,3}, k_{1,10}), so that no two index lists of the same length print alike (the
    /// variables of one tensor all have the same number of indices).
    pub fn index_text(&self) -> String {
        let compact = self.indices.len() <= 2 && self.indices.iter().all(|&i| i < 10);
        let parts: Vec<String> = self.indices.iter().map(|i| i.to_string()).collect();
        parts.join(if compact { "" } else { "," })
    }
}

/// A product of variables with positive exponents, sorted by variable (the empty product is 1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Monomial(Vec<(Variable, u32)>);

impl Monomial {
    /// The monomial of one variable to the first power.
    pub fn variable(variable: Variable) -> Monomial {
        Monomial(vec![(variable, 1)])
    }

    /// The (variable, exponent) factors, sorted by variable.
    pub fn factors(&self) -> &[(Variable, u32)] {
        &self.0
    }

    /// Total degree: the sum of the exponents.
    pub fn degree(&self) -> u32 {
        self.0.iter().map(|(_, e)| e).sum()
    }

    /// The product of two monomials: exponents of equal variables add (a sorted merge).
    pub fn times(&self, other: &Monomial) -> Monomial {
        let (mut a, mut b) = (self.0.iter().peekable(), other.0.iter().peekable());
        let mut factors = Vec::with_capacity(self.0.len() + other.0.len());
        loop {
            let next = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => a.next().cloned(),
                (None, Some(_)) => b.next().cloned(),
                (Some((va, ea)), Some((vb, eb))) => match va.cmp(vb) {
                    std::cmp::Ordering::Less => a.next().cloned(),
                    std::cmp::Ordering::Greater => b.next().cloned(),
                    std::cmp::Ordering::Equal => {
                        let merged = (va.clone(), ea + eb);
                        a.next();
                        b.next();
                        Some(merged)
                    }
                },
            };
            factors.extend(next);
        }
        Monomial(factors)
    }
}

/// A multivariate polynomial with exact rational coefficients, in canonical form (see the
/// [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Polynomial {
    terms: BTreeMap<Monomial, Rational>,
}

impl Polynomial {
    /// The polynomial consisting of one variable.
    pub fn variable(symbol: &str, indices: &[usize]) -> Polynomial {
        Polynomial::term(
            Monomial::variable(Variable::new(symbol, indices)),
            Rational::one(),
        )
    }

    /// The constant polynomial `value`.
    pub fn constant(value: Rational) -> Polynomial {
        Polynomial::term(Monomial::default(), value)
    }

    /// coefficient * monomial (the zero polynomial when the coefficient is 0).
    pub fn term(monomial: Monomial, coefficient: Rational) -> Polynomial {
        let mut terms = BTreeMap::new();
        if !coefficient.is_zero() {
            terms.insert(monomial, coefficient);
        }
        Polynomial { terms }
    }

    /// The (monomial, non-zero coefficient) terms in canonical order.
    pub fn terms(&self) -> impl Iterator<Item = (&Monomial, &Rational)> {
        self.terms.iter()
    }

    /// Number of terms with a non-zero coefficient.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// The constant value, when the polynomial has no variable (0 for the zero polynomial).
    pub fn as_constant(&self) -> Option<Rational> {
        match self.terms.len() {
            0 => Some(Rational::zero()),
            1 => self.terms.get(&Monomial::default()).cloned(),
            _ => None,
        }
    }

    /// Total degree (the largest degree of a term; 0 for constants and for zero).
    pub fn degree(&self) -> u32 {
        self.terms.keys().map(Monomial::degree).max().unwrap_or(0)
    }

    /// The value with every variable replaced by `value(variable)` (exact).
    pub fn evaluate(&self, value: impl Fn(&Variable) -> Rational) -> Rational {
        self.terms
            .iter()
            .fold(Rational::zero(), |sum, (monomial, coefficient)| {
                let product = monomial
                    .factors()
                    .iter()
                    .fold(coefficient.clone(), |p, (v, e)| {
                        p * num_traits::pow(value(v), *e as usize)
                    });
                sum + product
            })
    }

    /// Adds `coefficient * monomial` in place, keeping the canonical form.
    fn add_term(&mut self, monomial: Monomial, coefficient: Rational) {
        if coefficient.is_zero() {
            return;
        }
        match self.terms.entry(monomial) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(coefficient);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                let sum = slot.get().clone() + coefficient;
                if sum.is_zero() {
                    slot.remove();
                } else {
                    *slot.get_mut() = sum;
                }
            }
        }
    }

    /// The polynomial times a rational constant.
    pub fn scale(&self, factor: &Rational) -> Polynomial {
        if factor.is_zero() {
            return Polynomial::zero();
        }
        Polynomial {
            terms: self
                .terms
                .iter()
                .map(|(m, c)| (m.clone(), c.clone() * factor.clone()))
                .collect(),
        }
    }
}

/// A tensor of distinct variables `symbol_{i...}` of the given shape: the indices are 1-based
/// (the seed's notation) and leave out the first `skip_axes` axes (e.g. 2 for the batch and
/// channel axes of a one-channel signal (1, 1, L...)).
pub fn variable_tensor(
    symbol: &str,
    shape: &[usize],
    skip_axes: usize,
) -> ndarray::ArrayD<Polynomial> {
    ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(shape), |index| {
        let index = ndarray::Dimension::slice(&index);
        let indices: Vec<usize> = index[skip_axes.min(index.len())..]
            .iter()
            .map(|i| i + 1)
            .collect();
        Polynomial::variable(symbol, &indices)
    })
}

impl From<Rational> for Polynomial {
    fn from(value: Rational) -> Polynomial {
        Polynomial::constant(value)
    }
}

impl From<i64> for Polynomial {
    fn from(value: i64) -> Polynomial {
        Polynomial::constant(crate::scalar::rational_from_i64(value))
    }
}

impl AddAssign for Polynomial {
    fn add_assign(&mut self, other: Polynomial) {
        for (monomial, coefficient) in other.terms {
            self.add_term(monomial, coefficient);
        }
    }
}

impl SubAssign for Polynomial {
    fn sub_assign(&mut self, other: Polynomial) {
        for (monomial, coefficient) in other.terms {
            self.add_term(monomial, -coefficient);
        }
    }
}

impl MulAssign for Polynomial {
    fn mul_assign(&mut self, other: Polynomial) {
        *self = self.clone() * other;
    }
}

impl Add for Polynomial {
    type Output = Polynomial;
    fn add(mut self, other: Polynomial) -> Polynomial {
        self += other;
        self
    }
}

impl Sub for Polynomial {
    type Output = Polynomial;
    fn sub(mut self, other: Polynomial) -> Polynomial {
        self -= other;
        self
    }
}

impl Neg for Polynomial {
    type Output = Polynomial;
    fn neg(self) -> Polynomial {
        Polynomial {
            terms: self.terms.into_iter().map(|(m, c)| (m, -c)).collect(),
        }
    }
}

impl Mul for Polynomial {
    type Output = Polynomial;
    fn mul(self, other: Polynomial) -> Polynomial {
        let mut product = Polynomial::zero();
        for (ma, ca) in &self.terms {
            for (mb, cb) in &other.terms {
                product.add_term(ma.times(mb), ca.clone() * cb.clone());
            }
        }
        product
    }
}

impl Zero for Polynomial {
    fn zero() -> Polynomial {
        Polynomial::default()
    }
    fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }
}

impl One for Polynomial {
    fn one() -> Polynomial {
        Polynomial::constant(Rational::one())
    }
}

impl Ring for Polynomial {
    const EXACT: bool = true;
}

impl fmt::Display for Polynomial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(s: &str, i: &[usize]) -> Polynomial {
        Polynomial::variable(s, i)
    }

    fn q(n: i64) -> Polynomial {
        Polynomial::from(n)
    }

    #[test]
    fn canonical_form_makes_identity_structural() {
        let (a, b, c) = (var("x", &[1]), var("x", &[2]), var("k", &[1, 1]));
        // (a + b)^2 = a^2 + 2ab + b^2, built in two different orders.
        let left = (a.clone() + b.clone()) * (b.clone() + a.clone());
        let right = b.clone() * b.clone() + q(2) * a.clone() * b.clone() + a.clone() * a.clone();
        assert_eq!(left, right);
        assert_eq!(left.term_count(), 3);
        // Cancellation removes terms entirely: (a + c) - c = a.
        assert_eq!((a.clone() + c.clone()) - c.clone(), a);
        assert!((a.clone() - a.clone()).is_zero());
        // Distributivity and commutativity hold as identities.
        assert_eq!(
            c.clone() * (a.clone() + b.clone()),
            b.clone() * c.clone() + a.clone() * c.clone()
        );
        assert_ne!(a.clone() * b.clone(), a.clone() + b.clone());
    }

    #[test]
    fn evaluation_agrees_with_arithmetic() {
        let (a, b) = (var("x", &[1]), var("y", &[]));
        let p = (a.clone() - q(3)) * (b.clone() + q(1)) * a.clone();
        let value =
            p.evaluate(|v| crate::scalar::rational_from_i64(if v.symbol == "x" { 5 } else { -2 }));
        // (5 - 3)(-2 + 1)5 = -10.
        assert_eq!(value, crate::scalar::rational_from_i64(-10));
        assert_eq!(p.degree(), 3);
        assert_eq!(
            q(7).as_constant(),
            Some(crate::scalar::rational_from_i64(7))
        );
        assert_eq!(Polynomial::zero().as_constant(), Some(Rational::zero()));
        assert_eq!(a.as_constant(), None);
    }

    #[test]
    fn monomials_merge_exponents() {
        let a = Monomial::variable(Variable::new("x", &[1]));
        let b = Monomial::variable(Variable::new("k", &[2]));
        let ab = a.times(&b);
        let aab = ab.times(&a);
        assert_eq!(aab.degree(), 3);
        assert_eq!(
            aab.factors(),
            &[(Variable::new("k", &[2]), 1), (Variable::new("x", &[1]), 2)]
        );
    }

    #[test]
    fn index_text_never_collides() {
        assert_eq!(Variable::new("k", &[1, 2]).index_text(), "12");
        assert_eq!(Variable::new("k", &[12]).index_text(), "12");
        assert_eq!(Variable::new("k", &[1, 12]).index_text(), "1,12");
        assert_eq!(Variable::new("k", &[1, 2, 3]).index_text(), "1,2,3");
        assert_eq!(Variable::new("k", &[1, 10]).index_text(), "1,10");
    }
}
