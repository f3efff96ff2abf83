#!/usr/bin/env bash
# The 2-core side of issue 10's "process of the 1080p 5-face clip is faster on CUDA than on
# the 2-core CPU, same commit": the same generated clip visit.sh makes (bench --save-input is
# deterministic), processed here with the default CPU build, start-up included; median of 3.
#   benches/gpu/cpu_baseline.sh > cpu_baseline.json   then summarize.py ... --cpu-baseline it
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
source scripts/env.sh
cargo build --release --quiet
BIN=target/release/fer-rt
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$BIN" bench --faces 5 --size 1920x1080 --frames 240 --save-input "$T/f5_1080.mp4" > /dev/null 2>&1
walls=()
for _ in 1 2 3; do
  s=$(date +%s.%N)
  "$BIN" process "$T/f5_1080.mp4" > "$T/out.jsonl" 2> /dev/null
  walls+=("$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')")
done
median=$(printf '%s\n' "${walls[@]}" | sort -g | sed -n 2p)
echo "{\"clip\": \"f5_1080\", \"cores\": $(nproc), \"commit\": \"$(git rev-parse --short HEAD)\", \"lines\": $(wc -l < "$T/out.jsonl"), \"wall_s\": [$(IFS=,; echo "${walls[*]}")], \"median_wall_s\": $median}"
