//! The algebra of convolution: commutativity, associativity, bilinearity, distributivity,
//! identity, composition of layers, and how correlation relates to convolution.
//!
//! Unless a law says otherwise, "signals" are tensors of shape (1, 1, L_1..L_r) (one sample,
//! one channel, any rank r), and x * w is the full convolution: [`Padding::Full`], stride 1,
//! dilation 1, the kernel being the signal w used as the weight (1, 1, k...). Then
//! (x * w)\[t\] = sum_tau x[t - tau] w\[tau\] over all t where the two overlap, which is the
//! convolution of finitely supported functions on Z^r.

use super::{add, same, scale, show, Convolution, LawResult};
use crate::geometry::{receptive_fields, ConvGeometry, Padding};
use crate::reference::OpError;
use crate::scalar::Ring;
use ndarray::{ArrayD, Dimension, IxDyn};

/// Stride 1, dilation 1, padding d(k-1) on each side, zeros: every overlap.
pub fn full(rank: usize) -> ConvGeometry {
    ConvGeometry::new(rank).with_padding(Padding::Full)
}

fn rank_of<T>(x: &ArrayD<T>) -> usize {
    x.ndim().saturating_sub(2)
}

/// Commutativity: x * w = w * x. Hypotheses: full convolution of signals of any rank and
/// sizes. (The seed writes "u*v = v*w", a typo.)
pub fn commutativity<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
) -> LawResult {
    commutes(
        "convolution is commutative",
        |a, b, g| imp.convolve(a, b, g),
        x,
        w,
    )
}

/// Associativity: (x * v) * w = x * (v * w). Hypotheses: full convolution of signals.
pub fn associativity<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    v: &ArrayD<T>,
    w: &ArrayD<T>,
) -> LawResult {
    associates(
        "convolution is associative",
        |a, b, g| imp.convolve(a, b, g),
        x,
        v,
        w,
    )
}

/// Bilinearity: for any geometry (stride, dilation, padding rule and mode, groups) and
/// scalars a, b,
///
/// ```text
/// (a x + b x') (*) w = a (x (*) w) + b (x' (*) w)   and   x (*) (a w + b w') = a (x (*) w) + b (x (*) w')
/// ```
///
/// for (*) both correlation and convolution. Every padding mode is linear in x (it copies
/// or zeroes elements). (The seed writes "(ax+b')*w = ax*w + bx'*w", with two typos.)
#[allow(clippy::too_many_arguments)]
pub fn bilinearity<T: Ring>(
    imp: &impl Convolution<T>,
    a: &T,
    x: &ArrayD<T>,
    b: &T,
    x2: &ArrayD<T>,
    w: &ArrayD<T>,
    w2: &ArrayD<T>,
    geometry: &ConvGeometry,
) -> LawResult {
    let inputs = || {
        format!(
            "a = {a}, x = {}, b = {b}, x' = {}, w = {}, w' = {}, geometry = {geometry:?}",
            show(x),
            show(x2),
            show(w),
            show(w2)
        )
    };
    for flip in [false, true] {
        let op = |x: &ArrayD<T>, w: &ArrayD<T>| {
            if flip {
                imp.convolve(x, w, geometry)
            } else {
                imp.correlate(x, w, geometry)
            }
        };
        let combined_x = add(&scale(a, x), &scale(b, x2));
        let left = op(&combined_x, w);
        let right = op(x, w).and_then(|p| Ok(add(&scale(a, &p), &scale(b, &op(x2, w)?))));
        same("linear in the input", inputs, left, right)?;
        let combined_w = add(&scale(a, w), &scale(b, w2));
        let left = op(x, &combined_w);
        let right = op(x, w).and_then(|p| Ok(add(&scale(a, &p), &scale(b, &op(x, w2)?))));
        same("linear in the kernel", inputs, left, right)?;
    }
    Ok(())
}

/// Distributivity: x * (v + w) = x * v + x * w, for any geometry, correlation and convolution
/// (the special case a = b = 1 of bilinearity in the kernel).
pub fn distributivity<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    v: &ArrayD<T>,
    w: &ArrayD<T>,
    geometry: &ConvGeometry,
) -> LawResult {
    let left = imp.convolve(x, &add(v, w), geometry);
    let right = imp
        .convolve(x, v, geometry)
        .and_then(|xv| Ok(add(&xv, &imp.convolve(x, w, geometry)?)));
    same(
        "convolution distributes over addition",
        || {
            format!(
                "x = {}, v = {}, w = {}, geometry = {geometry:?}",
                show(x),
                show(v),
                show(w)
            )
        },
        left,
        right,
    )
}

/// Identity: the delta kernel (a single 1, shape (1, 1, 1...)) leaves a signal unchanged under
/// full convolution and correlation: x * delta = x (and delta * x = x).
pub fn delta_identity<T: Ring>(imp: &impl Convolution<T>, x: &ArrayD<T>) -> LawResult {
    let rank = rank_of(x);
    let delta = ArrayD::from_elem(IxDyn(&vec![1; rank + 2]), T::one());
    let g = full(rank);
    let inputs = || format!("x = {}", show(x));
    same(
        "x * delta = x",
        inputs,
        imp.convolve(x, &delta, &g),
        Ok(x.clone()),
    )?;
    same(
        "x corr delta = x",
        inputs,
        imp.correlate(x, &delta, &g),
        Ok(x.clone()),
    )?;
    same(
        "delta * x = x",
        inputs,
        imp.convolve(&delta, x, &g),
        Ok(x.clone()),
    )
}

/// The kernel v with d - 1 zeros inserted between its taps in every spatial dimension (the
/// dilated kernel as a dense one: size d(k-1) + 1).
pub fn dilate<T: Ring>(v: &ArrayD<T>, dilation: &[usize]) -> ArrayD<T> {
    let mut shape = v.shape().to_vec();
    for (dim, &d) in dilation.iter().enumerate() {
        shape[2 + dim] = d * (shape[2 + dim] - 1) + 1;
    }
    let mut out = ArrayD::from_elem(IxDyn(&shape), T::zero());
    for (index, value) in v.indexed_iter() {
        let mut target = index.slice().to_vec();
        for (dim, &d) in dilation.iter().enumerate() {
            target[2 + dim] *= d;
        }
        out[IxDyn(&target)] = value.clone();
    }
    out
}

/// The kernel of two stacked correlation layers (stride 1, valid, dilations d_v and d_w):
/// c = dilate(v, d_v) * dilate(w, d_w), the full convolution of the dilated kernels.
pub fn composed_kernel<T: Ring>(
    imp: &impl Convolution<T>,
    v: &ArrayD<T>,
    dv: &[usize],
    w: &ArrayD<T>,
    dw: &[usize],
) -> Result<ArrayD<T>, crate::reference::OpError> {
    imp.convolve(&dilate(v, dv), &dilate(w, dw), &full(dv.len()))
}

/// Composition: two stacked correlation layers with stride 1, no padding and dilations d_v,
/// d_w are one layer with the composed kernel:
///
/// ```text
/// (x corr_{d_v} v) corr_{d_w} w = x corr (dilate(v, d_v) * dilate(w, d_w)),
/// ```
///
/// and the composed kernel's size per dimension, d_v(k_v - 1) + d_w(k_w - 1) + 1, is the
/// receptive field that the stack formula ([`receptive_fields`]) gives. Hypotheses: one
/// channel, the input at least as large as the receptive field.
pub fn composition<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    v: &ArrayD<T>,
    dv: &[usize],
    w: &ArrayD<T>,
    dw: &[usize],
) -> LawResult {
    let rank = rank_of(x);
    let inputs = || {
        format!(
            "x = {}, v = {} (dilation {dv:?}), w = {} (dilation {dw:?})",
            show(x),
            show(v),
            show(w)
        )
    };
    let gv = ConvGeometry::new(rank).with_dilation(dv.to_vec());
    let gw = ConvGeometry::new(rank).with_dilation(dw.to_vec());
    let stacked = imp
        .correlate(x, v, &gv)
        .and_then(|y| imp.correlate(&y, w, &gw));
    let composed = composed_kernel(imp, v, dv, w, dw);
    let one = composed
        .clone()
        .and_then(|c| imp.correlate(x, &c, &ConvGeometry::new(rank)));
    same(
        "stacked layers = one layer with the composed kernel",
        inputs,
        stacked,
        one,
    )?;
    if let Ok(c) = composed {
        for dim in 0..rank {
            let field = receptive_fields(&[
                (dv[dim] * (v.shape()[2 + dim] - 1) + 1, 1, 0),
                (dw[dim] * (w.shape()[2 + dim] - 1) + 1, 1, 0),
            ]);
            let as_tensor = |n: u64| {
                ArrayD::from_elem(
                    IxDyn(&[1]),
                    crate::reference::pool::from_count::<T>(n as usize),
                )
            };
            same(
                "composed kernel size = receptive field",
                inputs,
                Ok(as_tensor(c.shape()[2 + dim] as u64)),
                Ok(as_tensor(field.size)),
            )?;
        }
    }
    Ok(())
}

/// Correlation is convolution with the flipped kernel, for every geometry:
/// x corr w = x * flip(w).
pub fn correlation_is_flipped_convolution<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    geometry: &ConvGeometry,
) -> LawResult {
    let flipped = crate::reference::conv::flip_kernel(w);
    same(
        "x corr w = x * flip(w)",
        || format!("x = {}, w = {}, geometry = {geometry:?}", show(x), show(w)),
        imp.correlate(x, w, geometry),
        imp.convolve(x, &flipped, geometry),
    )
}

/// Correlation reverses under exchange: x corr w = reverse(w corr x) (full mode, signals),
/// which is why it is not commutative.
pub fn correlation_reversal<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
) -> LawResult {
    let g = full(rank_of(x));
    same(
        "x corr w = reverse(w corr x)",
        || format!("x = {}, w = {}", show(x), show(w)),
        imp.correlate(x, w, &g),
        imp.correlate(w, x, &g)
            .map(|y| crate::reference::conv::flip_kernel(&y)),
    )
}

/// The false claim "correlation is commutative" (x corr w = w corr x, full mode): a search
/// finds counterexamples (e.g. x = [0, 1], w = \[1\]).
pub fn correlation_commutativity<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
) -> LawResult {
    commutes(
        "correlation is commutative (false)",
        |a, b, g| imp.correlate(a, b, g),
        x,
        w,
    )
}

/// The false claim "correlation is associative" ((x corr v) corr w = x corr (v corr w), full
/// mode): a search finds counterexamples.
pub fn correlation_associativity<T: Ring>(
    imp: &impl Convolution<T>,
    x: &ArrayD<T>,
    v: &ArrayD<T>,
    w: &ArrayD<T>,
) -> LawResult {
    associates(
        "correlation is associative (false)",
        |a, b, g| imp.correlate(a, b, g),
        x,
        v,
        w,
    )
}

/// `law`: op(x, w) = op(w, x) in full mode.
fn commutes<T: Ring>(
    law: &'static str,
    op: impl Fn(&ArrayD<T>, &ArrayD<T>, &ConvGeometry) -> Result<ArrayD<T>, OpError>,
    x: &ArrayD<T>,
    w: &ArrayD<T>,
) -> LawResult {
    let g = full(rank_of(x));
    same(
        law,
        || format!("x = {}, w = {}", show(x), show(w)),
        op(x, w, &g),
        op(w, x, &g),
    )
}

/// `law`: op(op(x, v), w) = op(x, op(v, w)) in full mode.
fn associates<T: Ring>(
    law: &'static str,
    op: impl Fn(&ArrayD<T>, &ArrayD<T>, &ConvGeometry) -> Result<ArrayD<T>, OpError>,
    x: &ArrayD<T>,
    v: &ArrayD<T>,
    w: &ArrayD<T>,
) -> LawResult {
    let g = full(rank_of(x));
    let left = op(x, v, &g).and_then(|xv| op(&xv, w, &g));
    let right = op(v, w, &g).and_then(|vw| op(x, &vw, &g));
    same(
        law,
        || format!("x = {}, v = {}, w = {}", show(x), show(v), show(w)),
        left,
        right,
    )
}
