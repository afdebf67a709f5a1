//! convspec from Rust in one program: a layer computed exactly by the reference (the
//! specification), the same layer by the fast exact engine, in f32 by the float engine, the
//! f32 result judged by the oracle, and a law checked on a kernel of your own.
//!
//! Run: `cargo run --example quick_start` (built by `cargo test`).

use convspec::exact::{ExactEngine, ScaledTensor};
use convspec::float::{Algorithm, FloatEngine};
use convspec::geometry::TransposeGeometry;
use convspec::geometry::{ConvGeometry, ConvShape};
use convspec::laws::{interior_equivariance, Convolution};
use convspec::ndarray::{ArrayD, IxDyn};
use convspec::oracle::{check, CheckOptions, Precision, Reference};
use convspec::reference::{self, OpError};
use convspec::scalar::{exact, Rational};

/// A 1-D correlation written by hand, the way a kernel author would (groups 1): the "own
/// kernel" the law is run on. `off_by_one` reads one position too far, a typical indexing bug.
struct MyConv {
    off_by_one: bool,
}

impl Convolution<Rational> for MyConv {
    fn correlate(
        &self,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        geometry: &ConvGeometry,
    ) -> Result<ArrayD<Rational>, OpError> {
        let shape = ConvShape::new(x.shape(), w.shape(), None, geometry)?;
        let d = &shape.dims[0];
        let out_len = shape.output_spatial()[0];
        let mut y = ArrayD::from_elem(
            IxDyn(&[shape.batch, shape.out_channels, out_len]),
            Rational::default(),
        );
        for n in 0..shape.batch {
            for o in 0..shape.out_channels {
                for t in 0..out_len {
                    let mut sum = Rational::default();
                    for c in 0..shape.in_channels {
                        for j in 0..d.kernel {
                            let shift = usize::from(self.off_by_one && t > 0);
                            let i =
                                (t * d.stride + j * d.dilation + shift) as i64 - d.pad_begin as i64;
                            if (0..d.input as i64).contains(&i) {
                                sum += &w[[o, c, j]] * &x[[n, c, i as usize]];
                            }
                        }
                    }
                    y[[n, o, t]] = sum;
                }
            }
        }
        Ok(y)
    }

    fn convolve(
        &self,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        geometry: &ConvGeometry,
    ) -> Result<ArrayD<Rational>, OpError> {
        self.correlate(x, &reference::conv::flip_kernel(w), geometry)
    }

    fn conv_transpose(
        &self,
        x: &ArrayD<Rational>,
        w: &ArrayD<Rational>,
        geometry: &TransposeGeometry,
    ) -> Result<ArrayD<Rational>, OpError> {
        // Not written by hand here: the specification's.
        reference::conv_transpose(x, w, None, geometry)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A 2-D layer as PyTorch writes it: conv2d(x, w, b, padding=1), float32 data.
    let x32 = ArrayD::from_shape_fn(IxDyn(&[1, 3, 8, 8]), |i| {
        ((i[1] * 64 + i[2] * 8 + i[3]) % 17) as f32 / 7.0 - 1.0
    });
    let w32 = ArrayD::from_shape_fn(IxDyn(&[4, 3, 3, 3]), |i| {
        ((i[0] * 27 + i[1] * 9 + i[2] * 3 + i[3]) % 11) as f32 / 5.0 - 1.0
    });
    let b32 = ArrayD::from_shape_vec(IxDyn(&[4]), vec![0.5f32, -0.25, 0.0, 1.0])?;
    let geometry = ConvGeometry::new(2).padding(1);
    // Exact values of any array of floats, integers or rationals (a NaN is reported with its
    // index).
    let (x, w, b) = (exact(&x32)?, exact(&w32)?, exact(&b32)?);

    // 1. The specification: exact rationals, the formula as written.
    let y = reference::correlate(&x, &w, Some(&b), &geometry)?;
    println!("exact y[0, 0, 0, 0] = {}", y[[0, 0, 0, 0]]);

    // 2. The fast exact engine: the same values, at float-like speed.
    let engine = ExactEngine::new(2);
    let scaled = |t: &ArrayD<Rational>| ScaledTensor::from_rationals(t.view());
    let fast = engine.correlate(&scaled(&x), &scaled(&w), Some(&scaled(&b)), &geometry)?;
    assert_eq!(
        fast.to_rationals(),
        y,
        "the fast engine computes the specification"
    );

    // 3. The float engine in f32 (direct sums here; `None` lets the planner choose).
    let floats = FloatEngine::new(1);
    let (y32, algorithm) = floats.correlate(
        x32.view(),
        w32.view(),
        Some(b32.view()),
        &geometry,
        Some(Algorithm::DIRECT),
    )?;
    println!(
        "f32 y[0, 0, 0, 0] = {} ({})",
        y32[[0, 0, 0, 0]],
        algorithm.name()
    );

    // 4. The oracle: is the f32 output what fp32 arithmetic can produce?
    let reference = Reference::correlate(&engine, &x, &w, Some(&b), &geometry)?;
    let report = check(
        &reference,
        y32.view(),
        Precision::Fp32,
        &CheckOptions::default(),
    )?;
    print!("{}", report.render());
    assert!(report.passed());

    // 5. A law on your own kernel: shift equivariance away from the border. The correct kernel
    //    meets it; the off-by-one one does not (bilinearity would not have caught it).
    let x1 = ArrayD::from_shape_fn(IxDyn(&[1, 2, 12]), |i| {
        Rational::from_integer(((i[1] * 5 + i[2] * 3) % 7).into())
    });
    let w1 = ArrayD::from_shape_fn(IxDyn(&[2, 2, 3]), |i| {
        Rational::from_integer((i[0] + 2 * i[1] + i[2]).into())
    });
    interior_equivariance(
        &MyConv { off_by_one: false },
        &x1,
        &w1,
        &[(1, 1)],
        &[1],
        &[2],
    )?;
    match interior_equivariance(
        &MyConv { off_by_one: true },
        &x1,
        &w1,
        &[(1, 1)],
        &[1],
        &[2],
    ) {
        Ok(()) => println!("the off-by-one kernel went unnoticed"),
        Err(counterexample) => println!("the off-by-one kernel is caught:\n{counterexample}"),
    }
    Ok(())
}
