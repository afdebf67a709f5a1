"""Peers of `convspec bench` on the same layers, for side-by-side figures (run both in one
session, one after the other; CI never runs this).

* PyTorch CPU (oneDNN) torch.nn.functional.conv2d in float32, at 1 and 2 threads, on the
  anchor script's five ResNet-50 layers and the depthwise layer;
* ONNX Runtime: scripts/anchors/conv2d_onnxruntime.py (run separately, same rule);
* 1-D: np.convolve, scipy.signal.fftconvolve and oaconvolve in float32 and float64 at the
  issue's sizes.

Rule (the anchor script's): 3 warm-ups, median of 10 runs; GFLOP/s as direct-convolution flops.
Setup: python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch numpy scipy
Run:   /tmp/peers/bin/python scripts/bench_float_peers.py [--json]
"""
import argparse, json, time

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--json", action="store_true")
args = ap.parse_args()

def report(row):
    print(json.dumps(row) if args.json else " ".join(f"{k}={v}" for k, v in row.items()), flush=True)

def median_ms(f):
    for _ in range(3):
        f()
    ts = []
    for _ in range(10):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e3

import torch
import torch.nn.functional as F
LAYERS = [  # name, C_in, HW, C_out, k, stride, pad, groups
    ("resnet50_conv2_3x3", 64, 56, 64, 3, 1, 1, 1),
    ("resnet50_conv3_3x3", 128, 28, 128, 3, 1, 1, 1),
    ("resnet50_conv4_3x3", 256, 14, 256, 3, 1, 1, 1),
    ("resnet50_stem_7x7s2", 3, 224, 64, 7, 2, 3, 1),
    ("resnet50_conv2_1x1", 256, 56, 64, 1, 1, 0, 1),
    ("mobilenet_depthwise_3x3", 128, 56, 128, 3, 1, 1, 128),
]
rng = np.random.default_rng(0)
for threads in (1, 2):
    torch.set_num_threads(threads)
    for name, c, hw, k_out, k, s, p, g in LAYERS:
        x = torch.from_numpy(rng.random((1, c, hw, hw), dtype=np.float32))
        w = torch.from_numpy(rng.random((k_out, c // g, k, k), dtype=np.float32))
        with torch.no_grad():
            ms = median_ms(lambda: F.conv2d(x, w, stride=s, padding=p, groups=g))
            out = F.conv2d(x, w, stride=s, padding=p, groups=g)
        flops = 2 * k_out * out.shape[2] * out.shape[3] * (c // g) * k * k
        report({"engine": "torch " + torch.__version__, "shape": name, "dtype": "float32",
                "threads": threads, "ms": round(ms, 3), "gflops": round(flops / ms / 1e6, 1)})

import scipy, scipy.signal
for n, k in [(1_000_000, 9), (1_000_000, 1001), (100_000, 10001)]:
    for dtype in (np.float32, np.float64):
        a = rng.random(n).astype(dtype); v = rng.random(k).astype(dtype)
        for label, f in [("np.convolve", lambda: np.convolve(a, v)),
                         ("scipy fftconvolve", lambda: scipy.signal.fftconvolve(a, v)),
                         ("scipy oaconvolve", lambda: scipy.signal.oaconvolve(a, v))]:
            if label == "np.convolve" and k > 1001 and n * k > 5e8:
                pass
            ms = median_ms(f)
            report({"engine": label + (" numpy " + np.__version__ if label.startswith("np") else " scipy " + scipy.__version__),
                    "shape": f"signal_{'1e6' if n == 1_000_000 else '1e5'}_k{k}", "dtype": np.dtype(dtype).name,
                    "threads": 1, "ms": round(ms, 3), "gflops": round(2 * n * k / ms / 1e6, 1)})
