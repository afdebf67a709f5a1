//! Rendering of scalars, polynomials, vectors and matrices as plain text and as LaTeX.
//!
//! * Text: rationals as `p/q`, variables as `k12` (or `k[1,10]` when the indices need commas),
//!   products with `*`, powers with `^`; matrices as bracketed rows with aligned columns.
//! * LaTeX: `\frac{p}{q}`, `k_{12}`, `x_{1}^{2}`; matrices and column vectors as `bmatrix`.

use super::{Monomial, Polynomial, Variable};
use crate::scalar::{Integer, Rational};
use nalgebra::DMatrix;
use num_traits::{One, Signed, Zero};

/// A value that can be written as plain text and as LaTeX.
pub trait Render {
    /// Plain text (what the command line prints by default).
    fn to_text(&self) -> String;
    /// LaTeX math (without surrounding `$`).
    fn to_latex(&self) -> String;
}

impl Render for Rational {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn to_latex(&self) -> String {
        if self.is_integer() {
            return self.numer().to_string();
        }
        let sign = if self.is_negative() { "-" } else { "" };
        format!("{sign}\\frac{{{}}}{{{}}}", self.numer().abs(), self.denom())
    }
}

impl Render for Integer {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn to_latex(&self) -> String {
        self.to_string()
    }
}

impl Render for f64 {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn to_latex(&self) -> String {
        self.to_string()
    }
}

impl Render for f32 {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn to_latex(&self) -> String {
        self.to_string()
    }
}

impl Render for Variable {
    fn to_text(&self) -> String {
        let digits_only = self.indices.len() <= 2 && self.indices.iter().all(|&i| i < 10);
        if self.indices.is_empty() {
            self.symbol.clone()
        } else if digits_only || self.indices.len() == 1 {
            format!("{}{}", self.symbol, self.index_text())
        } else {
            format!("{}[{}]", self.symbol, self.index_text())
        }
    }
    fn to_latex(&self) -> String {
        if self.indices.is_empty() {
            self.symbol.clone()
        } else {
            format!("{}_{{{}}}", self.symbol, self.index_text())
        }
    }
}

fn monomial(m: &Monomial, latex: bool) -> String {
    let factors: Vec<String> = m
        .factors()
        .iter()
        .map(|(v, e)| match (latex, *e) {
            (false, 1) => v.to_text(),
            (false, e) => format!("{}^{e}", v.to_text()),
            (true, 1) => v.to_latex(),
            (true, e) => format!("{}^{{{e}}}", v.to_latex()),
        })
        .collect();
    factors.join(if latex { " " } else { "*" })
}

/// Terms in display order: highest degree first, then the canonical order; signs joined as
/// `a + b - c`.
fn polynomial(p: &Polynomial, latex: bool) -> String {
    if p.is_zero() {
        return "0".into();
    }
    let mut terms: Vec<(&Monomial, &Rational)> = p.terms().collect();
    terms.sort_by_key(|(m, _)| std::cmp::Reverse(m.degree()));
    let mut out = String::new();
    for (position, (m, c)) in terms.into_iter().enumerate() {
        let magnitude = c.abs();
        let sign = if c.is_negative() { "-" } else { "+" };
        if position == 0 {
            if c.is_negative() {
                out.push('-');
            }
        } else {
            out.push_str(&format!(" {sign} "));
        }
        let number = if latex {
            magnitude.to_latex()
        } else {
            magnitude.to_text()
        };
        if m.factors().is_empty() {
            out.push_str(&number);
        } else if magnitude.is_one() {
            out.push_str(&monomial(m, latex));
        } else if latex {
            out.push_str(&format!("{number} {}", monomial(m, latex)));
        } else {
            out.push_str(&format!("{number}*{}", monomial(m, latex)));
        }
    }
    out
}

impl Render for Polynomial {
    fn to_text(&self) -> String {
        polynomial(self, false)
    }
    fn to_latex(&self) -> String {
        polynomial(self, true)
    }
}

/// A matrix as text: one bracketed row per line, columns right-aligned.
///
/// ```text
/// [ k22    0 ]
/// [ k21  k22 ]
/// ```
pub fn matrix_text<T: Render>(matrix: &DMatrix<T>) -> String {
    let cells: Vec<Vec<String>> = (0..matrix.nrows())
        .map(|r| {
            (0..matrix.ncols())
                .map(|c| matrix[(r, c)].to_text())
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..matrix.ncols())
        .map(|c| cells.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    cells
        .iter()
        .map(|row| {
            let padded: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{cell:>w$}"))
                .collect();
            format!("[ {} ]\n", padded.join("  "))
        })
        .collect()
}

/// A matrix as a LaTeX `bmatrix`, one row per line.
pub fn matrix_latex<T: Render>(matrix: &DMatrix<T>) -> String {
    let rows: Vec<String> = (0..matrix.nrows())
        .map(|r| {
            (0..matrix.ncols())
                .map(|c| matrix[(r, c)].to_latex())
                .collect::<Vec<_>>()
                .join(" & ")
        })
        .collect();
    format!(
        "\\begin{{bmatrix}}\n{}\n\\end{{bmatrix}}",
        rows.join(" \\\\\n")
    )
}

/// A column vector as text, one bracketed entry per line.
pub fn vector_text<T: Render>(vector: &[T]) -> String {
    let cells: Vec<String> = vector.iter().map(Render::to_text).collect();
    let width = cells.iter().map(String::len).max().unwrap_or(0);
    cells
        .iter()
        .map(|cell| format!("[ {cell:>width$} ]\n"))
        .collect()
}

/// A column vector as a LaTeX `bmatrix`.
pub fn vector_latex<T: Render>(vector: &[T]) -> String {
    let rows: Vec<String> = vector.iter().map(Render::to_latex).collect();
    format!(
        "\\begin{{bmatrix}}\n{}\n\\end{{bmatrix}}",
        rows.join(" \\\\\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::rational_from_i64;

    fn var(s: &str, i: &[usize]) -> Polynomial {
        Polynomial::variable(s, i)
    }

    #[test]
    fn polynomials_as_text_and_latex() {
        let half = Rational::new(1.into(), 2.into());
        let p = var("k", &[1, 1]) * var("x", &[1, 2]) - var("k", &[1, 2]).scale(&half)
            + Polynomial::from(3)
            + var("x", &[1]) * var("x", &[1]);
        assert_eq!(p.to_text(), "k11*x12 + x1^2 - 1/2*k12 + 3");
        assert_eq!(
            p.to_latex(),
            "k_{11} x_{12} + x_{1}^{2} - \\frac{1}{2} k_{12} + 3"
        );
        assert_eq!((-var("k", &[1, 10])).to_text(), "-k[1,10]");
        assert_eq!((-var("k", &[1, 10])).to_latex(), "-k_{1,10}");
        assert_eq!(Polynomial::zero().to_text(), "0");
    }

    #[test]
    fn matrices_align_and_latex_uses_bmatrix() {
        let m = DMatrix::from_row_slice(
            2,
            2,
            &[
                var("k", &[2, 2]),
                Polynomial::zero(),
                var("k", &[2, 1]),
                var("k", &[2, 2]),
            ],
        );
        assert_eq!(matrix_text(&m), "[ k22    0 ]\n[ k21  k22 ]\n");
        assert_eq!(
            matrix_latex(&m),
            "\\begin{bmatrix}\nk_{22} & 0 \\\\\nk_{21} & k_{22}\n\\end{bmatrix}"
        );
        let v = [rational_from_i64(-3), Rational::new(1.into(), (-2).into())];
        assert_eq!(vector_text(&v), "[   -3 ]\n[ -1/2 ]\n");
        assert_eq!(
            vector_latex(&v),
            "\\begin{bmatrix}\n-3 \\\\\n-\\frac{1}{2}\n\\end{bmatrix}"
        );
    }
}
