"""convspec: the exact convolutional layer.

The operators of `torch.nn.functional` (same names, same arguments, same defaults) computed
exactly over the rationals, and the oracle that says whether another library's float output
is one the claimed arithmetic can produce::

    import convspec
    y = convspec.conv2d(x, w, b, stride=2, padding=1)           # correctly rounded to x's dtype
    q = convspec.conv2d(x, w, b, stride=2, padding=1, exact=True)  # fractions.Fraction objects
    report = convspec.check(y_gpu, "conv2d", x, w, b, precision="tf32", stride=2, padding=1)
    assert report.passed, report

Inputs: NumPy arrays of any real dtype, and anything with `__dlpack__` or `__array__`
(PyTorch CPU tensors, JAX arrays). Outputs: NumPy arrays correctly rounded (to nearest, ties
to even) to `dtype=` (default: NumPy's promotion of the inputs' dtypes; float64 when integer
inputs give a fraction), or `exact=True` for an object array of `fractions.Fraction`.
`threads=` sets the exact engine's threads; the GIL is released while it computes.
"""

from . import _core
from ._convspec import Exact  # noqa: F401  (the exact result type, for the curious)
from ._report import Report, check

__all__ = [
    "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool1d", "max_pool2d", "max_pool3d",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "unfold", "fold",
    "conv1d_grad", "conv2d_grad", "conv3d_grad",
    "check", "Report", "numpy", "scipy", "testing",
]


def _one(function, inputs, kwargs, dtype, exact, threads):
    return _core.call(function, inputs, kwargs, dtype, exact, threads)["output"]


def _conv(rank):
    name = f"conv{rank}d"

    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
             padding_mode="zeros", *, dtype=None, exact=False, threads=1):
        kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                      padding_mode=padding_mode)
        return _one(name, (input, weight, bias), kwargs, dtype, exact, threads)

    conv.__name__ = conv.__qualname__ = name
    conv.__doc__ = (
        f"`torch.nn.functional.{name}` (cross-correlation), exactly: input (N, C_in, *) or "
        f"(C_in, *), weight (C_out, C_in/groups, *k), bias (C_out,); padding an int, a tuple, "
        f"'same' or 'valid'; padding_mode zeros, reflect, replicate or circular (nn.Conv{rank}d's)."
    )
    return conv


def _conv_transpose(rank):
    name = f"conv_transpose{rank}d"

    def conv_transpose(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                       groups=1, dilation=1, *, dtype=None, exact=False, threads=1):
        kwargs = dict(stride=stride, padding=padding, output_padding=output_padding,
                      groups=groups, dilation=dilation)
        return _one(name, (input, weight, bias), kwargs, dtype, exact, threads)

    conv_transpose.__name__ = conv_transpose.__qualname__ = name
    conv_transpose.__doc__ = (
        f"`torch.nn.functional.{name}`, exactly: weight (C_in, C_out/groups, *k)."
    )
    return conv_transpose


def _max_pool(rank):
    name = f"max_pool{rank}d"

    def max_pool(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False, *, dtype=None, exact=False):
        kwargs = dict(kernel_size=kernel_size, stride=stride, padding=padding,
                      dilation=dilation, ceil_mode=ceil_mode)
        out = _core.call(name, (input,), kwargs, dtype, exact)
        return (out["output"], out["indices"]) if return_indices else out["output"]

    max_pool.__name__ = max_pool.__qualname__ = name
    max_pool.__doc__ = (
        f"`torch.nn.functional.{name}`, exactly; `return_indices=True` also gives PyTorch's "
        "flat indices per (n, c) plane (int64)."
    )
    return max_pool


def _avg_pool(rank):
    name = f"avg_pool{rank}d"

    def avg_pool(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None, *, dtype=None, exact=False):
        kwargs = dict(kernel_size=kernel_size, stride=stride, padding=padding,
                      ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                      divisor_override=divisor_override)
        return _one(name, (input,), kwargs, dtype, exact, 1)

    avg_pool.__name__ = avg_pool.__qualname__ = name
    avg_pool.__doc__ = f"`torch.nn.functional.{name}`, exactly (the mean is a fraction)."
    return avg_pool


def _output_size(input, output_size, rank):
    """PyTorch's adaptive output size: an int or a tuple, None keeping the input's size."""
    if isinstance(output_size, int):
        return output_size
    shape = _core.as_array(input, "input")[0].shape
    return tuple(shape[len(shape) - rank + i] if s is None else s
                 for i, s in enumerate(output_size))


def _adaptive(kind, rank):
    name = f"adaptive_{kind}_pool{rank}d"

    if kind == "max":
        def adaptive(input, output_size, return_indices=False, *, dtype=None, exact=False):
            kwargs = dict(output_size=_output_size(input, output_size, rank))
            out = _core.call(name, (input,), kwargs, dtype, exact)
            return (out["output"], out["indices"]) if return_indices else out["output"]
    else:
        def adaptive(input, output_size, *, dtype=None, exact=False):
            kwargs = dict(output_size=_output_size(input, output_size, rank))
            return _one(name, (input,), kwargs, dtype, exact, 1)

    adaptive.__name__ = adaptive.__qualname__ = name
    adaptive.__doc__ = f"`torch.nn.functional.{name}`, exactly."
    return adaptive


def unfold(input, kernel_size, dilation=1, padding=0, stride=1, *, dtype=None, exact=False):
    """`torch.nn.functional.unfold` (im2col), exactly."""
    kwargs = dict(kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    return _one("unfold", (input,), kwargs, dtype, exact, 1)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1, *, dtype=None,
         exact=False):
    """`torch.nn.functional.fold` (col2im), exactly."""
    kwargs = dict(output_size=output_size, kernel_size=kernel_size, dilation=dilation,
                  padding=padding, stride=stride)
    return _one("fold", (input,), kwargs, dtype, exact, 1)


def _grad(rank):
    name = f"conv{rank}d_grad"

    def grad(input, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
             padding_mode="zeros", *, dtype=None, exact=False):
        kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                      padding_mode=padding_mode)
        out = _core.call(name, (input, weight, grad_output), kwargs, dtype, exact)
        return out["grad_input"], out["grad_weight"], out["grad_bias"]

    grad.__name__ = grad.__qualname__ = name
    grad.__doc__ = (
        f"The gradients of `conv{rank}d` for an upstream gradient grad_output: "
        "(grad_input, grad_weight, grad_bias), exactly (what autograd's backward computes)."
    )
    return grad


conv1d, conv2d, conv3d = (_conv(r) for r in (1, 2, 3))
conv_transpose1d, conv_transpose2d, conv_transpose3d = (_conv_transpose(r) for r in (1, 2, 3))
max_pool1d, max_pool2d, max_pool3d = (_max_pool(r) for r in (1, 2, 3))
avg_pool1d, avg_pool2d, avg_pool3d = (_avg_pool(r) for r in (1, 2, 3))
adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d = (
    _adaptive("avg", r) for r in (1, 2, 3))
adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d = (
    _adaptive("max", r) for r in (1, 2, 3))
conv1d_grad, conv2d_grad, conv3d_grad = (_grad(r) for r in (1, 2, 3))

from . import numpy, scipy, testing  # noqa: E402  (they use the functions above)
