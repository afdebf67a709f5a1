//! Exact 1-D full convolution (np.convolve mode 'full') of float32 signals, timed: a driver for
//! profilers (`perf record`, `valgrind --tool=callgrind`) at the sizes of
//! `scripts/anchors/exact1d_flint.py`.
//!
//! Run: `cargo run --release --features bench --example exact_1d -- n k [repeats]`.

use convspec::exact::{ExactEngine, ScaledTensor};
use convspec::geometry::{ConvGeometry, Padding};
use ndarray::{ArrayD, IxDyn};
use std::time::Instant;

/// A float32 signal with normally distributed values (SplitMix64 and Box-Muller).
fn signal(n: usize, seed: u64) -> ArrayD<f32> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    ArrayD::from_shape_fn(IxDyn(&[1, 1, n]), |_| {
        let (u, v) = (1.0 - next(), next());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    })
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("n, k and repeats are numbers"))
        .collect();
    let (n, k) = (args[0], args[1]);
    let repeats = args.get(2).copied().unwrap_or(20);
    let x = ScaledTensor::from_f32(signal(n, 1).view()).expect("finite");
    let w = ScaledTensor::from_f32(signal(k, 2).view()).expect("finite");
    let engine = ExactEngine::new(1);
    let geometry = ConvGeometry::new(1).with_padding(Padding::Full);
    let (_, plan) = engine
        .correlate_with_plan(&x, &w.flip_spatial(2), None, &geometry)
        .expect("valid");
    let mut times = Vec::new();
    for _ in 0..repeats {
        let start = Instant::now();
        let y = engine.convolve(&x, &w, None, &geometry).expect("valid");
        times.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(y);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "n = {n}, k = {k}, {plan:?}: median {:.3} ms, min {:.3} ms over {repeats} runs",
        times[times.len() / 2],
        times[0]
    );
}
