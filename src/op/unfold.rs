//! Sliding windows as one type: `unfold` (im2col) and its adjoint `fold` (col2im).
//!
//! ```text
//! unfold: cols[n, c prod(k) + j, t] = xpad[n, c, t s + j d]
//! fold:   y[n, c, i] = sum over (j, t) with t s + j d - p = i of cols[n, c prod(k) + j, t]
//! ```

use crate::reference::unfold::{fold, unfold, UnfoldParams};
use crate::reference::OpError;
use crate::scalar::Ring;
use ndarray::ArrayD;

/// `unfold` or `fold` with its window parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    /// `torch.nn.functional.unfold(x, kernel_size, dilation, padding, stride)`.
    Unfold(UnfoldParams),
    /// `torch.nn.functional.fold(x, output_size, kernel_size, dilation, padding, stride)`
    /// (ONNX `Col2Im`).
    Fold(UnfoldParams, Vec<usize>),
}

impl Window {
    /// The command line's name.
    pub fn name(&self) -> &'static str {
        match self {
            Window::Unfold(_) => "unfold",
            Window::Fold(..) => "fold",
        }
    }

    /// PyTorch's function.
    pub fn torch_name(&self) -> &'static str {
        match self {
            Window::Unfold(_) => "torch.nn.functional.unfold",
            Window::Fold(..) => "torch.nn.functional.fold",
        }
    }

    /// ONNX's operator, where there is one (`Col2Im`, opset 18, for fold).
    pub fn onnx_name(&self) -> Option<&'static str> {
        match self {
            Window::Unfold(_) => None,
            Window::Fold(..) => Some("Col2Im"),
        }
    }

    /// The number of spatial dimensions of an unfold whose kernel size is given as `given`
    /// values on an input of `ndim` dimensions: a list sets it; one value broadcasts over
    /// PyTorch's 2-D unfold for (C, H, W) and (N, C, H, W) inputs, else over the input's
    /// spatial dimensions (batched).
    pub fn unfold_rank(given: usize, ndim: usize) -> usize {
        if given > 1 {
            given
        } else if matches!(ndim, 3 | 4) {
            2
        } else {
            ndim.saturating_sub(2).max(1)
        }
    }

    /// The parameters.
    pub fn params(&self) -> &UnfoldParams {
        match self {
            Window::Unfold(params) | Window::Fold(params, _) => params,
        }
    }

    /// The exact result, by the specification's functions (which refuse outputs beyond the
    /// memory limit before allocating them).
    pub fn evaluate<T: Ring>(&self, x: &ArrayD<T>) -> Result<ArrayD<T>, OpError> {
        match self {
            Window::Unfold(params) => unfold(x, params),
            Window::Fold(params, output_size) => fold(x, output_size, params),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    /// By hand: the 2x2 windows of a 3x3 image of 0..9 are its four 2x2 blocks; folding
    /// them back adds each pixel once per window covering it (1, 2 or 4 times).
    #[test]
    fn unfold_then_fold_counts_the_windows() {
        let x = ArrayD::from_shape_fn(IxDyn(&[1, 1, 3, 3]), |i| (i[2] * 3 + i[3]) as f64);
        let params = UnfoldParams::new(vec![2, 2]);
        let cols = Window::Unfold(params.clone()).evaluate(&x).unwrap();
        assert_eq!(cols.shape(), &[1, 4, 4]);
        let first: Vec<f64> = (0..4).map(|r| cols[[0, r, 0]]).collect();
        assert_eq!(first, [0.0, 1.0, 3.0, 4.0]);
        let folded = Window::Fold(params, vec![3, 3]).evaluate(&cols).unwrap();
        let counts = [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0];
        for (i, (v, c)) in folded.iter().zip(counts).enumerate() {
            assert_eq!(*v, i as f64 * c);
        }
        assert_eq!(Window::unfold_rank(1, 4), 2);
        assert_eq!(Window::unfold_rank(1, 5), 3);
        assert_eq!(Window::unfold_rank(3, 5), 3);
    }
}
