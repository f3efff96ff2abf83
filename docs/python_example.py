"""The worked example of docs/python.md: process a clip into a table, summarise it per track
with pandas, and plot valence and arousal over time, raw and filtered, with their ±1σ
bands. python/tests/test_docs.py runs it, so the page cannot drift from the package.

usage: python docs/python_example.py [CLIP] [OUT.png]
"""
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt

import fer_rt

media = Path(os.environ.get("FER_RT_MEDIA", Path.home() / ".cache/fer-rt/media"))
clip = sys.argv[1] if len(sys.argv) > 1 else str(media / "WolfgangLanger_Pexels.mp4")
out = sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).with_name("python-valence-arousal.png"))

# 1. the whole pipeline over the clip: one row per face per frame
table = fer_rt.process(clip)
df = table.to_pandas()
print(f"{table.num_rows} rows, model {table.schema.metadata[b'fer_rt.classifier'].decode()}")

# 2. per track: how long it was on screen, its filtered label shares, mean valence/arousal
per_track = df.groupby("track_id").agg(
    frames=("frame", "count"),
    seconds=("pts_ms", lambda t: (t.max() - t.min()) / 1e3),
    label=("filtered_label", lambda s: s.value_counts().idxmax()),
    valence=("filtered_valence", "mean"),
    arousal=("filtered_arousal", "mean"),
    confidence=("filtered_confidence", "mean"),
)
print(per_track.round(3).to_string())

# 3. valence and arousal over time for the longest track, raw against filtered
track = per_track["frames"].idxmax()
t = df[df.track_id == track]
s = t.pts_ms / 1e3
fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
for ax, what in zip(axes, ["valence", "arousal"]):
    ax.plot(s, t[what], color="0.6", lw=0.8, label="raw")
    ax.plot(s, t[f"filtered_{what}"], color="C0", lw=1.6, label="filtered")
    lo = t[f"filtered_{what}"] - t[f"filtered_{what}_std"]
    hi = t[f"filtered_{what}"] + t[f"filtered_{what}_std"]
    ax.fill_between(s, lo, hi, color="C0", alpha=0.2, label="filtered ±1σ")
    ax.set_ylabel(what)
    ax.set_ylim(-1, 1)
    ax.grid(alpha=0.3)
axes[0].legend(loc="upper right", fontsize=8)
axes[0].set_title(f"{Path(clip).name}, track {track}")
axes[1].set_xlabel("time (s)")
fig.tight_layout()
fig.savefig(out, dpi=100)
print(f"figure: {out}")
