//! Errors of geometry: every way a layer description can be impossible.

/// A geometry that describes no valid layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeometryError {
    /// A per-dimension list has the wrong length.
    RankMismatch {
        /// Which argument.
        what: &'static str,
        /// The number of spatial dimensions.
        expected: usize,
        /// The number of values given.
        got: usize,
    },
    /// A stride of zero.
    ZeroStride {
        /// Spatial dimension (0-based).
        dim: usize,
    },
    /// A dilation of zero.
    ZeroDilation {
        /// Spatial dimension (0-based).
        dim: usize,
    },
    /// An empty kernel.
    ZeroKernel {
        /// Spatial dimension (0-based).
        dim: usize,
    },
    /// An empty input.
    ZeroInput {
        /// Spatial dimension (0-based).
        dim: usize,
    },
    /// groups = 0.
    ZeroGroups,
    /// Channels not divisible by groups.
    GroupsDoNotDivide {
        /// "in_channels" or "out_channels".
        what: &'static str,
        /// The channel count.
        channels: usize,
        /// The group count.
        groups: usize,
    },
    /// PyTorch refuses padding='same' for strided convolutions.
    SameWithStride {
        /// Spatial dimension (0-based).
        dim: usize,
        /// The stride there.
        stride: usize,
    },
    /// Padding beyond what the padding mode allows (reflect: p < L, circular: p <= L).
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
    KernelLargerThanPaddedInput {
        /// Spatial dimension (0-based).
        dim: usize,
        /// dilation * (k - 1) + 1.
        effective_kernel: usize,
        /// input + pad_begin + pad_end.
        padded_input: usize,
    },
    /// A pooling padding larger than half the kernel, which PyTorch refuses.
    PoolPaddingTooLarge {
        /// Spatial dimension (0-based).
        dim: usize,
        /// The padding.
        pad: usize,
        /// The kernel size.
        kernel: usize,
    },
    /// PyTorch refuses an output padding that is not smaller than the stride or the dilation.
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
    Overflow {
        /// What was being computed.
        what: &'static str,
    },
    /// Something else about the combination of options is not allowed.
    Unsupported(String),
}

impl std::fmt::Display for GeometryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GeometryError::RankMismatch {
                what,
                expected,
                got,
            } => {
                write!(
                    f,
                    "{what} has {got} values but the operation has {expected} spatial dimensions"
                )
            }
            GeometryError::ZeroStride { dim } => {
                write!(
                    f,
                    "stride must be positive, got 0 in spatial dimension {dim}"
                )
            }
            GeometryError::ZeroDilation { dim } => {
                write!(
                    f,
                    "dilation must be positive, got 0 in spatial dimension {dim}"
                )
            }
            GeometryError::ZeroKernel { dim } => {
                write!(
                    f,
                    "kernel size must be positive, got 0 in spatial dimension {dim}"
                )
            }
            GeometryError::ZeroInput { dim } => {
                write!(
                    f,
                    "input size must be positive, got 0 in spatial dimension {dim}"
                )
            }
            GeometryError::ZeroGroups => write!(f, "groups must be positive, got 0"),
            GeometryError::GroupsDoNotDivide {
                what,
                channels,
                groups,
            } => {
                write!(
                    f,
                    "{what} ({channels}) must be divisible by groups ({groups})"
                )
            }
            GeometryError::SameWithStride { dim, stride } => {
                write!(f, "padding='same' is not supported for strided convolutions (stride {stride} in spatial dimension {dim}); use --auto-pad same-upper|same-lower for ONNX's rule")
            }
            GeometryError::PaddingTooLarge {
                mode,
                dim,
                pad,
                input,
                rule,
            } => {
                write!(f, "{mode} padding of {pad} in spatial dimension {dim} is too large for input size {input} ({rule})")
            }
            GeometryError::KernelLargerThanPaddedInput {
                dim,
                effective_kernel,
                padded_input,
            } => {
                write!(f, "kernel of effective size {effective_kernel} (dilation*(k-1)+1) is larger than the padded input of size {padded_input} in spatial dimension {dim}")
            }
            GeometryError::PoolPaddingTooLarge { dim, pad, kernel } => {
                write!(f, "pool padding {pad} in spatial dimension {dim} must be at most half of the kernel size {kernel}")
            }
            GeometryError::OutputPaddingTooLarge {
                dim,
                output_padding,
                stride,
                dilation,
            } => {
                write!(f, "output padding must be smaller than either stride or dilation, but got output_padding {output_padding}, stride {stride}, dilation {dilation} in spatial dimension {dim}")
            }
            GeometryError::Overflow { what } => {
                write!(f, "{what} overflows 64-bit arithmetic")
            }
            GeometryError::Unsupported(v0) => write!(f, "{v0}"),
        }
    }
}

impl std::error::Error for GeometryError {}
