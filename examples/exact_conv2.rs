//! One exact correlation of the ResNet-50 conv2 layer (1x64x56x56 input, 64x64x3x3 weight,
//! padding 1) on f32 data, timed: a driver for profilers (`perf record`, `valgrind --tool=callgrind`)
//! and for the peak resident memory (`/usr/bin/time -v`).
//!
//! Run: `cargo run --release --features bench --example exact_conv2 -- [threads] [repeats]`.

use convspec::exact::{ExactEngine, ScaledTensor};
use convspec::geometry::{ConvGeometry, Padding};
use ndarray::{ArrayD, IxDyn};
use std::time::Instant;

/// The command line's allocator (`src/bin/convspec/main.rs`), so that the engine alone and the
/// commands are timed alike.
#[cfg(feature = "cli")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// SplitMix64, as in `benches/exact.rs` (the same data).
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
        let (u, v) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// (nanoseconds on a CPU, nanoseconds waiting for one) of the calling thread, from
/// /proc/thread-self/schedstat (zeros where that file does not exist).
fn schedule() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut fields = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(0.0));
    (fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0))
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("threads and repeats are numbers"))
        .collect();
    let threads = args.first().copied().unwrap_or(1);
    let repeats = args.get(1).copied().unwrap_or(5);
    let mut rng = Rng(2026);
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 64, 56, 56]), |_| rng.normal() as f32);
    let w = ArrayD::from_shape_fn(IxDyn(&[64, 64, 3, 3]), |_| {
        ((rng.uniform() * 2.0 - 1.0) / 24.0) as f32
    });
    let geometry = ConvGeometry::new(2).with_padding(Padding::uniform(1, 2));
    let engine = ExactEngine::new(threads);
    for _ in 0..repeats {
        let start = Instant::now();
        let (run0, wait0) = schedule();
        let xs = ScaledTensor::from_f32(x.view()).unwrap();
        let ws = ScaledTensor::from_f32(w.view()).unwrap();
        let scaled = start.elapsed();
        let (run1, wait1) = schedule();
        let (y, plan) = engine
            .correlate_with_plan(&xs, &ws, None, &geometry)
            .unwrap();
        let total = start.elapsed();
        println!(
            "threads {threads}: scaling {:.2} ms (on cpu {:.2}, waiting {:.2}), engine {:.2} ms, total {:.2} ms, plan lanes {}, output {:?}",
            scaled.as_secs_f64() * 1e3,
            (run1 - run0) / 1e6,
            (wait1 - wait0) / 1e6,
            (total - scaled).as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
            plan.lanes(),
            y.shape()
        );
    }
}
