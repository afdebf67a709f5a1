//! The library call behind one exact layer from a float program (what the Python binding
//! runs for `convspec.conv2d(x, w, padding=1)`): float64 operands read exactly as scaled
//! integers, the fast exact engine, the output correctly rounded to float32. Timed on
//! ResNet-50's conv2 layer (x (1, 64, 56, 56), w (64, 64, 3, 3)), median of 7 runs per thread
//! count (the engine alone, and the whole pipeline), so that the Python call's and the command
//! line's overheads can be measured against it.
//!
//! Run: `cargo run --release --example layer_pipeline [x.npy w.npy [threads]]` (the operands
//! from .npy files, to time the same data as another program; the running time depends on the
//! data's exponent range, which sets the width of the scaled integers). Every step runs in a
//! pool of the given thread count (1 and 2 when none is given). Also times the oracle on the
//! rounded output: y and S, then the decision of every element.

use convspec::exact::{ExactEngine, ScaledTensor};
use convspec::geometry::{ConvGeometry, Padding};
use convspec::ndarray::{ArrayD, IxDyn};
use convspec::oracle::{check, CheckOptions, Precision, Reference};
use convspec::scalar::FloatFormat;
use std::time::Instant;

/// The command line's allocator (`src/bin/convspec/main.rs`), so that the engine alone and the
/// commands are timed alike.
#[cfg(feature = "cli")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let (x, w) = if let [x, w, ..] = &files[..] {
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
    let counts = match files.get(2) {
        Some(t) => vec![t.parse().expect("a thread count")],
        None => vec![1, 2],
    };
    for threads in counts {
        let engine = ExactEngine::new(threads);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        let (mut engine_alone, mut pipeline) = (Vec::new(), Vec::new());
        let (mut conversion, mut rounding) = (Vec::new(), Vec::new());
        let (mut reference, mut decision) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            pool.install(|| {
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
                pipeline.push(start.elapsed().as_secs_f64() * 1e3);
                // The oracle on the rounded output: y and S, then every element decided.
                let oracle_start = Instant::now();
                let exact = Reference::correlate_scaled(&engine, &xs, &ws, None, &geometry)
                    .expect("a valid layer");
                let deciding = Instant::now();
                reference.push((deciding - oracle_start).as_secs_f64() * 1e3);
                let candidate =
                    ArrayD::from_shape_vec(IxDyn(y.shape()), rounded).expect("y's shape");
                let report = check(
                    &exact,
                    candidate.view(),
                    Precision::Fp32,
                    &CheckOptions::default(),
                );
                decision.push(deciding.elapsed().as_secs_f64() * 1e3);
                assert_eq!(
                    report.expect("same shape").failed,
                    0,
                    "a correct rounding passes"
                );
            });
        }
        for (name, times) in [
            ("engine alone", &mut engine_alone),
            ("pipeline", &mut pipeline),
            ("conversion in", &mut conversion),
            ("rounding out", &mut rounding),
            ("oracle's y and S", &mut reference),
            ("oracle's decision", &mut decision),
        ] {
            times.sort_by(f64::total_cmp);
            println!(
                "threads {threads}, {name}: median {:.1} ms (min {:.1}, max {:.1})",
                times[3], times[0], times[6]
            );
        }
    }
}
