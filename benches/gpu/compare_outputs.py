#!/usr/bin/env python3
"""Compares two fer-rt JSON-lines outputs of the same input (e.g. CUDA vs CPU): frames,
face counts, largest box difference, top-label agreement, largest probability difference.
Prints one JSON object.   compare_outputs.py A.jsonl B.jsonl"""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


a, b = load(sys.argv[1]), load(sys.argv[2])
box = prob = 0.0
same = total = count_mismatch = 0
for x, y in zip(a, b):
    fa, fb = x["faces"], y["faces"]
    if len(fa) != len(fb):
        count_mismatch += 1
        continue
    for f, g in zip(fa, fb):
        box = max(box, max(abs(p - q) for p, q in zip(f["box"], g["box"])))
        total += 1
        same += f["label"] == g["label"]
        prob = max(prob, max(abs(f["expression"][k] - g["expression"][k]) for k in f["expression"]))
print(json.dumps({
    "a": sys.argv[1], "b": sys.argv[2], "frames": [len(a), len(b)],
    "frames_with_other_face_count": count_mismatch, "faces_compared": total,
    "top_label_same_pct": 100.0 * same / total if total else None,
    "max_box_diff_px": box, "max_prob_diff": prob,
}))
