"""Generates tests/fixtures/onnx_layers.json with ONNX Runtime: ConvTranspose with output_shape
and auto_pad (the pads derived from the requested shape), and MaxPool's Indices output.

Run once (not by CI), in a virtual environment outside the repository:
    python -m venv /tmp/venv && /tmp/venv/bin/pip install numpy onnx onnxruntime
    /tmp/venv/bin/python scripts/make_onnx_fixtures.py

Data are small integers in float32; every sum stays far below 2^24, so the results are exact.
The ONNX reference evaluator (onnx.reference) is run on every case too: the fixture records
whether it agrees with ONNX Runtime and, for ConvTranspose, its output ("reference"). Where they
differ (SAME_* asking for more than the uncropped output: ONNX Runtime stops at the uncropped
size), the reference evaluator follows the operator's definition, and convspec follows it.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

rng = np.random.default_rng(2026_11_29)
OPSET = 22


def tensor(a):
    a = np.asarray(a)
    assert np.all(a == np.round(a))
    return {"shape": list(a.shape), "data": [int(v) for v in a.reshape(-1)]}


def ints(shape):
    return rng.integers(-4, 5, size=shape).astype(np.float32)


def run(node, inputs, outputs):
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in inputs.items()],
        [helper.make_tensor_value_info(n, t, None) for n, t in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10  # what this ONNX Runtime reads
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, inputs)
    try:
        ref = ReferenceEvaluator(model).run(None, inputs)
        agrees = all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(got, ref))
        reference = tensor(ref[0])
    except Exception as e:  # noqa: BLE001
        agrees = f"reference evaluator failed: {e}".splitlines()[0]
        reference = None
    return got, (agrees, reference)


cases = []


def conv_transpose(name, n, cin, cout, spatial, kernel, group=1, **attrs):
    x = ints((n, cin) + tuple(spatial))
    w = ints((cin, cout // group) + tuple(kernel))
    node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], group=group, **attrs)
    (y,), (agrees, reference) = run(node, {"X": x, "W": w}, [("Y", TensorProto.FLOAT)])
    cases.append({"kind": "conv_transpose", "name": name, "attrs": {"group": group, **attrs},
                  "x": tensor(x), "w": tensor(w), "expected": tensor(y), "reference_agrees": agrees,
                  "reference": reference})


conv_transpose("output_shape_notset", 1, 1, 2, [3], [3], strides=[2], output_shape=[6])
conv_transpose("output_shape_same_upper", 1, 1, 2, [3], [3], strides=[2], output_shape=[6], auto_pad="SAME_UPPER")
conv_transpose("auto_pad_same_upper", 1, 2, 2, [4], [4], strides=[3], auto_pad="SAME_UPPER")
conv_transpose("auto_pad_same_lower", 1, 2, 2, [4], [4], strides=[3], auto_pad="SAME_LOWER")
conv_transpose("auto_pad_same_upper_2d", 1, 1, 2, [3, 4], [3, 2], strides=[2, 3], auto_pad="SAME_UPPER")
conv_transpose("auto_pad_same_lower_2d_dilated", 1, 2, 2, [3, 3], [2, 3], strides=[2, 2], dilations=[2, 1], auto_pad="SAME_LOWER")
conv_transpose("output_shape_2d_output_padding", 1, 2, 4, [3, 3], [3, 3], strides=[2, 2], output_padding=[1, 1], output_shape=[5, 6], group=2)
conv_transpose("pads_asymmetric", 1, 1, 2, [4, 3], [3, 3], strides=[2, 1], pads=[1, 0, 0, 2])


def conv(name, n, cin, cout, spatial, kernel, group=1, **attrs):
    x = ints((n, cin) + tuple(spatial))
    w = ints((cout, cin // group) + tuple(kernel))
    node = helper.make_node("Conv", ["X", "W"], ["Y"], group=group, **attrs)
    (y,), (agrees, _) = run(node, {"X": x, "W": w}, [("Y", TensorProto.FLOAT)])
    cases.append({"kind": "conv", "name": name, "attrs": {"group": group, **attrs},
                  "x": tensor(x), "w": tensor(w), "expected": tensor(y), "reference_agrees": agrees})


conv("conv_same_upper_stride2", 1, 2, 2, [7], [4], strides=[2], auto_pad="SAME_UPPER")
conv("conv_same_lower_stride2", 1, 2, 2, [7], [4], strides=[2], auto_pad="SAME_LOWER")
conv("conv_same_upper_2d", 1, 1, 2, [6, 7], [3, 2], strides=[3, 2], auto_pad="SAME_UPPER")  # ORT refuses dilation with SAME_*
conv("conv_same_lower_2d_groups", 2, 4, 2, [5, 6], [2, 3], strides=[2, 1], group=2, auto_pad="SAME_LOWER")
conv("conv_valid_strided", 1, 1, 1, [8, 9], [3, 3], strides=[2, 3], auto_pad="VALID")
conv("conv_pads_asymmetric", 1, 2, 3, [5, 5], [3, 3], pads=[2, 0, 1, 1], strides=[2, 2])


def max_pool(name, shape, **attrs):
    x = ints(shape)
    node = helper.make_node("MaxPool", ["X"], ["Y", "I"], **attrs)
    (y, i), (agrees, _) = run(node, {"X": x}, [("Y", TensorProto.FLOAT), ("I", TensorProto.INT64)])
    cases.append({"kind": "max_pool", "name": name, "attrs": attrs, "x": tensor(x),
                  "expected": tensor(y), "indices": tensor(i), "reference_agrees": agrees})


max_pool("maxpool_2d_batch_channels", (2, 3, 5, 5), kernel_shape=[2, 2], strides=[2, 2])
max_pool("maxpool_2d_ceil_pads", (1, 2, 6, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
max_pool("maxpool_1d_dilated", (2, 2, 9), kernel_shape=[2], strides=[1], dilations=[3])
max_pool("maxpool_2d_asymmetric_pads", (1, 1, 5, 6), kernel_shape=[3, 2], strides=[1, 2], pads=[1, 0, 0, 1])

versions = {"python": sys.version.split()[0], "numpy": np.__version__, "onnx": onnx.__version__,
            "onnxruntime": ort.__version__, "opset": OPSET}
how = "generated by scripts/make_onnx_fixtures.py with ONNX Runtime (CPU); small-integer float32 data, exact"
with open("tests/fixtures/onnx_layers.json", "w") as f:
    json.dump({"how": how, "versions": versions, "cases": cases}, f, separators=(",", ":"))
print(len(cases), [(c["name"], c["reference_agrees"]) for c in cases])
