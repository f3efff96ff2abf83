#!/usr/bin/env bash
# Before a GPU visit, on this machine: ../shared/tools/gpu/pack.sh (the CUDA build and its
# libraries into .gpu/), plus the ONNX files, so that the visit's CPU runs can use ONNX
# Runtime if the GPU machine's Python has it (visit.sh looks). The ONNX Runtime library itself
# does not fit the trip (about 9 MB compressed; the tree plus .gpu/ must stay under 64 MiB).
# Ends by checking that size.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
../shared/tools/gpu/pack.sh
cp models/*.onnx .gpu/models/
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
gpu=$(du -sb .gpu | cut -f1)
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
total=$(( tracked + gpu + ${untracked:-0} ))
echo "[prepare] trip size $(( total / 1048576 )) MiB (tracked $(( tracked / 1048576 )), .gpu $(( gpu / 1048576 )), untracked $(( ${untracked:-0} / 1048576 ))); limit 64 MiB" >&2
(( total < 64 * 1048576 )) || { echo "[prepare] too large for the trip" >&2; exit 1; }
echo '[prepare] ready: run with carry [".gpu"], command "bash benches/gpu/visit.sh", timeout_s 560' >&2
