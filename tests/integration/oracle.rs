//! The oracle on real cuDNN outputs (an H100 through PyTorch 2.11, `tests/fixtures/
//! cudnn-h100`, see capture.json there) and on deliberately broken candidates.

use convspec::exact::ExactEngine;
use convspec::geometry::{ConvGeometry, Padding, PoolParams};
use convspec::io::{read_npy, read_npy_f64};
use convspec::oracle::{check, round_inputs, CheckOptions, Precision, Reference, Report};
use convspec::reference::AvgOptions;
use convspec::scalar::{rational_from_f64, round_to_f32, FloatFormat, Rational};
use ndarray::ArrayD;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cudnn-h100");
    assert!(
        dir.join("capture.json").exists(),
        "the cuDNN fixtures are expected at {}",
        dir.display()
    );
    dir
}

fn exact(case: &str, name: &str) -> ArrayD<Rational> {
    read_npy(&fixtures().join(case).join(format!("{name}.npy")))
        .unwrap()
        .values
}

fn candidate(case: &str, name: &str) -> ArrayD<f64> {
    read_npy_f64(&fixtures().join(case).join(format!("{name}.npy")))
        .unwrap()
        .1
}

/// The geometry of each case, as capture.json gives PyTorch's keyword arguments.
fn geometry(case: &str) -> ConvGeometry {
    match case {
        "resnet3x3" => ConvGeometry::new(2).with_padding(Padding::Explicit(vec![(1, 1); 2])),
        "strided_dilated_grouped" => ConvGeometry::new(2)
            .with_stride(vec![2, 1])
            .with_padding(Padding::Explicit(vec![(1, 1), (2, 2)]))
            .with_dilation(vec![2, 3])
            .with_groups(4),
        "conv1d_long" => ConvGeometry::new(1).with_padding(Padding::Explicit(vec![(15, 15)])),
        other => panic!("no case {other}"),
    }
}

fn judge(reference: &Reference, candidate: &ArrayD<f64>, precision: Precision) -> Report {
    check(
        reference,
        candidate.view(),
        precision,
        &CheckOptions::default(),
    )
    .unwrap()
}

const CASES: [&str; 3] = ["resnet3x3", "strided_dilated_grouped", "conv1d_long"];

#[test]
fn cudnn_fp32_outputs_pass_fp32_and_tf32_fails_it() {
    let engine = ExactEngine::new(2);
    for case in CASES {
        let (x, w) = (exact(case, "x"), exact(case, "w"));
        let reference = Reference::correlate(&engine, &x, &w, None, &geometry(case)).unwrap();
        for output in ["y_fp32_strict", "y_fp32_benchmark"] {
            let report = judge(&reference, &candidate(case, output), Precision::Fp32);
            assert!(report.passed(), "{case} {output}\n{}", report.render());
            assert_eq!(report.tightest, Some(Precision::Fp32), "{case} {output}");
        }
        // float64 on the GPU from the same float32 inputs: within the fp64 contract.
        let fp64 = judge(&reference, &candidate(case, "y_fp64"), Precision::Fp64);
        assert!(fp64.passed(), "{case} y_fp64\n{}", fp64.render());
        // TF32 (PyTorch's default for convolutions): legal TF32, not fp32.
        let tf32 = candidate(case, "y_tf32");
        let as_tf32 = judge(&reference, &tf32, Precision::Tf32);
        assert!(as_tf32.passed(), "{case} tf32\n{}", as_tf32.render());
        let as_fp32 = judge(&reference, &tf32, Precision::Fp32);
        if case == "resnet3x3" {
            // 15917 of 200704 elements (7.9 %) over the fp32 bound when this was written.
            assert!(
                as_fp32.failed_share() > 0.01,
                "resnet3x3 tf32 as fp32: {}",
                as_fp32.render()
            );
            assert_eq!(as_tf32.tightest, Some(Precision::Tf32));
        } else {
            // A fact the oracle found: with allow_tf32 on, cuDNN still computed the grouped
            // (2 channels per group) and the 1-D layer in plain fp32.
            assert!(as_fp32.passed(), "{case}: {}", as_fp32.render());
            assert_eq!(as_tf32.tightest, Some(Precision::Fp32), "{case}");
        }
    }
}

#[test]
fn cudnn_fp16_and_bf16_outputs_pass_against_their_rounded_inputs() {
    let engine = ExactEngine::new(2);
    for case in CASES {
        for (output, format, precision) in [
            ("y_fp16", FloatFormat::F16, Precision::Fp16),
            ("y_bf16", FloatFormat::BF16, Precision::Bf16),
        ] {
            let x = round_inputs(&exact(case, "x"), format).unwrap();
            let w = round_inputs(&exact(case, "w"), format).unwrap();
            let reference = Reference::correlate(&engine, &x, &w, None, &geometry(case)).unwrap();
            let report = judge(&reference, &candidate(case, output), precision);
            assert!(report.passed(), "{case} {output}\n{}", report.render());
            assert!(report.contract.inputs_in_format);
            // Not the fp32 contract: the output is rounded to 16 bits.
            let strict = judge(&reference, &candidate(case, output), Precision::Fp32);
            assert!(!strict.passed(), "{case} {output} passes fp32?");
        }
    }
}

#[test]
fn cudnn_pooling_outputs_pass() {
    let x = exact("pool", "x");
    let window = |k: usize, s: usize, p: usize| {
        let mut params = PoolParams::new(vec![k; 2]).with_padding(vec![p; 2]);
        params.stride = vec![s; 2];
        params
    };
    let mut ceil = window(3, 2, 1);
    ceil.ceil_mode = true;
    let mut dilated = window(2, 2, 0);
    dilated.dilation = vec![2; 2];
    for (name, params) in [("max_k3s2p1_ceil", &ceil), ("max_k2s2_dil2", &dilated)] {
        let reference = Reference::max_pool(&x, params).unwrap();
        let report = judge(&reference, &candidate("pool", name), Precision::Fp32);
        assert!(report.passed(), "{name}\n{}", report.render());
        assert_eq!(
            report.correctly_rounded, report.elements,
            "{name}: max is exact"
        );
    }
    for (name, include) in [
        ("avg_k3s2p1_ceil_incl", true),
        ("avg_k3s2p1_ceil_excl", false),
    ] {
        let options = AvgOptions {
            count_include_pad: include,
            divisor_override: None,
        };
        let reference = Reference::avg_pool(&x, &ceil, &options).unwrap();
        let report = judge(&reference, &candidate("pool", name), Precision::Fp32);
        assert!(report.passed(), "{name}\n{}", report.render());
        // The negative control: the other divisor rule is caught.
        let other = AvgOptions {
            count_include_pad: !include,
            divisor_override: None,
        };
        let wrong = Reference::avg_pool(&x, &ceil, &other).unwrap();
        let report = judge(&wrong, &candidate("pool", name), Precision::Fp32);
        assert!(
            !report.passed(),
            "{name} under the other divisor rule passes"
        );
    }
    // A max pool that returns a value one ulp off fails at that element.
    let reference = Reference::max_pool(&x, &ceil).unwrap();
    let mut off = candidate("pool", "max_k3s2p1_ceil");
    let target = [0, 1, 2, 3];
    off[&target[..]] = f64::from(next_up(off[&target[..]] as f32));
    let report = judge(&reference, &off, Precision::Fp32);
    assert_eq!(report.failed, 1);
    assert_eq!(report.failures[0].index, target.to_vec());
}

fn next_up(v: f32) -> f32 {
    let bits = v.to_bits();
    f32::from_bits(if v >= 0.0 { bits + 1 } else { bits - 1 })
}

#[test]
fn broken_candidates_fail_at_the_right_element() {
    let engine = ExactEngine::new(2);
    let case = "strided_dilated_grouped";
    let (x, w) = (exact(case, "x"), exact(case, "w"));
    let g = geometry(case);
    let reference = Reference::correlate(&engine, &x, &w, None, &g).unwrap();
    let good = candidate(case, "y_fp32_strict");
    let shape = good.shape().to_vec();

    // One element moved a few ulps beyond its bound.
    let target = vec![1, 5, 3, 7];
    let report = judge(&reference, &good, Precision::Fp32);
    assert!(report.passed());
    let y = &reference.exact_at(&target);
    let bound = report_bound(&reference, &target);
    let beyond = y + &bound;
    let mut moved = round_to_f32(&beyond);
    for _ in 0..3 {
        moved = next_up(moved);
    }
    let mut perturbed = good.clone();
    perturbed[&target[..]] = f64::from(moved);
    let report = judge(&reference, &perturbed, Precision::Fp32);
    assert_eq!(report.failed, 1, "{}", report.render());
    assert_eq!(report.failures[0].index, target);
    assert_eq!(report.worst.as_ref().unwrap().index, target);
    // ... while the same move within the bound passes.
    let mut inside = good.clone();
    inside[&target[..]] = f64::from(round_to_f32(y));
    assert!(judge(&reference, &inside, Precision::Fp32).passed());

    // A missing bias: the reference has one, the candidate does not.
    let bias = ArrayD::from_shape_fn(vec![shape[1]], |i| {
        rational_from_f64(0.25 * (i[0] as f64 + 1.0)).unwrap()
    });
    let with_bias = Reference::correlate(&engine, &x, &w, Some(&bias), &g).unwrap();
    let report = judge(&with_bias, &good, Precision::Fp32);
    assert!(report.failed_share() > 0.9, "{}", report.render());
    assert_eq!(report.failures[0].index, vec![0, 0, 0, 0]);

    // An off-by-one shift along the last axis.
    let mut shifted = good.clone();
    let last = shape.len() - 1;
    for (index, v) in shifted.indexed_iter_mut() {
        let mut from = ndarray::Dimension::slice(&index).to_vec();
        from[last] = (from[last] + 1) % shape[last];
        *v = good[&from[..]];
    }
    let report = judge(&reference, &shifted, Precision::Fp32);
    assert!(report.failed_share() > 0.9, "{}", report.render());

    // NaN at one element fails there; a wrong shape is refused.
    let mut nan = good.clone();
    nan[&target[..]] = f64::NAN;
    let report = judge(&reference, &nan, Precision::Fp32);
    assert_eq!(report.failed, 1);
    assert_eq!(report.failures[0].index, target);
    let wrong_shape = ArrayD::<f64>::zeros(vec![1, 2, 3]);
    assert!(check(
        &reference,
        wrong_shape.view(),
        Precision::Fp32,
        &CheckOptions::default()
    )
    .is_err());
}

/// The fp32 bound of one element, recomputed from the contract.
fn report_bound(reference: &Reference, index: &[usize]) -> Rational {
    let contract = convspec::oracle::Contract::new(
        Precision::Fp32,
        &reference.reduction,
        true,
        convspec::oracle::Cut::Truncation,
        convspec::oracle::Accumulation::Any,
    );
    contract.bound(&reference.exact_at(index), &reference.magnitude_at(index))
}

/// The reference built from scaled integers (floats read straight, as `check` reads `.npy`
/// operands) is the one built from rationals: y, S, the reduction and the input formats, on
/// the smaller cuDNN cases (the large one takes long in a debug build), with and without a
/// bias, and on values outside the narrow formats.
#[test]
fn the_scaled_reference_is_the_rational_one() {
    use convspec::exact::ScaledTensor;
    let engine = ExactEngine::new(2);
    for case in ["strided_dilated_grouped", "conv1d_long"] {
        let (x, w) = (exact(case, "x"), exact(case, "w"));
        let scaled = |t: &ArrayD<Rational>| ScaledTensor::from_rationals(t.view());
        let bias = ArrayD::from_shape_fn(ndarray::IxDyn(&[w.shape()[0]]), |i| {
            rational_from_f64(i[0] as f64 * 0.375 - 1.0).unwrap()
        });
        for b in [None, Some(&bias)] {
            let rational = Reference::correlate(&engine, &x, &w, b, &geometry(case)).unwrap();
            let sb = b.map(scaled);
            let from_scaled = Reference::correlate_scaled(
                &engine,
                &scaled(&x),
                &scaled(&w),
                sb.as_ref(),
                &geometry(case),
            )
            .unwrap();
            assert_eq!(
                from_scaled.exact.to_rationals(),
                rational.exact.to_rationals(),
                "{case}"
            );
            assert_eq!(
                from_scaled.magnitude.to_rationals(),
                rational.magnitude.to_rationals()
            );
            assert_eq!(from_scaled.reduction, rational.reduction, "{case}");
            assert_eq!(
                from_scaled.inputs_in_format, rational.inputs_in_format,
                "{case}"
            );
        }
    }
    // Values outside fp16's range and precision: the formats met differ per tensor and agree.
    let x = ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 1, 3]), vec![1.0e5, 3.0, -2.5e-8]).unwrap();
    let w = ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 1, 2]), vec![0.1, 1.0]).unwrap();
    let (xq, wq) = (
        x.mapv(|v| rational_from_f64(v).unwrap()),
        w.mapv(|v| rational_from_f64(v).unwrap()),
    );
    let g = ConvGeometry::new(1);
    let rational = Reference::correlate(&engine, &xq, &wq, None, &g).unwrap();
    let from_scaled = Reference::correlate_scaled(
        &engine,
        &ScaledTensor::from_f64(x.view()).unwrap(),
        &ScaledTensor::from_f64(w.view()).unwrap(),
        None,
        &g,
    )
    .unwrap();
    assert_eq!(from_scaled.inputs_in_format, rational.inputs_in_format);
    assert_eq!(from_scaled.reduction, rational.reduction);
    assert_eq!(
        rational.inputs_in_format,
        [true, false, false, false, false]
    );
    // A grouped, strided transposed convolution with a bias.
    let x = ArrayD::from_shape_fn(ndarray::IxDyn(&[2, 4, 5, 3]), |i| {
        (i[1] as f64 - 1.5) * 0.3 + (i[2] * i[3]) as f64 * 1.0e-3
    });
    let w = ArrayD::from_shape_fn(ndarray::IxDyn(&[4, 3, 2, 3]), |i| {
        (i[0] + 2 * i[1]) as f64 / 7.0 - (i[2] + i[3]) as f64
    });
    let b = ArrayD::from_shape_fn(ndarray::IxDyn(&[6]), |i| i[0] as f64 - 2.5);
    let q = |t: &ArrayD<f64>| t.mapv(|v| rational_from_f64(v).unwrap());
    let s = |t: &ArrayD<f64>| ScaledTensor::from_f64(t.view()).unwrap();
    let t = convspec::geometry::TransposeGeometry::new(2)
        .with_stride(vec![2, 1])
        .with_output_padding(vec![1, 0])
        .with_groups(2);
    let rational = Reference::conv_transpose(&engine, &q(&x), &q(&w), Some(&q(&b)), &t).unwrap();
    let from_scaled =
        Reference::conv_transpose_scaled(&engine, &s(&x), &s(&w), Some(&s(&b)), &t).unwrap();
    assert_eq!(
        from_scaled.exact.to_rationals(),
        rational.exact.to_rationals()
    );
    assert_eq!(
        from_scaled.magnitude.to_rationals(),
        rational.magnitude.to_rationals()
    );
    assert_eq!(from_scaled.reduction, rational.reduction);
    assert_eq!(from_scaled.inputs_in_format, rational.inputs_in_format);
}

/// The contracts met are found element by element, skipping those the claimed contract
/// implies only where that is sound: an fp32 output meets fp32 and TF32 (whose bound is larger
/// and whose output format is the same), not fp64 (smaller bound) and not fp16 or bf16 (larger
/// bounds, but outputs in another format).
#[test]
fn contracts_met_are_the_implied_ones_only() {
    let engine = ExactEngine::new(2);
    let case = "strided_dilated_grouped";
    let (x, w) = (exact(case, "x"), exact(case, "w"));
    let reference = Reference::correlate(&engine, &x, &w, None, &geometry(case)).unwrap();
    let strict = candidate(case, "y_fp32_strict");
    for claimed in [Precision::Fp32, Precision::Tf32] {
        let report = judge(&reference, &strict, claimed);
        assert_eq!(
            report.contracts_met,
            vec![Precision::Fp32, Precision::Tf32],
            "claimed {claimed:?}"
        );
    }
}
