//! The magnitude S = |b| + sum |w||x| of each output element: held exactly, or enclosed by a
//! float computation with the exact values computed on first need.
//!
//! The oracle's filter ([`super::filter`]) decides almost every element from f64 images of y
//! and S, so S is needed exactly only for the few elements the filter cannot decide. When
//! every operand is a value of a float format F (binary32 for float32 data, binary64 for
//! float32 and float64 data), the layer on |x|, |w|, |b| computed in F by a plain summation
//! kernel (direct, im2col or implicit GEMM) gives S~ with
//!
//! ```text
//! |S~ - S| <= gamma_t S + 2 n eta,   gamma_t = t u / (1 - t u),
//! ```
//!
//! for t = n + 1 roundings per term (n products and the bias), F's unit roundoff u (2^-24,
//! 2^-53) and underflow unit eta (2^-150, 2^-1075): every term is non-negative, so each
//! partial sum is at most S and each rounding is relative u, in any summation order, with or
//! without fused multiply-adds (Higham, *Accuracy and Stability of Numerical Algorithms*,
//! ch. 3, the bound the float kernels are proved to meet); a product that underflows adds at
//! most eta, and the additions after it enlarge that by at most (1 + gamma_t) <= 2. So S lies
//! in
//!
//! ```text
//! [(S~ - 2 n eta) (1 - gamma_t), (S~ + 2 n eta) (1 + 2 gamma_t)]   (t u <= 1/4),
//! ```
//!
//! evaluated in f64 with a relative slack of 2^-50 and an absolute one of 2^-1070 for its own
//! roundings (`proofs/oracle.md` O8). Overflow to infinity gives no upper end: the filter then
//! defers to the exact value. Binary32 is used only when n max|x| max|w| + max|b| stays below
//! a quarter of its largest value (no partial sum overflows) and max|x| max|w| >= 2^-60 (S~ is
//! not all in its subnormal range), else binary64.
//!
//! In binary32, n u ~ 2^-15 for a few hundred terms: far below the margin between a legal
//! output's error and its bound, so the filter decides almost every element as it would from
//! S itself; an element at its bound, or with its score at the probabilistic level within
//! that width, gets the exact S (in binary64, n u ~ 2^-43 and that is rarer still). Cost: the
//! layer in binary32 (about a quarter of the exact layer's time for float32 data) instead of
//! the exact layer; the exact layer once more only if some element needs S exactly.

use crate::exact::{ExactEngine, ExactError, ScaledTensor};
use crate::float::{Algorithm, FloatEngine, FloatScalar};
use crate::geometry::{ConvGeometry, ConvShape};
use crate::scalar::{round_to_f64, Rational};
use ndarray::ArrayD;
use std::sync::{Arc, OnceLock};

/// S for every element of an output, in C order.
#[derive(Clone)]
pub struct Magnitude(Arc<Inner>);

enum Inner {
    Exact(ScaledTensor),
    Enclosed(Enclosure),
}

/// The f64 enclosure of S and what computes S exactly.
pub struct Enclosure {
    shape: Vec<usize>,
    approx: Approx,
    relative: f64,
    absolute: f64,
    exact: OnceLock<ScaledTensor>,
    layer: Box<dyn Fn() -> Result<ScaledTensor, ExactError> + Send + Sync>,
}

/// S~ as the float layer computed it.
enum Approx {
    Single(Vec<f32>),
    Double(Vec<f64>),
}

impl Approx {
    #[inline]
    fn at(&self, flat: usize) -> f64 {
        match self {
            Approx::Single(v) => f64::from(v[flat]),
            Approx::Double(v) => v[flat],
        }
    }
}

/// 1 + 2^-50 and 1 - 2^-50 (below 1 / (1 + 2^-50)), the slack of the enclosure's own f64
/// evaluation, up and down.
const SLACK: f64 = 1.0 + f64::from_bits((1023 - 50) << 52);
const SLACK_DOWN: f64 = 1.0 - f64::from_bits((1023 - 50) << 52);

/// 2^-1070, more than the absolute errors (2^-1075 each) of those roundings in f64's
/// subnormal range.
const TINY: f64 = f64::from_bits(1 << 4);

/// Per element: an f64 approximation of S and an enclosure lo <= S <= hi.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MagnitudeF64 {
    /// S within 2^-53 relative when exact, within the enclosure otherwise.
    pub approx: f64,
    /// A lower bound (equal to `approx` when S is exact: the filter's margins cover its
    /// rounding).
    pub lo: f64,
    /// An upper bound (infinity when the float computation overflowed).
    pub hi: f64,
}

impl Magnitude {
    /// S held exactly.
    pub fn exact(magnitude: ScaledTensor) -> Magnitude {
        Magnitude(Arc::new(Inner::Exact(magnitude)))
    }

    /// S of the correlation layer `geometry` with operands |x|, |w|, |b| enclosed by the
    /// layer in binary64, for operands that are all binary64 values, or in binary32 when
    /// `single` says that they are all binary32 values (and their range allows it: half the
    /// work); None when the kernels refuse the layer or t u > 1/4 (the caller then computes
    /// S exactly).
    pub fn enclosing_correlation(
        engine: &ExactEngine,
        [input, weight]: [&ScaledTensor; 2],
        bias: Option<&ScaledTensor>,
        geometry: &ConvGeometry,
        shape: &ConvShape,
        single: bool,
    ) -> Option<Magnitude> {
        let operands = [Some(input), Some(weight), bias];
        let enclosure = enclose(engine, operands, geometry, shape, single)?;
        Some(Magnitude(Arc::new(Inner::Enclosed(enclosure))))
    }

    /// The output's shape.
    pub fn shape(&self) -> &[usize] {
        match &*self.0 {
            Inner::Exact(s) => s.shape(),
            Inner::Enclosed(e) => &e.shape,
        }
    }

    /// True when S is held exactly (not only enclosed).
    pub fn is_exact(&self) -> bool {
        matches!(&*self.0, Inner::Exact(_))
    }

    /// S exactly, computed on the first call when it is only enclosed (by the exact engine's
    /// own parallel layer: call it outside any parallel loop that may also ask for it, as
    /// [`crate::oracle::check`] does, since a rayon worker waiting for the layer may run a
    /// job that asks for the same cell).
    pub fn scaled(&self) -> &ScaledTensor {
        match &*self.0 {
            Inner::Exact(s) => s,
            Inner::Enclosed(e) => e.exact.get_or_init(|| {
                (e.layer)()
                    .expect("S is the layer of y on absolute values, which the engine has computed")
            }),
        }
    }

    /// S at a C-order position, exactly.
    pub fn value(&self, flat: usize) -> Rational {
        self.scaled().value(flat)
    }

    /// S at a C-order position when it is held exactly or was computed, else None (without
    /// computing it).
    pub fn try_value(&self, flat: usize) -> Option<Rational> {
        match &*self.0 {
            Inner::Exact(s) => Some(s.value(flat)),
            Inner::Enclosed(e) => e.exact.get().map(|s| s.value(flat)),
        }
    }

    /// Every S exactly.
    pub fn to_rationals(&self) -> ArrayD<Rational> {
        self.scaled().to_rationals()
    }

    /// f64 approximations and enclosures of every S (the exact values' images made here, the
    /// enclosures read on demand from S~).
    pub fn to_f64(&self) -> MagnitudesF64<'_> {
        match &*self.0 {
            Inner::Exact(s) => MagnitudesF64::Exact(s.to_f64_approx()),
            Inner::Enclosed(e) => MagnitudesF64::Enclosed(e),
        }
    }
}

/// f64 images of S for every element ([`Magnitude::to_f64`]).
pub enum MagnitudesF64<'a> {
    /// Each S correctly rounded.
    Exact(Vec<f64>),
    /// Each S enclosed.
    Enclosed(&'a Enclosure),
}

impl MagnitudesF64<'_> {
    /// The approximation and enclosure of S at a C-order position.
    #[inline]
    pub fn at(&self, flat: usize) -> MagnitudeF64 {
        match self {
            MagnitudesF64::Exact(s) => MagnitudeF64 {
                approx: s[flat],
                lo: s[flat],
                hi: s[flat],
            },
            MagnitudesF64::Enclosed(e) => e.bounds(e.approx.at(flat)),
        }
    }

    /// [`MagnitudesF64::at`] of the positions from `start` on, one per slot of `approx`,
    /// `lo` and `hi` (equal lengths), in a loop without branches.
    pub fn fill(&self, start: usize, approx: &mut [f64], lo: &mut [f64], hi: &mut [f64]) {
        let n = approx.len();
        let (lo, hi) = (&mut lo[..n], &mut hi[..n]);
        match self {
            MagnitudesF64::Exact(s) => {
                let s = &s[start..start + n];
                approx.copy_from_slice(s);
                lo.copy_from_slice(s);
                hi.copy_from_slice(s);
            }
            MagnitudesF64::Enclosed(e) => {
                match &e.approx {
                    Approx::Single(v) => {
                        for (a, &v) in approx.iter_mut().zip(&v[start..start + n]) {
                            *a = f64::from(v);
                        }
                    }
                    Approx::Double(v) => approx.copy_from_slice(&v[start..start + n]),
                }
                crate::simd::on_vector_units(|| {
                    for ((&a, l), h) in approx.iter().zip(lo.iter_mut()).zip(hi.iter_mut()) {
                        let m = e.bounds(a);
                        (*l, *h) = (m.lo, m.hi);
                    }
                });
            }
        }
    }
}

impl Inner {
    /// True when S is held or was computed.
    #[cfg(test)]
    fn is_exact_computed(&self) -> bool {
        match self {
            Inner::Exact(_) => true,
            Inner::Enclosed(e) => e.exact.get().is_some(),
        }
    }
}

impl Enclosure {
    /// The enclosure of S from S~ (see the module documentation).
    #[inline]
    fn bounds(&self, approx: f64) -> MagnitudeF64 {
        let hi = (approx + self.absolute) * (1.0 + 2.0 * self.relative) * SLACK + TINY;
        let lo = ((approx - self.absolute) * (1.0 - self.relative) * SLACK_DOWN - TINY).max(0.0);
        MagnitudeF64 {
            approx,
            lo,
            hi: if approx.is_finite() {
                hi
            } else {
                f64::INFINITY
            },
        }
    }
}

/// The enclosure of S by the layer in binary32 when every operand is a binary32 value and
/// the data keep the layer in binary32's normal range, else in binary64
/// ([`Magnitude::enclosing_correlation`]).
fn enclose(
    engine: &ExactEngine,
    operands: [Option<&ScaledTensor>; 3],
    geometry: &ConvGeometry,
    shape: &ConvShape,
    single: bool,
) -> Option<Enclosure> {
    let single = single.then(|| enclose_in::<f32>(engine, operands, geometry, shape));
    match single.flatten() {
        Some(enclosure) => Some(enclosure),
        None => enclose_in::<f64>(engine, operands, geometry, shape),
    }
}

/// The float formats S is enclosed in.
trait EnclosureScalar: FloatScalar {
    /// The layer's values, kept as they are.
    fn approx(values: Vec<Self>) -> Approx;
}

impl EnclosureScalar for f32 {
    fn approx(values: Vec<f32>) -> Approx {
        Approx::Single(values)
    }
}

impl EnclosureScalar for f64 {
    fn approx(values: Vec<f64>) -> Approx {
        Approx::Double(values)
    }
}

/// The enclosure of S by the layer computed in `T` from |x|, |w|, |b| (values of `T`).
fn enclose_in<T: EnclosureScalar>(
    engine: &ExactEngine,
    operands: [Option<&ScaledTensor>; 3],
    geometry: &ConvGeometry,
    shape: &ConvShape,
) -> Option<Enclosure> {
    let terms = shape.reduction_length() + 1;
    // u = 2^-p and 2 eta (the smallest subnormal) of T, as f64 (exactly: powers of two).
    let (u, eta) = super::contract::units(T::PRECISION.accumulator_format(), super::Cut::Nearest);
    let (unit, subnormal) = (
        round_to_f64(&u),
        round_to_f64(&(eta * Rational::from_integer(2.into()))),
    );
    let tu = terms as f64 * unit;
    if tu > 0.25 {
        return None;
    }
    // gamma_t rounded up (three roundings, each relative 2^-53), and 2 n eta.
    let relative = tu / (1.0 - tu) * SLACK;
    let absolute = terms as f64 * subnormal;
    // |v| in T and the largest of them, in one parallel pass over chunks of the f64 images;
    // None unless every value is one of T.
    let absolute_in = |t: &ScaledTensor| -> Option<(ArrayD<T>, f64)> {
        use rayon::prelude::*;
        const CHUNK: usize = 1 << 13;
        let mut values = vec![<T as num_traits::Zero>::zero(); t.len()];
        let (largest, exact) = values
            .par_chunks_mut(CHUNK)
            .enumerate()
            .map(|(i, chunk)| {
                let mut images = vec![0.0; chunk.len()];
                t.to_f64_approx_into(i * CHUNK, &mut images);
                // The largest |v| by its encoding (non-negative floats order as their bits do),
                // an integer maximum the vector units reduce.
                crate::simd::on_vector_units(|| {
                    let (mut largest, mut exact) = (0u64, true);
                    for (o, v) in chunk.iter_mut().zip(&images) {
                        let a = v.abs();
                        *o = <T as FloatScalar>::from_f64(a);
                        exact &= o.to_f64() == a;
                        largest = largest.max(a.to_bits());
                    }
                    (f64::from_bits(largest), exact)
                })
            })
            .reduce(|| (0.0, true), |a, b| (a.0.max(b.0), a.1 && b.1));
        let array = ArrayD::from_shape_vec(t.shape(), values).expect("the tensor's shape");
        exact.then_some((array, largest))
    };
    let [x, w, b] = operands.map(|t| t.map(absolute_in));
    let b = match b {
        Some(b) => Some(b?),
        None => None,
    };
    let ((x, x_max), (w, w_max)) = (x.flatten()?, w.flatten()?);
    if T::PRECISION != crate::scalar::Precision::Fp64 {
        // In binary32 only when no partial sum can overflow (each is at most
        // n max|x| max|w| + max|b|) and the products are not all tiny (S~ in the subnormal
        // range would leave every element to the exact S).
        let b_max = b.as_ref().map_or(0.0, |(_, m)| *m);
        let top = terms as f64 * x_max * w_max + b_max;
        let range = f64::from(f32::MAX) / 4.0;
        if !(top < range && (x_max * w_max >= 2f64.powi(-60) || top == 0.0)) {
            return None;
        }
    }
    let b = b.map(|(b, _)| b);
    let problem = crate::float::Problem::new(shape.clone(), geometry.padding_mode, 8);
    // The direct sum's componentwise bound encloses S only for the kernels that carry it (not
    // the FFT's normwise one, nor Winograd's).
    let algorithm = Some(crate::float::plan_direct(&problem))
        .filter(|a| a.own_bound().is_none())
        .unwrap_or(Algorithm::IM2COL);
    let (approx, _) = FloatEngine::new(engine.threads())
        .correlate(
            x.view(),
            w.view(),
            b.as_ref().map(ArrayD::view),
            geometry,
            Some(algorithm),
        )
        .ok()?;
    let shape = approx.shape().to_vec();
    let approx = T::approx(approx.into_raw_vec_and_offset().0);
    let engine = engine.clone();
    let geometry = geometry.clone();
    let layer = move || {
        let scaled = |t: &ArrayD<T>| ScaledTensor::from_f64(t.mapv(|v| v.to_f64()).view());
        let (x, w) = (scaled(&x)?, scaled(&w)?);
        let b = b.as_ref().map(scaled).transpose()?;
        engine.correlate(&x, &w, b.as_ref(), &geometry)
    };
    Some(Enclosure {
        shape,
        approx,
        relative,
        absolute,
        exact: OnceLock::new(),
        layer: Box::new(layer),
    })
}

impl std::fmt::Debug for Magnitude {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Inner::Exact(s) => f.debug_tuple("Magnitude::Exact").field(s).finish(),
            Inner::Enclosed(e) => f
                .debug_struct("Magnitude::Enclosed")
                .field("shape", &e.shape)
                .field("relative", &e.relative)
                .field("absolute", &e.absolute)
                .finish_non_exhaustive(),
        }
    }
}

/// Equal when the exact magnitudes are (computing them if needed).
impl PartialEq for Magnitude {
    fn eq(&self, other: &Self) -> bool {
        self.shape() == other.shape() && self.to_rationals() == other.to_rationals()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Padding, PaddingMode};
    use crate::oracle::legal::Rng;
    use crate::oracle::{check, CheckOptions, Precision, Reference};
    use crate::scalar::{rational_from_f64, round_to_f64, FloatFormat};
    use ndarray::IxDyn;

    /// A float of random sign, significand and exponent in [low, high] (zeros and, for low
    /// exponents, subnormals included), as f64.
    fn value(rng: &mut Rng, f32_data: bool, (low, high): (i32, i32)) -> f64 {
        if rng.below(8) == 0 {
            return 0.0;
        }
        let exponent = low + rng.below((high - low + 1) as usize) as i32;
        let significand = 1.0 + rng.below(1 << 20) as f64 / (1 << 20) as f64;
        let sign = if rng.below(2) == 0 { -1.0 } else { 1.0 };
        let v = sign
            * significand
            * 2f64.powi(exponent.clamp(-1000, 1000))
            * 2f64.powi(exponent - exponent.clamp(-1000, 1000));
        if f32_data {
            f64::from(v as f32)
        } else {
            v
        }
    }

    /// A random layer with f32 or f64 values.
    fn layer(seed: u64) -> (Vec<ScaledTensor>, ConvGeometry, ConvShape) {
        let mut rng = Rng::new(seed);
        let f32_data = seed.is_multiple_of(2);
        // Wide exponent ranges (subnormal products) and narrow ones (rounding in every sum).
        let range = match (f32_data, seed % 4 < 2) {
            (true, true) => (-150, 20),
            (false, true) => (-1080, 40),
            _ => (-2, 2),
        };
        let groups = 1 + rng.below(2);
        let (c_in, c_out) = (groups * (1 + rng.below(8)), groups * (1 + rng.below(3)));
        let (len, k) = (6 + rng.below(6), 1 + rng.below(5));
        let mode = [
            PaddingMode::Zeros,
            PaddingMode::Reflect,
            PaddingMode::Circular,
        ][rng.below(3)];
        let geometry = ConvGeometry::new(1)
            .with_stride(vec![1 + rng.below(2)])
            .with_padding(Padding::uniform(rng.below(2), 1))
            .with_padding_mode(mode)
            .with_groups(groups);
        let mut tensor = |shape: &[usize]| {
            let values = ArrayD::from_shape_fn(IxDyn(shape), |_| value(&mut rng, f32_data, range));
            ScaledTensor::from_f64(values.view()).expect("finite")
        };
        let mut operands = vec![tensor(&[2, c_in, len]), tensor(&[c_out, c_in / groups, k])];
        if !seed.is_multiple_of(3) {
            operands.push(tensor(&[c_out]));
        }
        let shape = ConvShape::new(
            operands[0].shape(),
            operands[1].shape(),
            operands.get(2).map(ScaledTensor::len),
            &geometry,
        )
        .expect("a valid layer");
        (operands, geometry, shape)
    }

    /// S enclosed, in binary32 where `single` allows it.
    fn magnitude_of(
        operands: &[ScaledTensor],
        geometry: &ConvGeometry,
        shape: &ConvShape,
        single: bool,
    ) -> Magnitude {
        let engine = ExactEngine::new(1);
        let ops = [&operands[0], &operands[1]];
        Magnitude::enclosing_correlation(&engine, ops, operands.get(2), geometry, shape, single)
            .expect("binary64 data are enclosed")
    }

    /// True when the enclosure was computed in binary32 (its gamma_t is far above binary64's).
    fn in_binary32(magnitude: &Magnitude) -> bool {
        matches!(&*magnitude.0, Inner::Enclosed(e) if e.relative > 1e-12)
    }

    /// lo <= S <= hi at every element of random layers, with S from the exact engine on
    /// |x|, |w|, |b|, down to subnormal products; the same check rejects the point enclosure
    /// lo = hi = S~ (the float layer's S~ is not S), so it can fail.
    #[test]
    fn the_enclosure_holds_s_and_the_float_value_alone_does_not() {
        let (mut inside, mut point_misses, mut single) = (0usize, 0usize, 0usize);
        for seed in 0..80 {
            let (operands, geometry, shape) = layer(seed / 2);
            // Even seeds' layers hold binary32 data: enclosed in binary32 when asked.
            let magnitude = magnitude_of(&operands, &geometry, &shape, seed % 2 == 1);
            single += usize::from(in_binary32(&magnitude));
            assert!(
                !magnitude.is_exact(),
                "seed {seed}: binary64 data are enclosed"
            );
            let absolute: Vec<ScaledTensor> = operands.iter().map(ScaledTensor::abs).collect();
            let s = ExactEngine::new(1)
                .correlate(&absolute[0], &absolute[1], absolute.get(2), &geometry)
                .expect("the same layer");
            let images = magnitude.to_f64();
            for flat in 0..s.len() {
                let exact = s.value(flat);
                let at = images.at(flat);
                let (lo, hi) = (
                    rational_from_f64(at.lo).unwrap(),
                    rational_from_f64(at.hi).unwrap(),
                );
                assert!(
                    lo <= exact && exact <= hi,
                    "seed {seed}, element {flat}: {at:?}, S = {}",
                    round_to_f64(&exact)
                );
                inside += 1;
                point_misses += usize::from(rational_from_f64(at.approx).unwrap() != exact);
            }
            // The exact S computed on demand is the engine's.
            assert_eq!(magnitude.to_rationals(), s.to_rationals(), "seed {seed}");
        }
        assert!(inside > 1000, "{inside} elements checked");
        assert!(single >= 5, "{single} layers enclosed in binary32");
        assert!(point_misses > 0, "the float S~ alone misses S somewhere");
    }

    /// A long 1-D layer whose direct plan is the FFT (its error normwise: relative to the
    /// largest terms of a whole block): S is still enclosed at every element, although the
    /// input's first half is about 2^-40 and its second about 2^40, so that the small S of
    /// the first half's windows would not be by the FFT's values (negative control run: the
    /// enclosure computed by the planned FFT fails here).
    #[test]
    fn a_layer_planned_for_the_fft_is_enclosed_componentwise() {
        let mut rng = Rng::new(7);
        let geometry = ConvGeometry::new(1);
        let x = ArrayD::from_shape_fn(IxDyn(&[1, 1, 4096]), |i| {
            let e = if i[2] < 2048 { -40 } else { 40 };
            value(&mut rng, false, (e, e))
        });
        let w = ArrayD::from_shape_fn(IxDyn(&[1, 1, 1025]), |_| value(&mut rng, false, (-2, 2)));
        let scaled = |t: &ArrayD<f64>| ScaledTensor::from_f64(t.view()).expect("finite");
        let operands = vec![scaled(&x), scaled(&w)];
        let shape = ConvShape::new(operands[0].shape(), operands[1].shape(), None, &geometry)
            .expect("a valid layer");
        let problem = crate::float::Problem::new(shape.clone(), geometry.padding_mode, 8);
        assert_eq!(crate::float::plan_direct(&problem), Algorithm::FFT);
        let magnitude = magnitude_of(&operands, &geometry, &shape, false);
        let absolute: Vec<ScaledTensor> = operands.iter().map(ScaledTensor::abs).collect();
        let s = ExactEngine::new(1)
            .correlate(&absolute[0], &absolute[1], None, &geometry)
            .expect("the same layer");
        let images = magnitude.to_f64();
        for flat in 0..s.len() {
            let (exact, at) = (s.value(flat), images.at(flat));
            let (lo, hi) = (
                rational_from_f64(at.lo).unwrap(),
                rational_from_f64(at.hi).unwrap(),
            );
            assert!(lo <= exact && exact <= hi, "element {flat}: {at:?}");
        }
    }

    /// Candidates at their fp64 bounds (y + B rounded to f64, which the filter cannot decide):
    /// the check computes S exactly once, outside its parallel loop, and gives the verdicts
    /// of a reference that held S exactly.
    #[test]
    fn undecided_elements_get_the_exact_magnitude() {
        let (mut passes, mut failures) = (0, 0);
        for seed in 1..9 {
            let (operands, geometry, _) = layer(seed);
            let engine = ExactEngine::new(2);
            let build = || {
                Reference::correlate_scaled(
                    &engine,
                    &operands[0],
                    &operands[1],
                    operands.get(2),
                    &geometry,
                )
                .expect("a valid layer")
            };
            let enclosed = build();
            assert!(!enclosed.magnitude.is_exact());
            let mut held = build();
            held.magnitude = Magnitude::exact(held.magnitude.scaled().clone());
            let contract = crate::oracle::Contract::new(
                Precision::Fp64,
                &held.reduction,
                held.inputs_in_format[0],
                crate::oracle::Cut::Truncation,
                crate::oracle::Accumulation::Any,
            );
            let candidate = ArrayD::from_shape_fn(IxDyn(held.exact.shape()), |index| {
                let index = ndarray::Dimension::slice(&index);
                let (y, s) = (held.exact_at(index), held.magnitude_at(index));
                round_to_f64(&(&y + contract.bound(&y, &s)))
            });
            let options = CheckOptions::default();
            let expected = check(&held, candidate.view(), Precision::Fp64, &options).unwrap();
            let report = check(&enclosed, candidate.view(), Precision::Fp64, &options).unwrap();
            assert!(
                enclosed.magnitude.0.as_ref().is_exact_computed(),
                "seed {seed}: some element needed S"
            );
            passes += expected.elements - expected.failed;
            failures += expected.failed;
            assert_eq!(report.failed, expected.failed, "seed {seed}");
            // The same elements listed (their scores are read from S~, within its enclosure).
            let indices = |r: &crate::oracle::Report| -> Vec<Vec<usize>> {
                r.failures.iter().map(|f| f.index.clone()).collect()
            };
            assert_eq!(indices(&report), indices(&expected), "seed {seed}");
            assert_eq!(report.suspicious, expected.suspicious, "seed {seed}");
            assert_eq!(report.contracts_met, expected.contracts_met, "seed {seed}");
        }
        assert!(
            passes > 0 && failures > 0,
            "{passes} passes, {failures} failures"
        );
    }

    /// The lean pass of `check` gives the general path's report (every field, the ratios
    /// kept, failures listed) on float layers with S enclosed: small 1-D layers and a 2-D one
    /// of several blocks, candidates correctly rounded into binary32 and binary64, moved by
    /// one and two ulps, by 2^-20 and 2^-10 relative (within and beyond the bounds), to zero,
    /// NaN and infinity, judged as fp32, fp64 and fp16.
    #[test]
    fn the_lean_pass_gives_the_general_paths_report() {
        let mut layers: Vec<(Vec<ScaledTensor>, ConvGeometry)> = (1..9)
            .map(|seed| {
                let (operands, geometry, _) = layer(seed);
                (operands, geometry)
            })
            .collect();
        let mut rng = Rng::new(99);
        let mut tensor = |shape: &[usize]| {
            let values = ArrayD::from_shape_fn(IxDyn(shape), |_| value(&mut rng, true, (-3, 3)));
            ScaledTensor::from_f64(values.view()).expect("finite")
        };
        let two_d = vec![tensor(&[1, 4, 30, 30]), tensor(&[5, 4, 3, 3])];
        layers.push((two_d, ConvGeometry::new(2)));
        let engine = ExactEngine::new(2);
        let mut settled_passes = 0;
        for (operands, geometry) in &layers {
            let reference = Reference::correlate_scaled(
                &engine,
                &operands[0],
                &operands[1],
                operands.get(2),
                geometry,
            )
            .expect("a valid layer");
            assert!(!reference.magnitude.is_exact());
            for format in [FloatFormat::F32, FloatFormat::F64] {
                let rounded = reference.exact.rounded(format);
                let moved: Vec<f64> = rounded
                    .iter()
                    .enumerate()
                    .map(|(i, &y)| match i % 11 {
                        1 => f64::from(f32::from_bits((y as f32).to_bits() + 1)),
                        2 => f64::from_bits(y.to_bits().wrapping_sub(2)),
                        3 => y * (1.0 + 2f64.powi(-20)),
                        4 => y * (1.0 + 2f64.powi(-10)),
                        5 if i % 7 == 0 => 0.0,
                        6 if i % 5 == 0 => f64::NAN,
                        7 if i % 5 == 0 => f64::NEG_INFINITY,
                        _ => y,
                    })
                    .collect();
                for candidate in [rounded, moved] {
                    let candidate = ArrayD::from_shape_vec(reference.exact.shape(), candidate)
                        .expect("y's shape");
                    for precision in [Precision::Fp32, Precision::Fp64, Precision::Fp16] {
                        for options in [
                            CheckOptions::default(),
                            CheckOptions {
                                keep_ratios: true,
                                listed: 3,
                                ..CheckOptions::default()
                            },
                        ] {
                            let by = |lean| {
                                let report = crate::oracle::check_by(
                                    &reference,
                                    candidate.view(),
                                    precision,
                                    &options,
                                    lean,
                                );
                                format!("{:?}", report.expect("same shape"))
                            };
                            assert_eq!(by(true), by(false), "{format:?} {precision:?}");
                            let report =
                                check(&reference, candidate.view(), precision, &options).unwrap();
                            settled_passes += report.elements - report.failed;
                        }
                    }
                }
            }
        }
        assert!(settled_passes > 10_000, "{settled_passes} passing elements");
    }

    /// Rationals that are not binary64 values keep S exact.
    #[test]
    fn non_float_operands_keep_s_exact() {
        let third = ArrayD::from_elem(IxDyn(&[1, 1, 4]), Rational::new(1.into(), 3.into()));
        let one = ArrayD::from_elem(IxDyn(&[1, 1, 2]), Rational::from_integer(1.into()));
        let reference = Reference::correlate(
            &ExactEngine::new(1),
            &third,
            &one,
            None,
            &ConvGeometry::new(1),
        )
        .unwrap();
        assert!(reference.magnitude.is_exact());
    }
}
