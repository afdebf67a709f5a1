//! Transposed convolution (PyTorch `conv_transpose{1,2,3}d`, ONNX `ConvTranspose`).

use super::{check_bias, unbatched, OpError};
use crate::geometry::{TransposeGeometry, TransposeShape};
use crate::index::multi_indices;
use crate::scalar::Ring;
use ndarray::{ArrayD, IxDyn};

/// Transposed convolution: the adjoint (matrix transpose) of the correlation layer with the
/// same stride, dilation, padding and groups, plus bias.
///
/// Input x of shape (N, C_in, L...) (or unbatched (C_in, L...)), weight w of shape
/// (C_in, C_out/G, k...), bias b of shape (C_out). With C_in/G input channels per group, input
/// channel c = g C_in/G + c' scatters into output channels g C_out/G + o':
///
/// ```text
/// y[n, g C_out/G + o', t] = b[o] + sum_{c' < C_in/G} sum_{j < k} sum_{i : i s + j d = t + p_b}
///                             x[n, g C_in/G + c', i] * w[g C_in/G + c', o', j]
/// ```
///
/// per spatial dimension (multi-indices, i in [0, L)), with output size
/// O = (L - 1) s + d (k - 1) + 1 + output_padding - p_b - p_e (see
/// [`TransposeGeometry`]). The output-padding positions receive no input, only the bias.
///
/// Cost: O(N C_out prod(O) (C_in/G) prod(k)) ring operations.
pub fn conv_transpose<T: Ring>(
    input: &ArrayD<T>,
    weight: &ArrayD<T>,
    bias: Option<&ArrayD<T>>,
    geometry: &TransposeGeometry,
) -> Result<ArrayD<T>, OpError> {
    if input.ndim() + 1 == weight.ndim() {
        return unbatched(input, |x| conv_transpose(x, weight, bias, geometry));
    }
    check_bias(bias)?;
    let shape = TransposeShape::new(
        input.shape(),
        weight.shape(),
        bias.map(|b| b.len()),
        geometry,
    )?;
    let in_per_group = shape.in_channels / shape.groups;
    let out_per_group = shape.out_channels / shape.groups;
    let kernel: Vec<usize> = shape.dims.iter().map(|g| g.kernel).collect();
    let taps = multi_indices(&kernel);
    let output_shape = shape.output_shape()?;

    let output = ArrayD::from_shape_fn(IxDyn(&output_shape), |index| {
        let (n, o) = (index[0], index[1]);
        let (group, o_in_group) = (o / out_per_group, o % out_per_group);
        let mut sum = bias.map_or_else(T::zero, |b| b[o].clone());
        'taps: for tap in &taps {
            // The input position i with i s + j d = t + p_b, per dimension, if there is one.
            let mut source = vec![n, 0];
            for (dim, g) in shape.dims.iter().enumerate() {
                let reach = index[2 + dim] as i64 + g.pad_begin - (tap[dim] * g.dilation) as i64;
                if reach < 0
                    || !(reach as usize).is_multiple_of(g.stride)
                    || reach as usize / g.stride >= g.input
                {
                    continue 'taps;
                }
                source.push(reach as usize / g.stride);
            }
            for c in 0..in_per_group {
                let channel = group * in_per_group + c;
                source[1] = channel;
                let mut weight_index = vec![channel, o_in_group];
                weight_index.extend(tap);
                sum = sum + input[IxDyn(&source)].clone() * weight[IxDyn(&weight_index)].clone();
            }
        }
        sum
    });
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::TransposePadding;

    fn tensor(shape: &[usize], values: &[i64]) -> ArrayD<i64> {
        ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap()
    }

    #[test]
    fn stride_two_by_hand() {
        // x = [1, 2], w = [1, 10, 100], s = 2: scatter 1*[1,10,100] at 0 and 2*[1,10,100] at 2:
        // [1, 10, 102, 20, 200].
        let x = tensor(&[1, 1, 2], &[1, 2]);
        let w = tensor(&[1, 1, 3], &[1, 10, 100]);
        let g = TransposeGeometry::new(1).with_stride(vec![2]);
        let y = conv_transpose(&x, &w, None, &g).unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![1, 10, 102, 20, 200]);
        // Padding 1 crops one element each side; output_padding 1 adds one (bias only) at the end.
        let g = g
            .with_padding(TransposePadding::Explicit(vec![(1, 1)]))
            .with_output_padding(vec![1]);
        let b = tensor(&[1], &[5]);
        let y = conv_transpose(&x, &w, Some(&b), &g).unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![15, 107, 25, 205]);
    }

    #[test]
    fn groups_keep_channel_blocks_apart() {
        // 2 input channels, groups 2, weight (2, 1, 1): output channel g sees only input g.
        let x = tensor(&[1, 2, 2], &[1, 2, 3, 4]);
        let w = tensor(&[2, 1, 1], &[10, 100]);
        let g = TransposeGeometry::new(1).with_groups(2);
        let y = conv_transpose(&x, &w, None, &g).unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![10, 20, 300, 400]);
    }
}
