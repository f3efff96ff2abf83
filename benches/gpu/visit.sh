#!/usr/bin/env bash
# One visit to the lent GPU machine: every figure issue 10 asks for (and issue 13's --jobs
# on 16 cores), in one run, written as JSON into one tarball under $OUT. Build and pack here
# first (benches/gpu/prepare.sh: pack.sh plus the ONNX files), then call the device tool with carry [".gpu"] and
#     command: "bash benches/gpu/visit.sh"      (timeout_s 560)
#
# Why it is shaped like this: device time is scarce (about 15 minutes a task, a minute of it
# to start) and a run killed at its limit returns only what already lies under $OUT. So
#   - the most important figures come first (issue 10's targets, then the before/after, then
#     issue 13's 16-core batch timing, which needs no GPU and may be cut);
#   - the tarball is rewritten after every step, so a killed run still brings back all the
#     steps before it;
#   - every step's limit is cut to what is left of VISIT_BUDGET_S, and a step that would not
#     get its minimum is skipped and logged, instead of being killed half-way.
# A failed step does not stop the others; visit.log says which failed and why (its .err).
#
# Dry run on a machine without a GPU (checks the plumbing, not the figures):
#     VISIT_DEVICE=cpu VISIT_SCALE=0.02 OUT=/tmp/visit bash benches/gpu/visit.sh
# Nothing here is tuned to a clip; the inputs are the bundled media and generated frames.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-/tmp/fer-rt-visit}"
DEV="${VISIT_DEVICE:-cuda}"
SCALE="${VISIT_SCALE:-1}"
BUDGET="${VISIT_BUDGET_S:-520}"
START=$(date +%s)
R="$(mktemp -d)/gpu-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$R" "$OUT"
RUN="bash .gpu/run.sh"
M=.gpu/media
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
n() { awk -v x="$1" -v s="$SCALE" 'BEGIN { v = int(x * s); print (v < 8 ? 8 : v) }'; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
log() { echo "[visit $(date -u +%T) +$(( $(date +%s) - START ))s] $*" | tee -a "$R/visit.log" >&2; }
pack() { # the report so far, replaced atomically so a kill never leaves half a tarball
  tar -C "$(dirname "$R")" --exclude='*.safetensors' --exclude='*.mp4' --exclude='batch' \
    -czf "$OUT/.gpu-report.tmp" "$(basename "$R")" && mv -f "$OUT/.gpu-report.tmp" "$OUT/gpu-report.tar.gz"
}
# run NAME MIN_S LIMIT_S CMD...: stdout -> NAME.json, stderr -> NAME.err, wall time and exit
# status -> steps.jsonl. Returns the command's status (or 125 when skipped for time).
run() {
  local name="$1" min="$2" limit="$3"; shift 3
  local l; l=$(left)
  if (( l - 10 < min )); then log "$name skipped: ${l}s left, needs ${min}s"; return 125; fi
  (( limit > l - 10 )) && limit=$(( l - 10 ))
  log "$name (limit ${limit}s)"
  local s rc; s=$(now)
  timeout -k 5 "$limit" "$@" > "$R/$name.json" 2> "$R/$name.err"; rc=$?
  echo "{\"step\": \"$name\", \"rc\": $rc, \"wall_s\": $(since "$s"), \"limit_s\": $limit}" >> "$R/steps.jsonl"
  (( rc == 0 )) || log "$name failed (rc $rc): $(tail -n 1 "$R/$name.err")"
  pack
  return $rc
}
bench() { local name="$1"; shift; run "$name" 20 "$1" $RUN bench --device "$DEV" --json "${@:2}"; }

# ONNX Runtime for the CPU runs, if this machine's Python has it (the library is too large
# to carry); otherwise the CPU runs use the torch engines, and the reports say which.
ort=$(python3 -c 'import onnxruntime, glob, os; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[-1])' 2>/dev/null || true)
[ -n "$ort" ] && export FER_RT_ONNXRUNTIME="$ort"
log "device $DEV, scale $SCALE, budget ${BUDGET}s, ONNX Runtime: ${ort:-none}"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; uname -a; } > "$R/machine.txt" 2>&1
run doctor 5 60 $RUN doctor --device "$DEV" --json
# the generated 1080p clip with 5 faces, for process (start-up included) below
run make_f5_1080 5 60 $RUN bench --faces 5 --size 1920x1080 --frames "$(n 240)" --save-input "$R/f5_1080.mp4"

# Issue 10's targets, default settings (device preprocessing, bucketed shapes):
# file throughput with stage percentiles (>= 600 fps; p99 <= 3 x p50), live (0 dropped,
# end-to-end p99 < 10 / 15 ms), training (>= 4000 images/s), the trained ResNet-18 MRA in
# the pipeline (>= 300 fps at 1080p x 5, >= 150 fps at 720p x 20).
bench bench_f5_1080_mx 90 --faces 5 --size 1920x1080 --frames "$(n 1500)"
bench live_f1_360 60 --live --fps 30 --faces 1 --size 640x360 --frames "$(n 600)"
bench live_f5_1080 60 --live --fps 30 --faces 5 --size 1920x1080 --frames "$(n 600)"
run train_mra 30 150 $RUN train --dataset synthetic --samples "$(n 4096)" --epochs 3 --device "$DEV" --json --out "$R/mra"
if [ -f "$R/mra/best.safetensors" ]; then
  bench bench_f5_1080_mra 90 --model "$R/mra/best.safetensors" --faces 5 --size 1920x1080 --frames "$(n 1000)"
  bench bench_f20_720_mra 90 --model "$R/mra/best.safetensors" --faces 20 --size 1280x720 --frames "$(n 600)"
  # Issue 26: 16 live 1080p streams at 30 fps, 2 faces each, one process, ResNet-18 MRA
  # batched across the streams (0 dropped, every stream's p99 < 50 ms)
  bench streams_16_1080_mra 90 --model "$R/mra/best.safetensors" --streams 16 --fps 30 --faces 2 \
    --size 1920x1080 --frames "$(n 450)"
fi
# process, start-up included, on this device and on the CPU of the same machine, outputs
# compared (top label >= 99 % the same, boxes within 2 px)
for clip in "$M/WolfgangLanger_Pexels.mp4" "$R/f5_1080.mp4"; do
  [ -f "$clip" ] || { log "no $clip"; continue; }
  b=$(basename "$clip" .mp4)
  for dev in $(printf '%s\n' "$DEV" cpu | uniq); do
    run "process_${b}_$dev" 10 120 $RUN process "$clip" --device "$dev"
  done
  if [ "$DEV" != cpu ] && [ -s "$R/process_${b}_$DEV.json" ] && [ -s "$R/process_${b}_cpu.json" ]; then
    python3 benches/gpu/compare_outputs.py "$R/process_${b}_$DEV.json" "$R/process_${b}_cpu.json" \
      >> "$R/cuda_vs_cpu.jsonl" 2>> "$R/visit.log"
  fi
done
pack
# The before/after of this issue's changes: host preprocessing with exact shapes is the old
# path; then device preprocessing with exact shapes; then more sizes.
bench bench_f5_1080_mx_host_exact 90 --faces 5 --size 1920x1080 --frames "$(n 1500)" --preprocess host --batch-shapes exact
bench bench_f5_1080_mx_device_exact 90 --faces 5 --size 1920x1080 --frames "$(n 1500)" --batch-shapes exact
bench bench_f1_360_mx 60 --faces 1 --size 640x360 --frames "$(n 1500)"
bench bench_f20_720_mx 60 --faces 20 --size 1280x720 --frames "$(n 1000)"
# training: the default (fp16 autocast, channels-last) against contiguous and against fp32
run train_mra_contiguous 30 90 $RUN train --dataset synthetic --samples "$(n 4096)" --epochs 2 --device "$DEV" \
  --memory-format contiguous --json --out "$R/mra_contiguous"
printf 'amp = false\n' > "$R/fp32.toml"
run train_mra_fp32 30 90 $RUN train --dataset synthetic --samples "$(n 4096)" --epochs 2 --device "$DEV" \
  --train-config "$R/fp32.toml" --json --out "$R/mra_fp32"

# Issue 13: batch workers on this machine's cores against one process per input, wall time
# over the bundled media, so the --jobs default is measured on 16 cores too (both sides on the
# same CPU engines: ONNX Runtime if found above, else torch).
per_input() { for f in "$M"/*; do $RUN process "$f" --device cpu > /dev/null || echo "failed: $f" >&2; done; }
export -f per_input; export RUN M
run batch_process_per_input 30 150 bash -c per_input
for j in 1 2 4 8 16; do
  rm -rf "$R/batch"
  run "batch_jobs_$j" 10 90 $RUN batch "$M" --out "$R/batch" --jobs "$j" --device cpu --models-dir .gpu/models --no-progress
done
rm -rf "$R/batch"
log "done in $(( $(date +%s) - START ))s"
pack
log "report: $OUT/gpu-report.tar.gz"
