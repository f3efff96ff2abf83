#!/usr/bin/env python3
"""The Python package against the CLI and the Python reference pipeline, side by side in one
run (issue 23). Per round, in turn:

  cli        `fer-rt process CLIP` (wall time, process start and model load included)
  process    fer_rt.process(CLIP) in this interpreter (wall time, model load included)
  analyze    a loop: OpenCV decodes a frame, fer_rt.Analyzer.analyze() takes it (frames/s
             after 10 warm-up frames; nothing is batched across frames)
  cli_fps    `fer-rt process`'s own frames/s (its pipeline batches across frames)
  reference  benches/reference/pipeline.py (OpenCV + ONNX Runtime on the same models)

usage: benches/python.py [CLIP ...] [--rounds 3]     (after scripts/setup.sh; env.sh sourced)
Prints one JSON line per clip with the medians and the ratios.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2

import fer_rt

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "fer-rt"
MEDIA = Path(os.environ.get("FER_RT_MEDIA", Path.home() / ".cache/fer-rt/media"))


def cli(clip):
    t = time.perf_counter()
    out = subprocess.run([str(BIN), "process", str(clip)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, check=True)
    wall = time.perf_counter() - t
    fps = float(re.search(r"\(([\d.]+) fps\)", out.stderr).group(1))
    return wall, fps


def process(clip):
    t = time.perf_counter()
    table = fer_rt.process(clip)
    return time.perf_counter() - t, table.num_rows


def analyze(clip, an, warmup=10):
    an.reset()
    cap = cv2.VideoCapture(str(clip))
    n, t0 = 0, None
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        an.analyze(bgr, cap.get(cv2.CAP_PROP_POS_MSEC), bgr=True)
        n += 1
        if n == warmup:
            t0 = time.perf_counter()
    return (n - warmup) / (time.perf_counter() - t0)


def reference(clip):
    out = subprocess.run([sys.executable, str(ROOT / "benches/reference/pipeline.py"), str(clip)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["throughput_fps"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="*", default=[str(MEDIA / "single_face.mp4"), str(MEDIA / "WolfgangLanger_Pexels.mp4")])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    an = fer_rt.Analyzer()
    for clip in args.clips:
        runs = {k: [] for k in ["cli_s", "process_s", "analyze_fps", "cli_fps", "reference_fps"]}
        for _ in range(args.rounds):
            wall, fps = cli(clip)
            runs["cli_s"].append(wall)
            runs["cli_fps"].append(fps)
            runs["process_s"].append(process(clip)[0])
            runs["analyze_fps"].append(analyze(clip, an))
            runs["reference_fps"].append(reference(clip))
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(json.dumps({
            "clip": Path(clip).name,
            "rounds": args.rounds,
            **{k: round(v, 2) for k, v in med.items()},
            "process_over_cli": round(med["process_s"] / med["cli_s"], 3),
            "analyze_over_reference": round(med["analyze_fps"] / med["reference_fps"], 2),
            "cli_over_analyze": round(med["cli_fps"] / med["analyze_fps"], 2),
        }), flush=True)


if __name__ == "__main__":
    main()
