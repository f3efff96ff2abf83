#!/usr/bin/env bash
# `batch` against one `process` per input, side by side and interleaved so machine noise
# hits every variant alike, over the bundled media (5 clips, 6 photos, in
# $FER_RT_MEDIA): wall time of the whole set, model loading included. Then the sizes of
# the JSON lines and Parquet outputs of the same run.
#   benches/batch.sh [ROUNDS] [JOBS...]      (default: 3 rounds, jobs 1 2 3)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
R="${1:-3}"; shift || true
JOBS=("${@:-1 2 3}"); JOBS=(${JOBS[*]})
BIN=target/release/fer-rt
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
declare -A T
for r in $(seq "$R"); do
  echo "round $r/$R" >&2
  T[process]+="$(secs bash -c "for f in '$FER_RT_MEDIA'/*; do $BIN process \"\$f\" --no-progress > /dev/null; done") "
  for j in "${JOBS[@]}"; do
    rm -rf "$TMP/out"
    T[batch-jobs-$j]+="$(secs $BIN batch "$FER_RT_MEDIA" --out "$TMP/out" --jobs "$j" --no-progress) "
  done
done
echo "cores: $(nproc); $(ls "$FER_RT_MEDIA" | wc -l) inputs; $R rounds; wall seconds, median (all)"
for k in process $(for j in "${JOBS[@]}"; do echo batch-jobs-$j; done); do
  med=$(echo ${T[$k]} | tr ' ' '\n' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-14s %6.2f s   (%s)\n' "$k" "$med" "${T[$k]}"
done
rm -rf "$TMP/out"
$BIN batch "$FER_RT_MEDIA" --out "$TMP/out" --format jsonl,parquet --no-progress 2>/dev/null
jl=$(find "$TMP/out" -name '*.jsonl' ! -name '_manifest*' -printf '%s\n' | paste -sd+ | bc)
pq=$(find "$TMP/out" -name '*.parquet' -printf '%s\n' | paste -sd+ | bc)
echo "outputs of one run: JSON lines $jl bytes, Parquet $pq bytes, ratio $(echo "scale=1; $jl / $pq" | bc)x"
