//! Parsing of geometry arguments in the command line's conventions: one value applies to every
//! spatial dimension, a comma list gives one per dimension.

use super::{Padding, PaddingMode};
use std::fmt;

/// An argument string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The argument's name, e.g. `--stride`.
    pub argument: String,
    /// The text given.
    pub value: String,
    /// What was expected.
    pub expected: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid value '{}' for {}: expected {}",
            self.value, self.argument, self.expected
        )
    }
}

impl std::error::Error for ParseError {}

fn error(argument: &str, value: &str, expected: impl Into<String>) -> ParseError {
    ParseError {
        argument: argument.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

/// A comma-separated list of non-negative integers (`"2"`, `"2,1"`).
pub fn parse_list(argument: &str, value: &str) -> Result<Vec<usize>, ParseError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(error(
            argument,
            value,
            "a non-negative integer or a comma-separated list",
        ));
    }
    trimmed
        .split(',')
        .map(|part| {
            part.trim().parse::<usize>().map_err(|_| {
                error(
                    argument,
                    value,
                    "a non-negative integer or a comma-separated list of them",
                )
            })
        })
        .collect()
}

/// A list for `rank` spatial dimensions: one value is repeated, otherwise exactly `rank` values.
pub fn parse_per_dim(argument: &str, value: &str, rank: usize) -> Result<Vec<usize>, ParseError> {
    let list = parse_list(argument, value)?;
    match list.len() {
        1 => Ok(vec![list[0]; rank]),
        n if n == rank => Ok(list),
        n if rank == 1 => Err(error(
            argument,
            value,
            format!("1 value (the layer has 1 spatial dimension), got {n}"),
        )),
        n => Err(error(
            argument,
            value,
            format!("1 value or {rank} values (one per spatial dimension), got {n}"),
        )),
    }
}

/// PyTorch's `padding`: `N`, `N,M,...` (symmetric per dimension), `same`, `valid`, or `full`.
pub fn parse_padding(argument: &str, value: &str, rank: usize) -> Result<Padding, ParseError> {
    match value.trim() {
        "same" => Ok(Padding::Same),
        "valid" => Ok(Padding::Valid),
        "full" => Ok(Padding::Full),
        _ => {
            let per_dim = parse_per_dim(argument, value, rank).map_err(|e| ParseError {
                expected: format!("same, valid, full or {}", e.expected),
                ..e
            })?;
            Ok(Padding::Explicit(
                per_dim.into_iter().map(|p| (p, p)).collect(),
            ))
        }
    }
}

/// ONNX `pads`: all begins, then all ends (`b1,b2,...,e1,e2,...`), 2 * rank values.
pub fn parse_onnx_pads(argument: &str, value: &str, rank: usize) -> Result<Padding, ParseError> {
    let list = parse_list(argument, value)?;
    if list.len() != 2 * rank {
        return Err(error(
            argument,
            value,
            format!(
                "{} values (begins then ends, ONNX order) for {rank} spatial dimensions",
                2 * rank
            ),
        ));
    }
    Ok(Padding::Explicit(
        (0..rank).map(|d| (list[d], list[rank + d])).collect(),
    ))
}

/// ONNX `auto_pad`: `same-upper`, `same-lower`, `valid` (also the ONNX spellings `SAME_UPPER`, ...).
pub fn parse_auto_pad(argument: &str, value: &str) -> Result<Padding, ParseError> {
    match value.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "same-upper" => Ok(Padding::SameUpper),
        "same-lower" => Ok(Padding::SameLower),
        "valid" => Ok(Padding::Valid),
        _ => Err(error(argument, value, "same-upper, same-lower or valid")),
    }
}

/// PyTorch's `padding_mode`.
pub fn parse_padding_mode(argument: &str, value: &str) -> Result<PaddingMode, ParseError> {
    match value.trim() {
        "zeros" => Ok(PaddingMode::Zeros),
        "reflect" => Ok(PaddingMode::Reflect),
        "replicate" => Ok(PaddingMode::Replicate),
        "circular" => Ok(PaddingMode::Circular),
        _ => Err(error(
            argument,
            value,
            "zeros, reflect, replicate or circular",
        )),
    }
}

/// A boolean written `true` or `false`.
pub fn parse_bool(argument: &str, value: &str) -> Result<bool, ParseError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(error(argument, value, "true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_broadcast_or_match_rank() {
        assert_eq!(parse_per_dim("--stride", "2", 3).unwrap(), vec![2, 2, 2]);
        assert_eq!(parse_per_dim("--stride", "2,1", 2).unwrap(), vec![2, 1]);
        assert!(parse_per_dim("--stride", "2,1", 3).is_err());
        assert!(parse_per_dim("--stride", "-1", 1).is_err());
        assert!(parse_per_dim("--stride", "", 1).is_err());
        assert!(parse_per_dim("--stride", "1,,2", 3).is_err());
    }

    #[test]
    fn padding_forms() {
        assert_eq!(
            parse_padding("--padding", "same", 2).unwrap(),
            Padding::Same
        );
        assert_eq!(
            parse_padding("--padding", "1,2", 2).unwrap(),
            Padding::Explicit(vec![(1, 1), (2, 2)])
        );
        assert_eq!(
            parse_onnx_pads("--pads", "1,2,3,4", 2).unwrap(),
            Padding::Explicit(vec![(1, 3), (2, 4)])
        );
        assert!(parse_onnx_pads("--pads", "1,2,3", 2).is_err());
        assert_eq!(
            parse_auto_pad("--auto-pad", "SAME_LOWER").unwrap(),
            Padding::SameLower
        );
        assert!(parse_padding("--padding", "sam", 2).is_err());
    }
}
