//! # convspec: the exact, executable specification of the convolutional layer
//!
//! * [`scalar`]: the ring/field traits the specification is generic over; exact rationals;
//!   exact float -> rational conversion and correct rounding back to f64/f32/f16/bf16/TF32.
//! * [`geometry`]: stride, dilation, groups, padding rules (explicit, valid, full, PyTorch's and
//!   ONNX's 'same'), padding modes, output sizes, parameter and MAC counts, receptive fields.
//! * [`reference`](mod@reference): the operators written straight from their formulas: [`reference::correlate`]
//!   (what frameworks call "conv"), [`reference::convolve`] (true convolution), NumPy's and
//!   SciPy's convolution functions.
//! * [`exact`]: the fast exact engine (integers scaled from floats or rationals, products
//!   modulo primes exact in f64, Chinese remaindering), identical to the reference, with threads.
//! * [`toeplitz`]: every linear operator as an explicit matrix (nalgebra `DMatrix`), built from
//!   its index map; `scipy.linalg.convolution_matrix` and `toeplitz`.
//! * [`symbolic`]: multivariate polynomials with exact rational coefficients (x_{11}, k_{22}),
//!   a scalar of the engine; rendering as text and LaTeX.
//! * [`laws`]: the laws of convolution and pooling as reusable checks returning counterexamples;
//!   symbolic proofs for every shape up to a bound; proptest strategies (`proptest-support`).
//! * [`oracle`]: judges another implementation's output against the exact result with a
//!   rigorous floating-point error bound per element (fp64, fp32, TF32, fp16, bf16).
//! * [`io`]: `.npy` and exact JSON.
//! * [`seed`]: the worked examples of the seed document and what it got wrong.

//! * [`float`]: float kernels (direct, im2col + GEMM, Winograd, FFT) whose error bounds the
//!   oracle checks; [`index`]: C-order multi-indices; [`limits`]: the memory guard;
//!   [`vectors`]: conformance vectors for other implementations.
//!
//! # Quick start
//!
//! ```
//! use convspec::exact::ExactEngine;
//! use convspec::geometry::ConvGeometry;
//! use convspec::ndarray::{ArrayD, IxDyn};
//! use convspec::oracle::{check, CheckOptions, Precision, Reference};
//! use convspec::scalar::exact;
//!
//! // conv1d(x, w, padding=1) on float32 data, exactly.
//! let x32 = ArrayD::from_shape_vec(IxDyn(&[1, 1, 4]), vec![0.1f32, 0.2, 0.3, 0.4]).unwrap();
//! let w32 = ArrayD::from_shape_vec(IxDyn(&[1, 1, 3]), vec![1.0f32, -2.0, 0.5]).unwrap();
//! let (x, w) = (exact(&x32).unwrap(), exact(&w32).unwrap());
//! let geometry = ConvGeometry::new(1).padding(1);
//! let y = convspec::reference::correlate(&x, &w, None, &geometry).unwrap();
//!
//! // Is a float32 result legal? Here: the exact values rounded once, which is.
//! let candidate = y.mapv(|q| f64::from(convspec::scalar::round_to_f32(&q)));
//! let engine = ExactEngine::new(1);
//! let reference = Reference::correlate(&engine, &x, &w, None, &geometry).unwrap();
//! let report = check(&reference, candidate.view(), Precision::Fp32, &CheckOptions::default()).unwrap();
//! assert!(report.passed(), "{}", report.render());
//! ```
//!
//! `examples/quick_start.rs` goes on with the fast exact engine, the float engine and a law run
//! on a kernel of one's own.

#![deny(missing_docs)]

pub mod exact;
pub mod float;
#[doc(hidden)]
pub mod fuzzing;
pub mod geometry;
pub mod index;
pub mod io;
pub mod laws;
pub mod limits;
pub mod op;
pub mod oracle;
pub mod parallel;
pub mod reference;
pub mod scalar;
pub mod seed;
mod simd;
pub mod symbolic;
pub mod toeplitz;
pub mod vectors;

/// The array crate every tensor of the API is made of (`ArrayD`), re-exported so that callers
/// use the same version.
pub use ndarray;
