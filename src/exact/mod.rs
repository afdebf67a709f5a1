//! The fast exact engine: the reference engine's results, at float-like speed.
//!
//! [`crate::reference`] is the specification, written over any [`Ring`](crate::scalar::Ring)
//! and far too slow on big rationals for real layers. This engine computes the same exact
//! values another way, and is checked against the reference in property tests:
//!
//! 1. **Scale to integers** ([`ScaledTensor`]): a tensor of floats is 2^e_min times a tensor of
//!    integers, a tensor of rationals 1/D times one. The scale is applied once, at the end.
//! 2. **Bit budget** ([`Plan::for_products`]): with |x| < 2^bx, |w| < 2^bw and n terms per output,
//!    |y| < 2^(bx + bw + ceil(log2 n)). When that is at most 2^53, one product in f64 is exact
//!    (every partial sum is an integer below 2^53). Otherwise the products run modulo primes p
//!    small enough that n ((p - 1)/2)^2 <= 2^53 keeps each modular dot product exact in f64,
//!    and enough of them that their product M exceeds 2 |y|; the Chinese remainder theorem then
//!    gives y (in i128 arithmetic when M < 2^128, big integers beyond). Or, when that takes
//!    fewer products ([`Plan::for_products`]), the integers are cut into limbs of a and b bits
//!    with a + b + ceil(log2 n) <= 53, each limb product is exact in f64, and y is their sum
//!    shifted into place. On processors with AVX-512 IFMA, integers of at most 51 bits
//!    are offset to nonnegative ones below 2^52 and multiplied exactly in 64-bit lanes, the
//!    low and high 52 bits of each product summed apart ([`wide`], [`Plan::for_products_wide`]):
//!    one product per lane per instruction, as float64's FMA. The budget is computed before any
//!    arithmetic: nothing can wrap.
//! 3. **Gather-GEMM** ([`engine`]): per batch element and group, im2col of the (residues of
//!    the) input straight into packed panels and a register-blocked f64 (or u64 IFMA)
//!    micro-kernel ([`gemm`]), tiled over output positions so that memory stays proportional to the inputs
//!    and outputs.
//! 4. **Threads**: rayon over the tiles (and over the primes while preparing), with the thread
//!    count given explicitly ([`ExactEngine::new`]). The result is the same for every thread
//!    count: each output's arithmetic does not depend on the schedule, and it is exact.
//!
//! Cost: (number of primes or limb products) x 2 N C_out prod(O) (C_in/G) prod(k) flops of f64
//! arithmetic, plus O(inputs + outputs) work per lane for the residues or limbs and the
//! reconstruction.

pub mod direct;
pub mod engine;
pub mod gemm;
pub mod modular;
pub mod ntt;
pub mod scaled;
#[cfg(test)]
mod tests;
pub mod wide;

pub use engine::Plan;
pub use gemm::Kernel;
pub use scaled::{Dyadic, Integers, ScaledTensor};

use crate::geometry::{
    ConvGeometry, ConvShape, GeometryError, TransposeGeometry, TransposePadding, TransposeShape,
};
use crate::reference::OpError;
use crate::scalar::Integer;
use engine::{GatherMap, GatherProblem, Operands};
use ndarray::{ArrayD, IxDyn};
use num_traits::Zero;

/// Why the fast exact engine cannot compute a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExactError {
    /// The operation itself is invalid (shapes, geometry), exactly as the reference says.
    Op(OpError),
    /// NaN or infinity where an exact value is required.
    NotFinite {
        /// The multi-index of the first such element.
        index: Vec<usize>,
        /// Its value as printed.
        value: String,
    },
    /// Sizes beyond what the engine indexes.
    TooLarge(String),
}

/// Refuses an output whose exact values would exceed the memory limit ([`crate::limits`]).
fn guard_output(shape: &[usize]) -> Result<(), ExactError> {
    let elements: u128 = shape.iter().map(|&d| d as u128).product();
    crate::limits::check_exact_elements("the output", elements).map_err(ExactError::TooLarge)
}

impl std::fmt::Display for ExactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExactError::Op(inner) => std::fmt::Display::fmt(inner, f),
            ExactError::NotFinite { index, value } => {
                write!(f, "element {index:?} is {value}, which has no exact value")
            }
            ExactError::TooLarge(v0) => write!(f, "{v0}"),
        }
    }
}

impl std::error::Error for ExactError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExactError::Op(inner) => std::error::Error::source(inner),
            _ => None,
        }
    }
}

impl From<OpError> for ExactError {
    fn from(error: OpError) -> Self {
        ExactError::Op(error)
    }
}

impl From<GeometryError> for ExactError {
    fn from(e: GeometryError) -> ExactError {
        ExactError::Op(OpError::Geometry(e))
    }
}

/// The fast exact engine with a fixed thread count. Its rayon pool is the process's pool of
/// that thread count ([`crate::parallel::shared_pool`]), taken on first use.
#[derive(Debug, Clone)]
pub struct ExactEngine {
    threads: usize,
    kernel: Kernel,
    pool: std::sync::OnceLock<std::sync::Arc<rayon::ThreadPool>>,
}

impl ExactEngine {
    /// An engine on `threads` threads (at least 1) with the fastest micro-kernel of this
    /// processor.
    pub fn new(threads: usize) -> ExactEngine {
        ExactEngine {
            threads: threads.max(1),
            kernel: Kernel::detect(),
            pool: Default::default(),
        }
    }

    /// The engine's pool of exactly `threads` threads.
    fn pool(&self) -> Result<&rayon::ThreadPool, ExactError> {
        crate::parallel::engine_pool(&self.pool, self.threads).map_err(ExactError::TooLarge)
    }

    /// The same engine with a given micro-kernel (for tests of each instruction set).
    pub fn with_kernel(mut self, kernel: Kernel) -> ExactEngine {
        self.kernel = kernel;
        self
    }

    /// The thread count.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The micro-kernel in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// [`crate::reference::correlate`], exactly: y = b + sum_c sum_j w[o, c, j] xpad[.., i s + j d]
    /// for every stride, dilation, padding rule and mode, and groups. Also returns the plan used.
    pub fn correlate_with_plan(
        &self,
        input: &ScaledTensor,
        weight: &ScaledTensor,
        bias: Option<&ScaledTensor>,
        geometry: &ConvGeometry,
    ) -> Result<(ScaledTensor, Plan), ExactError> {
        // The whole call runs on the pool: its parallel steps then start from a pool thread
        // (no hand-over from the caller's thread and back for each of them).
        let pool = self.pool()?;
        crate::parallel::install_warm(pool, || {
            self.correlate_on(pool, input, weight, bias, geometry)
        })
    }

    fn correlate_on(
        &self,
        pool: &rayon::ThreadPool,
        input: &ScaledTensor,
        weight: &ScaledTensor,
        bias: Option<&ScaledTensor>,
        geometry: &ConvGeometry,
    ) -> Result<(ScaledTensor, Plan), ExactError> {
        if input.shape().len() + 1 == weight.shape().len() {
            let batched = input.reshape(&[&[1], input.shape()].concat())?;
            let (y, plan) = self.correlate_on(pool, &batched, weight, bias, geometry)?;
            let shape = y.shape()[1..].to_vec();
            return Ok((y.reshape(&shape)?, plan));
        }
        let (shape, output_shape) = layer_shape(input, weight, bias, geometry)?;
        if let [d] = shape.dims.as_slice() {
            let depth = shape.in_channels / shape.groups * d.kernel;
            let operands = Operands {
                input,
                weight,
                bias,
            };
            let budget = engine::Budget::new(&operands, depth);
            // Long kernels at stride 1 and dilation 1 with zero padding: transforms.
            let zero_padding = geometry.padding_mode == crate::geometry::PaddingMode::Zeros
                || (d.pad_begin == 0 && d.pad_end == 0);
            if d.kernel >= ntt::MIN_TAPS && d.stride == 1 && d.dilation == 1 && zero_padding {
                if let Some(plan) = ntt::plan(d.input + d.kernel - 1, budget.bound_bits) {
                    let y = ntt::correlate_1d(
                        input,
                        weight,
                        bias,
                        &output_shape,
                        d.pad_begin,
                        shape.groups,
                        (plan.clone(), &budget),
                        pool,
                    );
                    return Ok((y, plan));
                }
            }
            // Otherwise, few output channels per group: one direct dot product per output.
            if let Some(y) = direct::correlate_1d(
                &operands,
                &shape,
                geometry.padding_mode,
                &output_shape,
                &budget,
                pool,
            ) {
                return Ok((y, Plan::Direct));
            }
        }
        let problem = gather_problem(&shape, geometry, output_shape)?;
        engine::run(
            &problem,
            &Operands {
                input,
                weight,
                bias,
            },
            &self.kernel,
            pool,
            None,
        )
    }

    /// [`ExactEngine::correlate`] with every value correctly rounded into `format` (to
    /// nearest, ties to even; overflow to infinity, as IEEE rounding does) and handed to
    /// `map`, in C order. When the layer runs on the plan [`Plan::Wide`] each value is rounded
    /// as it is made and the exact integers (16 bytes per output) are never held; otherwise the
    /// exact layer is rounded ([`ScaledTensor::rounded_map`]).
    pub fn correlate_rounded<T: Copy + Default + Send + Sync>(
        &self,
        [input, weight]: [&ScaledTensor; 2],
        bias: Option<&ScaledTensor>,
        geometry: &ConvGeometry,
        format: crate::scalar::FloatFormat,
        map: impl Fn(f64) -> T + Sync + Send,
    ) -> Result<ArrayD<T>, ExactError> {
        let pool = self.pool()?;
        crate::parallel::install_warm(pool, || {
            // Batched layers of two or more spatial dimensions; an unbatched input and 1-D
            // layers (which have plans of their own) take the exact path.
            let batched = input.shape().len() == weight.shape().len();
            if batched && weight.shape().len() > 3 {
                let (shape, output_shape) = layer_shape(input, weight, bias, geometry)?;
                let problem = gather_problem(&shape, geometry, output_shape)?;
                let operands = Operands {
                    input,
                    weight,
                    bias,
                };
                let rounded =
                    engine::run_rounded(&problem, &operands, &self.kernel, pool, (format, &map));
                if let Some(rounded) = rounded {
                    return Ok(rounded);
                }
            }
            let (y, _) = self.correlate_on(pool, input, weight, bias, geometry)?;
            let values = y.rounded_map(format, map);
            Ok(ArrayD::from_shape_vec(IxDyn(y.shape()), values).expect("the layer's shape"))
        })
    }

    /// [`crate::reference::correlate`], exactly.
    pub fn correlate(
        &self,
        input: &ScaledTensor,
        weight: &ScaledTensor,
        bias: Option<&ScaledTensor>,
        geometry: &ConvGeometry,
    ) -> Result<ScaledTensor, ExactError> {
        Ok(self.correlate_with_plan(input, weight, bias, geometry)?.0)
    }

    /// [`crate::reference::convolve`] (the kernel flipped in every spatial dimension), exactly.
    pub fn convolve(
        &self,
        input: &ScaledTensor,
        weight: &ScaledTensor,
        bias: Option<&ScaledTensor>,
        geometry: &ConvGeometry,
    ) -> Result<ScaledTensor, ExactError> {
        self.correlate(input, &weight.flip_spatial(2), bias, geometry)
    }

    /// [`crate::reference::conv_transpose`], exactly: output position t of each dimension
    /// gathers, at tap j, the input position i = (t + p_b - j d) / s when that is an integer in
    /// [0, L) (the scatter y[i s + j d - p_b] += w\[j\] x\[i\] read backwards).
    pub fn conv_transpose(
        &self,
        input: &ScaledTensor,
        weight: &ScaledTensor,
        bias: Option<&ScaledTensor>,
        geometry: &TransposeGeometry,
    ) -> Result<ScaledTensor, ExactError> {
        if input.shape().len() + 1 == weight.shape().len() {
            let batched = input.reshape(&[&[1], input.shape()].concat())?;
            let y = self.conv_transpose(&batched, weight, bias, geometry)?;
            let shape = y.shape()[1..].to_vec();
            return y.reshape(&shape);
        }
        check_bias(bias)?;
        let shape = TransposeShape::new(
            input.shape(),
            weight.shape(),
            bias.map(|b| b.len()),
            geometry,
        )?;
        let output_shape = shape.output_shape()?;
        guard_output(&output_shape)?;
        let spatial_in: Vec<usize> = shape.dims.iter().map(|d| d.input).collect();
        let kernel: Vec<usize> = shape.dims.iter().map(|d| d.kernel).collect();
        let map = GatherMap::new(&spatial_in, &kernel, &output_shape[2..], |d, t, j| {
            let g = &shape.dims[d];
            let reach = t as i64 + g.pad_begin - (j * g.dilation) as i64;
            if reach < 0 || !(reach as usize).is_multiple_of(g.stride) {
                return None;
            }
            let i = reach as usize / g.stride;
            (i < g.input).then_some(i)
        })?;
        // Weight (C_in, C_out/G, k...) to the gather form (C_out, C_in/G, k...):
        // W'[g m + o, c, j] = w[g C_in/G + c, o, j].
        let groups = shape.groups;
        let in_per_group = shape.in_channels / groups;
        let out_per_group = shape.out_channels / groups;
        let taps: usize = kernel.iter().product();
        let mut regrouped_shape = vec![shape.out_channels, in_per_group];
        regrouped_shape.extend(&kernel);
        let mut order = Vec::with_capacity(weight.len());
        for g in 0..groups {
            for o in 0..out_per_group {
                for c in 0..in_per_group {
                    let row = (g * in_per_group + c) * out_per_group + o;
                    order.extend(row * taps..(row + 1) * taps);
                }
            }
        }
        let regrouped = weight.take(&regrouped_shape, &order)?;
        let problem = GatherProblem {
            batch: shape.batch,
            groups,
            in_channels: shape.in_channels,
            out_channels: shape.out_channels,
            spatial: spatial_in.iter().product(),
            map,
            output_shape,
        };
        Ok(engine::run(
            &problem,
            &Operands {
                input,
                weight: &regrouped,
                bias,
            },
            &self.kernel,
            self.pool()?,
            None,
        )?
        .0)
    }

    /// [`crate::reference::correlate_backward`], exactly: (dL/dx, dL/dw, dL/db) for the
    /// upstream gradient `grad_output`, through the same identities (transposed convolution onto
    /// the padded input, folded back; correlation of the input with the gradient, stride and
    /// dilation exchanged; sums for the bias).
    pub fn correlate_backward(
        &self,
        input: &ScaledTensor,
        weight: &ScaledTensor,
        grad_output: &ScaledTensor,
        geometry: &ConvGeometry,
    ) -> Result<ExactGradients, ExactError> {
        if input.shape().len() + 1 == weight.shape().len() {
            if grad_output.shape().len() != input.shape().len() {
                return Err(OpError::Invalid(format!(
                    "grad_output has shape {:?} but the (unbatched) forward output has rank {}",
                    grad_output.shape(),
                    input.shape().len()
                ))
                .into());
            }
            let x = input.reshape(&[&[1], input.shape()].concat())?;
            let g = grad_output.reshape(&[&[1], grad_output.shape()].concat())?;
            let grads = self.correlate_backward(&x, weight, &g, geometry)?;
            let shape = grads.input.shape()[1..].to_vec();
            return Ok(ExactGradients {
                input: grads.input.reshape(&shape)?,
                ..grads
            });
        }
        let shape = ConvShape::new(input.shape(), weight.shape(), None, geometry)?;
        let expected = shape.output_shape()?;
        if grad_output.shape() != expected.as_slice() {
            return Err(OpError::Invalid(format!(
                "grad_output has shape {:?} but the forward output has shape {expected:?}",
                grad_output.shape()
            ))
            .into());
        }
        let rank = shape.dims.len();
        let groups = shape.groups;
        let in_per_group = shape.in_channels / groups;
        let out_per_group = shape.out_channels / groups;

        // dL/dxpad by transposed convolution onto the padded extent, then folded.
        let transpose = TransposeGeometry {
            stride: geometry.stride.clone(),
            dilation: geometry.dilation.clone(),
            padding: TransposePadding::Explicit(vec![(0, 0); rank]),
            output_padding: shape
                .dims
                .iter()
                .map(|g| {
                    let padded = g.input + g.pad_begin + g.pad_end;
                    (padded - g.dilation * (g.kernel - 1) - 1) % g.stride
                })
                .collect(),
            groups,
        };
        let grad_padded = self.conv_transpose(grad_output, weight, None, &transpose)?;
        let grad_input = grad_padded.fold_padding(input.shape(), |dim, position| {
            let d = &shape.dims[dim];
            geometry
                .padding_mode
                .source_index(position as i64 - d.pad_begin as i64, d.input)
        })?;

        // dL/dw per group: correlate x^T (C_in/G, N, L) with g^T (C_out/G, N, O), stride d and
        // dilation s, keeping the first k taps.
        let swapped = ConvGeometry {
            stride: geometry.dilation.clone(),
            dilation: geometry.stride.clone(),
            padding: crate::geometry::Padding::Explicit(
                shape
                    .dims
                    .iter()
                    .map(|g| (g.pad_begin, g.pad_end))
                    .collect(),
            ),
            padding_mode: geometry.padding_mode,
            groups: 1,
        };
        let mut blocks = Vec::with_capacity(groups);
        for g in 0..groups {
            let x = input.channels_first_swap(g * in_per_group, in_per_group)?;
            let gy = grad_output.channels_first_swap(g * out_per_group, out_per_group)?;
            let gw = self.correlate(&x, &gy, None, &swapped)?; // (C_in/G, C_out/G, >= k...)
            blocks.push(gw);
        }
        let kernel = shape.kernel();
        let grad_weight = ScaledTensor::assemble_weight_gradient(&blocks, &kernel)?;
        let grad_bias = grad_output.sum_per_channel()?;
        Ok(ExactGradients {
            input: grad_input,
            weight: grad_weight,
            bias: grad_bias,
        })
    }
}

/// The three gradients of a correlation layer, exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactGradients {
    /// dL/dx.
    pub input: ScaledTensor,
    /// dL/dw.
    pub weight: ScaledTensor,
    /// dL/db.
    pub bias: ScaledTensor,
}

/// The shapes of a batched correlation layer and its output shape, the bias's rank checked and
/// the output held to the memory limit.
fn layer_shape(
    input: &ScaledTensor,
    weight: &ScaledTensor,
    bias: Option<&ScaledTensor>,
    geometry: &ConvGeometry,
) -> Result<(ConvShape, Vec<usize>), ExactError> {
    check_bias(bias)?;
    let shape = ConvShape::new(
        input.shape(),
        weight.shape(),
        bias.map(|b| b.len()),
        geometry,
    )?;
    let output_shape = shape.output_shape()?;
    guard_output(&output_shape)?;
    Ok((shape, output_shape))
}

/// The gather problem of a layer of at least one spatial dimension (padding read through the
/// padding mode's source index).
fn gather_problem<'a>(
    shape: &'a ConvShape,
    geometry: &'a ConvGeometry,
    output_shape: Vec<usize>,
) -> Result<GatherProblem<'a>, ExactError> {
    let spatial_in: Vec<usize> = shape.dims.iter().map(|d| d.input).collect();
    let map = GatherMap::new(
        &spatial_in,
        &shape.kernel(),
        &output_shape[2..],
        |d, t, j| {
            let g = &shape.dims[d];
            geometry
                .padding_mode
                .source_index(g.input_index(t, j), g.input)
        },
    )?;
    Ok(GatherProblem {
        batch: shape.batch,
        groups: shape.groups,
        in_channels: shape.in_channels,
        out_channels: shape.out_channels,
        spatial: spatial_in.iter().product(),
        map,
        output_shape,
    })
}

fn check_bias(bias: Option<&ScaledTensor>) -> Result<(), ExactError> {
    match bias {
        Some(b) if b.shape().len() != 1 => Err(OpError::Invalid(format!(
            "bias must be 1-D (C_out,), got shape {:?}",
            b.shape()
        ))
        .into()),
        _ => Ok(()),
    }
}

impl ScaledTensor {
    /// The elements at the given C-order positions, as a tensor of the given shape.
    pub fn take(&self, shape: &[usize], order: &[usize]) -> Result<ScaledTensor, ExactError> {
        fn pick<T: Clone>(a: &ArrayD<T>, shape: &[usize], order: &[usize]) -> ArrayD<T> {
            let standard = a.as_standard_layout();
            let flat = standard.as_slice().expect("standard layout");
            let values = order.iter().map(|&i| flat[i].clone()).collect();
            ArrayD::from_shape_vec(IxDyn(shape), values).expect("shape matches the order")
        }
        if shape.iter().product::<usize>() != order.len() {
            return Err(ExactError::TooLarge(format!(
                "{} positions do not fill shape {shape:?}",
                order.len()
            )));
        }
        Ok(ScaledTensor {
            integers: match &self.integers {
                Integers::Dyadic(a) => Integers::Dyadic(pick(a, shape, order)),
                Integers::Narrow(a) => Integers::Narrow(pick(a, shape, order)),
                Integers::Wide(a) => Integers::Wide(pick(a, shape, order)),
                Integers::Big(a) => Integers::Big(pick(a, shape, order)),
            },
            scale: self.scale.clone(),
        })
    }

    /// The same elements in C order with another shape of the same size.
    pub fn reshape(&self, shape: &[usize]) -> Result<ScaledTensor, ExactError> {
        let order: Vec<usize> = (0..self.len()).collect();
        self.take(shape, &order)
    }

    /// The tensor reversed along every axis from `first_axis` on (a kernel flip).
    pub fn flip_spatial(&self, first_axis: usize) -> ScaledTensor {
        let shape = self.shape().to_vec();
        let order: Vec<usize> = ndarray::indices(IxDyn(&shape))
            .into_iter()
            .map(|index| {
                let mut flat = 0;
                for (axis, &size) in shape.iter().enumerate() {
                    let i = if axis >= first_axis {
                        size - 1 - index[axis]
                    } else {
                        index[axis]
                    };
                    flat = flat * size + i;
                }
                flat
            })
            .collect();
        self.take(&shape, &order).expect("same size")
    }

    /// Channels [first, first + count) of an (N, C, spatial...) tensor with the first two axes
    /// exchanged: (count, N, spatial...).
    fn channels_first_swap(&self, first: usize, count: usize) -> Result<ScaledTensor, ExactError> {
        let shape = self.shape();
        let (batch, channels) = (shape[0], shape[1]);
        let spatial: usize = shape[2..].iter().product();
        let mut order = Vec::with_capacity(count * batch * spatial);
        for c in first..first + count {
            for n in 0..batch {
                let at = (n * channels + c) * spatial;
                order.extend(at..at + spatial);
            }
        }
        let mut new_shape = vec![count, batch];
        new_shape.extend(&shape[2..]);
        self.take(&new_shape, &order)
    }

    /// dL/dw from per-group blocks (C_in/G, C_out/G, K'...) with K' >= k: the first k taps,
    /// channels swapped to (C_out/G, C_in/G, k...), groups stacked along the output channels.
    fn assemble_weight_gradient(
        blocks: &[ScaledTensor],
        kernel: &[usize],
    ) -> Result<ScaledTensor, ExactError> {
        // Bring every block to one scale (they can differ only through their integers' scale).
        let scale = blocks.iter().skip(1).fold(blocks[0].scale.clone(), |s, b| {
            scaled::rational_gcd(&s, &b.scale)
        });
        let mut values = Vec::new();
        let (in_per_group, out_per_group) = (blocks[0].shape()[0], blocks[0].shape()[1]);
        for block in blocks {
            let full = &block.shape()[2..];
            let multiplier = (&block.scale / &scale).to_integer();
            let integers = block.integer_values();
            for o in 0..out_per_group {
                for c in 0..in_per_group {
                    for tap in ndarray::indices(IxDyn(kernel)) {
                        let mut flat = c * out_per_group + o;
                        for (d, &size) in full.iter().enumerate() {
                            flat = flat * size + tap[d];
                        }
                        values.push(&integers[flat] * &multiplier);
                    }
                }
            }
        }
        let mut shape = vec![blocks.len() * out_per_group, in_per_group];
        shape.extend(kernel);
        debug_assert_eq!(values.len(), shape.iter().product::<usize>());
        Ok(ScaledTensor::from_integers(&shape, values, scale))
    }

    /// Sums over the batch and spatial axes of an (N, C, spatial...) tensor: (C).
    fn sum_per_channel(&self) -> Result<ScaledTensor, ExactError> {
        let shape = self.shape();
        let (batch, channels) = (shape[0], shape[1]);
        let spatial: usize = shape[2..].iter().product();
        let integers = self.integer_values();
        let sums: Vec<Integer> = (0..channels)
            .map(|c| {
                let mut sum = Integer::zero();
                for n in 0..batch {
                    let at = (n * channels + c) * spatial;
                    for v in &integers[at..at + spatial] {
                        sum += v;
                    }
                }
                sum
            })
            .collect();
        Ok(ScaledTensor::from_integers(
            &[channels],
            sums,
            self.scale.clone(),
        ))
    }

    /// Folds a gradient on the padded extent back onto the input: padded position t (per
    /// spatial dimension) adds into input position `source(dim, t)`, or nowhere.
    fn fold_padding(
        &self,
        input_shape: &[usize],
        source: impl Fn(usize, usize) -> Option<usize>,
    ) -> Result<ScaledTensor, ExactError> {
        let padded_shape = self.shape().to_vec();
        let rank = padded_shape.len() - 2;
        let mut sums = vec![Integer::zero(); input_shape.iter().product()];
        let integers = self.integer_values();
        for (value, index) in integers
            .into_iter()
            .zip(ndarray::indices(IxDyn(&padded_shape)))
        {
            let mut target = index[0] * input_shape[1] + index[1];
            let mut inside = true;
            for d in 0..rank {
                match source(d, index[2 + d]) {
                    Some(s) => target = target * input_shape[2 + d] + s,
                    None => {
                        inside = false;
                        break;
                    }
                }
            }
            if inside {
                sums[target] += value;
            }
        }
        Ok(ScaledTensor::from_integers(
            input_shape,
            sums,
            self.scale.clone(),
        ))
    }

    /// Integers (narrowed to i128 when every one fits) times a scale.
    pub fn from_integers(
        shape: &[usize],
        values: Vec<Integer>,
        scale: crate::scalar::Rational,
    ) -> ScaledTensor {
        let integers = if values.iter().all(|v| v.bits() < 127) {
            Integers::Wide(
                ArrayD::from_shape_vec(
                    IxDyn(shape),
                    values
                        .iter()
                        .map(|v| i128::try_from(v).expect("below 2^127"))
                        .collect(),
                )
                .expect("shape"),
            )
        } else {
            Integers::Big(ArrayD::from_shape_vec(IxDyn(shape), values).expect("shape"))
        };
        ScaledTensor { integers, scale }
    }
}
