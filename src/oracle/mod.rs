//! The oracle: is another implementation's output what the arithmetic it claims can produce?
//!
//! Instead of a guessed tolerance, each output element of the candidate is compared with the
//! exact result y under a rigorous componentwise bound B (see [`contract`] for the model, after
//! Higham's *Accuracy and Stability of Numerical Algorithms*, ch. 3):
//!
//! ```text
//! |y_hat - y| <= B = G + u_out (|y| + G) + eta_out,   G = [(1+u_in)^f (1+u_acc)^(n+1) - 1] S + A
//! ```
//!
//! with S = |b| + sum |w||x| the exact magnitude of the element and n its reduction length.
//! The comparison is exact (rational arithmetic): an element passes if and only if the
//! inequality holds. [`check`] returns a [`Report`]: pass or fail per element, the worst ratio
//! |error| / B and where it is, the share of elements over B, the score e = |error| / (u_acc S)
//! against the probabilistic level lambda sqrt(n) (Higham and Mary 2019: legal but suspicious
//! above it), the ulp distance to the correctly rounded exact value, and the tightest of
//! fp64 / fp32 / TF32 / fp16 / bf16 whose contract every element meets.
//!
//! ```text
//! let reference = Reference::correlate(&engine, &x, &w, None, &geometry)?;
//! let report = check(&reference, candidate.view(), Precision::Fp32, &CheckOptions::default())?;
//! assert!(report.passed(), "{}", report.render());
//! ```
//!
//! Cost: the exact layer (y), S enclosed by the layer in binary64 for float data
//! ([`magnitude`], exact only where an element needs it), then O(1) f64 operations per element
//! and precision (the certified filter), rational ones for the few elements it leaves open.

pub mod contract;
pub mod filter;
mod lean;
pub mod legal;
pub mod magnitude;
#[cfg(feature = "plot")]
pub mod plot;
pub mod reference;
pub mod report;
pub mod softfloat;

pub use contract::{Accumulation, Contract, Cut, Precision, Reduction, TensorCore};
pub use reference::{representable, round_inputs, Operands, Reference};
pub use report::{ElementReport, Report};

use crate::exact::ExactError;
use crate::scalar::{rational_from_f64, round_to_bits, round_to_f64, FloatFormat, Rational};
use filter::{encode_f64, fits_format, representable_f64, FloatBound};
use lean::{score_of, score_told};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use num_traits::{Signed, Zero};

/// Why a check could not be made (as opposed to a candidate that fails it).
#[derive(Debug, Clone, PartialEq)]
pub enum OracleError {
    /// The candidate's shape is not the exact result's.
    Shape {
        /// The candidate's shape.
        candidate: Vec<usize>,
        /// The exact result's shape.
        expected: Vec<usize>,
    },
    /// The exact result could not be computed.
    Exact(ExactError),
}

impl std::fmt::Display for OracleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OracleError::Shape {
                candidate,
                expected,
            } => write!(
                f,
                "the candidate has shape {candidate:?} but the exact result has shape {expected:?}"
            ),
            OracleError::Exact(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OracleError {}

impl From<ExactError> for OracleError {
    fn from(e: ExactError) -> Self {
        OracleError::Exact(e)
    }
}

/// Options of [`check`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOptions {
    /// How inputs are cut to TF32 (truncation unless the hardware is known to round).
    pub tf32_cut: Cut,
    /// The accumulation model (default: any, the bound that holds for IEEE and tensor cores).
    pub accumulation: Accumulation,
    /// lambda of the probabilistic level lambda sqrt(n) (default 6: each element exceeds it
    /// with probability below 2 exp(-18) ~ 3e-8 under Higham and Mary's model).
    pub lambda: f64,
    /// How many failing elements the report lists (the worst one is always reported).
    pub listed: usize,
    /// Keep every element's |error| / bound in [`Report::ratios`] (for the pictures of `plot`;
    /// 8 bytes per element).
    pub keep_ratios: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            tf32_cut: Cut::Truncation,
            accumulation: Accumulation::Any,
            lambda: 6.0,
            listed: 10,
            keep_ratios: false,
        }
    }
}

/// The verdict of one element under one contract.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Pass,
    /// Fails, with the reason when it is not the size of the error.
    Fail(Option<String>),
}

/// Everything about one element that does not depend on the contract.
struct Element<'a> {
    exact: &'a Rational,
    /// S, made on first use (a candidate that is not a value of the output format needs none).
    magnitude: &'a dyn Fn() -> &'a Rational,
    candidate: f64,
    /// The candidate's exact value (None for NaN and infinity).
    value: Option<Rational>,
}

fn overflow_possible(contract: &Contract, e: &Element<'_>) -> bool {
    let accumulator = contract.precision.accumulator_format().max_finite();
    let output = contract.precision.output_format().max_finite();
    let partial = contract.partial_bound((e.magnitude)());
    partial > accumulator || e.exact.abs() + contract.bound(e.exact, (e.magnitude)()) > output
}

fn judge(contract: &Contract, selection: bool, e: &Element<'_>) -> (Verdict, Option<Rational>) {
    let output = contract.precision.output_format();
    let Some(value) = &e.value else {
        // NaN or infinity: legal only where the bound allows overflow (of a partial sum, in
        // either direction, or of the result); a selection overflows only by its rounding.
        let allowed = if selection {
            e.candidate.is_infinite()
                && round_to_bits(e.exact, output) == infinity_bits(output, e.candidate < 0.0)
        } else {
            overflow_possible(contract, e)
        };
        let verdict = if allowed {
            Verdict::Pass
        } else {
            Verdict::Fail(Some(format!(
                "{} where the exact value is finite",
                e.candidate
            )))
        };
        return (verdict, None);
    };
    if !fits_format(value, output) {
        let reason = format!("not a {} value", format_name(output));
        return (Verdict::Fail(Some(reason)), None);
    }
    if selection {
        let expected = crate::scalar::round_to_format(e.exact, output);
        return if expected.as_ref() == Some(value) {
            (Verdict::Pass, Some(Rational::zero()))
        } else {
            let bound = expected.map_or_else(Rational::zero, |r| (&r - e.exact).abs());
            (
                Verdict::Fail(Some(
                    "max pooling must return the chosen input exactly".into(),
                )),
                Some(bound),
            )
        };
    }
    let bound = contract.bound(e.exact, (e.magnitude)());
    if (value - e.exact).abs() <= bound {
        (Verdict::Pass, Some(bound))
    } else {
        (Verdict::Fail(None), Some(bound))
    }
}

fn infinity_bits(format: FloatFormat, negative: bool) -> u64 {
    let fraction_bits = format.precision - 1;
    let exponent = ((1u64 << format.exponent_bits) - 1) << fraction_bits;
    exponent | (u64::from(negative) << (format.width() - 1))
}

/// NumPy's name of a format.
pub fn format_name(format: FloatFormat) -> &'static str {
    match format {
        FloatFormat::F64 => "float64",
        FloatFormat::F32 => "float32",
        FloatFormat::F16 => "float16",
        FloatFormat::BF16 => "bfloat16",
        FloatFormat::TF32 => "tf32",
        _ => "float",
    }
}

/// The bits of y correctly rounded into `format`, from y_f, the nearest f64 to y
/// ([`ScaledTensor::to_f64_approx_into`](crate::exact::ScaledTensor::to_f64_approx_into)):
/// for binary64 y_f's own bits; for a narrower format the rounding of y_f when every value
/// within 2^-50 of it rounds alike (then y, within 2^-53 of y_f, does too), else the
/// rounding of the exact value.
fn rounded_bits<'a>(y_f: f64, y: impl Fn() -> &'a Rational, format: FloatFormat) -> u64 {
    if format == FloatFormat::F64 {
        return y_f.to_bits();
    }
    let narrow = |v: f64| -> u64 {
        if format == FloatFormat::F32 {
            return u64::from((v as f32).to_bits());
        }
        let (negative, m, e) = filter::odd_parts(v);
        crate::scalar::round_dyadic_to_bits(negative, u128::from(m), e, format)
    };
    if y_f.is_normal() {
        const TWO_POW_M50: f64 = f64::from_bits((1023 - 50) << 52);
        let (lo, hi) = (y_f * (1.0 - TWO_POW_M50), y_f * (1.0 + TWO_POW_M50));
        if lo.is_normal() && hi.is_normal() {
            let a = narrow(lo);
            if a == narrow(hi) {
                return a;
            }
        }
    }
    round_to_bits(y(), format)
}

/// The distance in units in the last place between two encodings of `format`, counted along
/// the ordered encodings (so 0 and the smallest subnormal are 1 ulp apart, and values of
/// opposite signs are as far apart as every float between them).
pub fn ulp_distance(a: u64, b: u64, format: FloatFormat) -> u64 {
    let key = |bits: u64| {
        let magnitude = (bits & ((1u64 << (format.width() - 1)) - 1)) as i128;
        if bits >> (format.width() - 1) == 1 {
            -magnitude
        } else {
            magnitude
        }
    };
    (key(a) - key(b)).unsigned_abs() as u64
}

fn f64_of(q: &Rational) -> f64 {
    round_to_f64(q)
}

/// The contract of `precision` for a reference (whose inputs decide whether the cut is
/// exact).
pub fn contract_for(
    reference: &Reference,
    precision: Precision,
    options: &CheckOptions,
) -> Contract {
    let in_format = reference.inputs_in_format[precision.index()];
    contract_with(reference, precision, in_format, options)
}

fn contract_with(
    reference: &Reference,
    precision: Precision,
    in_format: bool,
    options: &CheckOptions,
) -> Contract {
    if reference.selection {
        Contract::selection(precision)
    } else {
        Contract::new(
            precision,
            &reference.reduction,
            in_format,
            options.tf32_cut,
            options.accumulation,
        )
    }
}

/// Checks a candidate output (f64, f32 or any type that converts to f64 exactly) against the
/// exact reference under the contract of `precision` (and, for the report's "tightest
/// contract", under every other precision). Whether the inputs' cut is exact comes from the
/// inputs the reference was built from.
pub fn check<T: Copy + Into<f64> + Sync>(
    reference: &Reference,
    candidate: ArrayViewD<'_, T>,
    precision: Precision,
    options: &CheckOptions,
) -> Result<Report, OracleError> {
    check_by(reference, candidate, precision, options, true)
}

/// [`check`], with the lean pass or (`lean` false) every element on the general path: the
/// same report either way.
fn check_by<T: Copy + Into<f64> + Sync>(
    reference: &Reference,
    candidate: ArrayViewD<'_, T>,
    precision: Precision,
    options: &CheckOptions,
    lean: bool,
) -> Result<Report, OracleError> {
    if candidate.shape() != reference.exact.shape() {
        return Err(OracleError::Shape {
            candidate: candidate.shape().to_vec(),
            expected: reference.exact.shape().to_vec(),
        });
    }
    // The candidate in C order (borrowed when it already is); each value read as f64.
    let candidate = candidate.as_standard_layout();
    let values = candidate.as_slice().expect("standard layout");
    let contracts: Vec<Contract> = Precision::ALL
        .iter()
        .zip(reference.inputs_in_format)
        .map(|(&p, in_format)| contract_with(reference, p, in_format, options))
        .collect();
    let filters: Vec<FloatBound> = contracts.iter().map(FloatBound::new).collect();
    let claimed = precision.index();
    let contract = &contracts[claimed];
    let output = precision.output_format();
    let level = contract.probabilistic_level(options.lambda);
    let unit = f64_of(&contract.score_unit);
    let shape = reference.exact.shape();

    // Contract k is implied by the claimed one when it has the same output format and
    // constants at least as large: B_k >= B_claimed for every y and S, so a finite element in
    // the format within B_claimed is within B_k (not for a selection, judged by equality).
    let implied_by_claimed: Vec<bool> = contracts
        .iter()
        .map(|k| {
            !reference.selection
                && k.precision.output_format() == output
                && k.kappa >= contract.kappa
                && k.mu >= contract.mu
                && k.alpha >= contract.alpha
        })
        .collect();
    let needs_magnitude = std::sync::atomic::AtomicBool::new(false);
    let magnitude_f64 = reference.magnitude.to_f64();
    // The elements in chunks judged in parallel, each into a partial report merged in C order
    // (the same report as one pass: counts add, the first failures and the worst element keep
    // their order).
    const CHUNK: usize = 8192;
    let judge_chunk = |chunk: usize| {
        let range = chunk * CHUNK..values.len().min((chunk + 1) * CHUNK);
        let mut report = Report::new(contract.clone(), range.len(), options.lambda);
        let mut failed_per_precision = vec![0usize; contracts.len()];
        let mut ratios = Vec::with_capacity(if options.keep_ratios { range.len() } else { 0 });
        // The f64 images of y made per chunk, while they are in cache.
        let mut exact_f64 = vec![0.0; range.len()];
        reference
            .exact
            .to_f64_approx_into(range.start, &mut exact_f64);
        // Whether some contract other than the claimed one and those it implies may still
        // fail (the implied ones need a verdict only where the claimed one does not pass).
        let open = |failed: &[usize]| {
            (0..contracts.len()).any(|k| k != claimed && failed[k] == 0 && !implied_by_claimed[k])
        };
        let mut others_open = open(&failed_per_precision);
        // The lean pass (`lean`): a block of elements at a time, what the claimed contract's
        // filter settles; those elements are recorded from it while no other contract is
        // open, the others take the general path.
        let lean =
            (lean && !reference.selection && matches!(output, FloatFormat::F32 | FloatFormat::F64))
                .then(|| lean::Lean {
                    filter: &filters[claimed],
                    single: output == FloatFormat::F32,
                    unit,
                    level,
                });
        let mut block = lean::Block::new();
        let chunk_values = &values[range.clone()];
        // The elements before this position were recorded with their block.
        let mut recorded = 0;
        for (i, ((flat, &c), &y_f)) in range.clone().zip(chunk_values).zip(&exact_f64).enumerate() {
            let j = i % lean::BLOCK;
            if let (Some(lean), 0) = (&lean, j) {
                let end = (i + lean::BLOCK).min(range.len());
                let y = &exact_f64[i..end];
                block.settle(lean, flat, &chunk_values[i..end], y, &magnitude_f64);
                // A block the claimed contract settles whole, while no other contract is
                // open, is recorded at once.
                let n = end - i;
                if !others_open
                    && block.settled[..n].iter().all(|&s| s)
                    && report.record_passed(
                        &block.ratio[..n],
                        &block.score[..n],
                        &block.ulps[..n],
                        level,
                        |j| block.report(j, flat + j, shape, y[j]),
                    )
                {
                    if options.keep_ratios {
                        ratios.extend_from_slice(&block.ratio[..n]);
                    }
                    recorded = end;
                }
            }
            if i < recorded {
                continue;
            }
            let c: f64 = c.into();
            if lean.is_some() && !others_open && block.settled[j] {
                let (ratio, score) = (block.ratio[j], block.score[j]);
                let ulps = Some(block.ulps[j]);
                let describe = || block.report(j, flat, shape, y_f);
                if options.keep_ratios {
                    ratios.push(ratio);
                }
                report.record(
                    true,
                    ratio,
                    score > level,
                    score,
                    ulps,
                    &describe,
                    options.listed,
                );
                continue;
            }
            let s_enclosed = magnitude_f64.at(flat);
            let s_f = s_enclosed.approx;
            // The exact values, made only where the filter cannot decide.
            let exact_y = std::cell::OnceCell::new();
            let y = || exact_y.get_or_init(|| reference.exact.value(flat));
            // S when it is held or was computed; else a stand-in, and the pass is repeated
            // once S has been computed outside the parallel loop.
            let exact_s = std::cell::OnceCell::new();
            let s = || {
                exact_s.get_or_init(|| {
                    reference.magnitude.try_value(flat).unwrap_or_else(|| {
                        needs_magnitude.store(true, std::sync::atomic::Ordering::Relaxed);
                        Rational::zero()
                    })
                })
            };
            // The verdict of contract k: the float filter when it can decide, else exactly.
            let verdict = |k: usize| -> (Verdict, f64) {
                let format = Precision::ALL[k].output_format();
                if !reference.selection && representable_f64(c, format) {
                    let (lo, hi) = (s_enclosed.lo, s_enclosed.hi);
                    if let Some(pass) = filters[k].decide_within(c, y_f, lo, hi) {
                        let bound = filters[k].bound(y_f, s_f);
                        let verdict = if pass {
                            Verdict::Pass
                        } else {
                            Verdict::Fail(None)
                        };
                        return (verdict, bound);
                    }
                }
                let value = rational_from_f64(c).ok();
                let element = Element {
                    exact: y(),
                    magnitude: &s,
                    candidate: c,
                    value,
                };
                let (verdict, bound) = judge(&contracts[k], reference.selection, &element);
                (verdict, bound.as_ref().map_or(f64::NAN, f64_of))
            };
            let (verdict_claimed, bound_f64) = verdict(claimed);
            // The other contracts only need their first failure (for the tightest one met);
            // a finite element that passes the claimed contract passes those it implies.
            let implied = c.is_finite() && verdict_claimed == Verdict::Pass;
            if others_open || !implied {
                for (k, failed) in failed_per_precision.iter_mut().enumerate() {
                    if k != claimed
                        && *failed == 0
                        && !(implied && implied_by_claimed[k])
                        && verdict(k).0 != Verdict::Pass
                    {
                        *failed = 1;
                    }
                }
                others_open = open(&failed_per_precision);
            }
            let verdict = verdict_claimed;
            let error_f64 = if c.is_finite() {
                (c - y_f).abs()
            } else {
                f64::NAN
            };
            let ratio = if !error_f64.is_finite() || matches!(verdict, Verdict::Fail(Some(_))) {
                f64::INFINITY
            } else if error_f64 == 0.0 {
                0.0
            } else {
                error_f64 / bound_f64
            };
            // With S only enclosed, the score's side of the level is read from the enclosure
            // when it tells, else from S itself.
            let score_f = score_of(error_f64, unit, s_f);
            let score = if score_told(error_f64, unit, s_enclosed, score_f, level) {
                score_f
            } else {
                score_of(error_f64, unit, round_to_f64(s()))
            };
            if options.keep_ratios {
                ratios.push(ratio);
            }
            let ulps = representable_f64(c, output)
                .then(|| ulp_distance(encode_f64(c, output), rounded_bits(y_f, y, output), output));
            let passed = verdict == Verdict::Pass;
            if !passed {
                failed_per_precision[claimed] += 1;
            }
            let describe = || ElementReport {
                index: crate::index::unravel(flat, shape),
                candidate: c,
                exact: y_f,
                error: error_f64,
                bound: bound_f64,
                ratio,
                score,
                ulps,
                reason: match &verdict {
                    Verdict::Fail(Some(reason)) => Some(reason.clone()),
                    _ => None,
                },
            };
            report.record(
                passed,
                ratio,
                score > level,
                score,
                ulps,
                &describe,
                options.listed,
            );
        }
        (report, failed_per_precision, ratios)
    };
    use rayon::prelude::*;
    let judge_all = || -> Vec<_> {
        (0..values.len().div_ceil(CHUNK))
            .into_par_iter()
            .map(judge_chunk)
            .collect()
    };
    let mut partials = judge_all();
    if needs_magnitude.load(std::sync::atomic::Ordering::Relaxed) {
        // Some element needs S exactly, and S is only enclosed: computed here, not inside the
        // parallel loop (where its own parallel layer could deadlock a lazy initialisation).
        reference.magnitude.scaled();
        partials = judge_all();
    }
    let mut report = Report::new(contract.clone(), 0, options.lambda);
    let mut failed_per_precision = vec![0usize; contracts.len()];
    let mut ratios = Vec::with_capacity(if options.keep_ratios { values.len() } else { 0 });
    for (part, failed, part_ratios) in partials {
        report.merge(part, options.listed);
        for (all, one) in failed_per_precision.iter_mut().zip(failed) {
            *all += one;
        }
        ratios.extend(part_ratios);
    }
    if options.keep_ratios {
        report.ratios =
            Some(ArrayD::from_shape_vec(IxDyn(shape), ratios).expect("one per element"));
    }
    report.tightest = Precision::ALL
        .iter()
        .zip(&failed_per_precision)
        .find(|(_, &failed)| failed == 0)
        .map(|(&p, _)| p);
    report.contracts_met = Precision::ALL
        .iter()
        .zip(&failed_per_precision)
        .filter(|(_, &failed)| failed == 0)
        .map(|(&p, _)| p)
        .collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::{rational_from_f64, round_to_f64};

    /// y at every midpoint of a format's values (and one ulp of a far finer grid either side):
    /// the nearest f64 y_f is the midpoint itself for the three, so only the exact y tells
    /// which way each rounds; elsewhere y_f decides. `rounded_bits` agrees with the exact
    /// rounding everywhere; rounding y_f alone does not (so the comparison can fail).
    #[test]
    fn rounded_bits_agree_with_exact_rounding_at_midpoints() {
        let formats = [
            FloatFormat::F64,
            FloatFormat::F32,
            FloatFormat::TF32,
            FloatFormat::F16,
            FloatFormat::BF16,
        ];
        let (mut checked, mut naive_misses) = (0, 0);
        for format in formats {
            let p = i32::try_from(format.precision).unwrap();
            for (significand, exponent) in [(1.0, 0), (1.5, -3), (1.75, 5), (1.25, -9)] {
                let value: f64 = significand * 2f64.powi(exponent);
                // The midpoint above `value` in `format`, and a nudge far below f64's ulp.
                let half_ulp = 2f64.powi(exponent - p);
                let midpoint = rational_from_f64(value + half_ulp).unwrap();
                let nudge = rational_from_f64(half_ulp).unwrap()
                    * Rational::new(1.into(), (1u64 << 60).into());
                for sign in [1, -1] {
                    for y in [&midpoint - &nudge, midpoint.clone(), &midpoint + &nudge] {
                        let y = y * Rational::from_integer(sign.into());
                        let y_f = round_to_f64(&y);
                        let expected = round_to_bits(&y, format);
                        assert_eq!(
                            rounded_bits(y_f, || &y, format),
                            expected,
                            "{format:?} y = {y}"
                        );
                        checked += 1;
                        if format != FloatFormat::F64 {
                            let (negative, m, e) = filter::odd_parts(y_f);
                            let naive = crate::scalar::round_dyadic_to_bits(
                                negative,
                                u128::from(m),
                                e,
                                format,
                            );
                            naive_misses += usize::from(naive != expected);
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 5 * 4 * 2 * 3);
        assert!(naive_misses > 0, "rounding y_f alone never missed");
    }
}
