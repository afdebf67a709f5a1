//! Padding rules: how much to pad each side, and what the padded values are.

use super::GeometryError;
use std::fmt;

/// How much padding each spatial dimension receives, before it is resolved against an input size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Padding {
    /// Explicit (begin, end) per spatial dimension. PyTorch's `padding=p` is (p, p); ONNX's
    /// `pads=[b1, b2, ..., e1, e2, ...]` is (b_i, e_i).
    Explicit(Vec<(usize, usize)>),
    /// No padding (`padding='valid'`, NumPy/SciPy mode 'valid').
    Valid,
    /// d(k-1) on each side: every overlap of kernel and input (NumPy/SciPy mode 'full').
    Full,
    /// PyTorch's `padding='same'`: stride 1 only; total d(k-1), begin = total / 2 (floor),
    /// the extra element at the end.
    Same,
    /// ONNX `auto_pad=SAME_UPPER`: output ceil(L/s); total max(0, (out-1)s + d(k-1) + 1 - L),
    /// begin = total / 2 (floor), the extra element at the end.
    SameUpper,
    /// ONNX `auto_pad=SAME_LOWER`: as SAME_UPPER but the extra element at the beginning.
    SameLower,
}

impl Padding {
    /// p zeros before and p after, in every one of `rank` dimensions (PyTorch's `padding=p`).
    pub fn uniform(p: usize, rank: usize) -> Padding {
        Padding::Explicit(vec![(p, p); rank])
    }

    /// (begin, end) padding for one spatial dimension of input size `input`, kernel size
    /// `kernel`, `stride` and `dilation`.
    pub fn resolve(
        &self,
        dim: usize,
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<(usize, usize), GeometryError> {
        let span = effective_kernel(kernel, dilation)? - 1;
        Ok(match self {
            Padding::Explicit(pads) => pads[dim],
            Padding::Valid => (0, 0),
            Padding::Full => (span, span),
            Padding::Same => {
                if stride != 1 {
                    return Err(GeometryError::SameWithStride { dim, stride });
                }
                (span / 2, span - span / 2)
            }
            Padding::SameUpper | Padding::SameLower => {
                let output = input.div_ceil(stride);
                let needed = (output - 1)
                    .checked_mul(stride)
                    .and_then(|v| v.checked_add(span + 1))
                    .ok_or(GeometryError::Overflow {
                        what: "same padding",
                    })?;
                let total = needed.saturating_sub(input);
                let small = total / 2;
                if *self == Padding::SameUpper {
                    (small, total - small)
                } else {
                    (total - small, small)
                }
            }
        })
    }
}

/// dilation * (kernel - 1) + 1, the extent of a dilated kernel.
pub fn effective_kernel(kernel: usize, dilation: usize) -> Result<usize, GeometryError> {
    kernel
        .saturating_sub(1)
        .checked_mul(dilation)
        .and_then(|v| v.checked_add(1))
        .ok_or(GeometryError::Overflow {
            what: "effective kernel size",
        })
}

/// What the padded positions hold (PyTorch's `padding_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PaddingMode {
    /// Zeros (the default).
    #[default]
    Zeros,
    /// Mirror without repeating the edge: ... x2 x1 | x0 x1 x2 ... (NumPy 'reflect'); needs p < L.
    Reflect,
    /// Repeat the edge: ... x0 x0 | x0 x1 ... (NumPy 'edge').
    Replicate,
    /// Wrap around: ... x_{L-1} | x0 x1 ... (NumPy 'wrap'); needs p <= L.
    Circular,
}

impl PaddingMode {
    /// PyTorch's name for the mode.
    pub fn name(self) -> &'static str {
        match self {
            PaddingMode::Zeros => "zeros",
            PaddingMode::Reflect => "reflect",
            PaddingMode::Replicate => "replicate",
            PaddingMode::Circular => "circular",
        }
    }

    /// Checks PyTorch's limits for padding `pad` on an input of size `input`.
    pub fn check(self, dim: usize, pad: usize, input: usize) -> Result<(), GeometryError> {
        let broken = match self {
            PaddingMode::Reflect if pad >= input => {
                Some("reflect padding must be smaller than the input size")
            }
            PaddingMode::Circular if pad > input => {
                Some("circular padding must be at most the input size")
            }
            _ => None,
        };
        match broken {
            Some(rule) => Err(GeometryError::PaddingTooLarge {
                mode: self.name(),
                dim,
                pad,
                input,
                rule,
            }),
            None => Ok(()),
        }
    }

    /// The input index that padded position `j` (an index into the unpadded input, negative or
    /// >= `len` inside the padding) reads, or `None` for a zero.
    ///
    /// * zeros: None outside [0, L);
    /// * reflect: j < 0 -> -j, j >= L -> 2(L-1) - j;
    /// * replicate: clamp to [0, L-1];
    /// * circular: j mod L.
    ///
    /// Positions beyond what the mode's limits allow are not reached for checked geometries.
    pub fn source_index(self, j: i64, len: usize) -> Option<usize> {
        let l = len as i64;
        if (0..l).contains(&j) {
            return Some(j as usize);
        }
        match self {
            PaddingMode::Zeros => None,
            PaddingMode::Reflect => {
                let r = if j < 0 { -j } else { 2 * (l - 1) - j };
                Some(r as usize)
            }
            PaddingMode::Replicate => Some(j.clamp(0, l - 1) as usize),
            PaddingMode::Circular => Some(j.rem_euclid(l) as usize),
        }
    }
}

impl fmt::Display for PaddingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytorch_same_puts_the_extra_element_at_the_end() {
        // k = 4: total 3 -> (1, 2). k = 3, d = 2: total 4 -> (2, 2).
        assert_eq!(Padding::Same.resolve(0, 10, 4, 1, 1).unwrap(), (1, 2));
        assert_eq!(Padding::Same.resolve(0, 10, 3, 1, 2).unwrap(), (2, 2));
        assert!(matches!(
            Padding::Same.resolve(0, 10, 3, 2, 1),
            Err(GeometryError::SameWithStride { dim: 0, stride: 2 })
        ));
    }

    #[test]
    fn onnx_same_upper_and_lower() {
        // L = 5, k = 3, s = 2: out = 3, needed = 2*2 + 3 = 7, total 2 -> (1, 1).
        assert_eq!(Padding::SameUpper.resolve(0, 5, 3, 2, 1).unwrap(), (1, 1));
        // L = 6, k = 3, s = 2: out = 3, needed 7, total 1 -> upper (0, 1), lower (1, 0).
        assert_eq!(Padding::SameUpper.resolve(0, 6, 3, 2, 1).unwrap(), (0, 1));
        assert_eq!(Padding::SameLower.resolve(0, 6, 3, 2, 1).unwrap(), (1, 0));
        // Never negative: L = 7, k = 1, s = 3: out 3, needed 7, total 0.
        assert_eq!(Padding::SameUpper.resolve(0, 7, 1, 3, 1).unwrap(), (0, 0));
    }

    #[test]
    fn source_indices_follow_numpy_pad_modes() {
        // np.pad([0,1,2,3], 2, mode) indices: reflect [2,1,0,1,2,3,2,1], edge [0,0,...,3,3],
        // wrap [2,3,0,1,2,3,0,1].
        let idx = |m: PaddingMode| (-2..6).map(|j| m.source_index(j, 4)).collect::<Vec<_>>();
        let s = |v: &[usize]| v.iter().map(|&i| Some(i)).collect::<Vec<_>>();
        assert_eq!(idx(PaddingMode::Reflect), s(&[2, 1, 0, 1, 2, 3, 2, 1]));
        assert_eq!(idx(PaddingMode::Replicate), s(&[0, 0, 0, 1, 2, 3, 3, 3]));
        assert_eq!(idx(PaddingMode::Circular), s(&[2, 3, 0, 1, 2, 3, 0, 1]));
        assert_eq!(PaddingMode::Zeros.source_index(-1, 4), None);
    }

    #[test]
    fn mode_limits_are_pytorchs() {
        assert!(PaddingMode::Reflect.check(0, 3, 4).is_ok());
        assert!(PaddingMode::Reflect.check(0, 4, 4).is_err());
        assert!(PaddingMode::Circular.check(0, 4, 4).is_ok());
        assert!(PaddingMode::Circular.check(0, 5, 4).is_err());
        assert!(PaddingMode::Replicate.check(0, 50, 4).is_ok());
    }
}
