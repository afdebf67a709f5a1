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

#![deny(missing_docs)]

pub mod exact;
pub mod float;
pub mod fuzzing;
pub mod geometry;
pub mod index;
pub mod io;
pub mod laws;
pub mod limits;
pub mod oracle;
mod parallel;
pub mod reference;
pub mod scalar;
pub mod seed;
mod simd;
pub mod symbolic;
pub mod toeplitz;
pub mod vectors;
