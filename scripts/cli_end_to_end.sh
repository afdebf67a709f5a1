#!/usr/bin/env bash
# The command line end to end on the resnet3x3 fixture (read, compute, round, write), against
# the engine alone on the same data, at 1 and 2 threads. The machines are noisy, so the runs
# are paired: each of 11 rounds times the engine alone (median of 7 calls in one process,
# examples/layer_pipeline), then `convspec correlate` and `convspec check` once each (each after
# one untimed run of itself, see below); printed are the medians over the rounds, their spread
# (min-max), and the median of the per-round ratios. Release build.
#   scripts/cli_end_to_end.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example layer_pipeline
cargo build --release --quiet
F=tests/fixtures/cudnn-h100/resnet3x3
bin=target/release/convspec
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Wall time of one run in ms from bash's own clock (no fork around the timed command).
ms() {
  local s e
  s=$EPOCHREALTIME
  "$@" > /dev/null
  e=$EPOCHREALTIME
  echo "$s $e" | awk '{ printf "%.2f\n", ($2 - $1) * 1000 }'
}
summary() { # column of numbers -> "median (min-max)"
  sort -n | awk '{ v[NR] = $1 } END { printf "%.1f (%.1f-%.1f)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
for threads in 1 2; do
  : > "$out/rounds"
  for round in $(seq 11); do
    engine=$(target/release/examples/layer_pipeline $F/x.npy $F/w.npy $threads \
      | awk '/engine alone/ { print $6 }')
    # Each command runs once untimed first: right after another process (the engine's) this
    # VM ran the next one 1.3-4x slower (and slower still after a pause: likely its
    # processors waking from idle), a cost of the machine's, not the command's; the engine
    # alone is timed warm, in its own process.
    correlate=(correlate --input $F/x.npy --weight $F/w.npy --padding 1 --output "$out/y.npy" --output-dtype float32 --threads $threads)
    check=(check --input $F/x.npy --weight $F/w.npy --padding 1 --candidate $F/y_fp32_strict.npy --precision fp32 --threads $threads)
    rm -f "$out/y.npy"
    $bin "${correlate[@]}" > /dev/null
    rm -f "$out/y.npy"
    c=$(ms $bin "${correlate[@]}")
    $bin "${check[@]}" > /dev/null
    k=$(ms $bin "${check[@]}")
    echo "$engine $c $k" >> "$out/rounds"
  done
  echo "threads $threads, medians over 11 rounds (min-max), ms:"
  echo "  engine alone        $(awk '{ print $1 }' "$out/rounds" | summary)"
  echo "  correlate end to end $(awk '{ print $2 }' "$out/rounds" | summary), ratio to the engine $(awk '{ print $2 / $1 }' "$out/rounds" | summary)"
  echo "  check end to end    $(awk '{ print $3 }' "$out/rounds" | summary), ratio to the engine $(awk '{ print $3 / $1 }' "$out/rounds" | summary)"
done
