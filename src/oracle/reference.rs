//! The exact side of a check: for each output element its exact value y and its magnitude S,
//! computed by the exact engines on the inputs the candidate was given.
//!
//! S = |b| + sum |w||x| is the same layer applied to |x|, |w| and |b| (every term made
//! non-negative): for float data of a correlation layer it is enclosed by that layer in binary64
//! and computed exactly on first need ([`Magnitude`]); otherwise the fast exact engine computes
//! it as a second layer. For average pooling S = (sum |x|) / divisor. Cost: the exact layer, and
//! the layer in binary64 or a second exact layer.

use super::contract::Reduction;
pub use super::magnitude::Magnitude;
use crate::exact::{ExactEngine, ExactError, ScaledTensor};
use crate::geometry::{ConvGeometry, ConvShape, PoolParams, TransposeGeometry, TransposeShape};
use crate::reference::pool::adaptive_windows;
use crate::reference::{adaptive_avg_pool, adaptive_max_pool, avg_pool, max_pool, AvgOptions};
use crate::scalar::{round_to_format, FloatFormat, Rational};
use ndarray::ArrayD;
use num_traits::{One, Signed, Zero};

/// The exact operands of a correlation layer, borrowed: input (N, C_in, L...) or (C_in, L...),
/// weight (C_out, C_in/G, k...), optional bias (C_out), and the geometry.
#[derive(Debug, Clone, Copy)]
pub struct Operands<'a> {
    /// The input.
    pub input: &'a ArrayD<Rational>,
    /// The weight.
    pub weight: &'a ArrayD<Rational>,
    /// The bias.
    pub bias: Option<&'a ArrayD<Rational>>,
    /// The geometry.
    pub geometry: &'a ConvGeometry,
}

/// What a candidate is compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The exact output y (integers times a scale, as the exact engine returns it).
    pub exact: ScaledTensor,
    /// The magnitude S of each element (for a selection: |y|), exact or enclosed.
    pub magnitude: Magnitude,
    /// The reduction behind each element (terms, cut operands, largest inputs).
    pub reduction: Reduction,
    /// True for max pooling: the result is one of the inputs, exactly.
    pub selection: bool,
    /// For each of [`Precision::ALL`](super::Precision::ALL): whether every input the candidate
    /// was computed from is a value of that precision's input format (then its cut is exact).
    pub inputs_in_format: [bool; 5],
}

pub(crate) fn absolute(t: &ArrayD<Rational>) -> ArrayD<Rational> {
    t.mapv(|q| q.abs())
}

pub(crate) fn largest(t: &ArrayD<Rational>) -> Rational {
    // f64 magnitudes (each within a few ulps, or 0 / infinity / NaN beyond f64's range) pick
    // the candidates; the exact comparison decides among them. O(n) f64 work and a handful
    // of exact comparisons, instead of n big-number comparisons.
    use num_traits::ToPrimitive;
    let rough = |q: &Rational| {
        let (n, d) = (q.numer().to_f64(), q.denom().to_f64());
        n.zip(d).map_or(f64::NAN, |(n, d)| (n / d).abs())
    };
    let top = t
        .iter()
        .map(rough)
        .filter(|a| !a.is_nan())
        .fold(0.0, f64::max);
    t.iter()
        .filter(|q| {
            let a = rough(q);
            a.is_nan() || a.is_infinite() || (a == 0.0 && top == 0.0) || a >= top * (1.0 - 1e-9)
        })
        .map(|q| q.abs())
        .max()
        .unwrap_or_else(Rational::zero)
}

/// Input, weight and bias scaled to integers ([`scaled_input`]).
fn scaled_operands(
    input: &ArrayD<Rational>,
    weight: &ArrayD<Rational>,
    bias: Option<&ArrayD<Rational>>,
) -> Result<(ScaledTensor, ScaledTensor, Option<ScaledTensor>), ExactError> {
    Ok((
        scaled_input(input)?,
        scaled_input(weight)?,
        bias.map(scaled_input).transpose()?,
    ))
}

/// Input, weight and the bias when there is one.
pub(crate) fn with_bias<'a>(
    input: &'a ArrayD<Rational>,
    weight: &'a ArrayD<Rational>,
    bias: Option<&'a ArrayD<Rational>>,
) -> Vec<&'a ArrayD<Rational>> {
    let mut all = vec![input, weight];
    all.extend(bias);
    all
}

/// For each precision of [`Precision::ALL`](super::Precision::ALL), whether every element of
/// `inputs` is a value of its input format.
pub(crate) fn formats_of(inputs: &[&ArrayD<Rational>]) -> [bool; 5] {
    let formats: Vec<FloatFormat> = super::Precision::ALL
        .iter()
        .map(|p| p.input_format())
        .collect();
    let met = super::filter::formats_met(inputs, &formats);
    std::array::from_fn(|i| met[i])
}

/// The most padded positions that read one input element, over the elements: the product over
/// the dimensions of the most positions j in [-p_b, L + p_e) whose source is one index (1 for
/// zero padding).
fn padding_copies(shape: &ConvShape, mode: crate::geometry::PaddingMode) -> usize {
    shape
        .dims
        .iter()
        .map(|d| {
            let mut count = vec![0usize; d.input];
            let (begin, end) = (-(d.pad_begin as i64), (d.input + d.pad_end) as i64);
            for j in begin..end {
                if let Some(i) = mode.source_index(j, d.input) {
                    count[i] += 1;
                }
            }
            count.into_iter().max().unwrap_or(1).max(1)
        })
        .product()
}

/// The C-order position of a multi-index.
fn flat_index(index: &[usize], shape: &[usize]) -> usize {
    assert_eq!(
        index.len(),
        shape.len(),
        "index {index:?} for shape {shape:?}"
    );
    index.iter().zip(shape).fold(0, |flat, (&i, &n)| {
        assert!(i < n, "index {index:?} out of shape {shape:?}");
        flat * n + i
    })
}

/// The input's shape with a batch axis of 1 when it is unbatched (one axis fewer than the
/// weight).
pub(crate) fn batched_shape(input: &ArrayD<Rational>, weight: &ArrayD<Rational>) -> Vec<usize> {
    let mut shape = Vec::with_capacity(weight.ndim());
    if input.ndim() + 1 == weight.ndim() {
        shape.push(1);
    }
    shape.extend(input.shape());
    shape
}

/// [`batched_shape`] of scaled operands.
fn batched_scaled_shape(input: &ScaledTensor, weight: &ScaledTensor) -> Vec<usize> {
    let mut shape = Vec::with_capacity(weight.shape().len());
    if input.shape().len() + 1 == weight.shape().len() {
        shape.push(1);
    }
    shape.extend(input.shape());
    shape
}

pub(crate) fn scaled(t: &ArrayD<Rational>) -> ScaledTensor {
    ScaledTensor::from_rationals(t.view())
}

/// An input scaled to integers, refused when its common denominator would take more memory
/// than the limit ([`crate::limits`]).
pub(crate) fn scaled_input(t: &ArrayD<Rational>) -> Result<ScaledTensor, ExactError> {
    ScaledTensor::try_from_rationals(t.view(), crate::limits::memory_limit())
        .map_err(ExactError::TooLarge)
}

/// Each element of `t` correctly rounded (to nearest, ties to even) into `format`: what
/// `x.to(torch.float16)` (or bfloat16, or a round-to-nearest TF32 conversion) gives. Values
/// beyond the format's range are refused (they would become infinities).
pub fn round_inputs(t: &ArrayD<Rational>, format: FloatFormat) -> Result<ArrayD<Rational>, String> {
    let mut out = Vec::with_capacity(t.len());
    for (i, q) in t.iter().enumerate() {
        out.push(round_to_format(q, format).ok_or_else(|| {
            format!(
                "element {:?} = {q} overflows the format when rounded",
                crate::index::unravel(i, t.shape())
            )
        })?);
    }
    Ok(ArrayD::from_shape_vec(t.raw_dim(), out).expect("same shape"))
}

/// True when every element of `t` is a value of `format`.
pub fn representable(t: &ArrayD<Rational>, format: FloatFormat) -> bool {
    t.iter().all(|q| super::filter::fits_format(q, format))
}

impl Reference {
    /// The reference of a reduction computed by an exact engine from `inputs`.
    pub fn linear(
        exact: ScaledTensor,
        magnitude: ScaledTensor,
        reduction: Reduction,
        inputs: &[&ArrayD<Rational>],
    ) -> Reference {
        Reference {
            exact,
            magnitude: Magnitude::exact(magnitude),
            reduction,
            selection: false,
            inputs_in_format: formats_of(inputs),
        }
    }

    /// [`Reference::correlate`] of operands held as scaled integers (float data read straight,
    /// as the command line reads `.npy` files): the same reference (y, S, the reduction and
    /// the formats the inputs are in), computed without rationals.
    pub fn correlate_scaled(
        engine: &ExactEngine,
        input: &ScaledTensor,
        weight: &ScaledTensor,
        bias: Option<&ScaledTensor>,
        geometry: &ConvGeometry,
    ) -> Result<Reference, ExactError> {
        let batched = batched_scaled_shape(input, weight);
        let shape = ConvShape::new(&batched, weight.shape(), bias.map(|b| b.len()), geometry)?;
        Reference::products_scaled(
            input,
            weight,
            bias,
            shape.reduction_length(),
            |x, w, b| engine.correlate(x, w, b, geometry),
            |in_format| {
                in_format[super::Precision::Fp64.index()]
                    .then(|| {
                        Magnitude::enclosing_correlation(
                            engine,
                            [input, weight],
                            bias,
                            geometry,
                            &shape,
                            in_format[super::Precision::Fp32.index()],
                        )
                    })
                    .flatten()
            },
        )
    }

    /// [`Reference::conv_transpose`] of operands held as scaled integers, without rationals.
    pub fn conv_transpose_scaled(
        engine: &ExactEngine,
        input: &ScaledTensor,
        weight: &ScaledTensor,
        bias: Option<&ScaledTensor>,
        geometry: &TransposeGeometry,
    ) -> Result<Reference, ExactError> {
        let batched = batched_scaled_shape(input, weight);
        let shape = TransposeShape::new(&batched, weight.shape(), bias.map(|b| b.len()), geometry)?;
        let taps: usize = shape.dims.iter().map(|d| d.kernel).product();
        let terms = shape.in_channels / shape.groups * taps;
        Reference::products_scaled(
            input,
            weight,
            bias,
            terms,
            |x, w, b| engine.conv_transpose(x, w, b, geometry),
            |_| None,
        )
    }

    /// The reference of a layer of `terms` products per output computed by `run` from scaled
    /// operands: y on the operands, S enclosed by `enclosure` when it gives one (told which
    /// formats hold every input), else by `run` on their absolute values; the input formats and
    /// the largest operands read from the integers.
    fn products_scaled(
        input: &ScaledTensor,
        weight: &ScaledTensor,
        bias: Option<&ScaledTensor>,
        terms: usize,
        run: impl Fn(
            &ScaledTensor,
            &ScaledTensor,
            Option<&ScaledTensor>,
        ) -> Result<ScaledTensor, ExactError>,
        enclosure: impl FnOnce(&[bool; 5]) -> Option<Magnitude>,
    ) -> Result<Reference, ExactError> {
        let exact = run(input, weight, bias)?;
        let formats: Vec<FloatFormat> = super::Precision::ALL
            .iter()
            .map(|p| p.input_format())
            .collect();
        let mut inputs_in_format = [true; 5];
        for t in [Some(input), Some(weight), bias].into_iter().flatten() {
            let met = t
                .formats_met(&formats)
                .unwrap_or_else(|| super::filter::formats_met(&[&t.to_rationals()], &formats));
            for (all, one) in inputs_in_format.iter_mut().zip(met) {
                *all = *all && one;
            }
        }
        let magnitude = match enclosure(&inputs_in_format) {
            Some(enclosed) => enclosed,
            None => {
                let absolute = bias.map(ScaledTensor::abs);
                Magnitude::exact(run(&input.abs(), &weight.abs(), absolute.as_ref())?)
            }
        };
        let operands = input.largest_abs() + weight.largest_abs();
        Ok(Reference {
            exact,
            magnitude,
            reduction: Reduction::products(terms, operands, bias.is_some()),
            selection: false,
            inputs_in_format,
        })
    }

    /// The exact value y at a multi-index.
    pub fn exact_at(&self, index: &[usize]) -> Rational {
        self.exact.value(flat_index(index, self.exact.shape()))
    }

    /// The magnitude S at a multi-index.
    pub fn magnitude_at(&self, index: &[usize]) -> Rational {
        self.magnitude
            .value(flat_index(index, self.magnitude.shape()))
    }

    /// The reference of a correlation layer (`torch.nn.functional.conv*d`): y from the fast
    /// exact engine, S from the same engine on |x|, |w|, |b|; n = C_in/groups prod(k).
    pub fn correlate(
        engine: &ExactEngine,
        input: &ArrayD<Rational>,
        weight: &ArrayD<Rational>,
        bias: Option<&ArrayD<Rational>>,
        geometry: &ConvGeometry,
    ) -> Result<Reference, ExactError> {
        Reference::layer(engine, input, weight, bias, geometry, false)
    }

    /// The reference of a true convolution layer (the kernel flipped in every spatial
    /// dimension): as [`Reference::correlate`].
    pub fn convolve(
        engine: &ExactEngine,
        input: &ArrayD<Rational>,
        weight: &ArrayD<Rational>,
        bias: Option<&ArrayD<Rational>>,
        geometry: &ConvGeometry,
    ) -> Result<Reference, ExactError> {
        Reference::layer(engine, input, weight, bias, geometry, true)
    }

    /// The operands scaled to integers (refused beyond the memory limit) and the reference
    /// built from them: the rational entry points and the scaled ones share one builder.
    fn layer(
        engine: &ExactEngine,
        input: &ArrayD<Rational>,
        weight: &ArrayD<Rational>,
        bias: Option<&ArrayD<Rational>>,
        geometry: &ConvGeometry,
        flip: bool,
    ) -> Result<Reference, ExactError> {
        let (x, w, b) = scaled_operands(input, weight, bias)?;
        let w = if flip { w.flip_spatial(2) } else { w };
        Reference::correlate_scaled(engine, &x, &w, b.as_ref(), geometry)
    }

    /// The reference of a transposed convolution; n = C_in/groups prod(k) bounds the number
    /// of contributions to one output.
    pub fn conv_transpose(
        engine: &ExactEngine,
        input: &ArrayD<Rational>,
        weight: &ArrayD<Rational>,
        bias: Option<&ArrayD<Rational>>,
        geometry: &TransposeGeometry,
    ) -> Result<Reference, ExactError> {
        let (x, w, b) = scaled_operands(input, weight, bias)?;
        Reference::conv_transpose_scaled(engine, &x, &w, b.as_ref(), geometry)
    }

    /// The references of the three gradients of a correlation layer (dL/dx, dL/dw, dL/db) for
    /// the upstream gradient g: n = C_out/groups prod(k) m for dL/dx (m the most padded
    /// positions that read one input element: 1 for zero padding), N prod(O) for dL/dw and
    /// dL/db.
    pub fn correlate_backward(
        engine: &ExactEngine,
        input: &ArrayD<Rational>,
        weight: &ArrayD<Rational>,
        grad_output: &ArrayD<Rational>,
        geometry: &ConvGeometry,
    ) -> Result<[Reference; 3], ExactError> {
        let batched = batched_shape(input, weight);
        let shape = ConvShape::new(&batched, weight.shape(), None, geometry)?;
        let (x, w, g) = (
            scaled_input(input)?,
            scaled_input(weight)?,
            scaled_input(grad_output)?,
        );
        let exact = engine.correlate_backward(&x, &w, &g, geometry)?;
        let magnitude = engine.correlate_backward(&x.abs(), &w.abs(), &g.abs(), geometry)?;
        let taps: usize = shape.kernel().iter().product();
        let positions: usize = shape.output_spatial().iter().product::<usize>() * shape.batch;
        let g_max = largest(grad_output);
        // With reflect, replicate or circular padding an input element is read through up to
        // `copies` padded positions: PyTorch computes the padded input's gradient and F.pad's
        // backward sums the copies, and any order of the copies' products is as legal.
        let copies = padding_copies(&shape, geometry.padding_mode);
        let bias_sum = {
            let n = Rational::from_integer(positions.into());
            Reduction {
                terms: positions,
                factors: 1,
                bias: false,
                cut_weight: n.clone(),
                cut_products: Rational::zero(),
                underflow_ops: n,
                // Some frameworks reduce it as a GEMM with a vector of ones.
                matrix_unit: true,
            }
        };
        Ok([
            Reference::linear(
                exact.input,
                magnitude.input,
                Reduction::products(
                    shape.out_channels / shape.groups * taps * copies,
                    &g_max + largest(weight),
                    false,
                ),
                &[grad_output, weight],
            ),
            Reference::linear(
                exact.weight,
                magnitude.weight,
                Reduction::products(positions, &g_max + largest(input), false),
                &[grad_output, input],
            ),
            Reference::linear(exact.bias, magnitude.bias, bias_sum, &[grad_output]),
        ])
    }

    /// The reference of max pooling: the result must be the chosen input, exactly.
    pub fn max_pool(
        input: &ArrayD<Rational>,
        params: &PoolParams,
    ) -> Result<Reference, ExactError> {
        Ok(Reference::selection(max_pool(input, params)?.values))
    }

    /// The reference of a selection (max pooling of any kind): the chosen inputs `exact`.
    fn selection(exact: ArrayD<Rational>) -> Reference {
        Reference {
            magnitude: Magnitude::exact(scaled(&absolute(&exact))),
            exact: scaled(&exact),
            reduction: Reduction::sum(1, Rational::zero(), false),
            selection: true,
            inputs_in_format: [true; 5],
        }
    }

    /// The reference of adaptive max pooling (global max pooling: output size all ones): the
    /// result must be the chosen input, exactly.
    pub fn adaptive_max_pool(
        input: &ArrayD<Rational>,
        output_size: &[usize],
    ) -> Result<Reference, ExactError> {
        Ok(Reference::selection(
            adaptive_max_pool(input, output_size)?.values,
        ))
    }

    /// The reference of adaptive average pooling (global average pooling: output size all
    /// ones): y = (sum of the window) / its size; n = the largest window's size.
    pub fn adaptive_avg_pool(
        input: &ArrayD<Rational>,
        output_size: &[usize],
    ) -> Result<Reference, ExactError> {
        let exact = adaptive_avg_pool(input, output_size)?;
        let magnitude = adaptive_avg_pool(&absolute(input), output_size)?;
        let spatial = &input.shape()[input.ndim().saturating_sub(output_size.len())..];
        let terms = adaptive_windows(spatial, output_size)?
            .iter()
            .map(|w| w.positions.len())
            .max()
            .unwrap_or(1);
        Ok(Reference {
            exact: scaled(&exact),
            magnitude: Magnitude::exact(scaled(&magnitude)),
            // Each window's count equals its divisor.
            reduction: Reduction::sum(terms, Rational::one(), true),
            selection: false,
            inputs_in_format: formats_of(&[input]),
        })
    }

    /// The reference of average pooling: y = (sum of the window) / divisor, one division;
    /// n = the window volume (at most n - 1 additions, the division and a rounded reciprocal).
    pub fn avg_pool(
        input: &ArrayD<Rational>,
        params: &PoolParams,
        options: &AvgOptions,
    ) -> Result<Reference, ExactError> {
        let exact = avg_pool(input, params, options)?;
        let magnitude = avg_pool(&absolute(input), params, options)?;
        let terms: usize = params.kernel_size.iter().product();
        // count / divisor: at most 1 (the divisor counts the window's inputs, and padding too
        // with count_include_pad), at most n / d with divisor_override d.
        let cut_weight = match options.divisor_override {
            Some(d) => Rational::new(terms.into(), d.max(1).into()).max(Rational::one()),
            None => Rational::one(),
        };
        Ok(Reference {
            exact: scaled(&exact),
            magnitude: Magnitude::exact(scaled(&magnitude)),
            reduction: Reduction::sum(terms, cut_weight, true),
            selection: false,
            inputs_in_format: formats_of(&[input]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::rational_from_f64;
    use ndarray::IxDyn;

    fn exact(shape: &[usize], f: impl Fn(&[usize]) -> f64) -> ArrayD<Rational> {
        ArrayD::from_shape_fn(IxDyn(shape), |i| {
            let index: Vec<usize> = (0..shape.len()).map(|d| i[d]).collect();
            rational_from_f64(f(&index)).unwrap()
        })
    }

    /// What the scaled builder reads from the integers (the largest operands, the formats the
    /// inputs are in) is what the rationals say, computed independently here by `largest` and
    /// `formats_of`; a bias that leaves fp16's range changes the formats, and the check sees it.
    #[test]
    fn integers_give_the_rationals_reduction_and_formats() {
        let engine = ExactEngine::new(1);
        let geometry = ConvGeometry::new(1).with_padding(crate::geometry::Padding::uniform(1, 1));
        let x = exact(&[2, 2, 6], |i| {
            (i[2] as f64 - 2.5) * 0.75 + i[1] as f64 * 0.25
        });
        let w = exact(&[3, 2, 3], |i| (i[0] + i[1] + i[2]) as f64 * 0.125 - 0.375);
        let small = exact(&[3], |i| i[0] as f64 - 1.0);
        let large = exact(&[3], |i| 1.0e6 * (i[0] as f64 + 1.0));
        for bias in [&small, &large] {
            let reference = Reference::correlate(&engine, &x, &w, Some(bias), &geometry).unwrap();
            let expected = Reduction::products(2 * 3, largest(&x) + largest(&w), true);
            assert_eq!(reference.reduction, expected);
            assert_eq!(reference.inputs_in_format, formats_of(&[&x, &w, bias]));
        }
        let fp16 = super::super::Precision::Fp16.index();
        let with_large = Reference::correlate(&engine, &x, &w, Some(&large), &geometry).unwrap();
        assert!(!with_large.inputs_in_format[fp16], "1e6 is beyond fp16");
        let with_small = Reference::correlate(&engine, &x, &w, Some(&small), &geometry).unwrap();
        assert_eq!(
            with_small.inputs_in_format, [true; 5],
            "quarters and eighths fit every format"
        );
    }
}
