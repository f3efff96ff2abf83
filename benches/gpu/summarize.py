#!/usr/bin/env python3
"""Turns one GPU visit's report (benches/gpu/visit.sh's gpu-report.tar.gz) into what gets
committed: one JSON file under benches/results/ named by the date and the device, holding
every report of the visit, and a Markdown section for BENCHMARKS.md on stdout that sets each
of issue 10's targets beside its measured value, with the before/after and the per-stage
busy shares, and issue 13's batch timings.

    summarize.py REPORT.tar.gz [--results benches/results]

Why a script: the visit's time is scarce and so is the session's; reading twenty JSON files
by hand is where a figure gets copied wrong. A target whose report is missing says so
instead of passing."""
import argparse
import json
import re
import sys
import tarfile
from datetime import datetime, timezone
from pathlib import Path

# (report, what, how to read it, comparison, target)
FPS_TARGETS = [
    ("bench_f5_1080_mx", "1080p, 5 faces, mini-Xception, file", 600.0),
    ("bench_f5_1080_mra", "1080p, 5 faces, ResNet-18 MRA, file", 300.0),
    ("bench_f20_720_mra", "720p, 20 faces, ResNet-18 MRA, file", 150.0),
]
LIVE_TARGETS = [
    ("live_f1_360", "live 30 fps, 1 face at 360p", 10.0),
    ("live_f5_1080", "live 30 fps, 5 faces at 1080p", 15.0),
]
FILE_BENCHES = [
    "bench_f5_1080_mx", "bench_f1_360_mx", "bench_f20_720_mx", "bench_f5_1080_mra",
    "bench_f20_720_mra", "bench_f5_1080_mx_host_exact", "bench_f5_1080_mx_device_exact",
]


def load(tar_path):
    """The report folder's name and every file in it: .json/.jsonl parsed (None when
    empty), .txt/.log as text, .err as its last lines, keyed by the name inside the folder."""
    folder, out = "", {}
    with tarfile.open(tar_path) as tar:
        for m in tar.getmembers():
            if not m.isfile():
                continue
            if "/" not in m.name:
                continue
            folder, name = m.name.split("/", 1)
            text = tar.extractfile(m).read().decode("utf-8", "replace")
            if name.endswith(".jsonl"):
                out[name] = [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]
            elif name.endswith(".json"):
                try:
                    out[name] = json.loads(text) if text.strip() else None
                except json.JSONDecodeError:
                    # process_*.json are JSON lines: keep the line count, not the lines
                    lines = [l for l in text.splitlines() if l.strip()]
                    out[name] = {"json_lines": len(lines)}
            elif name.endswith((".txt", ".log")):
                out[name] = text
            elif name.endswith(".err"):
                out[name] = "\n".join(text.splitlines()[-5:])
    return folder, out


def verdict(ok):
    return "missing" if ok is None else ("**met**" if ok else "**not met**")


def fmt(x, unit="", digits=1):
    return "–" if x is None else f"{x:.{digits}f}{unit}"


def stage(rep, name, key):
    return ((rep or {}).get("stages_ms") or {}).get(name, {}).get(key)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report")
    ap.add_argument("--results", default="benches/results")
    ap.add_argument("--cpu-baseline", help="benches/gpu/cpu_baseline.sh's JSON: the 2-core process of the same clip")
    args = ap.parse_args()
    folder, r = load(args.report)
    machine = r.get("machine.txt", "")
    gpu_line = next((l for l in machine.splitlines()[1:2] if "," in l), "")
    gpu = gpu_line.split(",")[0].strip() or "no GPU"
    # visit.sh names the report folder gpu-<UTC start of the visit>
    stamp = re.search(r"(\d{8}T\d{6}Z)", folder)
    date = stamp.group(1) if stamp else datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    steps = {s["step"]: s for s in r.get("steps.jsonl", [])}
    reports = {k[:-5]: v for k, v in r.items() if k.endswith(".json")}
    baseline = json.loads(Path(args.cpu_baseline).read_text()) if args.cpu_baseline else None
    combined = {"device": gpu, "cpu_baseline_2_cores": baseline, "date": date, "machine": machine, "steps": steps, "reports": reports,
                "cuda_vs_cpu": r.get("cuda_vs_cpu.jsonl", []), "visit_log": r.get("visit.log", "")}
    slug = re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    dest = Path(args.results) / f"gpu-{date[:8]}-{slug}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(combined, indent=1) + "\n")
    print(f"written {dest}", file=sys.stderr)

    p = print
    p(f"### GPU visit {date}: {gpu}\n")
    p(f"Report: `{dest}`. Produced by `benches/gpu/prepare.sh` here, then on the lent machine "
      "`bash benches/gpu/visit.sh`; summarised by `benches/gpu/summarize.py`.\n")
    p("| target | measured | verdict |\n|---|---|---|")
    for name, what, target in FPS_TARGETS:
        fps = (reports.get(name) or {}).get("throughput_fps")
        p(f"| {what} ≥ {target:.0f} fps | {fmt(fps, ' fps')} | {verdict(None if fps is None else fps >= target)} |")
    worst = None
    for name in FILE_BENCHES:
        rep = reports.get(name)
        for st in ("model", "detect"):
            p50, p99 = stage(rep, st, "p50"), stage(rep, st, "p99")
            if p50 and p99 is not None:
                ratio = p99 / p50
                if worst is None or ratio > worst[0]:
                    worst = (ratio, name, st, p50, p99)
    if worst:
        ratio, name, st, p50, p99 = worst
        p(f"| any file run: model and detect p99 ≤ 3 × p50 | worst {st} in {name}: p50 {p50:.2f} ms, "
          f"p99 {p99:.2f} ms ({ratio:.2f}×) | {verdict(ratio <= 3.0)} |")
    else:
        p("| any file run: p99 ≤ 3 × p50 | – | missing |")
    for name, what, limit in LIVE_TARGETS:
        rep = reports.get(name)
        if rep:
            e2e = stage(rep, "end_to_end", "p99")
            ok = rep.get("dropped") == 0 and e2e is not None and e2e < limit
            p(f"| {what}: 0 dropped, end-to-end p99 < {limit:.0f} ms | {rep.get('dropped')} dropped "
              f"({fmt(rep.get('dropped_pct'), ' %')}), p99 {fmt(e2e, ' ms', 2)} | {verdict(ok)} |")
        else:
            p(f"| {what} | – | missing |")
    rep = reports.get("streams_16_1080_mra")
    if rep and rep.get("streams"):
        worst = max(s["end_to_end"]["p99"] for s in rep["streams"])
        dropped = sum(s["dropped"] for s in rep["streams"])
        ok = dropped == 0 and worst < 50.0
        p(f"| 16 live 1080p streams at 30 fps, 2 faces each, ResNet-18 MRA: 0 dropped, every stream's p99 < 50 ms | "
          f"{dropped} dropped, worst stream p99 {worst:.1f} ms, {rep.get('batch_streams_mean', 0):.1f} streams a batch | {verdict(ok)} |")
    else:
        p("| 16 live 1080p streams at 30 fps (issue 26) | – | missing |")
    walls = {k: v.get("wall_s") for k, v in steps.items() if k.startswith("process_") and v.get("rc") == 0}
    gpu_wall = next((v for k, v in walls.items() if "f5_1080" in k and not k.endswith("_cpu")), None)
    cpu_wall = walls.get("process_f5_1080_cpu")
    p(f"| `process` of the 1080p 5-face clip, start-up included, faster than the CPU | "
      f"{fmt(gpu_wall, ' s', 2)} vs {fmt(cpu_wall, ' s', 2)} on this machine's CPU | "
      f"{verdict(None if gpu_wall is None or cpu_wall is None else gpu_wall < cpu_wall)} |")
    two = (baseline or {}).get("median_wall_s")
    p(f"| the same, against the 2-core build machine (`cpu_baseline.sh`, median of 3) | "
      f"{fmt(gpu_wall, ' s', 2)} vs {fmt(two, ' s', 2)} | "
      f"{verdict(None if gpu_wall is None or two is None else gpu_wall < two)} |")
    for c in combined["cuda_vs_cpu"]:
        clip = Path(c["a"]).stem.replace("process_", "")
        ok = (c.get("top_label_same_pct") or 0) >= 99.0 and c.get("max_box_diff_px", 1e9) <= 2.0 \
            and not c.get("frames_with_other_face_count")
        p(f"| CUDA vs CPU outputs, {clip}: top label ≥ 99 %, boxes within 2 px | "
          f"{fmt(c.get('top_label_same_pct'), ' %', 2)} same, boxes within {fmt(c.get('max_box_diff_px'), ' px', 2)}, "
          f"{c.get('frames_with_other_face_count')} frames with another face count | {verdict(ok)} |")
    train = reports.get("train_mra") or {}
    ips = train.get("images_per_s")
    hist = train.get("history") or []
    wait = hist[-1].get("data_wait_pct") if hist else None
    p(f"| `train`, ResNet-18 MRA 224 px pooled ≥ 4000 images/s | {fmt(ips, ' images/s', 0)} "
      f"(data wait {fmt(wait, ' %')} in the last epoch) | {verdict(None if ips is None else ips >= 4000)} |")

    p("\n**Before/after** (1080p, 5 faces, mini-Xception; fps and model p50/p99 ms):\n")
    p("| path | fps | model p50 | model p99 | detect p50 | align p50 | warm-up ms |\n|---|---|---|---|---|---|---|")
    for name, what in [("bench_f5_1080_mx_host_exact", "host preprocessing, exact shapes (the old path)"),
                       ("bench_f5_1080_mx_device_exact", "device preprocessing, exact shapes"),
                       ("bench_f5_1080_mx", "device preprocessing, bucketed shapes (default)")]:
        rep = reports.get(name)
        p(f"| {what} | {fmt((rep or {}).get('throughput_fps'))} | {fmt(stage(rep, 'model', 'p50'), '', 2)} | "
          f"{fmt(stage(rep, 'model', 'p99'), '', 2)} | {fmt(stage(rep, 'detect', 'p50'), '', 2)} | "
          f"{fmt(stage(rep, 'align', 'p50'), '', 2)} | {fmt((rep or {}).get('warm_up_ms'), '', 0)} |")

    p("\n**Training before/after** (ResNet-18 MRA 224 px pooled, synthetic faces; images/s, median epoch):\n")
    p("| run | images/s | amp | memory format | data wait, last epoch |\n|---|---|---|---|---|")
    for name, what in [("train_mra", "default"), ("train_mra_contiguous", "contiguous tensors"),
                       ("train_mra_fp32", "fp32 (no autocast)")]:
        rep = reports.get(name) or {}
        h = rep.get("history") or [{}]
        p(f"| {what} | {fmt(rep.get('images_per_s'), '', 0)} | {rep.get('amp', '–')} | "
          f"{rep.get('memory_format', '–')} | {fmt(h[-1].get('data_wait_pct'), ' %')} |")

    p("\n**Share of wall time each stage is busy** (%, host-side timing):\n")
    names = [n for n in FILE_BENCHES + [t[0] for t in LIVE_TARGETS] if reports.get(n)]
    stages = ["decode", "detect", "align", "model", "track"]
    p("| run | fps | " + " | ".join(stages) + " |\n|---|---|" + "---|" * len(stages))
    for n in names:
        busy = reports[n].get("stage_busy_pct") or {}
        p(f"| {n} | {fmt(reports[n].get('throughput_fps'))} | " + " | ".join(fmt(busy.get(s), "", 0) for s in stages) + " |")

    jobs = [(k, v) for k, v in steps.items() if k.startswith("batch_")]
    if jobs:
        ort = "ONNX Runtime" if "ONNX Runtime: /" in combined["visit_log"] else "torch (no ONNX Runtime there)"
        cores = next((l for l in machine.splitlines() if l.strip().isdigit()), "?")
        p(f"\n**Issue 13, `batch` on {cores.strip()} cores** (bundled media, CPU engines: {ort}; wall s):\n")
        p("| run | wall s | exit |\n|---|---|---|")
        for k, v in jobs:
            p(f"| {k.replace('batch_', '').replace('_', ' ')} | {v['wall_s']:.2f} | {v['rc']} |")
    failed = [k for k, v in steps.items() if v.get("rc") not in (0, None)]
    skipped = re.findall(r"(\S+) skipped:", combined["visit_log"])
    if failed or skipped:
        p(f"\nFailed steps: {', '.join(failed) or 'none'}; skipped for time: {', '.join(skipped) or 'none'}.")


if __name__ == "__main__":
    main()
