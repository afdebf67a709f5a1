//! A layer prepared once and run on many inputs, as ONNX Runtime's session and oneDNN's
//! primitives are: the weight and bias held contiguous, and packed once for the micro-kernel
//! of im2col and implicit GEMM ([`super::packed`]) or transformed for Winograd's algorithms
//! ([`super::winograd::TransformedWeights`]), so that a run reads the input and multiplies,
//! with nothing done again per call for the weight.
//!
//! A run computes what [`FloatEngine::correlate`] computes for the same input, weight, bias,
//! geometry and algorithm, bit for bit (the same kernels in the same order).

use super::packed::PackedWeights;
use super::phases::PhaseWeights;
use super::winograd::TransformedWeights;
use super::{resolve, Algorithm, FloatEngine, FloatScalar, Layer};
use crate::geometry::ConvGeometry;
use crate::reference::OpError;
use ndarray::{ArrayD, ArrayViewD};
use std::sync::OnceLock;

/// A correlation layer with its weight, bias, geometry and algorithm fixed
/// ([`FloatEngine::prepare`]); [`PreparedConv::run`] computes it on an input.
#[derive(Debug, Clone)]
pub struct PreparedConv<T: FloatScalar> {
    engine: FloatEngine,
    weight: ArrayD<T>,
    bias: Option<ArrayD<T>>,
    geometry: ConvGeometry,
    algorithm: Option<Algorithm>,
    packed: Option<PackedWeights<T>>,
    /// The weight transformed for F(2x2, 3x3) and for F(4x4, 3x3), each made at preparation
    /// when named, else on the first run the planner gives that variant.
    transformed: [OnceLock<TransformedWeights<T>>; 2],
    /// The weight transformed for Winograd on a stride-2 layer's phases, made at preparation
    /// when named, else on the first run the planner gives that algorithm.
    phased: OnceLock<Option<PhaseWeights<T>>>,
}

/// Winograd's variants, in the order of [`PreparedConv`]'s transformed weights.
const VARIANTS: [(Algorithm, &super::winograd::Variant); 2] = [
    (Algorithm::WINOGRAD, &super::winograd::F2X2),
    (Algorithm::WINOGRAD4, &super::winograd::F4X4),
];

impl FloatEngine {
    /// The layer of `weight` (C_out, C_in/G, k...), `bias` (C_out) and `geometry`, prepared
    /// for [`PreparedConv::run`]: the weight packed for the micro-kernel of im2col and
    /// implicit GEMM when the algorithm may be one of them (None lets [`super::plan`] choose
    /// per input), or transformed for a Winograd algorithm. Cost: one copy of the weight, and
    /// one more to pack or transform it.
    pub fn prepare<T: FloatScalar>(
        &self,
        weight: ArrayViewD<'_, T>,
        bias: Option<ArrayViewD<'_, T>>,
        geometry: &ConvGeometry,
        algorithm: Option<Algorithm>,
    ) -> Result<PreparedConv<T>, OpError> {
        let rank = geometry.rank();
        if weight.ndim() != rank + 2 {
            return Err(OpError::Invalid(format!(
                "weight must be (C_out, C_in/G, k...) with {rank} kernel sizes, got shape {:?}",
                weight.shape()
            )));
        }
        let out_channels = weight.shape()[0];
        let groups = geometry.groups;
        if groups == 0 || !out_channels.is_multiple_of(groups) {
            return Err(OpError::Invalid(format!(
                "C_out = {out_channels} is not a multiple of groups = {groups}"
            )));
        }
        if let Some(b) = &bias {
            if b.shape() != [out_channels] {
                return Err(OpError::Invalid(format!(
                    "bias must be 1-D (C_out,) = ({out_channels},), got shape {:?}",
                    b.shape()
                )));
            }
        }
        let weight = weight.as_standard_layout().into_owned();
        let bias = bias.map(|b| b.as_standard_layout().into_owned());
        let packs = algorithm.is_none_or(|a| [Algorithm::IM2COL, Algorithm::IMPLICIT].contains(&a));
        let packed = (packs && out_channels > 0).then(|| {
            let values = weight.as_slice().expect("standard layout");
            let zeros;
            let bias = match &bias {
                Some(b) => b.as_slice().expect("standard layout"),
                None => {
                    zeros = vec![T::zero(); out_channels];
                    &zeros
                }
            };
            PackedWeights::new(values, bias, groups, values.len() / out_channels)
        });
        let transformed: [OnceLock<TransformedWeights<T>>; 2] = Default::default();
        let prepared = PreparedConv {
            engine: self.clone(),
            weight,
            bias,
            geometry: geometry.clone(),
            algorithm,
            packed,
            transformed,
            phased: OnceLock::new(),
        };
        if let Some(index) = VARIANTS.iter().position(|(a, _)| algorithm == Some(*a)) {
            prepared.transformed_for(index);
        }
        if algorithm == Some(Algorithm::WINOGRAD_S2) {
            prepared.phased();
        }
        Ok(prepared)
    }
}

impl<T: FloatScalar> PreparedConv<T> {
    /// The layer on `input` (N, C_in, L...) or unbatched (C_in, L...), as
    /// [`FloatEngine::correlate`]; returns the output and the algorithm used.
    pub fn run(&self, input: ArrayViewD<'_, T>) -> Result<(ArrayD<T>, Algorithm), OpError> {
        if input.ndim() + 1 == self.weight.ndim() {
            let batched = input.insert_axis(ndarray::Axis(0));
            let (y, used) = self.run(batched)?;
            return Ok((y.index_axis_move(ndarray::Axis(0), 0), used));
        }
        let (weight, bias) = (self.weight.view(), self.bias.as_ref().map(ArrayD::view));
        let mut layer = Layer::prepare(input.reborrow(), weight, bias, &self.geometry)?;
        layer.packed = self.packed.as_ref();
        let used = resolve(&layer.problem(), self.algorithm);
        if let Some(index) = VARIANTS.iter().position(|(a, _)| used == *a) {
            layer.transformed = self.transformed_for(index);
        }
        if used == Algorithm::WINOGRAD_S2 {
            layer.phased = self.phased();
        }
        self.engine.run(&layer, Some(used))
    }

    /// The weight transformed for [`Algorithm::WINOGRAD_S2`], made on first need; None for a
    /// weight it does not take (the run refuses the layer).
    fn phased(&self) -> Option<&PhaseWeights<T>> {
        self.phased
            .get_or_init(|| {
                let values = self.weight.as_slice().expect("standard layout");
                PhaseWeights::new(values, self.weight.shape(), self.geometry.groups)
            })
            .as_ref()
    }

    /// The weight transformed for the variant `VARIANTS[index]`, made on first need; None for
    /// a weight of another shape than (C_out, C_in/G, 3, 3) (the run refuses the layer).
    fn transformed_for(&self, index: usize) -> Option<&TransformedWeights<T>> {
        let shape = self.weight.shape();
        if shape.len() != 4 || shape[2..] != [3, 3] {
            return None;
        }
        Some(self.transformed[index].get_or_init(|| {
            let values = self.weight.as_slice().expect("standard layout");
            let sizes = (shape[0], shape[1], self.geometry.groups);
            TransformedWeights::new(values, sizes, VARIANTS[index].1)
        }))
    }

    /// The weight (C_out, C_in/G, k...).
    pub fn weight(&self) -> ArrayViewD<'_, T> {
        self.weight.view()
    }
}
