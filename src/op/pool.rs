//! The pooling family as one type: max, average, adaptive and global pooling with their
//! parameters.
//!
//! A new pooling kind is one variant here (its names, its evaluation through its reference
//! function in `reference::pool`, its oracle reference) and one line of the command line's kind
//! table.

use crate::exact::ExactError;
use crate::geometry::PoolParams;
use crate::oracle::Reference;
use crate::reference::pool::{
    adaptive_avg_pool, adaptive_max_pool, avg_pool, global_avg_pool, global_max_pool, max_pool,
    AvgOptions, MaxPoolOutput,
};
use crate::reference::OpError;
use crate::scalar::Rational;
use ndarray::ArrayD;

/// A pooling operator with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Pool {
    /// `max_pool{1,2,3}d(x, kernel_size, stride, padding, dilation, ceil_mode)`.
    Max(PoolParams),
    /// `avg_pool{1,2,3}d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
    /// divisor_override)`.
    Avg(PoolParams, AvgOptions),
    /// `adaptive_avg_pool{1,2,3}d(x, output_size)`.
    AdaptiveAvg(Vec<usize>),
    /// `adaptive_max_pool{1,2,3}d(x, output_size)`.
    AdaptiveMax(Vec<usize>),
    /// ONNX `GlobalAveragePool` over this many spatial dimensions.
    GlobalAvg(usize),
    /// ONNX `GlobalMaxPool` over this many spatial dimensions.
    GlobalMax(usize),
}

/// The result of a pooling: the values, and for the maximum kinds the chosen indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Pooled {
    /// The output.
    pub values: ArrayD<Rational>,
    /// The maxima with their indices (max, adaptive max and global max pooling).
    pub selection: Option<MaxPoolOutput<Rational>>,
}

impl Pool {
    /// The command line's name of the kind.
    pub fn name(&self) -> &'static str {
        match self {
            Pool::Max(_) => "max",
            Pool::Avg(..) => "avg",
            Pool::AdaptiveAvg(_) => "adaptive-avg",
            Pool::AdaptiveMax(_) => "adaptive-max",
            Pool::GlobalAvg(_) => "global-avg",
            Pool::GlobalMax(_) => "global-max",
        }
    }

    /// True for the kinds that select an input (their result must be that input exactly).
    pub fn selects(&self) -> bool {
        matches!(
            self,
            Pool::Max(_) | Pool::AdaptiveMax(_) | Pool::GlobalMax(_)
        )
    }

    /// The exact result, by the specification's pooling functions.
    pub fn evaluate(&self, x: &ArrayD<Rational>) -> Result<Pooled, OpError> {
        let selected = |out: MaxPoolOutput<Rational>| Pooled {
            values: out.values.clone(),
            selection: Some(out),
        };
        let mean = |values| Pooled {
            values,
            selection: None,
        };
        Ok(match self {
            Pool::Max(params) => selected(max_pool(x, params)?),
            Pool::Avg(params, options) => mean(avg_pool(x, params, options)?),
            Pool::AdaptiveAvg(size) => mean(adaptive_avg_pool(x, size)?),
            Pool::AdaptiveMax(size) => selected(adaptive_max_pool(x, size)?),
            Pool::GlobalAvg(rank) => mean(global_avg_pool(x, *rank)?),
            Pool::GlobalMax(rank) => selected(global_max_pool(x, *rank)?),
        })
    }

    /// The oracle's reference of a candidate pooled from `x`: exact equality for the
    /// selecting kinds, the mean's bound for the others.
    pub fn reference(&self, x: &ArrayD<Rational>) -> Result<Reference, ExactError> {
        match self {
            Pool::Max(params) => Reference::max_pool(x, params),
            Pool::Avg(params, options) => Reference::avg_pool(x, params, options),
            Pool::AdaptiveAvg(size) => Reference::adaptive_avg_pool(x, size),
            Pool::AdaptiveMax(size) => Reference::adaptive_max_pool(x, size),
            Pool::GlobalAvg(rank) => Reference::adaptive_avg_pool(x, &vec![1; *rank]),
            Pool::GlobalMax(rank) => Reference::adaptive_max_pool(x, &vec![1; *rank]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    /// Every kind evaluates through its reference function and builds its oracle reference,
    /// whose exact values are the evaluation's (global pooling as adaptive pooling to size 1).
    #[test]
    fn every_kind_evaluates_and_references_alike() {
        let x = ArrayD::from_shape_fn(IxDyn(&[1, 2, 4, 4]), |i| {
            Rational::from_integer(((i[1] * 16 + i[2] * 4 + i[3]) as i64 % 7 - 3).into())
        });
        let kinds = [
            Pool::Max(PoolParams::new(vec![2, 2])),
            Pool::Avg(PoolParams::new(vec![3, 3]), AvgOptions::default()),
            Pool::AdaptiveAvg(vec![3, 2]),
            Pool::AdaptiveMax(vec![2, 3]),
            Pool::GlobalAvg(2),
            Pool::GlobalMax(2),
        ];
        for pool in kinds {
            let out = pool.evaluate(&x).unwrap();
            assert_eq!(out.selection.is_some(), pool.selects(), "{}", pool.name());
            let reference = pool.reference(&x).unwrap();
            assert_eq!(
                reference.exact.to_rationals(),
                out.values,
                "{}",
                pool.name()
            );
            assert_eq!(reference.selection, pool.selects());
        }
    }
}
