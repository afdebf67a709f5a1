//! The reference engine: the specification of each operator, written straight from its formula
//! and generic over the scalar ([`Ring`](crate::scalar::Ring)).
//!
//! Nothing here is optimised at the cost of clarity. Faster engines are checked against it.
//!
//! # Naming
//!
//! * [`correlate`] is cross-correlation, y\[i\] = sum_j w\[j\] x[i*s + j*d - p]: what PyTorch
//!   (`torch.nn.functional.conv1d/2d/3d`), ONNX `Conv`, JAX `lax.conv_general_dilated` and
//!   TensorFlow `tf.nn.conv2d` call convolution.
//! * [`convolve`] is true convolution: the same with the kernel flipped in every spatial
//!   dimension, (x * w)\[t\] = sum_tau x[t - tau] w\[tau\] with padding 'full', the seed's operation
//!   and the mathematician's.
//! * [`conv_transpose`] is the transposed convolution (the adjoint of [`correlate`]), [`pool`]
//!   the pooling family, [`backward`] the gradients, [`unfold()`] im2col / col2im.
//! * [`numpy`] and [`scipy`] reproduce `np.convolve` / `np.correlate` and
//!   `scipy.signal.convolve` / `correlate` / `convolve2d` / `correlate2d` exactly.

pub mod backward;
pub mod conv;
pub mod numpy;
pub mod pool;
pub mod scipy;
pub mod transpose;
pub mod unfold;

pub use backward::{correlate_backward, ConvGradients};
pub use conv::{convolve, correlate};
pub use pool::{
    adaptive_avg_pool, adaptive_max_pool, avg_pool, global_avg_pool, global_max_pool, max_pool,
    AvgOptions, MaxPoolOutput,
};
pub use transpose::conv_transpose;
pub use unfold::{fold, unfold, UnfoldParams};

use crate::geometry::GeometryError;
use ndarray::{ArrayD, Axis};

/// Why an operation cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The layer geometry or the tensor shapes are inconsistent.
    Geometry(GeometryError),
    /// Arguments that the library being reproduced refuses.
    Invalid(String),
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Geometry(inner) => std::fmt::Display::fmt(inner, f),
            OpError::Invalid(v0) => write!(f, "{v0}"),
        }
    }
}

impl std::error::Error for OpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpError::Geometry(inner) => std::error::Error::source(inner),
            _ => None,
        }
    }
}

impl From<GeometryError> for OpError {
    fn from(error: GeometryError) -> Self {
        OpError::Geometry(error)
    }
}

/// PyTorch's unbatched form: runs `layer` on `input` with a batch axis of size 1 in front and
/// removes that axis from the result.
pub(crate) fn unbatched<T: Clone>(
    input: &ArrayD<T>,
    layer: impl FnOnce(&ArrayD<T>) -> Result<ArrayD<T>, OpError>,
) -> Result<ArrayD<T>, OpError> {
    let batched = input.clone().insert_axis(Axis(0));
    Ok(layer(&batched)?.index_axis_move(Axis(0), 0))
}

/// A bias must be 1-D, (C_out,).
pub(crate) fn check_bias<T>(bias: Option<&ArrayD<T>>) -> Result<(), OpError> {
    match bias {
        Some(b) if b.ndim() != 1 => Err(OpError::Invalid(format!(
            "bias must be 1-D (C_out,), got shape {:?}",
            b.shape()
        ))),
        _ => Ok(()),
    }
}
