"""Reads a fer-rt Parquet output with pyarrow (an independent reader) and checks it row by
row against the JSON lines of the same run: one row per face per frame, in order, with
every value equal to float32 precision, and its columns exactly the CSV header's (the
same flat table). Prints {"rows": N, "metadata": {...}} on success, exits 1 naming the
first difference otherwise.

usage: parquet_check.py OUT.parquet OUT.jsonl [OUT.csv]
"""
import json
import math
import sys

import pyarrow.parquet as pq

F32 = 1e-6  # relative: a float32 written by Rust and the same value printed in JSON


def same(a, b, where):
    if a is None or b is None:
        if a is not None or b is not None:
            sys.exit(f"{where}: {a!r} != {b!r}")
        return
    if isinstance(a, float) or isinstance(b, float):
        if not math.isclose(float(a), float(b), rel_tol=F32, abs_tol=1e-6):
            sys.exit(f"{where}: {a!r} != {b!r}")
    elif a != b:
        sys.exit(f"{where}: {a!r} != {b!r}")


def main():
    pq_path, jl_path = sys.argv[1], sys.argv[2]
    table = pq.read_table(pq_path)
    # the file's key-value metadata (also copied into the Arrow schema's)
    meta = {k.decode(): v.decode() for k, v in (pq.ParquetFile(pq_path).metadata.metadata or {}).items()}
    schema_meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    for k, v in meta.items():
        if k.startswith("fer_rt.") and schema_meta.get(k) != v:
            sys.exit(f"schema metadata {k}: {schema_meta.get(k)!r} != file metadata {v!r}")
    classes = json.loads(meta["fer_rt.classes"])
    types = {f.name: str(f.type) for f in table.schema}
    for col, t in [("source", "string"), ("frame", "int64"), ("pts_ms", "double"), ("track_id", "int64"),
                   ("x1", "float"), ("lm0_x", "float"), ("lm4_y", "float"), ("p_happy", "float"),
                   ("label", "string"), ("model_uncertainty", "float"), ("disagreement", "float")]:
        if types.get(col) != t:
            sys.exit(f"column {col}: type {types.get(col)}, expected {t}")
    if len(sys.argv) > 3:
        with open(sys.argv[3]) as f:
            header = f.readline().rstrip("\n").split(",")
        if header != table.schema.names:
            sys.exit(f"columns differ from the CSV header: {table.schema.names} vs {header}")
    rows = table.to_pylist()
    faces = []
    with open(jl_path) as f:
        for line in f:
            rec = json.loads(line)
            faces.extend((rec, face) for face in rec["faces"])
    if len(rows) != len(faces):
        sys.exit(f"{len(rows)} rows, {len(faces)} faces in the JSON lines")
    for i, (row, (rec, face)) in enumerate(zip(rows, faces)):
        w = f"row {i}"
        same(row["source"], rec.get("file") or meta["fer_rt.source"], w + " source")
        same(row["frame"], rec["frame"], w + " frame")
        same(row["pts_ms"], rec["pts_ms"], w + " pts_ms")
        same(row["track_id"], face["track_id"], w + " track_id")
        for k, v in zip(["x1", "y1", "x2", "y2"], face["box"]):
            same(row[k], v, f"{w} {k}")
        same(row["score"], face["score"], w + " score")
        for j, q in enumerate(face["landmarks"]):
            same(row[f"lm{j}_x"], q[0], f"{w} landmark {j} x")
            same(row[f"lm{j}_y"], q[1], f"{w} landmark {j} y")
        same(row["label"], face["label"], w + " label")
        same(row["label_prob"], face["label_prob"], w + " label_prob")
        for c in classes:
            same(row[f"p_{c}"], (face["expression"] or {}).get(c), f"{w} p_{c}")
        for k in ["valence", "arousal", "valence_std", "arousal_std", "va_source"]:
            same(row[k], face[k], f"{w} {k}")
        u = face["uncertainty"] or {}
        for k in ["det_score", "face_px", "blur", "yaw_deg", "pitch_deg", "roll_deg", "entropy", "quality",
                  "confidence", "disagreement"]:
            same(row[k], u.get(k), f"{w} {k}")
        same(row["model_uncertainty"], u.get("model"), w + " model_uncertainty")
        fl = face["filtered"]
        if fl is not None:
            same(row["filtered_label"], fl["label"], w + " filtered_label")
            same(row["filtered_confidence"], fl["confidence"], w + " filtered_confidence")
            for c in classes:
                same(row[f"filtered_p_{c}"], fl["expression"][c], f"{w} filtered_p_{c}")
            for k in ["valence", "arousal", "valence_std", "arousal_std"]:
                same(row[f"filtered_{k}"], fl[k], f"{w} filtered_{k}")
    print(json.dumps({"rows": len(rows), "metadata": meta}))


if __name__ == "__main__":
    main()
