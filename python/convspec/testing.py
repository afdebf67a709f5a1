"""`assert_legal`: the oracle in a test suite, where `torch.testing.assert_close` stood.

    # before: a tolerance guessed for one machine
    torch.testing.assert_close(my_conv(x, w), F.conv2d(x, w), rtol=1.3e-6, atol=1e-5)
    # after: every output that fp32 arithmetic can produce passes, every other fails
    convspec.testing.assert_legal(my_conv(x, w), "conv2d", x, w, precision="fp32")
"""

from ._report import check

__all__ = ["assert_legal"]


def _index(index):
    return "(" + ", ".join(str(i) for i in index) + ")"


def assert_legal(actual, op, *inputs, precision="fp32", msg=None, **kwargs):
    """Raises AssertionError unless every element of `actual` is a legal `precision` result
    of `op(*inputs, **kwargs)` (see `convspec.check` for the arguments). The message names
    the mismatched share, the worst element and the first failing ones, as
    `torch.testing.assert_close` does."""
    report = check(actual, op, *inputs, precision=precision, **kwargs)
    if report.passed:
        return report
    lines = [
        f"Tensor-likes are not legal {op} outputs in {precision}!",
        "",
        f"Mismatched elements: {report.failed} / {report.elements} "
        f"({100.0 * report.share_over:.1f}%)",
    ]
    worst = report.worst
    if worst is not None:
        lines.append(
            f"Greatest error relative to the bound: {worst['ratio']:.3g} at index "
            f"{_index(worst['index'])} (candidate {worst['candidate']!r}, exact "
            f"{worst['exact']!r}, error {worst['error']:.3g}, bound {worst['bound']:.3g})"
        )
    shown = [_index(f["index"]) for f in report.failures[:5]]
    if shown:
        more = ", ..." if report.failed > len(shown) else ""
        lines.append("First failing elements: " + ", ".join(shown) + more)
    if report.tightest_contract is not None:
        lines.append(f"The output meets the {report.tightest_contract} contract.")
    message = "\n".join(lines)
    if msg is not None:
        message = msg(message) if callable(msg) else f"{msg}\n\n{message}"
    raise AssertionError(message)
