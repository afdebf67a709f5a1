//! The built-in conformance cases: every feature of the layer family at least once.
//!
//! Sizes are small (an implementation under test reads each case in milliseconds) but never
//! degenerate in the way that hides bugs: channels differ from each other, spatial sizes
//! differ per dimension, strides do not divide the padded sizes, groups have more than one
//! channel.

use super::Case;
use crate::geometry::{ConvGeometry, Padding, PaddingMode, PoolParams, TransposeGeometry};
use crate::op::{ArrayConv, ArrayForm, Conv, ConvGradients, ConvTranspose, Op, Pool, Window};
use crate::reference::numpy::Mode;
use crate::reference::scipy::Boundary;
use crate::reference::{AvgOptions, UnfoldParams};
use crate::scalar::{rational_from_i64, Rational};
use ndarray::{ArrayD, IxDyn};

/// How an operand's values are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Multiples of 1/4 in [-2, 2): exact in every float format, fp16 and bf16 included.
    Quarters,
    /// Float32 values m / 2^24 with |m| < 2^24 (24 significant bits): products and sums are
    /// not float32 values, so the correctly rounded output tests rounding.
    Float32,
    /// Distinct values (a shuffled range of multiples of 1/4): max pooling's choice and its
    /// index are unambiguous.
    Distinct,
}

/// A deterministic generator (SplitMix64, Steele, Lea and Flood 2014): the suite is the same on
/// every machine and in every version that does not change this file.
struct Values {
    state: u64,
}

impl Values {
    fn new(seed: u64) -> Values {
        Values { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, n) (n small: the modulo bias is below 2^-50).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn tensor(&mut self, shape: &[usize], kind: Kind) -> ArrayD<Rational> {
        let len: usize = shape.iter().product();
        let values: Vec<Rational> = match kind {
            Kind::Quarters => (0..len)
                .map(|_| Rational::new((self.below(16) as i64 - 8).into(), 4.into()))
                .collect(),
            Kind::Float32 => (0..len)
                .map(|_| {
                    let m = self.below(1 << 25) as i64 - (1 << 24);
                    Rational::new(m.into(), (1i64 << 24).into())
                })
                .collect(),
            Kind::Distinct => {
                let mut order: Vec<i64> = (0..len as i64).collect();
                for i in (1..len).rev() {
                    order.swap(i, self.below(i as u64 + 1) as usize);
                }
                order
                    .into_iter()
                    .map(|v| Rational::new((v - len as i64 / 2).into(), 4.into()))
                    .collect()
            }
        };
        ArrayD::from_shape_vec(IxDyn(shape), values).expect("length is the shape's product")
    }
}

/// A case under construction.
struct Builder {
    values: Values,
    cases: Vec<Case>,
}

impl Builder {
    fn add(&mut self, name: &str, about: &str, layer: Op, operands: &[(&str, &[usize], Kind)]) {
        let inputs = operands
            .iter()
            .map(|(n, shape, kind)| (n.to_string(), self.values.tensor(shape, *kind)))
            .collect();
        self.cases.push(Case {
            name: name.into(),
            about: about.into(),
            layer,
            inputs,
        });
    }
}

use Kind::{Distinct, Float32, Quarters};

fn conv(rank: usize) -> ConvGeometry {
    ConvGeometry::new(rank)
}

fn pads(list: &[(usize, usize)]) -> Padding {
    Padding::Explicit(list.to_vec())
}

/// The built-in suite.
pub fn suite() -> Vec<Case> {
    let mut b = Builder {
        values: Values::new(0x636f_6e76_7370_6563), // "convspec"
        cases: Vec::new(),
    };
    correlation_cases(&mut b);
    library_cases(&mut b);
    transpose_cases(&mut b);
    pool_cases(&mut b);
    window_cases(&mut b);
    b.cases
}

fn correlation_cases(b: &mut Builder) {
    b.add(
        "conv1d_bias",
        "1-D correlation with bias, no padding",
        Op::Conv(Conv::Correlate(conv(1))),
        &[
            ("input", &[2, 3, 10], Quarters),
            ("weight", &[4, 3, 3], Quarters),
            ("bias", &[4], Quarters),
        ],
    );
    b.add(
        "conv1d_stride_dilation_padding",
        "stride 2, dilation 2, padding 3 (the stride does not divide the padded length)",
        Op::Conv(Conv::Correlate(
            conv(1)
                .with_stride(vec![2])
                .with_dilation(vec![2])
                .with_padding(Padding::uniform(3, 1)),
        )),
        &[
            ("input", &[1, 2, 11], Quarters),
            ("weight", &[3, 2, 4], Quarters),
        ],
    );
    b.add(
        "conv2d_padding1_bias",
        "3x3 kernel, padding 1, bias (a ResNet layer in miniature)",
        Op::Conv(Conv::Correlate(
            conv(2).with_padding(Padding::uniform(1, 2)),
        )),
        &[
            ("input", &[2, 3, 6, 7], Quarters),
            ("weight", &[4, 3, 3, 3], Quarters),
            ("bias", &[4], Quarters),
        ],
    );
    b.add(
        "conv2d_stride_asymmetric_pads",
        "stride (2, 1) with asymmetric ONNX pads (1, 2, 0, 1): begins then ends",
        Op::Conv(Conv::Correlate(
            conv(2)
                .with_stride(vec![2, 1])
                .with_padding(pads(&[(1, 0), (2, 1)])),
        )),
        &[
            ("input", &[1, 2, 7, 6], Quarters),
            ("weight", &[3, 2, 3, 2], Quarters),
        ],
    );
    b.add(
        "conv2d_dilation",
        "dilation (2, 3), padding 2",
        Op::Conv(Conv::Correlate(
            conv(2)
                .with_dilation(vec![2, 3])
                .with_padding(Padding::uniform(2, 2)),
        )),
        &[
            ("input", &[1, 2, 8, 9], Quarters),
            ("weight", &[2, 2, 3, 3], Quarters),
        ],
    );
    b.add(
        "conv2d_groups",
        "groups 2: input channels [0, 2) feed outputs [0, 3), [2, 4) feed [3, 6)",
        Op::Conv(Conv::Correlate(
            conv(2).with_groups(2).with_padding(Padding::uniform(1, 2)),
        )),
        &[
            ("input", &[2, 4, 5, 5], Quarters),
            ("weight", &[6, 2, 3, 3], Quarters),
            ("bias", &[6], Quarters),
        ],
    );
    b.add(
        "conv2d_depthwise",
        "depthwise, channel multiplier 2 (groups = C_in = 3, C_out = 6), stride 2",
        Op::Conv(Conv::Correlate(
            conv(2)
                .with_groups(3)
                .with_stride(vec![2, 2])
                .with_padding(Padding::uniform(1, 2)),
        )),
        &[
            ("input", &[1, 3, 7, 8], Quarters),
            ("weight", &[6, 1, 3, 3], Quarters),
        ],
    );
    b.add(
        "conv2d_same_even_kernel",
        "padding='same' with an even kernel and dilation: the extra padding goes at the end",
        Op::Conv(Conv::Correlate(
            conv(2)
                .with_padding(Padding::Same)
                .with_dilation(vec![2, 1]),
        )),
        &[
            ("input", &[1, 2, 6, 7], Quarters),
            ("weight", &[2, 2, 4, 2], Quarters),
        ],
    );
    b.add(
        "conv2d_valid",
        "padding='valid' (no padding)",
        Op::Conv(Conv::Correlate(conv(2).with_padding(Padding::Valid))),
        &[
            ("input", &[1, 1, 5, 6], Quarters),
            ("weight", &[2, 1, 2, 3], Quarters),
        ],
    );
    b.add(
        "conv2d_same_upper_stride2",
        "ONNX auto_pad=SAME_UPPER with stride 2: output ceil(L / s), the extra pad at the end",
        Op::Conv(Conv::Correlate(
            conv(2)
                .with_stride(vec![2, 2])
                .with_padding(Padding::SameUpper),
        )),
        &[
            ("input", &[1, 2, 7, 6], Quarters),
            ("weight", &[2, 2, 3, 4], Quarters),
        ],
    );
    b.add(
        "conv2d_same_lower_stride2",
        "ONNX auto_pad=SAME_LOWER with stride 2: the extra pad at the beginning",
        Op::Conv(Conv::Correlate(
            conv(2)
                .with_stride(vec![2, 2])
                .with_padding(Padding::SameLower),
        )),
        &[
            ("input", &[1, 2, 7, 6], Quarters),
            ("weight", &[2, 2, 3, 4], Quarters),
        ],
    );
    for (mode, name) in [
        (PaddingMode::Reflect, "conv2d_padding_mode_reflect"),
        (PaddingMode::Replicate, "conv2d_padding_mode_replicate"),
        (PaddingMode::Circular, "conv2d_padding_mode_circular"),
    ] {
        b.add(
            name,
            &format!(
                "padding_mode='{}', padding (2, 1), stride (1, 2)",
                mode.name()
            ),
            Op::Conv(Conv::Correlate(
                conv(2)
                    .with_padding(pads(&[(2, 2), (1, 1)]))
                    .with_stride(vec![1, 2])
                    .with_padding_mode(mode),
            )),
            &[
                ("input", &[1, 2, 5, 6], Quarters),
                ("weight", &[3, 2, 3, 3], Quarters),
                ("bias", &[3], Quarters),
            ],
        );
    }
    b.add(
        "conv3d",
        "3-D correlation, stride (1, 2, 1), padding (1, 0, 1), bias",
        Op::Conv(Conv::Correlate(
            conv(3)
                .with_stride(vec![1, 2, 1])
                .with_padding(pads(&[(1, 1), (0, 0), (1, 1)])),
        )),
        &[
            ("input", &[1, 2, 4, 5, 3], Quarters),
            ("weight", &[3, 2, 2, 3, 2], Quarters),
            ("bias", &[3], Quarters),
        ],
    );
    b.add(
        "conv2d_unbatched",
        "unbatched input (C, H, W), as PyTorch accepts it",
        Op::Conv(Conv::Correlate(
            conv(2).with_padding(Padding::uniform(1, 2)),
        )),
        &[
            ("input", &[2, 4, 5], Quarters),
            ("weight", &[3, 2, 3, 3], Quarters),
        ],
    );
    b.add(
        "conv2d_kernel_fills_input",
        "a kernel as large as the input: one output position",
        Op::Conv(Conv::Correlate(conv(2))),
        &[
            ("input", &[1, 2, 3, 4], Quarters),
            ("weight", &[2, 2, 3, 4], Quarters),
        ],
    );
    b.add(
        "conv2d_pointwise",
        "1x1 kernel (a matrix product over channels), stride 2",
        Op::Conv(Conv::Correlate(conv(2).with_stride(vec![2, 2]))),
        &[
            ("input", &[1, 4, 5, 5], Quarters),
            ("weight", &[3, 4, 1, 1], Quarters),
        ],
    );
    b.add(
        "conv2d_float32_values",
        "full 24-bit float32 operands: the exact result is not a float32, rounding is tested",
        Op::Conv(Conv::Correlate(
            conv(2).with_padding(Padding::uniform(1, 2)),
        )),
        &[
            ("input", &[1, 8, 8, 8], Float32),
            ("weight", &[8, 8, 3, 3], Float32),
            ("bias", &[8], Float32),
        ],
    );
    b.add(
        "convolve2d_true",
        "true convolution (the kernel flipped in both dimensions), padding 'full'",
        Op::Conv(Conv::Convolve(conv(2).with_padding(Padding::Full))),
        &[
            ("input", &[1, 1, 4, 5], Quarters),
            ("weight", &[1, 1, 2, 3], Quarters),
        ],
    );
    b.add(
        "conv2d_backward",
        "gradients of conv2d: stride 2, padding 1, dilation (1, 2), groups 2",
        Op::Gradients(ConvGradients(
            conv(2)
                .with_stride(vec![2, 2])
                .with_padding(Padding::uniform(1, 2))
                .with_dilation(vec![1, 2])
                .with_groups(2),
        )),
        &[
            ("input", &[2, 4, 7, 8], Quarters),
            ("weight", &[4, 2, 3, 2], Quarters),
            ("grad_output", &[2, 4, 4, 4], Quarters),
        ],
    );
    b.add(
        "conv1d_backward_reflect",
        "gradients of conv1d with padding_mode='reflect' (the padding folds back into dL/dx)",
        Op::Gradients(ConvGradients(
            conv(1)
                .with_padding(Padding::uniform(2, 1))
                .with_padding_mode(PaddingMode::Reflect),
        )),
        &[
            ("input", &[1, 2, 6], Quarters),
            ("weight", &[3, 2, 3], Quarters),
            ("grad_output", &[1, 3, 8], Quarters),
        ],
    );
}

fn library_cases(b: &mut Builder) {
    for (mode, name) in [
        (Mode::Full, "numpy_convolve_full"),
        (Mode::Same, "numpy_convolve_same"),
        (Mode::Valid, "numpy_convolve_valid"),
    ] {
        b.add(
            name,
            "numpy.convolve of lengths 7 and 4",
            Op::Array(ArrayConv {
                form: ArrayForm::Numpy,
                mode,
                flip: true,
            }),
            &[("a", &[7], Quarters), ("v", &[4], Quarters)],
        );
    }
    b.add(
        "numpy_correlate_full_swapped",
        "numpy.correlate with len(v) > len(a): NumPy swaps and reverses",
        Op::Array(ArrayConv {
            form: ArrayForm::Numpy,
            mode: Mode::Full,
            flip: false,
        }),
        &[("a", &[3], Quarters), ("v", &[5], Quarters)],
    );
    b.add(
        "numpy_correlate_same",
        "numpy.correlate, mode 'same', even kernel",
        Op::Array(ArrayConv {
            form: ArrayForm::Numpy,
            mode: Mode::Same,
            flip: false,
        }),
        &[("a", &[6], Quarters), ("v", &[4], Quarters)],
    );
    b.add(
        "scipy_correlate2d_symm",
        "scipy.signal.correlate2d, mode 'same', boundary 'symm'",
        Op::Array(ArrayConv {
            form: ArrayForm::Scipy2d(Boundary::Symm, rational_from_i64(0)),
            mode: Mode::Same,
            flip: false,
        }),
        &[("in1", &[4, 5], Quarters), ("in2", &[3, 2], Quarters)],
    );
    b.add(
        "scipy_convolve2d_wrap",
        "scipy.signal.convolve2d, mode 'full', boundary 'wrap'",
        Op::Array(ArrayConv {
            form: ArrayForm::Scipy2d(Boundary::Wrap, rational_from_i64(0)),
            mode: Mode::Full,
            flip: true,
        }),
        &[("in1", &[4, 5], Quarters), ("in2", &[2, 3], Quarters)],
    );
    b.add(
        "scipy_convolve2d_fill",
        "scipy.signal.convolve2d, mode 'same', boundary 'fill' with fillvalue 3/2",
        Op::Array(ArrayConv {
            form: ArrayForm::Scipy2d(Boundary::Fill, Rational::new(3.into(), 2.into())),
            mode: Mode::Same,
            flip: true,
        }),
        &[("in1", &[3, 4], Quarters), ("in2", &[3, 3], Quarters)],
    );
}

fn transpose_cases(b: &mut Builder) {
    let t = TransposeGeometry::new;
    b.add(
        "conv_transpose1d",
        "1-D transposed convolution, stride 3, bias",
        Op::ConvTranspose(ConvTranspose(t(1).with_stride(vec![3]))),
        &[
            ("input", &[2, 2, 5], Quarters),
            ("weight", &[2, 3, 4], Quarters),
            ("bias", &[3], Quarters),
        ],
    );
    b.add(
        "conv_transpose2d_output_padding",
        "stride 2, padding 1, output_padding 1 (the last row and column get only the bias)",
        Op::ConvTranspose(ConvTranspose(
            t(2).with_stride(vec![2, 2])
                .with_padding(crate::geometry::TransposePadding::Explicit(vec![(1, 1); 2]))
                .with_output_padding(vec![1, 1]),
        )),
        &[
            ("input", &[1, 3, 4, 3], Quarters),
            ("weight", &[3, 2, 3, 3], Quarters),
            ("bias", &[2], Quarters),
        ],
    );
    b.add(
        "conv_transpose2d_groups_dilation",
        "groups 2, dilation (2, 1), stride (1, 2); weight (C_in, C_out / groups, kH, kW)",
        Op::ConvTranspose(ConvTranspose(
            t(2).with_groups(2)
                .with_dilation(vec![2, 1])
                .with_stride(vec![1, 2]),
        )),
        &[
            ("input", &[1, 4, 3, 4], Quarters),
            ("weight", &[4, 3, 2, 3], Quarters),
        ],
    );
}

fn pool_cases(b: &mut Builder) {
    b.add(
        "max_pool2d_stride_padding",
        "max pooling 3x3, stride 2, padding 1, with PyTorch's indices",
        Op::Pool(Pool::Max(
            PoolParams::new(vec![3, 3])
                .with_stride(vec![2, 2])
                .with_padding(vec![1, 1]),
        )),
        &[("input", &[2, 2, 7, 6], Distinct)],
    );
    b.add(
        "max_pool2d_ceil_dilation",
        "max pooling 2x2, dilation 2, ceil_mode: the last window starts inside the input",
        Op::Pool(Pool::Max(
            PoolParams::new(vec![2, 2])
                .with_dilation(vec![2, 2])
                .with_ceil_mode(true),
        )),
        &[("input", &[1, 2, 7, 8], Distinct)],
    );
    b.add(
        "max_pool1d",
        "1-D max pooling, kernel 3, stride 2 (default stride = kernel overridden)",
        Op::Pool(Pool::Max(PoolParams::new(vec![3]).with_stride(vec![2]))),
        &[("input", &[2, 3, 9], Distinct)],
    );
    b.add(
        "avg_pool2d_count_include_pad",
        "average pooling 3x3, stride 2, padding 1, count_include_pad=True (divide by 9)",
        Op::Pool(Pool::Avg(
            PoolParams::new(vec![3, 3])
                .with_stride(vec![2, 2])
                .with_padding(vec![1, 1]),
            AvgOptions::default(),
        )),
        &[("input", &[1, 2, 6, 7], Quarters)],
    );
    b.add(
        "avg_pool2d_ceil_exclude_pad",
        "average pooling 2x3, padding (1, 1), ceil_mode, count_include_pad=False",
        Op::Pool(Pool::Avg(
            PoolParams::new(vec![2, 3])
                .with_stride(vec![2, 2])
                .with_padding(vec![1, 1])
                .with_ceil_mode(true),
            AvgOptions {
                count_include_pad: false,
                divisor_override: None,
            },
        )),
        &[("input", &[1, 2, 5, 6], Quarters)],
    );
    b.add(
        "avg_pool2d_divisor_override",
        "average pooling 2x2 with divisor_override=3",
        Op::Pool(Pool::Avg(
            PoolParams::new(vec![2, 2]),
            AvgOptions {
                count_include_pad: true,
                divisor_override: Some(3),
            },
        )),
        &[("input", &[1, 2, 4, 6], Quarters)],
    );
    b.add(
        "avg_pool1d_float32_values",
        "1-D average pooling of full float32 values, kernel 3, stride 1 (division by 3)",
        Op::Pool(Pool::Avg(
            PoolParams::new(vec![3]).with_stride(vec![1]),
            AvgOptions::default(),
        )),
        &[("input", &[1, 2, 8], Float32)],
    );
    b.add(
        "adaptive_avg_pool2d",
        "adaptive average pooling from 7x5 to 3x2 (overlapping windows of unequal sizes)",
        Op::Pool(Pool::AdaptiveAvg(vec![3, 2])),
        &[("input", &[1, 2, 7, 5], Quarters)],
    );
    b.add(
        "adaptive_max_pool2d",
        "adaptive max pooling from 6x7 to 4x3, with indices",
        Op::Pool(Pool::AdaptiveMax(vec![4, 3])),
        &[("input", &[1, 2, 6, 7], Distinct)],
    );
    b.add(
        "global_avg_pool2d",
        "global average pooling (ONNX GlobalAveragePool, adaptive_avg_pool2d to 1)",
        Op::Pool(Pool::AdaptiveAvg(vec![1, 1])),
        &[("input", &[2, 3, 4, 5], Quarters)],
    );
    b.add(
        "global_max_pool2d",
        "global max pooling (ONNX GlobalMaxPool, adaptive_max_pool2d to 1)",
        Op::Pool(Pool::AdaptiveMax(vec![1, 1])),
        &[("input", &[2, 3, 4, 5], Distinct)],
    );
}

fn window_cases(b: &mut Builder) {
    let params = UnfoldParams {
        kernel_size: vec![2, 3],
        dilation: vec![1, 2],
        padding: vec![1, 0],
        stride: vec![2, 1],
    };
    b.add(
        "unfold",
        "torch.nn.functional.unfold (im2col): kernel (2, 3), dilation (1, 2), padding (1, 0), stride (2, 1)",
        Op::Window(Window::Unfold(params.clone())),
        &[("input", &[2, 2, 5, 6], Quarters)],
    );
    // Fold of the unfold's shape: blocks of (5 + 2 - 2) / 2 + 1 = 3 by (6 - 5) + 1 = 2.
    b.add(
        "fold",
        "torch.nn.functional.fold (col2im), the adjoint of the unfold case: overlapping blocks add up",
        Op::Window(Window::Fold(params, vec![5, 6])),
        &[("input", &[2, 12, 6], Quarters)],
    );
}
