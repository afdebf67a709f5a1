"""Against PyTorch itself, where it is installed (CI runs NumPy only; this runs where torch
is): on small integer data every result is exact in float64, so PyTorch's values must equal
convspec's; float32 results must be legal for the oracle."""

import numpy as np
import pytest

import convspec
from convspec.testing import assert_legal

torch = pytest.importorskip("torch")
F = torch.nn.functional


def ints(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-4, 5, shape, generator=g).double()


def test_layers_equal_pytorchs_in_float64():
    x, w, b = ints(2, 4, 9, 8), ints(6, 2, 3, 2, seed=1), ints(6, seed=2)
    kwargs = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    assert np.array_equal(convspec.conv2d(x, w, b, **kwargs), F.conv2d(x, w, b, **kwargs).numpy())
    wt = ints(4, 3, 3, 2, seed=3)
    tk = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    assert np.array_equal(convspec.conv_transpose2d(x, wt, None, **tk),
                          F.conv_transpose2d(x, wt, None, **tk).numpy())
    x1, w1 = x[:, :, 0], w[:, :, 0]
    assert np.array_equal(convspec.conv1d(x1, w1, padding="same", groups=2),
                          F.conv1d(x1, w1, padding="same", groups=2).numpy())


def test_pools_and_indices_equal_pytorchs():
    x = ints(2, 3, 9, 7, seed=4) + torch.linspace(0, 0.5, 7)  # distinct values per row
    v, i = convspec.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
    tv, ti = F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
    assert np.array_equal(v, tv.numpy()) and np.array_equal(i, ti.numpy())
    a = convspec.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    assert np.allclose(a, F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False).numpy(),
                       rtol=0, atol=1e-15)
    assert np.array_equal(convspec.adaptive_max_pool2d(x, (4, None)),
                          F.adaptive_max_pool2d(x, (4, None)).numpy())


def test_gradients_equal_autograd():
    x = ints(2, 4, 7, 6, seed=5).requires_grad_()
    w = ints(6, 2, 3, 3, seed=6).requires_grad_()
    b = ints(6, seed=7).requires_grad_()
    y = F.conv2d(x, w, b, stride=2, padding=1, groups=2)
    g = ints(*y.shape, seed=8)
    y.backward(g)
    gi, gw, gb = convspec.conv2d_grad(x, w, g, stride=2, padding=1, groups=2)
    assert np.array_equal(gi, x.grad.numpy())
    assert np.array_equal(gw, w.grad.numpy())
    assert np.array_equal(gb, b.grad.numpy())


def test_float32_and_bfloat16_outputs_are_legal():
    torch.manual_seed(0)
    x, w = torch.randn(1, 8, 12, 12), torch.randn(8, 8, 3, 3)
    assert_legal(F.conv2d(x, w, padding=1), "conv2d", x, w, precision="fp32", padding=1)
    xb, wb = x.bfloat16(), w.bfloat16()
    yb = F.conv2d(xb, wb, padding=1)
    assert convspec.conv2d(xb, wb, padding=1).dtype == np.float32  # bfloat16 held in float32
    assert_legal(yb, "conv2d", xb, wb, precision="bf16", padding=1)
    assert not convspec.check(yb, "conv2d", xb, wb, precision="fp32", padding=1).passed
