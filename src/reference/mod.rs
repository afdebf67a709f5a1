//! The reference engine: the specification of each operator, written straight from its formula
//! and generic over the scalar ([`Ring`](crate::scalar::Ring)).
//!
//! Nothing here is optimised at the cost of clarity. Faster engines are checked against it.
//!
//! # Naming
//!
//! * [`correlate`] is cross-correlation, y[i] = sum_j w[j] x[i*s + j*d - p]: what PyTorch
//!   (`torch.nn.functional.conv1d/2d/3d`), ONNX `Conv`, JAX `lax.conv_general_dilated` and
//!   TensorFlow `tf.nn.conv2d` call convolution.
//! * [`convolve`] is true convolution: the same with the kernel flipped in every spatial
//!   dimension, (x * w)[t] = sum_tau x[t - tau] w[tau] with padding 'full', the seed's operation
//!   and the mathematician's.
//! * [`numpy`] and [`scipy`] reproduce `np.convolve` / `np.correlate` and
//!   `scipy.signal.convolve` / `correlate` / `convolve2d` / `correlate2d` exactly.

pub mod conv;
pub mod numpy;
pub mod scipy;

pub use conv::{convolve, correlate};

use crate::geometry::GeometryError;
use thiserror::Error;

/// Why an operation cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpError {
    /// The layer geometry or the tensor shapes are inconsistent.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    /// Arguments that the library being reproduced refuses.
    #[error("{0}")]
    Invalid(String),
}
