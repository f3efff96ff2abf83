#!/usr/bin/env bash
# Training throughput, contiguous vs channels-last, interleaved rounds on this machine's
# device (`--device` is passed through: cpu here, cuda on a lent GPU). Prints one JSON line
# per run: size, width, format, images/s (the run's median epoch).
# Widths start at 16: narrower networks cannot train channels-last on the CPU (runtime::layout).
#   benches/memory_format.sh [ROUNDS] [DEVICE]
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
ROUNDS="${1:-3}"; DEV="${2:-cpu}"
BIN="${FER_RT_BIN:-target/release/fer-rt}"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
for r in $(seq "$ROUNDS"); do
  for cfg in "64 16 512" "112 32 256" "224 64 128"; do
    set -- $cfg
    for fmt in contiguous channels-last; do
      ips=$("$BIN" train --out "$T/run" --device "$DEV" --epochs 3 --samples "$3" --input-size "$1" --width "$2" \
        --batch 32 --memory-format "$fmt" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')
      echo "{\"round\": $r, \"device\": \"$DEV\", \"input_size\": $1, \"width\": $2, \"memory_format\": \"$fmt\", \"images_per_s\": $ips}"
      rm -rf "$T/run"
    done
  done
done
