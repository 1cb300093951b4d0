"""A build is installed only if every model loads in both engines and agrees on its first probe shape."""
from __future__ import annotations

import numpy as np

from ..engine import EngineOptions, create_engine
from ..errors import BuildError
from ..models import BuiltModels, Manifest

SMOKE_TOLERANCE = 1e-3


def smoke_check(models: BuiltModels, manifest: Manifest, only: list[str] | None = None) -> dict[str, float]:
    ort_engine = create_engine("onnxruntime", EngineOptions())
    lite_engine = create_engine("paddlelite", EngineOptions(target="x86"))
    rng = np.random.default_rng(7)
    diffs = {}
    for key in only or list(models.lock["models"]):
        spec = manifest.model(key)
        x = rng.uniform(-1.0, 1.0, size=spec.probe_shapes[0]).astype(np.float32)
        a = ort_engine.load(models, key).run(x)
        b = lite_engine.load(models, key).run(x)
        if a.shape != b.shape:
            raise BuildError(f"{key}: Paddle Lite output shape {b.shape} differs from ONNX Runtime {a.shape}")
        diffs[key] = float(np.abs(a - b).max())
        if not diffs[key] <= SMOKE_TOLERANCE:
            raise BuildError(f"{key}: Paddle Lite and ONNX Runtime differ by {diffs[key]:.2e} on a smoke input",
                             hint="the conversion chain produced a wrong graph; the build was not installed")
    return diffs
