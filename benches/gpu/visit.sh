#!/usr/bin/env bash
# One visit to the lent GPU machine: every figure issue 10 asks for (and issue 13's --jobs
# on 16 cores), in one run, written as
# JSON into one tarball under $OUT. Build and pack here first (../shared/tools/gpu/pack.sh),
# then call the device tool with carry [".gpu"] and
#     command: "bash benches/gpu/visit.sh"      (timeout ~540 s)
# Each step has its own time limit and a failure does not stop the others: the log says
# which step failed. Nothing here is tuned to a clip; the inputs are the bundled media and
# generated frames.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-/tmp/fer-rt-visit}"
R="$(mktemp -d)/gpu-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$R"
RUN="bash .gpu/run.sh"
M=.gpu/media
log() { echo "[visit $(date -u +%T)] $*" | tee -a "$R/visit.log" >&2; }
step() { # name, limit_s, command...; stdout -> $R/name.json, stderr -> $R/name.err
  local name="$1" limit="$2"; shift 2
  log "$name"
  timeout "$limit" "$@" > "$R/$name.json" 2> "$R/$name.err" || log "$name failed (rc $?)"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$R/gpu.csv" 2>&1
step doctor 60 $RUN doctor --device cuda --json
# inputs: the 5-face 1080p and 20-face 720p clips, generated once
$RUN bench --faces 5 --size 1920x1080 --frames 240 --save-input "$R/f5_1080.mp4" > /dev/null 2>&1
# file throughput and stage percentiles (targets: >= 600 fps; p99 <= 3 x p50)
step bench_f5_1080_mx 90 $RUN bench --device cuda --faces 5 --size 1920x1080 --frames 1500 --json
step bench_f1_360_mx 60 $RUN bench --device cuda --faces 1 --size 640x360 --frames 1500 --json
step bench_f20_720_mx 60 $RUN bench --device cuda --faces 20 --size 1280x720 --frames 1000 --json
# the same with host preprocessing and exact shapes: the before/after of this issue's changes
step bench_f5_1080_mx_host_exact 90 $RUN bench --device cuda --faces 5 --size 1920x1080 --frames 1500 --json --preprocess host --batch-shapes exact
step bench_f5_1080_mx_device_exact 90 $RUN bench --device cuda --faces 5 --size 1920x1080 --frames 1500 --json --batch-shapes exact
# live at 30 fps (targets: 0 dropped, end-to-end p99 < 10 ms / < 15 ms)
step live_f1_360 60 $RUN bench --device cuda --live --fps 30 --faces 1 --size 640x360 --frames 600 --json
step live_f5_1080 60 $RUN bench --device cuda --live --fps 30 --faces 5 --size 1920x1080 --frames 600 --json
# training throughput (target >= 4000 images/s, ResNet-18 MRA 224 px pooled), and a checkpoint
step train_mra 200 $RUN train --dataset synthetic --samples 4096 --epochs 3 --device cuda --out "$R/mra"
# the checkpoint in the pipeline (targets: >= 300 fps at 1080p x 5, >= 150 fps at 720p x 20)
if [ -f "$R/mra/best.safetensors" ]; then
  step bench_f5_1080_mra 90 $RUN bench --device cuda --model "$R/mra/best.safetensors" --faces 5 --size 1920x1080 --frames 1000 --json
  step bench_f20_720_mra 90 $RUN bench --device cuda --model "$R/mra/best.safetensors" --faces 20 --size 1280x720 --frames 600 --json
fi
# process, start-up included, CUDA vs the CPU on the same machine; outputs compared
for clip in "$M/WolfgangLanger_Pexels.mp4" "$R/f5_1080.mp4"; do
  b=$(basename "$clip" .mp4)
  for dev in cuda cpu; do
    log "process $b on $dev"
    s=$(date +%s.%N)
    timeout 120 $RUN process "$clip" --device "$dev" > "$R/process_${b}_$dev.jsonl" 2> "$R/process_${b}_$dev.err"
    echo "{\"clip\": \"$b\", \"device\": \"$dev\", \"rc\": $?, \"wall_s\": $(echo "$(date +%s.%N) - $s" | bc)}" >> "$R/process_wall.jsonl"
  done
  python3 benches/gpu/compare_outputs.py "$R/process_${b}_cuda.jsonl" "$R/process_${b}_cpu.jsonl" >> "$R/cuda_vs_cpu.jsonl" 2>> "$R/visit.log"
done
# issue 13: batch workers on this machine's 16 cores (CPU engines) against one process per
# input, wall time over the bundled media, so the --jobs default is measured on 16 cores too
s=$(date +%s.%N)
for f in "$M"/*; do timeout 60 $RUN process "$f" --device cpu > /dev/null 2>> "$R/batch_jobs.err"; done
echo "{\"run\": \"process per input\", \"wall_s\": $(echo "$(date +%s.%N) - $s" | bc)}" >> "$R/batch_jobs.jsonl"
for j in 1 2 4 8 16 2 4 8; do
  rm -rf "$R/batch"
  s=$(date +%s.%N)
  timeout 120 $RUN batch "$M" --out "$R/batch" --jobs "$j" --device cpu --models-dir .gpu/models --no-progress \
    > /dev/null 2>> "$R/batch_jobs.err"
  echo "{\"run\": \"batch --jobs $j\", \"rc\": $?, \"wall_s\": $(echo "$(date +%s.%N) - $s" | bc)}" >> "$R/batch_jobs.jsonl"
done
rm -rf "$R/batch"
rm -rf "$R/mra"/*.safetensors "$R"/*.mp4
mkdir -p "$OUT"
tar -C "$(dirname "$R")" -czf "$OUT/gpu-report.tar.gz" "$(basename "$R")"
log "report: $OUT/gpu-report.tar.gz"
