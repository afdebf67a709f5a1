//! `convspec._convspec`: the crate's operators and oracle for Python. This layer only converts:
//! Python values to the library's types (`Op::from_torch` builds the operator, `Op::evaluate`
//! and `Op::references` compute, `oracle::check` judges) and the results back. The Python
//! package (`convspec/`) gives them `torch.nn.functional`'s signatures.

use convspec::exact::{ExactEngine, ExactError, ScaledTensor};
use convspec::float::Algorithm;
use convspec::op::{Arg, Op, Output};
use convspec::oracle::{
    self, CheckOptions, Cut, Operands, Precision, Reference, Report as OracleReport,
};
use convspec::reference::OpError;
use convspec::scalar::{self, FloatFormat, Rational};
use ndarray::ArrayD;
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// A library error as the Python exception a caller expects: an unknown keyword is a
/// `TypeError` (as for any Python function), everything else a `ValueError`.
fn value_error(e: impl std::fmt::Display) -> PyErr {
    let message = e.to_string();
    if message.contains("unexpected keyword argument") {
        PyTypeError::new_err(message)
    } else {
        PyValueError::new_err(message)
    }
}

/// Python keyword arguments as the library's [`Arg`]s.
fn kwargs_of(kwargs: &Bound<'_, PyDict>) -> PyResult<Vec<(String, Arg)>> {
    let mut out = Vec::new();
    for (key, value) in kwargs.iter() {
        let key: String = key.extract()?;
        let arg = if value.is_none() {
            Arg::None
        } else if let Ok(v) = value.extract::<i64>() {
            Arg::Int(v)
        } else if let Ok(s) = value.extract::<String>() {
            Arg::Str(s)
        } else if let Ok(vs) = value.extract::<Vec<i64>>() {
            Arg::Ints(vs)
        } else {
            return Err(PyTypeError::new_err(format!(
                "{key} must be an int, a tuple of ints, a string or None, got {}",
                value.get_type().name()?
            )));
        };
        out.push((key, arg));
    }
    Ok(out)
}

/// An operand as the package hands it over: float64 (every float dtype widens to it exactly)
/// or int64.
enum Input {
    F64(ArrayD<f64>),
    I64(ArrayD<i64>),
}

impl Input {
    /// The exact rationals; the first NaN or infinity is named with its index.
    fn rationals(&self, name: &str) -> Result<ArrayD<Rational>, String> {
        match self {
            Input::F64(a) => scalar::exact(a),
            Input::I64(a) => scalar::exact(a),
        }
        .map_err(|e| format!("{name}: {e}"))
    }

    /// The exact values as scaled integers, read straight from the floats (no rationals).
    fn scaled(&self, name: &str) -> Result<ScaledTensor, String> {
        match self {
            Input::F64(a) => ScaledTensor::from_f64(a.view()).map_err(|e| format!("{name}: {e}")),
            Input::I64(a) => Ok(ScaledTensor::from_i64(a.view())),
        }
    }
}

/// A NumPy array (float64 or int64) as an [`Input`] (one copy, made with the GIL held).
fn input_of(name: &str, array: &Bound<'_, PyAny>) -> PyResult<Input> {
    if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        Ok(Input::F64(a.as_array().to_owned()))
    } else if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, i64>>() {
        Ok(Input::I64(a.as_array().to_owned()))
    } else {
        Err(PyTypeError::new_err(format!(
            "{name} must be a float64 or int64 NumPy array"
        )))
    }
}

/// Operands by name.
type Named = Vec<(String, Input)>;

/// The operator `function` with `kwargs`, and its operands by name from `inputs` (in the
/// operator's argument order; None for an absent optional one).
fn op_and_operands(
    function: &str,
    inputs: &Bound<'_, PyTuple>,
    kwargs: &Bound<'_, PyDict>,
) -> PyResult<(Op, Named)> {
    let first_rank = match inputs.iter().next() {
        Some(x) if !x.is_none() => x.getattr("ndim")?.extract::<usize>()?,
        _ => 0,
    };
    let op = match function {
        "numpy.convolve"
        | "numpy.correlate"
        | "scipy.signal.convolve2d"
        | "scipy.signal.correlate2d" => array_op(function, kwargs)?,
        _ => {
            let args = kwargs_of(kwargs)?;
            let args: Vec<(&str, Arg)> =
                args.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            Op::from_torch(function, &args, first_rank).map_err(value_error)?
        }
    };
    let names = op.operands();
    if inputs.len() > names.len() {
        return Err(PyTypeError::new_err(format!(
            "{function} takes {} operands ({}), got {}",
            names.len(),
            names.join(", "),
            inputs.len()
        )));
    }
    let mut operands = Vec::new();
    for (name, value) in names.iter().zip(inputs.iter()) {
        if !value.is_none() {
            operands.push((name.to_string(), input_of(name, &value)?));
        }
    }
    Ok((op, operands))
}

/// NumPy's and SciPy's array convolutions with their keyword arguments (`mode`; `boundary` and
/// `fillvalue` for the 2-D SciPy functions).
fn array_op(function: &str, kwargs: &Bound<'_, PyDict>) -> PyResult<Op> {
    use convspec::op::{ArrayConv, ArrayForm};
    let text = |key: &str, default: &str| -> PyResult<String> {
        match kwargs.get_item(key)? {
            Some(v) => v.extract::<String>(),
            None => Ok(default.to_string()),
        }
    };
    for (key, _) in kwargs.iter() {
        let key: String = key.extract()?;
        let known = key == "mode"
            || (function.starts_with("scipy") && (key == "boundary" || key == "fillvalue"));
        if !known {
            return Err(PyTypeError::new_err(format!(
                "{function}: unexpected keyword argument '{key}'"
            )));
        }
    }
    let default_mode = if function == "numpy.correlate" {
        "valid"
    } else {
        "full"
    };
    let mode = text("mode", default_mode)?.parse().map_err(value_error)?;
    let form = if function.starts_with("numpy") {
        ArrayForm::Numpy
    } else {
        let boundary = text("boundary", "fill")?.parse().map_err(value_error)?;
        let fill = match kwargs.get_item("fillvalue")? {
            Some(v) => scalar::rational_from_f64(v.extract::<f64>()?).map_err(value_error)?,
            None => Rational::from_integer(0.into()),
        };
        ArrayForm::Scipy2d(boundary, fill)
    };
    Ok(Op::Array(ArrayConv {
        form,
        mode,
        flip: function.ends_with("convolve") || function.ends_with("convolve2d"),
    }))
}

/// The operands as exact rationals, by name.
fn rationals(operands: &Named) -> Result<Vec<(String, ArrayD<Rational>)>, String> {
    operands
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.rationals(n)?)))
        .collect()
}

fn find<'a>(
    operands: &'a [(String, ArrayD<Rational>)],
    name: &str,
) -> Option<&'a ArrayD<Rational>> {
    operands.iter().find(|(n, _)| n == name).map(|(_, t)| t)
}

/// An exact result: scaled integers (what the fast engine returns) or rationals.
enum Values {
    Scaled(ScaledTensor),
    Rationals(ArrayD<Rational>),
}

/// An exact result of an operator.
#[pyclass(module = "convspec._convspec", frozen)]
struct Exact {
    values: Values,
}

impl Exact {
    fn rationals(&self) -> std::borrow::Cow<'_, ArrayD<Rational>> {
        match &self.values {
            Values::Scaled(t) => std::borrow::Cow::Owned(t.to_rationals()),
            Values::Rationals(a) => std::borrow::Cow::Borrowed(a),
        }
    }
}

#[pymethods]
impl Exact {
    /// The shape.
    #[getter]
    fn shape(&self) -> Vec<usize> {
        match &self.values {
            Values::Scaled(t) => t.shape().to_vec(),
            Values::Rationals(a) => a.shape().to_vec(),
        }
    }

    /// Whether every value is an integer.
    fn is_integer(&self) -> bool {
        self.rationals().iter().all(|q| q.is_integer())
    }

    /// The values correctly rounded (to nearest, ties to even) to `format` (float64,
    /// float32, float16, bfloat16), as float64 (exact: each rounded value is a float64).
    fn rounded<'py>(&self, py: Python<'py>, format: &str) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let format = match format {
            "float64" => FloatFormat::F64,
            "float32" => FloatFormat::F32,
            "float16" => FloatFormat::F16,
            "bfloat16" => FloatFormat::BF16,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown float format '{other}'"
                )))
            }
        };
        let shape = ndarray::IxDyn(&self.shape());
        let values = py.allow_threads(|| match &self.values {
            Values::Scaled(t) => t.rounded(format),
            Values::Rationals(a) => a
                .iter()
                .map(|q| scalar::f64_from_format_bits(scalar::round_to_bits(q, format), format))
                .collect(),
        });
        let array = ArrayD::from_shape_vec(shape, values).expect("one per element");
        Ok(array.into_pyarray(py))
    }

    /// The values as int64 (every value must be an integer in range).
    fn integers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<i64>>> {
        let values = self.rationals();
        let mut out = Vec::with_capacity(values.len());
        for q in values.iter() {
            let v = q
                .is_integer()
                .then(|| i64::try_from(q.numer()).ok())
                .flatten()
                .ok_or_else(|| PyValueError::new_err(format!("{q} is not an int64")))?;
            out.push(v);
        }
        let array = ArrayD::from_shape_vec(values.raw_dim(), out).expect("one per element");
        Ok(array.into_pyarray(py))
    }

    /// The values as "p/q" strings in C order (`fractions.Fraction` parses them).
    fn fractions(&self) -> Vec<String> {
        self.rationals().iter().map(|q| q.to_string()).collect()
    }
}

/// The outputs of `function(*inputs, **kwargs)`, named: `Exact` values, or int64 indices.
/// Computed by the fast exact engine on `threads` threads where it has the operator, else by
/// the specification; the GIL is released meanwhile.
#[pyfunction]
#[pyo3(signature = (function, inputs, kwargs, threads = 1))]
fn evaluate<'py>(
    py: Python<'py>,
    function: &str,
    inputs: &Bound<'py, PyTuple>,
    kwargs: &Bound<'py, PyDict>,
    threads: usize,
) -> PyResult<Bound<'py, PyList>> {
    let (op, operands) = op_and_operands(function, inputs, kwargs)?;
    let outputs = py
        .allow_threads(|| compute(&op, &operands, threads))
        .map_err(value_error)?;
    let list = PyList::empty(py);
    for (name, output) in outputs {
        let value: PyObject = match output {
            Computed::Scaled(t) => Exact {
                values: Values::Scaled(t),
            }
            .into_pyobject(py)?
            .into_any()
            .unbind(),
            Computed::Op(Output::Values(values)) => Exact {
                values: Values::Rationals(values),
            }
            .into_pyobject(py)?
            .into_any()
            .unbind(),
            Computed::Op(Output::Indices(indices)) => indices
                .mapv(|i| i as i64)
                .into_pyarray(py)
                .into_any()
                .unbind(),
        };
        list.append((name, value))?;
    }
    Ok(list)
}

/// One output as computed: scaled integers from the fast engine, or the specification's.
enum Computed {
    Scaled(ScaledTensor),
    Op(Output),
}

/// The outputs of `op`: the layers by the fast exact engine straight from the floats (no
/// rationals on the way in or out), the rest by the specification.
fn compute(op: &Op, operands: &Named, threads: usize) -> Result<Vec<(String, Computed)>, String> {
    let scaled = |name: &str| {
        operands
            .iter()
            .find(|(n, _)| n == name)
            .map(|(n, t)| t.scaled(n))
            .transpose()
    };
    let required = |name: &str| scaled(name)?.ok_or_else(|| format!("no operand `{name}`"));
    let engine = ExactEngine::new(threads);
    let fast = match op {
        Op::Conv(conv) => {
            let (x, w, b) = (required("input")?, required("weight")?, scaled("bias")?);
            Some(conv.evaluate_fast(&engine, &x, &w, b.as_ref()))
        }
        Op::ConvTranspose(t) => {
            let (x, w, b) = (required("input")?, required("weight")?, scaled("bias")?);
            Some(t.evaluate_fast(&engine, &x, &w, b.as_ref()))
        }
        _ => None,
    };
    if let Some(result) = fast {
        let y = result.map_err(|e| e.to_string())?;
        return Ok(vec![("output".into(), Computed::Scaled(y))]);
    }
    let exact = rationals(operands)?;
    let outputs = op
        .evaluate(|name| find(&exact, name))
        .map_err(|e| e.to_string())?;
    Ok(outputs
        .into_iter()
        .map(|(n, o)| (n, Computed::Op(o)))
        .collect())
}

/// The oracle's verdict.
#[pyclass(module = "convspec._convspec", frozen)]
struct Report {
    report: OracleReport,
}

fn element_dict<'py>(py: Python<'py>, e: &oracle::ElementReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("index", PyTuple::new(py, &e.index)?)?;
    d.set_item("candidate", e.candidate)?;
    d.set_item("exact", e.exact)?;
    d.set_item("error", e.error)?;
    d.set_item("bound", e.bound)?;
    d.set_item("ratio", e.ratio)?;
    d.set_item("reason", e.reason.clone())?;
    Ok(d)
}

#[pymethods]
impl Report {
    /// Every element within its bound.
    #[getter]
    fn passed(&self) -> bool {
        self.report.passed()
    }

    /// The number of elements.
    #[getter]
    fn elements(&self) -> usize {
        self.report.elements
    }

    /// The number of elements over their bound (or non-finite, or off-format).
    #[getter]
    fn failed(&self) -> usize {
        self.report.failed
    }

    /// The share of elements over their bound.
    #[getter]
    fn share_over(&self) -> f64 {
        self.report.failed as f64 / self.report.elements.max(1) as f64
    }

    /// The first failing elements in C order: index, candidate, exact, error, bound, ratio,
    /// reason.
    #[getter]
    fn failures<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.report
            .failures
            .iter()
            .map(|e| element_dict(py, e))
            .collect()
    }

    /// The element with the largest |error| / bound (None when every error is 0).
    #[getter]
    fn worst<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.report
            .worst
            .as_ref()
            .map(|e| element_dict(py, e))
            .transpose()
    }

    /// The tightest precision whose contract every element meets (None when none is met).
    #[getter]
    fn tightest_contract(&self) -> Option<&'static str> {
        self.report.tightest.map(|p| p.name())
    }

    /// Every precision whose contract every element meets.
    #[getter]
    fn contracts_met(&self) -> Vec<&'static str> {
        self.report.contracts_met.iter().map(|p| p.name()).collect()
    }

    /// The picture of where the errors are, as SVG text (`title` on top).
    fn svg(&self, title: &str) -> PyResult<String> {
        let ratios = self
            .report
            .ratios
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("no ratios were kept"))?;
        convspec::oracle::plot::svg(ratios, title).map_err(PyValueError::new_err)
    }

    /// Every element's |error| / bound, shaped as the output.
    fn ratios<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let ratios = self
            .report
            .ratios
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("no ratios were kept"))?;
        Ok(ratios.clone().into_pyarray(py))
    }

    /// The report as JSON text (the command line's `--report`).
    fn to_json(&self) -> String {
        serde_json::to_string(&self.report.to_json()).expect("JSON values serialise")
    }

    /// The command line's text.
    fn __str__(&self) -> String {
        self.report.render()
    }

    fn __repr__(&self) -> String {
        format!(
            "<convspec Report: {} ({} of {} elements over the bound)>",
            if self.report.passed() {
                "passed"
            } else {
                "FAILED"
            },
            self.report.failed,
            self.report.elements
        )
    }
}

/// The oracle: is `candidate` (float64 values of the other library's output `output` of
/// `function(*inputs, **kwargs)`) what arithmetic of `precision` can produce?
#[pyfunction]
#[pyo3(signature = (candidate, function, output, inputs, kwargs, precision, accumulation = None, round_inputs = None, algorithm = None, tf32_rounding = "truncation", listed = 100, threads = 1))]
#[allow(clippy::too_many_arguments)]
fn check<'py>(
    py: Python<'py>,
    candidate: PyReadonlyArrayDyn<'py, f64>,
    function: &str,
    output: &str,
    inputs: &Bound<'py, PyTuple>,
    kwargs: &Bound<'py, PyDict>,
    precision: &str,
    accumulation: Option<&str>,
    round_inputs: Option<&str>,
    algorithm: Option<&str>,
    tf32_rounding: &str,
    listed: usize,
    threads: usize,
) -> PyResult<Report> {
    let precision: Precision = precision.parse().map_err(value_error)?;
    let mut options = CheckOptions {
        listed,
        keep_ratios: true,
        tf32_cut: match tf32_rounding {
            "truncation" => Cut::Truncation,
            "nearest" => Cut::Nearest,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid tf32_rounding '{other}': expected truncation or nearest"
                )))
            }
        },
        ..CheckOptions::default()
    };
    if let Some(text) = accumulation {
        options.accumulation = text.parse().map_err(value_error)?;
    }
    let (op, inputs) = op_and_operands(function, inputs, kwargs)?;
    let algorithm: Option<Algorithm> =
        algorithm.map(str::parse).transpose().map_err(value_error)?;
    // A layer's output under the direct bound, inputs as given: the reference straight from
    // the floats as scaled integers (no rationals).
    if let (Op::Conv(conv), "output", None, None) = (&op, output, round_inputs, algorithm) {
        let scaled: Result<Vec<(String, ScaledTensor)>, String> = inputs
            .iter()
            .map(|(n, t)| Ok((n.clone(), t.scaled(n)?)))
            .collect();
        let scaled = scaled.map_err(PyValueError::new_err)?;
        let find = |name: &str| scaled.iter().find(|(n, _)| n == name).map(|(_, t)| t);
        let (Some(x), Some(w)) = (find("input"), find("weight")) else {
            return Err(PyValueError::new_err("conv needs input and weight"));
        };
        let weight = match conv {
            convspec::op::Conv::Convolve(_) => w.flip_spatial(2),
            convspec::op::Conv::Correlate(_) => w.clone(),
        };
        let candidate = candidate.as_array().to_owned();
        let report = py
            .allow_threads(|| -> Result<OracleReport, String> {
                let engine = ExactEngine::new(threads);
                let reference =
                    Reference::correlate_scaled(&engine, x, &weight, find("bias"), conv.geometry())
                        .map_err(|e| e.to_string())?;
                oracle::check(&reference, candidate.view(), precision, &options)
                    .map_err(|e| e.to_string())
            })
            .map_err(value_error)?;
        return Ok(Report { report });
    }
    let mut operands = rationals(&inputs).map_err(PyValueError::new_err)?;
    if let Some(format) = round_inputs {
        let format = match format.to_ascii_lowercase().as_str() {
            "fp16" | "float16" | "half" => FloatFormat::F16,
            "bf16" | "bfloat16" => FloatFormat::BF16,
            "tf32" => FloatFormat::TF32,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid round_inputs '{other}': expected fp16, bf16 or tf32"
                )))
            }
        };
        for (name, t) in &mut operands {
            *t = oracle::round_inputs(t, format)
                .map_err(|e| PyValueError::new_err(format!("{name}: {e}")))?;
        }
    }
    let candidate = candidate.as_array().to_owned();
    let output = output.to_string();
    let report = py
        .allow_threads(move || -> Result<OracleReport, String> {
            let engine = ExactEngine::new(threads);
            let reference = reference_of(&op, &operands, &output, algorithm, &engine, precision)?;
            oracle::check(&reference, candidate.view(), precision, &options)
                .map_err(|e| e.to_string())
        })
        .map_err(value_error)?;
    Ok(Report { report })
}

/// The oracle's reference of the output `output` of `op`; `algorithm` names one of
/// convspec's float kernels whose own bound judges a correlation.
fn reference_of(
    op: &Op,
    operands: &[(String, ArrayD<Rational>)],
    output: &str,
    algorithm: Option<Algorithm>,
    engine: &ExactEngine,
    precision: Precision,
) -> Result<oracle::Reference, String> {
    let operand = |name: &str| find(operands, name);
    let exact_error = |e: ExactError| e.to_string();
    if let Some(algorithm) = algorithm {
        let Op::Conv(convspec::op::Conv::Correlate(geometry)) = op else {
            return Err(
                OpError::Invalid("algorithm= applies to conv1d/2d/3d only".into()).to_string(),
            );
        };
        let (input, weight) = match (operand("input"), operand("weight")) {
            (Some(x), Some(w)) => (x, w),
            _ => return Err("conv needs input and weight".into()),
        };
        let layer = Operands {
            input,
            weight,
            bias: operand("bias"),
            geometry,
        };
        return algorithm
            .reference(engine, layer, precision)
            .map_err(exact_error);
    }
    let references = op.references(engine, operand).map_err(exact_error)?;
    let names: Vec<String> = references.iter().map(|(n, _)| n.clone()).collect();
    references
        .into_iter()
        .find(|(name, _)| name == output)
        .map(|(_, r)| r)
        .ok_or_else(|| {
            format!(
                "{} has no output '{output}' (it has {})",
                op.operation(),
                names.join(", ")
            )
        })
}

/// The extension module.
#[pymodule]
fn _convspec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_class::<Exact>()?;
    m.add_class::<Report>()?;
    Ok(())
}
