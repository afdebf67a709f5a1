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

pub use crate::op::{Op, Output};

use crate::io::{write_exact_json, write_npy, Dtype, IoError};
use crate::oracle::representable;
use crate::reference::OpError;
use crate::scalar::{rational_from_i64, FloatFormat, Rational};
use ndarray::ArrayD;
use std::path::{Path, PathBuf};

/// One case of the suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// A unique name, also the case's directory (`conv2d_groups`, ...).
    pub name: String,
    /// What the case exercises.
    pub about: String,
    /// The layer call.
    pub layer: Op,
    /// The operands in argument order, under PyTorch's (or NumPy's, SciPy's) names.
    pub inputs: Vec<(String, ArrayD<Rational>)>,
}

impl Case {
    /// The operand called `name`.
    pub fn input(&self, name: &str) -> Option<&ArrayD<Rational>> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The outputs, named, computed by the reference engine (the specification).
    pub fn outputs(&self) -> Result<Vec<(String, Output)>, OpError> {
        self.layer
            .evaluate(|name| self.input(name))
            .map_err(|e| OpError::Invalid(format!("case {}: {e}", self.name)))
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
