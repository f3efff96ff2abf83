#!/usr/bin/env python3
"""Reads one `fer-rt bench --json` report on stdin, appends it to OUT (a JSON line tagged
with LABEL) and prints a one-line summary.   summarise.py LABEL OUT"""
import json
import sys

label, out = sys.argv[1], sys.argv[2]
r = json.load(sys.stdin)
r["label"] = label
with open(out, "a") as f:
    f.write(json.dumps(r) + "\n")
s, b = r["stages_ms"], r["stage_busy_pct"]
print(
    f"{label:<40} {r['throughput_fps']:7.1f} fps | p50 detect {s['detect']['p50']:6.2f} align {s['align']['p50']:5.2f}"
    f" model {s['model']['p50']:6.2f} ms | busy detect {b['detect']:3.0f} align {b['align']:3.0f} model {b['model']:3.0f} %"
    f" | warm-up {r['warm_up_ms']:.0f} ms"
)
