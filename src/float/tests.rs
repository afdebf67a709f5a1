//! Every float algorithm against the exact engine, judged by the oracle: random layers (every
//! rank, stride, dilation, padding and mode, groups) with random full-precision values must meet
//! the fp32 contract in f32 and the fp64 contract in f64 at every element; a deliberately
//! shifted padding and a dropped bias fail the same check.

use super::*;
use crate::exact::ExactEngine;
use crate::geometry::{Padding, PaddingMode};
use crate::laws::strategies::{layer_problem, winograd_layer};
use crate::oracle::{check, CheckOptions, Operands, Reference, Report};
use crate::scalar::{rational_from_f64, Rational};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config(cases: u32) -> Config {
    crate::laws::strategies::fixed_config(cases, 0xF10A_2026_1128, "proptest-regressions/float.txt")
}

/// Values in (-2, 2) with every mantissa bit in use (the benchmarks' generator from `seed`),
/// of the given shape; `narrow` rounds them to f32.
fn values(shape: &[usize], seed: u64, narrow: bool) -> ArrayD<f64> {
    super::bench::data(shape, seed, |v| {
        let v = 4.0 * v - 2.0;
        if narrow {
            f64::from(v as f32)
        } else {
            v
        }
    })
}

fn rationals(t: &ArrayD<f64>) -> ArrayD<Rational> {
    t.mapv(|v| rational_from_f64(v).expect("finite"))
}

/// The oracle's verdict on `candidate` for the layer (x, w, b) under `geometry`, in T's
/// contract, with the bound of `algorithm`: the direct bound for direct and im2col,
/// Winograd's transforms' bound, or the FFT's normwise bound in T's unit roundoff.
fn judge_by<T: FloatScalar>(
    algorithm: Algorithm,
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    b: &ArrayD<f64>,
    geometry: &ConvGeometry,
    candidate: &ArrayD<T>,
) -> Report {
    let (xq, wq, bq) = (rationals(x), rationals(w), rationals(b));
    let engine = ExactEngine::new(1);
    let reference = algorithm
        .reference(
            &engine,
            Operands {
                input: &xq,
                weight: &wq,
                bias: Some(&bq),
                geometry,
            },
            T::PRECISION,
        )
        .expect("a valid layer");
    let candidate = candidate.mapv(FloatScalar::to_f64);
    check(
        &reference,
        candidate.view(),
        T::PRECISION,
        &CheckOptions::default(),
    )
    .expect("shapes agree")
}

fn run<T: FloatScalar>(
    engine: &FloatEngine,
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    b: &ArrayD<f64>,
    geometry: &ConvGeometry,
    algorithm: Algorithm,
    cast: impl Fn(f64) -> T,
) -> ArrayD<T> {
    let (x, w, b) = (x.mapv(&cast), w.mapv(&cast), b.mapv(&cast));
    engine
        .correlate(
            x.view(),
            w.view(),
            Some(b.view()),
            geometry,
            Some(algorithm),
        )
        .expect("a valid layer")
        .0
}

/// `algorithm` run in f32 (`narrow`) or f64 on (x, w, b), judged by its bound in that
/// format's contract.
fn run_and_judge(
    engine: &FloatEngine,
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    b: &ArrayD<f64>,
    geometry: &ConvGeometry,
    algorithm: Algorithm,
    narrow: bool,
) -> Report {
    if narrow {
        let y = run(engine, x, w, b, geometry, algorithm, |v| v as f32);
        judge_by(algorithm, x, w, b, geometry, &y)
    } else {
        let y = run(engine, x, w, b, geometry, algorithm, |v| v);
        judge_by(algorithm, x, w, b, geometry, &y)
    }
}

/// The algorithms of the table that compute this layer.
fn accepting(x_shape: &[usize], w_shape: &[usize], geometry: &ConvGeometry) -> Vec<Algorithm> {
    let shape = ConvShape::new(x_shape, w_shape, None, geometry).expect("a valid layer");
    let problem = Problem::new(shape, geometry.padding_mode, 4);
    let chosen: Vec<Algorithm> = Algorithm::ALL
        .into_iter()
        .filter(|a| a.accepts(&problem).is_ok())
        .collect();
    assert!(
        chosen.len() >= 3,
        "direct, im2col and the FFT take every small layer"
    );
    chosen
}

proptest! {
    #![proptest_config(config(48))]

    /// Every algorithm, f32 and f64, meets its contract on every element of random layers.
    #[test]
    fn every_algorithm_meets_its_contract(problem in layer_problem(3), seed in any::<u64>(), batch in 1usize..=2) {
        let geometry = problem.geometry.clone();
        let mut x_shape = problem.x.shape().to_vec();
        x_shape[0] = batch;
        let w_shape = problem.w.shape().to_vec();
        let engine = FloatEngine::new(2);
        for narrow in [true, false] {
            let x = values(&x_shape, seed, narrow);
            let w = values(&w_shape, seed ^ 1, narrow);
            let b = values(&[w_shape[0]], seed ^ 2, narrow);
            for algorithm in accepting(&x_shape, &w_shape, &geometry) {
                let report = run_and_judge(&engine, &x, &w, &b, &geometry, algorithm, narrow);
                prop_assert!(report.passed(), "{algorithm:?} narrow={narrow} {geometry:?}\n{}", report.render());
            }
        }
    }
}

/// A larger layer per algorithm (tiles, groups, asymmetric padding, reflect), and the planner's
/// choice; thread counts agree exactly.
#[test]
fn tiled_layers_meet_the_contract_at_every_thread_count() {
    let cases = [
        (
            vec![2, 6, 23, 19],
            vec![8, 3, 3, 2],
            ConvGeometry::new(2)
                .with_groups(2)
                .with_stride(vec![1, 2])
                .with_padding(Padding::Explicit(vec![(2, 1), (0, 1)])),
        ),
        (
            vec![1, 4, 40, 33],
            vec![4, 1, 3, 3],
            ConvGeometry::new(2)
                .with_groups(4)
                .with_padding(Padding::Same)
                .with_padding_mode(PaddingMode::Reflect),
        ),
        // More taps than the 2-D direct path adds in one pass (35 = 9 + 9 + 9 + 8), dilated,
        // two channels per group.
        (
            vec![1, 4, 17, 21],
            vec![6, 2, 7, 5],
            ConvGeometry::new(2)
                .with_groups(2)
                .with_dilation(vec![1, 2])
                .with_padding(Padding::Explicit(vec![(3, 2), (4, 5)])),
        ),
        (
            vec![1, 3, 3000],
            vec![5, 3, 7],
            ConvGeometry::new(1)
                .with_dilation(vec![3])
                .with_padding(Padding::Full),
        ),
        // Several tiles of the 1-D path, strided and dilated, asymmetric zeros.
        (
            vec![2, 2, 20001],
            vec![4, 1, 5],
            ConvGeometry::new(1)
                .with_groups(2)
                .with_stride(vec![2])
                .with_dilation(vec![2])
                .with_padding(Padding::Explicit(vec![(3, 1)])),
        ),
    ];
    for (x_shape, w_shape, geometry) in cases {
        let x = values(&x_shape, 7, true);
        let w = values(&w_shape, 8, true);
        let b = values(&[w_shape[0]], 9, true);
        for algorithm in accepting(&x_shape, &w_shape, &geometry) {
            let one = run(
                &FloatEngine::new(1),
                &x,
                &w,
                &b,
                &geometry,
                algorithm,
                |v| v as f32,
            );
            let two = run(
                &FloatEngine::new(2),
                &x,
                &w,
                &b,
                &geometry,
                algorithm,
                |v| v as f32,
            );
            assert_eq!(one, two, "{algorithm:?}: thread counts differ");
            let report = judge_by(algorithm, &x, &w, &b, &geometry, &one);
            assert!(
                report.passed(),
                "{algorithm:?} {geometry:?}\n{}",
                report.render()
            );
        }
    }
}

/// Negative controls: the output of a neighbouring padding (one position shifted, the same
/// shape) and an output without its bias fail the contract the correct one meets.
#[test]
fn wrong_kernels_fail_the_same_check() {
    let geometry = ConvGeometry::new(2).with_padding(Padding::Explicit(vec![(1, 1), (1, 1)]));
    let shifted = ConvGeometry::new(2).with_padding(Padding::Explicit(vec![(2, 0), (1, 1)]));
    let x = values(&[1, 3, 8, 7], 11, true);
    let w = values(&[4, 3, 3, 3], 12, true);
    let b = values(&[4], 13, true);
    let zero = ArrayD::zeros(IxDyn(&[4]));
    let engine = FloatEngine::new(1);
    for algorithm in accepting(x.shape(), w.shape(), &geometry) {
        let right = run(&engine, &x, &w, &b, &geometry, algorithm, |v| v as f32);
        assert!(judge_by(algorithm, &x, &w, &b, &geometry, &right).passed());
        let wrong = run(&engine, &x, &w, &b, &shifted, algorithm, |v| v as f32);
        let report = judge_by(algorithm, &x, &w, &b, &geometry, &wrong);
        assert!(!report.passed(), "{algorithm:?}: shifted padding passed");
        let unbiased = run(&engine, &x, &w, &zero, &geometry, algorithm, |v| v as f32);
        assert!(
            !judge_by(algorithm, &x, &w, &b, &geometry, &unbiased).passed(),
            "{algorithm:?}: no bias passed"
        );
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// Winograd F(2x2, 3x3) and F(4x4, 3x3) meet the transforms' bound in f32 and f64 on
    /// every element.
    #[test]
    fn winograd_meets_its_bound((x_shape, w_shape, geometry) in winograd_layer(2, 9, 3), seed in any::<u64>()) {
        let engine = FloatEngine::new(2);
        for algorithm in [Algorithm::WINOGRAD, Algorithm::WINOGRAD4] {
            for narrow in [true, false] {
                let x = values(&x_shape, seed, narrow);
                let w = values(&w_shape, seed ^ 1, narrow);
                let b = values(&[w_shape[0]], seed ^ 2, narrow);
                let report = run_and_judge(&engine, &x, &w, &b, &geometry, algorithm, narrow);
                prop_assert!(report.passed(), "{algorithm:?} narrow={narrow} {geometry:?}\n{}", report.render());
            }
        }
    }
}

/// Negative controls for Winograd: a shifted padding and a missing bias fail the bound the
/// right output meets; layers it cannot compute are refused.
#[test]
fn winograd_rejects_wrong_outputs_and_other_layers() {
    let geometry = ConvGeometry::new(2).with_padding(Padding::Explicit(vec![(1, 1), (1, 1)]));
    let shifted = ConvGeometry::new(2).with_padding(Padding::Explicit(vec![(2, 0), (1, 1)]));
    let x = values(&[1, 3, 8, 7], 21, true);
    let w = values(&[4, 3, 3, 3], 22, true);
    let b = values(&[4], 23, true);
    let zero = ArrayD::zeros(IxDyn(&[4]));
    let engine = FloatEngine::new(1);
    let f32_of = |v: f64| v as f32;
    for algorithm in [Algorithm::WINOGRAD, Algorithm::WINOGRAD4] {
        let right = run(&engine, &x, &w, &b, &geometry, algorithm, f32_of);
        assert!(judge_by(algorithm, &x, &w, &b, &geometry, &right).passed());
        let wrong = run(&engine, &x, &w, &b, &shifted, algorithm, f32_of);
        assert!(!judge_by(algorithm, &x, &w, &b, &geometry, &wrong).passed());
        let unbiased = run(&engine, &x, &w, &zero, &geometry, algorithm, f32_of);
        assert!(!judge_by(algorithm, &x, &w, &b, &geometry, &unbiased).passed());
        let strided = ConvGeometry::new(2).with_stride(vec![2, 2]);
        let (xf, wf) = (x.mapv(f32_of), w.mapv(f32_of));
        assert!(engine
            .correlate(xf.view(), wf.view(), None, &strided, Some(algorithm))
            .is_err());
    }
}

/// FFT correlation on layers of many blocks (long signals, a kernel longer than the block's
/// minimum, channels and groups, padding modes, 2-D and 3-D with strides and dilations): the
/// normwise bound holds at every element in f32 and f64, thread counts agree exactly, and the
/// planner picks the FFT for long 1-D kernels.
#[test]
fn fft_meets_its_bound_over_many_blocks() {
    let cases = [
        (vec![1, 1, 20000], vec![1, 1, 1001], ConvGeometry::new(1)),
        // A block wholly inside the end padding (full padding longer than a block's share).
        (
            vec![1, 1, 300],
            vec![1, 1, 200],
            ConvGeometry::new(1).with_padding(Padding::Full),
        ),
        (
            vec![1, 1, 300],
            vec![1, 1, 200],
            ConvGeometry::new(1)
                .with_padding(Padding::Explicit(vec![(150, 199)]))
                .with_padding_mode(PaddingMode::Circular),
        ),
        (
            vec![2, 4, 3001],
            vec![6, 2, 129],
            ConvGeometry::new(1)
                .with_groups(2)
                .with_padding(Padding::Same)
                .with_padding_mode(PaddingMode::Circular),
        ),
        (
            vec![1, 2, 700],
            vec![3, 2, 40],
            ConvGeometry::new(1)
                .with_stride(vec![3])
                .with_dilation(vec![5])
                .with_padding(Padding::Explicit(vec![(7, 2)]))
                .with_padding_mode(PaddingMode::Reflect),
        ),
        (
            vec![1, 3, 37, 29],
            vec![2, 3, 9, 8],
            ConvGeometry::new(2)
                .with_stride(vec![2, 1])
                .with_dilation(vec![1, 2])
                .with_padding(Padding::Explicit(vec![(4, 3), (0, 5)])),
        ),
        (
            vec![1, 2, 9, 10, 11],
            vec![2, 1, 3, 4, 3],
            ConvGeometry::new(3)
                .with_groups(2)
                .with_padding(Padding::Same)
                .with_padding_mode(PaddingMode::Replicate),
        ),
    ];
    for (x_shape, w_shape, geometry) in cases {
        for narrow in [true, false] {
            let x = values(&x_shape, 31, narrow);
            let w = values(&w_shape, 32, narrow);
            let b = values(&[w_shape[0]], 33, narrow);
            let report = if narrow {
                let cast = |v: f64| v as f32;
                let one = run(
                    &FloatEngine::new(1),
                    &x,
                    &w,
                    &b,
                    &geometry,
                    Algorithm::FFT,
                    cast,
                );
                let two = run(
                    &FloatEngine::new(2),
                    &x,
                    &w,
                    &b,
                    &geometry,
                    Algorithm::FFT,
                    cast,
                );
                assert_eq!(one, two, "thread counts differ");
                judge_by(Algorithm::FFT, &x, &w, &b, &geometry, &one)
            } else {
                let y = run(
                    &FloatEngine::new(2),
                    &x,
                    &w,
                    &b,
                    &geometry,
                    Algorithm::FFT,
                    |v| v,
                );
                judge_by(Algorithm::FFT, &x, &w, &b, &geometry, &y)
            };
            assert!(
                report.passed(),
                "narrow={narrow} {geometry:?}\n{}",
                report.render()
            );
            if std::env::var_os("CONVSPEC_SHOW_BOUNDS").is_some() {
                eprintln!(
                    "{x_shape:?} {w_shape:?} narrow={narrow}\n{}",
                    report.render()
                );
            }
        }
    }
    let long = ConvShape::new(&[1, 1, 100000], &[1, 1, 1001], None, &ConvGeometry::new(1))
        .expect("a valid layer");
    assert_eq!(
        plan(&Problem::new(long, PaddingMode::Zeros, 4)),
        Algorithm::FFT
    );
    let short = ConvShape::new(&[1, 1, 100000], &[1, 1, 9], None, &ConvGeometry::new(1))
        .expect("a valid layer");
    assert_eq!(
        plan(&Problem::new(short, PaddingMode::Zeros, 4)),
        Algorithm::DIRECT
    );
}

/// Negative control at the FFT's block seam: the correct output of a long 1-D layer with one
/// product dropped where two blocks overlap (what an off-by-one in the overlap-add would do)
/// fails the normwise bound the correct output meets.
#[test]
fn fft_bound_rejects_a_dropped_term_at_a_block_seam() {
    let (x_shape, w_shape) = (vec![1, 1, 20000], vec![1, 1, 1001]);
    let geometry = ConvGeometry::new(1);
    let x = values(&x_shape, 41, true);
    let w = values(&w_shape, 42, true);
    let b = values(&[1], 43, true);
    let y = run(
        &FloatEngine::new(1),
        &x,
        &w,
        &b,
        &geometry,
        Algorithm::FFT,
        |v| v as f32,
    );
    assert!(judge_by(Algorithm::FFT, &x, &w, &b, &geometry, &y).passed());
    let shape = ConvShape::new(&x_shape, &w_shape, Some(1), &geometry).expect("a valid layer");
    let plan = fft::FftPlan::new(&shape, &shape.output_spatial());
    assert!(plan.blocks > 2, "several blocks");
    // The last output of block 1's lead (block 0's last own output), and its largest term
    // from block 1.
    let t = plan.block - 1;
    let j = (plan.block - t..1001)
        .max_by(|&a, &c| {
            let term = |j: usize| (w[[0, 0, j]] * x[[0, 0, t + j]]).abs();
            term(a).total_cmp(&term(c))
        })
        .expect("terms from block 1");
    let mut wrong = y.clone();
    wrong[[0, 0, t]] -= (w[[0, 0, j]] * x[[0, 0, t + j]]) as f32;
    let report = judge_by(Algorithm::FFT, &x, &w, &b, &geometry, &wrong);
    assert!(
        !report.passed(),
        "a dropped seam term passed\n{}",
        report.render()
    );
}

/// A layer of fewer runs of tiles than threads (one run of F(2x2)'s 12 or F(4x4)'s 4 tiles,
/// 20 output channels in 3 panels): at two threads its input is transformed once, shared, and
/// its output channels split; at one thread one job does everything. The outputs agree bit for
/// bit and meet the bound; a wrong channel split (the last output channel's values taken from
/// its neighbour) fails it.
#[test]
fn winograd_shares_a_run_among_threads() {
    let geometry = ConvGeometry::new(2).with_padding(Padding::Explicit(vec![(1, 1), (1, 1)]));
    let (x_shape, w_shape) = (vec![1, 5, 7, 6], vec![20, 5, 3, 3]);
    let x = values(&x_shape, 71, true);
    let w = values(&w_shape, 72, true);
    let b = values(&[20], 73, true);
    for algorithm in [Algorithm::WINOGRAD, Algorithm::WINOGRAD4] {
        let cast = |v: f64| v as f32;
        let one = run(&FloatEngine::new(1), &x, &w, &b, &geometry, algorithm, cast);
        let two = run(&FloatEngine::new(2), &x, &w, &b, &geometry, algorithm, cast);
        assert_eq!(one, two, "{algorithm:?}: thread counts differ");
        let report = judge_by(algorithm, &x, &w, &b, &geometry, &two);
        assert!(report.passed(), "{algorithm:?}\n{}", report.render());
        let mut values: Vec<f32> = two.iter().copied().collect();
        let plane = 7 * 6;
        values.copy_within(18 * plane..19 * plane, 19 * plane);
        let wrong = ArrayD::from_shape_vec(two.raw_dim(), values).expect("the output's shape");
        assert!(!judge_by(algorithm, &x, &w, &b, &geometry, &wrong).passed());
    }
}

/// Winograd on layers of many tile runs (several jobs per image, ragged edges, groups, batch):
/// the bound holds at every element and thread counts agree exactly.
#[test]
fn winograd_meets_its_bound_over_many_tiles() {
    let geometry = ConvGeometry::new(2)
        .with_groups(2)
        .with_padding(Padding::Explicit(vec![(1, 0), (2, 1)]));
    let (x_shape, w_shape) = (vec![2, 6, 45, 39], vec![4, 3, 3, 3]);
    let x = values(&x_shape, 51, true);
    let w = values(&w_shape, 52, true);
    let b = values(&[4], 53, true);
    for algorithm in [Algorithm::WINOGRAD, Algorithm::WINOGRAD4] {
        let cast = |v: f64| v as f32;
        let one = run(&FloatEngine::new(1), &x, &w, &b, &geometry, algorithm, cast);
        let two = run(&FloatEngine::new(2), &x, &w, &b, &geometry, algorithm, cast);
        assert_eq!(one, two, "{algorithm:?}: thread counts differ");
        let report = judge_by(algorithm, &x, &w, &b, &geometry, &one);
        assert!(report.passed(), "{algorithm:?}\n{}", report.render());
        if std::env::var_os("CONVSPEC_SHOW_BOUNDS").is_some() {
            eprintln!("{algorithm:?}\n{}", report.render());
        }
    }
}

/// Expands runs into one source per position (`spatial` for zero) for comparison.
fn expand(
    runs: &[Vec<(usize, usize, usize)>],
    map: &[u32],
    width: usize,
    step: usize,
    spatial: usize,
) -> Vec<usize> {
    let mut out = vec![usize::MAX; runs.len() * width];
    for (j, tap_runs) in runs.iter().enumerate() {
        let row = &mut out[j * width..][..width];
        if tap_runs.is_empty() {
            for (x, &m) in row.iter_mut().zip(&map[j * width..][..width]) {
                *x = m as usize;
            }
        }
        for &(t, len, first) in tap_runs {
            for (i, x) in row[t..t + len].iter_mut().enumerate() {
                *x = if first >= spatial {
                    spatial
                } else {
                    first + i * step
                };
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(config(96))]

    /// The runs im2col builds from the geometry (zero padding) read exactly the sources of the
    /// gather map, tile by tile, on random layers of every rank.
    #[test]
    fn zero_padding_runs_read_the_gather_maps_sources(problem in layer_problem(3), width in 1usize..40) {
        let geometry = problem.geometry.clone().with_padding_mode(PaddingMode::Zeros);
        let x = problem.x.mapv(|_| 0f32);
        let w = problem.w.mapv(|_| 0f32);
        let Ok(layer) = Layer::prepare(x.view(), w.view(), None, &geometry) else {
            return Ok(());
        };
        let step = layer.run_step();
        let mut t0 = 0;
        while t0 < layer.positions {
            let t1 = (t0 + width).min(layer.positions);
            let map = layer.tile(t0, t1);
            let from_map = expand(&layer.runs(&map, t1 - t0), &map, t1 - t0, step, layer.spatial);
            let direct = expand(&layer.zero_padding_runs(t0, t1), &[], t1 - t0, step, layer.spatial);
            prop_assert_eq!(&from_map, &direct, "tile {}..{} of {:?}", t0, t1, geometry);
            t0 = t1;
        }
    }
}

/// True convolution (the kernel flipped): for every algorithm, bit for bit the correlation
/// with a kernel reversed by hand, on a 3x3 layer and a 7x5 stride-2 layer (each algorithm on
/// those it takes, at least one); the direct algorithms meet the direct bound against the exact
/// convolution and fail it against the exact correlation (the negative control: a missing
/// flip).
#[test]
fn convolve_is_the_flipped_correlation_for_every_algorithm() {
    let layers = [
        (
            ConvGeometry::new(2).with_padding(Padding::Explicit(vec![(1, 2), (1, 0)])),
            [1, 2, 9, 8],
            [3, 2, 3, 3],
        ),
        (
            ConvGeometry::new(2)
                .with_stride(vec![2, 2])
                .with_padding(Padding::Explicit(vec![(3, 2), (2, 2)])),
            [1, 2, 13, 12],
            [3, 2, 7, 5],
        ),
    ];
    let mut runs = vec![0; Algorithm::ALL.len()];
    for (geometry, x_shape, w_shape) in layers {
        let x = values(&x_shape, 61, true).mapv(|v| v as f32);
        let w = values(&w_shape, 62, true).mapv(|v| v as f32);
        let b = values(&[3], 63, true).mapv(|v| v as f32);
        let (k_h, k_w) = (w_shape[2], w_shape[3]);
        let mut reversed = w.clone();
        for ((o, c, i, j), v) in w
            .view()
            .into_dimensionality::<ndarray::Ix4>()
            .expect("4-D")
            .indexed_iter()
        {
            reversed[[o, c, k_h - 1 - i, k_w - 1 - j]] = *v;
        }
        let exact = |t: &ArrayD<f32>| rationals(&t.mapv(f64::from));
        let (xq, wq, bq) = (exact(&x), exact(&w), exact(&b));
        let engine = ExactEngine::new(1);
        let reference = |flip| {
            if flip {
                Reference::convolve(&engine, &xq, &wq, Some(&bq), &geometry)
            } else {
                Reference::correlate(&engine, &xq, &wq, Some(&bq), &geometry)
            }
            .expect("a layer")
        };
        let (convolution, correlation) = (reference(true), reference(false));
        let float = FloatEngine::new(2);
        for (count, algorithm) in runs.iter_mut().zip(Algorithm::ALL) {
            let run = |weight: &ArrayD<f32>, flip: bool| {
                let (w, b) = (weight.view(), Some(b.view()));
                if flip {
                    float.convolve(x.view(), w, b, &geometry, Some(algorithm))
                } else {
                    float.correlate(x.view(), w, b, &geometry, Some(algorithm))
                }
                .ok()
                .map(|(y, _)| y)
            };
            let Some(y) = run(&w, true) else {
                continue; // a layer this algorithm does not take
            };
            *count += 1;
            assert_eq!(Some(y.clone()), run(&reversed, false), "{algorithm:?}");
            if algorithm.own_bound().is_none() {
                let y = y.mapv(f64::from);
                let judge = |reference: &Reference| {
                    let options = CheckOptions::default();
                    check(reference, y.view(), Precision::Fp32, &options).expect("shapes agree")
                };
                assert!(judge(&convolution).passed(), "{algorithm:?}");
                assert!(
                    !judge(&correlation).passed(),
                    "{algorithm:?}: the flip is missing"
                );
            }
        }
    }
    for (count, algorithm) in runs.iter().zip(Algorithm::ALL) {
        assert!(*count > 0, "{algorithm:?} took neither layer");
    }
}

/// The laws' one harness on every algorithm of the table, each result judged by the oracle
/// ([`Judged`]): general layers (every geometry and padding mode), 3x3 stride-1 layers and
/// stride-2 layers of kernels 5-8 high, each algorithm on the problems it accepts (and on at
/// least a quarter of those of one kind).
#[test]
fn the_layer_laws_hold_for_every_algorithm_judged_by_the_oracle() {
    use crate::laws::harness::forward_laws;
    use crate::laws::strategies::{phased_problem, small_rational, winograd_problem};
    use proptest::test_runner::{TestCaseError, TestRunner};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let cases = 12;
    for algorithm in Algorithm::ALL {
        let judged = Judged::new(algorithm);
        let strategies = [
            layer_problem(3).boxed(),
            winograd_problem().boxed(),
            phased_problem().boxed(),
        ];
        let mut most = 0;
        for problems in strategies {
            let run = AtomicUsize::new(0);
            TestRunner::new(config(cases))
                .run(&(problems, small_rational(), small_rational()), |case| {
                    let p = &case.0;
                    let shape = ConvShape::new(p.x.shape(), p.w.shape(), None, &p.geometry)
                        .expect("a valid layer");
                    let problem = Problem::new(shape, p.geometry.padding_mode, 8);
                    if algorithm.accepts(&problem).is_err() {
                        return Ok(());
                    }
                    run.fetch_add(1, Ordering::Relaxed);
                    forward_laws(&judged, &case).map_err(|c| TestCaseError::fail(c.to_string()))
                })
                .unwrap();
            most = most.max(run.load(Ordering::Relaxed));
        }
        assert!(
            most * 4 >= cases as usize,
            "{algorithm}: {most} problems accepted"
        );
    }
}

/// The negative control of the harness: a kernel that drops the last input channel's last
/// tap (an off-by-one in the reduction) is illegal for the oracle, so the same laws fail on it.
#[test]
fn the_harness_rejects_a_wrong_kernel() {
    use crate::laws::harness::forward_laws;
    use crate::laws::strategies::small_rational;
    use proptest::test_runner::{TestCaseError, TestRunner};
    struct ShortSum;
    impl Kernel for ShortSum {
        fn name(&self) -> &'static str {
            "short-sum"
        }
        fn accepts(&self, _: &Problem) -> Result<(), Refusal> {
            Ok(())
        }
        fn correlate_f32(&self, layer: &Layer<'_, f32>) -> Vec<f32> {
            direct::correlate(&without_last_tap(layer))
        }
        fn correlate_f64(&self, layer: &Layer<'_, f64>) -> Vec<f64> {
            direct::correlate(&without_last_tap(layer))
        }
    }
    fn without_last_tap<'a, T: FloatScalar>(layer: &Layer<'a, T>) -> Layer<'a, T> {
        let mut wrong = layer.clone();
        if let Some(last) = wrong.weight.to_mut().last_mut() {
            *last = T::zero();
        }
        wrong
    }
    let judged = Judged::new(Algorithm(&ShortSum));
    let result = TestRunner::new(config(32)).run(
        &(layer_problem(2), small_rational(), small_rational()),
        |case| forward_laws(&judged, &case).map_err(|c| TestCaseError::fail(c.to_string())),
    );
    let message = format!("{:?}", result.expect_err("the wrong kernel must fail"));
    assert!(message.contains("illegal"), "{message}");
}

/// im2col's two products (the packed micro-kernel where the processor has it, the `gemm`
/// crate) meet the contract on layers with partial panels of output channels, column blocks
/// with masked tails, groups and 1x1 layers read in place, in f32 and f64; a prepared layer
/// computes bit for bit what `correlate` computes, at 1 and 2 threads, for the planned and for
/// each named algorithm; and a weight packed with one term changed fails the same check.
#[test]
fn packed_products_and_prepared_layers_meet_the_contract() {
    use super::im2col::{correlate_with, Product};
    let cases = [
        (
            vec![1, 5, 11, 13],
            vec![13, 5, 3, 3],
            ConvGeometry::new(2).with_padding(Padding::Same),
        ),
        (
            vec![2, 6, 9, 57],
            vec![10, 3, 1, 3],
            ConvGeometry::new(2).with_groups(2).with_stride(vec![1, 2]),
        ),
        (vec![1, 7, 5, 21], vec![17, 7, 1, 1], ConvGeometry::new(2)),
        // Output rows of at least two blocks of the kernel's columns (101 and 2 x 48 in f32),
        // computed in place a row at a time, the work items' columns starting inside rows.
        (
            vec![1, 3, 11, 203],
            vec![10, 3, 3, 5],
            ConvGeometry::new(2)
                .with_stride(vec![1, 2])
                .with_padding(Padding::Explicit(vec![(1, 0), (2, 1)])),
        ),
        // 3x3 with groups and asymmetric padding: Winograd's tiles in runs that start and
        // end inside tile rows, odd output sizes (partial tiles), weights transformed once.
        (
            vec![2, 8, 37, 23],
            vec![6, 4, 3, 3],
            ConvGeometry::new(2)
                .with_groups(2)
                .with_padding(Padding::Explicit(vec![(1, 2), (2, 0)])),
        ),
        (
            vec![1, 16, 150],
            vec![9, 16, 1],
            ConvGeometry::new(1).with_stride(vec![3]),
        ),
        // Padding wider than the kernel (rows of O_last positions share no padding).
        (
            vec![1, 3, 4, 5],
            vec![9, 3, 2, 2],
            ConvGeometry::new(2).with_padding(Padding::Explicit(vec![(3, 1), (3, 3)])),
        ),
        // A stem-like layer: 7x7, stride 2 along both dimensions (phases of the first
        // dimension in their own regions of the phased input), three channels.
        (
            vec![1, 3, 23, 20],
            vec![16, 3, 7, 7],
            ConvGeometry::new(2)
                .with_stride(vec![2, 2])
                .with_padding(Padding::uniform(3, 2)),
        ),
        // Implicit GEMM over many panels, columns and work items, dilated, grouped, with
        // asymmetric padding.
        (
            vec![2, 12, 30, 31],
            vec![40, 6, 3, 2],
            ConvGeometry::new(2)
                .with_groups(2)
                .with_dilation(vec![2, 1])
                .with_padding(Padding::Explicit(vec![(1, 2), (0, 1)])),
        ),
    ];
    for (x_shape, w_shape, geometry) in cases {
        let x = values(&x_shape, 21, false);
        let w = values(&w_shape, 22, false);
        let b = values(&[w_shape[0]], 23, false);
        for narrow in [true, false] {
            let cast = |t: &ArrayD<f64>| {
                if narrow {
                    t.mapv(|v| f64::from(v as f32))
                } else {
                    t.clone()
                }
            };
            let (x, w, b) = (cast(&x), cast(&w), cast(&b));
            let layer = Layer::prepare(x.view(), w.view(), Some(b.view()), &geometry).unwrap();
            let shape = layer.output_shape.clone();
            let by_crate = correlate_with(&layer, Product::GemmCrate);
            let by_crate = ArrayD::from_shape_vec(IxDyn(&shape), by_crate).unwrap();
            let report = judge_by(Algorithm::IM2COL, &x, &w, &b, &geometry, &by_crate);
            assert!(report.passed(), "gemm crate {geometry:?}");
            micro_kernels_meet_the_contract::<f64>(&x, &w, &b, &geometry);
            if narrow {
                micro_kernels_meet_the_contract::<f32>(&x, &w, &b, &geometry);
            }
            // Prepared layers against correlate, in f32 (narrow) or f64.
            let mut algorithms = vec![None];
            algorithms.extend(
                accepting(&x_shape, &w_shape, &geometry)
                    .into_iter()
                    .map(Some),
            );
            let mut outputs = Vec::new();
            for threads in [1, 2] {
                let engine = FloatEngine::new(threads);
                for &algorithm in &algorithms {
                    outputs.push(if narrow {
                        prepared_matches_correlate::<f32>(&engine, &x, &w, &b, &geometry, algorithm)
                    } else {
                        prepared_matches_correlate::<f64>(&engine, &x, &w, &b, &geometry, algorithm)
                    });
                }
            }
            // Each algorithm's output does not depend on the thread count.
            let (one, two) = outputs.split_at(outputs.len() / 2);
            assert_eq!(one, two, "1 and 2 threads {geometry:?}");
        }
    }
    // Refusals at preparation: a weight of the wrong rank, groups not dividing C_out, a bias
    // of the wrong length.
    let engine = FloatEngine::new(1);
    let w = ArrayD::<f32>::zeros(IxDyn(&[6, 2, 3, 3]));
    let two_d = ConvGeometry::new(2);
    assert!(engine
        .prepare(w.view(), None, &ConvGeometry::new(1), None)
        .is_err());
    assert!(engine
        .prepare(w.view(), None, &two_d.clone().with_groups(4), None)
        .is_err());
    let b = ArrayD::<f32>::zeros(IxDyn(&[5]));
    assert!(engine
        .prepare(w.view(), Some(b.view()), &two_d, None)
        .is_err());
    assert!(engine.prepare(w.view(), None, &two_d, None).is_ok());
}

/// Every micro-kernel this processor runs ([`MicroKernel::available`]) on one layer in `T`
/// (`x`, `w`, `b` representable in it), by im2col over the packed weight and by implicit GEMM
/// where it applies: each output passes the check, the vector kernels (AVX2 and AVX-512: the
/// same sums in the same order with fused multiply-adds) agree bit for bit, and a weight packed
/// with its last term changed by 2^-10 fails the same check.
fn micro_kernels_meet_the_contract<T: FloatScalar>(
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    b: &ArrayD<f64>,
    geometry: &ConvGeometry,
) {
    use super::im2col::{correlate_with, Product};
    use super::packed::{MicroKernel, PackedWeights};
    let cast = |t: &ArrayD<f64>| t.mapv(|v| <T as FloatScalar>::from_f64(v));
    let (xt, wt, bt) = (cast(x), cast(w), cast(b));
    let layer = Layer::prepare(xt.view(), wt.view(), Some(bt.view()), geometry).unwrap();
    let shape = layer.output_shape.clone();
    let output = |values: Vec<T>| ArrayD::from_shape_vec(IxDyn(&shape), values).unwrap();
    let depth = layer.depth();
    let packed = PackedWeights::new(&layer.weight, &layer.bias, geometry.groups, depth);
    let mut changed = layer.weight.to_vec();
    let last = changed.len() - 1;
    changed[last] = FloatScalar::from_f64(FloatScalar::to_f64(changed[last]) + 1.0 / 1024.0);
    let wrong = PackedWeights::new(&changed, &layer.bias, geometry.groups, depth);
    let implicit = Algorithm::IMPLICIT.accepts(&layer.problem()).is_ok();
    let mut vector_outputs = Vec::new();
    for kernel in MicroKernel::<T>::available() {
        let name = format!(
            "{:?} kernel in {:?}, {geometry:?}",
            kernel.isa,
            T::PRECISION
        );
        let mut outputs = vec![(
            Algorithm::IM2COL,
            output(correlate_with(&layer, Product::Packed(kernel, &packed))),
        )];
        if implicit {
            let y = super::implicit::correlate_with(&layer, kernel);
            outputs.push((Algorithm::IMPLICIT, output(y)));
        }
        for (algorithm, y) in &outputs {
            let report = judge_by(*algorithm, x, w, b, geometry, y);
            assert!(report.passed(), "{name} {algorithm:?}\n{}", report.render());
        }
        let wrong = output(correlate_with(&layer, Product::Packed(kernel, &wrong)));
        let report = judge_by(Algorithm::IM2COL, x, w, b, geometry, &wrong);
        assert!(!report.passed(), "a changed weight passed, {name}");
        if kernel.isa.is_some() {
            vector_outputs.push((name, outputs));
        }
    }
    for pair in vector_outputs.windows(2) {
        assert!(
            pair[0].1 == pair[1].1,
            "{} and {} differ",
            pair[0].0,
            pair[1].0
        );
    }
}

/// The layer in `T` (`x`, `w`, `b` representable in it) by a prepared layer and by
/// `FloatEngine::correlate` with `algorithm`: asserted equal bit for bit, returned in f64.
fn prepared_matches_correlate<T: FloatScalar>(
    engine: &FloatEngine,
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    b: &ArrayD<f64>,
    geometry: &ConvGeometry,
    algorithm: Option<Algorithm>,
) -> ArrayD<f64> {
    let cast = |t: &ArrayD<f64>| t.mapv(|v| <T as FloatScalar>::from_f64(v));
    let (x, w, b) = (cast(x), cast(w), cast(b));
    let prepared = engine
        .prepare(w.view(), Some(b.view()), geometry, algorithm)
        .unwrap();
    let direct = engine.correlate(x.view(), w.view(), Some(b.view()), geometry, algorithm);
    let direct = direct.unwrap();
    assert_eq!(prepared.run(x.view()).unwrap(), direct, "{algorithm:?}");
    direct.0.mapv(FloatScalar::to_f64)
}

/// A layer without input channels (C_in = 0: no reduction terms) gives each output its
/// channel's bias, by every algorithm that accepts it, by im2col's `gemm`-crate product and by
/// every micro-kernel (hand-derived: the empty sum is 0).
#[test]
fn a_layer_without_input_channels_gives_the_bias() {
    use super::im2col::{correlate_with, Product};
    use super::packed::{MicroKernel, PackedWeights};
    let (x_shape, w_shape) = ([2, 0, 4, 5], [3, 0, 3, 3]);
    let x = ArrayD::<f64>::zeros(IxDyn(&x_shape));
    let w = ArrayD::<f64>::zeros(IxDyn(&w_shape));
    let b = ndarray::arr1(&[1.5, -2.0, 3.25]).into_dyn();
    let geometry = ConvGeometry::new(2).with_padding(Padding::uniform(1, 2));
    let expected = |y: &[f64]| {
        assert_eq!(y.len(), 2 * 3 * 20);
        y.chunks(20)
            .enumerate()
            .all(|(row, values)| values.iter().all(|&v| v == b[row % 3]))
    };
    let layer = Layer::prepare(x.view(), w.view(), Some(b.view()), &geometry).unwrap();
    assert!(
        expected(&correlate_with(&layer, Product::GemmCrate)),
        "gemm crate"
    );
    let packed = PackedWeights::new(&layer.weight, &layer.bias, 1, layer.depth());
    for kernel in MicroKernel::<f64>::available() {
        let by_im2col = correlate_with(&layer, Product::Packed(kernel, &packed));
        assert!(expected(&by_im2col), "im2col, {:?}", kernel.isa);
        let by_implicit = super::implicit::correlate_with(&layer, kernel);
        assert!(expected(&by_implicit), "implicit, {:?}", kernel.isa);
    }
    let engine = FloatEngine::new(2);
    for algorithm in accepting(&x_shape, &w_shape, &geometry) {
        let (y, _) = engine
            .correlate(
                x.view(),
                w.view(),
                Some(b.view()),
                &geometry,
                Some(algorithm),
            )
            .unwrap();
        assert!(expected(y.as_slice().unwrap()), "{algorithm:?}");
    }
}

/// The planner gives wide 3x3 layers to Winograd (hand-derived from [`winograd_pays`]'s rule:
/// 3x3, stride 1, dilation 1, zero padding, 2-D, outputs of at least 8 x 8, c channels per
/// group each way and T tiles of F(4x4): F(4x4) for c >= 64 and T >= 49 or c >= 256 and
/// T >= 16, F(2x2) for other c >= 128), and every
/// other layer to [`plan_direct`]; the planned output of such a layer, prepared or not, the
/// same at 1 and 2 threads, meets that variant's bound, and one element moved by 2^-6 of
/// itself (at least 2^-6) fails it.
#[test]
fn the_planner_gives_wide_3x3_layers_to_winograd() {
    let problem = |x: &[usize], w: &[usize], geometry: &ConvGeometry| {
        let shape = ConvShape::new(x, w, None, geometry).expect("a valid layer");
        Problem::new(shape, geometry.padding_mode, 4)
    };
    let same = ConvGeometry::new(2).with_padding(Padding::uniform(1, 2));
    let planned =
        |x: &[usize], w: &[usize], geometry: &ConvGeometry| plan(&problem(x, w, geometry));
    assert_eq!(
        planned(&[1, 64, 56, 56], &[64, 64, 3, 3], &same),
        Algorithm::WINOGRAD4
    );
    assert_eq!(
        planned(&[1, 128, 28, 28], &[128, 128, 3, 3], &same),
        Algorithm::WINOGRAD4
    );
    // 14 x 14 outputs: 4 x 4 tiles of F(4x4), 16 in all (32 with two images).
    assert_eq!(
        planned(&[1, 256, 14, 14], &[256, 256, 3, 3], &same),
        Algorithm::WINOGRAD4
    );
    assert_eq!(
        planned(&[1, 128, 14, 14], &[128, 128, 3, 3], &same),
        Algorithm::WINOGRAD
    );
    assert_eq!(
        planned(&[4, 128, 14, 14], &[128, 128, 3, 3], &same),
        Algorithm::WINOGRAD4
    );
    assert_eq!(
        planned(&[1, 512, 8, 8], &[512, 512, 3, 3], &same),
        Algorithm::WINOGRAD
    );
    assert_eq!(
        planned(&[1, 64, 28, 28], &[64, 64, 3, 3], &same),
        Algorithm::WINOGRAD4
    );
    let others = [
        (vec![1, 64, 14, 14], vec![64, 64, 3, 3], same.clone()),
        (vec![1, 256, 28, 28], vec![32, 256, 3, 3], same.clone()),
        (vec![1, 15, 20, 20], vec![16, 15, 3, 3], same.clone()),
        (vec![1, 16, 20, 20], vec![15, 16, 3, 3], same.clone()),
        (
            vec![1, 64, 20, 20],
            vec![64, 8, 3, 3],
            same.clone().with_groups(8),
        ),
        (
            vec![1, 16, 20, 20],
            vec![16, 16, 3, 3],
            same.clone().with_stride(vec![2, 1]),
        ),
        (
            vec![1, 16, 20, 20],
            vec![16, 16, 3, 3],
            same.clone().with_dilation(vec![1, 2]),
        ),
        (vec![1, 16, 7, 20], vec![16, 16, 3, 3], same.clone()),
        (vec![1, 16, 20, 20], vec![16, 16, 5, 5], same.clone()),
        (
            vec![1, 16, 20, 20],
            vec![16, 16, 3, 3],
            same.clone().with_padding_mode(PaddingMode::Reflect),
        ),
        (
            vec![1, 16, 20],
            vec![16, 16, 3],
            ConvGeometry::new(1).with_padding(Padding::uniform(1, 1)),
        ),
    ];
    for (x, w, geometry) in &others {
        let p = problem(x, w, geometry);
        assert_eq!(winograd_pays(&p), None, "{x:?} {w:?} {geometry:?}");
        assert_eq!(plan(&p), plan_direct(&p), "{x:?} {w:?} {geometry:?}");
    }
    // The smallest layer the rule gives a variant (F(4x4)'s planned layers, at least 64
    // channels over 49 tiles, cost this test, unoptimised, a minute; its output is tested
    // with the variant named elsewhere).
    for (x_shape, expected) in [([1, 128, 8, 9], Algorithm::WINOGRAD)] {
        let channels = x_shape[1];
        let w_shape = [channels, channels, 3, 3];
        let narrow = |t: ArrayD<f64>| t.mapv(|v| f64::from(v as f32));
        let x = narrow(values(&x_shape, 31, true));
        let w = narrow(values(&w_shape, 32, true));
        let b = narrow(values(&[channels], 33, true));
        let mut outputs = Vec::new();
        for threads in [1, 2] {
            let engine = FloatEngine::new(threads);
            let y = prepared_matches_correlate::<f32>(&engine, &x, &w, &b, &same, None);
            let cast = |t: &ArrayD<f64>| t.mapv(|v| v as f32);
            let (_, used) = engine
                .correlate(
                    cast(&x).view(),
                    cast(&w).view(),
                    Some(cast(&b).view()),
                    &same,
                    None,
                )
                .unwrap();
            assert_eq!(used, expected, "{x_shape:?}");
            outputs.push(y.mapv(|v| v as f32));
        }
        assert_eq!(outputs[0], outputs[1], "1 and 2 threads, {x_shape:?}");
        let report = judge_by(expected, &x, &w, &b, &same, &outputs[0]);
        assert!(report.passed(), "{x_shape:?}\n{}", report.render());
        let mut moved = outputs[0].clone();
        let first = moved.iter_mut().next().expect("an output");
        *first += first.abs().max(1.0) * (1.0 / 64.0);
        let report = judge_by(expected, &x, &w, &b, &same, &moved);
        assert!(!report.passed(), "a moved element passed, {x_shape:?}");
    }
}

/// Winograd on a stride-2 layer's phases on layers of kernels 5x5 to 8x8 and 7x3 (F(4, 3) and
/// F(3, 4), padding uneven, groups, batch 2): its bound holds at every element, one and two
/// threads agree bit for bit, and the layer computed with its padding shifted by a row fails
/// the bound (the negative control).
#[test]
fn phased_winograd_meets_its_bound() {
    for ((k_h, k_w), pad, size) in [
        ((7usize, 7usize), 3usize, 20usize),
        ((8, 8), 2, 17),
        ((5, 5), 1, 13),
        ((6, 6), 0, 16),
        ((7, 7), 2, 9),
        ((7, 3), 1, 12),
    ] {
        // Padding `top` rows above and the rest of 2 pad + 1 below.
        let geometry = |top: usize| {
            ConvGeometry::new(2)
                .with_stride(vec![2, 2])
                .with_groups(2)
                .with_padding(Padding::Explicit(vec![
                    (top, 2 * pad + 1 - top),
                    (pad, pad),
                ]))
        };
        let (x_shape, w_shape) = (vec![2, 4, size, size + 3], vec![4, 2, k_h, k_w]);
        let x = values(&x_shape, 61, true);
        let w = values(&w_shape, 62, true);
        let b = values(&[4], 63, true);
        let algorithm = Algorithm::WINOGRAD_S2;
        let at = |threads: usize, top: usize| {
            let engine = FloatEngine::new(threads);
            run(&engine, &x, &w, &b, &geometry(top), algorithm, |v| v as f32)
        };
        let one = at(1, pad);
        assert_eq!(one, at(2, pad), "{k_h}x{k_w}: thread counts differ");
        let report = judge_by(algorithm, &x, &w, &b, &geometry(pad), &one);
        assert!(report.passed(), "{k_h}x{k_w}\n{}", report.render());
        let wrong = at(1, pad + 1);
        assert!(
            !judge_by(algorithm, &x, &w, &b, &geometry(pad), &wrong).passed(),
            "{k_h}x{k_w}: a shifted padding passed"
        );
    }
}
