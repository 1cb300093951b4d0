"""Paddle Lite engine (MobileConfig on a .nb): the device runtime on ARM CPUs and NPUs.

x86 Paddle Lite 2.13 corrupts results (or double-frees) when a live predictor's input shape changes, so every
input shape gets its own predictor, kept in a small LRU. Callers bucket shapes to keep the count low.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np
from paddlelite import lite

from ..errors import ConfigError, EngineError
from ..models import BuiltModels
from .base import EngineOptions

log = logging.getLogger(__name__)
POWER_MODES = ("HIGH", "LOW", "FULL", "NO_BIND", "RAND_HIGH", "RAND_LOW")


class PaddleLitePredictor:
    def __init__(self, path: Path, options: EngineOptions, name: str):
        self.name = name
        self.path = path
        self.options = options
        try:
            self._model = path.read_bytes()
        except OSError as e:
            raise EngineError(f"cannot read {path}: {e.strerror}") from None
        self._by_shape: OrderedDict[tuple, object] = OrderedDict()
        self._config()  # fail early on a bad model or option, not at the first page

    def _config(self):
        cfg = lite.MobileConfig()
        cfg.set_model_from_buffer(self._model)
        o = self.options
        if o.threads and hasattr(cfg, "set_threads"):
            cfg.set_threads(o.threads)
        if o.power_mode and hasattr(cfg, "set_power_mode"):
            cfg.set_power_mode(getattr(lite.PowerMode, f"LITE_POWER_{o.power_mode}"))
        if o.nnadapter_device_names:
            cfg.set_nnadapter_device_names(list(o.nnadapter_device_names))
            if o.nnadapter_context_properties:
                cfg.set_nnadapter_context_properties(o.nnadapter_context_properties)
            if o.nnadapter_model_cache_dir:
                cfg.set_nnadapter_model_cache_dir(o.nnadapter_model_cache_dir)
        return cfg

    def _predictor(self, shape: tuple):
        p = self._by_shape.get(shape)
        if p is not None:
            self._by_shape.move_to_end(shape)
            return p
        try:
            p = lite.create_paddle_predictor(self._config())
        except Exception as e:  # the binding raises RuntimeError or worse for a corrupt buffer
            raise EngineError(f"Paddle Lite cannot load {self.path}: {e}",
                              hint="rebuild with `edge-ocr models build --force`") from None
        self._by_shape[shape] = p
        while len(self._by_shape) > max(1, self.options.max_cached_shapes):
            self._by_shape.popitem(last=False)
        return p

    @property
    def cached_shapes(self) -> list[tuple]:
        return list(self._by_shape)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        p = self._predictor(tuple(x.shape))
        p.get_input(0).from_numpy(x)
        p.run()
        return p.get_output(0).numpy().copy()


class PaddleLiteEngine:
    key = "paddlelite"

    def __init__(self, options: EngineOptions):
        if options.power_mode and options.power_mode not in POWER_MODES:
            raise ConfigError(f"unknown Paddle Lite power_mode {options.power_mode!r}",
                              hint=f"choose one of: {', '.join(POWER_MODES)}")
        probe = lite.MobileConfig()
        for opt, setter in (("threads", "set_threads"), ("power_mode", "set_power_mode")):
            if getattr(options, opt) and not hasattr(probe, setter):
                log.warning("this Paddle Lite build has no %s(): the profile's %s=%s is ignored "
                            "(the x86 wheel runs on about one core)", setter, opt, getattr(options, opt))
        self.options = options

    def load(self, models: BuiltModels, model_key: str) -> PaddleLitePredictor:
        return PaddleLitePredictor(models.path(model_key, f"{self.options.target}.nb"), self.options, model_key)
