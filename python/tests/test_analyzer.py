"""fer_rt.Analyzer against `fer-rt process` on the same clip, decoded by the test itself;
the exceptions a wrong frame or config gets; memory over a long loop; the GIL."""
import gc
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import fer_rt
from conftest import media


def close(a, b, tol, at=""):
    """Equal, numbers within tol (relative above 1); raises with the path that differs."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        assert math.isclose(a, b, rel_tol=tol, abs_tol=tol), f"{at}: {a} vs {b}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{at}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            close(a[k], b[k], tol, f"{at}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{at}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, tol, f"{at}[{i}]")
    else:
        assert a == b, f"{at}: {a!r} vs {b!r}"


def strip(line):
    line = dict(line)
    line.pop("timings_ms")
    return line


def test_frame_at_a_time_equals_the_cli(clip_frames, clip_lines):
    an = fer_rt.Analyzer()
    got = [an.analyze(f, pts).to_dict() for f, pts in clip_frames]
    ends = an.finish()
    if ends:
        got[-1].setdefault("track_events", []).extend(ends)
    assert len(got) == len(clip_lines)
    assert any(l["faces"] for l in clip_lines)
    for i, (a, b) in enumerate(zip(got, clip_lines)):
        close(strip(a), strip(b), 1e-5, f"frame {i}")
    # attributes read the same fields
    r = an.analyze(clip_frames[0][0], clip_frames[0][1])
    face = r.faces[0]
    assert face.track_id == r.to_dict()["faces"][0]["track_id"]
    assert face.label in an._inner.run_info[1]
    assert 0.0 <= face.filtered.confidence <= 1.0
    assert r.schema_version == clip_lines[0]["schema_version"]


def test_bgr_frames_read_as_their_rgb(clip_frames):
    frame, pts = clip_frames[10]
    a = fer_rt.Analyzer().analyze(frame, pts).to_dict()
    b = fer_rt.Analyzer().analyze(np.ascontiguousarray(frame[:, :, ::-1]), pts, bgr=True).to_dict()
    close(strip(a), strip(b), 0.0)


def test_reset_starts_a_new_video(clip_frames):
    an = fer_rt.Analyzer()
    first = [an.analyze(f, p).to_dict() for f, p in clip_frames[:5]]
    an.reset()
    assert an.frames == 0
    again = [an.analyze(f, p).to_dict() for f, p in clip_frames[:5]]
    for a, b in zip(first, again):
        close(strip(a), strip(b), 1e-6)


@pytest.mark.parametrize(
    "frame, error, words",
    [
        ([[1, 2, 3]], TypeError, "numpy array of shape (H, W, 3) and dtype uint8, not list"),
        (np.zeros((4, 4, 3), np.float32), TypeError, "dtype uint8, not float32"),
        (np.zeros((4, 4), np.uint8), ValueError, "shape (H, W, 3), not [4, 4]"),
        (np.zeros((4, 4, 4), np.uint8), ValueError, "shape (H, W, 3), not [4, 4, 4]"),
        (np.zeros((0, 4, 3), np.uint8), ValueError, "frame is empty"),
        (np.zeros((8, 8, 3), np.uint8)[::2], ValueError, "C-contiguous"),
    ],
)
def test_a_wrong_frame_is_a_python_error_naming_what_was_expected(frame, error, words):
    an = fer_rt.Analyzer()
    with pytest.raises(error) as e:
        an.analyze(frame)
    assert words in str(e.value)


def test_limits_hold_for_frames_handed_in():
    an = fer_rt.Analyzer(config={"limits": {"max_frame_side": 64}})
    with pytest.raises(fer_rt.InputError, match=r"100×80 .*limits.max_frame_side \(64 px"):
        an.analyze(np.zeros((80, 100, 3), np.uint8))


def test_config_errors_are_the_clis(tmp_path):
    with pytest.raises(fer_rt.ConfigError, match="detect.scorethreshold"):
        fer_rt.Analyzer(config={"detect": {"scorethreshold": 0.5}})
    toml = tmp_path / "bad.toml"
    toml.write_text("[detect]\nscore_threshold = 2.0\n")
    with pytest.raises(fer_rt.ConfigError, match="score_threshold"):
        fer_rt.Analyzer(config=str(toml))
    with pytest.raises(fer_rt.ConfigError, match="device 'gpu7'"):
        fer_rt.Analyzer(device="gpu7")
    with pytest.raises(fer_rt.ConfigError, match="filter 'kalman'"):
        fer_rt.Analyzer(filter="kalman")
    assert issubclass(fer_rt.ConfigError, fer_rt.Error) and issubclass(fer_rt.InputError, fer_rt.Error)


def test_a_closed_analyzer_says_so():
    an = fer_rt.Analyzer()
    an.close()
    with pytest.raises(ValueError, match="closed"):
        an.analyze(np.zeros((8, 8, 3), np.uint8))


def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def test_memory_stays_flat_over_2000_calls(clip_frames):
    an = fer_rt.Analyzer()
    base = None
    for i in range(2000):
        frame, pts = clip_frames[i % len(clip_frames)]
        an.analyze(frame, i * 40.0)
        if i == 500:
            gc.collect()
            base = rss_kb()
    gc.collect()
    grown = rss_kb() / base - 1
    assert grown < 0.02, f"RSS grew {grown:.1%} from call 500 to 2000"


def test_other_python_threads_run_while_it_analyses(clip_frames):
    an = fer_rt.Analyzer()
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    t0 = time.perf_counter()
    for f, p in clip_frames[:20]:
        an.analyze(f, p)
    t1 = time.perf_counter()
    stop.set()
    t.join()
    during = [x for x in ticks if t0 <= x <= t1]
    # with the GIL held through each call, the thread could only tick between calls
    assert len(during) > 20 * 2, f"{len(during)} ticks in {t1 - t0:.2f} s"


@pytest.mark.parametrize("first", ["torch", "onnxruntime"])
def test_importing_torch_or_onnxruntime_first_or_second_works(first):
    alone = subprocess.run([sys.executable, "-c", f"import {first}"], capture_output=True, text=True)
    # PyPI's torch imports only with its CUDA wheels, which scripts/test.sh installs
    # (setup.sh --torch-wheels); without them this is a setup error, not a skip
    assert alone.returncode == 0, (
        f"import {first} fails on its own: {alone.stderr.strip().splitlines()[-1]} "
        "(run scripts/setup.sh --torch-wheels)")
    for order in ([first, "fer_rt"], ["fer_rt", first]):
        code = "; ".join(f"import {m}" for m in order) + "; import numpy as np; import fer_rt; " \
            "r = fer_rt.Analyzer().analyze(np.zeros((64, 64, 3), np.uint8)); print(len(r.faces))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
        assert out.returncode == 0 and out.stdout.strip() == "0", f"{order}: {out.stderr[-2000:]}"


def _home_after_an_analysis(tmp_path, telemetry=None):
    """Every path a frame's analysis left under a fresh home folder, relative to it."""
    home = tmp_path / ("home" + str(telemetry))
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY")}
    env["HOME"] = str(home)
    env.setdefault("FER_RT_CACHE", str(Path.home() / ".cache/fer-rt"))
    if telemetry is not None:
        env["ORT_DISABLE_TELEMETRY"] = telemetry
    code = "import numpy as np, fer_rt; fer_rt.Analyzer().analyze(np.zeros((64, 64, 3), np.uint8))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def test_onnx_runtime_keeps_no_device_id_or_telemetry_store_unless_asked(tmp_path):
    # as under the CLI (tests/cli.rs): ONNX Runtime's ~/.cache/Microsoft/DeveloperTools store off
    assert _home_after_an_analysis(tmp_path) == []
    # the user's own setting is left alone; ONNX Runtime then writes its store where it
    # writes one at all (on the build machine, not on CI's): only there does the check
    # above show that it can fail
    asked = _home_after_an_analysis(tmp_path, "0")
    if asked:
        assert any(p.endswith("deviceid") for p in asked), asked
    else:
        print("ONNX Runtime keeps no telemetry store here even when allowed: the check above proves nothing")
