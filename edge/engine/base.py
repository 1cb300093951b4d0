"""The predictor protocol and the engine registry."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import ConfigError, EngineError
from ..models import BuiltModels

# key -> "module:Class"; modules are imported only when their engine is chosen.
ENGINES = {
    "paddlelite": "edge.engine.paddlelite:PaddleLiteEngine",
    "onnxruntime": "edge.engine.onnxruntime:OnnxRuntimeEngine",
}


@dataclass(frozen=True)
class EngineOptions:
    """What a device profile tells an engine. Options an engine cannot honour are warned about, not ignored silently."""

    target: str = "x86"  # which Paddle Lite build of the models (x86 | arm); ONNX Runtime ignores it
    threads: int | None = None
    power_mode: str | None = None  # Paddle Lite ARM: HIGH, LOW, FULL, NO_BIND, RAND_HIGH, RAND_LOW
    nnadapter_device_names: tuple[str, ...] = ()
    nnadapter_context_properties: str = ""
    nnadapter_model_cache_dir: str | None = None
    max_cached_shapes: int = 24  # Paddle Lite: predictors kept per model, one per input shape
    cache_mb: float | None = 1024  # Paddle Lite: memory the cached predictors of one model may hold
    extra: dict = field(default_factory=dict)


class Predictor(Protocol):
    """Runs one model on one float32 NCHW batch and returns its first output."""

    name: str

    def run(self, x: np.ndarray) -> np.ndarray: ...


class Engine(Protocol):
    key: str

    def load(self, models: BuiltModels, model_key: str) -> Predictor: ...


def create_engine(key: str, options: EngineOptions | None = None) -> Engine:
    try:
        spec = ENGINES[key]
    except KeyError:
        raise ConfigError(f"unknown engine {key!r}", hint=f"choose one of: {', '.join(ENGINES)}") from None
    module, cls = spec.split(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise EngineError(f"engine {key!r} is not usable here: {e}",
                          hint="install its Python package (see the README's deployment section) or choose another "
                               "engine in the device profile") from None
    return getattr(mod, cls)(options or EngineOptions())
