"""Generates tests/fixtures/torch_layers.json with the real PyTorch: transposed convolution,
pooling (max, avg, adaptive), conv and pool gradients (autograd), unfold / fold.

Run once (not by CI), in a virtual environment outside the repository:
    python -m venv /tmp/venv && /tmp/venv/bin/pip install numpy torch
    /tmp/venv/bin/python scripts/make_layer_fixtures.py

Every value is a small integer in float64, so PyTorch's results are exact and are compared
exactly with the rational reference engine. Averages would be fractions: their inputs (and the
upstream gradients of average pooling) are multiplied by SCALE = lcm(1..30), which every divisor
used here divides, so the averages are integers too (all magnitudes stay far below 2^53).
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(2026_11_28)
SCALE = math.lcm(*range(1, 31))
assert SCALE * 27 * 5 < 2**53


def tensor(a):
    a = np.asarray(a)
    assert np.all(a == np.round(a)), "fixture values must be integers"
    assert np.all(np.abs(a) < 2**53)
    return {"shape": list(a.shape), "data": [int(v) for v in a.reshape(-1)]}


def ints(shape, lo=-4, hi=5):
    return rng.integers(lo, hi, size=shape).astype(np.float64)


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


cases = []


def record(kind, name, fn, args, **inputs):
    """Runs fn; records its tensors (or the refusal) with the arguments."""
    case = {"kind": kind, "name": name, "args": args}
    case.update({k: (tensor(v) if isinstance(v, np.ndarray) else v) for k, v in inputs.items()})
    try:
        out = fn()
    except Exception as e:  # noqa: BLE001 - whatever PyTorch raises is recorded
        case["expected"] = None
        case["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
        cases.append(case)
        return
    if isinstance(out, dict):
        case.update({k: tensor(v.detach().numpy()) for k, v in out.items()})
    else:
        case["expected"] = tensor(out.detach().numpy())
    cases.append(case)


# ------------------------------------------------------------ transposed convolution
def transpose(name, rank, n, cin, cout, spatial, kernel, stride=1, padding=0, output_padding=0,
              dilation=1, groups=1, bias=True):
    x = ints((n, cin) + tuple(spatial))
    w = ints((cin, cout // groups) + tuple(kernel))
    b = ints((cout,)) if bias else None
    fn = [None, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d][rank]
    args = {"stride": stride, "padding": padding, "output_padding": output_padding,
            "dilation": dilation, "groups": groups}
    record("conv_transpose", name,
           lambda: fn(t(x), t(w), t(b) if bias else None, **args),
           args, x=x, w=w, b=b)


transpose("t1d_plain", 1, 2, 2, 3, [5], [3])
transpose("t1d_stride2_pad1_outpad1", 1, 1, 2, 2, [4], [3], stride=2, padding=1, output_padding=1)
transpose("t1d_stride3_dilation2", 1, 1, 1, 2, [4], [3], stride=3, dilation=2, padding=2)
transpose("t1d_outpad_below_dilation", 1, 1, 2, 2, [3], [2], stride=1, dilation=3, output_padding=2)
transpose("t1d_groups2_dilation2_outpad1", 1, 2, 4, 6, [5], [3], stride=2, dilation=2, groups=2, padding=1, output_padding=1)
transpose("t2d_plain", 2, 1, 2, 3, [3, 4], [3, 2])
transpose("t2d_stride_2_3_pad_1_0", 2, 1, 3, 2, [3, 3], [3, 3], stride=(2, 3), padding=(1, 0), output_padding=(1, 2))
transpose("t2d_groups3_dilation", 2, 2, 3, 6, [3, 4], [2, 3], groups=3, dilation=(2, 1), stride=2, output_padding=(1, 0))
transpose("t2d_depthwise_no_bias", 2, 1, 4, 4, [4, 3], [3, 3], groups=4, stride=2, padding=1, bias=False)
transpose("t3d_plain", 3, 1, 2, 2, [2, 3, 2], [2, 2, 2])
transpose("t3d_everything", 3, 1, 4, 2, [3, 2, 3], [2, 3, 2], stride=(2, 1, 3), padding=(1, 1, 0),
          output_padding=(1, 0, 2), dilation=(1, 2, 1), groups=2)
transpose("t_error_outpad_ge_stride_and_dilation", 1, 1, 1, 1, [4], [3], stride=2, output_padding=2)
transpose("t_error_groups_do_not_divide", 1, 1, 3, 2, [4], [3], groups=2)

# ------------------------------------------------------------ pooling
def max_pool(name, rank, shape, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    x = ints(shape, -9, 10)
    fn = [None, F.max_pool1d, F.max_pool2d, F.max_pool3d][rank]
    args = {"kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation,
            "ceil_mode": ceil_mode}

    def run():
        y, i = fn(t(x), kernel, stride=stride, padding=padding, dilation=dilation,
                  ceil_mode=ceil_mode, return_indices=True)
        return {"expected": y, "indices": i}
    record("max_pool", name, run, args, x=x)


def avg_pool(name, rank, shape, kernel, stride=None, padding=0, ceil_mode=False,
             count_include_pad=True, divisor_override=None):
    x = ints(shape) * SCALE
    fn = [None, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d][rank]
    args = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode,
            "count_include_pad": count_include_pad, "divisor_override": divisor_override}
    kw = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    if rank > 1:
        kw["divisor_override"] = divisor_override
    record("avg_pool", name, lambda: fn(t(x), kernel, **kw), args, x=x)


max_pool("max1d_plain", 1, (2, 2, 9), 3)
max_pool("max1d_stride1_pad1_dilation2", 1, (1, 2, 9), 3, stride=1, padding=1, dilation=2)
max_pool("max1d_ceil", 1, (1, 1, 10), 3, stride=2, ceil_mode=True)
max_pool("max1d_ceil_pad", 1, (1, 1, 5), 2, stride=2, padding=1, ceil_mode=True)
max_pool("max1d_ties", 1, (1, 1, 8), 4, stride=2)
max_pool("max2d_plain", 2, (1, 2, 6, 6), 2)
max_pool("max2d_stride_pad_dilation_ceil", 2, (2, 1, 9, 8), (3, 2), stride=(2, 3), padding=(1, 1), dilation=(2, 1), ceil_mode=True)
max_pool("max2d_unbatched", 2, (3, 5, 5), 3, stride=2, padding=1)
max_pool("max3d_ceil_pad", 3, (1, 2, 5, 6, 5), (2, 3, 2), stride=2, padding=(1, 1, 0), ceil_mode=True)
max_pool("max3d_dilation", 3, (1, 1, 6, 6, 6), 2, stride=1, dilation=(1, 2, 3))
max_pool("max_error_pad_over_half_kernel", 1, (1, 1, 9), 2, padding=2, dilation=3)

avg_pool("avg1d_plain", 1, (2, 2, 9), 3)
avg_pool("avg1d_pad_include", 1, (1, 2, 8), 3, stride=2, padding=1)
avg_pool("avg1d_pad_exclude", 1, (1, 2, 8), 3, stride=2, padding=1, count_include_pad=False)
avg_pool("avg1d_ceil_overhang", 1, (1, 1, 7), 2, stride=3, ceil_mode=True)
avg_pool("avg1d_ceil_pad_include", 1, (1, 1, 10), 4, stride=3, padding=2, ceil_mode=True)
avg_pool("avg1d_ceil_pad_exclude", 1, (1, 1, 10), 4, stride=3, padding=2, ceil_mode=True, count_include_pad=False)
avg_pool("avg2d_pad_ceil_include", 2, (1, 2, 7, 6), 3, stride=2, padding=1, ceil_mode=True)
avg_pool("avg2d_pad_ceil_exclude", 2, (1, 2, 7, 6), 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
avg_pool("avg2d_divisor_override", 2, (2, 1, 6, 7), (2, 3), stride=(2, 2), padding=(1, 1), divisor_override=5)
avg_pool("avg2d_divisor_override_ceil", 2, (1, 1, 5, 5), 2, stride=2, ceil_mode=True, divisor_override=3)
avg_pool("avg3d_pad_include", 3, (1, 2, 4, 5, 4), (2, 3, 2), stride=(2, 2, 1), padding=(1, 1, 0))
avg_pool("avg3d_ceil_exclude_override", 3, (1, 1, 5, 4, 5), 2, stride=2, padding=1, ceil_mode=True, count_include_pad=False, divisor_override=7)
avg_pool("avg_error_pad_over_half_kernel", 1, (1, 1, 9), 2, padding=2)

for name, rank, shape, out in [("aavg1d_5_to_3", 1, (2, 2, 5), 3), ("aavg1d_3_to_5", 1, (1, 1, 3), 5),
                               ("aavg2d_7x5_to_3x2", 2, (1, 2, 7, 5), (3, 2)), ("aavg3d", 3, (1, 1, 5, 4, 7), (2, 3, 4)),
                               ("aavg2d_global", 2, (2, 3, 4, 5), 1)]:
    x = ints(shape) * SCALE
    fn = [None, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d][rank]
    record("adaptive_avg_pool", name, lambda: fn(t(x), out), {"output_size": out}, x=x)
for name, rank, shape, out in [("amax1d_7_to_3", 1, (2, 2, 7), 3), ("amax1d_2_to_5", 1, (1, 1, 2), 5),
                               ("amax2d_5x7_to_2x3", 2, (1, 2, 5, 7), (2, 3)), ("amax3d", 3, (1, 1, 4, 5, 3), (3, 2, 2))]:
    x = ints(shape, -3, 4)  # many ties
    fn = [None, F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d][rank]

    def run(fn=fn, x=x, out=out):
        y, i = fn(t(x), out, return_indices=True)
        return {"expected": y, "indices": i}
    record("adaptive_max_pool", name, run, {"output_size": out}, x=x)

# ceil_mode output sizes that frameworks got wrong, with PyTorch's answer.
for length, k, s, p in [(32, 1, 2, 0), (5, 2, 2, 1), (9, 4, 4, 2), (6, 1, 2, 0), (7, 2, 3, 0)]:
    x = np.arange(length, dtype=np.float64).reshape(1, 1, length)
    record("ceil_size", f"ceil_L{length}_k{k}_s{s}_p{p}",
           lambda x=x, k=k, s=s, p=p: F.max_pool1d(t(x), k, stride=s, padding=p, ceil_mode=True),
           {"kernel_size": k, "stride": s, "padding": p}, x=x)
record("avg_pool", "avg_issue_example_0_to_6", lambda: F.avg_pool1d(t(np.arange(7.0).reshape(1, 1, 7) * 2), 2, stride=3, ceil_mode=True),
       {"kernel_size": 2, "stride": 3, "padding": 0, "ceil_mode": True, "count_include_pad": True, "divisor_override": None},
       x=np.arange(7.0).reshape(1, 1, 7) * 2)

# The issue's example itself, unscaled: 0.5, 3.5 and 6.0 are exact binary floats.
issue_example = F.avg_pool1d(t(np.arange(7.0).reshape(1, 1, 7)), 2, stride=3, ceil_mode=True)
cases.append({"kind": "avg_pool_float", "name": "AvgPool1d(2, stride=3, ceil_mode=True) on 0..6",
              "x": tensor(np.arange(7.0).reshape(1, 1, 7)),
              "expected_float": [float(v) for v in issue_example.reshape(-1)]})

# ------------------------------------------------------------ gradients
def conv_grad(name, rank, n, cin, cout, spatial, kernel, stride=1, padding=0, dilation=1, groups=1,
              padding_mode="zeros"):
    x = ints((n, cin) + tuple(spatial))
    w = ints((cout, cin // groups) + tuple(kernel))
    b = ints((cout,))
    args = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
            "padding_mode": padding_mode}

    def run():
        module = [None, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d][rank](
            cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
            padding_mode=padding_mode, dtype=torch.float64)
        with torch.no_grad():
            module.weight.copy_(t(w))
            module.bias.copy_(t(b))
        xt = t(x).clone().requires_grad_(True)
        y = module(xt)
        g = t(ints(tuple(y.shape)))
        y.backward(g)
        return {"g": g, "grad_input": xt.grad, "grad_weight": module.weight.grad, "grad_bias": module.bias.grad}
    record("conv_grad", name, run, args, x=x, w=w)


conv_grad("g1d_plain", 1, 2, 2, 3, [7], [3])
conv_grad("g1d_stride2_pad2_dilation2_groups2", 1, 1, 4, 2, [11], [3], stride=2, padding=2, dilation=2, groups=2)
conv_grad("g2d_plain", 2, 1, 2, 2, [5, 5], [3, 3])
conv_grad("g2d_stride_pad_dilation", 2, 2, 2, 3, [8, 7], [3, 2], stride=(2, 3), padding=(1, 2), dilation=(2, 1))
conv_grad("g2d_groups2_stride2", 2, 1, 4, 4, [6, 7], [3, 3], stride=2, padding=1, groups=2)
conv_grad("g2d_depthwise_dilated", 2, 1, 3, 6, [7, 6], [2, 3], dilation=2, groups=3, padding=(1, 0))
conv_grad("g2d_leftover_rows", 2, 1, 1, 2, [8, 9], [3, 3], stride=3)
conv_grad("g2d_same", 2, 1, 2, 2, [5, 6], [2, 3], padding="same")
conv_grad("g2d_reflect", 2, 1, 2, 2, [5, 6], [3, 3], padding=2, padding_mode="reflect", stride=2)
conv_grad("g2d_circular_groups", 2, 1, 2, 2, [4, 5], [3, 2], padding=(1, 2), padding_mode="circular", groups=2)
conv_grad("g2d_replicate_dilated", 2, 1, 1, 2, [5, 5], [2, 2], padding=1, padding_mode="replicate", dilation=2)
conv_grad("g3d_stride_groups", 3, 1, 2, 2, [4, 5, 4], [2, 2, 2], stride=(1, 2, 2), padding=1, groups=2)


def pool_grad(name, kind, rank, shape, kernel, stride=None, padding=0, dilation=1, ceil_mode=False,
              count_include_pad=True, divisor_override=None):
    x = ints(shape, -3, 4)
    args = {"kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation,
            "ceil_mode": ceil_mode, "count_include_pad": count_include_pad, "divisor_override": divisor_override}

    def run():
        xt = t(x).clone().requires_grad_(True)
        if kind == "max":
            fn = [None, F.max_pool1d, F.max_pool2d, F.max_pool3d][rank]
            y = fn(xt, kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
            g = t(ints(tuple(y.shape)))
        else:
            fn = [None, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d][rank]
            kw = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
            if rank > 1:
                kw["divisor_override"] = divisor_override
            y = fn(xt, kernel, **kw)
            g = t(ints(tuple(y.shape)) * SCALE)
        y.backward(g)
        return {"g": g, "grad_input": xt.grad}
    record(f"{kind}_pool_grad", name, run, args, x=x)


pool_grad("gmax1d_overlapping_ties", "max", 1, (1, 2, 9), 3, stride=1, padding=1)
pool_grad("gmax2d_ceil_dilation", "max", 2, (1, 1, 7, 8), (2, 3), stride=2, padding=1, dilation=(2, 1), ceil_mode=True)
pool_grad("gmax3d", "max", 3, (1, 1, 4, 4, 5), 2, stride=(1, 2, 2))
pool_grad("gavg1d_pad_ceil_include", "avg", 1, (1, 2, 9), 3, stride=2, padding=1, ceil_mode=True)
pool_grad("gavg2d_pad_exclude", "avg", 2, (1, 1, 6, 7), 3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)
pool_grad("gavg2d_override", "avg", 2, (2, 1, 5, 6), (2, 3), stride=1, padding=(1, 1), divisor_override=4)
pool_grad("gavg3d_overlap", "avg", 3, (1, 1, 4, 5, 4), 2, stride=1, padding=1)


# ------------------------------------------------------------ unfold / fold
def unfold_case(name, shape, kernel, dilation=1, padding=0, stride=1):
    x = ints(shape)
    args = {"kernel_size": kernel, "dilation": dilation, "padding": padding, "stride": stride}
    record("unfold", name, lambda: F.unfold(t(x), kernel, dilation=dilation, padding=padding, stride=stride), args, x=x)


def fold_case(name, shape, output_size, kernel, dilation=1, padding=0, stride=1):
    x = ints(shape)
    args = {"output_size": output_size, "kernel_size": kernel, "dilation": dilation, "padding": padding, "stride": stride}
    record("fold", name, lambda: F.fold(t(x), output_size, kernel, dilation=dilation, padding=padding, stride=stride), args, x=x)


unfold_case("unfold_plain", (2, 2, 4, 5), 2)
unfold_case("unfold_everything", (1, 3, 7, 6), (3, 2), dilation=(2, 1), padding=(1, 2), stride=(2, 3))
unfold_case("unfold_unbatched", (2, 5, 5), 3, padding=1, stride=2)
fold_case("fold_plain", (2, 2 * 4, 12), (4, 5), 2)
fold_case("fold_everything", (1, 3 * 6, 9), (7, 6), (3, 2), dilation=(2, 1), padding=(1, 2), stride=(2, 3))
fold_case("fold_unbatched_overlap", (2 * 9, 9), (5, 5), 3, padding=1, stride=2)
fold_case("fold_error_blocks", (1, 8, 11), (4, 5), 2)

versions = {"python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__}
how = ("generated by scripts/make_layer_fixtures.py with the libraries named in 'versions'; small-integer "
       f"float64 data (averages scaled by {SCALE}), so every result is exact")
with open("tests/fixtures/torch_layers.json", "w") as f:
    json.dump({"how": how, "versions": versions, "scale": SCALE, "cases": cases}, f, separators=(",", ":"))
kinds = {}
for c in cases:
    kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
print(len(cases), kinds)
print([(c["name"], c["error"]) for c in cases if c.get("expected", 0) is None])
