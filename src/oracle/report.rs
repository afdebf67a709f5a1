//! The oracle's report: a verdict per element, summarised as a table or as JSON.

use super::contract::{Contract, Precision};
use serde_json::{json, Value};

/// One element of the candidate, as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementReport {
    /// Its multi-index in the output.
    pub index: Vec<usize>,
    /// The candidate's value.
    pub candidate: f64,
    /// The exact value, rounded to f64 for display.
    pub exact: f64,
    /// |candidate - exact| (rounded to f64; NaN for a non-finite candidate).
    pub error: f64,
    /// The bound B (rounded to f64).
    pub bound: f64,
    /// error / bound (infinite for a non-finite or off-format candidate).
    pub ratio: f64,
    /// The score e = error / (u S) (u: the contract's `score_unit`).
    pub score: f64,
    /// Distance in ulps of the output format to the correctly rounded exact value.
    pub ulps: Option<u64>,
    /// Why it fails when that is not the size of its error.
    pub reason: Option<String>,
}

impl ElementReport {
    fn to_json(&self) -> Value {
        let finite = |v: f64| {
            if v.is_finite() {
                json!(v)
            } else {
                json!(v.to_string())
            }
        };
        json!({
            "index": self.index,
            "candidate": finite(self.candidate),
            "exact": finite(self.exact),
            "error": finite(self.error),
            "bound": finite(self.bound),
            "ratio": finite(self.ratio),
            "score": finite(self.score),
            "ulps": self.ulps,
            "reason": self.reason,
        })
    }
}

/// The result of [`check`](super::check).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The contract checked (the claimed precision).
    pub contract: Contract,
    /// The number of elements.
    pub elements: usize,
    /// How many are over the bound (or non-finite, or off-format).
    pub failed: usize,
    /// The first failing elements in C order (at most `CheckOptions::listed`).
    pub failures: Vec<ElementReport>,
    /// The element with the largest |error| / B.
    pub worst: Option<ElementReport>,
    /// lambda of the probabilistic level.
    pub lambda: f64,
    /// Elements with a score above lambda sqrt(n): legal only if within B, but unlikely.
    pub suspicious: usize,
    /// The largest score.
    pub max_score: f64,
    /// Elements equal to the correctly rounded exact value.
    pub correctly_rounded: usize,
    /// The largest ulp distance to the correctly rounded exact value (over elements in the
    /// output format).
    pub max_ulps: u64,
    /// The tightest precision whose contract every element meets.
    pub tightest: Option<Precision>,
    /// Every precision whose contract every element meets.
    pub contracts_met: Vec<Precision>,
    /// Every element's |error| / bound (0 for an exact element, infinite for a non-finite or
    /// off-format one), when [`CheckOptions::keep_ratios`](super::CheckOptions) asked for them.
    pub ratios: Option<ndarray::ArrayD<f64>>,
}

impl Report {
    pub(super) fn new(contract: Contract, elements: usize, lambda: f64) -> Report {
        Report {
            contract,
            elements,
            failed: 0,
            failures: Vec::new(),
            worst: None,
            lambda,
            suspicious: 0,
            max_score: 0.0,
            correctly_rounded: 0,
            max_ulps: 0,
            tightest: None,
            contracts_met: Vec::new(),
            ratios: None,
        }
    }

    /// Adds one element (`describe` builds its report only when it is listed or the worst).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(super) fn record(
        &mut self,
        passed: bool,
        ratio: f64,
        suspicious: bool,
        score: f64,
        ulps: Option<u64>,
        describe: &dyn Fn() -> ElementReport,
        listed: usize,
    ) {
        if !passed {
            self.failed += 1;
            if self.failures.len() < listed {
                self.failures.push(describe());
            }
        }
        let worse = match &self.worst {
            None => true,
            Some(w) => ratio > w.ratio || (ratio.is_nan() && !w.ratio.is_nan()),
        };
        if worse && (ratio > 0.0 || !passed) {
            self.worst = Some(describe());
        }
        self.suspicious += usize::from(suspicious);
        if score > self.max_score || score.is_nan() {
            self.max_score = score;
        }
        match ulps {
            Some(0) => self.correctly_rounded += 1,
            Some(u) => self.max_ulps = self.max_ulps.max(u),
            None => {}
        }
    }

    /// [`Report::record`] of a run of elements that pass, each with its ratio, score and ulp
    /// distance (`describe(j)` the report of the j-th), in passes over the slices that the
    /// vector units run: the same report as recording them one by one (the first element of
    /// the largest ratio becomes the worst when it is worse). Records nothing and returns
    /// false when a ratio or a score is NaN or negative (left to `record`).
    pub(super) fn record_passed(
        &mut self,
        ratio: &[f64],
        score: &[f64],
        ulps: &[u64],
        level: f64,
        describe: impl Fn(usize) -> ElementReport,
    ) -> bool {
        // Non-negative floats (infinity included) order as their encodings; a NaN or a
        // negative value encodes above infinity.
        let (largest_ratio, largest_score, suspicious, exact, largest_ulps) =
            crate::simd::on_vector_units(|| {
                let (mut r, mut s, mut above, mut zero, mut u) = (0u64, 0u64, 0usize, 0usize, 0u64);
                for ((&ratio, &score), &ulps) in ratio.iter().zip(score).zip(ulps) {
                    r = r.max(ratio.to_bits());
                    s = s.max(score.to_bits());
                    above += usize::from(score > level);
                    zero += usize::from(ulps == 0);
                    u = u.max(ulps);
                }
                (r, s, above, zero, u)
            });
        let infinity = f64::INFINITY.to_bits();
        if largest_ratio > infinity || largest_score > infinity {
            return false;
        }
        let largest_ratio = f64::from_bits(largest_ratio);
        let worse = match &self.worst {
            None => true,
            Some(w) => largest_ratio > w.ratio,
        };
        if worse && largest_ratio > 0.0 {
            let first = ratio.iter().position(|&r| r == largest_ratio);
            self.worst = Some(describe(first.expect("the largest is one of them")));
        }
        self.suspicious += suspicious;
        // As `record` keeps a NaN maximum.
        let largest_score = f64::from_bits(largest_score);
        if largest_score > self.max_score {
            self.max_score = largest_score;
        }
        self.correctly_rounded += exact;
        self.max_ulps = self.max_ulps.max(largest_ulps);
        true
    }

    /// Adds the report of the elements that follow this one's in C order (as if `record` had
    /// gone on through them): counts add, the first `listed` failures and the first worst
    /// element keep their order.
    pub(super) fn merge(&mut self, next: Report, listed: usize) {
        self.elements += next.elements;
        self.failed += next.failed;
        let room = listed.saturating_sub(self.failures.len());
        self.failures.extend(next.failures.into_iter().take(room));
        if let Some(candidate) = next.worst {
            let worse = match &self.worst {
                None => true,
                Some(w) => {
                    candidate.ratio > w.ratio || (candidate.ratio.is_nan() && !w.ratio.is_nan())
                }
            };
            if worse {
                self.worst = Some(candidate);
            }
        }
        self.suspicious += next.suspicious;
        if next.max_score > self.max_score || next.max_score.is_nan() {
            self.max_score = next.max_score;
        }
        self.correctly_rounded += next.correctly_rounded;
        self.max_ulps = self.max_ulps.max(next.max_ulps);
    }

    /// True when every element is within the bound.
    pub fn passed(&self) -> bool {
        self.failed == 0
    }

    /// The share of elements over the bound.
    pub fn failed_share(&self) -> f64 {
        if self.elements == 0 {
            0.0
        } else {
            self.failed as f64 / self.elements as f64
        }
    }

    /// The report as a human-readable table.
    pub fn render(&self) -> String {
        let c = &self.contract;
        let mut out = String::new();
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        out.push_str(&format!(
            "{verdict}: {} of {} elements over the {} bound ({:.4} %)\n",
            self.failed,
            self.elements,
            c.precision,
            100.0 * self.failed_share()
        ));
        out.push_str(&format!("  contract            {}\n", c.describe()));
        if let Some(w) = &self.worst {
            out.push_str(&format!(
                "  worst |error|/B     {:.4} at {:?} (candidate {:e}, exact {:e}, error {:.3e}, B {:.3e})\n",
                w.ratio, w.index, w.candidate, w.exact, w.error, w.bound
            ));
        }
        out.push_str(&format!(
            "  score |error|/(u S) max {:.3}; {} elements above lambda sqrt(n) = {:.1} (lambda {})\n",
            self.max_score,
            self.suspicious,
            self.lambda * (c.terms as f64).sqrt(),
            self.lambda
        ));
        out.push_str(&format!(
            "  ulps                {} correctly rounded, at most {} ulps of {} away\n",
            self.correctly_rounded,
            self.max_ulps,
            super::format_name(c.precision.output_format())
        ));
        let met: Vec<&str> = self.contracts_met.iter().map(|p| p.name()).collect();
        out.push_str(&format!(
            "  tightest contract   {} (met: {})\n",
            self.tightest.map_or("none", |p| p.name()),
            if met.is_empty() {
                "none".to_string()
            } else {
                met.join(", ")
            }
        ));
        if !self.failures.is_empty() {
            out.push_str("  first failures:\n");
            for f in &self.failures {
                out.push_str(&format!(
                    "    {:?}: candidate {:e}, exact {:e}, error {:.3e} > B {:.3e}{}\n",
                    f.index,
                    f.candidate,
                    f.exact,
                    f.error,
                    f.bound,
                    f.reason
                        .as_ref()
                        .map_or(String::new(), |r| format!(" ({r})"))
                ));
            }
        }
        out
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let c = &self.contract;
        json!({
            "precision": c.precision.name(),
            "passed": self.passed(),
            "elements": self.elements,
            "failed": self.failed,
            "failed_share": self.failed_share(),
            "contract": {
                "inputs_in_format": c.inputs_in_format,
                "accumulation": c.accumulation.name(),
                "bias": c.bias,
                "bias_after_rounding": c.bias_after_rounding,
                "terms": c.terms,
                "gamma": c.gamma.to_string(),
                "underflow": c.underflow.to_string(),
                "kappa": c.kappa.to_string(),
                "mu": c.mu.to_string(),
                "alpha": c.alpha.to_string(),
                "u_out": c.u_out.to_string(),
                "eta_out": c.eta_out.to_string(),
                "u_acc": c.u_acc.to_string(),
                "score_unit": c.score_unit.to_string(),
            },
            "worst": self.worst.as_ref().map(ElementReport::to_json),
            "failures": self.failures.iter().map(ElementReport::to_json).collect::<Vec<_>>(),
            "lambda": self.lambda,
            "probabilistic_level": self.lambda * (c.terms as f64).sqrt(),
            "suspicious": self.suspicious,
            "max_score": if self.max_score.is_finite() { json!(self.max_score) } else { json!(self.max_score.to_string()) },
            "correctly_rounded": self.correctly_rounded,
            "max_ulps": self.max_ulps,
            "tightest": self.tightest.map(Precision::name),
            "contracts_met": self.contracts_met.iter().map(|p| p.name()).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::{Accumulation, Cut, Reduction};

    fn empty() -> Report {
        let reduction =
            Reduction::products(9, crate::scalar::Rational::from_integer(1.into()), false);
        let contract = Contract::new(
            Precision::Fp32,
            &reduction,
            true,
            Cut::Nearest,
            Accumulation::Ieee,
        );
        Report::new(contract, 0, 6.0)
    }

    fn element(j: usize, ratio: f64) -> ElementReport {
        ElementReport {
            index: vec![j],
            candidate: j as f64,
            exact: 0.0,
            error: 0.0,
            bound: 1.0,
            ratio,
            score: 0.0,
            ulps: None,
            reason: None,
        }
    }

    /// A run recorded at once gives the report of recording it element by element: ties of
    /// the largest ratio (the first one is the worst), zeros, infinite ratios and scores, a
    /// NaN largest score kept from before, a worst from before that stays or is beaten. A run
    /// with a NaN or a negative ratio or score is refused, as it must be.
    #[test]
    fn a_run_recorded_at_once_is_recorded_as_one_by_one() {
        let mut rng = crate::oracle::legal::Rng::new(7);
        let mut next = move || rng.next_u64() >> 33;
        for case in 0..400 {
            let n = 1 + (next() % 300) as usize;
            let pick = |r: u64| match r % 10 {
                0 => 0.0,
                1 => 0.5,
                2 if case % 7 == 0 => f64::INFINITY,
                _ => (r % 1000) as f64 / 1000.0,
            };
            let ratio: Vec<f64> = (0..n).map(|_| pick(next())).collect();
            let score: Vec<f64> = (0..n).map(|_| pick(next()) * 20.0).collect();
            let ulps: Vec<u64> = (0..n).map(|_| next() % 4).collect();
            let (mut one, mut all) = (empty(), empty());
            for r in [&mut one, &mut all] {
                match case % 4 {
                    0 => r.max_score = f64::NAN,
                    1 => r.worst = Some(element(usize::MAX, 0.6)),
                    _ => {}
                }
            }
            for j in 0..n {
                one.record(
                    true,
                    ratio[j],
                    score[j] > 10.0,
                    score[j],
                    Some(ulps[j]),
                    &|| element(j, ratio[j]),
                    3,
                );
            }
            assert!(all.record_passed(&ratio, &score, &ulps, 10.0, |j| element(j, ratio[j])));
            assert_eq!(format!("{all:?}"), format!("{one:?}"), "case {case}");
        }
        for bad in [f64::NAN, -1.0] {
            let mut report = empty();
            assert!(
                !report.record_passed(&[0.5, bad], &[1.0, 1.0], &[0, 0], 10.0, |j| element(j, 0.0))
            );
            assert!(
                !report.record_passed(&[0.5, 0.5], &[1.0, bad], &[0, 0], 10.0, |j| element(j, 0.0))
            );
            assert_eq!(format!("{report:?}"), format!("{:?}", empty()));
        }
    }
}
