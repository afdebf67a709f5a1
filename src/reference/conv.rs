//! Correlation and convolution layers of any spatial rank.

use super::{check_bias, unbatched, OpError};
use crate::geometry::{ConvGeometry, ConvShape};
use crate::index::multi_indices;
use crate::scalar::Ring;
use ndarray::{ArrayD, Axis, IxDyn};

/// Cross-correlation layer (what deep-learning frameworks call convolution).
///
/// Input x of shape (N, C_in, L_1..L_r) (or unbatched (C_in, L_1..L_r), as PyTorch allows),
/// weight w of shape (C_out, C_in/G, k_1..k_r), optional bias b of shape (C_out). With
/// g(o) = floor(o / (C_out/G)) the group of output channel o:
///
/// ```text
/// y[n, o, i] = b[o] + sum_{c < C_in/G} sum_{j < k} w[o, c, j] * xpad[n, g(o) C_in/G + c, i*s + j*d]
/// ```
///
/// where i, j, s, d are multi-indices over the spatial dimensions (products taken per
/// dimension), and xpad is x padded by (p_b, p_e) per dimension with the geometry's padding
/// mode: xpad\[t\] = x[source(t - p_b)] (see [`PaddingMode::source_index`]), or 0 for zeros.
///
/// This is `torch.nn.functional.conv{1,2,3}d(x, w, b, stride, padding, dilation, groups)` and,
/// with a padding mode, `torch.nn.Conv{1,2,3}d(..., padding_mode=...)`.
///
/// Cost: O(N C_out prod(O) (C_in/G) prod(k)) ring operations.
///
/// [`PaddingMode::source_index`]: crate::geometry::PaddingMode::source_index
pub fn correlate<T: Ring>(
    input: &ArrayD<T>,
    weight: &ArrayD<T>,
    bias: Option<&ArrayD<T>>,
    geometry: &ConvGeometry,
) -> Result<ArrayD<T>, OpError> {
    if input.ndim() + 1 == weight.ndim() {
        return unbatched(input, |x| correlate(x, weight, bias, geometry));
    }
    check_bias(bias)?;
    let shape = ConvShape::new(
        input.shape(),
        weight.shape(),
        bias.map(|b| b.len()),
        geometry,
    )?;
    let rank = shape.dims.len();
    let in_per_group = shape.in_channels / shape.groups;
    let out_per_group = shape.out_channels / shape.groups;
    let taps = multi_indices(&shape.kernel());
    let output_shape = shape.output_shape()?;
    crate::limits::check_exact_elements(
        "the output",
        output_shape.iter().map(|&d| d as u128).product(),
    )
    .map_err(OpError::Invalid)?;

    let output = ArrayD::from_shape_fn(IxDyn(&output_shape), |index| {
        let (n, o) = (index[0], index[1]);
        let group = o / out_per_group;
        let mut sum = bias.map_or_else(T::zero, |b| b[o].clone());
        for c in 0..in_per_group {
            'taps: for tap in &taps {
                let mut source = Vec::with_capacity(rank + 2);
                source.push(n);
                source.push(group * in_per_group + c);
                for (dim, g) in shape.dims.iter().enumerate() {
                    let position = g.input_index(index[2 + dim], tap[dim]);
                    match geometry.padding_mode.source_index(position, g.input) {
                        Some(s) => source.push(s),
                        None => continue 'taps, // a zero of the padding contributes nothing
                    }
                }
                let mut weight_index = vec![o, c];
                weight_index.extend(tap);
                sum = sum + weight[IxDyn(&weight_index)].clone() * input[IxDyn(&source)].clone();
            }
        }
        sum
    });
    Ok(output)
}

/// The kernel flipped in every spatial dimension: w'[o, c, j] = w[o, c, k - 1 - j].
pub fn flip_kernel<T: Clone>(weight: &ArrayD<T>) -> ArrayD<T> {
    let mut flipped = weight.view();
    for axis in 2..weight.ndim() {
        flipped.invert_axis(Axis(axis));
    }
    flipped.to_owned()
}

/// True convolution layer: [`correlate`] with the kernel flipped in every spatial dimension,
///
/// ```text
/// y[n, o, i] = b[o] + sum_c sum_j w[o, c, k - 1 - j] * xpad[n, g(o) C_in/G + c, i*s + j*d].
/// ```
///
/// With padding [`Full`](crate::geometry::Padding::Full), stride 1 and one channel this is
/// (x * w)\[t\] = sum_tau x[t - tau] w\[tau\], the seed's 1-D and 2-D convolution and `np.convolve`
/// in mode 'full'.
pub fn convolve<T: Ring>(
    input: &ArrayD<T>,
    weight: &ArrayD<T>,
    bias: Option<&ArrayD<T>>,
    geometry: &ConvGeometry,
) -> Result<ArrayD<T>, OpError> {
    correlate(input, &flip_kernel(weight), bias, geometry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Padding, PaddingMode};
    use ndarray::arr1;

    fn tensor(shape: &[usize], values: &[i64]) -> ArrayD<i64> {
        ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap()
    }

    impl crate::scalar::Ring for i64 {
        const EXACT: bool = true;
    }

    #[test]
    fn one_dimensional_by_hand() {
        // x = [1, 2, 3, 4], w = [1, 10]: correlation valid = [21, 32, 43].
        let x = tensor(&[1, 1, 4], &[1, 2, 3, 4]);
        let w = tensor(&[1, 1, 2], &[1, 10]);
        let y = correlate(&x, &w, None, &ConvGeometry::new(1)).unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![21, 32, 43]);
        // Convolution flips: [12, 23, 34].
        let y = convolve(&x, &w, None, &ConvGeometry::new(1)).unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![12, 23, 34]);
    }

    #[test]
    fn stride_dilation_padding_modes_by_hand() {
        let x = tensor(&[1, 1, 5], &[1, 2, 3, 4, 5]);
        let w = tensor(&[1, 1, 2], &[1, 100]);
        // Dilation 2: y[i] = x[i] + 100 x[i+2] -> [301, 402, 503].
        let g = ConvGeometry::new(1).with_dilation(vec![2]);
        assert_eq!(
            correlate(&x, &w, None, &g)
                .unwrap()
                .into_raw_vec_and_offset()
                .0,
            vec![301, 402, 503]
        );
        // Stride 2, padding 1 zeros: padded [0,1,2,3,4,5,0] -> windows at 0,2,4: [100, 302, 504].
        let g = ConvGeometry::new(1)
            .with_stride(vec![2])
            .with_padding(Padding::uniform(1, 1));
        assert_eq!(
            correlate(&x, &w, None, &g)
                .unwrap()
                .into_raw_vec_and_offset()
                .0,
            vec![100, 302, 504]
        );
        // Reflect: padded [2,1,2,3,4,5,4]: windows (2,1), (2,3), (4,5) -> [102, 302, 504].
        let g = g.with_padding_mode(PaddingMode::Reflect);
        assert_eq!(
            correlate(&x, &w, None, &g)
                .unwrap()
                .into_raw_vec_and_offset()
                .0,
            vec![102, 302, 504]
        );
        // Circular: padded [5,1,...,5,1] -> [105, 302, 504]; last window (4,5)... and bias 7.
        let g = g.with_padding_mode(PaddingMode::Circular);
        let b = arr1(&[7i64]).into_dyn();
        assert_eq!(
            correlate(&x, &w, Some(&b), &g)
                .unwrap()
                .into_raw_vec_and_offset()
                .0,
            vec![112, 309, 511]
        );
    }

    #[test]
    fn groups_map_channels_in_blocks() {
        // 2 input channels, groups 2, 2 output channels: each output sees only its own channel.
        let x = tensor(&[1, 2, 2], &[1, 2, 3, 4]);
        let w = tensor(&[2, 1, 1], &[10, 100]);
        let g = ConvGeometry::new(1).with_groups(2);
        assert_eq!(
            correlate(&x, &w, None, &g)
                .unwrap()
                .into_raw_vec_and_offset()
                .0,
            vec![10, 20, 300, 400]
        );
    }

    #[test]
    fn unbatched_input_like_pytorch() {
        let x = tensor(&[1, 3], &[1, 2, 3]);
        let w = tensor(&[1, 1, 2], &[1, 1]);
        let y = correlate(&x, &w, None, &ConvGeometry::new(1)).unwrap();
        assert_eq!(y.shape(), &[1, 2]);
    }
}
