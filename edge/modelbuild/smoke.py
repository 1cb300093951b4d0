"""A build is installed only if every model loads in every engine installed here and agrees with the reference engine
on its first probe shape."""
from __future__ import annotations

import platform

import numpy as np

from ..engine import reference_and_others
from ..errors import BuildError
from ..models import BuiltModels, Manifest

SMOKE_TOLERANCE = 1e-3


def smoke_check(models: BuiltModels, manifest: Manifest, only: list[str] | None = None) -> dict[str, float]:
    """Max abs difference per (model, engine) against the reference engine."""
    ref, others, _ = reference_and_others(platform.machine())
    rng = np.random.default_rng(7)
    diffs = {}
    for key in only or list(models.lock["models"]):
        spec = manifest.model(key)
        x = rng.uniform(-1.0, 1.0, size=spec.probe_shapes[0]).astype(np.float32)
        a = ref.load(models, key).run(x)
        for engine in others:
            b = engine.load(models, key).run(x)
            if a.shape != b.shape:
                raise BuildError(f"{key}: {engine.label} output shape {b.shape} differs from {ref.label} {a.shape}")
            diff = diffs[f"{key} {engine.key}"] = float(np.abs(a - b).max())
            if not diff <= SMOKE_TOLERANCE:
                raise BuildError(f"{key}: {engine.label} and {ref.label} differ by {diff:.2e} on a smoke input",
                                 hint="the conversion chain produced a wrong graph; the build was not installed")
    return diffs
