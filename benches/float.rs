//! Criterion benchmarks of the float kernels on the layers of `convspec bench` (the anchor
//! script's ResNet-50 layers, a depthwise layer, a 1-D signal), each algorithm at 1 and 2
//! threads, f32. Peers are measured by `../shared/anchors/conv2d_onnxruntime.py` and
//! `scripts/bench_float_peers.py` in the same sitting.
//!
//! Run: `cargo bench --features bench --bench float`.

use convspec::float::bench::{data, layers};
use convspec::float::{Algorithm, FloatEngine};
use criterion::{criterion_group, criterion_main, Criterion};

fn bench_layers(c: &mut Criterion) {
    for layer in layers()
        .into_iter()
        .filter(|l| !l.name.starts_with("signal_1e") || l.name == "signal_1e6_k9")
    {
        let x = data(&layer.input, 1, |v| v as f32);
        let w = data(&layer.weight, 2, |v| v as f32);
        let mut group = c.benchmark_group(format!("float_{}_f32", layer.name));
        group.sample_size(10);
        for threads in [1, 2] {
            let engine = FloatEngine::new(threads);
            for algorithm in Algorithm::ALL.into_iter().filter(|&a| layer.supports(a)) {
                group.bench_function(format!("{}_threads_{threads}", algorithm.name()), |b| {
                    b.iter(|| {
                        engine
                            .correlate(x.view(), w.view(), None, &layer.geometry, Some(algorithm))
                            .unwrap()
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench_layers);
criterion_main!(benches);
