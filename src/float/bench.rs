//! The benchmark layers of `convspec bench` and `benches/float.rs`, named as in
//! `scripts/anchors/conv2d_onnxruntime.py` so that figures can be set side by side, and the
//! timing rule of that script (median of 10 runs after 3 warm-ups; GFLOP/s counted as
//! direct-convolution flops 2 N C_out P (C_in/G) prod(k), whatever the algorithm).

use super::{Algorithm, FloatEngine, FloatScalar, Problem};
use crate::geometry::{ConvGeometry, ConvShape, Padding};
use crate::reference::OpError;
use ndarray::{ArrayD, IxDyn};
use std::time::Instant;

/// One benchmark layer.
#[derive(Debug, Clone)]
pub struct BenchLayer {
    /// The anchor script's name (`resnet50_conv2_3x3`, ...).
    pub name: &'static str,
    /// Input shape.
    pub input: Vec<usize>,
    /// Weight shape.
    pub weight: Vec<usize>,
    /// Geometry.
    pub geometry: ConvGeometry,
}

impl BenchLayer {
    /// Whether an algorithm computes this layer in f32 ([`Algorithm::accepts`]).
    pub fn supports(&self, algorithm: Algorithm) -> bool {
        ConvShape::new(&self.input, &self.weight, None, &self.geometry).is_ok_and(|shape| {
            let problem = Problem::new(shape, self.geometry.padding_mode, 4);
            algorithm.accepts(&problem).is_ok()
        })
    }

    /// Direct-convolution flops: 2 N C_out P (C_in/G) prod(k).
    pub fn flops(&self) -> Result<f64, OpError> {
        let shape = ConvShape::new(&self.input, &self.weight, None, &self.geometry)?;
        Ok(2.0 * shape.macs()? as f64)
    }
}

fn square(
    name: &'static str,
    c_in: usize,
    hw: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> BenchLayer {
    BenchLayer {
        name,
        input: vec![1, c_in, hw, hw],
        weight: vec![c_out, c_in, k, k],
        geometry: ConvGeometry::new(2)
            .with_stride(vec![stride; 2])
            .with_padding(Padding::uniform(pad, 2)),
    }
}

/// The layers: the anchor script's five ResNet-50 layers, a depthwise 3x3 layer, and 1-D
/// full convolutions of n = 10^6 with k = 9 and k = 1001 and of n = 10^5 with k = 10001.
pub fn layers() -> Vec<BenchLayer> {
    let mut layers = vec![
        square("resnet50_conv2_3x3", 64, 56, 64, 3, 1, 1),
        square("resnet50_conv3_3x3", 128, 28, 128, 3, 1, 1),
        square("resnet50_conv4_3x3", 256, 14, 256, 3, 1, 1),
        square("resnet50_stem_7x7s2", 3, 224, 64, 7, 2, 3),
        square("resnet50_conv2_1x1", 256, 56, 64, 1, 1, 0),
    ];
    layers.push(BenchLayer {
        name: "mobilenet_depthwise_3x3",
        input: vec![1, 128, 56, 56],
        weight: vec![128, 1, 3, 3],
        geometry: ConvGeometry::new(2)
            .with_groups(128)
            .with_padding(Padding::uniform(1, 2)),
    });
    for (name, n, k) in [
        ("signal_1e6_k9", 1_000_000, 9),
        ("signal_1e6_k1001", 1_000_000, 1001),
        ("signal_1e5_k10001", 100_000, 10001),
    ] {
        layers.push(BenchLayer {
            name,
            input: vec![1, 1, n],
            weight: vec![1, 1, k],
            geometry: ConvGeometry::new(1).with_padding(Padding::Full),
        });
    }
    layers
}

/// Uniform values in [0, 1) (as the anchor script's `np.random.rand`), deterministic.
pub fn data<T: FloatScalar>(shape: &[usize], seed: u64, cast: impl Fn(f64) -> T) -> ArrayD<T> {
    let mut state = seed;
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        cast(((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64)
    })
}

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// The algorithm used.
    pub algorithm: Algorithm,
    /// Median milliseconds.
    pub ms: f64,
    /// Direct-convolution GFLOP/s at the median.
    pub gflops: f64,
}

/// Times `layer` in T on `engine`: 3 warm-ups, then the median of `runs` runs of the layer
/// prepared once ([`FloatEngine::prepare`]: the weight packed before timing, as the peers'
/// timed calls reuse the weights their session or primitive packed).
pub fn time<T: FloatScalar>(
    engine: &FloatEngine,
    layer: &BenchLayer,
    algorithm: Option<Algorithm>,
    runs: usize,
    cast: impl Fn(f64) -> T + Copy,
) -> Result<Timing, OpError> {
    let x = data(&layer.input, 1, cast);
    let w = data(&layer.weight, 2, cast);
    let prepared = engine.prepare(w.view(), None, &layer.geometry, algorithm)?;
    let mut used = Algorithm::DIRECT;
    for _ in 0..3 {
        used = prepared.run(x.view())?.1;
    }
    let mut times = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let y = prepared.run(x.view())?;
        times.push(start.elapsed().as_secs_f64());
        std::hint::black_box(y);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(Timing {
        algorithm: used,
        ms: median * 1e3,
        gflops: layer.flops()? / median / 1e9,
    })
}
