//! Pooling window geometry (sizes only; the pooling operators come with the layer family).

use super::{effective_kernel, GeometryError};

/// Geometry of a pooling layer in one spatial dimension, PyTorch's `MaxPool`/`AvgPool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolGeometry {
    /// Window size k.
    pub kernel: usize,
    /// Stride s (PyTorch's default is the kernel size).
    pub stride: usize,
    /// Padding before.
    pub pad_begin: usize,
    /// Padding after.
    pub pad_end: usize,
    /// Dilation d (max pooling only; 1 for average pooling).
    pub dilation: usize,
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
}

/// PyTorch's pooling output size (`pooling_output_shape`):
///
/// ```text
/// O = floor_or_ceil((L + p_b + p_e - d(k-1) - 1) / s) + 1,
/// and with ceil_mode, O -= 1 when (O - 1) s >= L + p_b
/// ```
///
/// (the last window must start inside the input or the left padding). Refuses padding beyond
/// half the effective kernel, as PyTorch does, and windows that leave no output.
pub fn pool_output_size(
    dim: usize,
    input: usize,
    g: &PoolGeometry,
) -> Result<usize, GeometryError> {
    if g.stride == 0 {
        return Err(GeometryError::ZeroStride { dim });
    }
    if g.dilation == 0 {
        return Err(GeometryError::ZeroDilation { dim });
    }
    if g.kernel == 0 {
        return Err(GeometryError::ZeroKernel { dim });
    }
    if input == 0 {
        return Err(GeometryError::ZeroInput { dim });
    }
    let span = effective_kernel(g.kernel, g.dilation)?;
    for pad in [g.pad_begin, g.pad_end] {
        if pad > span / 2 {
            return Err(GeometryError::PoolPaddingTooLarge {
                dim,
                pad,
                effective_kernel: span,
            });
        }
    }
    let padded = input + g.pad_begin + g.pad_end;
    if padded < span {
        return Err(GeometryError::KernelLargerThanPaddedInput {
            dim,
            effective_kernel: span,
            padded_input: padded,
        });
    }
    let room = padded - span;
    let mut out = if g.ceil_mode {
        room.div_ceil(g.stride)
    } else {
        room / g.stride
    } + 1;
    if g.ceil_mode && (out - 1) * g.stride >= input + g.pad_begin {
        out -= 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(kernel: usize, stride: usize, pad: usize, ceil_mode: bool) -> PoolGeometry {
        PoolGeometry {
            kernel,
            stride,
            pad_begin: pad,
            pad_end: pad,
            dilation: 1,
            ceil_mode,
        }
    }

    #[test]
    fn ceil_mode_by_hand() {
        // L = 6, k = 3, s = 2, p = 1: floor(5/2)+1 = 3; ceil: 4, but window 3 starts at 6 >= 6+1? no -> 4.
        assert_eq!(pool_output_size(0, 6, &pool(3, 2, 1, false)).unwrap(), 3);
        assert_eq!(pool_output_size(0, 6, &pool(3, 2, 1, true)).unwrap(), 4);
        // L = 5, k = 2, s = 2, p = 1: room 5, ceil 3 + 1 = 4; window 3 starts at 6 >= 5 + 1 -> 3.
        assert_eq!(pool_output_size(0, 5, &pool(2, 2, 1, true)).unwrap(), 3);
        // L = 5, k = 2, s = 2: floor 2, ceil 3 (last window [4, 6) starts inside).
        assert_eq!(pool_output_size(0, 5, &pool(2, 2, 0, false)).unwrap(), 2);
        assert_eq!(pool_output_size(0, 5, &pool(2, 2, 0, true)).unwrap(), 3);
    }

    #[test]
    fn padding_over_half_the_kernel_is_refused() {
        assert!(pool_output_size(0, 8, &pool(3, 1, 2, false)).is_err());
        assert!(pool_output_size(0, 8, &pool(4, 1, 2, false)).is_ok());
    }
}
