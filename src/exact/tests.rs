//! The fast exact engine against the reference engine: equal, exactly, on random geometries
//! and on data chosen to stress the bit budget; and a negative control (a plan with one prime
//! too few is caught by the same comparison).

use super::engine::{self, GatherMap, GatherProblem, Operands};
use super::*;
use crate::geometry::{ConvGeometry, Padding, PaddingMode, TransposeGeometry, TransposePadding};
use crate::laws::strategies::layer_problem;
use crate::reference;
use crate::scalar::{rational_from_f32, Rational};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config(cases: u32) -> Config {
    crate::laws::strategies::fixed_config(cases, 0x5EED_2026_1127, "proptest-regressions/exact.txt")
}

/// f32 values that stress the bit budget: zeros, small integers, subnormals, values near the
/// overflow threshold, and arbitrary finite bit patterns (every exponent), mixed in one tensor.
fn stress_f32() -> impl Strategy<Value = f32> + Clone {
    prop_oneof![
        2 => Just(0.0f32),
        3 => (-3i32..=3).prop_map(|v| v as f32),
        2 => (1u32..0x0080_0000, any::<bool>())
            .prop_map(|(m, s)| f32::from_bits(m | if s { 0x8000_0000 } else { 0 })),
        2 => (0u32..0x0080_0000, any::<bool>()).prop_map(|(m, s)| {
            f32::from_bits((0xFE << 23) | m | if s { 0x8000_0000 } else { 0 })
        }),
        4 => any::<u32>()
            .prop_map(f32::from_bits)
            .prop_filter("finite", |v| v.is_finite()),
        4 => -1.0f32..1.0,
    ]
}

/// Small-range f32 values (a few exponents): the Float plan and narrow multi-modular plans.
fn narrow_f32() -> impl Strategy<Value = f32> + Clone {
    (-64i32..=64, 0i32..=6).prop_map(|(m, e)| m as f32 / (1 << e) as f32)
}

fn f32_tensor(
    shape: Vec<usize>,
    values: impl Strategy<Value = f32>,
) -> impl Strategy<Value = ArrayD<f32>> {
    let count: usize = shape.iter().product();
    prop::collection::vec(values, count)
        .prop_map(move |v| ArrayD::from_shape_vec(IxDyn(&shape), v).expect("shape"))
}

fn exact(a: &ArrayD<f32>) -> ArrayD<Rational> {
    a.mapv(|v| rational_from_f32(v).expect("finite"))
}

fn scaled(a: &ArrayD<f32>) -> ScaledTensor {
    ScaledTensor::from_f32(a.view()).expect("finite")
}

/// f32 values with full 24-bit significands over 41 binades (2^-40 <= |v| < 2): about 64 bits
/// once scaled to integers, where cutting into limbs beats the primes.
fn medium_f32() -> impl Strategy<Value = f32> + Clone {
    full_significand_f32(41)
}

/// f32 values with full 24-bit significands over `binades` binades below 2 (2^(1 - binades) <=
/// |v| < 2): at most 23 + binades bits once scaled to integers.
fn full_significand_f32(binades: i32) -> impl Strategy<Value = f32> + Clone {
    (0x0080_0000u32..0x0100_0000, 1 - binades..=0, any::<bool>()).prop_map(|(m, e, negative)| {
        let v = m as f32 * 2f32.powi(e - 23);
        if negative {
            -v
        } else {
            v
        }
    })
}

/// A layer problem of the laws' generator with f32 data from `values`, a bias, and a batch of 2.
fn float_layer(
    values: impl Strategy<Value = f32> + Clone + 'static,
) -> impl Strategy<Value = (ArrayD<f32>, ArrayD<f32>, ArrayD<f32>, ConvGeometry)> {
    float_layer_with(values.clone(), values)
}

/// As [`float_layer`], the input from `inputs`, the weight and bias from `weights`.
fn float_layer_with(
    inputs: impl Strategy<Value = f32> + Clone + 'static,
    weights: impl Strategy<Value = f32> + Clone + 'static,
) -> impl Strategy<Value = (ArrayD<f32>, ArrayD<f32>, ArrayD<f32>, ConvGeometry)> {
    float_layer_of_rank(3, inputs, weights)
}

/// As [`float_layer_with`], with at most `max_rank` spatial dimensions.
fn float_layer_of_rank(
    max_rank: usize,
    inputs: impl Strategy<Value = f32> + Clone + 'static,
    weights: impl Strategy<Value = f32> + Clone + 'static,
) -> impl Strategy<Value = (ArrayD<f32>, ArrayD<f32>, ArrayD<f32>, ConvGeometry)> {
    layer_problem(max_rank).prop_flat_map(move |p| {
        let mut x_shape = p.x.shape().to_vec();
        x_shape[0] = 2;
        let w_shape = p.w.shape().to_vec();
        (
            f32_tensor(x_shape, inputs.clone()),
            f32_tensor(w_shape.clone(), weights.clone()),
            f32_tensor(vec![w_shape[0]], weights.clone()),
            Just(p.geometry),
        )
    })
}

#[test]
fn correlate_equals_the_reference_on_stressed_floats() {
    let engine = ExactEngine::new(2);
    proptest!(config(64), |((x, w, b, geometry) in float_layer(stress_f32()))| {
        let expected = reference::correlate(&exact(&x), &exact(&w), Some(&exact(&b)), &geometry).unwrap();
        let got = engine.correlate(&scaled(&x), &scaled(&w), Some(&scaled(&b)), &geometry).unwrap();
        prop_assert_eq!(got.to_rationals(), expected);
    });
}

#[test]
fn correlate_equals_the_reference_on_narrow_floats_with_every_kernel() {
    let engines = every_kernel_and_thread_count();
    proptest!(config(32), |((x, w, b, geometry) in float_layer(narrow_f32()))| {
        let expected = reference::correlate(&exact(&x), &exact(&w), Some(&exact(&b)), &geometry).unwrap();
        let expected_plain = reference::correlate(&exact(&x), &exact(&w), None, &geometry).unwrap();
        for (kernel, threads, engine) in &engines {
            let got = engine.correlate(&scaled(&x), &scaled(&w), Some(&scaled(&b)), &geometry).unwrap();
            prop_assert_eq!(got.to_rationals(), expected.clone(), "{:?}, {} threads", kernel, threads);
            let (plain, plan) = engine.correlate_with_plan(&scaled(&x), &scaled(&w), None, &geometry).unwrap();
            // 1-D layers with one or two output channels per group take the direct path.
            prop_assert!(matches!(plan, Plan::Float | Plan::Direct), "{:?}", plan);
            prop_assert_eq!(plain.to_rationals(), expected_plain.clone());
        }
    });
}

#[test]
fn correlate_equals_the_reference_on_limb_split_floats_with_every_kernel() {
    let engines = every_kernel_and_thread_count();
    proptest!(config(32), |((x, w, b, geometry) in float_layer_with(medium_f32(), narrow_f32()))| {
        let expected = reference::correlate(&exact(&x), &exact(&w), Some(&exact(&b)), &geometry).unwrap();
        for (kernel, threads, engine) in &engines {
            let (got, plan) = engine.correlate_with_plan(&scaled(&x), &scaled(&w), Some(&scaled(&b)), &geometry).unwrap();
            // At most 64 input bits and at most 13 weight bits: two limb products or fewer,
            // against at least three primes.
            prop_assert!(matches!(plan, Plan::Split { .. } | Plan::Float | Plan::Direct), "{:?}", plan);
            prop_assert_eq!(got.to_rationals(), expected.clone(), "{:?}, {} threads", kernel, threads);
        }
    });
}

/// One engine per micro-kernel available here and per thread count (1 and 2), made once: each
/// starts its own thread pool, which costs far more than a small layer.
fn every_kernel_and_thread_count() -> Vec<(Kernel, usize, ExactEngine)> {
    Kernel::available()
        .into_iter()
        .flat_map(|kernel| {
            [1, 2].map(|threads| {
                (
                    kernel,
                    threads,
                    ExactEngine::new(threads).with_kernel(kernel),
                )
            })
        })
        .collect()
}

/// The direct 1-D path (one or two output channels per group; the laws' generator gives no
/// more) against the reference, over every padding mode, stride, dilation and group count: on
/// inputs of at most 40 bits it is always taken; on the stress data it is taken exactly when the operands
/// fit i64 and the result 2^126, and the GEMM plans answer otherwise.
#[test]
fn direct_1d_path_equals_the_reference() {
    let engine = ExactEngine::new(2);
    proptest!(config(48), |((x, w, b, geometry) in float_layer_of_rank(1, full_significand_f32(17), narrow_f32()))| {
        let expected = reference::correlate(&exact(&x), &exact(&w), Some(&exact(&b)), &geometry).unwrap();
        let (got, plan) = engine.correlate_with_plan(&scaled(&x), &scaled(&w), Some(&scaled(&b)), &geometry).unwrap();
        prop_assert_eq!(plan, Plan::Direct);
        prop_assert_eq!(got.to_rationals(), expected);
    });
    proptest!(config(48), |((x, w, b, geometry) in float_layer_of_rank(1, stress_f32(), stress_f32()))| {
        let expected = reference::correlate(&exact(&x), &exact(&w), Some(&exact(&b)), &geometry).unwrap();
        let (xs, ws, bs) = (scaled(&x), scaled(&w), scaled(&b));
        let (got, plan) = engine.correlate_with_plan(&xs, &ws, Some(&bs), &geometry).unwrap();
        let taps = w.shape()[1] * w.shape()[2];
        let budget = engine::Budget::new(&Operands { input: &xs, weight: &ws, bias: Some(&bs) }, taps);
        let fits = xs.bits() <= 63 && ws.bits() <= 63 && budget.bound_bits <= direct::MAX_BOUND_BITS
            && budget.multiplier_xw.bits() <= 63;
        prop_assert_eq!(plan == Plan::Direct, fits, "{:?}", plan);
        prop_assert_eq!(got.to_rationals(), expected);
    });
}

/// The plan of the benchmark layer (ResNet-50 conv2 on f32 data: 44 input bits, 42 weight
/// bits, 576 terms, so |y| < 2^96): limb widths a + b <= 53 - 10 = 43, fewest products at
/// a = 22, b = 21 (2 x 2 = 4), where primes below 2^22.9 need 5 to exceed 2^98.
#[test]
fn the_conv2_budget_splits_into_four_products() {
    assert_eq!(
        Plan::for_products(44, 42, 576, 96),
        Plan::Split {
            x_width: 22,
            w_width: 21,
            x_limbs: 2,
            w_limbs: 2
        }
    );
    assert_eq!(Plan::choose(96, 576).lanes(), 5);
    // Wide data: the primes' count grows linearly, the limb pairs' quadratically.
    assert!(matches!(
        Plan::for_products(200, 200, 576, 410),
        Plan::MultiModular { .. }
    ));
    assert_eq!(Plan::for_products(20, 20, 576, 50), Plan::Float);
}

/// The plans [`Plan::choose`] remembers are the plans it finds: asked again, after more
/// distinct plans than it keeps (so that the first are forgotten and found again), every
/// answer is the same, and its primes are distinct primes whose product exceeds 2^(bound + 1).
#[test]
fn remembered_plans_are_the_plans_found() {
    let keys: Vec<(u64, usize)> = (54..54 + 2 * super::engine::REMEMBERED_PLANS as u64)
        .map(|bits| (bits, 1 + (bits as usize * 37) % 9000))
        .collect();
    let first: Vec<Plan> = keys.iter().map(|&(b, n)| Plan::choose(b, n)).collect();
    for ((&(bits, length), plan), again) in keys.iter().zip(&first).zip(keys.iter().rev()) {
        assert_eq!(&Plan::choose(bits, length), plan);
        let _ = Plan::choose(again.0, again.1);
        let primes = plan.primes().expect("a modular plan");
        let log2: f64 = primes.iter().map(|&p| (p as f64).log2()).sum();
        assert!(log2 > (bits + 1) as f64, "{bits} bits: {primes:?}");
        assert!(primes.iter().all(|&p| super::modular::is_prime(p)));
        let mut distinct = primes.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), primes.len());
    }
}

#[test]
fn convolve_equals_the_reference_on_rationals() {
    let engine = ExactEngine::new(1);
    proptest!(config(48), |(p in layer_problem(3))| {
        let expected = reference::convolve(&p.x, &p.w, None, &p.geometry).unwrap();
        let x = ScaledTensor::from_rationals(p.x.view());
        let w = ScaledTensor::from_rationals(p.w.view());
        prop_assert_eq!(engine.convolve(&x, &w, None, &p.geometry).unwrap().to_rationals(), expected);
    });
}

/// Transposed convolutions PyTorch accepts: rank 1-2, stride 1-3, dilation 1-2, padding 0-2 per
/// side, output padding below stride or dilation, groups 1-2.
fn transpose_problem(
) -> impl Strategy<Value = (ArrayD<f32>, ArrayD<f32>, ArrayD<f32>, TransposeGeometry)> {
    (1usize..=2)
        .prop_flat_map(|rank| {
            (
                prop::collection::vec(
                    (
                        1usize..=4,
                        1usize..=3,
                        1usize..=3,
                        1usize..=2,
                        0usize..=2,
                        0usize..=2,
                        0usize..=2,
                    ),
                    rank,
                ),
                1usize..=2,
                1usize..=2,
                1usize..=2,
            )
        })
        .prop_filter_map(
            "geometry the engine refuses",
            |(dims, groups, cin, cout)| {
                let mut x_shape = vec![2, groups * cin];
                x_shape.extend(dims.iter().map(|d| d.0));
                let mut w_shape = vec![groups * cin, cout];
                w_shape.extend(dims.iter().map(|d| d.1));
                let geometry = TransposeGeometry::new(dims.len())
                    .with_stride(dims.iter().map(|d| d.2).collect())
                    .with_dilation(dims.iter().map(|d| d.3).collect())
                    .with_padding(TransposePadding::Explicit(
                        dims.iter().map(|d| (d.4, d.5)).collect(),
                    ))
                    .with_output_padding(dims.iter().map(|d| d.6).collect())
                    .with_groups(groups);
                crate::geometry::TransposeShape::new(
                    &x_shape,
                    &w_shape,
                    Some(groups * cout),
                    &geometry,
                )
                .is_ok()
                .then_some((x_shape, w_shape, groups * cout, geometry))
            },
        )
        .prop_flat_map(|(x_shape, w_shape, c_out, geometry)| {
            (
                f32_tensor(x_shape, stress_f32()),
                f32_tensor(w_shape, stress_f32()),
                f32_tensor(vec![c_out], stress_f32()),
                Just(geometry),
            )
        })
}

#[test]
fn conv_transpose_equals_the_reference() {
    let engine = ExactEngine::new(2);
    proptest!(config(48), |((x, w, b, geometry) in transpose_problem())| {
        let expected = reference::conv_transpose(&exact(&x), &exact(&w), Some(&exact(&b)), &geometry).unwrap();
        let got = engine.conv_transpose(&scaled(&x), &scaled(&w), Some(&scaled(&b)), &geometry).unwrap();
        prop_assert_eq!(got.to_rationals(), expected);
    });
}

#[test]
fn gradients_equal_the_reference() {
    let engine = ExactEngine::new(2);
    let problem = layer_problem(2).prop_flat_map(|p| {
        let output = reference::correlate(&p.x, &p.w, None, &p.geometry).unwrap();
        (
            f32_tensor(p.x.shape().to_vec(), stress_f32()),
            f32_tensor(p.w.shape().to_vec(), stress_f32()),
            f32_tensor(output.shape().to_vec(), stress_f32()),
            Just(p.geometry),
        )
    });
    proptest!(config(48), |((x, w, g, geometry) in problem)| {
        let expected = reference::correlate_backward(&exact(&x), &exact(&w), &exact(&g), &geometry).unwrap();
        let got = engine.correlate_backward(&scaled(&x), &scaled(&w), &scaled(&g), &geometry).unwrap();
        prop_assert_eq!(got.input.to_rationals(), expected.input);
        prop_assert_eq!(got.weight.to_rationals(), expected.weight);
        prop_assert_eq!(got.bias.to_rationals(), expected.bias);
    });
}

#[test]
fn refusals_match_the_reference() {
    let engine = ExactEngine::new(1);
    let x = ArrayD::<f32>::zeros(IxDyn(&[1, 2, 3]));
    let w = ArrayD::<f32>::zeros(IxDyn(&[2, 2, 5]));
    let geometry = ConvGeometry::new(1);
    let expected = reference::correlate(&exact(&x), &exact(&w), None, &geometry).unwrap_err();
    assert_eq!(
        engine
            .correlate(&scaled(&x), &scaled(&w), None, &geometry)
            .unwrap_err(),
        ExactError::Op(expected)
    );
    let x = ndarray::arr1(&[1.0f32, f32::INFINITY]).into_dyn();
    assert!(matches!(
        ScaledTensor::from_f32(x.view()),
        Err(ExactError::NotFinite { ref index, .. }) if index == &vec![1]
    ));
}

/// A 1-D layer whose reduction (9000 terms) is longer than one chunk, on data with 2^-149 and
/// 2^127 together: many primes, reduction modulo p between chunks, big-integer reconstruction.
#[test]
fn long_reductions_with_extreme_exponents() {
    let n = 9000;
    let x: Vec<f32> = (0..n + 2)
        .map(|i| match i % 5 {
            0 => f32::from_bits(1 + i as u32),  // subnormal
            1 => f32::MAX / (1 + i % 7) as f32, // near overflow
            2 => -1.0 - i as f32,
            3 => 0.0,
            _ => f32::from_bits(0x3F80_0001 + i as u32 * 977),
        })
        .collect();
    let w: Vec<f32> = (0..n)
        .map(|i| {
            if i % 3 == 0 {
                -f32::MIN_POSITIVE * i as f32
            } else {
                1.5e30 / (i + 1) as f32
            }
        })
        .collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, n + 2]), x).unwrap();
    let w = ArrayD::from_shape_vec(IxDyn(&[1, 1, n]), w).unwrap();
    // Stride 2 keeps this layer on the gather-GEMM path (transforms need stride 1).
    let geometry = ConvGeometry::new(1).with_stride(vec![2]);
    let expected = reference::correlate(&exact(&x), &exact(&w), None, &geometry).unwrap();
    let (got, plan) = ExactEngine::new(2)
        .correlate_with_plan(&scaled(&x), &scaled(&w), None, &geometry)
        .unwrap();
    match &plan {
        Plan::MultiModular { primes, chunk } => {
            assert!(*chunk < n, "the reduction is chunked");
            assert!(primes.len() > 10, "{} primes", primes.len());
        }
        other => panic!("a 500-bit budget on the GEMM path, got {other:?}"),
    }
    assert!(matches!(got.integers, Integers::Big(_)));
    assert_eq!(got.to_rationals(), expected);
}

/// The gather-GEMM engine run on the 1-D layer (x, w) of one batch element and one group with
/// zero padding, by `plan` (None: the engine's own choice); the result and the plan used.
fn run_by_plan(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    geometry: &ConvGeometry,
    plan: Option<Plan>,
) -> (ScaledTensor, Plan) {
    let (xs, ws) = (scaled(x), scaled(w));
    let shape = crate::geometry::ConvShape::new(x.shape(), w.shape(), None, geometry).unwrap();
    let output = shape.output_shape().unwrap();
    let spatial = x.shape()[2];
    let map = GatherMap::new(&[spatial], &[w.shape()[2]], &output[2..], |d, t, j| {
        let g = &shape.dims[d];
        PaddingMode::Zeros.source_index(g.input_index(t, j), g.input)
    })
    .unwrap();
    let problem = GatherProblem {
        batch: 1,
        groups: 1,
        in_channels: x.shape()[1],
        out_channels: w.shape()[0],
        spatial,
        map,
        output_shape: output,
    };
    let operands = Operands {
        input: &xs,
        weight: &ws,
        bias: None,
    };
    let pool = crate::parallel::thread_pool(1).unwrap();
    engine::run(&problem, &operands, &Kernel::detect(), &pool, plan).unwrap()
}

/// The engines whose micro-kernel runs the plan [`Plan::Wide`]: the portable one everywhere,
/// AVX-512 IFMA where this processor has it; at 1 and 2 threads.
fn wide_engines() -> Vec<(Kernel, usize, ExactEngine)> {
    let mut kernels = vec![Kernel::PORTABLE.with_wide(Some(wide::WideKernel::PORTABLE))];
    kernels.extend(Kernel::available().into_iter().filter(|k| k.wide.is_some()));
    kernels
        .into_iter()
        .flat_map(|kernel| {
            [1, 2].map(|threads| {
                (
                    kernel,
                    threads,
                    ExactEngine::new(threads).with_kernel(kernel),
                )
            })
        })
        .collect()
}

/// The plan of 64-bit lanes against the reference, on full significands over 28 binades (up to
/// 51 bits once scaled, the plan's limit: offset operands up to 2^52 - 1) with a bias.
#[test]
fn wide_plan_equals_the_reference() {
    let engines = wide_engines();
    proptest!(config(32), |((x, w, b, geometry) in float_layer_with(full_significand_f32(28), full_significand_f32(28)))| {
        let expected = reference::correlate(&exact(&x), &exact(&w), Some(&exact(&b)), &geometry).unwrap();
        // The input held as i64 integers (gathered in place) and as mantissa-shift pairs
        // (offset into a copy first).
        let pairs = ScaledTensor::from_rationals(exact(&x).view());
        prop_assert!(matches!(pairs.integers, Integers::Dyadic(_)));
        prop_assert!(matches!(scaled(&x).integers, Integers::Narrow(_)));
        for (kernel, threads, engine) in &engines {
            for input in [&scaled(&x), &pairs] {
                let (got, plan) = engine.correlate_with_plan(input, &scaled(&w), Some(&scaled(&b)), &geometry).unwrap();
                prop_assert!(matches!(plan, Plan::Wide | Plan::Direct | Plan::Ntt { .. }), "{:?}", plan);
                prop_assert_eq!(got.to_rationals(), expected.clone(), "{:?}, {} threads", kernel, threads);
            }
        }
    });
}

/// The layer rounded as the engine makes it equals the exact layer rounded by the reference
/// rounding of its rationals, bit for bit, in every format (subnormals and overflow to
/// infinity in the 16-bit formats included): on the plan of 64-bit lanes (rounded in its
/// epilogue) and on the plans that round the exact layer afterwards.
#[test]
fn layer_rounded_as_made_equals_the_exact_layer_rounded() {
    use crate::scalar::{round_to_bits, FloatFormat};
    let mut engines = wide_engines();
    engines.push((
        Kernel::PORTABLE,
        1,
        ExactEngine::new(1).with_kernel(Kernel::PORTABLE),
    ));
    let formats = [
        FloatFormat::F64,
        FloatFormat::F32,
        FloatFormat::F16,
        FloatFormat::BF16,
    ];
    let wide_seen = std::sync::atomic::AtomicUsize::new(0);
    proptest!(config(24), |((x, w, b, geometry) in float_layer_with(full_significand_f32(12), full_significand_f32(12)), grow in -30i32..30)| {
        // Scaled by 2^grow so that some outputs overflow float16 or fall among its subnormals.
        let x = x.mapv(|v| v * 2f32.powi(grow));
        let expected = reference::correlate(&exact(&x), &exact(&w), Some(&exact(&b)), &geometry).unwrap();
        for (kernel, threads, engine) in &engines {
            let (_, plan) = engine.correlate_with_plan(&scaled(&x), &scaled(&w), Some(&scaled(&b)), &geometry).unwrap();
            wide_seen.fetch_add(usize::from(plan == Plan::Wide), std::sync::atomic::Ordering::Relaxed);
            for format in formats {
                let got = engine
                    .correlate_rounded([&scaled(&x), &scaled(&w)], Some(&scaled(&b)), &geometry, format, f64::to_bits)
                    .unwrap();
                prop_assert_eq!(got.shape(), expected.shape());
                for (g, q) in got.iter().zip(expected.iter()) {
                    let want = crate::scalar::f64_from_format_bits(round_to_bits(q, format), format);
                    prop_assert_eq!(*g, want.to_bits(), "{:?} {:?}, {} threads, {:?}", kernel, plan, threads, format);
                }
            }
        }
    });
    assert!(
        wide_seen.into_inner() > 0,
        "the plan of 64-bit lanes never ran"
    );
}

/// A reduction of 9000 terms of 49-bit integers (the most that [`wide::fits`] admits at that
/// length), whose low sums over all terms exceed 2^64: exact in chunks of [`wide::CHUNK`] terms,
/// and the negative control, one chunk of all terms, is caught by the same comparison.
#[test]
fn wide_plan_normalises_between_chunks() {
    let channels = 3000;
    // 2 - 2^-23 and a little less everywhere except one value 2^-48 that sets the scale: 49
    // bits, all positive.
    let top = 2.0f32 - f32::EPSILON;
    let x = ArrayD::from_shape_fn(IxDyn(&[1, channels, 5]), |i| {
        if i[1] == 7 && i[2] == 2 {
            2f32.powi(-48)
        } else {
            top - (i[2] as f32) * f32::EPSILON
        }
    });
    let w = ArrayD::from_shape_fn(IxDyn(&[2, channels, 3]), |i| {
        if i == IxDyn(&[1, 3, 1]) {
            2f32.powi(-48)
        } else {
            top - ((i[0] + i[2]) as f32) * f32::EPSILON
        }
    });
    let geometry = ConvGeometry::new(1);
    let expected = reference::correlate(&exact(&x), &exact(&w), None, &geometry).unwrap();
    let (xs, ws) = (scaled(&x), scaled(&w));
    assert_eq!((xs.bits(), ws.bits()), (49, 49));
    let shape = crate::geometry::ConvShape::new(x.shape(), w.shape(), None, &geometry).unwrap();
    let output = shape.output_shape().unwrap();
    let problem = GatherProblem {
        batch: 1,
        groups: 1,
        in_channels: channels,
        out_channels: 2,
        spatial: 5,
        map: GatherMap::new(&[5], &[3], &output[2..], |_, t, j| Some(t + j)).unwrap(),
        output_shape: output,
    };
    let operands = Operands {
        input: &xs,
        weight: &ws,
        bias: None,
    };
    let depth = channels * 3;
    let budget = engine::Budget::new(&operands, depth);
    assert!(wide::fits(
        budget.x_bits,
        budget.w_bits,
        depth,
        budget.bound_bits
    ));
    let pool = crate::parallel::thread_pool(1).unwrap();
    for (kernel, _, _) in wide_engines().into_iter().filter(|e| e.1 == 1) {
        let wide = kernel.wide.expect("a wide kernel");
        let right = wide::run(&problem, &operands, &budget, wide, &pool);
        assert_eq!(right.to_rationals(), expected, "{wide:?}");
        let wrong = wide::run_in_chunks(&problem, &operands, &budget, wide, &pool, depth);
        assert_ne!(wrong.to_rationals(), expected, "{wide:?}");
    }
}

/// The negative control: the same comparison rejects a plan with one prime too few (the
/// residues of y modulo a too small M reconstruct a different integer).
#[test]
fn one_prime_too_few_is_caught() {
    let x =
        ArrayD::from_shape_vec(IxDyn(&[1, 1, 4]), vec![3.0e30f32, -1.0e-30, 7.5, 1.0e20]).unwrap();
    let w = ArrayD::from_shape_vec(IxDyn(&[1, 1, 2]), vec![2.5e25f32, -3.0e-25]).unwrap();
    let geometry = ConvGeometry::new(1).with_padding(Padding::Explicit(vec![(1, 1)]));
    let expected = reference::correlate(&exact(&x), &exact(&w), None, &geometry).unwrap();
    let (right, plan) = run_by_plan(&x, &w, &geometry, None);
    assert_eq!(right.to_rationals(), expected);
    let Plan::MultiModular { mut primes, chunk } = plan else {
        panic!("wide data need primes")
    };
    primes.pop();
    let short = Plan::MultiModular { primes, chunk };
    let (wrong, _) = run_by_plan(&x, &w, &geometry, Some(short));
    assert_ne!(wrong.to_rationals(), expected);
}

/// The negative control of the limb split: the same comparison rejects a plan that drops the
/// input's top limb.
#[test]
fn one_limb_too_few_is_caught() {
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 2, 9]), |i| {
        (i[2] as f32 + 1.0) * 1.25e3 - (i[1] as f32) * 3.0e-4
    });
    let w = ArrayD::from_shape_fn(IxDyn(&[2, 2, 3]), |i| (i[0] + 2 * i[1] + i[2]) as f32 - 2.5);
    let geometry = ConvGeometry::new(1).with_padding(Padding::Explicit(vec![(1, 0)]));
    let expected = reference::correlate(&exact(&x), &exact(&w), None, &geometry).unwrap();
    // x scales to integers of 27 bits (12500 at most, f32 spacing 2^-13 near 1250): two limbs
    // of 20 bits, the top one nonzero.
    let bits = scaled(&x).bits();
    assert!(bits > 20 && bits <= 40, "{bits} bits");
    let split = |x_limbs| Plan::Split {
        x_width: 20,
        w_width: 20,
        x_limbs,
        w_limbs: 1,
    };
    let (right, _) = run_by_plan(&x, &w, &geometry, Some(split(2)));
    assert_eq!(right.to_rationals(), expected);
    let (wrong, _) = run_by_plan(&x, &w, &geometry, Some(split(1)));
    assert_ne!(wrong.to_rationals(), expected);
}

#[test]
fn unbatched_input_and_thread_counts_agree() {
    let x = ArrayD::from_shape_fn(IxDyn(&[3, 7, 6]), |i| {
        (i[0] as f32 - 1.0) * 1.0e-20 + (i[1] * i[2]) as f32 * 3.0e15
    });
    let w = ArrayD::from_shape_fn(IxDyn(&[4, 3, 2, 3]), |i| {
        f32::from_bits(0x0040_0000 + (i[0] * 1000 + i[1] * 100 + i[2] * 10 + i[3]) as u32)
    });
    let geometry = ConvGeometry::new(2)
        .with_stride(vec![2, 1])
        .with_padding(Padding::Explicit(vec![(1, 0), (2, 1)]))
        .with_padding_mode(PaddingMode::Reflect);
    let expected = reference::correlate(&exact(&x), &exact(&w), None, &geometry).unwrap();
    let one = ExactEngine::new(1)
        .correlate(&scaled(&x), &scaled(&w), None, &geometry)
        .unwrap();
    let two = ExactEngine::new(2)
        .correlate(&scaled(&x), &scaled(&w), None, &geometry)
        .unwrap();
    assert_eq!(one, two);
    assert_eq!(one.to_rationals(), expected);
}

/// Long 1-D kernels go through number-theoretic transforms: channels, groups, asymmetric zero
/// padding, a bias, and wide data; equal to the reference, and the plan is Ntt.
#[test]
fn long_kernels_use_transforms_and_agree() {
    let value = |i: usize| match i % 4 {
        0 => f32::from_bits(0x0000_1000 + i as u32),
        1 => 3.0e20 / (i + 1) as f32,
        2 => 0.0,
        _ => -(i as f32) * 0.375,
    };
    let x = ArrayD::from_shape_fn(IxDyn(&[2, 4, 90]), |i| {
        value(i[0] * 1000 + i[1] * 90 + i[2])
    });
    let w = ArrayD::from_shape_fn(IxDyn(&[4, 2, 64]), |i| {
        value(7 + i[0] * 300 + i[1] * 64 + i[2])
    });
    let b = ArrayD::from_shape_fn(IxDyn(&[4]), |i| value(3 * i[0] + 1));
    let geometry = ConvGeometry::new(1)
        .with_padding(Padding::Explicit(vec![(3, 40)]))
        .with_groups(2);
    let expected =
        reference::correlate(&exact(&x), &exact(&w), Some(&exact(&b)), &geometry).unwrap();
    let (got, plan) = ExactEngine::new(2)
        .correlate_with_plan(&scaled(&x), &scaled(&w), Some(&scaled(&b)), &geometry)
        .unwrap();
    assert!(matches!(plan, Plan::Ntt { .. }), "{plan:?}");
    assert_eq!(got.to_rationals(), expected);
    // Convolution (flipped kernel) and full padding, as np.convolve(x, w, 'full') per channel.
    let geometry = ConvGeometry::new(1)
        .with_padding(Padding::Full)
        .with_groups(2);
    let expected = reference::convolve(&exact(&x), &exact(&w), None, &geometry).unwrap();
    let got = ExactEngine::new(1)
        .convolve(&scaled(&x), &scaled(&w), None, &geometry)
        .unwrap();
    assert_eq!(got.to_rationals(), expected);
}

/// The transform path's lane-wise reconstruction (primes' product below 2^128): batch,
/// several channels, groups, a bias finer than the products (so that the products carry a
/// multiplier), negative results, padding on both sides.
#[test]
fn long_kernels_reconstruct_lane_by_lane() {
    let x = ArrayD::from_shape_fn(IxDyn(&[2, 4, 200]), |i| {
        ((i[0] * 7 + i[1] * 13 + i[2] * 5) % 23) as f32 * 0.125 - 1.25
    });
    let w = ArrayD::from_shape_fn(IxDyn(&[6, 2, 70]), |i| {
        ((i[0] * 11 + i[1] * 3 + i[2] * 7) % 19) as f32 * 0.25 - 2.0
    });
    let b = ArrayD::from_shape_fn(IxDyn(&[6]), |i| (2 * i[0] + 1) as f32 / 1024.0 - 0.003);
    for (geometry, bias) in [
        (
            ConvGeometry::new(1)
                .with_padding(Padding::Explicit(vec![(5, 60)]))
                .with_groups(2),
            Some(&b),
        ),
        (ConvGeometry::new(1).with_padding(Padding::Full), None),
    ] {
        let (x, w) = if geometry.groups == 2 {
            (x.clone(), w.clone())
        } else {
            (
                x.slice(ndarray::s![.., ..2, ..]).to_owned().into_dyn(),
                w.clone(),
            )
        };
        let expected =
            reference::correlate(&exact(&x), &exact(&w), bias.map(exact).as_ref(), &geometry)
                .unwrap();
        for threads in [1, 2] {
            let (got, plan) = ExactEngine::new(threads)
                .correlate_with_plan(
                    &scaled(&x),
                    &scaled(&w),
                    bias.map(scaled).as_ref(),
                    &geometry,
                )
                .unwrap();
            match &plan {
                Plan::Ntt { primes } => assert!(primes.len() <= 4, "{primes:?}"),
                other => panic!("{other:?}"),
            }
            assert_eq!(got.to_rationals(), expected, "{geometry:?}");
        }
    }
}

/// The one-pass limb split equals the per-limb definition (two limbs and three, negative
/// values, zeros, the widest shifts), and the limbs recombine to the integers.
#[test]
fn limbs_in_one_pass_equal_each_limb() {
    // Narrow data (every shift below 64: the one-pass path) and wide data (subnormals and
    // 1e10 together: shifts beyond 64, the per-limb fallback).
    let narrow = |k: i32| match k % 5 {
        0 => 0.0,
        1 => 1.0e3 * k as f32,
        2 => -(k as f32) * 7.0,
        3 => 3.0e-7 * k as f32,
        _ => -1.5 / k as f32,
    };
    let wide = |k: i32| match k % 3 {
        0 => f32::from_bits(1 + k as u32),
        1 => -(k as f32) * 1.0e9,
        _ => narrow(k),
    };
    for value in [&narrow as &dyn Fn(i32) -> f32, &wide] {
        let x = ArrayD::from_shape_fn(IxDyn(&[3, 41]), |i| value((i[0] * 41 + i[1]) as i32));
        limbs_agree(&scaled(&x));
    }
}

fn limbs_agree(xs: &ScaledTensor) {
    let bits = xs.bits();
    for width in [20u32, 31, 53] {
        let count = bits.div_ceil(u64::from(width)) as usize;
        for count in [count, count + 1] {
            let mut limbs = vec![Vec::new(); count];
            xs.limbs_into(width, &mut limbs);
            for (i, limb) in limbs.iter().enumerate() {
                assert_eq!(limb, &xs.limb(width, i), "width {width}, limb {i}");
            }
            if count == bits.div_ceil(u64::from(width)) as usize {
                for (k, value) in xs.integer_values().iter().enumerate() {
                    let sum = limbs
                        .iter()
                        .enumerate()
                        .fold(Integer::zero(), |acc, (i, l)| {
                            acc + (Integer::from(l[k] as i64) << (width as usize * i))
                        });
                    assert_eq!(&sum, value, "width {width}, element {k}");
                }
            }
        }
    }
}

/// proofs/oracle.md O7: an integer above 2^1024 whose scale brings it back into range converts
/// to a finite f64 (the values 2^1000 and the smallest subnormal share the scale 2^-1074, so
/// the first integer is 2^2074), in every integer representation.
#[test]
fn report_floats_of_huge_integers_are_finite() {
    use crate::scalar::rational_from_f64;
    let values = [
        2f64.powi(1000),
        f64::from_bits(1),
        -3.0 * 2f64.powi(900),
        0.0,
    ];
    let exact: Vec<Rational> = values
        .iter()
        .map(|&v| rational_from_f64(v).unwrap())
        .collect();
    let t = ArrayD::from_shape_vec(IxDyn(&[4]), exact).unwrap();
    let scaled = ScaledTensor::from_rationals(t.view());
    assert_eq!(scaled.to_f64_approx(), values.to_vec());
    // The same through the big-integer representation (rationals with an odd denominator
    // elsewhere force it) and after the engine's own arithmetic.
    let doubled = scaled
        .to_rationals()
        .mapv(|q| q * Rational::from_integer(2.into()));
    let again = ScaledTensor::from_rationals(doubled.view());
    let expected: Vec<f64> = values.iter().map(|v| v * 2.0).collect();
    assert_eq!(again.to_f64_approx(), expected);
}

/// Direct rounding of scaled integers agrees with rounding the exact rationals, for every
/// storage (mantissa-shift inputs, 128-bit results, big integers, a non-power-of-two scale)
/// and every format.
#[test]
fn scaled_rounding_agrees_with_rational_rounding() {
    use crate::scalar::{f64_from_format_bits, round_to_bits, FloatFormat};
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 2, 40]), |i| {
        (i[2] as f64 - 17.5) * 1.0e-3 + (i[1] as f64) * 3.0e7 + 1.0e-300 * (i[2] % 3) as f64
    });
    let w = ArrayD::from_shape_fn(IxDyn(&[2, 2, 3]), |i| {
        (i[0] + i[1] + i[2]) as f64 * 0.1 - 0.2
    });
    let xs = ScaledTensor::from_f64(x.view()).unwrap();
    let ws = ScaledTensor::from_f64(w.view()).unwrap();
    let y = ExactEngine::new(1)
        .correlate(&xs, &ws, None, &ConvGeometry::new(1))
        .unwrap();
    let third = ScaledTensor::from_rationals(
        ArrayD::from_shape_fn(IxDyn(&[5]), |i| {
            Rational::new((i[0] as i64 - 2).into(), 3.into())
        })
        .view(),
    );
    let huge = ScaledTensor::from_rationals(
        ArrayD::from_shape_fn(IxDyn(&[4]), |i| {
            Rational::from_integer((Integer::from(3) << (200 + 37 * i[0])) + Integer::from(1))
        })
        .view(),
    );
    assert!(matches!(huge.integers, super::scaled::Integers::Big(_)));
    for tensor in [&xs, &y, &third, &huge] {
        for format in [
            FloatFormat::F64,
            FloatFormat::F32,
            FloatFormat::F16,
            FloatFormat::BF16,
        ] {
            let expected: Vec<f64> = tensor
                .to_rationals()
                .iter()
                .map(|q| f64_from_format_bits(round_to_bits(q, format), format))
                .collect();
            let got = tensor.rounded(format);
            let same = got
                .iter()
                .zip(&expected)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{format:?}: {got:?} != {expected:?}");
            // A chunk from an offset is the same slice.
            if tensor.len() > 3 {
                let mut part = vec![0.0; tensor.len() - 3];
                tensor.rounded_into(format, 2, &mut part);
                let same = part
                    .iter()
                    .zip(&expected[2..])
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{format:?} from offset 2: {part:?}");
            }
            if format == FloatFormat::F64 {
                let images = tensor.to_f64_approx();
                let same = images
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "the f64 images are the nearest f64s: {images:?}");
            }
        }
    }
}
