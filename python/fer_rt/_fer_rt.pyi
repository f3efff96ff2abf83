from typing import Any, List, Optional, Tuple

__version__: str

class Error(Exception): ...
class InputError(Error): ...
class ModelError(Error): ...
class ConfigError(Error): ...

class Analyzer:
    def __init__(
        self,
        config: Any = ...,
        model: Optional[str] = ...,
        device: Optional[str] = ...,
        filter: Optional[str] = ...,
    ) -> None: ...
    def analyze_json(self, frame: Any, pts_ms: Optional[float] = ..., bgr: bool = ...) -> str: ...
    def finish_json(self) -> List[str]: ...
    def reset(self) -> None: ...
    @property
    def frames(self) -> int: ...
    @property
    def run_info(self) -> Tuple[str, List[str], str, str]: ...
    def close(self) -> None: ...

def process_arrow(
    input: str,
    config: Any = ...,
    model: Optional[str] = ...,
    device: Optional[str] = ...,
    filter: Optional[str] = ...,
    strict: bool = ...,
    autorotate: bool = ...,
    fps: Optional[float] = ...,
) -> Any: ...

class Stream:
    def __init__(
        self,
        source: Any,
        live: bool = ...,
        config: Any = ...,
        model: Optional[str] = ...,
        device: Optional[str] = ...,
        filter: Optional[str] = ...,
        strict: bool = ...,
        autorotate: bool = ...,
        fps: Optional[float] = ...,
    ) -> None: ...
    def __iter__(self) -> "Stream": ...
    def __next__(self) -> Optional[str]: ...
    def close(self) -> None: ...

def models_json() -> List[str]: ...
def report_json(
    inputs: List[str],
    out: str,
    videos: List[str] = ...,
    thumbnails: bool = ...,
    png: Optional[str] = ...,
    svg: Optional[str] = ...,
    config: Any = ...,
) -> str: ...
def summary_json(paths: List[str], raw: bool = ...) -> str: ...
