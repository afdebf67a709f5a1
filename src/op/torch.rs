//! Building an [`Op`] from a `torch.nn.functional` name and its keyword arguments, as Python
//! passes them (an int broadcasts over the spatial dimensions, a tuple gives one per
//! dimension), so that the bindings and other front ends build operators one way.

use super::{Conv, ConvGradients, ConvTranspose, Op, Pool, Window};
use crate::geometry::parse::parse_padding_mode;
use crate::geometry::{ConvGeometry, Padding, PoolParams, TransposeGeometry, TransposePadding};
use crate::reference::pool::AvgOptions;
use crate::reference::unfold::UnfoldParams;
use crate::reference::OpError;

/// A keyword argument's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// An int (or a bool, which Python's ints include).
    Int(i64),
    /// A tuple or list of ints.
    Ints(Vec<i64>),
    /// A string (`padding="same"`, `padding_mode="reflect"`).
    Str(String),
    /// `None`.
    None,
}

/// The keyword arguments of one call, read once each.
struct Kwargs<'a> {
    function: &'a str,
    rank: usize,
    args: Vec<(&'a str, &'a Arg)>,
}

impl<'a> Kwargs<'a> {
    fn take(&mut self, key: &str) -> Option<&'a Arg> {
        let at = self.args.iter().position(|(k, _)| *k == key)?;
        Some(self.args.remove(at).1)
    }

    fn invalid(&self, message: String) -> OpError {
        OpError::Invalid(format!("{}: {message}", self.function))
    }

    /// One non-negative size per spatial dimension, or `default` when absent or None.
    fn sizes(&mut self, key: &str, default: Option<Vec<usize>>) -> Result<Vec<usize>, OpError> {
        match self.take(key) {
            None | Some(Arg::None) => {
                default.ok_or_else(|| self.invalid(format!("{key} is required")))
            }
            Some(value) => self.sizes_of(key, value),
        }
    }

    /// `value` as one non-negative size per spatial dimension.
    fn sizes_of(&self, key: &str, value: &Arg) -> Result<Vec<usize>, OpError> {
        let values = match value {
            Arg::Int(v) => vec![*v; self.rank],
            Arg::Ints(vs) if vs.len() == 1 => vec![vs[0]; self.rank],
            Arg::Ints(vs) if vs.len() == self.rank => vs.clone(),
            other => {
                return Err(self.invalid(format!(
                    "{key} must be an int or a tuple of {} ints, got {other:?}",
                    self.rank
                )))
            }
        };
        values
            .into_iter()
            .map(|v| {
                usize::try_from(v)
                    .map_err(|_| self.invalid(format!("{key} must not be negative, got {v}")))
            })
            .collect()
    }

    fn flag(&mut self, key: &str, default: bool) -> Result<bool, OpError> {
        match self.take(key) {
            None => Ok(default),
            Some(Arg::Int(v)) if *v == 0 || *v == 1 => Ok(*v == 1),
            Some(other) => Err(self.invalid(format!("{key} must be a bool, got {other:?}"))),
        }
    }

    fn int(&mut self, key: &str) -> Result<Option<usize>, OpError> {
        match self.take(key) {
            None | Some(Arg::None) => Ok(None),
            Some(Arg::Int(v)) if *v > 0 => Ok(Some(*v as usize)),
            Some(other) => {
                Err(self.invalid(format!("{key} must be a positive int, got {other:?}")))
            }
        }
    }

    /// Refuses the keyword arguments no one read.
    fn finish(self, op: Op) -> Result<Op, OpError> {
        match self.args.first() {
            Some((key, _)) => Err(self.invalid(format!("unexpected keyword argument '{key}'"))),
            None => Ok(op),
        }
    }
}

impl Op {
    /// The operator `torch.nn.functional.<function>` (`conv2d`, `conv_transpose1d`,
    /// `max_pool3d`, `avg_pool2d`, `adaptive_avg_pool2d`, `unfold`, `fold`, `conv2d_grad`, ...)
    /// with PyTorch's keyword arguments and defaults. `input_rank` is the input's number of
    /// dimensions; unfold reads it (its kernel size may be one int), the others take their
    /// spatial rank from the name. `return_indices` is accepted and ignored (the pools always
    /// give their indices).
    pub fn from_torch(
        function: &str,
        kwargs: &[(&str, Arg)],
        input_rank: usize,
    ) -> Result<Op, OpError> {
        let (stem, rank) = split_rank(function);
        let rank = match (stem, rank) {
            (_, Some(rank)) => rank,
            ("unfold", None) => Window::unfold_rank(1, input_rank),
            ("fold", None) => 2,
            _ => return Err(OpError::Invalid(format!("unknown function '{function}'"))),
        };
        let mut kw = Kwargs {
            function,
            rank,
            args: kwargs.iter().map(|(k, v)| (*k, v)).collect(),
        };
        let ones = Some(vec![1; rank]);
        let zeros = Some(vec![0; rank]);
        let op = match stem {
            "conv" | "conv_grad" => {
                let padding = match kw.take("padding") {
                    Some(Arg::Str(s)) if s == "same" => Padding::Same,
                    Some(Arg::Str(s)) if s == "valid" => Padding::Valid,
                    Some(other) => Padding::Explicit(
                        kw.sizes_of("padding", other)?
                            .into_iter()
                            .map(|p| (p, p))
                            .collect(),
                    ),
                    None => Padding::Explicit(vec![(0, 0); rank]),
                };
                let mode = match kw.take("padding_mode") {
                    None => crate::geometry::PaddingMode::Zeros,
                    Some(Arg::Str(s)) => parse_padding_mode("padding_mode", s)
                        .map_err(|e| kw.invalid(e.to_string()))?,
                    Some(other) => {
                        return Err(
                            kw.invalid(format!("padding_mode must be a string, got {other:?}"))
                        )
                    }
                };
                let geometry = ConvGeometry::new(rank)
                    .with_stride(kw.sizes("stride", ones.clone())?)
                    .with_dilation(kw.sizes("dilation", ones)?)
                    .with_groups(kw.int("groups")?.unwrap_or(1))
                    .with_padding(padding)
                    .with_padding_mode(mode);
                if stem == "conv" {
                    Op::Conv(Conv::Correlate(geometry))
                } else {
                    Op::Gradients(ConvGradients(geometry))
                }
            }
            "conv_transpose" => {
                let pads = kw.sizes("padding", zeros.clone())?;
                let geometry = TransposeGeometry::new(rank)
                    .with_stride(kw.sizes("stride", ones.clone())?)
                    .with_padding(TransposePadding::Explicit(
                        pads.into_iter().map(|p| (p, p)).collect(),
                    ))
                    .with_output_padding(kw.sizes("output_padding", zeros)?)
                    .with_groups(kw.int("groups")?.unwrap_or(1))
                    .with_dilation(kw.sizes("dilation", ones)?);
                Op::ConvTranspose(ConvTranspose(geometry))
            }
            "max_pool" | "avg_pool" => {
                let kernel = kw.sizes("kernel_size", None)?;
                let mut params = PoolParams::new(kernel.clone())
                    .with_stride(kw.sizes("stride", Some(kernel))?)
                    .with_padding(kw.sizes("padding", zeros)?)
                    .with_ceil_mode(kw.flag("ceil_mode", false)?);
                if stem == "max_pool" {
                    params = params.with_dilation(kw.sizes("dilation", ones)?);
                    kw.flag("return_indices", false)?;
                    Op::Pool(Pool::Max(params))
                } else {
                    let options = AvgOptions {
                        count_include_pad: kw.flag("count_include_pad", true)?,
                        divisor_override: kw.int("divisor_override")?,
                    };
                    Op::Pool(Pool::Avg(params, options))
                }
            }
            "adaptive_avg_pool" => Op::Pool(Pool::AdaptiveAvg(kw.sizes("output_size", None)?)),
            "adaptive_max_pool" => {
                let size = kw.sizes("output_size", None)?;
                kw.flag("return_indices", false)?;
                Op::Pool(Pool::AdaptiveMax(size))
            }
            "unfold" | "fold" => {
                let output_size = if stem == "fold" {
                    Some(kw.sizes("output_size", None)?)
                } else {
                    None
                };
                let mut params = UnfoldParams::new(kw.sizes("kernel_size", None)?);
                params.dilation = kw.sizes("dilation", ones.clone())?;
                params.padding = kw.sizes("padding", zeros)?;
                params.stride = kw.sizes("stride", ones)?;
                match output_size {
                    Some(size) => Op::Window(Window::Fold(params, size)),
                    None => Op::Window(Window::Unfold(params)),
                }
            }
            _ => return Err(OpError::Invalid(format!("unknown function '{function}'"))),
        };
        kw.finish(op)
    }
}

/// `conv2d` -> ("conv", Some(2)); `conv2d_grad` -> ("conv_grad", Some(2)); `unfold` ->
/// ("unfold", None).
fn split_rank(function: &str) -> (&str, Option<usize>) {
    for (suffix, rank) in [("1d", 1), ("2d", 2), ("3d", 3)] {
        if let Some(stem) = function.strip_suffix(suffix) {
            return (stem, Some(rank));
        }
        if let Some(stem) = function.strip_suffix(&format!("{suffix}_grad")[..]) {
            return (if stem == "conv" { "conv_grad" } else { stem }, Some(rank));
        }
    }
    (function, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's defaults and broadcasting, written out by hand from its documentation.
    #[test]
    fn names_and_keywords_build_the_operators() {
        let conv = Op::from_torch(
            "conv2d",
            &[
                ("stride", Arg::Int(2)),
                ("padding", Arg::Ints(vec![1, 0])),
                ("groups", Arg::Int(2)),
            ],
            4,
        )
        .unwrap();
        let expected = ConvGeometry::new(2)
            .with_stride(vec![2, 2])
            .with_padding(Padding::Explicit(vec![(1, 1), (0, 0)]))
            .with_groups(2);
        assert_eq!(conv, Op::Conv(Conv::Correlate(expected)));
        let same = Op::from_torch("conv1d", &[("padding", Arg::Str("same".into()))], 3).unwrap();
        assert_eq!(
            same,
            Op::Conv(Conv::Correlate(
                ConvGeometry::new(1).with_padding(Padding::Same)
            ))
        );
        let pool = Op::from_torch("max_pool2d", &[("kernel_size", Arg::Int(3))], 4).unwrap();
        assert_eq!(pool, Op::Pool(Pool::Max(PoolParams::new(vec![3, 3]))));
        let avg = Op::from_torch(
            "avg_pool1d",
            &[
                ("kernel_size", Arg::Int(2)),
                ("count_include_pad", Arg::Int(0)),
            ],
            3,
        )
        .unwrap();
        let options = AvgOptions {
            count_include_pad: false,
            divisor_override: None,
        };
        assert_eq!(avg, Op::Pool(Pool::Avg(PoolParams::new(vec![2]), options)));
        let grad = Op::from_torch("conv3d_grad", &[], 5).unwrap();
        assert_eq!(grad, Op::Gradients(ConvGradients(ConvGeometry::new(3))));
        let unfold = Op::from_torch("unfold", &[("kernel_size", Arg::Int(2))], 4).unwrap();
        assert_eq!(
            unfold,
            Op::Window(Window::Unfold(UnfoldParams::new(vec![2, 2])))
        );
    }

    /// Unknown names and keywords, missing and malformed arguments are refused in one line.
    #[test]
    fn bad_calls_are_refused() {
        let refused = |f: &str, kwargs: &[(&str, Arg)]| {
            Op::from_torch(f, kwargs, 4).expect_err(f).to_string()
        };
        assert!(refused("conv4d", &[]).contains("unknown function"));
        assert!(refused("conv2d", &[("strides", Arg::Int(2))])
            .contains("unexpected keyword argument 'strides'"));
        assert!(refused("max_pool2d", &[]).contains("kernel_size is required"));
        assert!(
            refused("conv2d", &[("stride", Arg::Ints(vec![1, 2, 3]))]).contains("tuple of 2 ints")
        );
        assert!(refused("conv2d", &[("padding", Arg::Int(-1))]).contains("must not be negative"));
        assert!(
            refused("conv2d", &[("padding_mode", Arg::Str("mirror".into()))])
                .contains("padding_mode")
        );
    }
}
