#!/usr/bin/env python3
"""Choosing `detect.min_face_px` (issue 25): each bundled clip and photo through `fer-rt
process` with `--min-face-px 0` (the whole frame searched at the placing scale, max_side
only) and with each candidate, and the faces compared frame by frame.

  faces >= 32     faces of the full-resolution run whose shorter box side is >= 32 px
  found           of those, faces with a partner of IoU > 0.5 in the candidate's run
  box             largest coordinate difference of the partners (px): median, max
  landmarks       the same for the five landmarks

A default passes when every clip and photo has found = 100 % and box max <= 2 px, with
keyframes off (`--keyframe-interval 1`: the search and the placing alone) and on (the
default schedule).

usage: benches/min_face.py [--candidates 12,24,32,48] [MEDIA ...]   (default: every bundled file)
Run from the repository with scripts/env.sh sourced. Prints a table on stderr, JSON on stdout.
"""
import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from keyframes import partner, run  # noqa: E402  (one way to run and match)

MIN_SIDE = 32.0


def compare(full, cand):
    wanted = found = 0
    box, lm = [], []
    for a, b in zip(full, cand):
        used = set()
        for f in a["faces"]:
            x1, y1, x2, y2 = f["box"]
            if min(x2 - x1, y2 - y1) < MIN_SIDE:
                continue
            wanted += 1
            match = partner(f, b["faces"], used)
            if match is None:
                continue
            used.add(match[0])
            found += 1
            box.append(match[1])
            lm.append(match[2])
    return {
        "frames": len(full), "faces": wanted, "found_pct": 100.0 * found / wanted if wanted else 100.0,
        "box_px": {"median": statistics.median(box) if box else 0.0, "max": max(box, default=0.0)},
        "landmarks_px": {"median": statistics.median(lm) if lm else 0.0, "max": max(lm, default=0.0)},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", default="12,24,32,48")
    ap.add_argument("media", nargs="*", type=Path)
    args = ap.parse_args()
    media = args.media or sorted(p for p in Path(os.environ["FER_RT_MEDIA"]).iterdir()
                                 if p.suffix.lower() in (".mp4", ".mov", ".jpg", ".png"))
    out = {}
    for schedule, extra in (("every frame", ["--keyframe-interval", "1"]), ("keyframes", [])):
        for m in media:
            full = run(m, ["--min-face-px", "0", *extra])
            for c in args.candidates.split(","):
                r = compare(full, run(m, ["--min-face-px", c, *extra]))
                out.setdefault(schedule, {}).setdefault(c, {})[m.name] = r
                print(f"{schedule:<11} min_face_px {c:>3} {m.name:<26} {r['faces']:4d} faces >= 32 px, "
                      f"found {r['found_pct']:6.2f} % | box px median {r['box_px']['median']:.2f} "
                      f"max {r['box_px']['max']:.2f} | landmarks px median {r['landmarks_px']['median']:.2f} "
                      f"max {r['landmarks_px']['max']:.2f}", file=sys.stderr)
    for schedule, by_c in out.items():
        for c, by_m in by_c.items():
            ok = all(r["found_pct"] == 100.0 and r["box_px"]["max"] <= 2.0 for r in by_m.values())
            print(f"{schedule:<11} min_face_px {c:>3}: {'passes' if ok else 'fails'}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
