"""`scipy.signal.convolve2d` and `scipy.signal.correlate2d`, exactly (SciPy's modes,
boundaries and fill value)."""

import numpy as np

from . import _core


def _kwargs(in1, in2, mode, boundary, fillvalue):
    """SciPy casts the fill value to the arrays' dtype first (0.5 is 0 for integer arrays)."""
    dtype = np.result_type(np.asarray(in1), np.asarray(in2))
    fill = np.asarray(fillvalue).astype(dtype)
    return dict(mode=mode, boundary=boundary, fillvalue=float(fill))


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, dtype=None, exact=False):
    """`scipy.signal.convolve2d(in1, in2, mode, boundary, fillvalue)`, exactly."""
    kwargs = _kwargs(in1, in2, mode, boundary, fillvalue)
    return _core.call("scipy.signal.convolve2d", (in1, in2), kwargs, dtype, exact)["output"]


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, *, dtype=None, exact=False):
    """`scipy.signal.correlate2d(in1, in2, mode, boundary, fillvalue)`, exactly."""
    kwargs = _kwargs(in1, in2, mode, boundary, fillvalue)
    return _core.call("scipy.signal.correlate2d", (in1, in2), kwargs, dtype, exact)["output"]
