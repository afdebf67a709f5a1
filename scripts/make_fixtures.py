"""Generates the conformance fixtures in tests/fixtures/ with the real libraries.

Run once (not by CI), in a virtual environment outside the repository:
    python -m venv /tmp/venv && /tmp/venv/bin/pip install numpy scipy torch
    /tmp/venv/bin/python scripts/make_fixtures.py

All data are small integers stored as float64, so every library's result is exact (every
partial sum is an integer far below 2^53) and can be compared exactly with the rational
reference engine. Each fixture file records the library versions that produced it.

* torch_conv.json: torch.nn.functional.conv1d/2d/3d (padding ints, 'same', 'valid'),
  torch.nn.Conv{1,2,3}d modules for padding_mode reflect/replicate/circular, and asymmetric
  (ONNX-style) pads applied with torch.nn.functional.pad before a conv with padding 0.
* numpy_conv.json: np.convolve / np.correlate for every mode and many length pairs.
* scipy_conv.json: scipy.signal.convolve / correlate (N-D, method='direct', checked against
  method='fft'), and convolve2d / correlate2d with boundary fill (with a fill value), wrap, symm.
"""
import json
import sys

import numpy as np
import scipy
import scipy.signal as ss
import torch
import torch.nn.functional as F

rng = np.random.default_rng(2026_11_27)


def tensor(a):
    a = np.asarray(a)
    assert np.all(a == np.round(a)), "fixture values must be integers"
    return {"shape": list(a.shape), "data": [int(v) for v in a.reshape(-1)]}


def ints(shape, lo=-4, hi=5):
    return rng.integers(lo, hi, size=shape).astype(np.float64)


def versions():
    return {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__, "torch": torch.__version__}


# ---------------------------------------------------------------- PyTorch
torch_cases = []


def torch_case(name, rank, n, cin, cout, spatial, kernel, stride=1, padding=0, dilation=1, groups=1,
               bias=True, padding_mode="zeros", pads=None):
    x = ints((n, cin) + tuple(spatial))
    w = ints((cout, cin // groups) + tuple(kernel))
    b = ints((cout,)) if bias else None
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    bt = torch.from_numpy(b) if bias else None
    conv = [None, F.conv1d, F.conv2d, F.conv3d][rank]
    if pads is not None:
        # ONNX pads: begins then ends; F.pad takes (last dim begin, last dim end, ...).
        flat = []
        for d in reversed(range(rank)):
            flat += [pads[d], pads[rank + d]]
        y = conv(F.pad(xt, flat), wt, bt, stride=stride, padding=0, dilation=dilation, groups=groups)
    elif padding_mode == "zeros":
        y = conv(xt, wt, bt, stride=stride, padding=padding, dilation=dilation, groups=groups)
    else:
        module = [None, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d][rank](
            cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
            bias=bias, padding_mode=padding_mode, dtype=torch.float64)
        with torch.no_grad():
            module.weight.copy_(wt)
            if bias:
                module.bias.copy_(bt)
            y = module(xt)
    case = {"name": name, "x": tensor(x), "w": tensor(w), "b": tensor(b) if bias else None,
            "stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
            "padding_mode": padding_mode, "pads": pads, "expected": tensor(y.detach().numpy())}
    torch_cases.append(case)


def torch_error(name, rank, n, cin, cout, spatial, kernel, **kw):
    """Records a geometry that PyTorch refuses (expected: null, with its message)."""
    try:
        torch_case(name, rank, n, cin, cout, spatial, kernel, **kw)
    except Exception as e:  # noqa: BLE001 - we record whatever PyTorch raises
        x = ints((n, cin) + tuple(spatial))
        w = ints((cout, max(cin // kw.get("groups", 1), 1)) + tuple(kernel))
        torch_cases.append({"name": name, "x": tensor(x), "w": tensor(w), "b": None,
                            "stride": kw.get("stride", 1), "padding": kw.get("padding", 0),
                            "dilation": kw.get("dilation", 1), "groups": kw.get("groups", 1),
                            "padding_mode": kw.get("padding_mode", "zeros"), "pads": None,
                            "expected": None, "error": f"{type(e).__name__}: {e}".splitlines()[0]})
        return
    raise AssertionError(f"{name}: PyTorch accepted it")


torch_case("conv1d_plain", 1, 2, 3, 4, [9], [3])
torch_case("conv1d_stride2_pad1", 1, 1, 2, 3, [10], [3], stride=2, padding=1)
torch_case("conv1d_dilation3_groups2", 1, 2, 4, 6, [12], [3], dilation=3, groups=2, padding=2)
torch_case("conv1d_same_even_kernel", 1, 1, 2, 2, [7], [4], padding="same")
torch_case("conv1d_same_dilated_even", 1, 1, 1, 2, [9], [2], padding="same", dilation=3)
torch_case("conv1d_valid_string", 1, 1, 2, 2, [6], [3], padding="valid", bias=False)
torch_case("conv1d_depthwise", 1, 1, 3, 3, [8], [3], groups=3, padding=1)
torch_case("conv1d_kernel_equals_input", 1, 1, 1, 1, [5], [5])
torch_case("conv2d_plain", 2, 1, 2, 3, [5, 6], [3, 3])
torch_case("conv2d_stride_2_1_pad_1_2", 2, 2, 2, 2, [7, 6], [3, 2], stride=(2, 1), padding=(1, 2))
torch_case("conv2d_dilation_2_3", 2, 1, 2, 2, [9, 10], [3, 2], dilation=(2, 3), padding=(1, 0))
torch_case("conv2d_groups3", 2, 1, 6, 9, [5, 5], [3, 3], groups=3, padding=1)
torch_case("conv2d_depthwise_multiplier2", 2, 1, 3, 6, [6, 5], [3, 3], groups=3, stride=2, padding=1)
torch_case("conv2d_same_even_kernel", 2, 1, 2, 2, [6, 7], [2, 4], padding="same")
torch_case("conv2d_same_dilated", 2, 1, 1, 2, [7, 7], [3, 2], padding="same", dilation=(2, 3))
torch_case("conv2d_no_bias_stride3", 2, 1, 3, 2, [10, 11], [3, 3], stride=3, bias=False)
torch_case("conv2d_asymmetric_pads", 2, 1, 2, 3, [5, 6], [3, 3], pads=[0, 2, 1, 0])
torch_case("conv2d_asymmetric_pads_strided", 2, 1, 1, 2, [6, 6], [2, 3], stride=(2, 2), pads=[1, 0, 2, 1])
torch_case("conv3d_plain", 3, 1, 2, 2, [4, 5, 4], [2, 3, 2])
torch_case("conv3d_stride_dilation_groups", 3, 1, 4, 4, [6, 7, 5], [2, 2, 2], stride=(1, 2, 1), dilation=(2, 1, 2), groups=2, padding=(1, 1, 0))
torch_case("conv3d_same", 3, 1, 1, 2, [4, 5, 6], [2, 3, 4], padding="same")
torch_case("conv3d_asymmetric_pads", 3, 1, 1, 1, [3, 4, 3], [2, 2, 2], pads=[1, 0, 0, 0, 2, 1])
for mode in ["reflect", "replicate", "circular"]:
    torch_case(f"conv1d_{mode}_pad2", 1, 1, 2, 2, [6], [3], padding=2, padding_mode=mode)
    torch_case(f"conv1d_{mode}_same_even", 1, 1, 1, 2, [5], [4], padding="same", padding_mode=mode)
    torch_case(f"conv2d_{mode}_pad_1_2_stride2", 2, 1, 2, 2, [5, 6], [3, 3], padding=(1, 2), stride=2, padding_mode=mode)
    torch_case(f"conv2d_{mode}_same_dilated", 2, 1, 1, 2, [6, 5], [2, 3], padding="same", dilation=(2, 1), padding_mode=mode)
    torch_case(f"conv3d_{mode}_pad1_groups2", 3, 1, 2, 2, [3, 4, 3], [2, 2, 2], padding=1, groups=2, padding_mode=mode)
torch_case("conv1d_reflect_pad_max", 1, 1, 1, 1, [4], [3], padding=3, padding_mode="reflect")
torch_case("conv1d_circular_pad_equals_input", 1, 1, 1, 1, [3], [2], padding=3, padding_mode="circular")
torch_error("error_same_strided", 1, 1, 1, 1, [8], [3], stride=2, padding="same")
torch_error("error_reflect_pad_ge_input", 1, 1, 1, 1, [3], [3], padding=3, padding_mode="reflect")
torch_error("error_circular_pad_gt_input", 1, 1, 1, 1, [3], [3], padding=4, padding_mode="circular")
torch_error("error_kernel_larger_than_padded", 2, 1, 1, 1, [3, 3], [4, 2])
torch_error("error_groups_do_not_divide", 1, 1, 3, 2, [5], [3], groups=2)

# ---------------------------------------------------------------- NumPy
numpy_cases = []
for la in range(1, 7):
    for lv in range(1, 7):
        a, v = ints((la,)), ints((lv,))
        for mode in ["full", "same", "valid"]:
            for fn in ["convolve", "correlate"]:
                out = getattr(np, fn)(a, v, mode=mode)
                numpy_cases.append({"function": fn, "mode": mode, "a": tensor(a), "v": tensor(v), "expected": tensor(out)})

# ---------------------------------------------------------------- SciPy
scipy_cases = []
shape_pairs = [((7,), (3,)), ((6,), (4,)), ((3,), (6,)), ((5,), (5,)),
               ((4, 5), (2, 3)), ((5, 4), (4, 4)), ((2, 3), (4, 5)), ((3, 6), (3, 2)), ((2, 2), (3, 3)),
               ((3, 4, 5), (2, 2, 3)), ((2, 3, 2), (3, 3, 3))]
for s1, s2 in shape_pairs:
    in1, in2 = ints(s1), ints(s2)
    for mode in ["full", "same", "valid"]:
        for fn in ["convolve", "correlate"]:
            try:
                direct = getattr(ss, fn)(in1, in2, mode=mode, method="direct")
            except ValueError as e:
                scipy_cases.append({"function": fn, "mode": mode, "in1": tensor(in1), "in2": tensor(in2),
                                    "expected": None, "error": str(e)})
                continue
            fft = getattr(ss, fn)(in1, in2, mode=mode, method="fft")
            assert direct.shape == fft.shape and np.allclose(direct, fft), (fn, mode, s1, s2)
            scipy_cases.append({"function": fn, "mode": mode, "in1": tensor(in1), "in2": tensor(in2), "expected": tensor(direct)})

pairs_2d = [((4, 5), (2, 3)), ((5, 4), (3, 3)), ((3, 3), (2, 2)), ((2, 3), (4, 5)), ((3, 3), (5, 6)), ((4, 4), (4, 2))]
for s1, s2 in pairs_2d:
    in1, in2 = ints(s1), ints(s2)
    for mode in ["full", "same", "valid"]:
        for boundary, fill in [("fill", 0), ("fill", 3), ("wrap", 0), ("symm", 0)]:
            for fn in ["convolve2d", "correlate2d"]:
                try:
                    out = getattr(ss, fn)(in1, in2, mode=mode, boundary=boundary, fillvalue=fill)
                except ValueError as e:
                    scipy_cases.append({"function": fn, "mode": mode, "boundary": boundary, "fillvalue": fill,
                                        "in1": tensor(in1), "in2": tensor(in2), "expected": None, "error": str(e)})
                    continue
                scipy_cases.append({"function": fn, "mode": mode, "boundary": boundary, "fillvalue": fill,
                                    "in1": tensor(in1), "in2": tensor(in2), "expected": tensor(out)})

how = "generated by scripts/make_fixtures.py with the libraries named in 'versions'; small-integer float64 data, so the results are exact"
for name, cases in [("torch_conv", torch_cases), ("numpy_conv", numpy_cases), ("scipy_conv", scipy_cases)]:
    with open(f"tests/fixtures/{name}.json", "w") as f:
        json.dump({"how": how, "versions": versions(), "cases": cases}, f, separators=(",", ":"))
    print(name, len(cases))
