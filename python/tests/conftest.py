"""Shared helpers: the command line to compare with, and the repository's fixtures."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli():
    """Runs the `convspec` command line (CONVSPEC_BIN, else the cargo build in target/)."""
    candidates = [os.environ.get("CONVSPEC_BIN")] + [
        str(REPO / "target" / profile / "convspec") for profile in ("release", "debug")
    ]
    binary = next((c for c in candidates if c and os.path.exists(c)), None)
    assert binary, "build the command line first (cargo build), or set CONVSPEC_BIN"

    def run(*args):
        done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


@pytest.fixture
def npy(tmp_path):
    """Saves arrays as .npy files in a fresh directory: npy(name=array) -> {name: path}."""
    def save(**arrays):
        paths = {}
        for name, array in arrays.items():
            path = tmp_path / f"{name}.npy"
            np.save(path, array)
            paths[name] = path
        return paths
    save.dir = tmp_path
    return save


def quarters(rng, shape, dtype=np.float32):
    """Values k/4 for k in [-12, 12]: exact in every float format, sums exact too."""
    return (rng.integers(-12, 13, size=shape) / 4).astype(dtype)


FIXTURES = REPO / "tests" / "fixtures" / "cudnn-h100"
