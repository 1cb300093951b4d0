"""Paddle Lite engine (MobileConfig on a .nb): the device runtime on ARM CPUs and NPUs.

x86 Paddle Lite 2.13 corrupts results (or double-frees) when a live predictor's input shape changes, so every
input shape gets its own predictor, kept in an LRU. A predictor's memory grows with its input (x86 rec at
6x3x48x3200 holds ~8 GB), so the LRU is bounded by the memory the predictors were measured to take, not by count.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
from paddlelite import lite

from ..errors import ConfigError, EngineError
from ..models import BuiltModels
from .base import EngineOptions

log = logging.getLogger(__name__)
POWER_MODES = ("HIGH", "LOW", "FULL", "NO_BIND", "RAND_HIGH", "RAND_LOW")


class PaddleLitePredictor:
    """One predictor per input shape, created by make_config() on first use of that shape."""

    def __init__(self, make_config: Callable[[], object], name: str, source: Path, max_cached: int,
                 budget_mb: float | None = None):
        self.name = name
        self.source = source
        self._make_config = make_config
        self._max_cached = max(1, max_cached)
        self._budget = budget_mb * 2**20 if budget_mb else None
        self._by_shape: OrderedDict[tuple, object] = OrderedDict()
        self._cost: dict[tuple, int] = {}

    def _predictor(self, shape: tuple):
        p = self._by_shape.get(shape)
        if p is not None:
            self._by_shape.move_to_end(shape)
            return p
        try:
            with _stdout_to_stderr():
                p = lite.create_paddle_predictor(self._make_config())
        except Exception as e:  # the binding raises RuntimeError (or worse) for a corrupt model
            raise EngineError(f"Paddle Lite cannot load {self.source}: {e}",
                              hint="rebuild with `edge-ocr models build --force`") from None
        self._by_shape[shape] = p
        self._evict(keep=shape)
        return p

    def _evict(self, keep: tuple) -> None:
        def over() -> bool:
            if len(self._by_shape) > self._max_cached:
                return True
            return self._budget is not None and sum(self._cost.values()) > self._budget
        evicted = False
        while len(self._by_shape) > 1 and over():
            old = next(iter(self._by_shape))
            if old == keep:
                self._by_shape.move_to_end(old)
                old = next(iter(self._by_shape))
            del self._by_shape[old]
            self._cost.pop(old, None)
            evicted = True
        if evicted:
            _trim_heap()

    def check_loads(self) -> None:
        """Creates (and drops) one predictor, so a model Lite cannot load fails at load time, not at the first page."""
        self._predictor(("probe",))
        self._by_shape.pop(("probe",), None)

    @property
    def cached_shapes(self) -> list[tuple]:
        return list(self._by_shape)

    @property
    def cached_bytes(self) -> int:
        return sum(self._cost.values())

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        shape = tuple(x.shape)
        new = shape not in self._by_shape
        before = _rss() if new else 0
        p = self._predictor(shape)
        p.get_input(0).from_numpy(x)
        p.run()
        out = p.get_output(0).numpy().copy()
        if new:  # what this shape's predictor holds: creation plus the buffers of its first run
            self._cost[shape] = max(0, _rss() - before)
            self._evict(keep=shape)
        return out


def _trim_heap() -> None:
    """Hands freed predictor memory back to the OS. Without it glibc keeps the fragmented heap, RSS climbs by
    gigabytes over a run of odd shapes, and the per-predictor cost measured from RSS reads too low."""
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).malloc_trim(0)


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


@contextlib.contextmanager
def _stdout_to_stderr():
    """Paddle Lite prints loading chatter on the C-level stdout, where results go; send it to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EngineError(f"cannot read {path}: {e.strerror}") from None
    # Paddle Lite aborts the process (no exception) on a buffer it cannot parse; a naive buffer starts
    # with a 2-byte meta version and the "v2." library version string.
    if path.suffix == ".nb" and data[2:5] != b"v2.":
        raise EngineError(f"{path} is not a Paddle Lite naive-buffer model", hint="rebuild with `edge-ocr models build --force`")
    return data


def mobile_predictor(path: Path, options: EngineOptions, name: str) -> PaddleLitePredictor:
    model = _read(path)

    def make_config():
        cfg = lite.MobileConfig()
        cfg.set_model_from_buffer(model)
        if options.threads and hasattr(cfg, "set_threads"):
            cfg.set_threads(options.threads)
        if options.power_mode and hasattr(cfg, "set_power_mode"):
            cfg.set_power_mode(getattr(lite.PowerMode, f"LITE_POWER_{options.power_mode}"))
        if options.nnadapter_device_names:
            cfg.set_nnadapter_device_names(list(options.nnadapter_device_names))
            if options.nnadapter_context_properties:
                cfg.set_nnadapter_context_properties(options.nnadapter_context_properties)
            if options.nnadapter_model_cache_dir:
                cfg.set_nnadapter_model_cache_dir(options.nnadapter_model_cache_dir)
        return cfg

    pred = PaddleLitePredictor(make_config, name, path, options.max_cached_shapes, options.cache_mb)
    pred.check_loads()
    return pred


def arm_graph_on_x86(pb_dir: Path, name: str, max_cached: int = 8) -> PaddleLitePredictor:
    """The ARM-optimised graph (protobuf) executed with x86 kernels: checks ARM graph rewrites without ARM hardware."""
    model, params = pb_dir / "model", pb_dir / "params"

    def make_config():
        cfg = lite.CxxConfig()
        cfg.set_model_file(str(model))
        cfg.set_param_file(str(params))
        cfg.set_valid_places([lite.Place(lite.TargetType.X86, lite.PrecisionType.FP32),
                              lite.Place(lite.TargetType.Host, lite.PrecisionType.FP32)])
        return cfg

    return PaddleLitePredictor(make_config, name, pb_dir, max_cached)


def ignored_options(options: EngineOptions) -> list[str]:
    """Options this Paddle Lite build cannot honour (the x86 wheel has no set_threads/set_power_mode)."""
    probe = lite.MobileConfig()
    return [f"this Paddle Lite build has no {setter}(): {opt}={getattr(options, opt)} is ignored"
            for opt, setter in (("threads", "set_threads"), ("power_mode", "set_power_mode"))
            if getattr(options, opt) and not hasattr(probe, setter)]


class PaddleLiteEngine:
    key = "paddlelite"

    def __init__(self, options: EngineOptions):
        if options.power_mode and options.power_mode not in POWER_MODES:
            raise ConfigError(f"unknown Paddle Lite power_mode {options.power_mode!r}",
                              hint=f"choose one of: {', '.join(POWER_MODES)}")
        for warning in ignored_options(options):
            log.warning("%s (the x86 wheel runs on about one core)", warning)
        self.options = options

    def load(self, models: BuiltModels, model_key: str) -> PaddleLitePredictor:
        return mobile_predictor(models.path(model_key, f"{self.options.target}.nb"), self.options, model_key)
