#!/usr/bin/env python3
"""Writes scripts/requirements-cuda.lock: the CUDA wheels that torch==2.11.0 declares for
Linux, read from the installed torch wheel's own metadata (and, for the `cuda-toolkit[...]`
requirement, from cuda-toolkit's metadata for the extras torch names), so the set is what
the wheel asks for rather than a guess. Pure-Python packages (triton, cuda-bindings) are left
out: libtorch_cuda.so does not load them.   python scripts/cuda_lock.py [OUT]"""
import re
import sys
from importlib import metadata

SKIP = {"triton", "cuda-bindings"}


def linux_requirements(dist):
    out = []
    for req in metadata.requires(dist) or []:
        spec, _, marker = req.partition(";")
        if "extra ==" in marker or ("platform_system" in marker and "Linux" not in marker):
            continue
        out.append(spec.strip())
    return out


def main():
    torch = metadata.version("torch")
    lines = [f"# CUDA wheels torch=={torch} declares for Linux (from its metadata; scripts/cuda_lock.py).",
             "# Installed with --no-deps on top of scripts/requirements.lock by scripts/setup.sh --cuda."]
    pins = {}
    for spec in linux_requirements("torch"):
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[([^\]]*)\])?\s*(.*)$", spec)
        name, extras, version = m.group(1), m.group(3), m.group(4).replace(" ", "")
        if name.startswith("nvidia-"):
            pins[name] = version
        elif name == "cuda-toolkit" and extras:
            pins[name] = version
            wanted = {e.strip() for e in extras.split(",")}
            for req in metadata.requires("cuda-toolkit") or []:
                spec2, _, marker = req.partition(";")
                extra = re.search(r"extra == '([^']+)'", marker)
                if extra and extra.group(1) in wanted and "linux" in marker:
                    n2, v2 = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", spec2.strip()).groups()
                    pins[n2] = v2.replace(" ", "")
        elif name not in SKIP:
            continue
    for name in sorted(pins):
        lines.append(f"{name}{pins[name]}")
    out = sys.argv[1] if len(sys.argv) > 1 else "scripts/requirements-cuda.lock"
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(pins)} packages -> {out}", file=sys.stderr)


main()
