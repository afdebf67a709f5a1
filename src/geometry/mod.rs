//! Geometry of convolution layers: pure integer arithmetic, no tensors.
//!
//! Per spatial dimension a layer has an input size L, kernel size k, stride s >= 1, dilation
//! d >= 1 and padding (p_b, p_e). The output size is
//!
//! ```text
//! O = floor((L + p_b + p_e - d(k-1) - 1) / s) + 1,   defined when L + p_b + p_e >= d(k-1) + 1.
//! ```
//!
//! (The seed's formula (W + 2P - K)/S + 1 is this with d = 1, symmetric padding and a floor it
//! leaves out.) Output element i reads the padded input at i*s + j*d for kernel taps j = 0..k-1,
//! i.e. the unpadded input at i*s + j*d - p_b.

pub mod error;
pub mod padding;
pub mod parse;
pub mod pool;
pub mod stack;
pub mod transpose;

pub use error::GeometryError;
pub use padding::{effective_kernel, Padding, PaddingMode};
pub use pool::{pool_output_size, PoolGeometry, PoolParams};
pub use stack::{receptive_fields, ReceptiveField};
pub use transpose::{DimTranspose, TransposeGeometry, TransposePadding, TransposeShape};

/// The geometry of a convolution (correlation) layer, independent of tensor sizes.
///
/// Per-dimension lists have one entry per spatial dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Stride per spatial dimension (PyTorch `stride`).
    pub stride: Vec<usize>,
    /// Dilation per spatial dimension (PyTorch `dilation`).
    pub dilation: Vec<usize>,
    /// Padding rule (PyTorch `padding`, ONNX `pads` / `auto_pad`).
    pub padding: Padding,
    /// What padded positions hold (PyTorch `padding_mode`).
    pub padding_mode: PaddingMode,
    /// Number of groups (PyTorch `groups`): channel group g maps input channels
    /// [g C_in/G, (g+1) C_in/G) to output channels [g C_out/G, (g+1) C_out/G).
    pub groups: usize,
}

impl ConvGeometry {
    /// PyTorch's defaults for `rank` spatial dimensions: stride 1, dilation 1, padding 0,
    /// zeros, groups 1.
    pub fn new(rank: usize) -> ConvGeometry {
        ConvGeometry {
            stride: vec![1; rank],
            dilation: vec![1; rank],
            padding: Padding::Explicit(vec![(0, 0); rank]),
            padding_mode: PaddingMode::Zeros,
            groups: 1,
        }
    }

    /// The number of spatial dimensions.
    pub fn rank(&self) -> usize {
        self.stride.len()
    }

    /// One stride for every spatial dimension, as PyTorch's `stride=s`:
    /// `ConvGeometry::new(2).stride(2).padding(1)`.
    pub fn stride(self, s: usize) -> Self {
        let rank = self.rank();
        self.with_stride(vec![s; rank])
    }

    /// One dilation for every spatial dimension (`dilation=d`).
    pub fn dilation(self, d: usize) -> Self {
        let rank = self.rank();
        self.with_dilation(vec![d; rank])
    }

    /// p zeros on both sides of every spatial dimension (`padding=p`).
    pub fn padding(self, p: usize) -> Self {
        let rank = self.rank();
        self.with_padding(Padding::uniform(p, rank))
    }

    /// The number of groups (`groups=g`).
    pub fn groups(self, g: usize) -> Self {
        self.with_groups(g)
    }

    /// What padded positions hold (`padding_mode`).
    pub fn padding_mode(self, mode: PaddingMode) -> Self {
        self.with_padding_mode(mode)
    }

    /// Sets the stride.
    pub fn with_stride(mut self, stride: Vec<usize>) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the dilation.
    pub fn with_dilation(mut self, dilation: Vec<usize>) -> Self {
        self.dilation = dilation;
        self
    }

    /// Sets the padding rule.
    pub fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the padding mode.
    pub fn with_padding_mode(mut self, mode: PaddingMode) -> Self {
        self.padding_mode = mode;
        self
    }

    /// Sets the number of groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Resolves the geometry against spatial input and kernel sizes: one [`DimGeometry`] per
    /// spatial dimension, each checked (positive sizes, padding-mode limits, kernel fits).
    pub fn resolve(
        &self,
        input: &[usize],
        kernel: &[usize],
    ) -> Result<Vec<DimGeometry>, GeometryError> {
        let rank = input.len();
        check_ranks(
            rank,
            &[
                ("kernel size", kernel.len()),
                ("stride", self.stride.len()),
                ("dilation", self.dilation.len()),
            ],
        )?;
        if let Padding::Explicit(pads) = &self.padding {
            check_ranks(rank, &[("padding", pads.len())])?;
        }
        (0..rank)
            .map(|dim| {
                check_positive(
                    dim,
                    input[dim],
                    kernel[dim],
                    self.stride[dim],
                    self.dilation[dim],
                )?;
                let (pad_begin, pad_end) = self.padding.resolve(
                    dim,
                    input[dim],
                    kernel[dim],
                    self.stride[dim],
                    self.dilation[dim],
                )?;
                self.padding_mode.check(dim, pad_begin, input[dim])?;
                self.padding_mode.check(dim, pad_end, input[dim])?;
                let g = DimGeometry {
                    input: input[dim],
                    kernel: kernel[dim],
                    stride: self.stride[dim],
                    dilation: self.dilation[dim],
                    pad_begin,
                    pad_end,
                };
                g.output_size(dim)?;
                Ok(g)
            })
            .collect()
    }
}

/// One spatial dimension of a layer, resolved against its input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DimGeometry {
    /// Input size L.
    pub input: usize,
    /// Kernel size k.
    pub kernel: usize,
    /// Stride s.
    pub stride: usize,
    /// Dilation d.
    pub dilation: usize,
    /// Padding before the first element.
    pub pad_begin: usize,
    /// Padding after the last element.
    pub pad_end: usize,
}

impl DimGeometry {
    /// L + p_b + p_e.
    pub fn padded_input(&self) -> Result<usize, GeometryError> {
        self.input
            .checked_add(self.pad_begin)
            .and_then(|v| v.checked_add(self.pad_end))
            .ok_or(GeometryError::Overflow {
                what: "padded input size",
            })
    }

    /// O = floor((L + p_b + p_e - d(k-1) - 1) / s) + 1; `dim` names the dimension in errors.
    pub fn output_size(&self, dim: usize) -> Result<usize, GeometryError> {
        let padded = self.padded_input()?;
        let span = effective_kernel(self.kernel, self.dilation)?;
        if padded < span {
            return Err(GeometryError::KernelLargerThanPaddedInput {
                dim,
                effective_kernel: span,
                padded_input: padded,
            });
        }
        Ok((padded - span) / self.stride + 1)
    }

    /// The unpadded input index read by output `i` at kernel tap `j`: i*s + j*d - p_b.
    pub fn input_index(&self, i: usize, j: usize) -> i64 {
        (i * self.stride + j * self.dilation) as i64 - self.pad_begin as i64
    }
}

/// A convolution layer resolved against tensor shapes: input (N, C_in, L...), weight
/// (C_out, C_in/groups, k...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvShape {
    /// Batch size N.
    pub batch: usize,
    /// Input channels C_in.
    pub in_channels: usize,
    /// Output channels C_out.
    pub out_channels: usize,
    /// Groups G.
    pub groups: usize,
    /// One entry per spatial dimension.
    pub dims: Vec<DimGeometry>,
}

impl ConvShape {
    /// Checks the shapes of input, weight and optional bias (length) against each other and
    /// the geometry, PyTorch's rules: input rank = weight rank, weight\[1\] * groups = C_in,
    /// groups divides C_out, bias has C_out entries.
    pub fn new(
        input_shape: &[usize],
        weight_shape: &[usize],
        bias_len: Option<usize>,
        geometry: &ConvGeometry,
    ) -> Result<ConvShape, GeometryError> {
        if weight_shape.len() < 3 {
            return Err(GeometryError::Unsupported(format!(
                "weight must have shape (C_out, C_in/groups, k...) with at least one spatial dimension, got {weight_shape:?}"
            )));
        }
        if input_shape.len() != weight_shape.len() {
            return Err(GeometryError::Unsupported(format!(
                "input of shape {input_shape:?} has rank {} but weight of shape {weight_shape:?} has rank {}: expected input (N, C_in, spatial...) with {} spatial dimensions",
                input_shape.len(),
                weight_shape.len(),
                weight_shape.len() - 2
            )));
        }
        let groups = geometry.groups;
        let in_channels = input_shape[1];
        let out_channels = weight_shape[0];
        check_groups(in_channels, out_channels, groups)?;
        if weight_shape[1] * groups != in_channels {
            return Err(GeometryError::Unsupported(format!(
                "weight of shape {weight_shape:?} expects {} input channels (weight[1] * groups = {} * {groups}), but the input has {in_channels}",
                weight_shape[1] * groups,
                weight_shape[1]
            )));
        }
        check_out_channels(out_channels, bias_len, "the weight has")?;
        let dims = geometry.resolve(&input_shape[2..], &weight_shape[2..])?;
        let shape = ConvShape {
            batch: input_shape[0],
            in_channels,
            out_channels,
            groups,
            dims,
        };
        shape.output_shape()?;
        shape.macs()?;
        Ok(shape)
    }

    /// Output spatial sizes.
    pub fn output_spatial(&self) -> Vec<usize> {
        self.dims
            .iter()
            .enumerate()
            .map(|(dim, g)| g.output_size(dim).expect("checked in ConvShape::new"))
            .collect()
    }

    /// Output shape (N, C_out, O...), with its element count checked against overflow.
    pub fn output_shape(&self) -> Result<Vec<usize>, GeometryError> {
        let mut shape = vec![self.batch, self.out_channels];
        shape.extend(self.output_spatial());
        checked_product(&shape, "output element count")?;
        Ok(shape)
    }

    /// Kernel spatial sizes.
    pub fn kernel(&self) -> Vec<usize> {
        self.dims.iter().map(|g| g.kernel).collect()
    }

    /// Number of weights plus (if `bias`) biases:
    /// C_out * (C_in / G) * prod(k) + \[bias\] C_out.
    pub fn parameter_count(&self, bias: bool) -> Result<u64, GeometryError> {
        parameter_count(
            self.in_channels,
            self.out_channels,
            self.groups,
            &self.kernel(),
            bias,
        )
    }

    /// Multiply-accumulates of the direct algorithm: N * C_out * prod(O) * (C_in / G) * prod(k).
    pub fn macs(&self) -> Result<u64, GeometryError> {
        let mut factors = vec![
            self.batch,
            self.out_channels,
            self.in_channels / self.groups,
        ];
        factors.extend(self.output_spatial());
        factors.extend(self.kernel());
        checked_product(&factors, "multiply-accumulate count")
    }

    /// Reduction length n of one output element: (C_in / G) * prod(k).
    pub fn reduction_length(&self) -> usize {
        self.in_channels / self.groups * self.kernel().iter().product::<usize>()
    }
}

/// Parameter count of a convolution layer: C_out * (C_in / G) * prod(k) + \[bias\] C_out.
///
/// The seed's (K_w K_h C_in C_out + C_out) is the case G = 1 with bias.
pub fn parameter_count(
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    kernel: &[usize],
    bias: bool,
) -> Result<u64, GeometryError> {
    check_groups(in_channels, out_channels, groups)?;
    let mut factors = vec![out_channels, in_channels / groups];
    factors.extend_from_slice(kernel);
    let weights = checked_product(&factors, "parameter count")?;
    let biases = if bias { out_channels as u64 } else { 0 };
    weights.checked_add(biases).ok_or(GeometryError::Overflow {
        what: "parameter count",
    })
}

/// Every per-dimension list must have one value per spatial dimension: `lists` holds
/// (argument name, length) pairs.
pub fn check_ranks(rank: usize, lists: &[(&'static str, usize)]) -> Result<(), GeometryError> {
    match lists.iter().find(|(_, got)| *got != rank) {
        Some(&(what, got)) => Err(GeometryError::RankMismatch {
            what,
            expected: rank,
            got,
        }),
        None => Ok(()),
    }
}

/// Input size, kernel size, stride and dilation of spatial dimension `dim` must be positive.
pub fn check_positive(
    dim: usize,
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Result<(), GeometryError> {
    if stride == 0 {
        return Err(GeometryError::ZeroStride { dim });
    }
    if dilation == 0 {
        return Err(GeometryError::ZeroDilation { dim });
    }
    if kernel == 0 {
        return Err(GeometryError::ZeroKernel { dim });
    }
    if input == 0 {
        return Err(GeometryError::ZeroInput { dim });
    }
    Ok(())
}

/// PyTorch's channel rule for groups: G > 0 divides both C_in and C_out.
pub fn check_groups(
    in_channels: usize,
    out_channels: usize,
    groups: usize,
) -> Result<(), GeometryError> {
    if groups == 0 {
        return Err(GeometryError::ZeroGroups);
    }
    for (what, channels) in [("in_channels", in_channels), ("out_channels", out_channels)] {
        if channels % groups != 0 {
            return Err(GeometryError::GroupsDoNotDivide {
                what,
                channels,
                groups,
            });
        }
    }
    Ok(())
}

/// Product of sizes as u64, or an overflow error naming `what`.
pub fn checked_product(factors: &[usize], what: &'static str) -> Result<u64, GeometryError> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| {
            acc.checked_mul(f as u64)
                .ok_or(GeometryError::Overflow { what })
        })
        .and_then(|p| {
            usize::try_from(p)
                .map(|_| p)
                .map_err(|_| GeometryError::Overflow { what })
        })
}

/// Refuses a layer without output channels, and a bias whose length is not the output
/// channel count (`counted` says where that count comes from, for the message).
pub(crate) fn check_out_channels(
    out_channels: usize,
    bias_len: Option<usize>,
    counted: &str,
) -> Result<(), GeometryError> {
    if out_channels == 0 {
        return Err(GeometryError::Unsupported(
            "weight has 0 output channels".into(),
        ));
    }
    match bias_len {
        Some(len) if len != out_channels => Err(GeometryError::Unsupported(format!(
            "bias has {len} entries but {counted} {out_channels} output channels"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_formula_by_hand() {
        // ResNet stem: L = 224, k = 7, s = 2, p = 3 -> floor((224 + 6 - 7) / 2) + 1 = 112.
        let g = DimGeometry {
            input: 224,
            kernel: 7,
            stride: 2,
            dilation: 1,
            pad_begin: 3,
            pad_end: 3,
        };
        assert_eq!(g.output_size(0).unwrap(), 112);
        // Dilation 2, k = 3 spans 5: L = 10 -> 6.
        let g = DimGeometry {
            input: 10,
            kernel: 3,
            stride: 1,
            dilation: 2,
            pad_begin: 0,
            pad_end: 0,
        };
        assert_eq!(g.output_size(0).unwrap(), 6);
        // Floor: L = 6, k = 3, s = 2 -> floor(3/2) + 1 = 2 (the seed's formula gives 2.5).
        let g = DimGeometry {
            input: 6,
            kernel: 3,
            stride: 2,
            dilation: 1,
            pad_begin: 0,
            pad_end: 0,
        };
        assert_eq!(g.output_size(0).unwrap(), 2);
    }

    #[test]
    fn kernel_larger_than_padded_input_is_refused() {
        let geo = ConvGeometry::new(1).with_dilation(vec![3]);
        let err = geo.resolve(&[6], &[3]).unwrap_err();
        assert_eq!(
            err,
            GeometryError::KernelLargerThanPaddedInput {
                dim: 0,
                effective_kernel: 7,
                padded_input: 6
            }
        );
    }

    #[test]
    fn parameter_counts_by_hand() {
        // 3x3, 64 -> 128: 3*3*64*128 + 128 = 73856 (the seed's formula).
        assert_eq!(parameter_count(64, 128, 1, &[3, 3], true).unwrap(), 73856);
        // Depthwise 3x3 on 32 channels: 32 * 1 * 9 = 288 (+32).
        assert_eq!(parameter_count(32, 32, 32, &[3, 3], false).unwrap(), 288);
        assert_eq!(parameter_count(32, 32, 32, &[3, 3], true).unwrap(), 320);
        assert!(parameter_count(3, 4, 2, &[3], true).is_err());
    }

    #[test]
    fn shapes_and_macs() {
        let geo = ConvGeometry::new(2).with_padding(Padding::uniform(1, 2));
        let s = ConvShape::new(&[1, 64, 56, 56], &[64, 64, 3, 3], Some(64), &geo).unwrap();
        assert_eq!(s.output_shape().unwrap(), vec![1, 64, 56, 56]);
        assert_eq!(s.macs().unwrap(), 64 * 56 * 56 * 64 * 9);
        assert!(ConvShape::new(&[1, 63, 56, 56], &[64, 64, 3, 3], None, &geo).is_err());
        assert!(ConvShape::new(&[1, 64, 56, 56], &[64, 64, 3, 3], Some(3), &geo).is_err());
    }

    #[test]
    fn overflowing_sizes_are_refused() {
        let geo = ConvGeometry::new(2);
        let huge = usize::MAX / 2;
        assert!(matches!(
            ConvShape::new(&[huge, 1, 4, 4], &[huge, 1, 1, 1], None, &geo),
            Err(GeometryError::Overflow { .. })
        ));
    }
}
