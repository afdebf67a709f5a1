"""Generates the small layer bundled with `convspec demo` (examples/data/layer_*.npy).

Run once with NumPy (not by CI):  python scripts/make_example_data.py
x: (1, 2, 4, 4) float32, two-decimal values (so they are not dyadic: 0.37 in float32 is
   12415139/33554432, which the demo shows exactly); w: (3, 2, 3, 3) float32 multiples of 1/4;
b: (3,) float32.
"""
import numpy as np

rng = np.random.default_rng(20261127)
x = np.round(rng.uniform(-1, 1, size=(1, 2, 4, 4)), 2).astype(np.float32)
w = (rng.integers(-4, 5, size=(3, 2, 3, 3)) / 4).astype(np.float32)
b = np.array([0.5, -0.25, 0.1], dtype=np.float32)
np.save("examples/data/layer_x.npy", x)
np.save("examples/data/layer_w.npy", w)
np.save("examples/data/layer_b.npy", b)
