//! Errors of geometry: every way a layer description can be impossible.

use thiserror::Error;

/// A geometry that describes no valid layer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GeometryError {
    /// A per-dimension list has the wrong length.
    #[error("{what} has {got} values but the operation has {expected} spatial dimensions")]
    RankMismatch {
        /// Which argument.
        what: &'static str,
        /// The number of spatial dimensions.
        expected: usize,
        /// The number of values given.
        got: usize,
    },
    /// A stride of zero.
    #[error("stride must be positive, got 0 in spatial dimension {dim}")]
    ZeroStride {
        /// Spatial dimension (0-based).
        dim: usize,
    },
    /// A dilation of zero.
    #[error("dilation must be positive, got 0 in spatial dimension {dim}")]
    ZeroDilation {
        /// Spatial dimension (0-based).
        dim: usize,
    },
    /// An empty kernel.
    #[error("kernel size must be positive, got 0 in spatial dimension {dim}")]
    ZeroKernel {
        /// Spatial dimension (0-based).
        dim: usize,
    },
    /// An empty input.
    #[error("input size must be positive, got 0 in spatial dimension {dim}")]
    ZeroInput {
        /// Spatial dimension (0-based).
        dim: usize,
    },
    /// groups = 0.
    #[error("groups must be positive, got 0")]
    ZeroGroups,
    /// Channels not divisible by groups.
    #[error("{what} ({channels}) must be divisible by groups ({groups})")]
    GroupsDoNotDivide {
        /// "in_channels" or "out_channels".
        what: &'static str,
        /// The channel count.
        channels: usize,
        /// The group count.
        groups: usize,
    },
    /// PyTorch refuses padding='same' for strided convolutions.
    #[error("padding='same' is not supported for strided convolutions (stride {stride} in spatial dimension {dim}); use --auto-pad same-upper|same-lower for ONNX's rule")]
    SameWithStride {
        /// Spatial dimension (0-based).
        dim: usize,
        /// The stride there.
        stride: usize,
    },
    /// Padding beyond what the padding mode allows (reflect: p < L, circular: p <= L).
    #[error("{mode} padding of {pad} in spatial dimension {dim} is too large for input size {input} ({rule})")]
    PaddingTooLarge {
        /// The padding mode.
        mode: &'static str,
        /// Spatial dimension (0-based).
        dim: usize,
        /// The offending padding amount.
        pad: usize,
        /// The input size there.
        input: usize,
        /// The rule that is broken.
        rule: &'static str,
    },
    /// The (dilated) kernel does not fit in the padded input.
    #[error("kernel of effective size {effective_kernel} (dilation*(k-1)+1) is larger than the padded input of size {padded_input} in spatial dimension {dim}")]
    KernelLargerThanPaddedInput {
        /// Spatial dimension (0-based).
        dim: usize,
        /// dilation * (k - 1) + 1.
        effective_kernel: usize,
        /// input + pad_begin + pad_end.
        padded_input: usize,
    },
    /// A pooling padding larger than half the kernel, which PyTorch refuses.
    #[error("pool padding {pad} in spatial dimension {dim} must be at most half of the kernel size {kernel}")]
    PoolPaddingTooLarge {
        /// Spatial dimension (0-based).
        dim: usize,
        /// The padding.
        pad: usize,
        /// The kernel size.
        kernel: usize,
    },
    /// PyTorch refuses an output padding that is not smaller than the stride or the dilation.
    #[error("output padding must be smaller than either stride or dilation, but got output_padding {output_padding}, stride {stride}, dilation {dilation} in spatial dimension {dim}")]
    OutputPaddingTooLarge {
        /// Spatial dimension (0-based).
        dim: usize,
        /// The output padding.
        output_padding: usize,
        /// The stride there.
        stride: usize,
        /// The dilation there.
        dilation: usize,
    },
    /// A size that does not fit in the machine's integers.
    #[error("{what} overflows 64-bit arithmetic")]
    Overflow {
        /// What was being computed.
        what: &'static str,
    },
    /// Something else about the combination of options is not allowed.
    #[error("{0}")]
    Unsupported(String),
}
