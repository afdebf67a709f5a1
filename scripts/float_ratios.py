#!/usr/bin/env python3
"""The float kernels against their peers in one sitting, as one table.

Runs, one after the other, in --rounds rounds (default 3): `convspec bench --json` (release
build; float32, the planned algorithm per layer, threads 1 and 2), ONNX Runtime
(scripts/anchors/conv2d_onnxruntime.py), and PyTorch, NumPy and SciPy
(scripts/bench_float_peers.py); all follow the same rule (3 warm-ups, median of 10 runs). Then
prints, per layer and thread count, each engine's median in ms in the last round and the speed
ratio = the better peer's time / convspec's time (1 or more: convspec at or ahead of the better
peer) as the median over the rounds with its range. The 1-D signals compare with the best of np.convolve,
scipy.signal.fftconvolve and oaconvolve (single-threaded libraries) at the same thread count.

Setup: python3 -m venv /tmp/peers && /tmp/peers/bin/pip install numpy scipy onnx onnxruntime torch
Run:   /tmp/peers/bin/python scripts/float_ratios.py [--rounds N]
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent


def rows(command):
    """The JSON lines a benchmark prints (other lines ignored)."""
    out = subprocess.run(command, cwd=root, check=True, capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--rounds", type=int, default=3,
                    help="rounds of the three benchmarks, one after the other (default 3)")
args = parser.parse_args()

subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)


def family(engine):
    if engine.startswith("onnxruntime"):
        return "ONNX Runtime"
    if engine.startswith("torch"):
        return "PyTorch"
    return engine.split(" numpy")[0].split(" scipy")[0]


def one_round():
    """One run of each benchmark: convspec's rows, and the peers' ms per (shape, threads)."""
    ours = rows([str(root / "target/release/convspec"), "bench", "--json"])
    ort = rows([sys.executable, "scripts/anchors/conv2d_onnxruntime.py", "--json"])
    peers = rows([sys.executable, "scripts/bench_float_peers.py", "--json"])
    times = {}  # (shape, threads) -> {engine family: ms}
    for row in ort + peers:
        if row.get("dtype", "float32") != "float32":
            continue
        key = (row["shape"], row["threads"])
        times.setdefault(key, {})[family(row["engine"])] = row["ms"]
    return [row for row in ours if row["dtype"] == "float32"], times


# The rounds alternate the engines, so that the VM's slow and fast phases (its speed moves by
# up to 1.5x within minutes) fall on every engine; each round gives its own ratios.
rounds = [one_round() for _ in range(max(1, args.rounds))]
ratios = {}  # (shape, threads) -> [ratio per round]
last = {}
for ours, times in rounds:
    for row in ours:
        # The 1-D peers are single-threaded: their one-thread times stand for every thread count.
        peer_threads = 1 if row["shape"].startswith("signal") else row["threads"]
        found = times.get((row["shape"], peer_threads))
        if not found:
            continue
        best_name, best_ms = min(found.items(), key=lambda item: item[1])
        key = (row["shape"], row["threads"])
        ratios.setdefault(key, []).append(best_ms / row["ms"])
        last[key] = (row, found, best_name)

print(f"| layer | threads | convspec (algorithm), last round | peers, last round | better peer | "
      f"ratio, median of {len(rounds)} (min-max) |")
print("| --- | --- | --- | --- | --- | --- |")
worst = None
for key, (row, found, best_name) in last.items():
    values = sorted(ratios[key])
    median = statistics.median(values)
    worst = median if worst is None else min(worst, median)
    listed = ", ".join(f"{name} {ms:.3f}" for name, ms in sorted(found.items()))
    print(f"| {row['shape']} | {row['threads']} | {row['ms']:.3f} ms ({row['algorithm']}) | {listed} | "
          f"{best_name} | {median:.2f} ({values[0]:.2f}-{values[-1]:.2f}) |")
print()
print(f"smallest median ratio: {worst:.2f} (ratio = better peer's ms / convspec's ms; 1 or more: "
      "convspec ahead)")
