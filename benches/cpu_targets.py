#!/usr/bin/env python3
"""Issue 25's whole-process targets, side by side: `fer-rt process CLIP` (results to
/dev/null) against the reference pipeline (benches/reference/pipeline.py) on the same clips,
in interleaved rounds, each run measured from outside by wait4: wall time, user and kernel
CPU time, peak RSS.

usage: benches/cpu_targets.py [--rounds 3] [--fer-rt target/release/fer-rt] [-- EXTRA fer-rt ARGS]
Run from the repository with scripts/env.sh sourced. The 1080p clip with 5 faces is
generated once by `fer-rt bench --faces 5 --size 1920x1080 --frames 240 --save-input`.
Prints a table on stderr and one JSON object on stdout.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(cmd):
    """Wall seconds, user and system CPU seconds, peak RSS (MiB) of one child process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"error: {' '.join(map(str, cmd))} failed: {err.strip()[-400:]}")
    return {"wall_s": wall, "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "peak_rss_mib": ru.ru_maxrss / 1024}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fer-rt", default="target/release/fer-rt")
    ap.add_argument("extra", nargs="*", help="extra fer-rt process arguments (after --)")
    a = ap.parse_args()
    # both sides without ONNX Runtime's telemetry store: fer-rt turns it off itself, and the
    # reference's onnxruntime would otherwise write and fsync it at every start and exit
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    media = Path(os.environ["FER_RT_MEDIA"])
    with tempfile.TemporaryDirectory() as tmp:
        hd = Path(tmp) / "faces5_1080p.mp4"
        subprocess.run([a.fer_rt, "bench", "--faces", "5", "--size", "1920x1080", "--frames", "240",
                        "--save-input", hd], check=True, capture_output=True)
        clips = {"pexels_360p": media / "WolfgangLanger_Pexels.mp4", "faces5_1080p": hd}
        # fer-rt as a user gets it, and with full detection on every frame (the keyframe lever)
        variants = {"fer-rt": a.extra, "fer-rt every-frame": [*a.extra, "--keyframe-interval", "1"]}
        runs = {c: {**{v: [] for v in variants}, "reference": []} for c in clips}
        for r in range(a.rounds):
            print(f"round {r + 1}/{a.rounds}", file=sys.stderr)
            for name, clip in clips.items():
                for v, extra in variants.items():
                    runs[name][v].append(measure([a.fer_rt, "process", clip, "--no-progress", *extra]))
                runs[name]["reference"].append(measure([sys.executable, HERE / "reference" / "pipeline.py", clip]))
    out = {"rounds": a.rounds, "cores": os.cpu_count(), "extra": a.extra, "clips": {}}
    for name, by in runs.items():
        med = {who: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for who, rs in by.items()}
        ref = med["reference"]
        out["clips"][name] = {"reference": ref, "runs": by}
        for v in (k for k in med if k != "reference"):
            f = med[v]
            cpu = f["user_s"] + f["sys_s"]
            c = out["clips"][name][v] = {
                **f, "speedup": ref["wall_s"] / f["wall_s"], "rss_ratio": f["peak_rss_mib"] / ref["peak_rss_mib"],
                "kernel_pct": 100 * f["sys_s"] / cpu if cpu else 0.0,
            }
            print(f"{name:<14} {v:<19} {f['wall_s']:6.2f} s {f['peak_rss_mib']:5.0f} MiB (kernel {c['kernel_pct']:4.1f} % of CPU)"
                  f" | reference {ref['wall_s']:6.2f} s {ref['peak_rss_mib']:5.0f} MiB"
                  f" | speed-up {c['speedup']:.2f}x, RSS {c['rss_ratio']:.2f}x", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
