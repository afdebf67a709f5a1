//! Every law against the reference engine (proptest and quickcheck, fixed seeds), a negative
//! control for every law (a deliberately wrong implementation the law's check rejects), the
//! false laws' shrunk counterexamples, and the small symbolic proofs.

use super::strategies::{
    layer_problem, pool_problem, signal, signal_1d, signal_pair, signal_triple, small_rational,
};
use super::*;
use crate::geometry::{Padding, PaddingMode};
use crate::reference::conv::flip_kernel;
use crate::scalar::{rational_from_i64, Rational};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

fn q(n: i64) -> Rational {
    rational_from_i64(n)
}

fn sig(values: &[i64]) -> ArrayD<Rational> {
    ArrayD::from_shape_vec(
        IxDyn(&[1, 1, values.len()]),
        values.iter().map(|&v| q(v)).collect(),
    )
    .unwrap()
}

fn tensor(shape: &[usize], values: &[i64]) -> ArrayD<Rational> {
    ArrayD::from_shape_vec(IxDyn(shape), values.iter().map(|&v| q(v)).collect()).unwrap()
}

fn fail(c: Counterexample) -> TestCaseError {
    TestCaseError::fail(c.to_string())
}

/// Fixed seed and case count for every property test here (CI is deterministic); failures
/// are persisted under proptest-regressions/ next to the sources, to be committed.
fn config(cases: u32) -> Config {
    crate::laws::strategies::fixed_config(cases, 0x5EED_2026_1127, "proptest-regressions/laws.txt")
}

// ---------------------------------------------------------------------------------------------
// Deliberately wrong implementations (the negative controls).

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mutant {
    /// convolve = correlate.
    MissingFlip,
    /// correlate = convolve.
    ExtraFlip,
    /// Adds 1 to every output (affine, not linear).
    Affine,
    /// One more padding element at the beginning of every dimension.
    OffByOnePadding,
    /// Output channel o reads group o mod G instead of o / (C_out / G).
    WrongGroups,
    /// Ignores the requested padding mode and uses this one.
    WrongMode(PaddingMode),
    /// Adds the flat output index to each output (not shift equivariant).
    IndexBias,
    /// Ignores the dilation.
    IgnoreDilation,
    /// Transposed convolution without the output padding.
    NoOutputPadding,
}

fn off_by_one(
    x: &ArrayD<Rational>,
    w: &ArrayD<Rational>,
    g: &ConvGeometry,
) -> Result<ConvGeometry, OpError> {
    let dims = g.resolve(&x.shape()[2..], &w.shape()[2..])?;
    Ok(g.clone().with_padding(Padding::Explicit(
        dims.iter().map(|d| (d.pad_begin + 1, d.pad_end)).collect(),
    )))
}

fn wrong_groups(
    x: &ArrayD<Rational>,
    w: &ArrayD<Rational>,
    g: &ConvGeometry,
) -> Result<ArrayD<Rational>, OpError> {
    let groups = g.groups;
    let (c_in, c_out) = (x.shape()[1], w.shape()[0]);
    let in_per_group = c_in / groups;
    let single = g.clone().with_groups(1);
    let outputs: Vec<ArrayD<Rational>> = (0..c_out)
        .map(|o| {
            let group = o % groups;
            let xs = x
                .slice_axis(
                    Axis(1),
                    Slice::from(group * in_per_group..(group + 1) * in_per_group),
                )
                .to_owned();
            let ws = w.slice_axis(Axis(0), Slice::from(o..o + 1)).to_owned();
            crate::reference::correlate(&xs, &ws, None, &single)
        })
        .collect::<Result<_, _>>()?;
    let views: Vec<_> = outputs.iter().map(|y| y.view()).collect();
    Ok(ndarray::concatenate(Axis(1), &views).expect("same shapes"))
}

impl Convolution<Rational> for Mutant {
    fn correlate(
        &self,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        g: &ConvGeometry,
    ) -> Result<ArrayD<Rational>, OpError> {
        let reference = |g: &ConvGeometry| crate::reference::correlate(x, w, None, g);
        match *self {
            Mutant::ExtraFlip => crate::reference::convolve(x, w, None, g),
            Mutant::Affine => reference(g).map(|y| y.map(|v| v + q(1))),
            Mutant::OffByOnePadding => reference(&off_by_one(x, w, g)?),
            Mutant::WrongGroups => wrong_groups(x, w, g),
            Mutant::WrongMode(mode) => reference(&g.clone().with_padding_mode(mode)),
            Mutant::IndexBias => reference(g).map(|y| {
                let mut y = y;
                for (i, v) in y.iter_mut().enumerate() {
                    *v = v.clone() + q(i as i64);
                }
                y
            }),
            Mutant::IgnoreDilation => reference(&g.clone().with_dilation(vec![1; g.rank()])),
            _ => reference(g),
        }
    }
    fn convolve(
        &self,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        g: &ConvGeometry,
    ) -> Result<ArrayD<Rational>, OpError> {
        match *self {
            Mutant::MissingFlip => crate::reference::correlate(x, w, None, g),
            Mutant::ExtraFlip => crate::reference::correlate(x, w, None, g),
            _ => self.correlate(x, &flip_kernel(w), g),
        }
    }
    fn conv_transpose(
        &self,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        g: &TransposeGeometry,
    ) -> Result<ArrayD<Rational>, OpError> {
        match *self {
            Mutant::NoOutputPadding => {
                let g = g.clone().with_output_padding(vec![0; g.stride.len()]);
                crate::reference::conv_transpose(x, w, None, &g)
            }
            _ => crate::reference::conv_transpose(x, w, None, g),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PoolMutant {
    /// Ignores ceil_mode.
    FloorOnly,
    /// Flips count_include_pad.
    WrongDivisor,
    /// Max pooling returns the first element of each window.
    FirstElement,
    /// Max pooling averages.
    AverageAsMax,
    /// Global pools return the first element.
    FirstElementGlobal,
    /// Max pooling ignores the stride (uses 1).
    IgnoreStride,
}

impl Pooling<Rational> for PoolMutant {
    fn max_pool(
        &self,
        x: &ArrayD<Rational>,
        params: &PoolParams,
    ) -> Result<ArrayD<Rational>, OpError> {
        let r = Reference;
        match *self {
            PoolMutant::FloorOnly => r.max_pool(x, &params.clone().with_ceil_mode(false)),
            PoolMutant::FirstElement => {
                let mut view = x.view();
                for (d, &s) in params.stride.iter().enumerate() {
                    view.slice_axis_inplace(Axis(2 + d), Slice::new(0, None, s as isize));
                }
                let out = r.max_pool(x, params)?;
                Ok(view
                    .slice_each_axis(|a| Slice::from(0..out.shape()[a.axis.index()]))
                    .to_owned())
            }
            PoolMutant::AverageAsMax => r.avg_pool(x, params, &AvgOptions::default()),
            PoolMutant::IgnoreStride => {
                r.max_pool(x, &params.clone().with_stride(vec![1; params.rank()]))
            }
            _ => r.max_pool(x, params),
        }
    }
    fn avg_pool(
        &self,
        x: &ArrayD<Rational>,
        params: &PoolParams,
        options: &AvgOptions,
    ) -> Result<ArrayD<Rational>, OpError> {
        let r = Reference;
        match *self {
            PoolMutant::FloorOnly => r.avg_pool(x, &params.clone().with_ceil_mode(false), options),
            PoolMutant::WrongDivisor => {
                let flipped = AvgOptions {
                    count_include_pad: !options.count_include_pad,
                    divisor_override: options.divisor_override,
                };
                r.avg_pool(x, params, &flipped)
            }
            _ => r.avg_pool(x, params, options),
        }
    }
    fn global_max_pool(
        &self,
        x: &ArrayD<Rational>,
        rank: usize,
    ) -> Result<ArrayD<Rational>, OpError> {
        match *self {
            PoolMutant::FirstElementGlobal => {
                let mut shape = x.shape()[..2].to_vec();
                shape.extend(vec![1; rank]);
                Ok(ArrayD::from_shape_fn(IxDyn(&shape), |i| {
                    let mut index = vec![i[0], i[1]];
                    index.extend(vec![0; rank]);
                    x[IxDyn(&index)].clone()
                }))
            }
            _ => Pooling::<Rational>::global_max_pool(&Reference, x, rank),
        }
    }
    fn global_avg_pool(
        &self,
        x: &ArrayD<Rational>,
        rank: usize,
    ) -> Result<ArrayD<Rational>, OpError> {
        match *self {
            PoolMutant::FirstElementGlobal => self.global_max_pool(x, rank),
            _ => Pooling::<Rational>::global_avg_pool(&Reference, x, rank),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The laws hold for the reference engine (proptest).

/// The algebra of full convolution, for an implementation.
fn algebra_laws_hold_for(imp: &impl Convolution<Rational>, cases: u32) {
    let mut runner = TestRunner::new(config(cases));
    runner
        .run(&signal_pair(3, 4), |(x, w)| {
            algebra::commutativity(imp, &x, &w).map_err(fail)?;
            algebra::correlation_reversal(imp, &x, &w).map_err(fail)?;
            algebra::delta_identity(imp, &x).map_err(fail)?;
            let shift = vec![1; x.ndim() - 2];
            shift::full_equivariance(imp, &x, &w, &shift).map_err(fail)
        })
        .unwrap();
    let mut runner = TestRunner::new(config(cases * 2 / 3));
    runner
        .run(&signal_triple(2, 3), |(x, v, w)| {
            algebra::associativity(imp, &x, &v, &w).map_err(fail)
        })
        .unwrap();
}

#[test]
fn algebra_laws_hold() {
    algebra_laws_hold_for(&Reference, 48);
}

/// The same laws on the fast exact engine (one harness for every engine).
#[test]
fn algebra_and_layer_laws_hold_for_the_exact_engine() {
    let engine = crate::exact::ExactEngine::new(1);
    algebra_laws_hold_for(&engine, 24);
    layer_laws_hold_for(&engine, 24);
}

#[test]
fn layer_laws_hold() {
    layer_laws_hold_for(&Reference, 64);
}

/// Bilinearity, distributivity, the flip, output sizes and adjointness of layers with every
/// geometry, for an implementation.
fn layer_laws_hold_for(imp: &impl Convolution<Rational>, cases: u32) {
    let mut runner = TestRunner::new(config(cases));
    runner
        .run(
            &(layer_problem(3), small_rational(), small_rational()),
            |case| super::harness::layer_laws(imp, &case).map_err(fail),
        )
        .unwrap();
}

#[test]
fn composition_and_receptive_field() {
    let mut runner = TestRunner::new(config(32));
    let problem = (1usize..=2).prop_flat_map(|rank| {
        (
            signal(rank, 3),
            signal(rank, 3),
            prop::collection::vec(1usize..=2, rank),
            prop::collection::vec(1usize..=2, rank),
            prop::collection::vec(0usize..=2, rank),
        )
    });
    runner
        .run(&problem, |(v, w, dv, dw, extra)| {
            // The input is the receptive field plus `extra` in every dimension.
            let mut shape = vec![1, 1];
            for d in 0..dv.len() {
                shape.push(
                    dv[d] * (v.shape()[2 + d] - 1) + dw[d] * (w.shape()[2 + d] - 1) + 1 + extra[d],
                );
            }
            let n: usize = shape.iter().product();
            let x = tensor(
                &shape,
                &(0..n as i64).map(|i| (i * 7) % 5 - 2).collect::<Vec<_>>(),
            );
            algebra::composition(&Reference, &x, &v, &dv, &w, &dw).map_err(fail)
        })
        .unwrap();
}

#[test]
fn shift_laws_hold() {
    let mut runner = TestRunner::new(config(48));
    let problem = (1usize..=2).prop_flat_map(|rank| {
        (
            prop::collection::vec(
                (
                    1usize..=3,
                    1usize..=2,
                    1usize..=3,
                    1usize..=2,
                    0usize..=2,
                    0usize..=2,
                    0usize..=3,
                ),
                rank,
            ),
            Just(rank),
        )
    });
    runner
        .run(&problem, |(dims, rank)| {
            // (L / s, s, k, d, p_b, p_e, m): L = s * (L / s); circular shift by m s.
            let mut x_shape = vec![1, 1];
            let mut w_shape = vec![1, 1];
            for d in &dims {
                x_shape.push(d.0 * d.1 + 2);
                w_shape.push(d.2);
            }
            let nx: usize = x_shape.iter().product();
            let nw: usize = w_shape.iter().product();
            let x = tensor(
                &x_shape,
                &(0..nx as i64).map(|i| (i * 5) % 7 - 3).collect::<Vec<_>>(),
            );
            let w = tensor(
                &w_shape,
                &(0..nw as i64).map(|i| (i * 3) % 5 - 2).collect::<Vec<_>>(),
            );
            let stride: Vec<usize> = dims.iter().map(|d| d.1).collect();
            let dilation: Vec<usize> = dims.iter().map(|d| d.3).collect();
            // Circular: needs s | L (make L = s * (L/s)) and padding <= L.
            let mut xc_shape = vec![1, 1];
            for d in &dims {
                xc_shape.push(d.0 * d.1 * 2);
            }
            let nc: usize = xc_shape.iter().product();
            let xc = tensor(
                &xc_shape,
                &(0..nc as i64).map(|i| (i * 5) % 7 - 3).collect::<Vec<_>>(),
            );
            let span_ok = dims
                .iter()
                .zip(&xc_shape[2..])
                .all(|(d, &l)| d.3 * (d.2 - 1) <= l);
            if span_ok {
                let shift: Vec<usize> = dims.iter().map(|d| d.6 * d.1).collect();
                shift::circular_equivariance(&Reference, &xc, &w, &stride, &dilation, &shift)
                    .map_err(fail)?;
            }
            let pads: Vec<(usize, usize)> = dims.iter().map(|d| (d.4, d.5)).collect();
            let shift: Vec<usize> = dims.iter().map(|d| d.6).collect();
            let g = ConvGeometry::new(rank)
                .with_dilation(dilation.clone())
                .with_padding(Padding::Explicit(pads.clone()));
            if crate::geometry::ConvShape::new(x.shape(), w.shape(), None, &g).is_ok() {
                shift::interior_equivariance(&Reference, &x, &w, &pads, &dilation, &shift)
                    .map_err(fail)?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn pool_laws_hold() {
    let mut runner = TestRunner::new(config(64));
    runner
        .run(&pool_problem(3), |p| {
            let rank = p.params.rank();
            sizes::pool_output_shape::<Rational>(&Reference, p.x.shape(), &p.params)
                .map_err(fail)?;
            let shift: Vec<usize> = (0..rank).map(|d| d + 1).collect();
            pool::global_pool_invariance(&Reference, &p.x, &shift).map_err(fail)?;
            let cube = |v: &Rational| v.clone() * v.clone() * v.clone() + v.clone();
            let unpadded = p
                .params
                .clone()
                .with_padding(vec![0; rank])
                .with_ceil_mode(false);
            if crate::reference::pool::pool_windows(&p.x.shape()[2..], &unpadded).is_ok() {
                pool::max_pool_monotone(&Reference, &p.x, &unpadded, cube).map_err(fail)?;
                let one_stride: Vec<usize> = unpadded.stride.clone();
                shift::max_pool_shift(&Reference, &p.x, &unpadded, &one_stride).map_err(fail)?;
            }
            let no_ceil = p.params.clone().with_ceil_mode(false);
            if crate::reference::pool::pool_windows(&p.x.shape()[2..], &no_ceil).is_ok() {
                pool::avg_pool_is_correlation(&Reference, &Reference, &p.x, &no_ceil)
                    .map_err(fail)?;
            }
            let kernel: Vec<usize> = p.params.kernel_size.clone();
            if kernel.iter().zip(&p.x.shape()[2..]).all(|(k, l)| k <= l) {
                pool::max_pool_window_permutation(&Reference, &p.x, &kernel, 1).map_err(fail)?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn size_laws_hold() {
    let mut runner = TestRunner::new(config(96));
    let problem = (
        prop::collection::vec(
            (
                1usize..=7,
                1usize..=3,
                1usize..=3,
                1usize..=2,
                0usize..=2,
                0usize..=2,
            ),
            1..=3,
        ),
        1usize..=3,
        1usize..=2,
        1usize..=2,
        any::<bool>(),
    );
    runner
        .run(&problem, |(dims, groups, cin, cout, bias)| {
            let kernel: Vec<usize> = dims.iter().map(|d| d.1).collect();
            sizes::parameter_count_law(groups * cin, groups * cout, groups, &kernel, bias)
                .map_err(fail)?;
            let mut x = vec![1, cin];
            x.extend(dims.iter().map(|d| d.0));
            let mut w = vec![cout, cin];
            w.extend(kernel.iter());
            let stride: Vec<usize> = dims.iter().map(|d| d.2).collect();
            let dilation: Vec<usize> = dims.iter().map(|d| d.3).collect();
            let pads: Vec<(usize, usize)> = dims.iter().map(|d| (d.4, d.5)).collect();
            sizes::transpose_inverts_size::<Rational>(
                &Reference, &x, &w, &stride, &dilation, &pads,
            )
            .map_err(fail)?;
            let t = TransposeGeometry::new(dims.len())
                .with_stride(stride.clone())
                .with_dilation(dilation.clone())
                .with_padding(crate::geometry::TransposePadding::Explicit(pads.clone()))
                .with_output_padding(stride.iter().map(|s| s - 1).collect());
            sizes::transpose_output_shape::<Rational>(&Reference, &x, &w, &t).map_err(fail)
        })
        .unwrap();
}

#[test]
fn gradients_are_transposed_toeplitz_forms() {
    let mut runner = TestRunner::new(config(32));
    runner
        .run(&layer_problem(2), |p| {
            let y = crate::reference::correlate(&p.x, &p.w, None, &p.geometry).unwrap();
            let g = y.map(|v| v.clone() - q(2));
            adjoint::gradients_are_toeplitz_transposes(&p.x, &p.w, &g, &p.geometry).map_err(fail)
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// quickcheck: the 1-D algebra on integer vectors, fixed seed.

fn qc_signal(v: &[i8]) -> Option<ArrayD<Rational>> {
    if v.is_empty() || v.len() > 6 {
        return None;
    }
    Some(sig(&v.iter().map(|&x| x as i64).collect::<Vec<_>>()))
}

fn quick() -> quickcheck::QuickCheck {
    quickcheck::QuickCheck::new()
        .rng(quickcheck::Gen::from_size_and_seed(6, 20261127))
        .tests(150)
        .max_tests(2000)
}

#[test]
fn quickcheck_algebra() {
    use quickcheck::TestResult;
    fn commutes(x: Vec<i8>, w: Vec<i8>) -> TestResult {
        match (qc_signal(&x), qc_signal(&w)) {
            (Some(x), Some(w)) => {
                TestResult::from_bool(algebra::commutativity(&Reference, &x, &w).is_ok())
            }
            _ => TestResult::discard(),
        }
    }
    fn associates(x: Vec<i8>, v: Vec<i8>, w: Vec<i8>) -> TestResult {
        match (qc_signal(&x), qc_signal(&v), qc_signal(&w)) {
            (Some(x), Some(v), Some(w)) => {
                TestResult::from_bool(algebra::associativity(&Reference, &x, &v, &w).is_ok())
            }
            _ => TestResult::discard(),
        }
    }
    fn bilinear(a: i8, x: Vec<i8>, b: i8, w: Vec<i8>) -> TestResult {
        match (qc_signal(&x), qc_signal(&w)) {
            (Some(x), Some(w)) => {
                let x2 = x.map(|v| v.clone() + q(1));
                let w2 = w.map(|v| v.clone() * q(2));
                let g = algebra::full(1);
                TestResult::from_bool(
                    algebra::bilinearity(
                        &Reference,
                        &q(a as i64),
                        &x,
                        &q(b as i64),
                        &x2,
                        &w,
                        &w2,
                        &g,
                    )
                    .is_ok(),
                )
            }
            _ => TestResult::discard(),
        }
    }
    quick().quickcheck(commutes as fn(Vec<i8>, Vec<i8>) -> TestResult);
    quick().quickcheck(associates as fn(Vec<i8>, Vec<i8>, Vec<i8>) -> TestResult);
    quick().quickcheck(bilinear as fn(i8, Vec<i8>, i8, Vec<i8>) -> TestResult);
    // The same check rejects the missing flip (quickcheck finds and shrinks a counterexample).
    fn commutes_without_flip(x: Vec<i8>, w: Vec<i8>) -> TestResult {
        match (qc_signal(&x), qc_signal(&w)) {
            (Some(x), Some(w)) => {
                TestResult::from_bool(algebra::commutativity(&Mutant::MissingFlip, &x, &w).is_ok())
            }
            _ => TestResult::discard(),
        }
    }
    assert!(quick()
        .quicktest(commutes_without_flip as fn(Vec<i8>, Vec<i8>) -> TestResult)
        .is_err());
}

// ---------------------------------------------------------------------------------------------
// False laws: the search finds counterexamples and shrinks them to minimal ones.

fn shrunk<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> LawResult) -> S::Value
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config(256));
    match runner.run(&strategy, |v| test(v).map_err(fail)) {
        Err(TestError::Fail(_, minimal)) => minimal,
        other => panic!("expected a counterexample, got {other:?}"),
    }
}

fn values(a: &ArrayD<Rational>) -> Vec<Rational> {
    a.iter().cloned().collect()
}

#[test]
fn correlation_is_not_commutative_minimal_counterexample() {
    let (x, w) = shrunk((signal_1d(4), signal_1d(4)), |(x, w)| {
        algebra::correlation_commutativity(&Reference, &x, &w)
    });
    eprintln!("correlation commutativity, shrunk: x = {x}, w = {w}");
    // Minimal: three elements in all, two of them non-zero with |value| 1
    // (e.g. x = [0, 1], w = [1]: x corr w = [0, 1] but w corr x = [1, 0]).
    let all: Vec<Rational> = values(&x).into_iter().chain(values(&w)).collect();
    assert_eq!(all.len(), 3, "x = {x}, w = {w}");
    assert_eq!(
        all.iter().filter(|v| **v != q(0)).count(),
        2,
        "x = {x}, w = {w}"
    );
    assert!(
        all.iter().all(|v| *v == q(0) || *v == q(1) || *v == q(-1)),
        "x = {x}, w = {w}"
    );
    // And it really is one.
    assert!(algebra::correlation_commutativity(&Reference, &x, &w).is_err());
    assert!(algebra::correlation_reversal(&Reference, &x, &w).is_ok());
}

#[test]
fn correlation_is_not_associative_minimal_counterexample() {
    let (x, v, w) = shrunk((signal_1d(3), signal_1d(3), signal_1d(3)), |(x, v, w)| {
        algebra::correlation_associativity(&Reference, &x, &v, &w)
    });
    eprintln!("correlation associativity, shrunk: x = {x}, v = {v}, w = {w}");
    let all: Vec<Rational> = values(&x)
        .into_iter()
        .chain(values(&v))
        .chain(values(&w))
        .collect();
    assert!(all.len() <= 4, "x = {x}, v = {v}, w = {w}");
    assert!(algebra::correlation_associativity(&Reference, &x, &v, &w).is_err());
    // Convolution is associative on the same inputs.
    assert!(algebra::associativity(&Reference, &x, &v, &w).is_ok());
}

#[test]
fn strided_layers_are_not_equivariant_to_other_shifts() {
    // Circular correlation with stride 2: shifting by 1 is not a shift of the output. Inputs
    // of even length (pairs), so that shrinking keeps the stride dividing the length.
    let even =
        prop::collection::vec((small_rational(), small_rational()), 1..=3).prop_map(|pairs| {
            let v: Vec<Rational> = pairs.into_iter().flat_map(|(a, b)| [a, b]).collect();
            let n = v.len();
            ArrayD::from_shape_vec(IxDyn(&[1, 1, n]), v).unwrap()
        });
    let (x, w) = shrunk((even, signal_1d(3)), |(x, w)| {
        if w.len() - 1 > x.len() {
            return Ok(());
        }
        shift::circular_equivariance(&Reference, &x, &w, &[2], &[1], &[1])
    });
    // Minimal: x = [a, b] with a != b, w = [c] with c != 0: y = [c a], but the shifted input
    // [b, a] gives [c b].
    eprintln!("stride 2, shift 1, shrunk: x = {x}, w = {w}");
    assert_eq!((x.len(), w.len()), (2, 1), "x = {x}, w = {w}");
    // Strided max pooling is not shift invariant either.
    let x = shrunk(signal_1d(6), |x| {
        let params = PoolParams::new(vec![2]);
        if x.len() < 3 {
            return Ok(());
        }
        shift::max_pool_shift(&Reference, &x, &params, &[1])
    });
    eprintln!("max pool k=2 s=2, shift 1, shrunk: x = {x}");
    assert!(x.len() <= 4, "x = {x}");
}

// ---------------------------------------------------------------------------------------------
// Negative controls: every law rejects a deliberately wrong implementation.

#[test]
fn every_law_rejects_a_wrong_implementation() {
    let x = sig(&[1, 2, -1, 3]);
    let w = sig(&[2, 0, 1]);
    let v = sig(&[1, -1]);
    let rejects = |r: LawResult, what: &str| assert!(r.is_err(), "{what} was not rejected");
    rejects(
        algebra::commutativity(&Mutant::MissingFlip, &x, &w),
        "missing flip (commutativity)",
    );
    rejects(
        algebra::associativity(&Mutant::MissingFlip, &x, &v, &w),
        "missing flip (associativity)",
    );
    rejects(
        algebra::bilinearity(
            &Mutant::Affine,
            &q(2),
            &x,
            &q(3),
            &sig(&[0, 1, 0, 1]),
            &w,
            &w,
            &algebra::full(1),
        ),
        "affine (bilinearity)",
    );
    rejects(
        algebra::distributivity(&Mutant::Affine, &x, &v, &v, &algebra::full(1)),
        "affine (distributivity)",
    );
    rejects(
        algebra::delta_identity(&Mutant::OffByOnePadding, &x),
        "off-by-one padding (identity)",
    );
    rejects(
        algebra::composition(
            &Mutant::IgnoreDilation,
            &sig(&[1, 2, 3, 4, 5, 6, 7]),
            &v,
            &[2],
            &w,
            &[1],
        ),
        "ignored dilation (composition)",
    );
    rejects(
        algebra::correlation_is_flipped_convolution(
            &Mutant::MissingFlip,
            &x,
            &w,
            &ConvGeometry::new(1),
        ),
        "missing flip (flip law)",
    );
    rejects(
        algebra::correlation_reversal(&Mutant::ExtraFlip, &x, &w),
        "extra flip (reversal)",
    );
    rejects(
        shift::circular_equivariance(
            &Mutant::WrongMode(PaddingMode::Zeros),
            &x,
            &w,
            &[1],
            &[1],
            &[1],
        ),
        "zeros instead of circular (circular equivariance)",
    );
    rejects(
        shift::full_equivariance(&Mutant::IndexBias, &x, &w, &[1]),
        "index bias (full equivariance)",
    );
    rejects(
        shift::interior_equivariance(
            &Mutant::IndexBias,
            &sig(&[1, 2, 3, 4, 5, 6]),
            &v,
            &[(1, 1)],
            &[1],
            &[1],
        ),
        "index bias (interior equivariance)",
    );
    rejects(
        shift::max_pool_shift(
            &PoolMutant::IgnoreStride,
            &sig(&[3, 1, 4, 1, 5, 9]),
            &PoolParams::new(vec![2]),
            &[2],
        ),
        "ignored stride (max pooling shift)",
    );
    rejects(
        pool::global_pool_invariance(&PoolMutant::FirstElementGlobal, &x, &[1]),
        "first element (global invariance)",
    );
    rejects(
        pool::max_pool_window_permutation(&PoolMutant::FirstElement, &sig(&[1, 5, 2, 7]), &[2], 1),
        "first element (window permutation)",
    );
    rejects(
        pool::max_pool_monotone(
            &PoolMutant::AverageAsMax,
            &sig(&[1, 2, 4, 0]),
            &PoolParams::new(vec![2]),
            |v| v.clone() * v.clone() * v.clone(),
        ),
        "average as max (monotone maps)",
    );
    rejects(
        pool::avg_pool_is_correlation(
            &PoolMutant::WrongDivisor,
            &Reference,
            &sig(&[1, 2, 3, 4, 5]),
            &PoolParams::new(vec![3])
                .with_stride(vec![1])
                .with_padding(vec![1]),
        ),
        "wrong divisor (average pooling as correlation)",
    );
    rejects(
        sizes::conv_output_shape(
            &Mutant::OffByOnePadding,
            &[1, 1, 5],
            &[1, 1, 2],
            &ConvGeometry::new(1),
        ),
        "off-by-one padding (output size)",
    );
    let t = TransposeGeometry::new(1)
        .with_stride(vec![2])
        .with_output_padding(vec![1]);
    rejects(
        sizes::transpose_output_shape(&Mutant::NoOutputPadding, &[1, 1, 3], &[1, 1, 2], &t),
        "no output padding (transposed size)",
    );
    rejects(
        sizes::transpose_inverts_size(
            &Mutant::NoOutputPadding,
            &[1, 1, 6],
            &[1, 1, 3],
            &[2],
            &[1],
            &[(1, 1)],
        ),
        "no output padding (size inversion)",
    );
    rejects(
        sizes::pool_output_shape(
            &PoolMutant::FloorOnly,
            &[1, 1, 5],
            &PoolParams::new(vec![2]).with_ceil_mode(true),
        ),
        "floor instead of ceil (pool size)",
    );
    // The seed's parameter count ignores groups.
    let seed_formula = |cin: usize, cout: usize, _g: usize, k: &[usize], b: bool| {
        (cin * cout * k.iter().product::<usize>() + if b { cout } else { 0 }) as u64
    };
    rejects(
        sizes::parameter_formula_law(&seed_formula, 4, 4, 2, &[3, 3], true),
        "the seed's formula with groups (parameter count)",
    );
    let x2 = tensor(&[1, 2, 4], &[1, 2, 3, 4, 5, 6, 7, 8]);
    let w2 = tensor(&[4, 1, 2], &[1, 2, 3, 4, 5, 6, 7, 8]);
    let grouped = ConvGeometry::new(1).with_groups(2);
    let g2 = tensor(&[1, 4, 3], &[1, -1, 2, 0, 3, 1, -2, 1, 1, 2, 0, 1]);
    rejects(
        adjoint::transpose_is_adjoint(&Mutant::WrongGroups, &x2, &w2, &g2, &grouped),
        "wrong group mapping (adjoint)",
    );
    let wrong_backward = |x: &ArrayD<Rational>,
                          w: &ArrayD<Rational>,
                          g: &ArrayD<Rational>,
                          geometry: &ConvGeometry| {
        crate::reference::correlate_backward(x, &flip_kernel(w), g, geometry)
    };
    let g1 = tensor(&[1, 1, 2], &[1, 2]);
    rejects(
        adjoint::gradients_of_backward_are_toeplitz_transposes(
            &wrong_backward,
            &x,
            &w,
            &g1,
            &ConvGeometry::new(1),
        ),
        "missing flip in the backward pass (gradients)",
    );
}

/// Every linear operator is adjoint to its backward / transpose: average pooling and its
/// gradient, unfold and fold, adaptive average pooling and its gradient, a Toeplitz matrix and its
/// transpose. The same check rejects a backward pass with the wrong divisor.
#[test]
fn every_linear_operator_has_its_adjoint() {
    use crate::reference::pool::{
        adaptive_avg_pool, adaptive_avg_pool_backward, avg_pool_backward,
    };
    use crate::reference::{fold, unfold, UnfoldParams};
    let mut runner = TestRunner::new(config(48));
    runner
        .run(&(pool_problem(3), any::<bool>()), |(p, include)| {
            let options = AvgOptions {
                count_include_pad: include,
                divisor_override: None,
            };
            let shape = p.x.shape().to_vec();
            let y = crate::reference::avg_pool(&p.x, &p.params, &options).unwrap();
            let g = y.map(|v| v.clone() + q(1));
            adjoint::adjointness(
                "average pooling and its gradient are adjoint",
                |x| crate::reference::avg_pool(x, &p.params, &options),
                |g| avg_pool_backward(g, &shape, &p.params, &options),
                &p.x,
                &g,
            )
            .map_err(fail)?;
            let out: Vec<usize> = shape[2..].iter().map(|l| l.div_ceil(2)).collect();
            let ya = adaptive_avg_pool(&p.x, &out).unwrap();
            adjoint::adjointness(
                "adaptive average pooling and its gradient are adjoint",
                |x| adaptive_avg_pool(x, &out),
                |g| adaptive_avg_pool_backward(g, &shape, &out),
                &p.x,
                &ya.map(|v| v.clone() - q(1)),
            )
            .map_err(fail)?;
            let rank = p.params.rank();
            let params = UnfoldParams {
                kernel_size: p.params.kernel_size.clone(),
                dilation: p.params.dilation.clone(),
                padding: p.params.padding.iter().map(|pad| pad.0).collect(),
                stride: p.params.stride.clone(),
            };
            if let Ok(cols) = unfold(&p.x, &params) {
                let spatial = shape[2..2 + rank].to_vec();
                adjoint::adjointness(
                    "unfold and fold are adjoint",
                    |x| unfold(x, &params),
                    |c| fold(c, &spatial, &params),
                    &p.x,
                    &cols.map(|v| v.clone() * q(3) - q(1)),
                )
                .map_err(fail)?;
            }
            Ok(())
        })
        .unwrap();
    // A Toeplitz matrix and its transpose.
    let w = tensor(&[2, 1, 2], &[1, -2, 3, 1]);
    let g = ConvGeometry::new(1)
        .with_padding(Padding::Explicit(vec![(1, 0)]))
        .with_groups(2);
    let a =
        crate::toeplitz::correlate_matrix(&w, &[2, 3], &g, crate::toeplitz::MatrixLimit::DEFAULT)
            .unwrap();
    let as_vec = |v: &ArrayD<Rational>| v.iter().cloned().collect::<Vec<_>>();
    let to_tensor = |v: Vec<Rational>| ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).unwrap();
    assert!(adjoint::adjointness(
        "a matrix and its transpose are adjoint",
        |x| Ok(to_tensor(crate::toeplitz::apply(&a, &as_vec(x)).unwrap())),
        |y| Ok(to_tensor(
            crate::toeplitz::apply(&a.transpose(), &as_vec(y)).unwrap()
        )),
        &tensor(&[6], &[1, 2, 3, -1, 0, 2]),
        &tensor(&[6], &[2, -1, 1, 1, 3, -2]),
    )
    .is_ok());
    // Negative control: a gradient with the other divisor.
    let x = sig(&[1, 2, 3, 4, 5]);
    let params = PoolParams::new(vec![3])
        .with_stride(vec![1])
        .with_padding(vec![1]);
    let options = AvgOptions::default();
    let other = AvgOptions {
        count_include_pad: false,
        divisor_override: None,
    };
    let y = crate::reference::avg_pool(&x, &params, &options).unwrap();
    assert!(adjoint::adjointness(
        "average pooling and its gradient are adjoint",
        |x| crate::reference::avg_pool(x, &params, &options),
        |g| avg_pool_backward(g, &[1, 1, 5], &params, &other),
        &x,
        &y,
    )
    .is_err());
}

/// The wrong group mapping is also caught on random grouped layers.
#[test]
fn wrong_group_mapping_is_found_by_search() {
    let mut runner = TestRunner::new(config(64));
    let result = runner.run(&layer_problem(2), |p| {
        let zeros = p.geometry.clone().with_padding_mode(PaddingMode::Zeros);
        let y = crate::reference::correlate(&p.x, &p.w, None, &zeros).unwrap();
        adjoint::transpose_is_adjoint(&Mutant::WrongGroups, &p.x, &p.w, &y, &zeros).map_err(fail)
    });
    assert!(
        result.is_err(),
        "no grouped layer exposed the wrong mapping"
    );
}

// ---------------------------------------------------------------------------------------------
// Named regression cases: inputs that broke a law's statement while it was being written.

/// Strided max pooling with ceil mode: the partial last window of the shifted input has fewer
/// elements than the window it is compared with, so the shift law needs ceil_mode = false
/// (found by `pool_laws_hold`; the law's hypotheses now say so).
#[test]
fn regression_max_pool_shift_needs_floor_mode() {
    let x = sig(&[0, 2, 1, 4, -1]);
    let ceil = PoolParams::new(vec![2]).with_ceil_mode(true);
    assert!(shift::max_pool_shift(&Reference, &x, &ceil, &[2]).is_err());
    let floor = PoolParams::new(vec![2]);
    assert!(shift::max_pool_shift(&Reference, &x, &floor, &[2]).is_ok());
}

/// The shrunk counterexamples quoted in proofs/ (algebra.md A7, shift.md S2 and S4).
#[test]
fn regression_quoted_counterexamples() {
    assert!(algebra::correlation_commutativity(&Reference, &sig(&[1]), &sig(&[0, 1])).is_err());
    assert!(
        algebra::correlation_associativity(&Reference, &sig(&[1]), &sig(&[1]), &sig(&[0, 1]))
            .is_err()
    );
    assert!(
        shift::circular_equivariance(&Reference, &sig(&[0, 1]), &sig(&[-1]), &[2], &[1], &[1])
            .is_err()
    );
    assert!(shift::max_pool_shift(
        &Reference,
        &sig(&[0, 0, 0, 1]),
        &PoolParams::new(vec![2]),
        &[1]
    )
    .is_err());
}

// ---------------------------------------------------------------------------------------------
// Small symbolic proofs (larger bounds: `convspec prove`).

#[test]
fn symbolic_proofs_up_to_bound_two() {
    let rows = prove::prove(2, None, |_, _, _, _| {});
    assert!(rows.len() >= 10, "{}", prove::table(&rows));
    for row in &rows {
        assert!(row.failure.is_none(), "{}", prove::table(&rows));
        assert!(row.cases > 0);
    }
}

/// A symbolic proof can fail: the wrong implementation is refuted for all values at once.
#[test]
fn symbolic_proof_refutes_a_wrong_implementation() {
    let x = crate::symbolic::variable_tensor("x", &[1, 1, 2], 2);
    let w = crate::symbolic::variable_tensor("w", &[1, 1, 2], 2);
    assert!(algebra::commutativity(&Reference, &x, &w).is_ok());
    // MissingFlip on polynomials: a closure implementation.
    let missing_flip = Closures {
        correlate: Box::new(
            |x: &ArrayD<crate::symbolic::Polynomial>, w: &ArrayD<_>, g: &ConvGeometry| {
                crate::reference::correlate(x, w, None, g)
            },
        ),
        convolve: Some(Box::new(
            |x: &ArrayD<crate::symbolic::Polynomial>, w: &ArrayD<_>, g: &ConvGeometry| {
                crate::reference::correlate(x, w, None, g)
            },
        )),
    };
    let counterexample = algebra::commutativity(&missing_flip, &x, &w).unwrap_err();
    assert!(
        counterexample.to_string().contains("w2*x1"),
        "{counterexample}"
    );
}

/// A law outside its hypotheses says so instead of passing untested: the adjoint law with
/// reflect padding returns a counterexample; with 'same' padding it is tested (resolved to the
/// explicit pads) and holds.
#[test]
fn the_adjoint_law_refuses_what_it_cannot_test() {
    let x = tensor(&[1, 1, 5], &[1, 2, -1, 0, 3]);
    let w = tensor(&[1, 1, 3], &[1, -2, 1]);
    let g = tensor(&[1, 1, 5], &[2, 1, 0, -1, 1]);
    let reflect = ConvGeometry::new(1)
        .padding(1)
        .padding_mode(PaddingMode::Reflect);
    let refused = adjoint::transpose_is_adjoint(&Reference, &x, &w, &g, &reflect).unwrap_err();
    assert!(refused.left.contains("zeros padding"), "{refused}");
    let same = ConvGeometry::new(1).with_padding(crate::geometry::Padding::Same);
    adjoint::transpose_is_adjoint(&Reference, &x, &w, &g, &same).unwrap();
    // ... and the broadcasting builder is PyTorch's padding=1.
    assert_eq!(
        ConvGeometry::new(2).stride(2).padding(1),
        ConvGeometry::new(2)
            .with_stride(vec![2, 2])
            .with_padding(crate::geometry::Padding::Explicit(vec![(1, 1); 2]))
    );
}
