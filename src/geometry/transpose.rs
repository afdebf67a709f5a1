//! Geometry of transposed convolution (PyTorch `conv_transpose{1,2,3}d`, ONNX `ConvTranspose`).
//!
//! Per spatial dimension, with input size L, kernel k, stride s, dilation d, padding
//! (p_b, p_e) and output padding a:
//!
//! ```text
//! O = (L - 1) s + d (k - 1) + 1 + a - p_b - p_e
//! ```
//!
//! PyTorch's `padding=p` is (p, p), giving its documented (L-1)s - 2p + d(k-1) + a + 1.
//! ONNX may instead give `output_shape` (or `auto_pad` SAME_UPPER / SAME_LOWER, which asks for
//! O = L s); the pads are then derived from the total
//! `total = (L - 1) s + a + d(k - 1) + 1 - O`, split as the ONNX operator text says:
//! SAME_UPPER puts floor(total/2) at the beginning, otherwise (SAME_LOWER or NOTSET) the larger
//! half goes at the beginning. When O exceeds the uncropped size, total is negative and so are
//! pads (floor division, as ONNX's reference evaluator does): the output gains positions that
//! receive no input. ONNX Runtime 1.32 instead stops at the uncropped size (e.g. 11 instead of
//! L s = 12 for L = 4, s = 3, k = 2), which does not meet the operator's definition.

use super::{
    check_groups, check_positive, check_ranks, checked_product, effective_kernel, GeometryError,
};

/// How a transposed convolution's output is cropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransposePadding {
    /// Explicit (begin, end) crop per spatial dimension; PyTorch's `padding=p` is (p, p),
    /// ONNX's `pads` is (b_i, e_i).
    Explicit(Vec<(usize, usize)>),
    /// ONNX `output_shape` (spatial sizes): pads derived. `extra_at_end` is true for
    /// `auto_pad=SAME_UPPER`, false for NOTSET and SAME_LOWER.
    OutputShape {
        /// The requested spatial output sizes.
        shape: Vec<usize>,
        /// Put the smaller half of the total padding at the beginning.
        extra_at_end: bool,
    },
    /// ONNX `auto_pad=SAME_UPPER` (`extra_at_end`) or `SAME_LOWER` without `output_shape`:
    /// the output size is L * s.
    Same {
        /// SAME_UPPER when true.
        extra_at_end: bool,
    },
}

/// The geometry of a transposed convolution, independent of tensor sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransposeGeometry {
    /// Stride per spatial dimension.
    pub stride: Vec<usize>,
    /// Dilation per spatial dimension.
    pub dilation: Vec<usize>,
    /// Padding (crop) rule.
    pub padding: TransposePadding,
    /// Extra size added at the end of each spatial dimension (PyTorch/ONNX `output_padding`);
    /// each must be smaller than the stride or the dilation there.
    pub output_padding: Vec<usize>,
    /// Groups G: input channel block g feeds output channel block g.
    pub groups: usize,
}

impl TransposeGeometry {
    /// PyTorch's defaults for `rank` spatial dimensions: stride 1, dilation 1, padding 0,
    /// output_padding 0, groups 1.
    pub fn new(rank: usize) -> TransposeGeometry {
        TransposeGeometry {
            stride: vec![1; rank],
            dilation: vec![1; rank],
            padding: TransposePadding::Explicit(vec![(0, 0); rank]),
            output_padding: vec![0; rank],
            groups: 1,
        }
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
    pub fn with_padding(mut self, padding: TransposePadding) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the output padding.
    pub fn with_output_padding(mut self, output_padding: Vec<usize>) -> Self {
        self.output_padding = output_padding;
        self
    }

    /// Sets the number of groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Resolves the geometry against spatial input and kernel sizes.
    pub fn resolve(
        &self,
        input: &[usize],
        kernel: &[usize],
    ) -> Result<Vec<DimTranspose>, GeometryError> {
        let rank = input.len();
        let padding_len = match &self.padding {
            TransposePadding::Explicit(pads) => ("padding", pads.len()),
            TransposePadding::OutputShape { shape, .. } => ("output_shape", shape.len()),
            TransposePadding::Same { .. } => ("padding", rank),
        };
        check_ranks(
            rank,
            &[
                ("kernel size", kernel.len()),
                ("stride", self.stride.len()),
                ("dilation", self.dilation.len()),
                ("output_padding", self.output_padding.len()),
                padding_len,
            ],
        )?;
        (0..rank)
            .map(|dim| {
                let (stride, dilation, output_padding) = (
                    self.stride[dim],
                    self.dilation[dim],
                    self.output_padding[dim],
                );
                check_positive(dim, input[dim], kernel[dim], stride, dilation)?;
                if output_padding >= stride && output_padding >= dilation {
                    return Err(GeometryError::OutputPaddingTooLarge {
                        dim,
                        output_padding,
                        stride,
                        dilation,
                    });
                }
                let overflow = GeometryError::Overflow {
                    what: "transposed convolution output size",
                };
                let full = uncropped(input[dim], kernel[dim], stride, dilation, output_padding)?;
                let split = |requested: usize, extra_at_end: bool| {
                    let total = i64::try_from(full)
                        .ok()
                        .zip(i64::try_from(requested).ok())
                        .map(|(f, r)| f - r)
                        .ok_or(overflow.clone())?;
                    // ONNX's pads[start] = total/2 with Python's floor division (its reference
                    // evaluator); a negative total (a requested size beyond the uncropped
                    // output) gives negative pads: positions that receive no input.
                    let small = total.div_euclid(2);
                    Ok::<_, GeometryError>(if extra_at_end {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    })
                };
                let signed = |p: usize| i64::try_from(p).map_err(|_| overflow.clone());
                let (pad_begin, pad_end) = match &self.padding {
                    TransposePadding::Explicit(pads) => {
                        (signed(pads[dim].0)?, signed(pads[dim].1)?)
                    }
                    TransposePadding::OutputShape {
                        shape,
                        extra_at_end,
                    } => split(shape[dim], *extra_at_end)?,
                    TransposePadding::Same { extra_at_end } => split(
                        input[dim].checked_mul(stride).ok_or(overflow.clone())?,
                        *extra_at_end,
                    )?,
                };
                let g = DimTranspose {
                    input: input[dim],
                    kernel: kernel[dim],
                    stride,
                    dilation,
                    pad_begin,
                    pad_end,
                    output_padding,
                };
                g.output_size(dim)?;
                Ok(g)
            })
            .collect()
    }
}

/// The uncropped extent of a transposed convolution, (L - 1) s + d (k - 1) + 1 + a (L >= 1).
fn uncropped(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    output_padding: usize,
) -> Result<usize, GeometryError> {
    (input - 1)
        .checked_mul(stride)
        .and_then(|v| v.checked_add(effective_kernel(kernel, dilation).ok()?))
        .and_then(|v| v.checked_add(output_padding))
        .ok_or(GeometryError::Overflow {
            what: "transposed convolution output size",
        })
}

/// One spatial dimension of a transposed convolution, resolved against its input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DimTranspose {
    /// Input size L.
    pub input: usize,
    /// Kernel size k.
    pub kernel: usize,
    /// Stride s.
    pub stride: usize,
    /// Dilation d.
    pub dilation: usize,
    /// Crop at the beginning p_b (negative only when ONNX's output_shape asks for more than
    /// the uncropped output: positions that receive no input).
    pub pad_begin: i64,
    /// Crop at the end p_e (negative likewise).
    pub pad_end: i64,
    /// Output padding a.
    pub output_padding: usize,
}

impl DimTranspose {
    /// O = (L - 1) s + d (k - 1) + 1 + a - p_b - p_e, which must not be negative (O = 0 is
    /// PyTorch's empty output).
    pub fn output_size(&self, dim: usize) -> Result<usize, GeometryError> {
        let full = uncropped(
            self.input,
            self.kernel,
            self.stride,
            self.dilation,
            self.output_padding,
        )?;
        let size = i64::try_from(full)
            .ok()
            .and_then(|f| f.checked_sub(self.pad_begin.checked_add(self.pad_end)?))
            .ok_or(GeometryError::Overflow {
                what: "transposed convolution output size",
            })?;
        if size < 0 {
            return Err(GeometryError::Unsupported(format!(
                "transposed convolution output size in spatial dimension {dim} would be {full} - {} - {} < 0 ((L-1)*stride + dilation*(k-1) + 1 + output_padding - padding)",
                self.pad_begin, self.pad_end
            )));
        }
        usize::try_from(size).map_err(|_| GeometryError::Overflow {
            what: "transposed convolution output size",
        })
    }
}

/// A transposed convolution resolved against tensor shapes: input (N, C_in, L...), weight
/// (C_in, C_out/G, k...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransposeShape {
    /// Batch size N.
    pub batch: usize,
    /// Input channels C_in.
    pub in_channels: usize,
    /// Output channels C_out = weight\[1\] * G.
    pub out_channels: usize,
    /// Groups G.
    pub groups: usize,
    /// One entry per spatial dimension.
    pub dims: Vec<DimTranspose>,
}

impl TransposeShape {
    /// Checks input, weight and bias length against each other, PyTorch's rules: equal ranks,
    /// weight\[0\] = C_in, G divides C_in, bias has weight\[1\] * G entries.
    pub fn new(
        input_shape: &[usize],
        weight_shape: &[usize],
        bias_len: Option<usize>,
        geometry: &TransposeGeometry,
    ) -> Result<TransposeShape, GeometryError> {
        if weight_shape.len() < 3 || input_shape.len() != weight_shape.len() {
            return Err(GeometryError::Unsupported(format!(
                "transposed convolution needs input (N, C_in, L...) and weight (C_in, C_out/groups, k...) of equal rank >= 3, got input {input_shape:?} and weight {weight_shape:?}"
            )));
        }
        let groups = geometry.groups;
        let in_channels = input_shape[1];
        if weight_shape[0] != in_channels {
            return Err(GeometryError::Unsupported(format!(
                "weight of shape {weight_shape:?} expects {} input channels (weight[0]), but the input has {in_channels}",
                weight_shape[0]
            )));
        }
        let out_channels = weight_shape[1]
            .checked_mul(groups)
            .ok_or(GeometryError::Overflow {
                what: "output channel count",
            })?;
        check_groups(in_channels, out_channels, groups)?;
        super::check_out_channels(
            out_channels,
            bias_len,
            "the transposed convolution (weight[1] * groups) has",
        )?;
        let dims = geometry.resolve(&input_shape[2..], &weight_shape[2..])?;
        let shape = TransposeShape {
            batch: input_shape[0],
            in_channels,
            out_channels,
            groups,
            dims,
        };
        shape.output_shape()?;
        Ok(shape)
    }

    /// Output shape (N, C_out, O...), with its element count checked against overflow.
    pub fn output_shape(&self) -> Result<Vec<usize>, GeometryError> {
        let mut shape = vec![self.batch, self.out_channels];
        for (dim, g) in self.dims.iter().enumerate() {
            shape.push(g.output_size(dim)?);
        }
        checked_product(&shape, "output element count")?;
        Ok(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytorch_output_size_by_hand() {
        // L = 3, s = 2, p = 1, k = 3, d = 1, a = 1: (3-1)*2 - 2 + 2 + 1 + 1 = 6.
        let g = TransposeGeometry::new(1)
            .with_stride(vec![2])
            .with_padding(TransposePadding::Explicit(vec![(1, 1)]))
            .with_output_padding(vec![1]);
        let dims = g.resolve(&[3], &[3]).unwrap();
        assert_eq!(dims[0].output_size(0).unwrap(), 6);
    }

    #[test]
    fn output_padding_must_be_smaller_than_stride_or_dilation() {
        let g = TransposeGeometry::new(1).with_output_padding(vec![1]);
        assert!(matches!(
            g.resolve(&[3], &[3]),
            Err(GeometryError::OutputPaddingTooLarge { .. })
        ));
        // Smaller than the dilation suffices (PyTorch's rule is "stride or dilation").
        let g = g.with_dilation(vec![2]);
        assert!(g.resolve(&[3], &[3]).is_ok());
    }

    #[test]
    fn onnx_output_shape_splits_the_padding() {
        // L = 3, s = 2, k = 3: full = 7. Requested 6 -> total 1.
        let upper = TransposeGeometry::new(1).with_stride(vec![2]).with_padding(
            TransposePadding::OutputShape {
                shape: vec![6],
                extra_at_end: true,
            },
        );
        let d = upper.resolve(&[3], &[3]).unwrap()[0];
        assert_eq!((d.pad_begin, d.pad_end), (0, 1));
        let lower = upper.with_padding(TransposePadding::Same {
            extra_at_end: false,
        });
        let d = lower.resolve(&[3], &[3]).unwrap()[0];
        assert_eq!((d.pad_begin, d.pad_end), (1, 0));
        assert_eq!(d.output_size(0).unwrap(), 6);
    }

    #[test]
    fn onnx_same_beyond_the_uncropped_size_gives_negative_pads() {
        // L = 4, s = 3, k = 2: uncropped 11, SAME asks for 12: total -1.
        let g = TransposeGeometry::new(1)
            .with_stride(vec![3])
            .with_padding(TransposePadding::Same { extra_at_end: true });
        let d = g.resolve(&[4], &[2]).unwrap()[0];
        assert_eq!((d.pad_begin, d.pad_end), (-1, 0));
        assert_eq!(d.output_size(0).unwrap(), 12);
        let g = g.with_padding(TransposePadding::Same {
            extra_at_end: false,
        });
        let d = g.resolve(&[4], &[2]).unwrap()[0];
        assert_eq!((d.pad_begin, d.pad_end), (0, -1));
    }

    #[test]
    fn cropping_everything_is_refused() {
        let g = TransposeGeometry::new(1).with_padding(TransposePadding::Explicit(vec![(2, 2)]));
        assert!(g.resolve(&[1], &[3]).is_err());
    }
}
