"""The oracle: `check` and its `Report`."""

import json

import numpy as np

from . import _convspec, _core

_GRADIENTS = ("grad_input", "grad_weight", "grad_bias")


def _function_and_output(op):
    """`conv2d_grad_input` -> ("conv2d_grad", "grad_input"); `conv2d` -> ("conv2d", "output")."""
    for name in _GRADIENTS:
        if op.endswith("_" + name):
            return op[: -len(name) - 1] + "_grad", name
    return op, "output"


def check(candidate, op, *inputs, precision="fp32", accumulation=None, round_inputs=None,
          algorithm=None, tf32_rounding="truncation", listed=100, threads=1, **op_kwargs):
    """Whether `candidate`, another library's output of the `torch.nn.functional` operator
    `op` ("conv2d", "conv_transpose1d", "max_pool2d", "avg_pool3d", "adaptive_avg_pool2d",
    "conv2d_grad_input", "conv2d_grad_weight", "conv2d_grad_bias", ...) on `inputs` with
    `op_kwargs`, is what arithmetic of `precision` (fp64, fp32, tf32, fp16, bf16) can produce,
    element by element, with a rigorous bound.

    accumulation: "any" (default: the bound that holds for IEEE and for tensor cores),
    "ieee", or "tensor-core[:extra-bits=E,normalisation=rz|rn]". round_inputs: "fp16", "bf16" or
    "tf32" to judge against the inputs rounded first (as `x.half()` does). algorithm: one of
    convspec's own float kernels ("winograd", "fft", ...) whose bound judges a conv. The
    gradients take (input, weight, grad_output) as inputs. Returns a `Report`."""
    function, output = _function_and_output(op)
    if function.startswith("adaptive_") and "output_size" in op_kwargs:
        from . import _output_size
        rank = int(function[-2])
        op_kwargs["output_size"] = _output_size(inputs[0], op_kwargs["output_size"], rank)
    arrays = tuple(_core.as_array(x, f"argument {i + 1}")[0] for i, x in enumerate(inputs))
    values, _ = _core.as_array(candidate, "candidate")
    values = np.ascontiguousarray(values, dtype=np.float64)
    report = _convspec.check(values, function, output, arrays, op_kwargs, precision,
                             accumulation, round_inputs, algorithm, tf32_rounding, listed,
                             threads)
    return Report(report, op, precision)


class Report:
    """The oracle's verdict on every element of a candidate.

    passed: every element within its bound. failed, elements, share_over: how many (and which
    share) are over. failures: the first failing elements in C order, each a dict (index,
    candidate, exact, error, bound, ratio, reason). worst: the element with the largest
    error / bound. tightest_contract: the tightest precision every element meets. str(report)
    is the command line's text; to_dict() its JSON report."""

    def __init__(self, report, op, precision):
        self._report = report
        self.op = op
        self.precision = precision

    passed = property(lambda self: self._report.passed)
    failed = property(lambda self: self._report.failed)
    elements = property(lambda self: self._report.elements)
    share_over = property(lambda self: self._report.share_over)
    failures = property(lambda self: self._report.failures)
    worst = property(lambda self: self._report.worst)
    tightest_contract = property(lambda self: self._report.tightest_contract)
    contracts_met = property(lambda self: self._report.contracts_met)

    def ratios(self):
        """Every element's |error| / bound, as an array shaped as the output (0: exact;
        infinite: non-finite or off-format)."""
        return self._report.ratios()

    def svg(self):
        """The picture of where the errors are, as SVG text: the histogram of |error| / bound
        (log scale, the bound at 1), the largest ratio per output position (over batch and
        channels) and per channel. A padding bug lights up the border, a group-mapping bug a
        band of channels, a tiling seam a periodic pattern."""
        return self._report.svg(f"{self.op}, {self.precision}")

    def plot(self, path):
        """Writes `svg()` to `path`."""
        with open(path, "w", encoding="utf-8") as out:
            out.write(self.svg())
        return path

    def to_dict(self):
        """The report as the command line's JSON (`check --report`)."""
        return json.loads(self._report.to_json())

    def __bool__(self):
        return self.passed

    def __str__(self):
        return str(self._report)

    def __repr__(self):
        verdict = "passed" if self.passed else "FAILED"
        return (f"<convspec.Report {self.op} {self.precision}: {verdict}, "
                f"{self.failed} of {self.elements} elements over the bound>")

    def _repr_html_(self):
        import html
        colour = "#1a7f37" if self.passed else "#cf222e"
        verdict = "passed" if self.passed else "FAILED"
        return (f"<div><b style='color:{colour}'>{html.escape(self.op)} "
                f"{html.escape(self.precision)}: {verdict}</b>"
                f"<pre>{html.escape(str(self))}</pre>{self.svg()}</div>")
