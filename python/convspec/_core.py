"""Conversions between Python values and the extension: inputs of any array kind to exact
NumPy arrays, exact results to the dtype asked for, and the calls themselves."""

from fractions import Fraction

import numpy as np

from . import _convspec

_FLOAT_NAMES = {"float16", "float32", "float64"}


def as_array(x, name):
    """`x` (a NumPy array, anything with `__dlpack__` or `__array__`: PyTorch CPU tensors,
    JAX arrays; Python numbers and lists) as (exact NumPy array of float64 or int64, the
    dtype name it had). float16/float32/float64 widen to float64 exactly; integers and bools
    to int64; bfloat16 (PyTorch's, JAX's) through float32, exactly."""
    if x is None:
        return None, None
    dtype_name = None
    if hasattr(x, "detach"):  # a PyTorch tensor: no autograd history, CPU
        x = x.detach()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":
            dtype_name = "bfloat16"
            x = x.float()
        if hasattr(x, "cpu"):
            x = x.cpu()
    if not isinstance(x, np.ndarray):
        array = None
        if hasattr(x, "__dlpack__"):
            try:
                array = np.from_dlpack(x)
            except (TypeError, RuntimeError, BufferError, ValueError):
                array = None
        if array is None:
            array = np.asarray(x)
        x = array
    if dtype_name is None and str(x.dtype) == "bfloat16":  # ml_dtypes (JAX)
        dtype_name = "bfloat16"
        x = x.astype(np.float32)
    kind = x.dtype.kind
    if kind == "f":
        if x.dtype.itemsize > 8:
            raise TypeError(f"{name}: {x.dtype} has no exact float64 form; convert it first")
        dtype_name = dtype_name or str(x.dtype)
        return np.ascontiguousarray(x, dtype=np.float64), dtype_name
    if kind in "iub":
        if kind == "u" and x.dtype.itemsize == 8 and x.size and x.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name}: uint64 values above 2^63 - 1 are not supported")
        return np.ascontiguousarray(x, dtype=np.int64), str(x.dtype)
    raise TypeError(f"{name}: expected real numbers, got dtype {x.dtype}")


def promoted(dtypes):
    """NumPy's promotion of the inputs' dtypes (bfloat16 with float16 or itself stays
    bfloat16 as PyTorch does; with a wider float, that float)."""
    names = [d for d in dtypes if d is not None]
    if "bfloat16" in names:
        others = [d for d in names if d != "bfloat16"]
        wider = [d for d in others if d in ("float32", "float64")]
        return str(np.result_type(*wider)) if wider else "bfloat16"
    return str(np.result_type(*[np.dtype(d) for d in names]))


def finish(value, dtype, exact):
    """An `Exact` result as an object array of Fractions (`exact`) or correctly rounded to
    `dtype` (a NumPy dtype name, or bfloat16: rounded to bfloat16, stored as float32)."""
    shape = tuple(value.shape)
    if exact:
        out = np.empty(len(value.fractions()), dtype=object)
        out[:] = [Fraction(s) for s in value.fractions()]
        return out.reshape(shape)
    name = str(np.dtype(dtype)) if dtype != "bfloat16" else dtype
    if name == "bfloat16":
        return value.rounded("bfloat16").astype(np.float32)
    if name in _FLOAT_NAMES:
        return value.rounded(name).astype(name)
    if np.dtype(name).kind in "iu":
        if not value.is_integer():
            raise ValueError(f"the result has fractions; it has no {name} form (use dtype=float64 or exact=True)")
        return value.integers().astype(name)
    raise TypeError(f"unsupported output dtype {name}")


def call(function, inputs, kwargs, dtype=None, exact=False, threads=1):
    """The outputs of `function(*inputs, **kwargs)`: a dict name -> array."""
    arrays, dtypes = [], []
    for i, x in enumerate(inputs):
        array, name = as_array(x, f"argument {i}")
        arrays.append(array)
        dtypes.append(name)
    chosen = dtype is not None
    if not chosen:
        dtype = promoted(dtypes)
    out = {}
    for name, value in _convspec.evaluate(function, tuple(arrays), kwargs, threads):
        if isinstance(value, np.ndarray):
            out[name] = value
            continue
        target = dtype
        integral = dtype != "bfloat16" and np.dtype(dtype).kind in "iub"
        if integral and not chosen and not value.is_integer():
            target = "float64"
        out[name] = finish(value, target, exact)
    return out
