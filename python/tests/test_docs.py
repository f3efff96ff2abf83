"""The worked example of docs/python.md runs as printed, and draws its figure."""
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, media


def test_the_worked_example_runs_and_draws_its_figure(tmp_path):
    out = tmp_path / "figure.png"
    r = subprocess.run([sys.executable, str(ROOT / "docs/python_example.py"), str(media("single_face.mp4")), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "rows, model fer-mini-xception" in r.stdout and "track_id" in r.stdout
    png = out.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000, len(png)
    # not blank: matplotlib's figure has drawn lines in several colours
    from PIL import Image

    colours = Image.open(out).convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50
