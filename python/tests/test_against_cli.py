"""Every operator against the command line on random cases: the same exact result, correctly
rounded to float64 by both, bit for bit."""

import numpy as np
import pytest

import convspec

from conftest import quarters

SEEDS = range(4)


def cli_output(cli, npy, command, inputs, flags):
    """The command line's float64 output of `command` on `inputs` (flag -> array)."""
    paths = npy(**{name: array for name, array in inputs.items()})
    out = npy.dir / "out.npy"
    args = list(command)
    for name, path in paths.items():
        args += [f"--{name.replace('_', '-')}", path]
    for flag, value in flags.items():
        args += [f"--{flag}", value]
    cli(*args, "--output", out, "--output-dtype", "float64")
    return np.load(out)


def same(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.array_equal(a.view(np.uint64), b.astype(np.float64).view(np.uint64)), (a, b)


@pytest.mark.parametrize("seed", SEEDS)
def test_conv2d(cli, npy, seed):
    rng = np.random.default_rng(seed)
    groups = int(rng.integers(1, 3))
    x = quarters(rng, (2, 2 * groups, 7, 6))
    w = quarters(rng, (3 * groups, 2, 3, 2))
    b = quarters(rng, (3 * groups,))
    stride, padding, dilation = (2, 1), (1, 2), (1, 2)
    mode = ["zeros", "reflect", "replicate", "circular"][seed]
    ours = convspec.conv2d(x, w, b, stride, padding, dilation, groups, mode, dtype="float64")
    theirs = cli_output(cli, npy, ["correlate"], dict(input=x, weight=w, bias=b), {
        "stride": "2,1", "padding": "1,2", "dilation": "1,2", "groups": groups,
        "padding-mode": mode})
    same(ours, theirs)


@pytest.mark.parametrize("seed", SEEDS)
def test_conv_transpose1d(cli, npy, seed):
    rng = np.random.default_rng(10 + seed)
    x = quarters(rng, (1, 2, 9))
    w = quarters(rng, (2, 3, 4))
    b = quarters(rng, (3,))
    ours = convspec.conv_transpose1d(x, w, b, stride=3, padding=2, output_padding=1,
                                     dilation=1, dtype="float64")
    theirs = cli_output(cli, npy, ["conv-transpose"], dict(input=x, weight=w, bias=b), {
        "stride": 3, "padding": 2, "output-padding": 1})
    same(ours, theirs)


@pytest.mark.parametrize("seed", SEEDS)
def test_pools(cli, npy, seed):
    rng = np.random.default_rng(20 + seed)
    x = quarters(rng, (2, 3, 9, 8))
    ceil = bool(seed % 2)
    same(convspec.max_pool2d(x, 3, 2, 1, dilation=1, ceil_mode=ceil, dtype="float64"),
         cli_output(cli, npy, ["pool", "max"], dict(input=x), {
             "kernel-size": 3, "stride": 2, "padding": 1, "ceil-mode": str(ceil).lower()}))
    same(convspec.avg_pool2d(x, 3, 2, 1, ceil_mode=ceil, count_include_pad=False,
                             dtype="float64"),
         cli_output(cli, npy, ["pool", "avg"], dict(input=x), {
             "kernel-size": 3, "stride": 2, "padding": 1, "ceil-mode": str(ceil).lower(),
             "count-include-pad": "false"}))
    same(convspec.adaptive_avg_pool2d(x, (4, 3), dtype="float64"),
         cli_output(cli, npy, ["pool", "adaptive-avg"], dict(input=x), {"output-size": "4,3"}))
    same(convspec.adaptive_max_pool2d(x, (2, 5), dtype="float64"),
         cli_output(cli, npy, ["pool", "adaptive-max"], dict(input=x), {"output-size": "2,5"}))


@pytest.mark.parametrize("seed", SEEDS)
def test_unfold_and_fold(cli, npy, seed):
    rng = np.random.default_rng(30 + seed)
    x = quarters(rng, (2, 2, 5, 6))
    ours = convspec.unfold(x, (2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1),
                           dtype="float64")
    theirs = cli_output(cli, npy, ["unfold"], dict(input=x), {
        "kernel-size": "2,3", "dilation": "1,2", "padding": "1,0", "stride": "2,1"})
    same(ours, theirs)
    cols = quarters(rng, ours.shape)
    same(convspec.fold(cols, (5, 6), (2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1),
                       dtype="float64"),
         cli_output(cli, npy, ["fold"], dict(input=cols), {
             "output-size": "5,6", "kernel-size": "2,3", "dilation": "1,2",
             "padding": "1,0", "stride": "2,1"}))


@pytest.mark.parametrize("seed", SEEDS)
def test_gradients(cli, npy, seed):
    rng = np.random.default_rng(40 + seed)
    x = quarters(rng, (2, 4, 7, 5))
    w = quarters(rng, (6, 2, 3, 3))
    g = quarters(rng, (2, 6, 4, 3))
    ours = convspec.conv2d_grad(x, w, g, stride=2, padding=1, groups=2, dtype="float64")
    paths = npy(input=x, weight=w, grad_output=g)
    outs = [npy.dir / f"{n}.out.npy" for n in ("gi", "gw", "gb")]
    cli("grad", "--input", paths["input"], "--weight", paths["weight"], "--grad-output",
        paths["grad_output"], "--stride", 2, "--padding", 1, "--groups", 2,
        "--grad-input", outs[0], "--grad-weight", outs[1], "--grad-bias", outs[2],
        "--output-dtype", "float64")
    for mine, path in zip(ours, outs):
        same(mine, np.load(path))


@pytest.mark.parametrize("seed", SEEDS)
def test_numpy_and_scipy_forms(cli, npy, seed):
    rng = np.random.default_rng(50 + seed)
    a, v = quarters(rng, (int(rng.integers(1, 9)),)), quarters(rng, (int(rng.integers(1, 9)),))
    for mode in ("full", "same", "valid"):
        same(convspec.numpy.convolve(a, v, mode, dtype="float64"),
             cli_output(cli, npy, ["convolve"], dict(input=a, weight=v), {"mode": mode}))
        same(convspec.numpy.correlate(a, v, mode, dtype="float64"),
             cli_output(cli, npy, ["correlate"], dict(input=a, weight=v), {"mode": mode}))
    in1, in2 = quarters(rng, (4, 5)), quarters(rng, (3, 2))
    for boundary in ("fill", "wrap", "symm"):
        same(convspec.scipy.correlate2d(in1, in2, "same", boundary, 0.25, dtype="float64"),
             cli_output(cli, npy, ["correlate"], dict(input=in1, weight=in2), {
                 "mode": "same", "boundary": boundary, "fillvalue": "1/4"}))


@pytest.mark.parametrize("rank", [1, 3])
def test_other_ranks(cli, npy, rank):
    rng = np.random.default_rng(60 + rank)
    spatial = (9,) if rank == 1 else (4, 5, 3)
    x = quarters(rng, (2, 2) + spatial)
    w = quarters(rng, (3, 2) + (2,) * rank)
    conv = getattr(convspec, f"conv{rank}d")
    same(conv(x, w, stride=2, padding=1, dtype="float64"),
         cli_output(cli, npy, ["correlate"], dict(input=x, weight=w), {"stride": 2, "padding": 1}))
    wt = quarters(rng, (2, 3) + (2,) * rank)
    transpose = getattr(convspec, f"conv_transpose{rank}d")
    same(transpose(x, wt, stride=2, dtype="float64"),
         cli_output(cli, npy, ["conv-transpose"], dict(input=x, weight=wt), {"stride": 2}))
    max_pool = getattr(convspec, f"max_pool{rank}d")
    same(max_pool(x, 2, dtype="float64"),
         cli_output(cli, npy, ["pool", "max"], dict(input=x), {"kernel-size": 2}))
    avg_pool = getattr(convspec, f"avg_pool{rank}d")
    same(avg_pool(x, 2, padding=1, dtype="float64"),
         cli_output(cli, npy, ["pool", "avg"], dict(input=x), {"kernel-size": 2, "padding": 1}))
    adaptive = getattr(convspec, f"adaptive_avg_pool{rank}d")
    same(adaptive(x, 2, dtype="float64"),
         cli_output(cli, npy, ["pool", "adaptive-avg"], dict(input=x), {"output-size": 2}))
    grad = getattr(convspec, f"conv{rank}d_grad")
    y = conv(x, w)
    g = quarters(rng, y.shape)
    grads = grad(x, w, g, dtype="float64")
    paths = npy(input=x, weight=w, grad_output=g)
    outs = [npy.dir / f"{n}.g.npy" for n in ("gi", "gw", "gb")]
    cli("grad", "--input", paths["input"], "--weight", paths["weight"], "--grad-output",
        paths["grad_output"], "--grad-input", outs[0], "--grad-weight", outs[1],
        "--grad-bias", outs[2], "--output-dtype", "float64")
    for mine, path in zip(grads, outs):
        same(mine, np.load(path))


def test_scipy_casts_the_fill_value_to_the_arrays_dtype(cli, npy):
    # SciPy casts fillvalue to the arrays' dtype: -1.7 fills int64 arrays with -1 (toward
    # zero) and float32 arrays with float32(-1.7); the command line reads the dtype from the
    # files and does the same. (By hand: [1, 2] * [1, 2] full with fill f is [1 + 2 f, 4, 4 + f].)
    a = np.array([[1, 2]])
    assert convspec.scipy.convolve2d(a, a, fillvalue=-1.7).tolist() == [[-1, 4, 3]]
    for dtype in (np.int64, np.float32):
        x = a.astype(dtype)
        same(convspec.scipy.convolve2d(x, x, fillvalue=-1.7, dtype="float64"),
             cli_output(cli, npy, ["convolve"], dict(input=x, weight=x), {
                 "mode": "full", "boundary": "fill", "fillvalue": "-1.7"}))
