#!/usr/bin/env python3
"""Runs fer-rt and the reference pipeline (pipeline.py) on the same video, interleaved,
and prints each one's throughput, the median ratio, and how far their outputs agree.

usage: compare.py VIDEO [--rounds 3] [--fer-rt target/release/fer-rt] [-- EXTRA fer-rt bench ARGS]
Run from the repository with scripts/env.sh sourced (the venv's python, FER_RT_MEDIA).
Prints a human summary on stderr and one JSON object on stdout.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {' '.join(map(str, cmd))} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def agreement(fer_rt, video, tmp):
    """Face counts and top labels, fer-rt `process` (raw labels) vs the reference's."""
    ref_path = Path(tmp) / "ref.jsonl"
    subprocess.run([sys.executable, HERE / "pipeline.py", video, "--jsonl", ref_path], check=True,
                   stdout=subprocess.DEVNULL)
    ours = subprocess.run([fer_rt, "process", video, "--filter", "none", "--no-progress"], check=True,
                          capture_output=True, text=True).stdout.splitlines()
    ref = [json.loads(l) for l in ref_path.read_text().splitlines()]
    ours = [json.loads(l) for l in ours]
    frames = min(len(ref), len(ours))
    same_count = matched = same_label = 0
    for o, r in zip(ours[:frames], ref[:frames]):
        same_count += len(o["faces"]) == len(r["faces"])
        for rf in r["faces"]:
            best = max(o["faces"], key=lambda of: iou(of["box"], rf["box"]), default=None)
            if best is not None and iou(best["box"], rf["box"]) > 0.5:
                matched += 1
                same_label += best["label"] == rf["label"]
    ref_faces = sum(len(r["faces"]) for r in ref[:frames])
    return {"frames": frames, "frames_ours": len(ours), "frames_reference": len(ref),
            "same_face_count_pct": 100.0 * same_count / max(frames, 1),
            "reference_faces_matched_pct": 100.0 * matched / max(ref_faces, 1),
            "same_top_label_pct": 100.0 * same_label / max(matched, 1)}


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fer-rt", default=str(ROOT / "target" / "release" / "fer-rt"))
    ap.add_argument("--no-agreement", action="store_true")
    args = ap.parse_args(argv)

    ours, ref = [], []
    for r in range(args.rounds):
        ours.append(run_json([args.fer_rt, "bench", args.video, "--json", *extra]))
        ref.append(run_json([sys.executable, HERE / "pipeline.py", args.video]))
        print(f"round {r + 1}: fer-rt {ours[-1]['throughput_fps']:.1f} fps, reference {ref[-1]['throughput_fps']:.1f} fps",
              file=sys.stderr)
    o = statistics.median(x["throughput_fps"] for x in ours)
    f = statistics.median(x["throughput_fps"] for x in ref)
    result = {
        "video": args.video, "rounds": args.rounds, "fer_rt_fps": [x["throughput_fps"] for x in ours],
        "reference_fps": [x["throughput_fps"] for x in ref], "fer_rt_fps_median": o, "reference_fps_median": f,
        "ratio": o / f if f > 0 else None,
        "fer_rt_end_to_end_ms_p50": statistics.median(x["stages_ms"]["end_to_end"]["p50"] for x in ours),
        "reference_stages_ms_p50": ref[-1]["stages_ms_p50"],
        "fer_rt_stages_ms_p50": {k: v["p50"] for k, v in ours[-1]["stages_ms"].items()},
        "fer_rt_engines": {"detector": ours[-1]["detect_backend"], "classifier": ours[-1]["classifier_backend"]},
    }
    if not args.no_agreement:
        with tempfile.TemporaryDirectory() as tmp:
            result["agreement"] = agreement(args.fer_rt, args.video, tmp)
    print(f"fer-rt {o:.1f} fps vs reference {f:.1f} fps (medians of {args.rounds}): ratio {result['ratio']:.2f}x",
          file=sys.stderr)
    if "agreement" in result:
        a = result["agreement"]
        print(f"agreement over {a['frames']} frames: same face count {a['same_face_count_pct']:.1f} %, reference faces "
              f"matched {a['reference_faces_matched_pct']:.1f} %, same top label {a['same_top_label_pct']:.1f} %",
              file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
