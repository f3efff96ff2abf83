#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the whole test suite: unit tests, integration
# tests on real media with the real binary, and parity tests against the original models.
# scripts/test.sh --cuda also sets up the CUDA build (scripts/setup.sh --cuda) and checks
# that every library of the CUDA binary resolves.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" "$@"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
cargo test --release
# the Python package's tests, on the wheel setup.sh installed
"$FER_RT_PYTHON" -m pytest -q "$ROOT/python/tests"
