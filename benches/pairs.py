#!/usr/bin/env python3
"""Two fer-rt binaries side by side: `BIN process CLIP --no-progress` (results to
/dev/null) for each clip, the two binaries interleaved and their order swapped every
round, each run measured from outside by wait4. Prints, per clip and binary, the median
wall time, user and kernel CPU, peak RSS, and every run's wall time.

usage: benches/pairs.py ROUNDS OLD_BIN NEW_BIN CLIP...
For one change at a time: build the commit before it, copy target/release/fer-rt aside,
build the change, and compare the two. On a noisy machine only these pairs compare.
"""
import os
import statistics as st
import subprocess
import sys
import time


def measure(cmd):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"error: {' '.join(cmd)} failed")
    return time.perf_counter() - t, ru.ru_utime, ru.ru_stime, ru.ru_maxrss / 1024


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    rounds, old, new, clips = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    runs = {}
    for r in range(rounds):
        for clip in clips:
            order = [("old", old), ("new", new)] if r % 2 == 0 else [("new", new), ("old", old)]
            for name, binary in order:
                runs.setdefault((clip, name), []).append(measure([binary, "process", clip, "--no-progress"]))
    for clip in clips:
        for name in ("old", "new"):
            v = runs[(clip, name)]
            print(f"{os.path.basename(clip)} {name}: wall {st.median(x[0] for x in v):.3f} s, "
                  f"user {st.median(x[1] for x in v):.2f} s, sys {st.median(x[2] for x in v):.2f} s, "
                  f"peak RSS {st.median(x[3] for x in v):.0f} MiB | " + " ".join(f"{x[0]:.2f}" for x in v))


if __name__ == "__main__":
    main()
