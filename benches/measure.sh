#!/usr/bin/env bash
# Every figure in BENCHMARKS.md's issue-6 sections, in one go, runs interleaved so that
# machine noise hits all variants alike. Writes JSON lines (one per run) to $OUT
# (default bench-results.jsonl) and prints the medians. Needs scripts/setup.sh done.
#   benches/measure.sh [ROUNDS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
R="${1:-3}"
OUT="${OUT:-bench-results.jsonl}"
BIN=target/release/fer-rt
W="$FER_RT_MEDIA/WolfgangLanger_Pexels.mp4"
S="$FER_RT_MEDIA/single_face.mp4"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
: > "$OUT"
rec() { # label, then the command; its JSON report goes to $OUT tagged with the label
  local label="$1"; shift
  "$@" 2>/dev/null | tail -n1 | "$FER_RT_PYTHON" -c 'import json,sys; r=json.load(sys.stdin); r["label"]=sys.argv[1]; print(json.dumps(r))' "$label" >> "$OUT"
}
# generated inputs written once, so the reference reads the very same frames
$BIN bench --faces 1 --frames 300 --save-input "$TMP/faces1.mp4" >/dev/null 2>&1
$BIN bench --faces 20 --frames 300 --save-input "$TMP/faces20.mp4" >/dev/null 2>&1
for r in $(seq "$R"); do
  echo "round $r/$R" >&2
  rec "engines torch+torch, 2 torch threads (before)" $BIN bench "$W" --json --detect-backend torch --classifier-backend torch --threads 2
  rec "engines ort+torch, 2 torch threads" $BIN bench "$W" --json --classifier-backend torch --threads 2
  rec "engines ort+torch, torch threads auto (1)" $BIN bench "$W" --json --classifier-backend torch
  rec "engines ort+ort (default)" $BIN bench "$W" --json
  rec "default, detection at max side 480" $BIN bench "$W" --json --detect-max-side 480
  rec "reference wolfgang" "$FER_RT_PYTHON" benches/reference/pipeline.py "$W"
  rec "fer-rt single_face" $BIN bench "$S" --json
  rec "reference single_face" "$FER_RT_PYTHON" benches/reference/pipeline.py "$S"
  rec "fer-rt 1 face" $BIN bench "$TMP/faces1.mp4" --json
  rec "fer-rt 20 faces" $BIN bench "$TMP/faces20.mp4" --json
  rec "reference 1 face" "$FER_RT_PYTHON" benches/reference/pipeline.py "$TMP/faces1.mp4"
  rec "reference 20 faces" "$FER_RT_PYTHON" benches/reference/pipeline.py "$TMP/faces20.mp4"
  rec "fer-rt 1080p 5 faces (generated)" $BIN bench --faces 5 --size 1920x1080 --frames 150 --json
  rec "live 1 face 30 fps" $BIN bench --live --faces 1 --fps 30 --frames 300 --json
  rec "live 1 face 30 fps, torch engines (before)" $BIN bench --live --faces 1 --fps 30 --frames 300 --json --detect-backend torch --classifier-backend torch --threads 2
done
rec "live wolfgang 24 fps" $BIN bench --live "$W" --json
"$FER_RT_PYTHON" - "$OUT" <<'PY'
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["label"]].append(r)
for label, rs in runs.items():
    fps = statistics.median(r["throughput_fps"] for r in rs)
    msg = f"{label:<48} fps median {fps:7.1f}  runs " + ", ".join(f"{r['throughput_fps']:.1f}" for r in rs)
    if "stages_ms" in rs[0]:
        e2e = rs[0]["stages_ms"]["end_to_end"]
        p = lambda k: statistics.median(r["stages_ms"]["end_to_end"][k] for r in rs)
        msg += f"  e2e p50/p95/p99 {p('p50'):.1f}/{p('p95'):.1f}/{p('p99'):.1f} ms  dropped {statistics.median(r['dropped_pct'] for r in rs):.1f} %"
        msg += f"  detect p50 {statistics.median(r['stages_ms']['detect']['p50'] for r in rs):.2f}  model p50 {statistics.median(r['stages_ms']['model']['p50'] for r in rs):.2f}"
    else:
        msg += "  stages p50 " + ", ".join(f"{k} {v:.2f}" for k, v in rs[0]["stages_ms_p50"].items())
    print(msg)
PY
