//! Pooling window geometry: sizes and the checks PyTorch makes (the operators are in
//! [`reference::pool`](crate::reference::pool)).

use super::{check_positive, check_ranks, effective_kernel, GeometryError};

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
/// half the kernel size, floor(k/2), as PyTorch's `pool2d_shape_check` does (also with dilation),
/// and windows that leave no output.
pub fn pool_output_size(
    dim: usize,
    input: usize,
    g: &PoolGeometry,
) -> Result<usize, GeometryError> {
    check_positive(dim, input, g.kernel, g.stride, g.dilation)?;
    let span = effective_kernel(g.kernel, g.dilation)?;
    for pad in [g.pad_begin, g.pad_end] {
        if pad > g.kernel / 2 {
            return Err(GeometryError::PoolPaddingTooLarge {
                dim,
                pad,
                kernel: g.kernel,
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

/// The parameters of an N-d pooling layer, PyTorch's `max_pool{1,2,3}d` / `avg_pool{1,2,3}d`
/// arguments (and ONNX `MaxPool` / `AveragePool` with asymmetric `pads`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolParams {
    /// Window size per spatial dimension (`kernel_size`).
    pub kernel_size: Vec<usize>,
    /// Stride per spatial dimension (PyTorch's default: the kernel size).
    pub stride: Vec<usize>,
    /// (begin, end) padding per spatial dimension; PyTorch's `padding=p` is (p, p).
    pub padding: Vec<(usize, usize)>,
    /// Dilation per spatial dimension (PyTorch: max pooling only).
    pub dilation: Vec<usize>,
    /// Round the output size up (with the rule that the last window starts inside the input or
    /// the left padding).
    pub ceil_mode: bool,
}

impl PoolParams {
    /// PyTorch's defaults for a window: stride = kernel_size, padding 0, dilation 1, floor.
    pub fn new(kernel_size: Vec<usize>) -> PoolParams {
        let rank = kernel_size.len();
        PoolParams {
            stride: kernel_size.clone(),
            kernel_size,
            padding: vec![(0, 0); rank],
            dilation: vec![1; rank],
            ceil_mode: false,
        }
    }

    /// The number of spatial dimensions.
    pub fn rank(&self) -> usize {
        self.kernel_size.len()
    }

    /// Sets the stride.
    pub fn with_stride(mut self, stride: Vec<usize>) -> Self {
        self.stride = stride;
        self
    }

    /// Sets symmetric padding p per dimension (PyTorch's `padding`).
    pub fn with_padding(mut self, padding: Vec<usize>) -> Self {
        self.padding = padding.into_iter().map(|p| (p, p)).collect();
        self
    }

    /// Sets (begin, end) padding per dimension (ONNX's `pads`).
    pub fn with_pads(mut self, pads: Vec<(usize, usize)>) -> Self {
        self.padding = pads;
        self
    }

    /// Sets the dilation.
    pub fn with_dilation(mut self, dilation: Vec<usize>) -> Self {
        self.dilation = dilation;
        self
    }

    /// Sets ceil_mode.
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }

    /// One [`PoolGeometry`] and output size per spatial dimension of an input of spatial sizes
    /// `input`, checked as [`pool_output_size`] checks.
    pub fn resolve(&self, input: &[usize]) -> Result<Vec<(PoolGeometry, usize)>, GeometryError> {
        let rank = self.rank();
        check_ranks(
            rank,
            &[
                ("input spatial dimensions", input.len()),
                ("stride", self.stride.len()),
                ("padding", self.padding.len()),
                ("dilation", self.dilation.len()),
            ],
        )?;
        (0..rank)
            .map(|dim| {
                let g = PoolGeometry {
                    kernel: self.kernel_size[dim],
                    stride: self.stride[dim],
                    pad_begin: self.padding[dim].0,
                    pad_end: self.padding[dim].1,
                    dilation: self.dilation[dim],
                    ceil_mode: self.ceil_mode,
                };
                Ok((g, pool_output_size(dim, input[dim], &g)?))
            })
            .collect()
    }
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

    #[test]
    fn ceil_mode_cases_frameworks_got_wrong() {
        // (L, k, s, p) -> the correct size (PyTorch >= 1.x and ONNX opset 22 agree).
        for (input, kernel, stride, pad, expected) in [
            (32, 1, 2, 0, 16),
            (5, 2, 2, 1, 3),
            (9, 4, 4, 2, 3),
            (6, 1, 2, 0, 3),
            (7, 2, 3, 0, 3),
        ] {
            let g = pool(kernel, stride, pad, true);
            assert_eq!(
                pool_output_size(0, input, &g).unwrap(),
                expected,
                "L={input} k={kernel} s={stride} p={pad}"
            );
        }
    }
}
