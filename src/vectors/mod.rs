//! Conformance vectors: a suite of small cases that covers every feature of the layer family,
//! with exact outputs, for other implementations to test against (as the ONNX backend node
//! tests do for ONNX runtimes).
//!
//! Each [`Case`] is one layer call: its operands (named as PyTorch names the arguments), its
//! parameters, and the outputs computed by the reference engine over exact rationals.
//! [`write_suite`] writes, per case, a directory with
//!
//! * every operand as `.npy` (float32 when every value is a float32, which the suite's values
//!   are by construction, so that an fp32, fp64, fp16 or bf16 implementation reads them
//!   exactly) and as exact JSON;
//! * every output as exact JSON (`"p/q"` strings) and correctly rounded (to nearest, ties to
//!   even) as float64 and float32 `.npy`; max-pooling indices as int64 `.npy`;
//!
//! and a `manifest.json` that names, for each case, the call in PyTorch, ONNX (operator and
//! attributes, with a `Pad` node where PyTorch pads by a mode), NumPy or SciPy, the parameters
//! under those libraries' names, and the `convspec check` command line that judges a
//! candidate output with the oracle.
//!
//! The operand values are deterministic (a fixed-seed generator): small multiples of 1/4
//! (exact in every float format, so results depend on the geometry, not on rounding), full
//! 24-bit float32 values (whose exact results are not float32 values, so that rounding is
//! tested), and, for max pooling, distinct values (so that the chosen index is unambiguous).

pub mod cases;
pub mod naming;

pub use cases::suite;

use crate::geometry::{ConvGeometry, PoolParams, TransposeGeometry};
use crate::io::{write_exact_json, write_npy, Dtype, IoError};
use crate::oracle::representable;
use crate::reference::numpy::{np_convolve, np_correlate, Mode};
use crate::reference::scipy::{convolve2d, correlate2d, Boundary};
use crate::reference::{
    adaptive_avg_pool, adaptive_max_pool, avg_pool, conv_transpose, convolve, correlate,
    correlate_backward, fold, max_pool, unfold, AvgOptions, OpError, UnfoldParams,
};
use crate::scalar::{rational_from_i64, FloatFormat, Rational};
use ndarray::{ArrayD, IxDyn};
use std::path::{Path, PathBuf};

/// One layer call of the suite, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// Cross-correlation, PyTorch's `conv{1,2,3}d` and ONNX `Conv` (operands input, weight,
    /// optional bias).
    Correlate(ConvGeometry),
    /// True convolution: the kernel flipped in every spatial dimension.
    Convolve(ConvGeometry),
    /// `numpy.convolve(a, v, mode)`.
    NumpyConvolve(Mode),
    /// `numpy.correlate(a, v, mode)`.
    NumpyCorrelate(Mode),
    /// `scipy.signal.convolve2d` (`convolve`) or `correlate2d` (operands in1, in2).
    Scipy2d {
        /// convolve2d when true, correlate2d when false.
        convolve: bool,
        /// Output mode.
        mode: Mode,
        /// Boundary extension of in1.
        boundary: Boundary,
        /// The fill value of `Boundary::Fill`.
        fillvalue: Rational,
    },
    /// Transposed convolution, PyTorch's `conv_transpose{1,2,3}d` and ONNX `ConvTranspose`.
    ConvTranspose(TransposeGeometry),
    /// Max pooling with PyTorch's indices (`return_indices=True`).
    MaxPool(PoolParams),
    /// Average pooling.
    AvgPool(PoolParams, AvgOptions),
    /// Adaptive average pooling to an output size (all ones: global average pooling).
    AdaptiveAvgPool(Vec<usize>),
    /// Adaptive max pooling to an output size, with indices (all ones: global max pooling).
    AdaptiveMaxPool(Vec<usize>),
    /// `torch.nn.functional.unfold` (im2col).
    Unfold(UnfoldParams),
    /// `torch.nn.functional.fold` (col2im).
    Fold {
        /// The spatial output size.
        output_size: Vec<usize>,
        /// The sliding window.
        params: UnfoldParams,
    },
    /// The gradients of [`Layer::Correlate`] for an upstream gradient (operands input,
    /// weight, grad_output; outputs grad_input, grad_weight, grad_bias).
    CorrelateBackward(ConvGeometry),
}

impl Layer {
    /// A short name of the operation ("correlate", "max_pool", ...), as the manifest gives it.
    pub fn operation(&self) -> &'static str {
        match self {
            Layer::Correlate(_) => "correlate",
            Layer::Convolve(_) => "convolve",
            Layer::NumpyConvolve(_) => "numpy_convolve",
            Layer::NumpyCorrelate(_) => "numpy_correlate",
            Layer::Scipy2d { convolve: true, .. } => "scipy_convolve2d",
            Layer::Scipy2d {
                convolve: false, ..
            } => "scipy_correlate2d",
            Layer::ConvTranspose(_) => "conv_transpose",
            Layer::MaxPool(_) => "max_pool",
            Layer::AvgPool(..) => "avg_pool",
            Layer::AdaptiveAvgPool(_) => "adaptive_avg_pool",
            Layer::AdaptiveMaxPool(_) => "adaptive_max_pool",
            Layer::Unfold(_) => "unfold",
            Layer::Fold { .. } => "fold",
            Layer::CorrelateBackward(_) => "correlate_backward",
        }
    }
}

/// One case of the suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// A unique name, also the case's directory (`conv2d_groups`, ...).
    pub name: String,
    /// What the case exercises.
    pub about: String,
    /// The layer call.
    pub layer: Layer,
    /// The operands in argument order, under PyTorch's (or NumPy's, SciPy's) names.
    pub inputs: Vec<(String, ArrayD<Rational>)>,
}

/// One output of a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Exact values.
    Values(ArrayD<Rational>),
    /// Indices (max pooling's `return_indices`, per (n, c) plane as PyTorch counts them).
    Indices(ArrayD<usize>),
}

impl Case {
    /// The operand called `name`.
    pub fn input(&self, name: &str) -> Option<&ArrayD<Rational>> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    fn operand(&self, name: &str) -> Result<&ArrayD<Rational>, OpError> {
        self.input(name)
            .ok_or_else(|| OpError::Invalid(format!("case {} has no operand `{name}`", self.name)))
    }

    /// The outputs, named, computed by the reference engine (the specification).
    pub fn outputs(&self) -> Result<Vec<(String, Output)>, OpError> {
        let values = |name: &str, t: ArrayD<Rational>| (name.to_string(), Output::Values(t));
        let indices = |t: ArrayD<usize>| ("indices".to_string(), Output::Indices(t));
        Ok(match &self.layer {
            Layer::Correlate(g) | Layer::Convolve(g) => {
                let op = if matches!(self.layer, Layer::Convolve(_)) {
                    convolve
                } else {
                    correlate
                };
                let y = op(
                    self.operand("input")?,
                    self.operand("weight")?,
                    self.input("bias"),
                    g,
                )?;
                vec![values("output", y)]
            }
            Layer::NumpyConvolve(mode) | Layer::NumpyCorrelate(mode) => {
                let a: Vec<Rational> = self.operand("a")?.iter().cloned().collect();
                let v: Vec<Rational> = self.operand("v")?.iter().cloned().collect();
                let out = if matches!(self.layer, Layer::NumpyConvolve(_)) {
                    np_convolve(&a, &v, *mode)?
                } else {
                    np_correlate(&a, &v, *mode)?
                };
                let shape = IxDyn(&[out.len()]);
                vec![values(
                    "output",
                    ArrayD::from_shape_vec(shape, out).expect("1-D"),
                )]
            }
            Layer::Scipy2d {
                convolve,
                mode,
                boundary,
                fillvalue,
            } => {
                let op = if *convolve { convolve2d } else { correlate2d };
                let (in1, in2) = (self.operand("in1")?, self.operand("in2")?);
                vec![values("output", op(in1, in2, *mode, *boundary, fillvalue)?)]
            }
            Layer::ConvTranspose(g) => {
                let y = conv_transpose(
                    self.operand("input")?,
                    self.operand("weight")?,
                    self.input("bias"),
                    g,
                )?;
                vec![values("output", y)]
            }
            Layer::MaxPool(params) => {
                let out = max_pool(self.operand("input")?, params)?;
                vec![values("output", out.values), indices(out.indices)]
            }
            Layer::AvgPool(params, options) => {
                vec![values(
                    "output",
                    avg_pool(self.operand("input")?, params, options)?,
                )]
            }
            Layer::AdaptiveAvgPool(size) => {
                vec![values(
                    "output",
                    adaptive_avg_pool(self.operand("input")?, size)?,
                )]
            }
            Layer::AdaptiveMaxPool(size) => {
                let out = adaptive_max_pool(self.operand("input")?, size)?;
                vec![values("output", out.values), indices(out.indices)]
            }
            Layer::Unfold(params) => {
                vec![values("output", unfold(self.operand("input")?, params)?)]
            }
            Layer::Fold {
                output_size,
                params,
            } => vec![values(
                "output",
                fold(self.operand("input")?, output_size, params)?,
            )],
            Layer::CorrelateBackward(g) => {
                let grads = correlate_backward(
                    self.operand("input")?,
                    self.operand("weight")?,
                    self.operand("grad_output")?,
                    g,
                )?;
                vec![
                    values("grad_input", grads.input),
                    values("grad_weight", grads.weight),
                    values("grad_bias", grads.bias),
                ]
            }
        })
    }
}

/// Why a suite could not be written.
#[derive(Debug)]
pub enum VectorsError {
    /// The target exists and is not an empty directory.
    Exists(PathBuf),
    /// A file could not be written.
    Io(IoError),
    /// A case could not be computed (a bug in the suite: every case is valid).
    Case {
        /// The case.
        name: String,
        /// Why.
        error: OpError,
    },
}

impl std::fmt::Display for VectorsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VectorsError::Exists(path) => write!(
                f,
                "{}: exists and is not an empty directory (refusing to mix suites)",
                path.display()
            ),
            VectorsError::Io(e) => write!(f, "{e}"),
            VectorsError::Case { name, error } => write!(f, "case {name}: {error}"),
        }
    }
}

impl std::error::Error for VectorsError {}

impl From<IoError> for VectorsError {
    fn from(e: IoError) -> Self {
        VectorsError::Io(e)
    }
}

/// What [`write_suite`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteSummary {
    /// Number of cases.
    pub cases: usize,
    /// Number of files, the manifest included.
    pub files: usize,
}

/// The dtype an operand is written in: float32 when every value is a float32, else float64
/// when every value is a float64 (never happens for the built-in suite), else exact JSON only.
fn operand_dtype(t: &ArrayD<Rational>) -> Option<Dtype> {
    if representable(t, FloatFormat::F32) {
        Some(Dtype::F32)
    } else if representable(t, FloatFormat::F64) {
        Some(Dtype::F64)
    } else {
        None
    }
}

fn io_error(path: &Path, e: std::io::Error) -> VectorsError {
    VectorsError::Io(IoError::io(path, e))
}

/// Writes one case into `dir` (which exists); returns its manifest entry and the number of
/// files written.
fn write_case(dir: &Path, case: &Case) -> Result<(serde_json::Value, usize), VectorsError> {
    let outputs = case.outputs().map_err(|error| VectorsError::Case {
        name: case.name.clone(),
        error,
    })?;
    let mut files = 0;
    let mut inputs = Vec::new();
    for (name, values) in &case.inputs {
        let exact = format!("{name}.json");
        write_exact_json(&dir.join(&exact), values)?;
        files += 1;
        let dtype = operand_dtype(values);
        if let Some(dtype) = dtype {
            write_npy(&dir.join(format!("{name}.npy")), values, dtype)?;
            files += 1;
        }
        inputs.push((name.as_str(), values, dtype));
    }
    let mut written = Vec::new();
    for (name, output) in &outputs {
        match output {
            Output::Values(values) => {
                write_exact_json(&dir.join(format!("{name}.json")), values)?;
                write_npy(&dir.join(format!("{name}.f64.npy")), values, Dtype::F64)?;
                write_npy(&dir.join(format!("{name}.f32.npy")), values, Dtype::F32)?;
                files += 3;
            }
            Output::Indices(indices) => {
                let as_rational = indices.mapv(|i| rational_from_i64(i as i64));
                write_npy(
                    &dir.join(format!("{name}.npy")),
                    &as_rational,
                    Dtype::Int(8),
                )?;
                files += 1;
            }
        }
        written.push((name.as_str(), output));
    }
    Ok((naming::manifest_entry(case, &inputs, &written), files))
}

/// Writes the suite `cases` into the directory `out`, which must not exist or be empty.
///
/// Nothing is half-written: the suite is built in a sibling directory and renamed into place
/// at the end (on failure the sibling is removed and `out` is untouched).
pub fn write_suite(out: &Path, cases: &[Case]) -> Result<SuiteSummary, VectorsError> {
    if out.exists() {
        let empty = out.is_dir()
            && std::fs::read_dir(out)
                .map_err(|e| io_error(out, e))?
                .next()
                .is_none();
        if !empty {
            return Err(VectorsError::Exists(out.to_path_buf()));
        }
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vectors".into());
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let result = build(&staging, cases);
    let finish = result.and_then(|summary| {
        if out.exists() {
            std::fs::remove_dir(out).map_err(|e| io_error(out, e))?;
        }
        std::fs::rename(&staging, out).map_err(|e| io_error(out, e))?;
        Ok(summary)
    });
    if finish.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    finish
}

fn build(staging: &Path, cases: &[Case]) -> Result<SuiteSummary, VectorsError> {
    if staging.exists() {
        std::fs::remove_dir_all(staging).map_err(|e| io_error(staging, e))?;
    }
    std::fs::create_dir_all(staging).map_err(|e| io_error(staging, e))?;
    let mut entries = Vec::new();
    let mut files = 1;
    for case in cases {
        let dir = staging.join(&case.name);
        std::fs::create_dir(&dir).map_err(|e| io_error(&dir, e))?;
        let (entry, written) = write_case(&dir, case)?;
        entries.push(entry);
        files += written;
    }
    let manifest = naming::manifest(entries);
    let text = serde_json::to_string_pretty(&manifest).expect("JSON values serialise") + "\n";
    crate::io::write_atomically(&staging.join("manifest.json"), text.as_bytes())?;
    Ok(SuiteSummary {
        cases: cases.len(),
        files,
    })
}
