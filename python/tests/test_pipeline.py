"""fer_rt.process (a pyarrow.Table like batch's Parquet) and fer_rt.stream (the threaded
pipeline as an iterator) against the CLI on the same clips; stopping a stream early;
Ctrl-C; a second Python thread going on meanwhile; the bundled models."""
import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time

import pyarrow.parquet as pq
import pytest

import fer_rt
from conftest import BIN, media


def test_process_gives_the_rows_columns_and_metadata_of_batch_parquet(tmp_path):
    clip = media("single_face.mp4")
    table = fer_rt.process(clip)
    out = subprocess.run([str(BIN), "process", "--no-progress", "--format", "csv", str(clip)],
                         check=True, capture_output=True, text=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert table.num_rows == len(rows) > 0
    subprocess.run([str(BIN), "batch", str(clip), "--out", str(tmp_path), "--format", "parquet", "--no-progress"],
                   check=True, capture_output=True)
    [pfile] = list(tmp_path.rglob("*.parquet"))
    ref = pq.read_table(pfile)
    assert table.schema.remove_metadata() == ref.schema.remove_metadata()
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    ref_meta = {k.decode(): v.decode() for k, v in ref.schema.metadata.items()}
    assert meta["fer_rt.classifier"] == "fer-mini-xception"
    assert meta["fer_rt.model_sha256"] == ref_meta["fer_rt.model_sha256"] and len(meta["fer_rt.model_sha256"]) == 64
    # the same numbers as the CLI's CSV of the same run settings
    assert [int(r) for r in table.column("frame").to_pylist()] == [int(r["frame"]) for r in rows]
    first = table.slice(0, 1).to_pylist()[0]
    assert abs(first["valence"] - float(rows[0]["valence"])) < 1e-5
    assert sum(table.group_by("track_id").aggregate([("frame", "count")]).column("frame_count").to_pylist()) == table.num_rows


def test_process_errors_are_the_clis():
    with pytest.raises(fer_rt.InputError, match="no such file|No such file"):
        fer_rt.process("/nonexistent/clip.mp4")
    with pytest.raises(fer_rt.ConfigError, match="batch.maxfaces"):
        fer_rt.process(media("single_face.mp4"), config={"batch": {"maxfaces": 2}})


def test_stream_yields_every_frame_in_order_as_process_writes_them(clip_lines):
    got = [r.to_dict() for r in fer_rt.stream(media("single_face.mp4"))]
    assert [g["frame"] for g in got] == list(range(len(clip_lines)))
    def strip(d):
        return {k: v for k, v in d.items() if k != "timings_ms"}

    # the same pipeline, the same batching: the same lines
    assert [strip(g) for g in got] == [strip(line) for line in clip_lines]


def os_threads():
    return len(os.listdir("/proc/self/task"))


def test_breaking_out_of_a_stream_stops_the_pipeline_and_its_threads():
    # a whole run first: what a first model load leaves for the process's lifetime (a
    # global pool thread) is not a thread left running by the stream
    list(fer_rt.stream(media("single_face.jpg")))
    before = (threading.active_count(), os_threads())
    s = fer_rt.stream(media("WolfgangLanger_Pexels.mp4"))
    for i, r in enumerate(s):
        if i == 4:
            break
    s.close()
    # the pipeline's stage threads are joined, and ONNX Runtime's pool too once idle
    deadline = time.time() + 10
    while (threading.active_count(), os_threads()) != before and time.time() < deadline:
        time.sleep(0.1)
    assert threading.active_count() == before[0]
    assert os_threads() <= before[1], f"{os_threads()} OS threads, {before[1]} before"


def test_a_live_stream_of_a_file_plays_in_real_time_and_reports_drops():
    # the 1080p clip at its own pace, with a consumer slower than the clip's frame rate
    frames = []
    s = fer_rt.stream(media("WolfgangLanger_Pexels.mp4"), live=True)
    t0 = time.time()
    for r in s:
        frames.append(r.to_dict())
        time.sleep(0.2)
        if time.time() - t0 > 4:
            break
    s.close()
    assert frames and frames[-1]["dropped_frames"] > 0, [f["dropped_frames"] for f in frames]


def sigint_as_by_default():
    """Gives the child Python the default SIGINT disposition, whatever this process
    inherited: started in the background by a non-interactive shell (`cmd &`), the whole
    suite has SIGINT ignored, and a Python started with it ignored installs no handler,
    so the signal these tests send would never become KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_interrupts_process_with_keyboard_interrupt(tmp_path):
    # ten times the 1080p clip: far longer than the wait before the signal
    long = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "9", "-i", str(media("WolfgangLanger_Pexels.mp4")),
                    "-c", "copy", str(long)], check=True)
    code = (
        "import fer_rt, sys\n"
        "print('started', flush=True)\n"
        "t0 = __import__('time').time()\n"
        "try:\n"
        "    fer_rt.process(sys.argv[1])\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', round(__import__('time').time() - t0), flush=True)\n"
        "t = fer_rt.process(sys.argv[2])\n"
        "print(t.num_rows)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(long), str(media("single_face.jpg"))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_as_by_default)
    assert p.stdout.readline().strip() == "started"
    time.sleep(3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err[-2000:]
    lines = out.split()
    # interrupted while running, and a run after the interrupted one is not stopped by it
    assert lines[0] == "interrupted" and int(lines[-1]) == 1, out
    assert not err.strip(), err


def test_ctrl_c_interrupts_a_stream_and_stops_its_pipeline():
    # the signal lands in the loop's body or in the stream's wait for a frame; `with` closes
    # the stream either way
    code = (
        "import fer_rt, os, sys, time\n"
        "threads = len(os.listdir('/proc/self/task'))\n"
        "try:\n"
        "    with fer_rt.stream(sys.argv[1]) as s:\n"
        "        for i, r in enumerate(s):\n"
        "            if i == 0: print('started', flush=True)\n"
        "            time.sleep(0.05)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
        "time.sleep(1)\n"
        "print(len(os.listdir('/proc/self/task')) <= threads + 1, flush=True)\n"
        "print(len(list(fer_rt.stream(sys.argv[2]))))\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(media("WolfgangLanger_Pexels.mp4")),
                          str(media("single_face.mp4"))], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=sigint_as_by_default)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err[-2000:]
    # interrupted, its threads gone (ONNX Runtime's idle pool aside), and a later stream whole
    assert out.split() == ["interrupted", "True", "72"], out + err[-2000:]


def test_another_python_thread_goes_on_while_process_runs():
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    t = threading.Thread(target=tick)
    t.start()
    t0 = time.perf_counter()
    fer_rt.process(media("single_face.mp4"))
    t1 = time.perf_counter()
    done.set()
    t.join()
    during = [x for x in ticks if t0 <= x <= t1]
    # a held GIL would allow a tick only every switch interval at best, not every 5 ms
    assert len(during) >= 0.5 * (t1 - t0) / 0.005, f"{len(during)} ticks in {t1 - t0:.2f} s"


def test_models_lists_the_bundled_models_with_their_cards():
    ms = {m["name"]: m for m in fer_rt.models()}
    assert {"fer_mini_xception", "retinaface_mnet025"} <= set(ms)
    assert all(m["card"] and os.path.isfile(m["card"]) for m in ms.values())
    assert fer_rt.__version__
