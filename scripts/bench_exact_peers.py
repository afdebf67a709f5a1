"""Peers of the fast exact engine, measured on this machine for side-by-side ratios with
`cargo bench --features bench --bench exact` (run both in one session, one after the other).

* PyTorch's float64 CPU convolution of the ResNet-50 conv2 layer (1x64x56x56 input,
  64x64x3x3 weight, padding 1) at 1 and 2 threads: median and minimum of 20 runs after 3 warm-ups.
* FLINT's exact rational polynomial product (python-flint fmpq_poly), i.e. exact 1-D full
  convolution, on float32 data: scripts/anchors/exact1d_flint.py (median of 5).

Setup (outside the repository): python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch numpy python-flint
Run:  /tmp/peers/bin/python scripts/bench_exact_peers.py [--skip-flint]
Prints one JSON object per line.
"""
import argparse, json, os, subprocess, sys, time

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--skip-flint", action="store_true")
ap.add_argument("--skip-torch", action="store_true")
args = ap.parse_args()

if not args.skip_torch:
    import torch

    rng = np.random.default_rng(2026)
    x = torch.from_numpy(rng.standard_normal((1, 64, 56, 56)).astype(np.float32)).double()
    w = torch.from_numpy((rng.uniform(-1, 1, (64, 64, 3, 3)) / 24).astype(np.float32)).double()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for _ in range(3):
            torch.nn.functional.conv2d(x, w, padding=1)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            torch.nn.functional.conv2d(x, w, padding=1)
            times.append(time.perf_counter() - t)
        print(json.dumps({
            "engine": "torch " + torch.__version__ + " float64",
            "shape": "resnet50_conv2_3x3",
            "threads": threads,
            "ms": round(float(np.median(times)) * 1e3, 3),
            "min_ms": round(float(np.min(times)) * 1e3, 3),
        }), flush=True)

if not args.skip_flint:
    here = os.path.dirname(os.path.abspath(__file__))
    anchor = os.path.join(here, "anchors", "exact1d_flint.py")
    subprocess.run([sys.executable, anchor, "--json"], check=True)
