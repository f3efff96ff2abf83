"""fer_rt.report and fer_rt.summary: the CLI's report and summary through the same library
run path, with the CLI's numbers and errors."""
import json
import re
import subprocess

import pytest

import fer_rt
from conftest import BIN, media


def page_data(path):
    text = path.read_text()
    m = re.search(r'<script type="application/json" id="fer-rt-data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


def test_report_and_summary_equal_the_clis(tmp_path):
    clip = media("single_face.mp4")
    results = tmp_path / "run.jsonl"
    with open(results, "w") as f:
        subprocess.run([str(BIN), "process", "--no-progress", str(clip)], check=True, stdout=f)
    written = fer_rt.report(results, tmp_path / "py.html", video=clip, svg=tmp_path / "svg")
    assert written["videos"] == 1 and written["tracks"] >= 1 and written["warnings"] == []
    assert written["figures"] and all(p.endswith(".svg") for p in written["figures"])
    subprocess.run([str(BIN), "report", str(results), "--video", str(clip), "--out", str(tmp_path / "cli.html")],
                   check=True, capture_output=True)
    assert page_data(tmp_path / "py.html") == page_data(tmp_path / "cli.html"), "one run path, one report"
    cli = json.loads(subprocess.run([str(BIN), "summary", "--json", "--raw", str(results)], check=True,
                                    capture_output=True, text=True).stdout)
    assert fer_rt.summary(results, raw=True) == cli
    raw = dict(page_data(tmp_path / "py.html")["videos"][0]["raw"])
    assert raw.pop("input") == str(clip), "with video=, the report names the clip as the input"
    want = dict(cli["videos"][0])
    want.pop("input")
    assert raw == want


def test_report_errors_are_the_clis(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(fer_rt.InputError, match="empty"):
        fer_rt.report(empty, tmp_path / "r.html")
    with pytest.raises(fer_rt.ConfigError, match="choose another output|overwrite"):
        fer_rt.report(empty, empty)
    assert not (tmp_path / "r.html").exists()
