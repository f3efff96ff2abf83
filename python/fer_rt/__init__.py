"""fer-rt from Python: frames in, results out, on the same Rust library as the CLI.

>>> import fer_rt
>>> an = fer_rt.Analyzer()
>>> result = an.analyze(frame)          # H x W x 3 uint8, RGB (bgr=True for OpenCV)
>>> for face in result.faces:
...     print(face.track_id, face.label, face.valence, face.filtered.label)

A result is the JSON line `fer-rt process` writes for the same frame (``to_dict()``
returns it whole, schema version included); its attributes are that line's fields, so
this package keeps no copy of the schema.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from . import _fer_rt
from ._fer_rt import ConfigError, Error, InputError, ModelError

__version__: str = _fer_rt.__version__

__all__ = [
    "Analyzer",
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
