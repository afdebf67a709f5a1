//! im2col and col2im: PyTorch's `torch.nn.functional.unfold` and `fold`.
//!
//! `unfold` lays out every window of the zero-padded input as a column:
//!
//! ```text
//! cols[n, c * prod(k) + flat(j), flat(i)] = xpad[n, c, i s + j d]
//! ```
//!
//! with flat(j) the C-order index of the kernel tap j (for 2-D, j = (a, b) gives a * kw + b) and
//! flat(i) that of the output position (oh * W_out + ow). Correlation is then one matrix product:
//! conv(x, W)\[n\] = W.reshape(C_out, -1) @ cols\[n\] (groups 1). `fold` is the adjoint: it sums every
//! column entry back onto the position it was read from (overlaps add up; padding is dropped).
//! PyTorch supports 2-D only; the same layout is defined here for any number of spatial
//! dimensions.

use super::{unbatched, OpError};
use crate::geometry::{ConvGeometry, DimGeometry, GeometryError, Padding};
use crate::index::multi_indices;
use crate::scalar::Ring;
use ndarray::{ArrayD, IxDyn};

/// The sliding-window parameters shared by `unfold` and `fold` (PyTorch's argument names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfoldParams {
    /// Window size per spatial dimension.
    pub kernel_size: Vec<usize>,
    /// Dilation (default 1).
    pub dilation: Vec<usize>,
    /// Symmetric zero padding (default 0).
    pub padding: Vec<usize>,
    /// Stride (default 1).
    pub stride: Vec<usize>,
}

impl UnfoldParams {
    /// PyTorch's defaults for a window: dilation 1, padding 0, stride 1.
    pub fn new(kernel_size: Vec<usize>) -> UnfoldParams {
        let rank = kernel_size.len();
        UnfoldParams {
            kernel_size,
            dilation: vec![1; rank],
            padding: vec![0; rank],
            stride: vec![1; rank],
        }
    }

    /// Per-dimension geometry over spatial sizes `spatial`.
    pub(crate) fn resolve(&self, spatial: &[usize]) -> Result<Vec<DimGeometry>, GeometryError> {
        let rank = self.kernel_size.len();
        if self.padding.len() != rank {
            return Err(GeometryError::RankMismatch {
                what: "padding",
                expected: rank,
                got: self.padding.len(),
            });
        }
        let geometry = ConvGeometry::new(rank)
            .with_stride(self.stride.clone())
            .with_dilation(self.dilation.clone())
            .with_padding(Padding::Explicit(
                self.padding.iter().map(|&p| (p, p)).collect(),
            ));
        geometry.resolve(spatial, &self.kernel_size)
    }
}

/// `torch.nn.functional.unfold(input, kernel_size, dilation, padding, stride)`: input
/// (N, C, spatial...) or unbatched (C, spatial...) to (N, C * prod(k), prod(O)) (or
/// (C * prod(k), prod(O))). See the module documentation for the layout.
pub fn unfold<T: Ring>(input: &ArrayD<T>, params: &UnfoldParams) -> Result<ArrayD<T>, OpError> {
    let rank = params.kernel_size.len();
    if input.ndim() == rank + 1 {
        return unbatched(input, |x| unfold(x, params));
    }
    if rank == 0 || input.ndim() != rank + 2 {
        return Err(OpError::Invalid(format!(
            "unfold with a {rank}-d kernel needs input (N, C, spatial...) of rank {} or (C, spatial...), got shape {:?}",
            rank + 2,
            input.shape()
        )));
    }
    let (batch, channels) = (input.shape()[0], input.shape()[1]);
    let dims = params.resolve(&input.shape()[2..])?;
    let output: Vec<usize> = dims
        .iter()
        .enumerate()
        .map(|(d, g)| g.output_size(d))
        .collect::<Result<_, _>>()?;
    let taps = multi_indices(&params.kernel_size);
    let columns = output
        .iter()
        .fold(1u128, |n, &d| n.saturating_mul(d as u128));
    crate::limits::check_exact_elements(
        "the output",
        (batch as u128)
            .saturating_mul((channels * taps.len()) as u128)
            .saturating_mul(columns)
            .saturating_add(columns),
    )
    .map_err(OpError::Invalid)?;
    let positions = multi_indices(&output);
    let rows = channels * taps.len();
    let shape = [batch, rows, positions.len()];
    crate::geometry::checked_product(&shape, "unfold output element count")?;
    Ok(ArrayD::from_shape_fn(IxDyn(&shape), |index| {
        let (n, row, column) = (index[0], index[1], index[2]);
        let (c, tap) = (row / taps.len(), &taps[row % taps.len()]);
        let mut source = vec![n, c];
        for (dim, g) in dims.iter().enumerate() {
            let t = g.input_index(positions[column][dim], tap[dim]);
            if t < 0 || t as usize >= g.input {
                return T::zero();
            }
            source.push(t as usize);
        }
        input[IxDyn(&source)].clone()
    }))
}

/// `torch.nn.functional.fold(input, output_size, kernel_size, dilation, padding, stride)`: columns
/// (N, C * prod(k), prod(O)) (or unbatched (C * prod(k), prod(O))) summed back into
/// (N, C, output_size...): out[n, c, i s + j d - p] += cols[n, c * prod(k) + flat(j), flat(i)].
pub fn fold<T: Ring>(
    input: &ArrayD<T>,
    output_size: &[usize],
    params: &UnfoldParams,
) -> Result<ArrayD<T>, OpError> {
    if input.ndim() == 2 {
        return unbatched(input, |x| fold(x, output_size, params));
    }
    if input.ndim() != 3 {
        return Err(OpError::Invalid(format!(
            "fold needs input (N, C * prod(kernel_size), L) or (C * prod(kernel_size), L), got shape {:?}",
            input.shape()
        )));
    }
    let rank = params.kernel_size.len();
    if output_size.len() != rank {
        return Err(GeometryError::RankMismatch {
            what: "output_size",
            expected: rank,
            got: output_size.len(),
        }
        .into());
    }
    let dims = params.resolve(output_size)?;
    let blocks: Vec<usize> = dims
        .iter()
        .enumerate()
        .map(|(d, g)| g.output_size(d))
        .collect::<Result<_, _>>()?;
    let taps = multi_indices(&params.kernel_size);
    let (batch, rows, columns) = (input.shape()[0], input.shape()[1], input.shape()[2]);
    if rows % taps.len() != 0 {
        return Err(OpError::Invalid(format!(
            "expected size of input's dimension 1 ({rows}) to be divisible by the product of kernel_size ({})",
            taps.len()
        )));
    }
    let block_count: usize = blocks.iter().product();
    if columns != block_count {
        return Err(OpError::Invalid(format!(
            "given output_size {output_size:?}, kernel_size, dilation, padding and stride, expected size of input's dimension 2 to be {block_count} (blocks {blocks:?}), but got {columns}"
        )));
    }
    let channels = rows / taps.len();
    let mut shape = vec![batch, channels];
    shape.extend_from_slice(output_size);
    crate::limits::check_exact_elements(
        "the output",
        shape
            .iter()
            .fold(1u128, |n, &d| n.saturating_mul(d as u128)),
    )
    .map_err(OpError::Invalid)?;
    let mut out = ArrayD::from_elem(IxDyn(&shape), T::zero());
    for (index, value) in input.indexed_iter() {
        let (n, row, column) = (index[0], index[1], index[2]);
        let (c, tap) = (row / taps.len(), &taps[row % taps.len()]);
        let position = crate::index::unravel(column, &blocks);
        let mut target = vec![n, c];
        let mut inside = true;
        for (dim, g) in dims.iter().enumerate() {
            let t = g.input_index(position[dim], tap[dim]);
            if t < 0 || t as usize >= g.input {
                inside = false;
                break;
            }
            target.push(t as usize);
        }
        if inside {
            let slot = &mut out[IxDyn(&target)];
            *slot = slot.clone() + value.clone();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::correlate;
    use ndarray::Axis;

    fn tensor(shape: &[usize], values: Vec<i64>) -> ArrayD<i64> {
        ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
    }

    #[test]
    fn unfold_layout_by_hand() {
        // 1 channel 3x3 [[1,2,3],[4,5,6],[7,8,9]], 2x2 windows: column (oh, ow) holds the window
        // in row order; row a*2 + b is tap (a, b).
        let x = tensor(&[1, 1, 3, 3], (1..=9).collect());
        let cols = unfold(&x, &UnfoldParams::new(vec![2, 2])).unwrap();
        assert_eq!(cols.shape(), &[1, 4, 4]);
        let rows: Vec<Vec<i64>> = cols
            .index_axis(Axis(0), 0)
            .outer_iter()
            .map(|r| r.iter().copied().collect())
            .collect();
        assert_eq!(rows[0], vec![1, 2, 4, 5]);
        assert_eq!(rows[1], vec![2, 3, 5, 6]);
        assert_eq!(rows[2], vec![4, 5, 7, 8]);
        assert_eq!(rows[3], vec![5, 6, 8, 9]);
        // fold sums overlaps: the centre 5 is read by all four windows.
        let back = fold(&cols, &[3, 3], &UnfoldParams::new(vec![2, 2])).unwrap();
        assert_eq!(back[[0, 0, 1, 1]], 20);
        assert_eq!(back[[0, 0, 0, 0]], 1);
    }

    #[test]
    fn correlation_is_a_matrix_product_of_unfold() {
        // conv2d(x, W) = W.reshape(C_out, -1) @ unfold(x), with stride, padding, dilation.
        let x = tensor(&[2, 2, 5, 4], (0..80).map(|v| (v * 7) % 11 - 5).collect());
        let w = tensor(&[3, 2, 2, 3], (0..36).map(|v| (v * 5) % 7 - 3).collect());
        let mut params = UnfoldParams::new(vec![2, 3]);
        params.stride = vec![2, 1];
        params.padding = vec![1, 1];
        params.dilation = vec![1, 2];
        let geometry = ConvGeometry::new(2)
            .with_stride(params.stride.clone())
            .with_dilation(params.dilation.clone())
            .with_padding(Padding::Explicit(vec![(1, 1), (1, 1)]));
        let y = correlate(&x, &w, None, &geometry).unwrap();
        let cols = unfold(&x, &params).unwrap();
        let w2 = w.clone().into_shape_with_order((3, 12)).unwrap();
        for n in 0..2 {
            let c = cols
                .index_axis(Axis(0), n)
                .into_dimensionality::<ndarray::Ix2>()
                .unwrap();
            let product = w2.dot(&c);
            let y_n: Vec<i64> = y.index_axis(Axis(0), n).iter().copied().collect();
            assert_eq!(product.iter().copied().collect::<Vec<_>>(), y_n);
        }
    }

    #[test]
    fn fold_refuses_wrong_shapes() {
        let cols = tensor(&[1, 5, 4], vec![0; 20]);
        assert!(fold(&cols, &[3, 3], &UnfoldParams::new(vec![2, 2])).is_err());
        let cols = tensor(&[1, 4, 5], vec![0; 20]);
        assert!(fold(&cols, &[3, 3], &UnfoldParams::new(vec![2, 2])).is_err());
    }
}
