//! Pooling: max, average, adaptive and global, with PyTorch's (and ONNX's) exact semantics.
//!
//! Every pooling operator here is "reduce each window", and a window is described once, by
//! [`Window`]: the input positions it covers (in scan order, padding left out) and how many
//! positions of the padded input it covers (the divisor of `count_include_pad`).
//!
//! * Fixed windows ([`max_pool`], [`avg_pool`]): output i (per spatial dimension) covers the
//!   padded positions i s + j d for j < k, i.e. input positions i s + j d - p_b; the output size
//!   follows [`pool_output_size`](crate::geometry::pool_output_size).
//! * Adaptive windows ([`adaptive_avg_pool`], [`adaptive_max_pool`]): output i of O covers the
//!   input positions [floor(i L / O), ceil((i + 1) L / O)).
//! * Global pooling is adaptive pooling to size 1.

use super::OpError;
use crate::geometry::{GeometryError, PoolParams};
use crate::index::multi_indices;
use crate::scalar::{Field, Ring};
use ndarray::{ArrayD, Dimension, IxDyn};

/// The input positions one output element of a pooling layer reduces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Spatial multi-indices into the input, in scan (C) order of the window; positions in the
    /// padding are left out.
    pub positions: Vec<Vec<usize>>,
    /// Positions of the window inside the padded input [-p_b, L + p_e), padding included but
    /// the ceil-mode overhang past the padding not: PyTorch's `count_include_pad` divisor.
    pub padded_count: usize,
}

/// The windows of a fixed-size pooling layer over spatial input sizes `input`, one per output
/// position in C order, and the output spatial sizes.
///
/// Per dimension, output i covers padded positions t = i s + j d (j < k); t - p_b is an input
/// position when 0 <= t - p_b < L, and t counts toward `padded_count` when t < L + p_b + p_e.
/// A window with no input position is refused (PyTorch's padding limit prevents it; ONNX's
/// asymmetric pads may not).
pub fn pool_windows(
    input: &[usize],
    params: &PoolParams,
) -> Result<(Vec<Window>, Vec<usize>), OpError> {
    let dims = params.resolve(input)?;
    let output: Vec<usize> = dims.iter().map(|(_, o)| *o).collect();
    // Per dimension and output index: the in-bounds input positions, and the padded count.
    let per_dim: DimWindows = dims
        .iter()
        .zip(input)
        .map(|((g, out), &len)| {
            (0..*out)
                .map(|i| {
                    let mut inside = Vec::new();
                    let mut padded = 0;
                    for j in 0..g.kernel {
                        let t = i * g.stride + j * g.dilation;
                        if t < len + g.pad_begin + g.pad_end {
                            padded += 1;
                        }
                        if t >= g.pad_begin && t - g.pad_begin < len {
                            inside.push(t - g.pad_begin);
                        }
                    }
                    (inside, padded)
                })
                .collect()
        })
        .collect();
    let windows = product_windows(&per_dim, &output);
    if let Some(empty) = windows.iter().position(|w| w.positions.is_empty()) {
        return Err(OpError::Invalid(format!(
            "pooling window {:?} lies entirely in the padding",
            crate::index::unravel(empty, &output)
        )));
    }
    Ok((windows, output))
}

/// Per spatial dimension and output index: the input positions covered and the padded count.
type DimWindows = Vec<Vec<(Vec<usize>, usize)>>;

/// The windows of all output positions (C order of `output`): each the product over dimensions
/// of that dimension's positions, its padded count the product of the counts.
fn product_windows(per_dim: &DimWindows, output: &[usize]) -> Vec<Window> {
    multi_indices(output)
        .into_iter()
        .map(|index| {
            let ranges: Vec<&(Vec<usize>, usize)> = index
                .iter()
                .enumerate()
                .map(|(dim, &i)| &per_dim[dim][i])
                .collect();
            let sizes: Vec<usize> = ranges.iter().map(|(p, _)| p.len()).collect();
            let positions = multi_indices(&sizes)
                .into_iter()
                .map(|k| k.iter().enumerate().map(|(d, &j)| ranges[d].0[j]).collect())
                .collect();
            Window {
                positions,
                padded_count: ranges.iter().map(|(_, c)| c).product(),
            }
        })
        .collect()
}

/// The windows of adaptive pooling from spatial sizes `input` to `output`: output i covers
/// [floor(i L / O), ceil((i + 1) L / O)) per dimension (PyTorch's `start_index`/`end_index`).
///
/// An output size of 0 gives no windows: an empty output, as PyTorch returns.
pub fn adaptive_windows(input: &[usize], output: &[usize]) -> Result<Vec<Window>, OpError> {
    if input.len() != output.len() {
        return Err(GeometryError::RankMismatch {
            what: "output_size",
            expected: input.len(),
            got: output.len(),
        }
        .into());
    }
    for (dim, (&l, &o)) in input.iter().zip(output).enumerate() {
        if l == 0 && o > 0 {
            return Err(GeometryError::ZeroInput { dim }.into());
        }
    }
    // The windows' tables before they are built: one window per output position, one table
    // row (about L / O + 2 positions) per output index of each dimension.
    let windows: u128 = output.iter().map(|&o| o as u128).product();
    let rows: u128 = input
        .iter()
        .zip(output)
        .map(|(&l, &o)| o as u128 * (l as u128 / (o as u128).max(1) + 2))
        .sum();
    crate::limits::check_exact_elements(
        "the adaptive pooling windows",
        windows.saturating_add(rows),
    )
    .map_err(OpError::Invalid)?;
    let per_dim: DimWindows = input
        .iter()
        .zip(output)
        .map(|(&l, &o)| {
            (0..o)
                .map(|i| {
                    let start = i * l / o;
                    let end = ((i + 1) * l).div_ceil(o);
                    ((start..end).collect(), end - start)
                })
                .collect()
        })
        .collect();
    Ok(product_windows(&per_dim, output))
}

/// Checks that `shape` is (N, C, spatial...) or unbatched (C, spatial...) with `rank` spatial
/// dimensions; returns the spatial sizes.
fn spatial_sizes(shape: &[usize], rank: usize, what: &str) -> Result<Vec<usize>, OpError> {
    if rank == 0 || (shape.len() != rank + 2 && shape.len() != rank + 1) {
        return Err(OpError::Invalid(format!(
            "{what} with {rank} spatial dimensions needs input (N, C, spatial...) of rank {} or unbatched (C, spatial...) of rank {}, got shape {shape:?}",
            rank + 2,
            rank + 1
        )));
    }
    Ok(shape[shape.len() - rank..].to_vec())
}

/// Refuses an output of the leading dims times `output` beyond the memory limit
/// ([`crate::limits`]), before anything is allocated.
fn check_output(shape: &[usize], rank: usize, output: &[usize]) -> Result<(), OpError> {
    let elements = shape[..shape.len() - rank]
        .iter()
        .chain(output)
        .fold(1u128, |n, &d| n.saturating_mul(d as u128));
    crate::limits::check_exact_elements("the output", elements).map_err(OpError::Invalid)
}

/// Applies `reduce` to every (n, c) plane and window; output shape = leading dims + `output`.
fn reduce_windows<T: Clone, U: Clone>(
    input: &ArrayD<T>,
    rank: usize,
    windows: &[Window],
    output: &[usize],
    reduce: impl Fn(&ArrayD<T>, &[usize], &Window) -> U,
) -> ArrayD<U> {
    let lead = input.ndim() - rank;
    let mut shape = input.shape()[..lead].to_vec();
    shape.extend_from_slice(output);
    let plane_count: usize = input.shape()[..lead].iter().product();
    let mut values = Vec::with_capacity(plane_count * windows.len());
    for plane in multi_indices(&input.shape()[..lead]) {
        for window in windows {
            values.push(reduce(input, &plane, window));
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), values).expect("one value per plane and window")
}

/// The full index of a spatial position in a plane.
fn full_index(plane: &[usize], position: &[usize]) -> Vec<usize> {
    let mut index = plane.to_vec();
    index.extend_from_slice(position);
    index
}

/// C-order flat index of `position` in a box of `sizes`.
fn flat(position: &[usize], sizes: &[usize]) -> usize {
    position
        .iter()
        .zip(sizes)
        .fold(0, |acc, (&p, &s)| acc * s + p)
}

/// Max pooling output: values and, per output element, the index of the chosen input element.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxPoolOutput<T> {
    /// The maxima.
    pub values: ArrayD<T>,
    /// PyTorch's `return_indices=True`: the flat index of the maximum within its (n, c) plane
    /// of the input, C order over the spatial dimensions.
    pub indices: ArrayD<usize>,
    /// Number of leading (batch, channel) dimensions.
    lead: usize,
}

impl<T> MaxPoolOutput<T> {
    /// ONNX `MaxPool`'s second output (row-major `storage_order=0`): the flat index over the
    /// whole input tensor of shape `input_shape`, (n C + c) * (plane size) + the plane index.
    pub fn onnx_indices(&self, input_shape: &[usize]) -> ArrayD<usize> {
        let spatial = self.indices.ndim() - self.lead;
        let plane_size: usize = input_shape[input_shape.len() - spatial..].iter().product();
        let lead_sizes = &input_shape[..input_shape.len() - spatial];
        let mut out = self.indices.clone();
        for (index, value) in out.indexed_iter_mut() {
            *value += flat(&index.slice()[..self.lead], lead_sizes) * plane_size;
        }
        out
    }
}

/// The element chosen by max pooling in a window: the first maximum in scan order, except that
/// a NaN (for float scalars) is always taken, as PyTorch's `val > max || isnan(val)` does.
fn first_maximum<T: PartialOrd + Clone>(
    input: &ArrayD<T>,
    plane: &[usize],
    window: &Window,
) -> (T, usize) {
    let mut best: Option<(T, &Vec<usize>)> = None;
    for position in &window.positions {
        let value = input[IxDyn(&full_index(plane, position))].clone();
        #[allow(clippy::eq_op)]
        let is_nan = value != value;
        let better = match &best {
            None => true,
            Some((max, _)) => value > *max || is_nan,
        };
        if better {
            best = Some((value, position));
        }
    }
    let (value, position) = best.expect("windows are never empty");
    let spatial = &input.shape()[plane.len()..];
    (value, flat(position, spatial))
}

fn max_over<T: Ring + PartialOrd>(
    input: &ArrayD<T>,
    rank: usize,
    windows: &[Window],
    output: &[usize],
) -> MaxPoolOutput<T> {
    let both = reduce_windows(input, rank, windows, output, first_maximum);
    MaxPoolOutput {
        values: both.mapv(|(v, _)| v),
        indices: both.mapv(|(_, i)| i),
        lead: input.ndim() - rank,
    }
}

/// Max pooling, `torch.nn.functional.max_pool{1,2,3}d(x, kernel_size, stride, padding, dilation,
/// ceil_mode, return_indices=True)`:
///
/// ```text
/// y[n, c, i] = max_{j < k, 0 <= i s + j d - p_b < L} x[n, c, i s + j d - p_b]
/// ```
///
/// (padding is -infinity: never chosen), with the index of the first maximum in window scan
/// order. Input (N, C, L...) or unbatched (C, L...). Cost: O(N C prod(O) prod(k)) comparisons.
pub fn max_pool<T: Ring + PartialOrd>(
    input: &ArrayD<T>,
    params: &PoolParams,
) -> Result<MaxPoolOutput<T>, OpError> {
    let rank = params.rank();
    let spatial = spatial_sizes(input.shape(), rank, "max pooling")?;
    let (windows, output) = pool_windows(&spatial, params)?;
    Ok(max_over(input, rank, &windows, &output))
}

/// Average pooling options beyond the window (PyTorch's `avg_pool` arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgOptions {
    /// Divide by the window's size in the padded input (true, PyTorch's default) or by the
    /// number of input elements in it (false).
    pub count_include_pad: bool,
    /// Divide by this instead (PyTorch's `divisor_override`; must not be 0).
    pub divisor_override: Option<usize>,
}

impl Default for AvgOptions {
    fn default() -> Self {
        AvgOptions {
            count_include_pad: true,
            divisor_override: None,
        }
    }
}

impl AvgOptions {
    /// The divisor of one window.
    pub fn divisor(&self, window: &Window) -> usize {
        match (self.divisor_override, self.count_include_pad) {
            (Some(d), _) => d,
            (None, true) => window.padded_count,
            (None, false) => window.positions.len(),
        }
    }

    pub(crate) fn check(&self) -> Result<(), OpError> {
        if self.divisor_override == Some(0) {
            return Err(OpError::Invalid("divisor_override must be non-zero".into()));
        }
        Ok(())
    }
}

/// An exact count as a scalar: 1 + 1 + ... (n times), by doubling.
pub fn from_count<T: Ring>(n: usize) -> T {
    let mut result = T::zero();
    let mut power = T::one();
    let mut n = n;
    while n > 0 {
        if n & 1 == 1 {
            result = result + power.clone();
        }
        power = power.clone() + power;
        n >>= 1;
    }
    result
}

fn mean_over<T: Field>(
    input: &ArrayD<T>,
    rank: usize,
    windows: &[Window],
    output: &[usize],
    options: &AvgOptions,
) -> ArrayD<T> {
    reduce_windows(input, rank, windows, output, |x, plane, window| {
        let sum = window.positions.iter().fold(T::zero(), |acc, p| {
            acc + x[IxDyn(&full_index(plane, p))].clone()
        });
        sum / from_count(options.divisor(window))
    })
}

/// Average pooling, `torch.nn.functional.avg_pool{1,2,3}d(x, kernel_size, stride, padding,
/// ceil_mode, count_include_pad, divisor_override)`:
///
/// ```text
/// y[n, c, i] = (sum of the window's input elements) / divisor
/// ```
///
/// with divisor = `divisor_override`, or the window's positions inside [-p_b, L + p_e) when
/// `count_include_pad` (the ceil-mode overhang past the padding is never counted), or its input
/// elements. Over rationals the result is exact (e.g. sum/9). `params.dilation` generalises
/// PyTorch (which has none) as ONNX `AveragePool` does.
pub fn avg_pool<T: Field>(
    input: &ArrayD<T>,
    params: &PoolParams,
    options: &AvgOptions,
) -> Result<ArrayD<T>, OpError> {
    options.check()?;
    let rank = params.rank();
    let spatial = spatial_sizes(input.shape(), rank, "average pooling")?;
    let (windows, output) = pool_windows(&spatial, params)?;
    Ok(mean_over(input, rank, &windows, &output, options))
}

/// Adaptive average pooling, `torch.nn.functional.adaptive_avg_pool{1,2,3}d(x, output_size)`:
/// the mean of each window [floor(i L / O), ceil((i + 1) L / O)).
pub fn adaptive_avg_pool<T: Field>(
    input: &ArrayD<T>,
    output_size: &[usize],
) -> Result<ArrayD<T>, OpError> {
    let rank = output_size.len();
    let spatial = spatial_sizes(input.shape(), rank, "adaptive average pooling")?;
    check_output(input.shape(), rank, output_size)?;
    let windows = adaptive_windows(&spatial, output_size)?;
    Ok(mean_over(
        input,
        rank,
        &windows,
        output_size,
        &AvgOptions::default(),
    ))
}

/// Adaptive max pooling, `torch.nn.functional.adaptive_max_pool{1,2,3}d(x, output_size,
/// return_indices=True)`: the first maximum of each adaptive window, with its plane index.
pub fn adaptive_max_pool<T: Ring + PartialOrd>(
    input: &ArrayD<T>,
    output_size: &[usize],
) -> Result<MaxPoolOutput<T>, OpError> {
    let rank = output_size.len();
    let spatial = spatial_sizes(input.shape(), rank, "adaptive max pooling")?;
    check_output(input.shape(), rank, output_size)?;
    let windows = adaptive_windows(&spatial, output_size)?;
    Ok(max_over(input, rank, &windows, output_size))
}

/// Global average pooling over `rank` spatial dimensions (ONNX `GlobalAveragePool`,
/// `adaptive_avg_pool` to size 1): output (N, C, 1, ..., 1).
pub fn global_avg_pool<T: Field>(input: &ArrayD<T>, rank: usize) -> Result<ArrayD<T>, OpError> {
    adaptive_avg_pool(input, &vec![1; rank])
}

/// Global max pooling over `rank` spatial dimensions (ONNX `GlobalMaxPool`).
pub fn global_max_pool<T: Ring + PartialOrd>(
    input: &ArrayD<T>,
    rank: usize,
) -> Result<MaxPoolOutput<T>, OpError> {
    adaptive_max_pool(input, &vec![1; rank])
}

/// Checks that an upstream gradient has the shape of the forward output.
pub(crate) fn check_grad_shape(grad: &[usize], expected: &[usize]) -> Result<(), OpError> {
    if grad != expected {
        return Err(OpError::Invalid(format!(
            "grad_output has shape {grad:?} but the forward output has shape {expected:?}"
        )));
    }
    Ok(())
}

/// Gradient of max pooling with respect to its input: each upstream gradient element is
/// routed to (added at) the input element its window chose, the first maximum, as PyTorch's
/// `max_pool*_backward` does with the saved indices.
pub fn max_pool_backward<T: Ring + PartialOrd>(
    grad_output: &ArrayD<T>,
    input: &ArrayD<T>,
    params: &PoolParams,
) -> Result<ArrayD<T>, OpError> {
    let forward = max_pool(input, params)?;
    check_grad_shape(grad_output.shape(), forward.values.shape())?;
    Ok(route_to_indices(
        grad_output,
        &forward.indices,
        input.shape(),
        params.rank(),
    ))
}

/// Gradient of adaptive max pooling with respect to its input (routed to the chosen element).
pub fn adaptive_max_pool_backward<T: Ring + PartialOrd>(
    grad_output: &ArrayD<T>,
    input: &ArrayD<T>,
    output_size: &[usize],
) -> Result<ArrayD<T>, OpError> {
    let forward = adaptive_max_pool(input, output_size)?;
    check_grad_shape(grad_output.shape(), forward.values.shape())?;
    Ok(route_to_indices(
        grad_output,
        &forward.indices,
        input.shape(),
        output_size.len(),
    ))
}

fn route_to_indices<T: Ring>(
    grad_output: &ArrayD<T>,
    indices: &ArrayD<usize>,
    input_shape: &[usize],
    rank: usize,
) -> ArrayD<T> {
    let lead = input_shape.len() - rank;
    let spatial = &input_shape[lead..];
    let mut grad_input = ArrayD::from_elem(IxDyn(input_shape), T::zero());
    for (index, g) in grad_output.indexed_iter() {
        let mut target = index.slice()[..lead].to_vec();
        target.extend(crate::index::unravel(indices[&index], spatial));
        let slot = &mut grad_input[IxDyn(&target)];
        *slot = slot.clone() + g.clone();
    }
    grad_input
}

/// Spreads each upstream gradient element over its window's input elements, divided by the
/// window's divisor (the adjoint of the averaging map). `grad_output` is iterated in logical
/// C order: planes, then windows.
fn spread<T: Field>(
    grad_output: &ArrayD<T>,
    input_shape: &[usize],
    rank: usize,
    windows: &[Window],
    options: &AvgOptions,
) -> ArrayD<T> {
    let lead = input_shape.len() - rank;
    let mut grad_input = ArrayD::from_elem(IxDyn(input_shape), T::zero());
    let mut upstream = grad_output.iter();
    for plane in multi_indices(&input_shape[..lead]) {
        for window in windows {
            let g = upstream
                .next()
                .expect("grad_output has one value per plane and window");
            let share = g.clone() / from_count(options.divisor(window));
            for p in &window.positions {
                let slot = &mut grad_input[IxDyn(&full_index(&plane, p))];
                *slot = slot.clone() + share.clone();
            }
        }
    }
    grad_input
}

/// Gradient of average pooling with respect to its input: upstream gradient / divisor added to
/// every input element of the window (PyTorch's `avg_pool*_backward`).
pub fn avg_pool_backward<T: Field>(
    grad_output: &ArrayD<T>,
    input_shape: &[usize],
    params: &PoolParams,
    options: &AvgOptions,
) -> Result<ArrayD<T>, OpError> {
    options.check()?;
    let rank = params.rank();
    let spatial = spatial_sizes(input_shape, rank, "average pooling")?;
    let (windows, output) = pool_windows(&spatial, params)?;
    let mut expected = input_shape[..input_shape.len() - rank].to_vec();
    expected.extend(&output);
    check_grad_shape(grad_output.shape(), &expected)?;
    Ok(spread(grad_output, input_shape, rank, &windows, options))
}

/// Gradient of adaptive average pooling with respect to its input.
pub fn adaptive_avg_pool_backward<T: Field>(
    grad_output: &ArrayD<T>,
    input_shape: &[usize],
    output_size: &[usize],
) -> Result<ArrayD<T>, OpError> {
    let rank = output_size.len();
    let spatial = spatial_sizes(input_shape, rank, "adaptive average pooling")?;
    let windows = adaptive_windows(&spatial, output_size)?;
    let mut expected = input_shape[..input_shape.len() - rank].to_vec();
    expected.extend(output_size);
    check_grad_shape(grad_output.shape(), &expected)?;
    Ok(spread(
        grad_output,
        input_shape,
        rank,
        &windows,
        &AvgOptions::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::{rational_from_i64, Rational};

    fn q(n: i64, d: i64) -> Rational {
        rational_from_i64(n) / rational_from_i64(d)
    }

    fn line(values: &[i64]) -> ArrayD<Rational> {
        ArrayD::from_shape_vec(
            IxDyn(&[1, 1, values.len()]),
            values.iter().map(|&v| rational_from_i64(v)).collect(),
        )
        .unwrap()
    }

    fn flat_values(a: &ArrayD<Rational>) -> Vec<Rational> {
        a.iter().cloned().collect()
    }

    #[test]
    fn avg_pool_ceil_mode_overhang_is_not_counted() {
        // AvgPool1d(2, stride=3, ceil_mode=True) on 0..6 -> [0.5, 3.5, 6.0]: the last window
        // [6, 8) holds one element and its overhang past the (zero) padding is not counted.
        let x = line(&[0, 1, 2, 3, 4, 5, 6]);
        let params = PoolParams::new(vec![2])
            .with_stride(vec![3])
            .with_ceil_mode(true);
        let y = avg_pool(&x, &params, &AvgOptions::default()).unwrap();
        assert_eq!(flat_values(&y), vec![q(1, 2), q(7, 2), q(6, 1)]);
    }

    #[test]
    fn avg_pool_divisors_by_hand() {
        // k = 3, s = 3, p = 1 on [1..7]: padded [0,1,...,7,0]: windows (0,1,2) (3,4,5) (6,7,0).
        let x = line(&[1, 2, 3, 4, 5, 6, 7]);
        let params = PoolParams::new(vec![3]).with_padding(vec![1]);
        let include = avg_pool(&x, &params, &AvgOptions::default()).unwrap();
        assert_eq!(flat_values(&include), vec![q(3, 3), q(12, 3), q(13, 3)]);
        let exclude = AvgOptions {
            count_include_pad: false,
            divisor_override: None,
        };
        let y = avg_pool(&x, &params, &exclude).unwrap();
        assert_eq!(flat_values(&y), vec![q(3, 2), q(12, 3), q(13, 2)]);
        let over = AvgOptions {
            count_include_pad: true,
            divisor_override: Some(7),
        };
        let y = avg_pool(&x, &params, &over).unwrap();
        assert_eq!(flat_values(&y), vec![q(3, 7), q(12, 7), q(13, 7)]);
        let zero = AvgOptions {
            count_include_pad: true,
            divisor_override: Some(0),
        };
        assert!(avg_pool(&x, &params, &zero).is_err());
    }

    #[test]
    fn max_pool_first_maximum_and_indices() {
        // k = 2, s = 1, dilation 2 on [3, 1, 3, 0, 5]: windows (0,2) (1,3) (2,4).
        let x = line(&[3, 1, 3, 0, 5]);
        let params = PoolParams::new(vec![2])
            .with_stride(vec![1])
            .with_dilation(vec![2]);
        let out = max_pool(&x, &params).unwrap();
        assert_eq!(flat_values(&out.values), vec![q(3, 1), q(1, 1), q(5, 1)]);
        // Tie in window (0, 2): the first maximum, index 0.
        assert_eq!(
            out.indices.iter().copied().collect::<Vec<_>>(),
            vec![0, 1, 4]
        );
        // ONNX indices count over the whole tensor: a second channel shifts them by 5.
        let two = ndarray::concatenate(ndarray::Axis(1), &[x.view(), x.view()]).unwrap();
        let out = max_pool(&two, &params).unwrap();
        assert_eq!(
            out.onnx_indices(two.shape())
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![0, 1, 4, 5, 6, 9]
        );
    }

    #[test]
    fn nan_wins_like_pytorch() {
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 3]), vec![1.0, f64::NAN, 2.0]).unwrap();
        let out = max_pool(&x, &PoolParams::new(vec![3])).unwrap();
        assert!(out.values[[0, 0, 0]].is_nan());
        assert_eq!(out.indices[[0, 0, 0]], 1);
    }

    #[test]
    fn adaptive_bins_by_hand() {
        // L = 5, O = 3: bins [0,2) [1,4) [3,5).
        let x = line(&[1, 2, 3, 4, 5]);
        let y = adaptive_avg_pool(&x, &[3]).unwrap();
        assert_eq!(flat_values(&y), vec![q(3, 2), q(3, 1), q(9, 2)]);
        let m = adaptive_max_pool(&x, &[3]).unwrap();
        assert_eq!(m.indices.iter().copied().collect::<Vec<_>>(), vec![1, 3, 4]);
        // Output size 0: PyTorch's empty result.
        assert_eq!(adaptive_avg_pool(&x, &[0]).unwrap().shape(), &[1, 1, 0]);
        // Global pooling is the mean and the max.
        assert_eq!(flat_values(&global_avg_pool(&x, 1).unwrap()), vec![q(3, 1)]);
        assert_eq!(
            flat_values(&global_max_pool(&x, 1).unwrap().values),
            vec![q(5, 1)]
        );
    }

    #[test]
    fn backward_by_hand() {
        // Max: windows (0,1) (2,3) of [1, 4, 4, 2] choose 1 and 2.
        let x = line(&[1, 4, 4, 2]);
        let params = PoolParams::new(vec![2]);
        let g = line(&[10, 20]);
        let gi = max_pool_backward(&g, &x, &params).unwrap();
        assert_eq!(flat_values(&gi), vec![q(0, 1), q(10, 1), q(20, 1), q(0, 1)]);
        // Avg with padding 1, k = 2, s = 2, count_include_pad: windows (pad,0) (1,2) (3,pad).
        let params = PoolParams::new(vec![2]).with_padding(vec![1]);
        let g = line(&[2, 4, 6]);
        let gi = avg_pool_backward(&g, x.shape(), &params, &AvgOptions::default()).unwrap();
        assert_eq!(flat_values(&gi), vec![q(1, 1), q(2, 1), q(2, 1), q(3, 1)]);
        // Mismatched upstream gradient shapes are refused.
        assert!(
            avg_pool_backward(&line(&[1]), x.shape(), &params, &AvgOptions::default()).is_err()
        );
    }
}
