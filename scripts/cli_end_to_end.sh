#!/usr/bin/env bash
# The command line end to end on the resnet3x3 fixture (read, compute, round, write), against
# the engine alone on the same data: medians of 11 runs at 1 and 2 threads. Release build.
#   scripts/cli_end_to_end.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example layer_pipeline
cargo build --release --quiet
F=tests/fixtures/cudnn-h100/resnet3x3
bin=target/release/convspec
out=$(mktemp -d)
median() { sort -n | sed -n 6p; }
# Wall time of one run in ms from bash's own clock (no fork around the timed command).
ms() {
  local s e
  s=$EPOCHREALTIME
  "$@" > /dev/null
  e=$EPOCHREALTIME
  echo "$s $e" | awk '{ printf "%.1f\n", ($2 - $1) * 1000 }'
}
for threads in 1 2; do
  c=$(for i in $(seq 11); do rm -f "$out/y.npy"; ms $bin correlate --input $F/x.npy --weight $F/w.npy --padding 1 --output "$out/y.npy" --output-dtype float32 --threads $threads; done | median)
  k=$(for i in $(seq 11); do ms $bin check --input $F/x.npy --weight $F/w.npy --padding 1 --candidate $F/y_fp32_strict.npy --precision fp32 --threads $threads; done | median)
  echo "threads $threads: correlate end to end ${c} ms, check end to end ${k} ms (medians of 11)"
done
target/release/examples/layer_pipeline $F/x.npy $F/w.npy
rm -rf "$out"
