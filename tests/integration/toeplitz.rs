//! Toeplitz builders: property tests against the reference engine (with negative controls),
//! SciPy's `convolution_matrix` and `toeplitz` on fixtures made with the real library, and the
//! seed's matrices.

use crate::common;

use common::{fixture, ints};
use convspec::geometry::{ConvGeometry, Padding, PaddingMode, TransposeGeometry, TransposePadding};
use convspec::reference::numpy::Mode;
use convspec::reference::scipy::{signal_convolve, signal_correlate};
use convspec::reference::{conv_transpose, convolve, correlate, OpError};
use convspec::scalar::{rational_from_i64, Rational};
use convspec::seed::{seed_2d_matrix, seed_2d_rows_matching, SEED_2D_MATRIX};
use convspec::symbolic::Polynomial;
use convspec::toeplitz::{
    apply, array_mode_padding, conv_transpose_matrix, convolution_matrix, convolve_matrix,
    correlate_matrix, toeplitz, verify, MatrixLimit,
};
use nalgebra::DMatrix;
use ndarray::{ArrayD, Axis, IxDyn};
use num_traits::Zero;
use proptest::prelude::*;

/// A random correlation layer: shapes, geometry, and integer data.
#[derive(Debug, Clone)]
struct Layer {
    sample: Vec<usize>,
    weight_shape: Vec<usize>,
    geometry: ConvGeometry,
    x: Vec<i64>,
    w: Vec<i64>,
}

impl Layer {
    fn weight(&self) -> ArrayD<Rational> {
        ints(&self.weight_shape, &self.w)
    }
    fn input(&self) -> ArrayD<Rational> {
        ints(&self.sample, &self.x)
    }
}

/// Per dimension: (L, k, s, d, p_b, p_e).
fn dims(
    rank: usize,
    max_len: usize,
) -> impl Strategy<Value = Vec<(usize, usize, usize, usize, usize, usize)>> {
    prop::collection::vec(
        (
            1..=max_len,
            1usize..=3,
            1usize..=3,
            1usize..=2,
            0usize..=2,
            0usize..=2,
        ),
        rank,
    )
}

fn layers(max_rank: usize) -> impl Strategy<Value = Layer> {
    (1..=max_rank)
        .prop_flat_map(|rank| {
            (
                dims(rank, if rank == 3 { 3 } else { 5 }),
                1usize..=2,
                1usize..=2,
                1usize..=2,
                prop::sample::select(vec![
                    PaddingMode::Zeros,
                    PaddingMode::Reflect,
                    PaddingMode::Replicate,
                    PaddingMode::Circular,
                ]),
            )
        })
        .prop_flat_map(|(dims, groups, in_per_group, out_per_group, mode)| {
            let sample: Vec<usize> = std::iter::once(groups * in_per_group)
                .chain(dims.iter().map(|d| d.0))
                .collect();
            let weight_shape: Vec<usize> = [groups * out_per_group, in_per_group]
                .into_iter()
                .chain(dims.iter().map(|d| d.1))
                .collect();
            let geometry = ConvGeometry::new(dims.len())
                .with_stride(dims.iter().map(|d| d.2).collect())
                .with_dilation(dims.iter().map(|d| d.3).collect())
                .with_padding(Padding::Explicit(dims.iter().map(|d| (d.4, d.5)).collect()))
                .with_padding_mode(mode)
                .with_groups(groups);
            let (nx, nw): (usize, usize) = (sample.iter().product(), weight_shape.iter().product());
            (
                Just(sample),
                Just(weight_shape),
                Just(geometry),
                prop::collection::vec(-9i64..=9, nx),
                prop::collection::vec(-9i64..=9, nw),
            )
        })
        .prop_map(|(sample, weight_shape, geometry, x, w)| Layer {
            sample,
            weight_shape,
            geometry,
            x,
            w,
        })
}

fn batch(x: &ArrayD<Rational>) -> ArrayD<Rational> {
    x.clone().insert_axis(Axis(0))
}

fn vec_of(y: ArrayD<Rational>) -> Vec<Rational> {
    y.iter().cloned().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A vec(x) = vec(correlate(x)) and vec(convolve(x)), exactly; the builder refuses exactly
    /// the geometries that the engine refuses.
    #[test]
    fn layer_matrices_reproduce_the_engine(layer in layers(3)) {
        let (w, x) = (layer.weight(), layer.input());
        let engine = correlate(&batch(&x), &w, None, &layer.geometry);
        let built = correlate_matrix(&w, &layer.sample, &layer.geometry, MatrixLimit::DEFAULT);
        match (engine, built) {
            (Ok(y), Ok(a)) => {
                prop_assert_eq!(apply(&a, &vec_of(x.clone())).unwrap(), vec_of(y));
                let y = convolve(&batch(&x), &w, None, &layer.geometry).unwrap();
                let a = convolve_matrix(&w, &layer.sample, &layer.geometry, MatrixLimit::DEFAULT).unwrap();
                prop_assert_eq!(apply(&a, &vec_of(x)).unwrap(), vec_of(y));
            }
            (Err(_), Err(_)) => {}
            (engine, built) => prop_assert!(false, "engine {:?} but builder {:?}", engine.map(|_| ()), built.map(|_| ())),
        }
    }

    /// The structural matrix equals the matrix found by probing the engine with unit vectors.
    #[test]
    fn structural_matrix_equals_probing(layer in layers(2)) {
        let w = layer.weight();
        if let Ok(a) = correlate_matrix(&w, &layer.sample, &layer.geometry, MatrixLimit::DEFAULT) {
            let op = |x: &ArrayD<Rational>| correlate(x, &w, None, &layer.geometry);
            prop_assert_eq!(verify(&a, &layer.sample, op).unwrap(), Ok(()));
        }
    }

    /// The transposed-convolution matrix is the transpose of the correlation matrix (zero
    /// padding; output_padding = the leftover of the correlation so that sizes match), and
    /// it reproduces conv_transpose.
    #[test]
    fn transposed_convolution_matrix_is_the_transpose(layer in layers(3)) {
        let geometry = layer.geometry.clone().with_padding_mode(PaddingMode::Zeros);
        let w = layer.weight();
        let Ok(a) = correlate_matrix(&w, &layer.sample, &geometry, MatrixLimit::DEFAULT) else {
            return Ok(());
        };
        let Padding::Explicit(pads) = &geometry.padding else { unreachable!() };
        let output_padding = convspec::laws::adjoint::leftover(
            &geometry,
            &layer.sample[1..],
            &layer.weight_shape[2..],
        )
        .unwrap();
        let transpose = TransposeGeometry::new(geometry.rank())
            .with_stride(geometry.stride.clone())
            .with_dilation(geometry.dilation.clone())
            .with_padding(TransposePadding::Explicit(pads.clone()))
            .with_output_padding(output_padding)
            .with_groups(geometry.groups);
        let y_shape: Vec<usize> = {
            let mut s = vec![1usize];
            s.extend_from_slice(&layer.sample);
            convspec::geometry::ConvShape::new(&s, w.shape(), None, &geometry).unwrap().output_shape().unwrap()[1..].to_vec()
        };
        let t = conv_transpose_matrix(&w, &y_shape, &transpose, MatrixLimit::DEFAULT).unwrap();
        prop_assert_eq!(&t, &a.transpose());
        let op = |y: &ArrayD<Rational>| conv_transpose(y, &w, None, &transpose);
        prop_assert_eq!(verify(&t, &y_shape, op).unwrap(), Ok(()));
    }
}

/// Negative controls: the same check (verify against probing) rejects matrices with the classic
/// mistakes.
#[test]
fn verify_rejects_wrong_matrices() {
    // An asymmetric 2-D kernel, 2 groups, padding 1: every mistake changes some entry.
    let w = ints(&[2, 1, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let sample = [2, 3, 4];
    let geometry = ConvGeometry::new(2)
        .with_padding(Padding::Explicit(vec![(1, 0), (1, 1)]))
        .with_groups(2);
    let op = |x: &ArrayD<Rational>| correlate(x, &w, None, &geometry);
    let right = correlate_matrix(&w, &sample, &geometry, MatrixLimit::DEFAULT).unwrap();
    assert_eq!(verify(&right, &sample, op).unwrap(), Ok(()));
    // Missing flip: the convolution matrix claimed for correlation.
    let flipped = convolve_matrix(&w, &sample, &geometry, MatrixLimit::DEFAULT).unwrap();
    assert!(verify(&flipped, &sample, op).unwrap().is_err());
    // Off-by-one padding: the columns shifted by one (same shape, padding (2, -1) emulated by
    // (1, 0) on a shifted input): build with begin padding 0 and end padding 1 instead.
    let shifted = ConvGeometry::new(2)
        .with_padding(Padding::Explicit(vec![(0, 1), (1, 1)]))
        .with_groups(2);
    let off_by_one = correlate_matrix(&w, &sample, &shifted, MatrixLimit::DEFAULT).unwrap();
    assert!(verify(&off_by_one, &sample, op).unwrap().is_err());
    // Wrong group mapping: output channel 0 reading input channel 1 (swap the column blocks).
    let mut swapped = right.clone();
    let half = right.ncols() / 2;
    for c in 0..half {
        swapped.swap_columns(c, c + half);
    }
    let mismatch = verify(&swapped, &sample, op).unwrap().unwrap_err();
    assert!(mismatch.built != mismatch.probed);
    // Shape mismatch is an error, not a pass.
    let w1 = ints(&[2, 1, 1, 1], &[1, 1]);
    let op1 = |x: &ArrayD<Rational>| correlate(x, &w1, None, &geometry);
    assert!(verify(&right, &sample, op1).is_err());
}

/// SciPy's 'same' is ONNX SAME_LOWER at stride 1 (the extra padding element at the beginning):
/// the matrix with `array_mode_padding` reproduces scipy.signal's modes, even kernels included.
#[test]
fn array_modes_follow_scipy_signal() {
    let x = ints(
        &[4, 5],
        &(0..20).map(|v| (v * 7) % 11 - 5).collect::<Vec<_>>(),
    );
    for (kh, kw) in [(2, 2), (3, 2), (2, 4), (3, 3)] {
        let k = ints(
            &[kh, kw],
            &(0..(kh * kw) as i64).map(|v| v * 3 - 4).collect::<Vec<_>>(),
        );
        let weight = k.clone().insert_axis(Axis(0)).insert_axis(Axis(0));
        for mode in [Mode::Full, Mode::Same, Mode::Valid] {
            let g = ConvGeometry::new(2).with_padding(array_mode_padding(mode));
            for flip in [false, true] {
                let (a, expected) = if flip {
                    (
                        convolve_matrix(&weight, &[1, 4, 5], &g, MatrixLimit::DEFAULT).unwrap(),
                        signal_convolve(&x, &k, mode).unwrap(),
                    )
                } else {
                    (
                        correlate_matrix(&weight, &[1, 4, 5], &g, MatrixLimit::DEFAULT).unwrap(),
                        signal_correlate(&x, &k, mode).unwrap(),
                    )
                };
                assert_eq!(
                    apply(&a, &vec_of(x.clone())).unwrap(),
                    vec_of(expected),
                    "kernel {kh}x{kw} {mode} flip={flip}"
                );
            }
        }
    }
}

fn matrix_from(value: &serde_json::Value) -> DMatrix<Rational> {
    let t = common::tensor(value);
    let (rows, cols) = (t.shape()[0], t.shape()[1]);
    DMatrix::from_fn(rows, cols, |r, c| t[[r, c]].clone())
}

fn numbers(value: &serde_json::Value) -> Vec<Rational> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| rational_from_i64(v.as_i64().unwrap()))
        .collect()
}

#[test]
fn convolution_matrix_matches_scipy() {
    let f = fixture("scipy_toeplitz.json");
    let cases = f["convolution_matrix"].as_array().unwrap();
    assert_eq!(cases.len(), 144);
    for case in cases {
        let a = numbers(&case["a"]);
        let n = case["n"].as_u64().unwrap() as usize;
        let mode: Mode = case["mode"].as_str().unwrap().parse().unwrap();
        let built = convolution_matrix(&a, n, mode, MatrixLimit::DEFAULT).unwrap();
        assert_eq!(
            built,
            matrix_from(&case["matrix"]),
            "a={:?} n={n} {mode}",
            case["a"]
        );
    }
}

#[test]
fn toeplitz_matches_scipy() {
    let f = fixture("scipy_toeplitz.json");
    let cases = f["toeplitz"].as_array().unwrap();
    assert_eq!(cases.len(), 30);
    for case in cases {
        let c = numbers(&case["c"]);
        let r = (!case["r"].is_null()).then(|| numbers(&case["r"]));
        let built = toeplitz(&c, r.as_deref());
        assert_eq!(
            built,
            matrix_from(&case["matrix"]),
            "c={:?} r={:?}",
            case["c"],
            case["r"]
        );
    }
}

/// The 1-D layer matrix with one channel, stride 1 and mode M is SciPy's
/// convolution_matrix(a, n, M) whenever n >= len(a) (NumPy swaps otherwise).
#[test]
fn layer_matrix_is_scipy_convolution_matrix_in_one_dimension() {
    let f = fixture("scipy_toeplitz.json");
    let mut compared = 0;
    for case in f["convolution_matrix"].as_array().unwrap() {
        let a = numbers(&case["a"]);
        let n = case["n"].as_u64().unwrap() as usize;
        if n < a.len() {
            continue;
        }
        let mode: Mode = case["mode"].as_str().unwrap().parse().unwrap();
        let weight = ArrayD::from_shape_vec(IxDyn(&[1, 1, a.len()]), a.clone()).unwrap();
        let g = ConvGeometry::new(1).with_padding(array_mode_padding(mode));
        let built = convolve_matrix(&weight, &[1, n], &g, MatrixLimit::DEFAULT).unwrap();
        assert_eq!(
            built,
            matrix_from(&case["matrix"]),
            "a={:?} n={n} {mode}",
            case["a"]
        );
        compared += 1;
    }
    assert!(compared > 60, "{compared}");
}

fn k(i: usize, j: usize) -> Polynomial {
    Polynomial::variable("k", &[i, j])
}

/// The seed's 2-D example, derived by hand: (x * k)[s, t] = sum x[s - a, t - b] k[a, b]
/// (0-based), so row (s, t) of the full matrix holds k_{s-i+1, t-j+1} (1-based) in column
/// (i, j) when 0 <= s - i <= 1 and 0 <= t - j <= 1.
#[test]
fn seed_two_dimensional_example_full_and_valid() {
    let full = seed_2d_matrix(Mode::Full, false);
    assert_eq!((full.nrows(), full.ncols()), (16, 9));
    for s in 0..4 {
        for t in 0..4 {
            for i in 0..3 {
                for j in 0..3 {
                    let expected = if s >= i && s - i <= 1 && t >= j && t - j <= 1 {
                        k(s - i + 1, t - j + 1)
                    } else {
                        Polynomial::zero()
                    };
                    assert_eq!(
                        full[(s * 4 + t, i * 3 + j)],
                        expected,
                        "({s},{t}),({i},{j})"
                    );
                }
            }
        }
    }
    // Valid mode: the 4 positions where the kernel fits, written out by hand:
    // y11 = k22 x11 + k21 x12 + k12 x21 + k11 x22, and so on.
    let valid = seed_2d_matrix(Mode::Valid, false);
    let z = Polynomial::zero;
    let expected = DMatrix::from_row_slice(
        4,
        9,
        &[
            k(2, 2),
            k(2, 1),
            z(),
            k(1, 2),
            k(1, 1),
            z(),
            z(),
            z(),
            z(),
            z(),
            k(2, 2),
            k(2, 1),
            z(),
            k(1, 2),
            k(1, 1),
            z(),
            z(),
            z(),
            z(),
            z(),
            z(),
            k(2, 2),
            k(2, 1),
            z(),
            k(1, 2),
            k(1, 1),
            z(),
            z(),
            z(),
            z(),
            z(),
            k(2, 2),
            k(2, 1),
            z(),
            k(1, 2),
            k(1, 1),
        ],
    );
    assert_eq!(valid, expected);
}

/// The seed's 2-D matrix is wrong: 8 x 16 (not 16 x 9), it multiplies an 8-vector without
/// x_{33}, its rows are those of the cross-correlation (not of the convolution it writes), and
/// its 4th row has k_{21} one column too far right.
#[test]
fn seed_two_dimensional_matrix_is_wrong() {
    assert_eq!((SEED_2D_MATRIX.len(), SEED_2D_MATRIX[0].len()), (8, 16));
    let conv = seed_2d_matrix(Mode::Full, false);
    let corr = seed_2d_matrix(Mode::Full, true);
    assert_ne!((conv.nrows(), conv.ncols()), (8, 16));
    // No seed row is a row of the convolution matrix anywhere.
    assert!(seed_2d_rows_matching(&conv).is_empty());
    // Rows 1-3 and 5-8 are rows 1-3 and 5-8 of the cross-correlation matrix.
    let corr_matches = seed_2d_rows_matching(&corr);
    assert_eq!(
        corr_matches,
        vec![(0, 0), (1, 1), (2, 2), (4, 4), (5, 5), (6, 6), (7, 7)]
    );
    // Row 4 (y_{14} of the correlation) is k21 x13 by hand; the seed puts k21 under x21.
    assert_eq!(corr[(3, 2)], k(2, 1));
    assert_eq!(SEED_2D_MATRIX[3][3], "k_{21}");
}

/// The seed's 1-D matrices by the builders: the convolution matrix is the seed's (and the
/// hand-derived) 5x3 Toeplitz matrix; the correlation matrix is Toeplitz in the reversed kernel.
#[test]
fn seed_one_dimensional_matrices() {
    let w = ints(&[1, 1, 3], &[1, 1, 2]);
    let g = ConvGeometry::new(1).with_padding(Padding::Full);
    let conv = convolve_matrix(&w, &[1, 3], &g, MatrixLimit::DEFAULT).unwrap();
    let seed: Vec<Rational> = convspec::seed::SEED_CONVOLUTION_MATRIX
        .iter()
        .flatten()
        .map(|&v| rational_from_i64(v))
        .collect();
    assert_eq!(conv, DMatrix::from_row_slice(5, 3, &seed));
    let corr = correlate_matrix(&w, &[1, 3], &g, MatrixLimit::DEFAULT).unwrap();
    // By hand: column j is the reversed kernel [2, 1, 1] shifted down by j.
    let q = |v: &[i64]| v.iter().map(|&x| rational_from_i64(x)).collect::<Vec<_>>();
    assert_eq!(
        corr,
        DMatrix::from_row_slice(5, 3, &q(&[2, 0, 0, 1, 2, 0, 1, 1, 2, 0, 1, 1, 0, 0, 1]))
    );
    let seed_corr: Vec<Rational> = convspec::seed::SEED_CORRELATION_MATRIX
        .iter()
        .flatten()
        .map(|&v| rational_from_i64(v))
        .collect();
    assert_ne!(corr, DMatrix::from_row_slice(5, 3, &seed_corr));
}

/// Average pooling and unfold matrices agree with the engine (probing), including ceil mode,
/// padding and count_include_pad = false.
#[test]
fn window_matrices_reproduce_the_engine() {
    use convspec::geometry::PoolParams;
    use convspec::reference::pool::{avg_pool, AvgOptions};
    use convspec::reference::{unfold, UnfoldParams};
    use convspec::toeplitz::{avg_pool_matrix, unfold_matrix};
    let sample = [2, 5, 4];
    for ceil in [false, true] {
        for include in [false, true] {
            let params = PoolParams::new(vec![3, 2])
                .with_stride(vec![2, 2])
                .with_padding(vec![1, 1])
                .with_ceil_mode(ceil);
            let options = AvgOptions {
                count_include_pad: include,
                divisor_override: None,
            };
            let a: DMatrix<Rational> =
                avg_pool_matrix(&sample, &params, &options, MatrixLimit::DEFAULT).unwrap();
            let op = |x: &ArrayD<Rational>| avg_pool(x, &params, &options);
            assert_eq!(
                verify(&a, &sample, op).unwrap(),
                Ok(()),
                "ceil={ceil} include={include}"
            );
        }
    }
    let mut params = UnfoldParams::new(vec![2, 3]);
    params.padding = vec![1, 0];
    params.stride = vec![2, 1];
    params.dilation = vec![2, 1];
    let a: DMatrix<Rational> = unfold_matrix(&sample, &params, MatrixLimit::DEFAULT).unwrap();
    let op = |x: &ArrayD<Rational>| unfold(x, &params);
    assert_eq!(verify(&a, &sample, op).unwrap(), Ok(()));
}

/// The ResNet-50 conv2 layer (1x64x56x56 -> 64, 3x3, padding 1) as a dense matrix is refused
/// with its size, unless the limit is raised on purpose.
#[test]
fn big_layer_matrix_is_refused() {
    let w: ArrayD<Rational> = ArrayD::from_elem(IxDyn(&[64, 64, 3, 3]), Rational::zero());
    let g = ConvGeometry::new(2).with_padding(Padding::uniform(1, 2));
    let error = correlate_matrix(&w, &[64, 56, 56], &g, MatrixLimit::DEFAULT).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("200704 x 200704"), "{message}");
    assert!(message.contains("--max-entries"), "{message}");
    // Geometry errors still come first and are the engine's own.
    let bad = ConvGeometry::new(2).with_stride(vec![0, 1]);
    assert!(matches!(
        correlate_matrix(&w, &[64, 56, 56], &bad, MatrixLimit::DEFAULT),
        Err(convspec::toeplitz::ToeplitzError::Op(OpError::Geometry(_)))
    ));
}
