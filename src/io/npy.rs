//! `.npy` files (format versions 1-3, either byte order, C or Fortran order) through `npyz`.

use super::{unravel, write_atomically, ExactTensor, IoError};
use crate::scalar::{
    rational_from_f16, rational_from_f32, rational_from_f64, round_to_bf16, round_to_f16,
    round_to_f32, round_to_f64, ConversionError, Rational,
};
use ndarray::{ArrayD, IxDyn};
use npyz::{DType, TypeChar};
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

fn integers<I: Into<BigInt>>(values: Vec<I>) -> Vec<Rational> {
    values
        .into_iter()
        .map(|v| Rational::from_integer(v.into()))
        .collect()
}

/// Reads `.npy` bytes (`path` names the source in errors).
pub fn read_npy_bytes(bytes: &[u8], path: &Path) -> Result<ExactTensor, IoError> {
    let npy = npyz::NpyFile::new(bytes).map_err(|e| malformed(path, e))?;
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&s| usize::try_from(s).map_err(|_| malformed(path, "dimension too large")))
        .collect::<Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s))
        .ok_or_else(|| malformed(path, format!("shape {shape:?} has too many elements")))?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let dtype_text = npy.dtype().descr().trim_matches('\'').to_string();
    let unsupported = || IoError::UnsupportedDtype {
        path: path.to_path_buf(),
        dtype: dtype_text.clone(),
    };
    let type_str = match npy.dtype() {
        DType::Plain(t) => t,
        _ => return Err(unsupported()),
    };
    let size = type_str.size_field() as usize;
    // Guard before allocation: the declared shape must match the data actually present.
    let needed = count
        .checked_mul(size)
        .ok_or_else(|| malformed(path, "data size overflows"))?;
    if needed > bytes.len() {
        return Err(malformed(
            path,
            format!("header declares shape {shape:?} of {dtype_text} ({needed} bytes) but the file has only {} bytes", bytes.len()),
        ));
    }
    // Data come in file order; for Fortran order that is the C order of the reversed shape.
    let file_shape: Vec<usize> = if fortran {
        shape.iter().rev().copied().collect()
    } else {
        shape.clone()
    };
    let read_err = |e: std::io::Error| malformed(path, format!("cannot read the data: {e}"));
    let (dtype, values) = match (type_str.type_char(), size) {
        (TypeChar::Bool, 1) => (
            Dtype::Bool,
            npy.into_vec::<bool>()
                .map_err(read_err)?
                .into_iter()
                .map(|b| Rational::from_integer(BigInt::from(u8::from(b))))
                .collect(),
        ),
        (TypeChar::Int, 1) => (
            Dtype::Int(1),
            integers(npy.into_vec::<i8>().map_err(read_err)?),
        ),
        (TypeChar::Int, 2) => (
            Dtype::Int(2),
            integers(npy.into_vec::<i16>().map_err(read_err)?),
        ),
        (TypeChar::Int, 4) => (
            Dtype::Int(4),
            integers(npy.into_vec::<i32>().map_err(read_err)?),
        ),
        (TypeChar::Int, 8) => (
            Dtype::Int(8),
            integers(npy.into_vec::<i64>().map_err(read_err)?),
        ),
        (TypeChar::Uint, 1) => (
            Dtype::Uint(1),
            integers(npy.into_vec::<u8>().map_err(read_err)?),
        ),
        (TypeChar::Uint, 2) => (
            Dtype::Uint(2),
            integers(npy.into_vec::<u16>().map_err(read_err)?),
        ),
        (TypeChar::Uint, 4) => (
            Dtype::Uint(4),
            integers(npy.into_vec::<u32>().map_err(read_err)?),
        ),
        (TypeChar::Uint, 8) => (
            Dtype::Uint(8),
            integers(npy.into_vec::<u64>().map_err(read_err)?),
        ),
        (TypeChar::Float, 2) => (
            Dtype::F16,
            convert_floats(
                path,
                &file_shape,
                npy.into_vec::<half::f16>().map_err(read_err)?,
                rational_from_f16,
            )?,
        ),
        (TypeChar::Float, 4) => (
            Dtype::F32,
            convert_floats(
                path,
                &file_shape,
                npy.into_vec::<f32>().map_err(read_err)?,
                rational_from_f32,
            )?,
        ),
        (TypeChar::Float, 8) => (
            Dtype::F64,
            convert_floats(
                path,
                &file_shape,
                npy.into_vec::<f64>().map_err(read_err)?,
                rational_from_f64,
            )?,
        ),
        _ => return Err(unsupported()),
    };
    if values.len() != count {
        return Err(malformed(
            path,
            format!("expected {count} elements, read {}", values.len()),
        ));
    }
    let array =
        ArrayD::from_shape_vec(IxDyn(&file_shape), values).map_err(|e| malformed(path, e))?;
    let values = if fortran {
        array.reversed_axes().as_standard_layout().into_owned()
    } else {
        array
    };
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
            Dtype::Bf16 => bytes.extend_from_slice(&round_to_bf16(q).to_f32().to_le_bytes()),
            Dtype::F16 => bytes.extend_from_slice(&round_to_f16(q).to_bits().to_le_bytes()),
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
}
