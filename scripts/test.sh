#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the whole test suite: unit tests, integration
# tests on real media with the real binaries, and parity tests against the original models.
# scripts/test.sh --cuda also sets up the CUDA build (scripts/setup.sh --cuda) and checks
# that every library of the CUDA binary resolves.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# --torch-wheels: torch's CUDA wheels, without which PyPI's torch does not import in Python
# (the Python tests import torch before and after fer_rt); ~1 minute, +2.6 GB
"$ROOT/scripts/setup.sh" --torch-wheels "$@"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
# The library's own libtorch code (the torch engines against the original models, the
# device path, training with teachers) and the unit tests, built with libtorch. First:
# `--features torch` also builds target/release/fer-rt with libtorch, and the next command
# puts the binary users run, without it, back in its place.
cargo test --release --features torch --lib --test parity --test device_path --test training --test harvest
# Everything else through `fer-rt` as users run it; it hands what needs libtorch to the
# fer-rt-torch setup.sh built beside it. The integration tests only: the unit tests ran
# above, every one of them (the libtorch build compiles the same modules, and the few
# lines that differ without libtorch are the hand-over these tests run through the
# binary); compiling them a second time was part of this build's 2 m 44 s on two cores
# (now ~1 min with the shared features, BENCHMARKS.md).
mapfile -t INTEGRATION < <(cargo metadata --no-deps --format-version 1 | "$FER_RT_PYTHON" -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        if p["name"] == "fer-rt" and t["kind"] == ["test"] and not t.get("required-features"):
            print("--test=" + t["name"])')
cargo test --release "${INTEGRATION[@]}"
# the Python package's tests, on the wheel setup.sh installed
"$FER_RT_PYTHON" -m pytest -q "$ROOT/python/tests"
