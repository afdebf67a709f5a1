//! The exact side of a check: for each output element its exact value y and its magnitude S,
//! computed by the exact engines on the inputs the candidate was given.
//!
//! S = |b| + sum |w||x| is the same layer applied to |x|, |w| and |b| (every term made
//! non-negative), so the fast exact engine computes it as a second layer; for average pooling
//! S = (sum |x|) / divisor. Cost: twice the exact layer.

use super::contract::Reduction;
use crate::exact::{ExactEngine, ExactError, ScaledTensor};
use crate::geometry::{ConvGeometry, ConvShape, PoolParams, TransposeGeometry, TransposeShape};
use crate::reference::pool::adaptive_windows;
use crate::reference::{adaptive_avg_pool, adaptive_max_pool, avg_pool, max_pool, AvgOptions};
use crate::scalar::{rational_from_f64, round_to_f64, round_to_format, FloatFormat, Rational};
use ndarray::{ArrayD, Dimension, IxDyn};
use num_traits::{One, Signed, Zero};

/// What a candidate is compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The exact output y (integers times a scale, as the exact engine returns it).
    pub exact: ScaledTensor,
    /// The exact magnitude S of each element (for a selection: |y|).
    pub magnitude: ScaledTensor,
    /// The reduction behind each element (terms, cut operands, largest inputs).
    pub reduction: Reduction,
    /// True for max pooling: the result is one of the inputs, exactly.
    pub selection: bool,
    /// For each of [`Precision::ALL`](super::Precision::ALL): whether every input the candidate
    /// was computed from is a value of that precision's input format (then its cut is exact).
    pub inputs_in_format: [bool; 5],
}

fn absolute(t: &ArrayD<Rational>) -> ArrayD<Rational> {
    t.mapv(|q| q.abs())
}

fn largest(t: &ArrayD<Rational>) -> Rational {
    t.iter()
        .map(|q| q.abs())
        .max()
        .unwrap_or_else(Rational::zero)
}

/// Input, weight and the bias when there is one.
fn with_bias<'a>(
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
fn formats_of(inputs: &[&ArrayD<Rational>]) -> [bool; 5] {
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
fn batched_shape(input: &ArrayD<Rational>, weight: &ArrayD<Rational>) -> Vec<usize> {
    let mut shape = Vec::with_capacity(weight.ndim());
    if input.ndim() + 1 == weight.ndim() {
        shape.push(1);
    }
    shape.extend(input.shape());
    shape
}

fn scaled(t: &ArrayD<Rational>) -> ScaledTensor {
    ScaledTensor::from_rationals(t.view())
}

/// An input scaled to integers, refused when its common denominator would take more memory
/// than the limit ([`crate::limits`]).
fn scaled_input(t: &ArrayD<Rational>) -> Result<ScaledTensor, ExactError> {
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
            magnitude,
            reduction,
            selection: false,
            inputs_in_format: formats_of(inputs),
        }
    }

    /// The reference of Winograd's F(m x m, 3x3) (`crate::float::winograd`, `variant` F2X2 or
    /// F4X4): y exact as for [`Reference::correlate`], but the magnitude is the transforms'
    /// S_W = |A^T| sum_c (|G||g_c||G^T|) (.) (|B^T||d_c||B|) |A| + |b| and
    /// n = C_in/G + R - 1 (R = [`Variant::roundings`](crate::float::winograd::Variant::roundings)),
    /// so that the contract's gamma_(n+1) S_W is the bound of `proofs/exact.md` W1 and W2; the
    /// absolute terms are those of `proofs/oracle.md` O6: 2 a^2 C (1 + 24 b^2 max|x|) underflow
    /// units and cut weights 2 a^2 b^2 g^2 C (max|x| + max|w|), with a, b, g the largest row
    /// sums of |A^T|, |B^T| and |G|. This is the bound of convspec's own transforms
    /// (`crate::float::winograd`), not of another library's Winograd kernels.
    ///
    /// Refused (a typed error) for layers the transforms do not apply to: anything but a 2-D
    /// correlation with a 3x3 kernel, stride 1, dilation 1 and zero padding.
    ///
    /// S_W is computed exactly: for each output parity (r, s) of the m x m tiles,
    /// S_W[m t + r, m v + s] - |b| is a stride-m correlation of |x| (padded as the layer, and at
    /// the end to whole tiles) with the alpha x alpha kernel
    /// kappa_(r,s)[i, j] = sum_(a,b) |A^T|\[r,a\] |A^T|\[s,b\] |B^T|\[a,i\] |B^T|\[b,j\] (|G||g||G^T|)\[a,b\].
    pub fn winograd(
        engine: &ExactEngine,
        input: &ArrayD<Rational>,
        weight: &ArrayD<Rational>,
        bias: Option<&ArrayD<Rational>>,
        geometry: &ConvGeometry,
        variant: &crate::float::winograd::Variant,
    ) -> Result<Reference, ExactError> {
        use crate::geometry::{Padding, PaddingMode};
        let applies = weight.ndim() == 4
            && weight.shape()[2..] == [3, 3]
            && geometry.stride.iter().all(|&s| s == 1)
            && geometry.dilation.iter().all(|&d| d == 1)
            && geometry.padding_mode == PaddingMode::Zeros;
        if !applies {
            return Err(crate::geometry::GeometryError::Unsupported(
                "the winograd bound of convspec's F(m x m, 3x3) kernels applies to 2-D correlations with a 3x3 kernel, stride 1, dilation 1 and zero padding".into(),
            )
            .into());
        }
        // y as for the direct bound; the magnitude is S_W (below), not S.
        let exact = engine.correlate(
            &scaled_input(input)?,
            &scaled_input(weight)?,
            bias.map(scaled_input).transpose()?.as_ref(),
            geometry,
        )?;
        let batched = batched_shape(input, weight);
        let shape = ConvShape::new(&batched, weight.shape(), bias.map(|b| b.len()), geometry)?;
        let dims = &shape.dims;
        let output = exact.shape().to_vec();
        let (m, alpha) = (variant.outputs, variant.alpha());
        let (out_h, out_w) = (output[output.len() - 2], output[output.len() - 1]);
        let (tiles_h, tiles_w) = (out_h.div_ceil(m), out_w.div_ceil(m));
        let in_per_group = weight.shape()[1];
        let out_channels = weight.shape()[0];
        let q = |v: i64| Rational::from_integer(v.into());
        let g_abs: Vec<Vec<Rational>> = variant
            .g
            .iter()
            .map(|r| {
                r.iter()
                    .map(|&(n, d)| Rational::new(i64::from(n).abs().into(), i64::from(d).into()))
                    .collect()
            })
            .collect();
        let b_abs = |a: usize, i: usize| i64::from(variant.b_t[a][i]).abs();

        let a_abs = |r: usize, a: usize| i64::from(variant.a_t[r][a]).abs();
        // |G||g||G^T| per (o, c): alpha x alpha.
        let mut u_abs = vec![q(0); out_channels * in_per_group * alpha * alpha];
        for o in 0..out_channels {
            for c in 0..in_per_group {
                for a in 0..alpha {
                    for b in 0..alpha {
                        let mut u = q(0);
                        for kk in 0..3 {
                            for l in 0..3 {
                                if g_abs[a][kk].is_zero() || g_abs[b][l].is_zero() {
                                    continue;
                                }
                                u += &g_abs[a][kk] * &g_abs[b][l] * weight[[o, c, kk, l]].abs();
                            }
                        }
                        u_abs[((o * in_per_group + c) * alpha + a) * alpha + b] = u;
                    }
                }
            }
        }
        let x_abs = scaled(&absolute(input));
        let end = |d: &crate::geometry::DimGeometry, tiles: usize| {
            (m * tiles.saturating_sub(1) + alpha).saturating_sub(d.input + d.pad_begin)
        };
        let tiled = ConvGeometry::new(2)
            .with_stride(vec![m, m])
            .with_groups(shape.groups)
            .with_padding(Padding::Explicit(vec![
                (dims[0].pad_begin, end(&dims[0], tiles_h)),
                (dims[1].pad_begin, end(&dims[1], tiles_w)),
            ]));
        let mut magnitude = ArrayD::from_elem(IxDyn(&output), q(0));
        for r in 0..m {
            for s_ in 0..m {
                let mut kappa =
                    ArrayD::from_elem(IxDyn(&[out_channels, in_per_group, alpha, alpha]), q(0));
                for o in 0..out_channels {
                    for c in 0..in_per_group {
                        for a in 0..alpha {
                            for b in 0..alpha {
                                let coefficient = a_abs(r, a) * a_abs(s_, b);
                                if coefficient == 0 {
                                    continue;
                                }
                                let u = &u_abs[((o * in_per_group + c) * alpha + a) * alpha + b];
                                if u.is_zero() {
                                    continue;
                                }
                                for i in 0..alpha {
                                    for j in 0..alpha {
                                        let t = b_abs(a, i) * b_abs(b, j);
                                        if t != 0 {
                                            kappa[[o, c, i, j]] += u * q(coefficient * t);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                let part = engine
                    .correlate(&x_abs, &scaled(&kappa), None, &tiled)?
                    .to_rationals();
                for (index, value) in part.indexed_iter() {
                    let index = index.slice();
                    let rank = index.len();
                    let (th, tw) = (index[rank - 2], index[rank - 1]);
                    let (row, col) = (m * th + r, m * tw + s_);
                    if row < out_h && col < out_w {
                        let mut at = index.to_vec();
                        at[rank - 2] = row;
                        at[rank - 1] = col;
                        magnitude[IxDyn(&at)] = value.clone();
                    }
                }
            }
        }
        if let Some(b) = bias {
            let channel_axis = output.len() - 3;
            for (index, value) in magnitude.indexed_iter_mut() {
                *value += b[[index[channel_axis]]].abs();
            }
        }
        let (c, terms) = (
            q(in_per_group as i64),
            in_per_group + variant.roundings() - 1,
        );
        let [a_sum, b_sum, g_sum] = variant.row_sums();
        // proofs/oracle.md O6: errors in M reach an output through |A^T| (.) |A^T| (at most
        // a_sum^2), the cut's through |B^T|, |G| on both sides; (1 + gamma) <= 2.
        let (a2, b2) = (&a_sum * &a_sum, &b_sum * &b_sum);
        let two = q(2);
        let reach = &two * &a2 * &c * &b2 * &g_sum * &g_sum;
        let (m_x, m_w) = (largest(input), largest(weight));
        Ok(Reference {
            exact,
            magnitude: scaled(&magnitude),
            reduction: Reduction {
                terms,
                factors: 2,
                bias: bias.is_some(),
                cut_weight: &reach * (&m_x + &m_w) + q(i64::from(bias.is_some())),
                cut_products: reach,
                underflow_ops: &two * &a2 * &c * (q(1) + q(24) * &b2 * &m_x),
                matrix_unit: false,
            },
            selection: false,
            inputs_in_format: formats_of(&with_bias(input, weight, bias)),
        })
    }

    /// The reference of FFT correlation with overlap-add (`crate::float::fft`, whose module
    /// documentation derives the bound): y exact as for [`Reference::correlate`]; the magnitude
    /// is S + sum_(blocks s covering the element) (N2_s + N1_s) over the blocks of the padded,
    /// flattened input ([`block_magnitudes`](crate::float::fft::block_magnitudes)), and n is
    /// [`FftPlan::effective_terms`](crate::float::fft::FftPlan::effective_terms) for the
    /// accumulator's unit roundoff `u`, so that the contract's gamma_(n+1) times that
    /// magnitude is the normwise bound. The norms and spectra are evaluated in f64 from the
    /// exact inputs and enlarged to stay upper bounds.
    ///
    /// Underflow: a generous count of 8 (C + 1) m (log2 m + 3) (1 + m (max|x| + max|w|))
    /// underflow units, for the transforms' products.
    pub fn fft(
        engine: &ExactEngine,
        input: &ArrayD<Rational>,
        weight: &ArrayD<Rational>,
        bias: Option<&ArrayD<Rational>>,
        geometry: &ConvGeometry,
        u: f64,
    ) -> Result<Reference, ExactError> {
        use crate::float::fft::{block_magnitudes, padded_input, FftPlan};
        let base = Reference::correlate(engine, input, weight, bias, geometry)?;
        let batched = batched_shape(input, weight);
        let shape = ConvShape::new(&batched, weight.shape(), bias.map(|b| b.len()), geometry)?;
        let output = shape.output_spatial();
        let plan = FftPlan::new(&shape, &output);
        // The inputs rounded to f64 (relative error at most 2^-53 each; 2^-52 covers the
        // subnormal range's absolute part for these magnitudes' purpose only through `tiny`).
        let x: Vec<f64> = input.iter().map(round_to_f64).collect();
        let padded = padded_input(&shape, &x, geometry.padding_mode);
        let x = padded.as_deref().unwrap_or(&x);
        let w: Vec<f64> = weight.iter().map(round_to_f64).collect();
        let in_per_group = shape.in_channels / shape.groups;
        let block_norms = block_magnitudes(&plan, &shape, x, &w, f64::EPSILON, u);
        let margin = 1.0 + 2f64.powi(-20);
        let positions: usize = output.iter().product();
        let mut magnitude = base.magnitude.to_rationals();
        for (i, value) in magnitude.iter_mut().enumerate() {
            let (row, position) = (i / positions.max(1), i % positions.max(1));
            let t = plan.output_flat(position);
            let extra: f64 = plan
                .blocks_of(t)
                .map(|s| block_norms[row * plan.blocks + s])
                .sum::<f64>()
                * margin;
            *value += rational_from_f64(extra).map_err(|_| {
                ExactError::TooLarge(
                    "the FFT bound's norms overflow f64: the inputs are too large for an FFT bound"
                        .into(),
                )
            })?;
        }
        let m = plan.size as i64;
        let stages = i64::from(plan.size.trailing_zeros()) + 3;
        let c = in_per_group as i64;
        let taps: usize = shape.kernel().iter().product();
        let q = |v: i64| Rational::from_integer(v.into());
        let operands = largest(input) + largest(weight);
        // proofs/oracle.md O6: the cut's absolute errors as for the n = C k real products,
        // doubled for the transforms' normwise growth; the transforms' underflow as counted.
        let products = q(2 * c * taps as i64);
        Ok(Reference {
            exact: base.exact,
            magnitude: scaled(&magnitude),
            reduction: Reduction {
                terms: plan.effective_terms(u, in_per_group),
                factors: 2,
                bias: bias.is_some(),
                cut_weight: &products * &operands + q(i64::from(bias.is_some())),
                cut_products: products,
                underflow_ops: q(8 * (c + 1) * m * stages) * (q(1) + q(m) * operands),
                matrix_unit: false,
            },
            selection: false,
            inputs_in_format: base.inputs_in_format,
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

    fn layer(
        engine: &ExactEngine,
        input: &ArrayD<Rational>,
        weight: &ArrayD<Rational>,
        bias: Option<&ArrayD<Rational>>,
        geometry: &ConvGeometry,
        flip: bool,
    ) -> Result<Reference, ExactError> {
        let batched = batched_shape(input, weight);
        let shape = ConvShape::new(&batched, weight.shape(), bias.map(|b| b.len()), geometry)?;
        let (x, w, b) = (
            scaled_input(input)?,
            scaled_input(weight)?,
            bias.map(scaled_input).transpose()?,
        );
        let run = |x: &ScaledTensor, w: &ScaledTensor, b: Option<&ScaledTensor>| {
            if flip {
                engine.convolve(x, w, b, geometry)
            } else {
                engine.correlate(x, w, b, geometry)
            }
        };
        let exact = run(&x, &w, b.as_ref())?;
        let magnitude = run(&x.abs(), &w.abs(), b.map(|b| b.abs()).as_ref())?;
        Ok(Reference::linear(
            exact,
            magnitude,
            Reduction::products(
                shape.reduction_length(),
                largest(input) + largest(weight),
                bias.is_some(),
            ),
            &with_bias(input, weight, bias),
        ))
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
        let batched = batched_shape(input, weight);
        let shape = TransposeShape::new(&batched, weight.shape(), bias.map(|b| b.len()), geometry)?;
        let (x, w, b) = (
            scaled_input(input)?,
            scaled_input(weight)?,
            bias.map(scaled_input).transpose()?,
        );
        let exact = engine.conv_transpose(&x, &w, b.as_ref(), geometry)?;
        let magnitude =
            engine.conv_transpose(&x.abs(), &w.abs(), b.map(|b| b.abs()).as_ref(), geometry)?;
        let taps: usize = shape.dims.iter().map(|d| d.kernel).product();
        Ok(Reference::linear(
            exact,
            magnitude,
            Reduction::products(
                shape.in_channels / shape.groups * taps,
                largest(input) + largest(weight),
                bias.is_some(),
            ),
            &with_bias(input, weight, bias),
        ))
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
            magnitude: scaled(&absolute(&exact)),
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
            magnitude: scaled(&magnitude),
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
            magnitude: scaled(&magnitude),
            reduction: Reduction::sum(terms, cut_weight, true),
            selection: false,
            inputs_in_format: formats_of(&[input]),
        })
    }
}
