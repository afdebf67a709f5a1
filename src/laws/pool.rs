//! Laws of pooling: invariances, monotone maps, and average pooling as a correlation.
//!
//! The seed says "pooling gives invariance"; precisely: *global* pooling is invariant under
//! circular shifts, max pooling with non-overlapping windows is invariant to permutations
//! inside each window, and strided pooling is only equivariant to shifts by multiples of its
//! stride (see [`max_pool_shift`](super::shift::max_pool_shift)), not invariant.

use super::{roll, same, show, Convolution, LawResult, Pooling};
use crate::geometry::{ConvGeometry, Padding, PoolParams};
use crate::index::multi_indices;
use crate::reference::pool::{from_count, AvgOptions};
use crate::scalar::{Field, Ring};
use ndarray::{ArrayD, Dimension, IxDyn};

/// Global max and average pooling are invariant under circular shifts of the input (any
/// shift, any rank): they reduce a multiset that a rotation does not change.
pub fn global_pool_invariance<T: Ring + PartialOrd>(
    imp: &impl Pooling<T>,
    x: &ArrayD<T>,
    shift: &[usize],
) -> LawResult {
    let rank = shift.len();
    let rolled = shift
        .iter()
        .enumerate()
        .fold(x.clone(), |acc, (dim, &t)| roll(&acc, 2 + dim, t));
    let inputs = || format!("x = {}, shift {shift:?}", show(x));
    same(
        "global max pooling is invariant under circular shifts",
        inputs,
        imp.global_max_pool(&rolled, rank),
        imp.global_max_pool(x, rank),
    )?;
    same(
        "global average pooling is invariant under circular shifts",
        inputs,
        imp.global_avg_pool(&rolled, rank),
        imp.global_avg_pool(x, rank),
    )
}

/// Max pooling with non-overlapping windows (stride = kernel, no padding, dilation 1) is
/// invariant to any permutation inside each window; here the permutation rotates the
/// elements of every window (in C order) by `rotation` places.
pub fn max_pool_window_permutation<T: Ring + PartialOrd>(
    imp: &impl Pooling<T>,
    x: &ArrayD<T>,
    kernel: &[usize],
    rotation: usize,
) -> LawResult {
    let rank = kernel.len();
    let params = PoolParams::new(kernel.to_vec());
    let taps = multi_indices(kernel);
    let size = taps.len();
    let mut permuted = x.clone();
    for (index, _) in x.indexed_iter() {
        let i = index.slice();
        // Window of this element and its position inside the window.
        let window: Vec<usize> = (0..rank).map(|d| i[2 + d] / kernel[d]).collect();
        let position: Vec<usize> = (0..rank).map(|d| i[2 + d] % kernel[d]).collect();
        let outside_complete_windows =
            (0..rank).any(|d| (window[d] + 1) * kernel[d] > x.shape()[2 + d]);
        if outside_complete_windows {
            continue;
        }
        let flat = crate::index::ravel(&position, kernel);
        let target_tap = &taps[(flat + rotation) % size];
        let mut target = i.to_vec();
        for d in 0..rank {
            target[2 + d] = window[d] * kernel[d] + target_tap[d];
        }
        permuted[IxDyn(&target)] = x[IxDyn(i)].clone();
    }
    same(
        "max pooling is invariant to permutations inside non-overlapping windows",
        || format!("x = {}, kernel {kernel:?}, rotation {rotation}", show(x)),
        imp.max_pool(&permuted, &params),
        imp.max_pool(x, &params),
    )
}

/// Max pooling commutes with a monotone increasing map f (applied elementwise):
/// max_pool(f(x)) = f(max_pool(x)), for any window geometry without padding (padding
/// positions are -infinity, which f need not preserve).
pub fn max_pool_monotone<T: Ring + PartialOrd>(
    imp: &impl Pooling<T>,
    x: &ArrayD<T>,
    params: &PoolParams,
    f: impl Fn(&T) -> T,
) -> LawResult {
    same(
        "max pooling commutes with monotone increasing maps",
        || format!("x = {}, {params:?}", show(x)),
        imp.max_pool(&x.map(&f), params),
        imp.max_pool(x, params).map(|y| y.map(&f)),
    )
}

/// Average pooling (count_include_pad, no ceil mode) is a depthwise correlation with the
/// constant kernel 1/prod(k): weight (C, 1, k...) of 1/prod(k), groups C, the same stride,
/// dilation and zero padding.
pub fn avg_pool_is_correlation<T: Field + PartialOrd>(
    pool: &impl Pooling<T>,
    conv: &impl Convolution<T>,
    x: &ArrayD<T>,
    params: &PoolParams,
) -> LawResult {
    let rank = params.rank();
    let channels = x.shape()[1];
    let mut weight_shape = vec![channels, 1];
    weight_shape.extend(&params.kernel_size);
    let count: usize = params.kernel_size.iter().product();
    let weight = ArrayD::from_elem(IxDyn(&weight_shape), T::one() / from_count::<T>(count));
    let geometry = ConvGeometry::new(rank)
        .with_stride(params.stride.clone())
        .with_dilation(params.dilation.clone())
        .with_padding(Padding::Explicit(params.padding.clone()))
        .with_groups(channels);
    same(
        "average pooling is a correlation with a constant kernel",
        || format!("x = {}, {params:?}", show(x)),
        pool.avg_pool(x, params, &AvgOptions::default()),
        conv.correlate(x, &weight, &geometry),
    )
}
