"""fer-rt from Python: frames in, results out, on the same Rust library as the CLI.

>>> import fer_rt
>>> an = fer_rt.Analyzer()
>>> result = an.analyze(frame)          # H x W x 3 uint8, RGB (bgr=True for OpenCV)
>>> for face in result.faces:
...     print(face.track_id, face.label, face.valence, face.filtered.label)
>>> table = fer_rt.process("clip.mp4")      # a pyarrow.Table, one row per face per frame
>>> for result in fer_rt.stream("clip.mp4"):  # the threaded pipeline as an iterator
...     ...

A result is the JSON line `fer-rt process` writes for the same frame (``to_dict()``
returns it whole, schema version included); its attributes are that line's fields, so
this package keeps no copy of the schema.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional

if TYPE_CHECKING:
    import pyarrow

# ONNX Runtime's telemetry off, unless set otherwise, before the library loads (as the CLI
# does: fer_rt::runtime::onnx::opt_out_of_telemetry says why)
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from . import _fer_rt
from ._fer_rt import ConfigError, Error, InputError, ModelError

__version__: str = _fer_rt.__version__

__all__ = [
    "Analyzer",
    "process",
    "stream",
    "models",
    "report",
    "summary",
    "FrameResult",
    "Face",
    "Error",
    "InputError",
    "ModelError",
    "ConfigError",
    "__version__",
]


class _Record:
    """Read-only attribute access over one JSON object of a result."""

    __slots__ = ("_d",)

    def __init__(self, d: Dict[str, Any]):
        self._d = d

    def __getattr__(self, name: str) -> Any:
        try:
            v = self._d[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None
        return _Record(v) if isinstance(v, dict) else v

    def to_dict(self) -> Dict[str, Any]:
        return self._d

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Record) and self._d == other._d

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._d!r})"


class Face(_Record):
    """One face: bbox, landmarks, score, track_id, expression, label, valence, arousal,
    their standard deviations, uncertainty, and `filtered` (the temporally filtered values)."""


class FrameResult(_Record):
    """One frame: frame index, pts_ms, size, track_events and `faces`."""

    @property
    def faces(self) -> List[Face]:
        return [Face(f) for f in self._d["faces"]]


class Analyzer:
    """Analyses frames one at a time, keeping track ids and filter state between calls.

    config: a TOML path or a dict with the keys of configs/default.toml (unknown keys are
    refused with their name, as by the CLI); model, device ("auto", "cpu", "cuda:N") and
    filter ("none", "ema", "uncertainty") override it, as the CLI's flags do.
    """

    def __init__(
        self,
        model: Optional[str] = None,
        device: str = "auto",
        filter: Optional[str] = None,
        config: Any = None,
    ):
        self._inner = _fer_rt.Analyzer(config=config, model=model, device=device, filter=filter)

    def analyze(self, frame: Any, pts_ms: Optional[float] = None, bgr: bool = False) -> FrameResult:
        """The next frame's results. `frame` is an H x W x 3 uint8 C-contiguous array."""
        return FrameResult(json.loads(self._inner.analyze_json(frame, pts_ms, bgr)))

    def finish(self) -> List[Dict[str, Any]]:
        """Ends the tracks still alive, as the end of a file does; their end events."""
        return [json.loads(e) for e in self._inner.finish_json()]

    def reset(self) -> None:
        """Starts a new video: frames count from 0, no track or filter state carries over."""
        self._inner.reset()

    @property
    def frames(self) -> int:
        return self._inner.frames

    def close(self) -> None:
        """Frees the models; later calls raise ValueError."""
        self._inner.close()

    def __enter__(self) -> "Analyzer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _ArrowStream:
    """An Arrow C stream (PyCapsule) as the protocol object pyarrow and polars take."""

    def __init__(self, capsule: Any):
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        capsule, self._capsule = self._capsule, None
        if capsule is None:
            raise ValueError("the stream was consumed already")
        return capsule


def process(source: Any, *, config: Any = None, model: Optional[str] = None, device: str = "auto",
            filter: Optional[str] = None, strict: bool = False, autorotate: bool = True,
            fps: Optional[float] = None) -> "pyarrow.Table":
    """Runs the whole pipeline over a file, folder of photos, image sequence or URL, as
    `fer-rt process` does, and returns its results as a pyarrow.Table with the columns and
    metadata of `fer-rt batch --format parquet` (one row per face per frame), handed over
    through the Arrow C stream interface. The GIL is released meanwhile; Ctrl-C stops the
    run and raises KeyboardInterrupt."""
    import pyarrow as pa

    capsule = _fer_rt.process_arrow(str(source), config=config, model=model, device=device, filter=filter,
                                    strict=strict, autorotate=autorotate, fps=fps)
    return pa.table(_ArrowStream(capsule))


class stream:
    """The threaded pipeline over a file, URL or camera (an index, or "/dev/videoN", with
    live=True) as an iterator of FrameResult, in order. live=True plays a file in real time
    and drops the oldest frames when the pipeline falls behind (`dropped_frames` says how
    many), as `fer-rt live` does. Leaving the loop, close(), or the iterator being
    collected stops the pipeline and joins its threads."""

    def __init__(self, source: Any, live: bool = False, *, config: Any = None, model: Optional[str] = None,
                 device: str = "auto", filter: Optional[str] = None, strict: bool = False,
                 autorotate: bool = True, fps: Optional[float] = None):
        src = source if isinstance(source, int) else str(source)
        self._inner = _fer_rt.Stream(src, live=live, config=config, model=model, device=device, filter=filter,
                                     strict=strict, autorotate=autorotate, fps=fps)

    def __iter__(self) -> "stream":
        return self

    def __next__(self) -> FrameResult:
        line = self._inner.__next__()
        if line is None:
            raise StopIteration
        return FrameResult(json.loads(line))

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> "stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def models() -> List[Dict[str, Any]]:
    """The bundled models: each manifest's facts (name, kind, classes, weights and their
    sha256, source) and the path of its model card."""
    return [json.loads(m) for m in _fer_rt.models_json()]


def _paths(x: Any) -> List[str]:
    return [str(p) for p in ([x] if isinstance(x, (str, bytes)) or hasattr(x, "__fspath__") else x)]


def report(inputs: Any, out: Any = "report.html", *, video: Any = None, thumbnails: bool = False,
           png: Any = None, svg: Any = None, config: Any = None) -> Dict[str, Any]:
    """Writes the HTML report of results files (.jsonl, .csv, .parquet) or batch folders,
    as `fer-rt report` does: one self-contained page, and with png=/svg= every figure into
    that folder. video= names each results file's video (thumbnails), in order. Returns
    what was written: {"page", "bytes", "videos", "tracks", "figures", "warnings"}. Bad
    input raises InputError with the CLI's message."""
    written = _fer_rt.report_json(_paths(inputs), str(out), videos=_paths(video) if video is not None else [],
                                  thumbnails=thumbnails, png=None if png is None else str(png),
                                  svg=None if svg is None else str(svg), config=config)
    return json.loads(written)


def summary(paths: Any, *, raw: bool = False) -> Dict[str, Any]:
    """What `fer-rt summary --json` prints for results files or batch folders: per input and
    per track the label counts, mean valence/arousal and label flips (filtered, or raw=True
    for each frame's own)."""
    return json.loads(_fer_rt.summary_json(_paths(paths), raw=raw))
