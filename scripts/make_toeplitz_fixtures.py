"""Generates tests/fixtures/scipy_toeplitz.json with the real SciPy.

Run once (not by CI), in a virtual environment outside the repository:
    python -m venv /tmp/venv && /tmp/venv/bin/pip install numpy scipy
    /tmp/venv/bin/python scripts/make_toeplitz_fixtures.py

* scipy.linalg.convolution_matrix(a, n, mode) for every mode, kernel lengths 1..6 and n 1..8
  (kernel longer than n included, where NumPy's argument swap matters);
* scipy.linalg.toeplitz(c, r) with r given (r[0] different from c[0], to show it is ignored),
  r omitted (symmetric), and non-square shapes;
* the 1-D "toeplitz matrix times x equals np.convolve" consistency, recorded as the product.

All values are small integers stored as float64: every result is exact.
"""
import json

import numpy as np
import scipy
from scipy.linalg import convolution_matrix, toeplitz

rng = np.random.default_rng(2026_11_27_4)


def ints(n, lo=-5, hi=6):
    return rng.integers(lo, hi, size=n).astype(np.float64)


def matrix(m):
    m = np.asarray(m)
    assert np.all(m == np.round(m))
    return {"shape": list(m.shape), "data": [int(v) for v in m.reshape(-1)]}


def vector(v):
    return [int(x) for x in v]


cases_cm = []
for m in range(1, 7):
    for n in range(1, 9):
        a = ints(m)
        for mode in ["full", "same", "valid"]:
            A = convolution_matrix(a, n, mode)
            x = ints(n)
            assert np.array_equal(A @ x, np.convolve(a, x, mode))
            cases_cm.append({"a": vector(a), "n": n, "mode": mode, "matrix": matrix(A)})

cases_tp = []
for rows in range(1, 6):
    for cols in range(1, 6):
        c, r = ints(rows), ints(cols)
        if r[0] == c[0]:
            r[0] = c[0] + 1
        cases_tp.append({"c": vector(c), "r": vector(r), "matrix": matrix(toeplitz(c, r))})
    c = ints(rows)
    cases_tp.append({"c": vector(c), "r": None, "matrix": matrix(toeplitz(c))})

out = {
    "produced_by": "scripts/make_toeplitz_fixtures.py",
    "versions": {"numpy": np.__version__, "scipy": scipy.__version__},
    "convolution_matrix": cases_cm,
    "toeplitz": cases_tp,
}
with open("tests/fixtures/scipy_toeplitz.json", "w") as f:
    json.dump(out, f, separators=(",", ":"))
print(len(cases_cm), "convolution_matrix cases,", len(cases_tp), "toeplitz cases")
