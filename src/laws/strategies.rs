//! Proptest strategies for the laws' inputs (feature `proptest-support`), so that other crates
//! can run the laws on their own kernels:
//!
//! ```ignore
//! use convspec::laws::{algebra, strategies};
//! proptest::proptest! {
//!     #[test]
//!     fn my_kernel_is_commutative((x, w) in (strategies::signal_1d(6), strategies::signal_1d(6))) {
//!         algebra::commutativity(&MyKernel, &x, &w).map_err(|c| TestCaseError::fail(c.to_string()))?;
//!     }
//! }
//! ```
//!
//! Values are small exact rationals (integers -4..=4 and halves), zero and negative numbers
//! included; every strategy shrinks toward shorter signals and values toward 0.

use crate::geometry::{ConvGeometry, ConvShape, Padding, PaddingMode, PoolParams};
use crate::scalar::{Integer, Rational};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

/// A property test's configuration with a fixed seed and `cases` cases (CI is deterministic),
/// failures persisted to `regressions` (under proptest-regressions/, to be committed): the one
/// configuration every property test of the crate uses.
pub fn fixed_config(
    cases: u32,
    seed: u64,
    regressions: &'static str,
) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    }
}

/// A small exact value: an integer in -4..=4, or one of them halved.
pub fn small_rational() -> impl Strategy<Value = Rational> {
    prop_oneof![
        3 => (-4i64..=4).prop_map(|n| Rational::from_integer(Integer::from(n))),
        1 => (-4i64..=4).prop_map(|n| Rational::new(Integer::from(n), Integer::from(2))),
    ]
}

/// A tensor of the given shape with small exact values.
pub fn tensor(shape: Vec<usize>) -> impl Strategy<Value = ArrayD<Rational>> {
    let n: usize = shape.iter().product();
    prop::collection::vec(small_rational(), n)
        .prop_map(move |v| ArrayD::from_shape_vec(IxDyn(&shape), v).expect("sized"))
}

/// A one-dimensional signal (1, 1, L) with 1 <= L <= `max_len` (shrinks the length too).
pub fn signal_1d(max_len: usize) -> impl Strategy<Value = ArrayD<Rational>> {
    prop::collection::vec(small_rational(), 1..=max_len).prop_map(|v| {
        let n = v.len();
        ArrayD::from_shape_vec(IxDyn(&[1, 1, n]), v).expect("sized")
    })
}

/// A signal (1, 1, L_1..L_r) of the given rank with sizes 1..=`max_len`.
pub fn signal(rank: usize, max_len: usize) -> impl Strategy<Value = ArrayD<Rational>> {
    prop::collection::vec(1..=max_len, rank).prop_flat_map(|sizes| {
        let mut shape = vec![1, 1];
        shape.extend(sizes);
        tensor(shape)
    })
}

/// Two or three signals of the same rank (1 to `max_rank`).
pub fn signal_pair(
    max_rank: usize,
    max_len: usize,
) -> impl Strategy<Value = (ArrayD<Rational>, ArrayD<Rational>)> {
    (1..=max_rank).prop_flat_map(move |r| (signal(r, max_len), signal(r, max_len)))
}

/// Three signals of the same rank.
pub fn signal_triple(
    max_rank: usize,
    max_len: usize,
) -> impl Strategy<Value = (ArrayD<Rational>, ArrayD<Rational>, ArrayD<Rational>)> {
    (1..=max_rank)
        .prop_flat_map(move |r| (signal(r, max_len), signal(r, max_len), signal(r, max_len)))
}

/// A correlation layer the reference engine accepts: input (1, C_in, L...), weight
/// (C_out, C_in/G, k...), and its geometry.
#[derive(Debug, Clone)]
pub struct LayerProblem {
    /// Input (N = 1).
    pub x: ArrayD<Rational>,
    /// Weight.
    pub w: ArrayD<Rational>,
    /// A second weight of the same shape (for bilinearity and distributivity).
    pub w2: ArrayD<Rational>,
    /// A second input of the same shape.
    pub x2: ArrayD<Rational>,
    /// Stride, dilation, explicit asymmetric padding, padding mode, groups.
    pub geometry: ConvGeometry,
}

/// Layers of rank 1 to `max_rank`: sizes 1-5 (1-3 in 3-D), kernels 1-3, stride 1-3,
/// dilation 1-2, padding 0-2 on each side, every padding mode, groups 1-2 with 1-2 channels
/// per group. Only geometries the engine accepts are produced.
pub fn layer_problem(max_rank: usize) -> impl Strategy<Value = LayerProblem> {
    let modes = prop::sample::select(vec![
        PaddingMode::Zeros,
        PaddingMode::Reflect,
        PaddingMode::Replicate,
        PaddingMode::Circular,
    ]);
    (1..=max_rank)
        .prop_flat_map(move |rank| {
            let max_len: usize = if rank == 3 { 3 } else { 5 };
            (
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
                ),
                1usize..=2,
                1usize..=2,
                1usize..=2,
                modes.clone(),
            )
        })
        .prop_filter_map(
            "geometry the engine refuses",
            |(dims, groups, cin, cout, mode)| {
                let mut x_shape = vec![1, groups * cin];
                x_shape.extend(dims.iter().map(|d| d.0));
                let mut w_shape = vec![groups * cout, cin];
                w_shape.extend(dims.iter().map(|d| d.1));
                let geometry = ConvGeometry::new(dims.len())
                    .with_stride(dims.iter().map(|d| d.2).collect())
                    .with_dilation(dims.iter().map(|d| d.3).collect())
                    .with_padding(Padding::Explicit(dims.iter().map(|d| (d.4, d.5)).collect()))
                    .with_padding_mode(mode)
                    .with_groups(groups);
                ConvShape::new(&x_shape, &w_shape, None, &geometry)
                    .is_ok()
                    .then_some((x_shape, w_shape, geometry))
            },
        )
        .prop_flat_map(|(x_shape, w_shape, geometry)| problem_of(x_shape, w_shape, geometry))
}

/// 2-D layers with a 3x3 kernel at stride 1 and dilation 1 with zero padding (the layers
/// Winograd's F(m x m, 3x3) computes) as (input shape, weight shape, geometry): batch 1 to
/// `max_batch`, sizes 1 to `max_side`, padding 0-2 on each side, groups 1-2 with 1 to
/// `max_channels` channels per group in and out.
pub fn winograd_layer(
    max_batch: usize,
    max_side: usize,
    max_channels: usize,
) -> impl Strategy<Value = (Vec<usize>, Vec<usize>, ConvGeometry)> {
    let side = 1..=max_side;
    let channels = 1..=max_channels;
    let sizes = (
        1..=max_batch,
        side.clone(),
        side,
        prop::collection::vec(0usize..=2, 4),
    );
    (sizes, 1usize..=2, channels.clone(), channels).prop_filter_map(
        "the kernel fits",
        |((batch, h, w, p), groups, cin, cout)| {
            if h + p[0] + p[1] < 3 || w + p[2] + p[3] < 3 {
                return None;
            }
            let pads = vec![(p[0], p[1]), (p[2], p[3])];
            let geometry = ConvGeometry::new(2)
                .with_groups(groups)
                .with_padding(Padding::Explicit(pads));
            let (x_shape, w_shape) = (
                vec![batch, groups * cin, h, w],
                vec![groups * cout, cin, 3, 3],
            );
            Some((x_shape, w_shape, geometry))
        },
    )
}

/// [`winograd_layer`] problems of one batch element, sizes 1-6, 1-2 channels per group.
pub fn winograd_problem() -> impl Strategy<Value = LayerProblem> {
    winograd_layer(1, 6, 2)
        .prop_flat_map(|(x_shape, w_shape, geometry)| problem_of(x_shape, w_shape, geometry))
}

/// 2-D layers at stride 2 and dilation 1 with zero padding and a kernel 5 to 8 high (the
/// layers Winograd on a stride-2 layer's phases computes, [`crate::float::phases`]): batch 1-2,
/// 1-2 channels per group in and out (groups 1-2), kernels 5-8 high and 1-8 wide, sides up to
/// 13, padding 0-3 on each side.
pub fn phased_layer() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, ConvGeometry)> {
    let sizes = (1usize..=2, 1usize..=13, 1usize..=13, 5usize..=8, 1usize..=8);
    let pads = prop::collection::vec(0usize..=3, 4);
    (sizes, pads, 1usize..=2, 1usize..=2, 1usize..=2).prop_filter_map(
        "the kernel fits",
        |((batch, h, w, k_h, k_w), p, groups, cin, cout)| {
            if h + p[0] + p[1] < k_h || w + p[2] + p[3] < k_w {
                return None;
            }
            let geometry = ConvGeometry::new(2)
                .with_stride(vec![2, 2])
                .with_groups(groups)
                .with_padding(Padding::Explicit(vec![(p[0], p[1]), (p[2], p[3])]));
            let (x_shape, w_shape) = (
                vec![batch, groups * cin, h, w],
                vec![groups * cout, cin, k_h, k_w],
            );
            Some((x_shape, w_shape, geometry))
        },
    )
}

/// [`phased_layer`]'s layers with their operands.
pub fn phased_problem() -> impl Strategy<Value = LayerProblem> {
    phased_layer()
        .prop_flat_map(|(x_shape, w_shape, geometry)| problem_of(x_shape, w_shape, geometry))
}

/// Two inputs and two weights of the given shapes under `geometry`.
fn problem_of(
    x_shape: Vec<usize>,
    w_shape: Vec<usize>,
    geometry: ConvGeometry,
) -> impl Strategy<Value = LayerProblem> {
    (
        tensor(x_shape.clone()),
        tensor(w_shape.clone()),
        tensor(w_shape),
        tensor(x_shape),
        Just(geometry),
    )
        .prop_map(|(x, w, w2, x2, geometry)| LayerProblem {
            x,
            w,
            w2,
            x2,
            geometry,
        })
}

/// A pooling problem: input (1, C, L...) and window parameters that PyTorch accepts (padding
/// at most half the kernel), ranks 1 to `max_rank`, ceil mode on or off.
#[derive(Debug, Clone)]
pub struct PoolProblem {
    /// Input.
    pub x: ArrayD<Rational>,
    /// Window parameters.
    pub params: PoolParams,
}

/// Pooling problems of rank 1 to `max_rank` (see [`PoolProblem`]).
pub fn pool_problem(max_rank: usize) -> impl Strategy<Value = PoolProblem> {
    (1..=max_rank)
        .prop_flat_map(|rank| {
            (
                prop::collection::vec(
                    (1usize..=6, 1usize..=3, 1usize..=3, 0usize..=1, 1usize..=2),
                    rank,
                ),
                1usize..=2,
                any::<bool>(),
            )
        })
        .prop_filter_map("window outside the input", |(dims, channels, ceil)| {
            let mut shape = vec![1, channels];
            shape.extend(dims.iter().map(|d| d.0));
            let params = PoolParams::new(dims.iter().map(|d| d.1).collect())
                .with_stride(dims.iter().map(|d| d.2).collect())
                .with_padding(dims.iter().map(|d| d.3.min(d.1 / 2)).collect())
                .with_dilation(dims.iter().map(|d| d.4).collect())
                .with_ceil_mode(ceil);
            crate::reference::pool::pool_windows(&shape[2..], &params)
                .is_ok()
                .then_some((shape, params))
        })
        .prop_flat_map(|(shape, params)| (tensor(shape), Just(params)))
        .prop_map(|(x, params)| PoolProblem { x, params })
}
