"""The oracle through the Python API: real cuDNN outputs (an H100 through PyTorch 2.11, the
repository's tests/fixtures/cudnn-h100, see capture.json there), tampered candidates, and
`assert_legal`'s message."""

import json

import numpy as np
import pytest

import convspec
from convspec.testing import assert_legal

from conftest import FIXTURES, quarters

KWARGS = json.loads((FIXTURES / "capture.json").read_text())["cases"]


def load(case, name):
    return np.load(FIXTURES / case / f"{name}.npy")


def conv(case):
    x, w = load(case, "x"), load(case, "w")
    op = "conv1d" if x.ndim == 3 else "conv2d"
    return op, x, w, KWARGS[case]["kwargs"]


def test_cudnn_tf32_fails_fp32_and_passes_tf32():
    op, x, w, kwargs = conv("resnet3x3")
    tf32 = load("resnet3x3", "y_tf32")
    as_fp32 = convspec.check(tf32, op, x, w, precision="fp32", threads=2, **kwargs)
    assert not as_fp32.passed and as_fp32.share_over > 0.01, as_fp32
    as_tf32 = convspec.check(tf32, op, x, w, precision="tf32", threads=2, **kwargs)
    assert as_tf32.passed, as_tf32
    assert as_tf32.tightest_contract == "tf32"
    strict = convspec.check(load("resnet3x3", "y_fp32_strict"), op, x, w, precision="fp32",
                            threads=2, **kwargs)
    assert strict.passed and strict.tightest_contract == "fp32", strict


@pytest.mark.parametrize("case", ["strided_dilated_grouped", "conv1d_long"])
def test_cudnn_half_outputs_pass_against_rounded_inputs(case):
    op, x, w, kwargs = conv(case)
    for output, precision in (("y_fp16", "fp16"), ("y_bf16", "bf16")):
        report = convspec.check(load(case, output), op, x, w, precision=precision,
                                round_inputs=precision, **kwargs)
        assert report.passed, report
        strict = convspec.check(load(case, output), op, x, w, precision="fp32",
                                round_inputs=precision, **kwargs)
        assert not strict.passed


def test_cudnn_pools_pass_and_the_other_divisor_fails():
    x = load("pool", "x")
    incl = load("pool", "avg_k3s2p1_ceil_incl")
    args = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    assert convspec.check(incl, "avg_pool2d", x, precision="fp32", **args).passed
    wrong = convspec.check(incl, "avg_pool2d", x, precision="fp32", count_include_pad=False,
                           **args)
    assert not wrong.passed
    assert convspec.check(load("pool", "max_k2s2_dil2"), "max_pool2d", x, precision="fp32",
                          kernel_size=2, stride=2, dilation=2).passed


def test_a_tampered_candidate_fails_at_its_index():
    op, x, w, kwargs = conv("strided_dilated_grouped")
    good = load("strided_dilated_grouped", "y_fp32_strict").copy()
    target = (1, 5, 3, 7)
    bad = good.copy()
    bad[target] = np.nextafter(np.float32(bad[target] * (1 + 1e-5)), np.float32(np.inf))
    report = convspec.check(bad, op, x, w, precision="fp32", **kwargs)
    assert not report.passed and report.failed == 1
    assert tuple(report.failures[0]["index"]) == target
    assert tuple(report.worst["index"]) == target
    assert report.to_dict()["failed"] == 1
    assert "FAIL" in str(report)


def test_gradients_are_checked_by_name():
    rng = np.random.default_rng(7)
    x, w, g = quarters(rng, (1, 2, 6)), quarters(rng, (3, 2, 3)), quarters(rng, (1, 3, 4))
    gi, gw, gb = convspec.conv1d_grad(x, w, g)
    for name, value in (("grad_input", gi), ("grad_weight", gw), ("grad_bias", gb)):
        assert convspec.check(value, f"conv1d_{name}", x, w, g, precision="fp32").passed
    assert not convspec.check(gi + 1, "conv1d_grad_input", x, w, g, precision="fp32").passed


def test_assert_legal_passes_legal_and_names_the_first_failures():
    rng = np.random.default_rng(3)
    x, w = quarters(rng, (1, 2, 5, 5)), quarters(rng, (2, 2, 3, 3))
    y = convspec.conv2d(x, w, padding=1)
    assert_legal(y, "conv2d", x, w, precision="fp32", padding=1)
    y[0, 1, 2, 3] += 1
    y[0, 0, 4, 4] -= 1
    with pytest.raises(AssertionError) as raised:
        assert_legal(y, "conv2d", x, w, precision="fp32", padding=1)
    message = str(raised.value)
    assert message.startswith("Tensor-likes are not legal conv2d outputs in fp32!")
    assert "Mismatched elements: 2 / 50 (4.0%)" in message
    assert "First failing elements: (0, 0, 4, 4), (0, 1, 2, 3)" in message


def test_dlpack_and_array_inputs():
    class OnlyArray:
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return self.a

    class OnlyDlpack:
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, **kwargs):
            return self.a.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    rng = np.random.default_rng(5)
    x, w = quarters(rng, (1, 1, 6)), quarters(rng, (1, 1, 3))
    expected = convspec.conv1d(x, w)
    assert np.array_equal(convspec.conv1d(OnlyArray(x), OnlyDlpack(w)), expected)
    assert convspec.check(OnlyDlpack(expected), "conv1d", OnlyArray(x), w, precision="fp32").passed


def test_bad_inputs_raise_with_the_command_lines_messages():
    x = np.ones((1, 2, 5), np.float32)
    with pytest.raises(ValueError, match="expects 2 input channels|input channels"):
        convspec.conv1d(x, np.ones((1, 3, 2), np.float32))
    nan = x.copy()
    nan[0, 1, 3] = np.nan
    with pytest.raises(ValueError, match=r"input: element \[0, 1, 3\] is NaN"):
        convspec.conv1d(nan, np.ones((1, 2, 2), np.float32))
    with pytest.raises(TypeError, match="unexpected keyword argument 'strides'"):
        convspec.check(x, "max_pool1d", x, precision="fp32", kernel_size=1, strides=2)
    with pytest.raises(ValueError, match="precision"):
        convspec.check(x, "max_pool1d", x, precision="fp33", kernel_size=1)
    with pytest.raises(ValueError, match="unknown function"):
        convspec.check(x, "conv4d", x, x, precision="fp32")
    with pytest.raises(TypeError):
        convspec.conv1d(np.array(["a"]), x)


def test_the_plot_is_a_valid_svg_that_shows_the_border(tmp_path):
    import xml.etree.ElementTree as ET

    rng = np.random.default_rng(11)
    x, w = quarters(rng, (1, 2, 6, 7)), quarters(rng, (3, 2, 3, 3))
    # A padding bug: reflect padding where zeros were claimed; only the border differs.
    wrong = convspec.conv2d(x, w, padding=1, padding_mode="reflect")
    report = convspec.check(wrong, "conv2d", x, w, padding=1, precision="fp32")
    assert not report.passed
    ratios = report.ratios()
    assert ratios.shape == wrong.shape
    interior = ratios[:, :, 1:-1, 1:-1]
    assert (interior <= 1).all() and (ratios > 1).any()
    path = report.plot(tmp_path / "report.svg")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    assert f"{report.failed} of {report.elements} elements over the bound" in text
    assert "<svg" in report._repr_html_()


def test_algorithm_bounds_are_chosen_by_name():
    op, x, w, kwargs = conv("resnet3x3")
    strict = load("resnet3x3", "y_fp32_strict")
    # A legal fp32 output meets the direct bound and the looser Winograd bound alike.
    for algorithm in ("direct", "winograd"):
        report = convspec.check(strict, op, x, w, precision="fp32", algorithm=algorithm,
                                threads=2, **kwargs)
        assert report.passed, (algorithm, report)
    with pytest.raises(ValueError, match="unknown algorithm"):
        convspec.check(strict, op, x, w, precision="fp32", algorithm="strassen", **kwargs)
    pool_x = load("pool", "x")
    with pytest.raises(ValueError, match="conv1d/2d/3d only"):
        convspec.check(load("pool", "max_k2s2_dil2"), "max_pool2d", pool_x, precision="fp32",
                       algorithm="direct", kernel_size=2, stride=2, dilation=2)
