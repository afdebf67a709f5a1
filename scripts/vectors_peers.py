#!/usr/bin/env python3
"""Run a `convspec vectors` suite through PyTorch, NumPy/SciPy and ONNX Runtime.

Documentation only: CI never runs this (the crate is pure Rust). It shows how another
implementation reads a case (the manifest names every call and its arguments) and reports, per
case, how far each library's output is from the correctly rounded exact output, in units in the
last place (ulps) of float64 (PyTorch, NumPy, SciPy in double precision) and of float32 (ONNX
Runtime, whose CPU kernels are float32).

    cargo run --release -- vectors --out /tmp/vectors
    python3 scripts/vectors_peers.py /tmp/vectors        # needs numpy; torch, scipy, onnx,
                                                         # onnxruntime where installed
    python3 scripts/vectors_peers.py /tmp/vectors target/release/convspec
        # also: PyTorch's float32 output of each case judged by the oracle (the manifest's
        # convspec_check line, --precision fp32)

A float64 result that is not correctly rounded is not wrong: it is judged by the oracle,
`convspec check ... --precision fp64` (the manifest's `convspec_check` line). This script only
counts ulps.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def ulps(a, b):
    """Largest distance in ulps between two float arrays of the same dtype."""
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    if a.shape != b.shape:
        return f"shape {a.shape} != {b.shape}"
    itype = {np.float64: np.int64, np.float32: np.int32}[a.dtype.type]
    ai, bi = a.view(itype).astype(np.int64), b.view(itype).astype(np.int64)
    # Ordered keys: negative floats count downwards from zero.
    key = lambda v: np.where(v < 0, -(v & np.int64(np.iinfo(itype).max)), v)
    return int(np.max(np.abs(key(ai) - key(bi)))) if a.size else 0


def load(case_dir, entry, dtype):
    return {i["name"]: np.load(case_dir / i["npy"]).astype(dtype) for i in entry["inputs"]}


def run_torch(entry, inputs):
    import torch
    import torch.nn.functional as F

    call = entry["pytorch"]
    fn = getattr(F, call["function"].rsplit(".", 1)[1])
    kwargs = dict(call["kwargs"])
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    if "backward" in call:
        x = t["input"].clone().requires_grad_()
        w = t["weight"].clone().requires_grad_()
        b = torch.zeros(w.shape[0], dtype=w.dtype, requires_grad=True)
        xin = F.pad(x, call["pad"]["pad"], mode=call["pad"]["mode"]) if "pad" in call else x
        fn(xin, w, b, **kwargs).backward(t["grad_output"])
        return {"grad_input": x.grad, "grad_weight": w.grad, "grad_bias": b.grad}
    args = [t[name] for name in call["args"]]
    if "pad" in call:
        args[0] = F.pad(args[0], call["pad"]["pad"], mode=call["pad"]["mode"])
    if call.get("flip_weight"):
        args[1] = args[1].flip(list(range(2, args[1].dim())))
    out = fn(*args, **kwargs)
    if isinstance(out, tuple):
        return {"output": out[0], "indices": out[1]}
    return {"output": out}


def run_numpy_scipy(entry, inputs):
    call = entry.get("numpy") or entry.get("scipy")
    module, name = call["function"].rsplit(".", 1)
    if module == "numpy":
        fn = getattr(np, name)
    else:
        import scipy.signal

        fn = getattr(scipy.signal, name)
    return {"output": fn(*[inputs[a] for a in call["args"]], **call["kwargs"])}


def run_onnx(entry, inputs):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    graph = entry["onnx"]
    nodes, initializers = [], []
    for node in graph["nodes"]:
        for name, value in node.get("constants", {}).items():
            initializers.append(numpy_helper.from_array(np.array(value, dtype=np.int64), name))
        nodes.append(helper.make_node(node["op_type"], node["inputs"], node["outputs"], **node["attributes"]))
    feeds = {name: inputs[name] for name in inputs if any(name in n["inputs"] for n in graph["nodes"])}
    model = helper.make_model(
        helper.make_graph(
            nodes,
            entry["name"],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, v.shape) for n, v in feeds.items()],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, entry["outputs"][0]["shape"])],
            initializers,
        ),
        opset_imports=[helper.make_opsetid("", graph["opset"])],
    )
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return {"output": session.run(["output"], feeds)[0]}


def compare(case_dir, entry, results, width):
    worst = 0
    for out in entry["outputs"]:
        got = results.get(out["name"])
        if got is None:
            continue
        got = got.detach().numpy() if hasattr(got, "detach") else np.asarray(got)
        if "npy" in out:  # indices: exact
            d = 0 if np.array_equal(got, np.load(case_dir / out["npy"])) else "indices differ"
        else:
            d = ulps(got, np.load(case_dir / out[width]))
        if isinstance(d, str):
            return d
        worst = max(worst, d)
    return worst


def oracle(convspec, case_dir, entry):
    """PyTorch's float32 output judged by `convspec check --precision fp32`: PASS or FAIL."""
    results = run_torch(entry, load(case_dir, entry, np.float32))
    line = []
    for arg in entry["convspec_check"][1:]:
        if arg.startswith("<") and arg.endswith(".npy>"):
            name = "output" if arg == "<candidate.npy>" else arg[1:-5]
            np.save(case_dir / f"torch_{name}.npy", results[name].detach().numpy())
            arg = f"torch_{name}.npy"
        line.append("fp32" if arg.startswith("<fp64") else arg)
    run = subprocess.run([convspec] + line, cwd=case_dir, capture_output=True, text=True)
    return {0: "PASS", 1: "FAIL"}.get(run.returncode, f"error {run.returncode}")


def main(suite, convspec=None):
    manifest = json.loads((suite / "manifest.json").read_text())
    print(f"{'case':34} {'library (float64)':18} {'ulps':>5}   {'ONNX Runtime (float32)':>22}"
          + ("   torch fp32 by the oracle" if convspec else ""))
    for entry in manifest["cases"]:
        case_dir = suite / entry["name"]
        if "pytorch" in entry and entry["pytorch"]:
            library = "pytorch"
            try:
                results = run_torch(entry, load(case_dir, entry, np.float64))
            except ImportError:
                results, library = None, "pytorch (missing)"
        else:
            library = "numpy" if "numpy" in entry else "scipy"
            results = run_numpy_scipy(entry, load(case_dir, entry, np.float64))
        d = compare(case_dir, entry, results, "float64") if results else "-"
        onnx_d = "-"
        if entry.get("onnx"):
            try:
                onnx_d = compare(case_dir, entry, run_onnx(entry, load(case_dir, entry, np.float32)), "float32")
            except ImportError:
                onnx_d = "(onnxruntime missing)"
            except Exception as e:  # a runtime that refuses the node says so here
                onnx_d = f"refused: {str(e).splitlines()[0][:60]}"
        verdict = ""
        if convspec and library == "pytorch" and entry.get("convspec_check"):
            verdict = "   " + oracle(convspec, case_dir, entry)
        print(f"{entry['name']:34} {library:18} {d!s:>5}   {onnx_d!s:>22}{verdict}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "vectors"),
         str(Path(sys.argv[2]).resolve()) if len(sys.argv) > 2 else None)
