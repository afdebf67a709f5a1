//! The library call behind one exact layer from a float program (what the Python binding
//! runs for `convspec.conv2d(x, w, padding=1)`): float64 operands read exactly as scaled
//! integers, the fast exact engine, the output correctly rounded to float32. Timed on
//! ResNet-50's conv2 layer (x (1, 64, 56, 56), w (64, 64, 3, 3)), median of 7 runs per thread
//! count (the engine alone, and the whole pipeline), so that the Python call's and the command
//! line's overheads can be measured against it.
//!
//! Run: `cargo run --release --example layer_pipeline [x.npy w.npy]` (the operands from
//! .npy files, to time the same data as another program; the running time depends on the
//! data's exponent range, which sets the width of the scaled integers).

use convspec::exact::{ExactEngine, ScaledTensor};
use convspec::geometry::{ConvGeometry, Padding};
use convspec::ndarray::{ArrayD, IxDyn};
use convspec::scalar::FloatFormat;
use std::time::Instant;

fn main() {
    // Standard normal inputs and weights of a He-initialised layer, from a fixed generator.
    let mut state = 2026u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut normal = || {
        let (u, v) = (uniform(), uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let files: Vec<String> = std::env::args().skip(1).collect();
    let (x, w) = if let [x, w] = &files[..] {
        let read = |path: &str| {
            convspec::io::read_npy_f64(path.as_ref())
                .expect("an .npy file")
                .1
        };
        (read(x), read(w))
    } else {
        let x = ArrayD::from_shape_fn(IxDyn(&[1, 64, 56, 56]), |_| f64::from(normal() as f32));
        let w = ArrayD::from_shape_fn(IxDyn(&[64, 64, 3, 3]), |_| {
            f64::from((normal() / 24.0) as f32)
        });
        (x, w)
    };
    let geometry = ConvGeometry::new(2).with_padding(Padding::uniform(1, 2));
    for threads in [1, 2] {
        let engine = ExactEngine::new(threads);
        let (mut engine_alone, mut pipeline) = (Vec::new(), Vec::new());
        let (mut conversion, mut rounding) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            let start = Instant::now();
            let xs = ScaledTensor::from_f64(x.view()).expect("finite");
            let ws = ScaledTensor::from_f64(w.view()).expect("finite");
            let computing = Instant::now();
            conversion.push((computing - start).as_secs_f64() * 1e3);
            let y = engine
                .correlate(&xs, &ws, None, &geometry)
                .expect("a valid layer");
            engine_alone.push(computing.elapsed().as_secs_f64() * 1e3);
            let round_start = Instant::now();
            let rounded = y.rounded(FloatFormat::F32);
            rounding.push(round_start.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(rounded);
            pipeline.push(start.elapsed().as_secs_f64() * 1e3);
        }
        for (name, times) in [
            ("engine alone", &mut engine_alone),
            ("pipeline", &mut pipeline),
            ("conversion in", &mut conversion),
            ("rounding out", &mut rounding),
        ] {
            times.sort_by(f64::total_cmp);
            println!(
                "threads {threads}, {name}: median {:.1} ms (min {:.1}, max {:.1})",
                times[3], times[0], times[6]
            );
        }
    }
}
