//! Backpropagation through the correlation layer, written through the identities of local
//! connection and weight sharing (the seed's section on backprop):
//!
//! * y = b + w ⋆ x is linear in x with each output reading a window of the padded input, so
//!   dL/dxpad is the **transposed convolution** of the upstream gradient g with the same weight,
//!   stride, dilation and groups; the padded positions are then folded back onto the input
//!   elements they copy (nothing for zeros; the mirrored, edge or wrapped element otherwise).
//! * every output shares the same weight, so dL/dw[o, c, j] = sum_{n, i} g[n, o, i] xpad[n, c, i s + j d]
//!   is a **correlation of the padded input with the upstream gradient**, where the roles of
//!   stride and dilation are exchanged (the gradient is the kernel, dilated by s; the result is
//!   sampled every d).
//! * dL/db\[o\] = sum_{n, i} g[n, o, i].

use super::conv::correlate;
use super::transpose::conv_transpose;
use super::OpError;
use crate::geometry::{ConvGeometry, ConvShape, Padding, TransposeGeometry, TransposePadding};
use crate::scalar::Ring;
use ndarray::{concatenate, ArrayD, Axis, IxDyn, Slice};

/// The three gradients of a correlation layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvGradients<T> {
    /// dL/dx, shape of the input.
    pub input: ArrayD<T>,
    /// dL/dw, shape of the weight.
    pub weight: ArrayD<T>,
    /// dL/db, shape (C_out).
    pub bias: ArrayD<T>,
}

/// Gradients of [`correlate`] (`torch.nn.functional.conv{1,2,3}d`) at input `input` and weight
/// `weight` for the upstream gradient `grad_output` (shape of the forward output), for any
/// stride, dilation, padding (rule and mode) and groups. See the module documentation for the
/// identities used. Input may be unbatched (C_in, L...), as in the forward pass.
pub fn correlate_backward<T: Ring>(
    input: &ArrayD<T>,
    weight: &ArrayD<T>,
    grad_output: &ArrayD<T>,
    geometry: &ConvGeometry,
) -> Result<ConvGradients<T>, OpError> {
    if input.ndim() + 1 == weight.ndim() {
        if grad_output.ndim() != input.ndim() {
            return Err(OpError::Invalid(format!(
                "grad_output has shape {:?} but the (unbatched) forward output has rank {}",
                grad_output.shape(),
                input.ndim()
            )));
        }
        let x = input.clone().insert_axis(Axis(0));
        let g = grad_output.clone().insert_axis(Axis(0));
        let grads = correlate_backward(&x, weight, &g, geometry)?;
        return Ok(ConvGradients {
            input: grads.input.index_axis_move(Axis(0), 0),
            ..grads
        });
    }
    let shape = ConvShape::new(input.shape(), weight.shape(), None, geometry)?;
    super::pool::check_grad_shape(grad_output.shape(), &shape.output_shape()?)?;
    let pads: Vec<(usize, usize)> = shape
        .dims
        .iter()
        .map(|g| (g.pad_begin, g.pad_end))
        .collect();
    let rank = shape.dims.len();

    // dL/dxpad: transposed convolution onto the padded input's full extent. The leftover
    // r = (L + p_b + p_e - d(k-1) - 1) mod s positions that no window reaches are the output
    // padding (r < s, so PyTorch's rule holds).
    let output_padding: Vec<usize> = shape
        .dims
        .iter()
        .map(|g| {
            let padded = g.input + g.pad_begin + g.pad_end;
            (padded - g.dilation * (g.kernel - 1) - 1) % g.stride
        })
        .collect();
    let transpose = TransposeGeometry {
        stride: geometry.stride.clone(),
        dilation: geometry.dilation.clone(),
        padding: TransposePadding::Explicit(vec![(0, 0); rank]),
        output_padding,
        groups: shape.groups,
    };
    let grad_padded = conv_transpose(grad_output, weight, None, &transpose)?;
    // Fold the padding back: padded position t holds input element source(t - p_b), if any.
    let mut grad_input = ArrayD::from_elem(IxDyn(input.shape()), T::zero());
    for (index, g) in grad_padded.indexed_iter() {
        let mut target = vec![index[0], index[1]];
        let mut inside = true;
        for (dim, d) in shape.dims.iter().enumerate() {
            let position = index[2 + dim] as i64 - d.pad_begin as i64;
            match geometry.padding_mode.source_index(position, d.input) {
                Some(s) => target.push(s),
                None => inside = false,
            }
        }
        if inside {
            let slot = &mut grad_input[IxDyn(&target)];
            *slot = slot.clone() + g.clone();
        }
    }

    // dL/dw, one group at a time: correlate x^T (C_in/G, N, L) with g^T (C_out/G, N, O),
    // stride d and dilation s, then keep the first k taps.
    let in_per_group = shape.in_channels / shape.groups;
    let out_per_group = shape.out_channels / shape.groups;
    let swapped = ConvGeometry {
        stride: geometry.dilation.clone(),
        dilation: geometry.stride.clone(),
        padding: Padding::Explicit(pads),
        padding_mode: geometry.padding_mode,
        groups: 1,
    };
    let swap_batch_and_channel = |a: ArrayD<T>| {
        let mut a = a;
        a.swap_axes(0, 1);
        a.as_standard_layout().into_owned()
    };
    let mut per_group = Vec::with_capacity(shape.groups);
    for group in 0..shape.groups {
        let x = input.slice_axis(
            Axis(1),
            Slice::from(group * in_per_group..(group + 1) * in_per_group),
        );
        let g = grad_output.slice_axis(
            Axis(1),
            Slice::from(group * out_per_group..(group + 1) * out_per_group),
        );
        let mut gw = correlate(
            &swap_batch_and_channel(x.to_owned()),
            &swap_batch_and_channel(g.to_owned()),
            None,
            &swapped,
        )?;
        for (dim, d) in shape.dims.iter().enumerate() {
            gw.slice_axis_inplace(Axis(2 + dim), Slice::from(0..d.kernel));
        }
        per_group.push(swap_batch_and_channel(gw));
    }
    let views: Vec<_> = per_group.iter().map(|a| a.view()).collect();
    let grad_weight = concatenate(Axis(0), &views).expect("groups have equal shapes");

    // dL/db: the upstream gradient summed over everything but the channel.
    let mut grad_bias = grad_output.clone();
    while grad_bias.ndim() > 2 {
        grad_bias = grad_bias.sum_axis(Axis(grad_bias.ndim() - 1));
    }
    let grad_bias = grad_bias.sum_axis(Axis(0));

    Ok(ConvGradients {
        input: grad_input,
        weight: grad_weight,
        bias: grad_bias,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::PaddingMode;

    fn tensor(shape: &[usize], values: &[i64]) -> ArrayD<i64> {
        ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap()
    }

    /// <a, b> summed over all elements.
    fn dot(a: &ArrayD<i64>, b: &ArrayD<i64>) -> i64 {
        a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn gradients_by_hand() {
        // x = [1, 2, 3, 4], w = [1, 10], y = [21, 32, 43]; g = [1, 0, 2]:
        // dx = [1, 10, 2, 20], dw = [1*1 + 2*3, 1*2 + 2*4] = [7, 10], db = 3.
        let x = tensor(&[1, 1, 4], &[1, 2, 3, 4]);
        let w = tensor(&[1, 1, 2], &[1, 10]);
        let g = tensor(&[1, 1, 3], &[1, 0, 2]);
        let grads = correlate_backward(&x, &w, &g, &ConvGeometry::new(1)).unwrap();
        assert_eq!(grads.input.into_raw_vec_and_offset().0, vec![1, 10, 2, 20]);
        assert_eq!(grads.weight.into_raw_vec_and_offset().0, vec![7, 10]);
        assert_eq!(grads.bias.into_raw_vec_and_offset().0, vec![3]);
    }

    #[test]
    fn adjoint_identities_hold_for_every_mode() {
        // <g, y(x)> = <dx, x> and <g, y(w)> = <dw, w> (no bias: y is linear in each).
        let x = tensor(&[1, 2, 7], &[3, -1, 4, 1, -5, 9, 2, 6, -5, 3, 5, -8, 9, 7]);
        let w = tensor(&[4, 1, 3], &[2, -7, 1, 8, 2, -8, 1, 8, 2, -8, 4, 5]);
        for mode in [
            PaddingMode::Zeros,
            PaddingMode::Reflect,
            PaddingMode::Replicate,
            PaddingMode::Circular,
        ] {
            let geometry = ConvGeometry::new(1)
                .with_stride(vec![2])
                .with_dilation(vec![2])
                .with_padding(Padding::Explicit(vec![(2, 1)]))
                .with_padding_mode(mode)
                .with_groups(2);
            let y = correlate(&x, &w, None, &geometry).unwrap();
            let g = y.mapv(|v| v % 5 - 2);
            let grads = correlate_backward(&x, &w, &g, &geometry).unwrap();
            assert_eq!(dot(&g, &y), dot(&grads.input, &x), "{mode:?}");
            assert_eq!(dot(&g, &y), dot(&grads.weight, &w), "{mode:?}");
        }
    }

    #[test]
    fn negative_control_the_adjoint_check_rejects_a_missing_padding_fold() {
        // A wrong input gradient that drops the padding (as for zeros) under reflect padding:
        // the same identity must fail, so the check above can catch the mistake.
        let x = tensor(&[1, 1, 6], &[3, -1, 4, 1, -5, 9]);
        let w = tensor(&[1, 1, 3], &[2, -7, 1]);
        let reflect = ConvGeometry::new(1)
            .with_padding(Padding::Explicit(vec![(2, 1)]))
            .with_padding_mode(PaddingMode::Reflect);
        let y = correlate(&x, &w, None, &reflect).unwrap();
        let g = y.mapv(|v| v % 5 - 2);
        let wrong = correlate_backward(
            &x,
            &w,
            &g,
            &reflect.clone().with_padding_mode(PaddingMode::Zeros),
        )
        .unwrap();
        assert_ne!(dot(&g, &y), dot(&wrong.input, &x));
    }

    #[test]
    fn mismatched_gradient_shape_is_refused() {
        let x = tensor(&[1, 1, 4], &[1, 2, 3, 4]);
        let w = tensor(&[1, 1, 2], &[1, 10]);
        let g = tensor(&[1, 1, 4], &[1, 0, 2, 0]);
        assert!(correlate_backward(&x, &w, &g, &ConvGeometry::new(1)).is_err());
    }
}
