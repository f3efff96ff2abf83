#!/usr/bin/env bash
# The CUDA path's device-side steps measured on the CPU (libtorch's CPU device), interleaved
# so machine noise hits all variants alike: torch engines with host vs device preprocessing,
# exact vs fixed batch shapes, on a real 360p clip and on generated 1080p frames with 5
# faces. Prints one line per run (label, fps, stage p50s, busy %); JSON reports in $OUT.
#   benches/device_path.sh [ROUNDS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
R="${1:-3}"
OUT="${OUT:-benches/results/device_path_cpu.jsonl}"
BIN=target/release/fer-rt
W="$FER_RT_MEDIA/WolfgangLanger_Pexels.mp4"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
$BIN bench --faces 5 --size 1920x1080 --frames 120 --save-input "$TMP/f5.mp4" >/dev/null 2>&1
: > "$OUT"
T=(--device cpu --detect-backend torch --classifier-backend torch)
rec() {
  local label="$1"; shift
  "$@" --json 2>/dev/null | tail -n1 | "$FER_RT_PYTHON" "$ROOT/benches/summarise.py" "$label" "$OUT"
}
for r in $(seq "$R"); do
  echo "round $r/$R" >&2
  rec "360p torch, host preprocessing" $BIN bench "$W" "${T[@]}" --preprocess host
  rec "360p torch, device preprocessing" $BIN bench "$W" "${T[@]}" --preprocess device
  rec "1080p x5 torch, host, exact shapes" $BIN bench "$TMP/f5.mp4" "${T[@]}" --preprocess host --batch-shapes exact
  rec "1080p x5 torch, device, exact shapes" $BIN bench "$TMP/f5.mp4" "${T[@]}" --preprocess device --batch-shapes exact
  rec "1080p x5 torch, device, fixed shapes" $BIN bench "$TMP/f5.mp4" "${T[@]}" --preprocess device --batch-shapes fixed
  rec "1080p x5 default (onnxruntime, host)" $BIN bench "$TMP/f5.mp4"
done
