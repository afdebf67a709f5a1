//! Matrices of the convolution layers: correlation, true convolution, transposed convolution.

use super::{accumulate, zero_matrix, MatrixLimit, ToeplitzError};
use crate::geometry::{
    checked_product, ConvGeometry, ConvShape, TransposeGeometry, TransposeShape,
};
use crate::index::multi_indices;
use crate::index::ravel;
use crate::reference::conv::flip_kernel;
use crate::scalar::Ring;
use nalgebra::DMatrix;
use ndarray::{ArrayD, IxDyn};

/// (1, sample...): the batched shape the engine's shape checks expect.
fn batched(sample_shape: &[usize]) -> Vec<usize> {
    std::iter::once(1)
        .chain(sample_shape.iter().copied())
        .collect()
}

fn size(shape: &[usize], what: &'static str) -> Result<usize, ToeplitzError> {
    Ok(checked_product(shape, what)? as usize)
}

/// The matrix of the correlation layer ([`correlate`](crate::reference::correlate) without bias)
/// on samples of shape (C_in, L...), weight (C_out, C_in/G, k...).
///
/// Structure (the index map of the layer): for output (o, i), input channel c < C_in/G of o's
/// group g(o) and tap j,
///
/// ```text
/// A[(o, i), (g(o) C_in/G + c, source(i*s + j*d - p_b))] += w[o, c, j]
/// ```
///
/// per spatial dimension, where source is the padding mode's
/// [`source_index`](crate::geometry::PaddingMode::source_index); taps that read a zero of the
/// padding add nothing. Rows and columns are in C order (see the [module](super) docs).
///
/// Cost: O(C_out prod(O) (C_in/G) prod(k)) additions into a zero matrix of
/// C_out prod(O) x C_in prod(L) entries.
pub fn correlate_matrix<T: Ring + 'static>(
    weight: &ArrayD<T>,
    sample_shape: &[usize],
    geometry: &ConvGeometry,
    limit: MatrixLimit,
) -> Result<DMatrix<T>, ToeplitzError> {
    let shape = ConvShape::new(&batched(sample_shape), weight.shape(), None, geometry)?;
    let output_shape = shape.output_shape()?[1..].to_vec();
    let rows = size(&output_shape, "output size")?;
    let cols = size(sample_shape, "input size")?;
    let mut matrix = zero_matrix(rows, cols, limit)?;
    let in_per_group = shape.in_channels / shape.groups;
    let out_per_group = shape.out_channels / shape.groups;
    let taps = multi_indices(&shape.kernel());
    for (row, output) in multi_indices(&output_shape).into_iter().enumerate() {
        let o = output[0];
        let group = o / out_per_group;
        for c in 0..in_per_group {
            'taps: for tap in &taps {
                let mut source = vec![group * in_per_group + c];
                for (dim, g) in shape.dims.iter().enumerate() {
                    let position = g.input_index(output[1 + dim], tap[dim]);
                    match geometry.padding_mode.source_index(position, g.input) {
                        Some(s) => source.push(s),
                        None => continue 'taps,
                    }
                }
                let mut weight_index = vec![o, c];
                weight_index.extend(tap);
                accumulate(
                    &mut matrix,
                    row,
                    ravel(&source, sample_shape),
                    weight[IxDyn(&weight_index)].clone(),
                );
            }
        }
    }
    Ok(matrix)
}

/// The matrix of the true convolution layer ([`convolve`](crate::reference::convolve)): the
/// correlation matrix of the kernel flipped in every spatial dimension,
/// A[(o, i), (c, i*s + j*d - p_b)] += w[o, c, k - 1 - j].
///
/// With one channel, stride 1 and [`Padding::Full`](crate::geometry::Padding::Full) this is the
/// seed's matrix: column j holds the kernel shifted down by j (Toeplitz in 1-D, doubly block
/// Toeplitz in 2-D).
pub fn convolve_matrix<T: Ring + 'static>(
    weight: &ArrayD<T>,
    sample_shape: &[usize],
    geometry: &ConvGeometry,
    limit: MatrixLimit,
) -> Result<DMatrix<T>, ToeplitzError> {
    correlate_matrix(&flip_kernel(weight), sample_shape, geometry, limit)
}

/// The matrix of the transposed convolution ([`conv_transpose`](crate::reference::conv_transpose)
/// without bias) on samples of shape (C_in, L...), weight (C_in, C_out/G, k...).
///
/// Structure (the scatter map of the layer): input (c, i) in group g = c / (C_in/G) sends, for
/// each output channel o' < C_out/G of its group and tap j, to output position
/// t = i*s + j*d - p_b when 0 <= t < O:
///
/// ```text
/// A[(g C_out/G + o', t), (c, i)] += w[c, o', j]
/// ```
///
/// This is the transpose of the [`correlate_matrix`] of the same weight, stride, dilation,
/// padding and groups whenever the output size O equals the correlation's input size L (which
/// output_padding = (L + p_b + p_e - d(k-1) - 1) mod s arranges): the tests check that.
pub fn conv_transpose_matrix<T: Ring + 'static>(
    weight: &ArrayD<T>,
    sample_shape: &[usize],
    geometry: &TransposeGeometry,
    limit: MatrixLimit,
) -> Result<DMatrix<T>, ToeplitzError> {
    let shape = TransposeShape::new(&batched(sample_shape), weight.shape(), None, geometry)?;
    let output_shape = shape.output_shape()?[1..].to_vec();
    let rows = size(&output_shape, "output size")?;
    let cols = size(sample_shape, "input size")?;
    let mut matrix = zero_matrix(rows, cols, limit)?;
    let in_per_group = shape.in_channels / shape.groups;
    let out_per_group = shape.out_channels / shape.groups;
    let kernel: Vec<usize> = shape.dims.iter().map(|g| g.kernel).collect();
    let taps = multi_indices(&kernel);
    for (col, input) in multi_indices(sample_shape).into_iter().enumerate() {
        let channel = input[0];
        let group = channel / in_per_group;
        'taps: for tap in &taps {
            let mut target = vec![0];
            for (dim, g) in shape.dims.iter().enumerate() {
                let t = (input[1 + dim] * g.stride + tap[dim] * g.dilation) as i64 - g.pad_begin;
                if t < 0 || t as usize >= output_shape[1 + dim] {
                    continue 'taps;
                }
                target.push(t as usize);
            }
            for o in 0..out_per_group {
                target[0] = group * out_per_group + o;
                let mut weight_index = vec![channel, o];
                weight_index.extend(tap);
                accumulate(
                    &mut matrix,
                    ravel(&target, &output_shape),
                    col,
                    weight[IxDyn(&weight_index)].clone(),
                );
            }
        }
    }
    Ok(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Padding, PaddingMode};
    use crate::symbolic::Polynomial;

    fn ints(shape: &[usize], values: &[i64]) -> ArrayD<crate::scalar::Integer> {
        ArrayD::from_shape_vec(IxDyn(shape), values.iter().map(|&v| v.into()).collect()).unwrap()
    }

    fn rows(m: &DMatrix<crate::scalar::Integer>) -> Vec<Vec<i64>> {
        (0..m.nrows())
            .map(|r| {
                (0..m.ncols())
                    .map(|c| i64::try_from(&m[(r, c)]).unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn one_dimensional_full_convolution_is_toeplitz_by_hand() {
        // w = [1, 1, 2], n = 3, full: column j is w shifted down by j (the seed's matrix).
        let w = ints(&[1, 1, 3], &[1, 1, 2]);
        let g = ConvGeometry::new(1).with_padding(Padding::Full);
        let a = convolve_matrix(&w, &[1, 3], &g, MatrixLimit::DEFAULT).unwrap();
        assert_eq!(
            rows(&a),
            vec![
                vec![1, 0, 0],
                vec![1, 1, 0],
                vec![2, 1, 1],
                vec![0, 2, 1],
                vec![0, 0, 2]
            ]
        );
    }

    #[test]
    fn reflect_padding_folds_taps_into_columns_by_hand() {
        // x = [x0, x1, x2], w = [1, 10, 100], padding 1 reflect: padded [x1, x0, x1, x2, x1].
        // y0 = x1 + 10 x0 + 100 x1 = 10 x0 + 101 x1; y1 = x0 + 10 x1 + 100 x2;
        // y2 = x1 + 10 x2 + 100 x1 = 101 x1 + 10 x2.
        let w = ints(&[1, 1, 3], &[1, 10, 100]);
        let g = ConvGeometry::new(1)
            .with_padding(Padding::uniform(1, 1))
            .with_padding_mode(PaddingMode::Reflect);
        let a = correlate_matrix(&w, &[1, 3], &g, MatrixLimit::DEFAULT).unwrap();
        assert_eq!(
            rows(&a),
            vec![vec![10, 101, 0], vec![1, 10, 100], vec![0, 101, 10]]
        );
        // Circular with 'same' size: circulant, every row the previous one rotated right.
        let g = g.with_padding_mode(PaddingMode::Circular);
        let a = correlate_matrix(&w, &[1, 3], &g, MatrixLimit::DEFAULT).unwrap();
        assert_eq!(
            rows(&a),
            vec![vec![10, 100, 1], vec![1, 10, 100], vec![100, 1, 10]]
        );
    }

    #[test]
    fn groups_give_block_diagonal_structure() {
        // 2 channels in, 2 out, groups 2, 1x1 kernels 3 and 5 on length-2 samples.
        let w = ints(&[2, 1, 1], &[3, 5]);
        let g = ConvGeometry::new(1).with_groups(2);
        let a = correlate_matrix(&w, &[2, 2], &g, MatrixLimit::DEFAULT).unwrap();
        assert_eq!(
            rows(&a),
            vec![
                vec![3, 0, 0, 0],
                vec![0, 3, 0, 0],
                vec![0, 0, 5, 0],
                vec![0, 0, 0, 5]
            ]
        );
    }

    #[test]
    fn symbolic_matrix_times_symbolic_input_is_the_engine_identically() {
        // 2-D, stride 2 in one dimension, dilation in the other, padding 1 zeros: the entries
        // of A vec(x) are the polynomials the engine computes, for all values at once.
        let k = ArrayD::from_shape_fn(IxDyn(&[1, 1, 2, 2]), |i| {
            Polynomial::variable("k", &[i[2] + 1, i[3] + 1])
        });
        let x = ArrayD::from_shape_fn(IxDyn(&[1, 3, 4]), |i| {
            Polynomial::variable("x", &[i[1] + 1, i[2] + 1])
        });
        let g = ConvGeometry::new(2)
            .with_stride(vec![2, 1])
            .with_dilation(vec![1, 2])
            .with_padding(Padding::uniform(1, 2));
        let a = correlate_matrix(&k, &[1, 3, 4], &g, MatrixLimit::DEFAULT).unwrap();
        let y = crate::reference::correlate(&x, &k, None, &g).unwrap();
        let ax = super::super::apply(&a, &x.iter().cloned().collect::<Vec<_>>()).unwrap();
        assert_eq!(ax, y.iter().cloned().collect::<Vec<_>>());
    }
}
