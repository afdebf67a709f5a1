//! Shared geometry flags and output helpers.

use crate::args::{choice, get, get_path, get_text, given, number, path, text, value_enum};
use clap::{ArgMatches, Command};
use convspec::exact::{ExactEngine, ScaledTensor};
use convspec::geometry::parse::{
    parse_auto_pad, parse_onnx_pads, parse_padding, parse_padding_mode, parse_per_dim,
};
use convspec::geometry::ConvGeometry;
use convspec::io::{read_tensor, write_exact_json, write_npy, Dtype, ExactTensor, NpyBytes};
use convspec::op::FastLayer;
use convspec::scalar::Rational;
use ndarray::ArrayD;
use std::path::{Path, PathBuf};

/// The layer geometry, with PyTorch's argument names in kebab case.
#[derive(Debug, Default, Clone)]
pub struct GeometryArgs {
    pub stride: Option<String>,
    pub padding: Option<String>,
    pub dilation: Option<String>,
    pub groups: Option<usize>,
    pub padding_mode: Option<String>,
    pub pads: Option<String>,
    pub auto_pad: Option<String>,
}

impl GeometryArgs {
    /// Adds the geometry flags to a subcommand.
    pub fn define(cmd: Command) -> Command {
        cmd.args([
            text("stride", "Stride: one value for every spatial dimension, or a comma list (PyTorch default 1)."),
            text("padding", "Padding: N | N,M,... (symmetric per dimension) | same (PyTorch, stride 1) | valid | full."),
            text("dilation", "Dilation: one value or a comma list (default 1)."),
            number("groups", "Groups (default 1)."),
            text("padding-mode", "Padding mode: zeros | reflect | replicate | circular (default zeros)."),
            text("pads", "ONNX-ordered asymmetric pads: all begins, then all ends (b1,b2,...,e1,e2,...).")
                .conflicts_with_all(["padding", "auto-pad"]),
            text("auto-pad", "ONNX auto_pad: same-upper | same-lower | valid (any stride; output ceil(L/s)).")
                .conflicts_with("padding"),
        ])
    }

    /// The geometry flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        GeometryArgs {
            stride: get_text(m, "stride"),
            padding: get_text(m, "padding"),
            dilation: get_text(m, "dilation"),
            groups: get(m, "groups"),
            padding_mode: get_text(m, "padding-mode"),
            pads: get_text(m, "pads"),
            auto_pad: get_text(m, "auto-pad"),
        }
    }

    /// True when any layer flag was given.
    pub fn any(&self) -> bool {
        self.stride.is_some()
            || self.padding.is_some()
            || self.dilation.is_some()
            || self.groups.is_some()
            || self.padding_mode.is_some()
            || self.pads.is_some()
            || self.auto_pad.is_some()
    }

    /// The geometry for `rank` spatial dimensions.
    pub fn geometry(&self, rank: usize) -> Result<ConvGeometry, String> {
        let mut g = ConvGeometry::new(rank);
        let s = |e: convspec::geometry::parse::ParseError| e.to_string();
        if let Some(v) = &self.stride {
            g.stride = parse_per_dim("--stride", v, rank).map_err(s)?;
        }
        if let Some(v) = &self.dilation {
            g.dilation = parse_per_dim("--dilation", v, rank).map_err(s)?;
        }
        if let Some(v) = &self.padding {
            g.padding = parse_padding("--padding", v, rank).map_err(s)?;
        }
        if let Some(v) = &self.pads {
            g.padding = parse_onnx_pads("--pads", v, rank).map_err(s)?;
        }
        if let Some(v) = &self.auto_pad {
            g.padding = parse_auto_pad("--auto-pad", v).map_err(s)?;
        }
        if let Some(v) = &self.padding_mode {
            g.padding_mode = parse_padding_mode("--padding-mode", v).map_err(s)?;
        }
        if let Some(groups) = self.groups {
            g.groups = groups;
        }
        Ok(g)
    }
}

/// A tensor as text: its shape, then its exact values row by row.
pub fn render(values: &ArrayD<Rational>) -> String {
    let shape = values.shape();
    let mut out = format!("shape {shape:?}\n");
    let width = shape.last().copied().unwrap_or(1).max(1);
    let rows: Vec<String> = values
        .iter()
        .map(|q| q.to_string())
        .collect::<Vec<_>>()
        .chunks(width)
        .map(|row| row.join("  "))
        .collect();
    let outer = &shape[..shape.len().saturating_sub(1)];
    for (r, row) in rows.iter().enumerate() {
        let mut index = convspec::index::unravel(r, outer);
        if !outer.is_empty() {
            index.push(0);
            out.push_str(&format!("{:?}: ", &index[..index.len() - 1]));
        }
        out.push_str(row);
        out.push('\n');
    }
    out
}

/// Where a result goes: a correctly rounded .npy, exact JSON, or (neither given) the terminal.
#[derive(Debug, Default, Clone)]
pub struct OutputArgs {
    pub output: Option<PathBuf>,
    pub exact_json: Option<PathBuf>,
    pub output_dtype: Option<String>,
}

/// Refuses an output path that is also an input (it would be overwritten before it is read).
pub fn refuse_clobber(inputs: &[&Path], outputs: &[&Path]) -> Result<(), String> {
    for out in outputs {
        if let Some(clash) = inputs.iter().find(|i| same_file(i, out)) {
            return Err(format!(
                "output {} is also an input ({}); refusing to overwrite it",
                out.display(),
                clash.display()
            ));
        }
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Reads a tensor, the error naming the flag and file.
pub fn read_flag(flag: &str, path: &Path) -> Result<ExactTensor, String> {
    read_tensor(path).map_err(|e| format!("{flag}: {e}"))
}

/// Parses an optional `--output-dtype`.
pub fn parse_dtype(text: Option<&str>) -> Result<Option<Dtype>, String> {
    text.map(str::parse)
        .transpose()
        .map_err(|e| format!("--output-dtype: {e}"))
}

/// The dtype a result is written in by default: the promoted input dtype, except that an
/// integer dtype becomes float64 when the exact result holds a fraction.
pub fn default_dtype(promoted: Dtype, result: &ArrayD<Rational>) -> Dtype {
    if !promoted.is_float() && result.iter().any(|q| !q.is_integer()) {
        Dtype::F64
    } else {
        promoted
    }
}

impl OutputArgs {
    /// Adds the output flags to a subcommand.
    pub fn define(cmd: Command) -> Command {
        cmd.args([
            path("output", "Output .npy, correctly rounded from the exact result to --output-dtype."),
            path("exact-json", "Exact output as JSON ({\"shape\": [...], \"data\": [\"p/q\", ...]})."),
            text("output-dtype", "dtype of --output: float64 | float32 | float16 | bfloat16 (stored as float32) | int64 | int32 | int16 | int8. Default: NumPy's promotion of the input dtypes (float64 when an integer input gives a fraction)."),
        ])
    }

    /// The output flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        OutputArgs {
            output: get_path(m, "output"),
            exact_json: get_path(m, "exact-json"),
            output_dtype: get_text(m, "output-dtype"),
        }
    }

    /// The output paths given.
    pub fn paths(&self) -> Vec<&Path> {
        [&self.output, &self.exact_json]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
            .collect()
    }

    /// Writes (or prints) the result; `promoted` is the dtype promotion of the inputs.
    pub fn emit(&self, result: &ArrayD<Rational>, promoted: Dtype) -> Result<(), String> {
        let dtype = parse_dtype(self.output_dtype.as_deref())?
            .unwrap_or_else(|| default_dtype(promoted, result));
        if let Some(path) = &self.output {
            write_npy(path, result, dtype).map_err(|e| e.to_string())?;
        }
        if let Some(path) = &self.exact_json {
            write_exact_json(path, result).map_err(|e| e.to_string())?;
        }
        if self.output.is_none() && self.exact_json.is_none() {
            print!("{}", render(result));
        }
        Ok(())
    }
}

impl OutputArgs {
    /// Writes (or prints) an exact result held as scaled integers: a float output dtype is
    /// rounded straight from the integers (no rationals), anything else goes through
    /// [`OutputArgs::emit`]. `promoted` is the (float) promotion of the inputs' dtypes.
    pub fn emit_scaled(&self, result: &ScaledTensor, promoted: Dtype) -> Result<(), String> {
        let dtype = parse_dtype(self.output_dtype.as_deref())?.unwrap_or(promoted);
        let (Some(path), Some(_), None) = (&self.output, dtype.float_format(), &self.exact_json)
        else {
            return self.emit(&result.to_rationals(), promoted);
        };
        convspec::io::write_npy_scaled(path, result, dtype).map_err(|e| e.to_string())
    }

    /// Writes (or prints) a layer of the fast exact engine: to a float output dtype its values
    /// are rounded as the engine makes them, anything else goes through
    /// [`OutputArgs::emit_scaled`]. `promoted` is the (float) promotion of the inputs' dtypes.
    pub fn emit_layer(&self, layer: &FastLayer<'_>, promoted: Dtype) -> Result<(), String> {
        let dtype = parse_dtype(self.output_dtype.as_deref())?.unwrap_or(promoted);
        let (Some(path), Some(_), None) = (&self.output, dtype.float_format(), &self.exact_json)
        else {
            let exact = layer.exact().map_err(|e| e.to_string())?;
            return self.emit_scaled(&exact, promoted);
        };
        let bytes = NpyBytes::rounded(layer, dtype).map_err(|e| e.to_string())?;
        bytes.write(path).map_err(|e| e.to_string())
    }
}

/// Float `.npy` operands (`required`, then `optional` when given) read straight into scaled
/// integers (what the fast engine takes), with the promotion of their dtypes; None when one is
/// not a float `.npy` file or has no exact value (the general path reads it, with its
/// messages).
pub fn read_float_operands(
    required: &[&Path],
    optional: Option<&Path>,
    outputs: &[&Path],
) -> Result<Option<(Vec<ScaledTensor>, Dtype)>, String> {
    let paths: Vec<&Path> = required.iter().copied().chain(optional).collect();
    refuse_clobber(&paths, outputs)?;
    // The file's bytes, the values decoded from them when they cannot be read in place
    // (another byte order or layout, float16 as f64) and the scaled integers (at most 16
    // bytes each), within the memory limit.
    let read = |path: &Path| {
        let limit = |dtype: Dtype, elements: usize| {
            let bytes = match dtype {
                Dtype::F16 => 2 + 8 + 16,
                Dtype::F32 => 4 + 4 + 16,
                _ => 8 + 8 + 16,
            };
            convspec::limits::check("reading the operands", elements as u128 * bytes)
        };
        convspec::io::read_npy_scaled(path, limit)
    };
    // Every file but the first as a task of the command's pool where it may use more than one
    // thread (its idle worker takes them; no thread started for a read); the results taken in
    // order, as a reading one after the other would meet them.
    let results: Vec<_> = if concurrent_reads() && paths.len() > 1 {
        let mut others: Vec<_> = paths[1..].iter().map(|_| None).collect();
        let mut first = None;
        rayon::in_place_scope(|scope| {
            for (slot, &path) in others.iter_mut().zip(&paths[1..]) {
                scope.spawn(move |_| *slot = Some(read(path)));
            }
            first = Some(read(paths[0]));
        });
        first
            .into_iter()
            .chain(others.into_iter().flatten())
            .collect()
    } else {
        paths.iter().map(|&path| read(path)).collect()
    };
    let mut tensors = Vec::new();
    let mut promoted: Option<Dtype> = None;
    for result in results {
        let Some((dtype, tensor)) = result? else {
            return Ok(None);
        };
        tensors.push(tensor);
        promoted = Some(promoted.map_or(dtype, |p| p.promote(dtype)));
    }
    Ok(promoted.map(|p| (tensors, p)))
}

/// Whether the command may read its files as tasks of its pool alongside its work (more than
/// one thread allowed: `--threads` above 1, or absent on a processor with more than one).
static CONCURRENT_READS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets [`concurrent_reads`] from the command's thread count.
pub fn set_threads(threads: usize) {
    CONCURRENT_READS.store(threads > 1, std::sync::atomic::Ordering::Relaxed);
}

/// Whether files may be read as tasks of the command's pool ([`set_threads`]).
pub fn concurrent_reads() -> bool {
    CONCURRENT_READS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The input, weight and optional bias of a layer, read after refusing outputs that would
/// overwrite them; also NumPy's promotion of their dtypes.
pub struct LayerFiles {
    /// --input.
    pub input: ExactTensor,
    /// --weight.
    pub weight: ExactTensor,
    /// --bias.
    pub bias: Option<ExactTensor>,
    /// The promoted dtype of the three.
    pub promoted: Dtype,
}

/// Reads `--input`, `--weight` and `--bias` (see [`LayerFiles`]).
pub fn read_layer_files(
    input: &Path,
    weight: &Path,
    bias: Option<&Path>,
    outputs: &[&Path],
) -> Result<LayerFiles, String> {
    let inputs: Vec<&Path> = [Some(input), Some(weight), bias]
        .into_iter()
        .flatten()
        .collect();
    refuse_clobber(&inputs, outputs)?;
    let input = read_flag("--input", input)?;
    let weight = read_flag("--weight", weight)?;
    let bias = bias.map(|p| read_flag("--bias", p)).transpose()?;
    let promoted = bias
        .iter()
        .fold(input.dtype.promote(weight.dtype), |d, b| d.promote(b.dtype));
    Ok(LayerFiles {
        input,
        weight,
        bias,
        promoted,
    })
}

/// Which exact engine computes a layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineChoice {
    /// The fast exact engine (integers modulo primes, `convspec::exact`).
    #[default]
    Fast,
    /// The reference engine (the specification; slow on big layers).
    Reference,
}

value_enum!(EngineChoice {
    Fast => "fast": "The fast exact engine (integers modulo primes, `convspec::exact`)",
    Reference => "reference": "The reference engine (the specification; slow on big layers)",
});

/// Engine flags of the layer commands.
#[derive(Debug, Default, Clone)]
pub struct EngineArgs {
    pub engine: EngineChoice,
    pub threads: Option<usize>,
}

impl EngineArgs {
    /// Adds the engine flags to a subcommand.
    pub fn define(cmd: Command) -> Command {
        cmd.args([
            choice::<EngineChoice>("engine", "Exact engine: fast (default) or reference. Both are exact and give identical results.", "fast"),
            number("threads", "Threads of the fast engine (default: every available core). The result does not depend on it."),
        ])
    }

    /// The engine flags given.
    pub fn from_matches(m: &ArgMatches) -> Self {
        EngineArgs {
            engine: given(m, "engine"),
            threads: get(m, "threads"),
        }
    }

    /// The fast engine, or None for the reference.
    pub fn fast(&self) -> Result<Option<ExactEngine>, String> {
        if self.engine == EngineChoice::Reference {
            if self.threads.is_some() {
                return Err("--threads applies to --engine fast only".into());
            }
            return Ok(None);
        }
        let threads = match self.threads {
            Some(0) => return Err("invalid value '0' for --threads: expected at least 1".into()),
            Some(n) => n,
            None => convspec::parallel::available_threads(),
        };
        Ok(Some(ExactEngine::new(threads)))
    }
}

/// A tensor read from a file, scaled to integers for the fast engine.
pub fn scaled(t: &ExactTensor) -> Result<ScaledTensor, String> {
    ScaledTensor::try_from_rationals(t.values.view(), convspec::limits::memory_limit())
}
