//! Criterion benchmarks of the reference engine: the same small layer over exact rationals and
//! over f64 (the reference is the specification, not a fast engine; this measures its cost).

use convspec::geometry::{ConvGeometry, Padding};
use convspec::reference::correlate;
use convspec::scalar::{rational_from_f64, round_to_f64, Rational};
use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{ArrayD, IxDyn};

fn data(shape: &[usize], seed: u64) -> ArrayD<Rational> {
    let mut state = seed;
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        rational_from_f64(((state >> 40) as f64 / (1u64 << 24) as f64) - 0.5).unwrap()
    })
}

fn bench_small_layer(c: &mut Criterion) {
    let x = data(&[1, 8, 16, 16], 1);
    let w = data(&[8, 8, 3, 3], 2);
    let geometry = ConvGeometry::new(2).with_padding(Padding::uniform(1, 2));
    let xf = x.mapv(|q| round_to_f64(&q));
    let wf = w.mapv(|q| round_to_f64(&q));
    let mut group = c.benchmark_group("reference_correlate_1x8x16x16_k3");
    group.sample_size(10);
    group.bench_function("rational", |b| {
        b.iter(|| correlate(&x, &w, None, &geometry).unwrap())
    });
    group.bench_function("f64", |b| {
        b.iter(|| correlate(&xf, &wf, None, &geometry).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_small_layer);
criterion_main!(benches);
