#!/usr/bin/env python3
"""Issue 26's benchmark: how many live streams one fer-rt process holds against as many
separate `fer-rt` processes, side by side on this machine.

For each N (rising until a mode drops frames, or --max): one process runs
`bench --streams N --live --fps F --faces K --size WxH`; then N processes each run
`bench --live --fps F --faces K --size WxH` at the same time. A mode holds N when no
stream dropped a frame; it holds N "after the start" when none dropped one after its
warm-up frames (bench's --warmup, 10: the first 0.7 s at 15 fps), when every stream's first
frame, a whole-frame search, comes at once. Each mode's CPU time (user + kernel, every
process it ran, starts included) is reported a delivered frame: what separate processes
spend beyond one process is what sharing one saves. The generated streams of one process deliver at phases spread over
a frame period, as independent cameras do; separate processes start at their own times. Also measured: one stream's file throughput (back-pressure,
nothing dropped), whose 1/F share is the most streams the machine could hold.

    streams.py [--fps 15] [--faces 1] [--size 640x360] [--frames 300] [--max 24] [--step 2] [--from 1]

Prints a Markdown table for BENCHMARKS.md and a JSON summary on the last line."""
import argparse
import json
import os
import resource
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

BIN = os.environ.get("FER_RT_BIN", os.path.join(os.path.dirname(__file__), "..", "target", "release", "fer-rt"))


def bench(args, extra):
    cmd = [BIN, "bench", "--json", "--size", args.size, "--faces", str(args.faces)] + extra
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout)


def children_cpu_s():
    """User + kernel CPU seconds of the child processes waited for so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def one_process(args, n):
    r = bench(args, ["--streams", str(n), "--live", "--fps", str(args.fps), "--frames", str(args.frames)])
    # one stream is the plain live run, reported without a per-stream list
    streams = r.get("streams") or [r]
    streams = [{**s, "end_to_end": s.get("end_to_end") or s["stages_ms"]["end_to_end"]} for s in streams]
    return {
        "dropped": sum(s["dropped"] for s in streams),
        "dropped_after_warmup": sum(s["dropped_after_warmup"] for s in streams),
        "p50_ms": [s["end_to_end"]["p50"] for s in streams],
        "p99_ms": [s["end_to_end"]["p99"] for s in streams],
        "batch_streams_mean": r.get("batch_streams_mean"),
    }


def separate(args, n):
    extra = ["--live", "--fps", str(args.fps), "--frames", str(args.frames)]
    with ThreadPoolExecutor(n) as ex:
        rs = list(ex.map(lambda _: bench(args, extra), range(n)))
    return {
        "dropped": sum(r["dropped"] for r in rs),
        "dropped_after_warmup": sum(r["dropped_after_warmup"] for r in rs),
        "p50_ms": [r["stages_ms"]["end_to_end"]["p50"] for r in rs],
        "p99_ms": [r["stages_ms"]["end_to_end"]["p99"] for r in rs],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--faces", type=int, default=1)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--max", type=int, default=24)
    ap.add_argument("--step", type=int, default=2)
    ap.add_argument("--from", dest="start", type=int, default=1, help="the smallest N tried")
    args = ap.parse_args()

    # at the streams' frame rate: keyframes come by video time too (detect.keyframe_max_ms)
    before = children_cpu_s()
    file_fps = bench(args, ["--frames", "600", "--fps", str(args.fps)])["throughput_fps"]
    file_cpu_ms = (children_cpu_s() - before) * 1000 / 600
    ceiling = file_fps / args.fps
    print(f"one stream's file throughput {file_fps:.1f} fps (CPU {file_cpu_ms:.2f} ms a frame): "
          f"at most {ceiling:.1f} streams of {args.fps:g} fps", file=sys.stderr)
    modes = [("one process", one_process), ("separate processes", separate)]
    held = {m: 0 for m, _ in modes}
    held_after_start = {m: 0 for m, _ in modes}
    done = {m: False for m, _ in modes}
    strict_failed = {m: False for m, _ in modes}
    rows = []
    ns = [1] + list(range(args.step, args.max + 1, args.step))
    for n in [n for n in ns if n >= args.start]:
        row = {"n": n}
        for mode, f in modes:
            if done[mode]:
                continue
            before = children_cpu_s()
            r = f(args, n)
            # the CPU of every process the mode ran (their starts included), a delivered frame
            delivered = n * args.frames - r["dropped"]
            r["cpu_ms_per_frame"] = (children_cpu_s() - before) * 1000 / max(delivered, 1)
            row[mode] = r
            print(f"N={n} {mode}: {r['dropped']} dropped ({r['dropped_after_warmup']} after the start), "
                  f"p99 max {max(r['p99_ms']):.1f} ms, "
                  f"CPU {r['cpu_ms_per_frame']:.2f} ms a frame", file=sys.stderr)
            # held: every N up to this one dropped nothing; after the start: nothing once warm
            if r["dropped"] == 0 and not strict_failed[mode]:
                held[mode] = n
            else:
                strict_failed[mode] = True
            if r["dropped_after_warmup"] == 0:
                held_after_start[mode] = n
            else:
                done[mode] = True
        rows.append(row)
        if all(done.values()):
            break

    print(f"| N streams of {args.size} at {args.fps:g} fps, {args.faces} face(s) | one process: dropped (after the start), p50 / p99 worst stream (ms), streams a batch, CPU ms a frame | "
          "N processes: dropped (after the start), p50 / p99 worst (ms), CPU ms a frame |")
    print("|---|---|---|")
    for row in rows:
        cells = []
        for mode in ("one process", "separate processes"):
            r = row.get(mode)
            if r is None:
                cells.append("–")
                continue
            extra = f", {r['batch_streams_mean']:.2f}" if r.get("batch_streams_mean") is not None else ""
            cells.append(f"{r['dropped']} ({r['dropped_after_warmup']}), {max(r['p50_ms']):.1f} / {max(r['p99_ms']):.1f}{extra}, "
                         f"{r['cpu_ms_per_frame']:.2f}")
        print(f"| {row['n']} | {cells[0]} | {cells[1]} |")
    summary = {"file_fps": file_fps, "file_cpu_ms_per_frame": file_cpu_ms, "ceiling_streams": ceiling, "held": held, "held_after_start": held_after_start, "rows": rows}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
