"""Whole frames and face regions of several streams: one ONNX Runtime call per stream
against one batched call, for the RetinaFace detector fer-rt runs on the CPU (issue 26:
should the detector batch frames across streams?). Random inputs: the network's cost does
not depend on the pixels. Run from the repository with scripts/env.sh sourced:

    $FER_RT_PYTHON benches/detector_batching.py models/retinaface_mnet025.onnx
"""
import statistics, sys, time
import numpy as np
import onnxruntime as ort

model = sys.argv[1]
rng = np.random.default_rng(0)
for threads in (1, 2):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    for (n, h, w) in [(4, 360, 640), (12, 128, 128), (4, 128, 128)]:
        x = rng.random((n, 3, h, w), dtype=np.float32) * 255
        for _ in range(3):
            s.run(None, {name: x}); [s.run(None, {name: x[i:i + 1]}) for i in range(n)]
        seq, bat = [], []
        for _ in range(15):
            t = time.perf_counter(); [s.run(None, {name: x[i:i + 1]}) for i in range(n)]; seq.append(time.perf_counter() - t)
            t = time.perf_counter(); s.run(None, {name: x}); bat.append(time.perf_counter() - t)
        a, b = statistics.median(seq) * 1e3, statistics.median(bat) * 1e3
        print(f"threads {threads}  {n} x {w}x{h}: {n} calls {a:7.2f} ms   one batch {b:7.2f} ms   batch/calls {b / a:.2f}")
