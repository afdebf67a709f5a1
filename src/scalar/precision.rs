//! The precisions an implementation can claim: the formats of its inputs, accumulator and
//! output (the oracle's contracts and the float kernels both name them).

use super::FloatFormat;
use std::fmt;
use std::str::FromStr;

/// The arithmetic an implementation claims: the formats of its inputs, accumulator and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Precision {
    /// binary64 throughout.
    Fp64,
    /// binary32 throughout (PyTorch with `allow_tf32 = False`).
    Fp32,
    /// Inputs cut to TF32, binary32 accumulation and output (cuDNN's default in PyTorch).
    Tf32,
    /// binary16 inputs and output, binary32 accumulation.
    Fp16,
    /// bfloat16 inputs and output, binary32 accumulation.
    Bf16,
}

impl Precision {
    /// Every precision, from the tightest contract to the loosest.
    pub const ALL: [Precision; 5] = [
        Precision::Fp64,
        Precision::Fp32,
        Precision::Tf32,
        Precision::Fp16,
        Precision::Bf16,
    ];

    /// Its position in [`Precision::ALL`].
    pub fn index(self) -> usize {
        Precision::ALL
            .iter()
            .position(|&p| p == self)
            .expect("every precision is in ALL")
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp64 => "fp64",
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
        }
    }

    /// The format the inputs are cut to before the arithmetic.
    pub fn input_format(self) -> FloatFormat {
        match self {
            Precision::Fp64 => FloatFormat::F64,
            Precision::Fp32 => FloatFormat::F32,
            Precision::Tf32 => FloatFormat::TF32,
            Precision::Fp16 => FloatFormat::F16,
            Precision::Bf16 => FloatFormat::BF16,
        }
    }

    /// The accumulator's unit roundoff u = 2^-p (round to nearest).
    pub fn accumulator_unit(self) -> f64 {
        f64::powi(2.0, -(self.accumulator_format().precision as i32))
    }

    /// The format of the products and sums.
    pub fn accumulator_format(self) -> FloatFormat {
        match self {
            Precision::Fp64 => FloatFormat::F64,
            _ => FloatFormat::F32,
        }
    }

    /// The format of the result.
    pub fn output_format(self) -> FloatFormat {
        match self {
            Precision::Fp64 => FloatFormat::F64,
            Precision::Fp32 | Precision::Tf32 => FloatFormat::F32,
            Precision::Fp16 => FloatFormat::F16,
            Precision::Bf16 => FloatFormat::BF16,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Precision, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "fp64" | "float64" | "f64" | "double" => Precision::Fp64,
            "fp32" | "float32" | "f32" | "float" => Precision::Fp32,
            "tf32" | "tensorfloat32" => Precision::Tf32,
            "fp16" | "float16" | "f16" | "half" => Precision::Fp16,
            "bf16" | "bfloat16" => Precision::Bf16,
            other => {
                return Err(format!(
                    "unknown precision '{other}': expected fp64, fp32, tf32, fp16 or bf16"
                ))
            }
        })
    }
}
