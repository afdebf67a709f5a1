//! Criterion benchmarks of the fast exact engine on the ResNet-50 conv2 layer (1x64x56x56
//! input, 64x64x3x3 weight, padding 1) on f32 data, at 1 and 2 threads.
//!
//! Data: the input standard normal, the weight uniform in [-1/24, 1/24) (PyTorch's default
//! `nn.Conv2d` initialisation for fan-in 576), both generated here from a fixed seed and rounded
//! to f32. `scripts/bench_exact.py` measures PyTorch's float64 convolution of the same layer
//! and FLINT's exact 1-D products for the side-by-side ratios.
//!
//! Run: `cargo bench --features bench --bench exact`.

use convspec::exact::{ExactEngine, ScaledTensor};
use convspec::geometry::{ConvGeometry, Padding};
use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{ArrayD, IxDyn};

/// A deterministic generator (SplitMix64) and the two distributions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        // Box-Muller.
        let (u, v) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// The conv2 layer's input and weight as f32 tensors.
pub fn conv2_data() -> (ArrayD<f32>, ArrayD<f32>) {
    let mut rng = Rng(2026);
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 64, 56, 56]), |_| rng.normal() as f32);
    let w = ArrayD::from_shape_fn(IxDyn(&[64, 64, 3, 3]), |_| {
        ((rng.uniform() * 2.0 - 1.0) / 24.0) as f32
    });
    (x, w)
}

/// A 1-D signal of standard normal f32 values, shaped (1, 1, n).
fn signal(n: usize, seed: u64) -> ArrayD<f32> {
    let mut rng = Rng(seed);
    ArrayD::from_shape_fn(IxDyn(&[1, 1, n]), |_| rng.normal() as f32)
}

fn bench_conv2(c: &mut Criterion) {
    let (x, w) = conv2_data();
    let geometry = ConvGeometry::new(2).with_padding(Padding::uniform(1, 2));
    let mut group = c.benchmark_group("exact_resnet50_conv2_3x3_f32");
    group.sample_size(10);
    // The operands are converted before the clock, as PyTorch's are (`.double()` outside its
    // timing in scripts/bench_exact_peers.py) and as the 1-D group does for FLINT; the
    // conversion is timed on its own below.
    let xs = ScaledTensor::from_f32(x.view()).unwrap();
    let ws = ScaledTensor::from_f32(w.view()).unwrap();
    for threads in [1, 2] {
        let engine = ExactEngine::new(threads);
        group.bench_function(format!("threads_{threads}"), |b| {
            b.iter(|| engine.correlate(&xs, &ws, None, &geometry).unwrap())
        });
    }
    group.bench_function("conversion_from_f32", |b| {
        b.iter(|| {
            (
                ScaledTensor::from_f32(x.view()).unwrap(),
                ScaledTensor::from_f32(w.view()).unwrap(),
            )
        })
    });
    group.finish();
}

/// Exact 1-D full convolution (np.convolve mode 'full') on f32 data, the sizes of
/// `scripts/anchors/exact1d_flint.py`.
fn bench_1d(c: &mut Criterion) {
    let mut group = c.benchmark_group("exact_1d_full_f32");
    group.sample_size(10);
    let engine = ExactEngine::new(1);
    for (n, k) in [
        (1000, 1000),
        (10000, 10000),
        (100000, 9),
        (1000000, 9),
        (100000, 1001),
    ] {
        // As the FLINT anchor, the operands are converted before the clock starts (there to
        // fmpq_poly, here to integers times a scale) and the product is what is timed.
        let xs = ScaledTensor::from_f32(signal(n, 1).view()).unwrap();
        let ws = ScaledTensor::from_f32(signal(k, 2).view()).unwrap();
        let geometry = ConvGeometry::new(1).with_padding(Padding::Full);
        group.bench_function(format!("n{n}_k{k}"), |b| {
            b.iter(|| engine.convolve(&xs, &ws, None, &geometry).unwrap())
        });
    }
    group.finish();
}

/// The stages around the engine on the conv2 layer, so that a regression in any of them shows:
/// floats in (f32 -> scaled integers), the output out (correctly rounded to f32 straight from the
/// integers, and the layer rounded in the engine's epilogue), the oracle's reference from the scaled operands (y and S), and its decision per
/// element (the check of a correctly rounded candidate, reference built before the clock).
fn bench_pipeline(c: &mut Criterion) {
    use convspec::oracle::{check, CheckOptions, Precision, Reference};
    use convspec::scalar::FloatFormat;
    let (x, w) = conv2_data();
    let geometry = ConvGeometry::new(2).with_padding(Padding::uniform(1, 2));
    let engine = ExactEngine::new(1);
    let xs = ScaledTensor::from_f32(x.view()).unwrap();
    let ws = ScaledTensor::from_f32(w.view()).unwrap();
    let y = engine.correlate(&xs, &ws, None, &geometry).unwrap();
    let mut group = c.benchmark_group("exact_resnet50_conv2_pipeline");
    group.sample_size(10);
    group.bench_function("rounding_out_f32", |b| {
        b.iter(|| y.rounded(FloatFormat::F32))
    });
    // The layer and its rounding together, as `convspec correlate` runs them: each value
    // rounded in the engine's epilogue (compare with the engine alone plus rounding_out_f32).
    group.bench_function("layer_rounded_as_made_f32", |b| {
        b.iter(|| {
            engine
                .correlate_rounded([&xs, &ws], None, &geometry, FloatFormat::F32, |v| v as f32)
                .unwrap()
        })
    });
    group.bench_function("oracle_reference_scaled", |b| {
        b.iter(|| Reference::correlate_scaled(&engine, &xs, &ws, None, &geometry).unwrap())
    });
    let reference = Reference::correlate_scaled(&engine, &xs, &ws, None, &geometry).unwrap();
    let candidate = ArrayD::from_shape_vec(IxDyn(y.shape()), y.rounded(FloatFormat::F32)).unwrap();
    group.bench_function("oracle_decision_all_elements", |b| {
        b.iter(|| {
            check(
                &reference,
                candidate.view(),
                Precision::Fp32,
                &CheckOptions::default(),
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_conv2, bench_1d, bench_pipeline);
criterion_main!(benches);
