"""Exact results against values derived by hand."""

from fractions import Fraction

import numpy as np
import pytest

import convspec


def test_the_seeds_convolution():
    # [2, -1, 1] * [1, 1, 2] = [2, 1, 4, -1, 2] (the seed's worked example).
    assert convspec.numpy.convolve([2, -1, 1], [1, 1, 2]).tolist() == [2, 1, 4, -1, 2]
    # Correlation: the kernel not flipped; NumPy's default mode 'valid'.
    assert convspec.numpy.correlate([2, -1, 1], [1, 1, 2], mode="full").tolist() == [4, 0, 3, 0, 1]
    assert convspec.numpy.correlate([1, 2, 3, 4], [1, -1]).tolist() == [-1, -1, -1]


def test_conv1d_by_hand():
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    w = np.array([[[1.0, -1.0]]])
    # y[t] = x[t] - x[t + 1] + b
    assert convspec.conv1d(x, w, np.array([0.5])).tolist() == [[[-0.5, -0.5, -0.5]]]
    # padding 1 reads zeros at both ends; stride 2 keeps every other output.
    assert convspec.conv1d(x, w, padding=1, stride=2).tolist() == [[[-1.0, -1.0, 4.0]]]
    # padding_mode circular wraps: [4, 1, 2, 3, 4, 1].
    assert convspec.conv1d(x, w, padding=1, padding_mode="circular").tolist() == [
        [[3.0, -1.0, -1.0, -1.0, 3.0]]]


def test_average_is_an_exact_fraction():
    x = np.array([[[1, 2, 4]]], dtype=np.int64)
    q = convspec.avg_pool1d(x, 3, exact=True)
    assert q.tolist() == [[[Fraction(7, 3)]]]
    # Integer inputs whose result is a fraction give float64, correctly rounded.
    y = convspec.avg_pool1d(x, 3)
    assert y.dtype == np.float64 and y[0, 0, 0] == 7 / 3
    # float16 inputs: the output rounded once from 7/3 to float16.
    h = convspec.avg_pool1d(x.astype(np.float16), 3)
    assert h.dtype == np.float16 and h[0, 0, 0] == np.float16(7 / 3)


def test_max_pool_indices_are_pytorchs():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    values, indices = convspec.max_pool2d(x, 2, return_indices=True)
    assert values.tolist() == [[[[5, 7], [13, 15]]]]
    assert indices.tolist() == [[[[5, 7], [13, 15]]]]
    assert indices.dtype == np.int64


def test_transposed_convolution_by_hand():
    # Stride 2 scatters x[i] w[j] to 2 i + j: [1, 2] with [1, 1, 1] -> [1, 1, 3, 2, 2].
    y = convspec.conv_transpose1d(np.array([[[1.0, 2.0]]]), np.array([[[1.0, 1.0, 1.0]]]), stride=2)
    assert y.tolist() == [[[1.0, 1.0, 3.0, 2.0, 2.0]]]


def test_unfold_and_fold_by_hand():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    cols = convspec.unfold(x, 2)
    assert cols.shape == (1, 4, 4)
    assert cols[0, :, 0].tolist() == [0, 1, 3, 4]
    back = convspec.fold(cols, (3, 3), 2)
    # Each pixel once per window covering it.
    assert back[0, 0].tolist() == [[0, 2, 2], [6, 16, 10], [6, 14, 8]]


def test_gradients_by_hand():
    x = np.array([[[1.0, 2.0, 3.0]]])
    w = np.array([[[1.0, -1.0]]])
    g = np.array([[[1.0, 10.0]]])
    gi, gw, gb = convspec.conv1d_grad(x, w, g)
    # grad_input[i] = sum_t g[t] w[i - t]; grad_weight[j] = sum_t g[t] x[t + j]; grad_bias = sum g.
    assert gi.tolist() == [[[1.0, 9.0, -10.0]]]
    assert gw.tolist() == [[[21.0, 32.0]]]
    assert gb.tolist() == [11.0]


def test_scipy_forms_by_hand():
    in1 = np.array([[1, 2], [3, 4]])
    in2 = np.array([[1, 1]])
    assert convspec.scipy.convolve2d(in1, in2).tolist() == [[1, 3, 2], [3, 7, 4]]
    assert convspec.scipy.correlate2d(in1, in2, mode="same", boundary="wrap").tolist() == [
        [3, 3], [7, 7]]
    # The fill value enters where the kernel hangs over the edge: 1 + 1/2 at the start; as in
    # SciPy it is cast to the arrays' dtype first, so integer arrays fill with int(0.5) = 0.
    filled = convspec.scipy.convolve2d(in1.astype(float), in2, boundary="fill", fillvalue=0.5)
    assert filled.tolist() == [[1.5, 3.0, 2.5], [3.5, 7.0, 4.5]]
    assert convspec.scipy.convolve2d(in1, in2, fillvalue=0.5).tolist() == [[1, 3, 2], [3, 7, 4]]


def test_dtype_and_exact_outputs():
    x = np.array([[[0.1, 0.2, 0.3]]])
    w = np.array([[[1.0, 1.0]]])
    exact = convspec.conv1d(x, w, exact=True)
    assert exact[0, 0, 0] == Fraction(0.1) + Fraction(0.2)
    as32 = convspec.conv1d(x, w, dtype="float32")
    assert as32.dtype == np.float32
    assert as32[0, 0, 0] == np.float32(Fraction(0.1) + Fraction(0.2))
    with pytest.raises(ValueError, match="fractions"):
        convspec.avg_pool1d(np.array([[[1, 2]]]), 2, dtype="int32")
