#!/usr/bin/env bash
# A fuzz campaign (issue 22): thousands of blind and structured mutations of the bundled
# media through `fer-rt process`, each checked as tests/fuzz.rs checks its 300 in CI (ends
# in time, exit 0/1/2 with one error line, valid JSON, no panic, peak RSS under 1 GiB),
# and a tally per class: outcomes, the slowest file, the peak RSS. Not run in CI.
#
#   benches/fuzz_campaign.sh            # 1200 variants, seed 1
#   N=5000 SEED=7 benches/fuzz_campaign.sh
#
# The tally is written to target/fuzz-campaign-SEED.md; failing inputs are kept in
# $TMPDIR/fer-rt-fuzz-failures.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
N="${N:-1200}"
SEED="${SEED:-1}"
OUT="target/fuzz-campaign-$SEED.md"
mkdir -p target
FER_RT_FUZZ_N="$N" FER_RT_FUZZ_SEED="$SEED" FER_RT_FUZZ_TALLY="$PWD/$OUT" \
  cargo test --release --test fuzz -- --nocapture
echo "tally: $OUT"
