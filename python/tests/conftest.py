"""Shared fixtures: the bundled media, the CLI binary, and a clip decoded here (not by
fer-rt) into RGB frames with their timestamps."""
import json
import os
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MEDIA = Path(os.environ.get("FER_RT_MEDIA", Path.home() / ".cache/fer-rt/media"))
BIN = ROOT / "target" / "release" / "fer-rt"

os.environ.setdefault("FER_RT_MODELS", str(ROOT / "models"))


def media(name: str) -> Path:
    p = MEDIA / name
    assert p.is_file(), f"{p} missing: run scripts/setup.sh"
    return p


def cli_process(path: Path, *extra: str) -> list:
    out = subprocess.run([str(BIN), "process", "--no-progress", str(path), *extra], check=True, capture_output=True)
    return [json.loads(l) for l in out.stdout.decode().splitlines()]


def decode(path: Path):
    """Every frame of `path` as (H x W x 3 uint8 RGB, pts in ms), by the ffmpeg CLI and
    ffprobe: swscale with bilinear filtering, as fer-rt converts, and the timestamps as
    ticks times the stream's time base, as fer-rt computes them."""
    probe = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
             "stream=width,height,time_base:frame=best_effort_timestamp", "-of", "json", str(path)],
            check=True, capture_output=True,
        ).stdout
    )
    st = probe["streams"][0]
    w, h = st["width"], st["height"]
    tb = Fraction(st["time_base"])
    pts = [f["best_effort_timestamp"] * (tb.numerator / tb.denominator) * 1e3 for f in probe["frames"]]
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-fps_mode", "passthrough", "-sws_flags", "bilinear",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    assert len(frames) == len(pts)
    return list(zip(frames, pts))


@pytest.fixture(scope="session")
def clip_frames():
    return decode(media("single_face.mp4"))


@pytest.fixture(scope="session")
def clip_lines():
    return cli_process(media("single_face.mp4"))
