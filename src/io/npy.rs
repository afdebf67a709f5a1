//! `.npy` files (format versions 1-3, either byte order, C or Fortran order) (our own header parser, see [`parse_npy_header`]).

use super::{write_atomically, write_atomically_parts, ExactTensor, IoError};
use crate::index::unravel;
use crate::scalar::{
    rational_from_f16, rational_from_f32, rational_from_f64, round_to_bf16, round_to_f16,
    round_to_f32, round_to_f64, ConversionError, FloatFormat, Rational,
};
use ndarray::{ArrayD, IxDyn};
use num_bigint::BigInt;
use num_traits::ToPrimitive;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Element types read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// numpy.bool_
    Bool,
    /// Signed integer of the given byte width (1, 2, 4, 8).
    Int(u8),
    /// Unsigned integer of the given byte width.
    Uint(u8),
    /// IEEE binary16.
    F16,
    /// bfloat16 values, stored as float32 (NumPy has no bfloat16 dtype).
    Bf16,
    /// float32.
    F32,
    /// float64.
    F64,
    /// Exact rationals (JSON input).
    Exact,
}

impl Dtype {
    /// NumPy's name.
    pub fn name(self) -> String {
        match self {
            Dtype::Bool => "bool".into(),
            Dtype::Int(b) => format!("int{}", 8 * b),
            Dtype::Uint(b) => format!("uint{}", 8 * b),
            Dtype::F16 => "float16".into(),
            Dtype::Bf16 => "bfloat16".into(),
            Dtype::F32 => "float32".into(),
            Dtype::F64 => "float64".into(),
            Dtype::Exact => "exact".into(),
        }
    }

    /// The float format of a float dtype (bfloat16 as its own format, though stored as
    /// float32).
    pub fn float_format(self) -> Option<FloatFormat> {
        match self {
            Dtype::F64 => Some(FloatFormat::F64),
            Dtype::F32 => Some(FloatFormat::F32),
            Dtype::F16 => Some(FloatFormat::F16),
            Dtype::Bf16 => Some(FloatFormat::BF16),
            _ => None,
        }
    }

    /// True for the float dtypes.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            Dtype::F16 | Dtype::Bf16 | Dtype::F32 | Dtype::F64 | Dtype::Exact
        )
    }

    /// NumPy's result type of an operation on two dtypes, restricted to what we write: any
    /// float64 or exact input gives float64, else float32, else float16; integers give int64.
    pub fn promote(self, other: Dtype) -> Dtype {
        use Dtype::*;
        let rank = |d: Dtype| match d {
            F64 | Exact => 4,
            F32 => 3,
            Bf16 => 2,
            F16 => 1,
            _ => 0,
        };
        match rank(self).max(rank(other)) {
            4 => F64,
            3 => F32,
            2 if rank(self).min(rank(other)) == 1 => F32,
            2 => Bf16,
            1 => F16,
            _ => Int(8),
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Dtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Dtype, String> {
        Ok(match s {
            "float64" | "f64" | "fp64" => Dtype::F64,
            "float32" | "f32" | "fp32" => Dtype::F32,
            "float16" | "f16" | "fp16" => Dtype::F16,
            "bfloat16" | "bf16" => Dtype::Bf16,
            "int64" | "i64" => Dtype::Int(8),
            "int32" | "i32" => Dtype::Int(4),
            "int16" | "i16" => Dtype::Int(2),
            "int8" | "i8" => Dtype::Int(1),
            other => return Err(format!("unknown dtype '{other}': expected float64, float32, float16, bfloat16, int64, int32, int16 or int8")),
        })
    }
}

fn malformed(path: &Path, message: impl fmt::Display) -> IoError {
    IoError::Malformed {
        path: path.to_path_buf(),
        format: ".npy",
        message: message.to_string(),
    }
}

/// Reads a `.npy` file into exact rationals.
pub fn read_npy(path: &Path) -> Result<ExactTensor, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::io(path, e))?;
    read_npy_bytes(&bytes, path)
}

fn convert_floats<F: Copy>(
    path: &Path,
    shape: &[usize],
    values: Vec<F>,
    exact: impl Fn(F) -> Result<Rational, ConversionError>,
) -> Result<Vec<Rational>, IoError> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            exact(v).map_err(|e| IoError::NotFinite {
                path: path.to_path_buf(),
                index: unravel(i, shape),
                value: match e {
                    ConversionError::NaN => "nan".into(),
                    ConversionError::Infinite { negative: false } => "inf".into(),
                    ConversionError::Infinite { negative: true } => "-inf".into(),
                },
            })
        })
        .collect()
}

/// The header of a `.npy` file: what NumPy's format specification (`numpy.lib.format`) puts
/// in the Python dict literal after the magic string and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// The `descr` string, e.g. `<f8`.
    pub descr: String,
    /// `fortran_order`.
    pub fortran_order: bool,
    /// `shape`.
    pub shape: Vec<usize>,
    /// Offset of the first data byte.
    pub data_offset: usize,
}

/// Parses the magic string, version, header length and header dict of `.npy` bytes.
///
/// The dict is a Python literal with the keys `descr` (a string; a list means a structured
/// dtype, which is refused), `fortran_order` (`True`/`False`) and `shape` (a tuple of
/// integers), in any order, single or double quotes, with optional trailing commas. We parse it
/// ourselves: the grammar is fixed by the format, and the `.npy` crates pull in a full
/// Python-literal parser (pest, plus C code for stack growth) that dominated our clean build.
pub fn parse_npy_header(bytes: &[u8]) -> Result<NpyHeader, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (missing the \\x93NUMPY magic string)".into());
    }
    let (length, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated header".into());
            }
            let length = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (length as usize, 12)
        }
        major => return Err(format!("unsupported format version {major}.{}", bytes[7])),
    };
    let end = start
        .checked_add(length)
        .filter(|&e| e <= bytes.len())
        .ok_or("truncated header")?;
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text")?;
    let mut parser = HeaderParser {
        rest: text.trim_end(),
    };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    parser.expect('{')?;
    while !parser.eat('}') {
        let key = parser.string()?;
        parser.expect(':')?;
        match key.as_str() {
            "descr" => {
                if parser.peek() == Some('[') {
                    return Err("structured dtypes are not supported".into());
                }
                descr = Some(parser.string()?)
            }
            "fortran_order" => fortran_order = Some(parser.boolean()?),
            "shape" => shape = Some(parser.tuple()?),
            other => return Err(format!("unexpected header key '{other}'")),
        }
        if !parser.eat(',') {
            parser.expect('}')?;
            break;
        }
    }
    Ok(NpyHeader {
        descr: descr.ok_or("header has no 'descr'")?,
        fortran_order: fortran_order.ok_or("header has no 'fortran_order'")?,
        shape: shape.ok_or("header has no 'shape'")?,
        data_offset: end,
    })
}

/// A cursor over the header dict literal.
struct HeaderParser<'a> {
    rest: &'a str,
}

impl HeaderParser<'_> {
    fn peek(&mut self) -> Option<char> {
        self.rest = self.rest.trim_start();
        self.rest.chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.rest = &self.rest[c.len_utf8()..];
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "malformed header dict: expected '{c}' at '{}'",
                self.snippet()
            ))
        }
    }

    fn snippet(&self) -> String {
        self.rest.chars().take(20).collect()
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => {
                return Err(format!(
                    "malformed header dict: expected a string at '{}'",
                    self.snippet()
                ))
            }
        };
        let body = &self.rest[1..];
        let close = body
            .find(quote)
            .ok_or("malformed header dict: unterminated string")?;
        self.rest = &body[close + 1..];
        Ok(body[..close].to_string())
    }

    fn boolean(&mut self) -> Result<bool, String> {
        self.peek();
        for (word, value) in [("True", true), ("False", false)] {
            if let Some(rest) = self.rest.strip_prefix(word) {
                self.rest = rest;
                return Ok(value);
            }
        }
        Err(format!(
            "malformed header dict: expected True or False at '{}'",
            self.snippet()
        ))
    }

    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect('(')?;
        let mut values = Vec::new();
        while !self.eat(')') {
            self.peek();
            let digits = self.rest.len()
                - self
                    .rest
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            if digits == 0 {
                return Err(format!(
                    "malformed shape: expected a non-negative integer at '{}'",
                    self.snippet()
                ));
            }
            let value = self.rest[..digits]
                .parse()
                .map_err(|_| format!("shape entry {} is too large", &self.rest[..digits]))?;
            self.rest = &self.rest[digits..];
            self.rest = self.rest.strip_prefix('L').unwrap_or(self.rest); // Python 2 longs
            values.push(value);
            if !self.eat(',') {
                self.expect(')')?;
                break;
            }
        }
        Ok(values)
    }
}

/// Decodes `count` elements of `width` bytes each, big- or little-endian, with `decode` taking
/// the little-endian bytes of one element.
fn decode<V>(data: &[u8], width: usize, big_endian: bool, decode: impl Fn(&[u8]) -> V) -> Vec<V> {
    data.chunks_exact(width)
        .map(|chunk| {
            if big_endian {
                let mut le = chunk.to_vec();
                le.reverse();
                decode(&le)
            } else {
                decode(chunk)
            }
        })
        .collect()
}

/// The data of a `.npy` file, located and checked against its header.
struct Layout<'a> {
    /// The dtype kind character ('f', 'i', 'u', 'b', '?').
    kind: char,
    /// Bytes per element.
    size: usize,
    big_endian: bool,
    /// Exactly the bytes of the elements, in file order.
    data: &'a [u8],
    /// The shape in file order (reversed for Fortran order).
    file_shape: Vec<usize>,
    fortran_order: bool,
    descr: String,
}

impl Layout<'_> {
    fn unsupported(&self, path: &Path) -> IoError {
        IoError::UnsupportedDtype {
            path: path.to_path_buf(),
            dtype: self.descr.clone(),
        }
    }

    /// Puts decoded values (file order) into an array in C order.
    fn finish<V: Clone>(&self, path: &Path, values: Vec<V>) -> Result<ArrayD<V>, IoError> {
        let array = ArrayD::from_shape_vec(IxDyn(&self.file_shape), values)
            .map_err(|e| malformed(path, e))?;
        Ok(if self.fortran_order {
            array.reversed_axes().as_standard_layout().into_owned()
        } else {
            array
        })
    }
}

fn layout<'a>(bytes: &'a [u8], path: &Path) -> Result<Layout<'a>, IoError> {
    let header = parse_npy_header(bytes).map_err(|e| malformed(path, e))?;
    let shape = header.shape.clone();
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s))
        .ok_or_else(|| malformed(path, format!("shape {shape:?} has too many elements")))?;
    let descr = header.descr.as_str();
    let unsupported = || IoError::UnsupportedDtype {
        path: path.to_path_buf(),
        dtype: descr.to_string(),
    };
    let (order, kind, size) = {
        let mut chars = descr.chars();
        let order = chars.next().ok_or_else(unsupported)?;
        let kind = chars.next().ok_or_else(unsupported)?;
        let size: usize = chars.as_str().parse().map_err(|_| unsupported())?;
        (order, kind, size)
    };
    let big_endian = match order {
        '<' | '|' => false,
        '>' => true,
        '=' => cfg!(target_endian = "big"),
        _ => return Err(unsupported()),
    };
    // Guard before allocation: the declared shape must match the data actually present.
    let needed = count
        .checked_mul(size)
        .ok_or_else(|| malformed(path, "data size overflows"))?;
    let data = &bytes[header.data_offset..];
    if needed > data.len() {
        return Err(malformed(
            path,
            format!("header declares shape {shape:?} of {descr} ({needed} bytes) but the file has only {} data bytes", data.len()),
        ));
    }
    // Data come in file order; for Fortran order that is the C order of the reversed shape.
    let file_shape: Vec<usize> = if header.fortran_order {
        shape.iter().rev().copied().collect()
    } else {
        shape.clone()
    };
    Ok(Layout {
        kind,
        size,
        big_endian,
        data: &data[..needed],
        file_shape,
        fortran_order: header.fortran_order,
        descr: descr.to_string(),
    })
}

/// A float `.npy` file read into scaled integers (the fast exact engine's operands): its dtype,
/// and then its values as [`ScaledTensor::from_f32`](crate::exact::ScaledTensor::from_f32) /
/// `from_f64` give them, straight from the file's bytes when they are little-endian float32 or
/// float64 in C order. `before(dtype, elements)` runs before the values are converted (a
/// memory limit, say); its error is returned as is. Ok(None): not a float `.npy` file, or a
/// value without an exact value (NaN, infinity).
pub fn read_npy_scaled<E>(
    path: &Path,
    before: impl FnOnce(Dtype, usize) -> Result<(), E>,
) -> Result<Option<(Dtype, crate::exact::ScaledTensor)>, E> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    read_npy_scaled_bytes(&bytes, path, before)
}

/// [`read_npy_scaled`] of `.npy` bytes.
pub fn read_npy_scaled_bytes<E>(
    bytes: &[u8],
    path: &Path,
    before: impl FnOnce(Dtype, usize) -> Result<(), E>,
) -> Result<Option<(Dtype, crate::exact::ScaledTensor)>, E> {
    use crate::exact::ScaledTensor;
    let Ok(layout) = layout(bytes, path) else {
        return Ok(None);
    };
    let dtype = match (layout.kind, layout.size) {
        ('f', 2) => Dtype::F16,
        ('f', 4) => Dtype::F32,
        ('f', 8) => Dtype::F64,
        _ => return Ok(None),
    };
    before(dtype, layout.data.len() / layout.size)?;
    let tensor = if layout.size > 2 && !layout.big_endian && !layout.fortran_order {
        ScaledTensor::from_le_bytes(&layout.file_shape, layout.data, layout.size == 4)
    } else {
        match read_npy_float_bytes(bytes, path) {
            Ok((_, FloatArray::F32(values))) => ScaledTensor::from_f32(values.view()),
            Ok((_, FloatArray::F64(values))) => ScaledTensor::from_f64(values.view()),
            Err(_) => return Ok(None),
        }
    };
    Ok(tensor.ok().map(|t| (dtype, t)))
}

/// Reads a float `.npy` file as f64 values, NaN and infinities included (every float16,
/// float32 and float64 value is an f64 exactly).
pub fn read_npy_f64(path: &Path) -> Result<(Dtype, ArrayD<f64>), IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::io(path, e))?;
    read_npy_f64_bytes(&bytes, path)
}

/// The values of a float `.npy` file in a float type that holds them exactly: float32 files
/// as f32 (half the memory of f64; a float32 candidate is judged in place), float16 and
/// float64 files as f64.
#[derive(Debug, Clone, PartialEq)]
pub enum FloatArray {
    /// A float32 file's values.
    F32(ArrayD<f32>),
    /// A float16 or float64 file's values.
    F64(ArrayD<f64>),
}

/// Reads a float `.npy` file (see [`FloatArray`]), NaN and infinities included.
pub fn read_npy_float(path: &Path) -> Result<(Dtype, FloatArray), IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::io(path, e))?;
    read_npy_float_bytes(&bytes, path)
}

/// [`read_npy_float`] of `.npy` bytes (`path` names the source in errors).
pub fn read_npy_float_bytes(bytes: &[u8], path: &Path) -> Result<(Dtype, FloatArray), IoError> {
    let layout = layout(bytes, path)?;
    if (layout.kind, layout.size) != ('f', 4) {
        return read_npy_f64_bytes(bytes, path).map(|(d, v)| (d, FloatArray::F64(v)));
    }
    let values = decode(layout.data, 4, layout.big_endian, |b| {
        f32::from_le_bytes(b.try_into().expect("4 bytes"))
    });
    Ok((Dtype::F32, FloatArray::F32(layout.finish(path, values)?)))
}

/// [`read_npy_f64`] of `.npy` bytes (`path` names the source in errors).
pub fn read_npy_f64_bytes(bytes: &[u8], path: &Path) -> Result<(Dtype, ArrayD<f64>), IoError> {
    let layout = layout(bytes, path)?;
    let (data, big_endian) = (layout.data, layout.big_endian);
    let (dtype, values) = match (layout.kind, layout.size) {
        ('f', 2) => (
            Dtype::F16,
            decode(data, 2, big_endian, |b| {
                let bits = u16::from_le_bytes([b[0], b[1]]);
                match rational_from_f16(bits) {
                    Ok(q) => round_to_f64(&q),
                    Err(ConversionError::NaN) => f64::NAN,
                    Err(ConversionError::Infinite { negative }) => {
                        if negative {
                            f64::NEG_INFINITY
                        } else {
                            f64::INFINITY
                        }
                    }
                }
            }),
        ),
        ('f', 4) => (
            Dtype::F32,
            decode(data, 4, big_endian, |b| {
                f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes")))
            }),
        ),
        ('f', 8) => (
            Dtype::F64,
            decode(data, 8, big_endian, |b| {
                f64::from_le_bytes(b.try_into().expect("8 bytes"))
            }),
        ),
        _ => return Err(layout.unsupported(path)),
    };
    Ok((dtype, layout.finish(path, values)?))
}

/// Reads `.npy` bytes (`path` names the source in errors).
pub fn read_npy_bytes(bytes: &[u8], path: &Path) -> Result<ExactTensor, IoError> {
    let layout = layout(bytes, path)?;
    let count: usize = layout.file_shape.iter().product();
    crate::limits::check_exact_elements("reading it", count as u128).map_err(|message| {
        IoError::TooLarge {
            path: path.to_path_buf(),
            message,
        }
    })?;
    let (data, big_endian, size) = (layout.data, layout.big_endian, layout.size);
    let file_shape = &layout.file_shape;
    let unsupported = || layout.unsupported(path);
    let int = |signed: bool| {
        decode(data, size, big_endian, |b| {
            let mut buf = [0u8; 8];
            buf[..size].copy_from_slice(b);
            let unsigned = u64::from_le_bytes(buf);
            if signed && size < 8 && b[size - 1] & 0x80 != 0 {
                BigInt::from(unsigned as i64 - (1i64 << (8 * size)))
            } else if signed {
                BigInt::from(unsigned as i64)
            } else {
                BigInt::from(unsigned)
            }
        })
        .into_iter()
        .map(Rational::from_integer)
        .collect::<Vec<_>>()
    };
    let (dtype, values) = match (layout.kind, size) {
        ('b', 1) | ('?', 1) => (Dtype::Bool, int(false)),
        ('i', 1 | 2 | 4 | 8) => (Dtype::Int(size as u8), int(true)),
        ('u', 1 | 2 | 4 | 8) => (Dtype::Uint(size as u8), int(false)),
        ('f', 2) => (
            Dtype::F16,
            convert_floats(
                path,
                file_shape,
                decode(data, 2, big_endian, |b| u16::from_le_bytes([b[0], b[1]])),
                rational_from_f16,
            )?,
        ),
        ('f', 4) => (
            Dtype::F32,
            convert_floats(
                path,
                file_shape,
                decode(data, 4, big_endian, |b| {
                    f32::from_le_bytes(b.try_into().expect("4 bytes"))
                }),
                rational_from_f32,
            )?,
        ),
        ('f', 8) => (
            Dtype::F64,
            convert_floats(
                path,
                file_shape,
                decode(data, 8, big_endian, |b| {
                    f64::from_le_bytes(b.try_into().expect("8 bytes"))
                }),
                rational_from_f64,
            )?,
        ),
        _ => return Err(unsupported()),
    };
    if dtype == Dtype::Bool && values.iter().any(|v| *v > Rational::from_integer(1.into())) {
        return Err(malformed(path, "bool data other than 0 or 1"));
    }
    let values = layout.finish(path, values)?;
    Ok(ExactTensor { dtype, values })
}

fn header_for(shape: &[usize], descr: &str) -> Vec<u8> {
    let dims = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // Magic (6) + version (2) + length (2) + dict + newline, padded to a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Encodes exact values as `.npy` bytes of `dtype`: floats correctly rounded (to nearest, ties
/// to even), integers only when exact and in range (`path` names the target in errors).
pub fn encode_npy(
    values: &ArrayD<Rational>,
    dtype: Dtype,
    path: &Path,
) -> Result<Vec<u8>, IoError> {
    let shape = values.shape();
    let (descr, width) = match dtype {
        Dtype::F64 => ("<f8", 8),
        Dtype::F32 | Dtype::Bf16 => ("<f4", 4),
        Dtype::F16 => ("<f2", 2),
        Dtype::Int(b) => (
            ["|i1", "<i2", "", "<i4", "", "", "", "<i8"][b as usize - 1],
            b as usize,
        ),
        other => {
            return Err(IoError::io(
                path,
                format!("cannot write dtype {other} to .npy"),
            ))
        }
    };
    let mut bytes = header_for(shape, descr);
    bytes.reserve(values.len() * width);
    for (i, q) in values.iter().enumerate() {
        match dtype {
            Dtype::F64 => bytes.extend_from_slice(&round_to_f64(q).to_le_bytes()),
            Dtype::F32 => bytes.extend_from_slice(&round_to_f32(q).to_le_bytes()),
            Dtype::Bf16 => {
                bytes.extend_from_slice(&(u32::from(round_to_bf16(q)) << 16).to_le_bytes())
            }
            Dtype::F16 => bytes.extend_from_slice(&round_to_f16(q).to_le_bytes()),
            Dtype::Int(b) => {
                let fits = q
                    .is_integer()
                    .then(|| q.to_integer().to_i64())
                    .flatten()
                    .filter(|v| {
                        let bits = 8 * u32::from(b);
                        bits == 64 || (*v >= -(1i64 << (bits - 1)) && *v < (1i64 << (bits - 1)))
                    });
                let v = fits.ok_or_else(|| IoError::NotRepresentable {
                    path: path.to_path_buf(),
                    index: unravel(i, shape),
                    value: q.to_string(),
                    dtype: dtype.name(),
                })?;
                bytes.extend_from_slice(&v.to_le_bytes()[..b as usize]);
            }
            _ => unreachable!("refused above"),
        }
    }
    Ok(bytes)
}

/// Exact values that can be handed over correctly rounded into a float format (to nearest,
/// ties to even; overflow to infinity), each as the f64 that holds it, mapped by `map` as it is
/// made (into a file's bytes, say), in C order: an exact tensor, or a layer still to be
/// computed that rounds its values as it makes them.
pub trait RoundedSource {
    /// Why the values could not be made.
    type Error;

    /// The values rounded into `format` and mapped, with their shape.
    fn rounded<T: Copy + Default + Send + Sync>(
        &self,
        format: FloatFormat,
        map: impl Fn(f64) -> T + Sync + Send,
    ) -> Result<ArrayD<T>, Self::Error>;
}

impl RoundedSource for crate::exact::ScaledTensor {
    type Error = std::convert::Infallible;

    fn rounded<T: Copy + Default + Send + Sync>(
        &self,
        format: FloatFormat,
        map: impl Fn(f64) -> T + Sync + Send,
    ) -> Result<ArrayD<T>, Self::Error> {
        let values = self.rounded_map(format, map);
        Ok(ArrayD::from_shape_vec(IxDyn(self.shape()), values).expect("the tensor's shape"))
    }
}

/// A `.npy` file's contents, header and data, ready to be written.
pub struct NpyBytes {
    header: Vec<u8>,
    data: Vec<u8>,
}

impl NpyBytes {
    /// The values of `source` correctly rounded into the format of the float `dtype`, straight
    /// into the file's little-endian bytes (no buffer of rounded values). bfloat16 is stored as
    /// float32 (NumPy has no bfloat16).
    ///
    /// # Panics
    /// When `dtype` is not a float dtype.
    pub fn rounded<R: RoundedSource>(source: &R, dtype: Dtype) -> Result<NpyBytes, R::Error> {
        let format = dtype.float_format().expect("a float dtype");
        let (descr, shape, data) = match dtype {
            Dtype::F64 => {
                let a = source.rounded(format, f64::to_le_bytes)?;
                ("<f8", a.shape().to_vec(), flat_bytes(a))
            }
            // Exact: v is a value of the format, so of f32.
            Dtype::F32 | Dtype::Bf16 => {
                let a = source.rounded(format, |v| (v as f32).to_le_bytes())?;
                ("<f4", a.shape().to_vec(), flat_bytes(a))
            }
            _ => {
                let a = source.rounded(format, |v| {
                    let bits = if v.is_infinite() {
                        (u64::from(v < 0.0) << 15) | (0x1f << 10)
                    } else {
                        let (negative, m, e) =
                            crate::scalar::convert::decode(v.to_bits(), 53, 11).expect("finite");
                        crate::scalar::round_dyadic_to_bits(negative, u128::from(m), e, format)
                    };
                    (bits as u16).to_le_bytes()
                })?;
                ("<f2", a.shape().to_vec(), flat_bytes(a))
            }
        };
        Ok(NpyBytes {
            header: header_for(&shape, descr),
            data,
        })
    }

    /// Writes the file atomically (a temporary file renamed into place).
    pub fn write(&self, path: &Path) -> Result<(), IoError> {
        write_atomically_parts(path, &[&self.header, &self.data])
    }
}

/// The bytes of a C-order array of byte arrays, in place.
fn flat_bytes<const N: usize>(a: ArrayD<[u8; N]>) -> Vec<u8> {
    let standard = a.is_standard_layout();
    let (values, offset) = a.into_raw_vec_and_offset();
    assert!(standard && offset.is_none_or(|o| o == 0), "made in C order");
    values.into_flattened()
}

/// Writes exact values held as scaled integers to a `.npy` file of the float `dtype`, each
/// correctly rounded to its format straight into the file's bytes ([`NpyBytes::rounded`]),
/// atomically.
pub fn write_npy_scaled(
    path: &Path,
    values: &crate::exact::ScaledTensor,
    dtype: Dtype,
) -> Result<(), IoError> {
    if dtype.float_format().is_none() {
        return Err(IoError::io(path, format!("{dtype} is not a float dtype")));
    }
    let Ok(bytes) = NpyBytes::rounded(values, dtype);
    bytes.write(path)
}

/// Writes exact values to a `.npy` file of `dtype`, atomically.
pub fn write_npy(path: &Path, values: &ArrayD<Rational>, dtype: Dtype) -> Result<(), IoError> {
    let bytes = encode_npy(values, dtype, path)?;
    write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: i64, d: i64) -> Rational {
        Rational::new(BigInt::from(n), BigInt::from(d))
    }

    #[test]
    fn round_trip_through_bytes() {
        let values =
            ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![q(1, 3), q(-2, 1), q(0, 1), q(7, 4)])
                .unwrap();
        let path = Path::new("memory.npy");
        let bytes = encode_npy(&values, Dtype::F64, path).unwrap();
        let back = read_npy_bytes(&bytes, path).unwrap();
        assert_eq!(back.dtype, Dtype::F64);
        assert_eq!(back.values[[0, 0]], rational_from_f64(1.0 / 3.0).unwrap());
        assert_eq!(back.values[[1, 1]], q(7, 4));
        let ints = encode_npy(&values.mapv(|v| v * q(3, 1)), Dtype::Int(8), path);
        assert!(
            matches!(ints, Err(IoError::NotRepresentable { .. })),
            "7/4 * 3 is not an integer"
        );
    }

    #[test]
    fn truncated_and_lying_headers_are_refused() {
        let values = ArrayD::from_shape_vec(IxDyn(&[4]), vec![q(1, 1); 4]).unwrap();
        let path = Path::new("memory.npy");
        let bytes = encode_npy(&values, Dtype::F32, path).unwrap();
        assert!(read_npy_bytes(&bytes[..bytes.len() - 3], path).is_err());
        assert!(read_npy_bytes(&bytes[..20], path).is_err());
        assert!(read_npy_bytes(b"not a numpy file at all", path).is_err());
        let lying = String::from_utf8_lossy(&bytes).replace("(4,)", "(999999999999,)");
        assert!(read_npy_bytes(lying.as_bytes(), path).is_err());
    }

    /// float32 files stay float32, in C order whatever the file's byte order and layout, with
    /// the same values as the float64 reading; other dtypes go to the float64 reading.
    #[test]
    fn float32_files_are_read_as_float32() {
        let values = [
            1.5f32,
            -0.0,
            f32::from_bits(1),
            f32::INFINITY,
            f32::NAN,
            -3.25e30,
        ];
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        let bytes = npy_bytes(
            "{'descr': '>f4', 'fortran_order': True, 'shape': (3, 2), }\n",
            &data,
        );
        let path = Path::new("m.npy");
        let (dtype, array) = read_npy_float_bytes(&bytes, path).unwrap();
        assert_eq!(dtype, Dtype::F32);
        let FloatArray::F32(array) = array else {
            panic!("a float32 array");
        };
        let (_, wide) = read_npy_f64_bytes(&bytes, path).unwrap();
        assert_eq!(array.shape(), &[3, 2]);
        assert_eq!(
            array[[0, 1]].to_bits(),
            values[3].to_bits(),
            "columns first"
        );
        for (a, b) in array.iter().zip(wide.iter()) {
            assert_eq!(f64::from(*a).to_bits(), b.to_bits());
        }
        let halves = npy_bytes(
            "{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }\n",
            &0x3c00u16.to_le_bytes(),
        );
        assert!(matches!(
            read_npy_float_bytes(&halves, path),
            Ok((Dtype::F16, FloatArray::F64(a))) if a[[0]] == 1.0
        ));
    }

    /// Float files read into scaled integers hold exactly the values the general reader reads,
    /// from the bytes in place (little-endian float32/float64 in C order) or through the
    /// values (another byte order or layout, float16); the check before the conversion sees
    /// the dtype and count, and its error is returned; NaN and non-float files give None.
    #[test]
    fn float_files_read_into_scaled_integers_hold_their_values() {
        let f32s = [1.5f32, -0.0, f32::from_bits(1), 3.0e-39, -3.25e30, 0.1];
        let f64s = [0.1f64, -2.0, f64::from_bits(5), 1.0e300, 0.0, -7.75];
        let le32: Vec<u8> = f32s.iter().flat_map(|v| v.to_le_bytes()).collect();
        let be32: Vec<u8> = f32s.iter().flat_map(|v| v.to_be_bytes()).collect();
        let le64: Vec<u8> = f64s.iter().flat_map(|v| v.to_le_bytes()).collect();
        let halves: Vec<u8> = [0x3c00u16, 0x0001, 0xfbff, 0x8000, 0x3555, 0x7bff]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let dict = |descr: &str, fortran: bool| {
            let order = if fortran { "True" } else { "False" };
            format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': (3, 2), }}\n")
        };
        let path = Path::new("m.npy");
        let files = [
            (npy_bytes(&dict("<f4", false), &le32), Dtype::F32),
            (npy_bytes(&dict(">f4", true), &be32), Dtype::F32),
            (npy_bytes(&dict("<f8", false), &le64), Dtype::F64),
            (npy_bytes(&dict("<f8", true), &le64), Dtype::F64),
            (npy_bytes(&dict("<f2", false), &halves), Dtype::F16),
        ];
        for (bytes, dtype) in files {
            let expected = read_npy_bytes(&bytes, path).unwrap();
            let mut seen = None;
            let (got_dtype, scaled) = read_npy_scaled_bytes(&bytes, path, |d, n| {
                seen = Some((d, n));
                Ok::<(), ()>(())
            })
            .unwrap()
            .expect("a float file of finite values");
            assert_eq!((got_dtype, seen), (dtype, Some((dtype, 6))));
            assert_eq!(scaled.to_rationals(), expected.values, "{dtype}");
        }
        let le = npy_bytes(&dict("<f4", false), &le32);
        assert_eq!(
            read_npy_scaled_bytes(&le, path, |_, _| Err("limit")).err(),
            Some("limit")
        );
        let mut nan = le32.clone();
        nan[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
        let nan = npy_bytes(&dict("<f4", false), &nan);
        assert!(read_npy_scaled_bytes(&nan, path, |_, _| Ok::<(), ()>(()))
            .unwrap()
            .is_none());
        let ints = npy_bytes(&dict("<i4", false), &le32);
        assert!(read_npy_scaled_bytes(&ints, path, |_, _| Ok::<(), ()>(()))
            .unwrap()
            .is_none());
    }

    /// Version 1.0 bytes with the given header dict (length computed) and data.
    fn npy_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn header_dicts_as_numpy_writes_them() {
        let h = parse_npy_header(&npy_bytes(
            "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }          \n",
            &[],
        ))
        .unwrap();
        assert_eq!(h.descr, ">i2");
        assert!(h.fortran_order);
        assert_eq!(h.shape, vec![2, 3]);
        // Keys in another order, double quotes, a 0-d array.
        let bytes = npy_bytes(
            "{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f8\"}   \n",
            &2.5f64.to_le_bytes(),
        );
        assert_eq!(parse_npy_header(&bytes).unwrap().shape, Vec::<usize>::new());
        let t = read_npy_bytes(&bytes, Path::new("m.npy")).unwrap();
        assert_eq!(t.values[IxDyn(&[])], q(5, 2));
        // Big-endian signed integers.
        let mut data = (-3i16).to_be_bytes().to_vec();
        data.extend_from_slice(&300i16.to_be_bytes());
        let be = npy_bytes(
            "{'descr': '>i2', 'fortran_order': False, 'shape': (2,)}\n",
            &data,
        );
        let t = read_npy_bytes(&be, Path::new("m.npy")).unwrap();
        assert_eq!(
            t.values.iter().cloned().collect::<Vec<_>>(),
            vec![q(-3, 1), q(300, 1)]
        );
        // Fortran order: the file holds columns first.
        let mut data = Vec::new();
        for v in [1i8, 4, 2, 5, 3, 6] {
            data.push(v as u8);
        }
        let f = npy_bytes(
            "{'descr': '|i1', 'fortran_order': True, 'shape': (2, 3), }\n",
            &data,
        );
        let t = read_npy_bytes(&f, Path::new("m.npy")).unwrap();
        assert_eq!(t.values[[0, 2]], q(3, 1));
        assert_eq!(t.values[[1, 0]], q(4, 1));
        // Structured dtypes and garbage are refused.
        assert!(parse_npy_header(&npy_bytes("{'descr': [('a', '<f8')]}", &[])).is_err());
        assert!(parse_npy_header(&npy_bytes(
            "{'descr': '<f8', 'shape': (-1,), 'fortran_order': False}",
            &[]
        ))
        .is_err());
        assert!(parse_npy_header(&npy_bytes("{'descr': '<f8'", &[])).is_err());
    }
}
