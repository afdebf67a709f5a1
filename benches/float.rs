//! Criterion benchmarks of the float kernels on the layers of `convspec bench` (the anchor
//! script's ResNet-50 layers, a depthwise layer, the 1-D signals), each algorithm that
//! computes the layer at 1 and 2 threads, f32; and in the same run the Rust peer ndarray-conv
//! 0.5 on the layers it computes (it has no channel axis: the 1-D signals, and the depthwise
//! layer as one 2-D correlation per channel), with its direct `conv` and its `conv_fft` (a
//! processor kept across iterations, so that its FFT plans are cached as ours are). Python
//! peers are measured by `scripts/anchors/conv2d_onnxruntime.py` and
//! `scripts/bench_float_peers.py` in the same sitting.
//!
//! Run: `cargo bench --features bench --bench float`.

use convspec::float::bench::{data, layers, BenchLayer};
use convspec::float::{Algorithm, FloatEngine};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use ndarray::{Array1, Array2, Axis, Ix2};
use ndarray_conv::{get_fft_processor, ConvExt, ConvFFTExt, ConvMode, PaddingMode, ReverseKernel};

/// Whether an algorithm is worth timing on a layer: im2col copies a long kernel's signal k
/// times (seconds per call on the k = 1001 and 10001 signals), and Winograd applies to 3x3
/// stride-1 layers only.
fn timed(layer: &BenchLayer, algorithm: Algorithm) -> bool {
    let long_signal = layer.name.starts_with("signal_1e") && layer.name != "signal_1e6_k9";
    layer.supports(algorithm) && !(long_signal && algorithm == Algorithm::IM2COL)
}

/// ndarray-conv on the layers it computes: cross-correlation (`no_reverse`) with the layer's
/// padding, f32.
fn ndarray_conv_peer(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    layer: &BenchLayer,
    x: &ndarray::ArrayD<f32>,
    w: &ndarray::ArrayD<f32>,
) {
    if layer.name.starts_with("signal_1e") {
        let x: Array1<f32> = x
            .view()
            .into_shape_with_order(layer.input[2])
            .unwrap()
            .to_owned();
        let w: Array1<f32> = w
            .view()
            .into_shape_with_order(layer.weight[2])
            .unwrap()
            .to_owned();
        // Its direct sum on the short kernel only (the long ones take seconds per call).
        if layer.weight[2] <= 9 {
            group.bench_function("ndarray_conv_direct_threads_1", |b| {
                b.iter(|| {
                    x.conv(
                        w.no_reverse(),
                        ConvMode::<1>::Full,
                        PaddingMode::<1, f32>::Zeros,
                    )
                    .unwrap()
                })
            });
        }
        let mut processor = get_fft_processor::<f32, f32>();
        group.bench_function("ndarray_conv_fft_threads_1", |b| {
            b.iter(|| {
                x.conv_fft_with_processor(
                    w.no_reverse(),
                    ConvMode::<1>::Full,
                    PaddingMode::<1, f32>::Zeros,
                    &mut processor,
                )
                .unwrap()
            })
        });
    } else if layer.name == "mobilenet_depthwise_3x3" {
        let channels: Vec<Array2<f32>> = x
            .index_axis(Axis(0), 0)
            .axis_iter(Axis(0))
            .map(|c| c.into_dimensionality::<Ix2>().unwrap().to_owned())
            .collect();
        let kernels: Vec<Array2<f32>> = w
            .axis_iter(Axis(0))
            .map(|k| {
                k.index_axis(Axis(0), 0)
                    .into_dimensionality::<Ix2>()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        group.bench_function("ndarray_conv_direct_threads_1", |b| {
            b.iter(|| {
                channels
                    .iter()
                    .zip(&kernels)
                    .map(|(c, k)| {
                        c.conv(
                            k.no_reverse(),
                            ConvMode::<2>::Same,
                            PaddingMode::<2, f32>::Zeros,
                        )
                        .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        });
        let mut processor = get_fft_processor::<f32, f32>();
        group.bench_function("ndarray_conv_fft_threads_1", |b| {
            b.iter(|| {
                channels
                    .iter()
                    .zip(&kernels)
                    .map(|(c, k)| {
                        c.conv_fft_with_processor(
                            k.no_reverse(),
                            ConvMode::<2>::Same,
                            PaddingMode::<2, f32>::Zeros,
                            &mut processor,
                        )
                        .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        });
    }
}

fn bench_layers(c: &mut Criterion) {
    for layer in layers() {
        let x = data(&layer.input, 1, |v| v as f32);
        let w = data(&layer.weight, 2, |v| v as f32);
        let mut group = c.benchmark_group(format!("float_{}_f32", layer.name));
        group.sample_size(10);
        for threads in [1, 2] {
            let engine = FloatEngine::new(threads);
            for algorithm in Algorithm::ALL.into_iter().filter(|&a| timed(&layer, a)) {
                // The layer prepared once (weight packed), as `convspec bench` times it.
                let prepared = engine
                    .prepare(w.view(), None, &layer.geometry, Some(algorithm))
                    .unwrap();
                group.bench_function(format!("{}_threads_{threads}", algorithm.name()), |b| {
                    b.iter(|| prepared.run(x.view()).unwrap())
                });
            }
        }
        ndarray_conv_peer(&mut group, &layer, &x, &w);
        group.finish();
    }
}

criterion_group!(benches, bench_layers);
criterion_main!(benches);
