#!/usr/bin/env python3
"""Detection on keyframes against detection on every frame (issue 25): each clip through
`fer-rt process` twice, `--keyframe-interval 1` and the configuration under test, and the
JSON lines compared frame by frame.

  face-frames found   faces of the every-frame run with a face of IoU > 0.5 in the same frame
  extra               faces of the keyframe run with no such partner
  box / landmarks     largest coordinate difference of matched faces (px): median, p95, max
  raw / filtered      top label agreement of matched faces, before and after filtering
  landmark step       p95 of a track's frame-to-frame landmark movement, each run (jitter)

usage: benches/keyframes.py [CLIP ...] [-- EXTRA fer-rt ARGS]   (default: the bundled videos)
Run from the repository with scripts/env.sh sourced. Prints a table on stderr, JSON on stdout.
"""
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "reference"))
from compare import iou  # noqa: E402  (one IoU for every benchmark script)


def run(clip, extra):
    cmd = ["target/release/fer-rt", "process", str(clip), "--no-progress", *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)}: {p.stderr.strip()[-400:]}")
    return [json.loads(line) for line in p.stdout.splitlines()]


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q / 100 * len(v)))] if v else 0.0


def steps(run):
    """Frame-to-frame movement of each track's landmarks (largest coordinate change, px)."""
    last, out = {}, []
    for frame in run:
        seen = {}
        for f in frame["faces"]:
            t = f.get("track_id")
            if t in last:
                out.append(max(abs(p[i] - q[i]) for p, q in zip(f["landmarks"], last[t]) for i in (0, 1)))
            seen[t] = f["landmarks"]
        last = seen
    return out


def partner(f, faces, used):
    """The face of `faces` (index not in `used`) that overlaps `f` most, if by IoU > 0.5:
    its index, and the largest box and landmark coordinate differences (px)."""
    best = max(((iou(f["box"], g["box"]), j) for j, g in enumerate(faces) if j not in used), default=(0.0, None))
    if best[0] <= 0.5:
        return None
    g = faces[best[1]]
    box = max(abs(x - y) for x, y in zip(f["box"], g["box"]))
    lm = max(abs(p[i] - q[i]) for p, q in zip(f["landmarks"], g["landmarks"]) for i in (0, 1))
    return best[1], box, lm


def compare(every, keyed):
    found = total = extra = raw_same = filt_same = 0
    box, lm = [], []
    for e, k in zip(every, keyed):
        used = set()
        for f in e["faces"]:
            total += 1
            match = partner(f, k["faces"], used)
            if match is None:
                continue
            j, b, m = match
            g = k["faces"][j]
            used.add(j)
            found += 1
            box.append(b)
            lm.append(m)
            raw_same += f["label"] == g["label"]
            filt_same += (f.get("filtered") or {}).get("label") == (g.get("filtered") or {}).get("label")
        extra += len(k["faces"]) - len(used)
    m = max(found, 1)
    return {
        "frames": len(every), "frames_keyed": len(keyed), "faces": total,
        "found_pct": 100.0 * found / max(total, 1), "extra": extra,
        "box_px": {"median": statistics.median(box) if box else 0.0, "p95": pct(box, 95), "max": max(box, default=0.0)},
        "landmarks_px": {"median": statistics.median(lm) if lm else 0.0, "p95": pct(lm, 95), "max": max(lm, default=0.0)},
        "landmark_step_px_p95": {"every": pct(steps(every), 95), "keyed": pct(steps(keyed), 95)},
        "raw_label_same_pct": 100.0 * raw_same / m, "filtered_label_same_pct": 100.0 * filt_same / m,
    }


def main():
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    clips = [Path(a) for a in (args[:args.index("--")] if "--" in args else args)]
    if not clips:
        media = Path(os.environ["FER_RT_MEDIA"])
        clips = sorted(p for p in media.iterdir() if p.suffix in (".mp4", ".mov"))
    out = {"extra": extra, "clips": {}}
    for clip in clips:
        r = compare(run(clip, ["--keyframe-interval", "1"]), run(clip, extra))
        out["clips"][clip.name] = r
        print(f"{clip.name:<28} {r['faces']:5d} face-frames, found {r['found_pct']:6.2f} %, extra {r['extra']:3d} | "
              f"box px median {r['box_px']['median']:.2f} p95 {r['box_px']['p95']:.2f} max {r['box_px']['max']:.2f} | "
              f"landmarks px median {r['landmarks_px']['median']:.2f} p95 {r['landmarks_px']['p95']:.2f} max {r['landmarks_px']['max']:.2f} | "
              f"label same raw {r['raw_label_same_pct']:.1f} % filtered {r['filtered_label_same_pct']:.1f} % | "
              f"landmark step p95 every {r['landmark_step_px_p95']['every']:.2f} keyed {r['landmark_step_px_p95']['keyed']:.2f}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
