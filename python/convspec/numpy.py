"""`numpy.convolve` and `numpy.correlate`, exactly (1-D arrays; NumPy's modes and its
swap of the arrays when `v` is longer than `a`)."""

from . import _core


def convolve(a, v, mode="full", *, dtype=None, exact=False):
    """`numpy.convolve(a, v, mode)`, exactly."""
    return _core.call("numpy.convolve", (a, v), dict(mode=mode), dtype, exact)["output"]


def correlate(a, v, mode="valid", *, dtype=None, exact=False):
    """`numpy.correlate(a, v, mode)`, exactly."""
    return _core.call("numpy.correlate", (a, v), dict(mode=mode), dtype, exact)["output"]
