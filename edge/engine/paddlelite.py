"""Paddle Lite engine (MobileConfig on a .nb): the device runtime on ARM CPUs and NPUs.

x86 Paddle Lite 2.13 corrupts results (or double-frees) when a live predictor's input shape changes, so every
input shape gets its own predictor, kept in an LRU. A predictor's memory grows with its input (x86 rec at
6x3x48x3200 holds ~8 GB), so the LRU is bounded by the memory the predictors were measured to take, not by count.
"""
from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
from collections import OrderedDict
from importlib import metadata
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..budget import MemoryModel
from ..checks import Check
from ..errors import EngineError, ModelError
from ..memory import rss_bytes, trim_heap
from ..models import BuiltModels
from .base import EngineOptions, EnginePlugin
from ..modelbuild.npu_tools import PADDLE_TOOL
from .served import ServedModel

log = logging.getLogger(__name__)
X86 = ("x86_64", "amd64", "i686")
ARM = ("aarch64", "arm64", "armv7l", "armv8l")


class NNAdapterOptions(BaseModel):
    """Paddle Lite's NNAdapter: the NPU behind a Paddle Lite build."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_names: list[str] = Field(default_factory=list, description="e.g. ['verisilicon_timvx']")
    context_properties: str = Field("", description="'KEY=value;KEY2=value' passed to the NPU driver")
    model_cache_dir: str | None = Field(None, description="where the NPU graph compiled at first run is cached")
    device_nodes: list[str] = Field(default_factory=list, description="device files the NPU driver opens")
    models: list[str] = Field(default_factory=lambda: ["det", "textline_x1_0"], description=(
        "models run on the NPU (their int8 build); the others run on the ARM CPU. Recognition stays on the CPU: "
        "int8 changes its text (README, NPU builds)"))
    simulator_python: str | None = Field(None, description=(
        "set by `models verify --target nnadapter` on an x86_64 host: the NPU models' int8 Paddle programs run in "
        "Paddle inference in this Python (the Paddle 2.6 tool environment), the others on Paddle Lite's x86 kernels"))


class PaddleLiteOptions(EngineOptions):
    key: Literal["paddlelite"] = "paddlelite"
    target: Literal["x86", "arm"] = Field("x86", description="which Paddle Lite build of the models to load")
    power_mode: Literal["HIGH", "LOW", "FULL", "NO_BIND", "RAND_HIGH", "RAND_LOW"] | None = Field(
        None, description="ARM big.LITTLE core binding")
    max_cached_shapes: int = Field(24, ge=1, le=256, description="predictors kept per model (one per input shape)")
    cache_mb: int | None = Field(1024, ge=64, description="memory the cached predictors of one model may hold")
    nnadapter: NNAdapterOptions = NNAdapterOptions()


def _lite():
    return PaddleLiteEngine.library()


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
                p = _lite().create_paddle_predictor(self._make_config())
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
            trim_heap()

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

    def release(self) -> None:
        """A predictor holds the buffers of its shape for as long as it lives: dropping them is the only release."""
        self._by_shape.clear()
        self._cost.clear()
        trim_heap()

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        shape = tuple(x.shape)
        new = shape not in self._by_shape
        before = rss_bytes() if new else 0
        p = self._predictor(shape)
        p.get_input(0).from_numpy(x)
        p.run()
        out = p.get_output(0).numpy().copy()
        if new:  # what this shape's predictor holds: creation plus the buffers of its first run
            self._cost[shape] = max(0, rss_bytes() - before)
            self._evict(keep=shape)
        return out


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


def mobile_predictor(path: Path, options: PaddleLiteOptions, name: str) -> PaddleLitePredictor:
    model = _read(path)
    lite = _lite()
    npu = options.nnadapter

    def make_config():
        cfg = lite.MobileConfig()
        cfg.set_model_from_buffer(model)
        if options.threads and hasattr(cfg, "set_threads"):
            cfg.set_threads(options.threads)
        if options.power_mode and hasattr(cfg, "set_power_mode"):
            cfg.set_power_mode(getattr(lite.PowerMode, f"LITE_POWER_{options.power_mode}"))
        if npu.device_names:
            cfg.set_nnadapter_device_names(list(npu.device_names))
            if npu.context_properties:
                cfg.set_nnadapter_context_properties(npu.context_properties)
            if npu.model_cache_dir:
                cfg.set_nnadapter_model_cache_dir(npu.model_cache_dir)
        return cfg

    pred = PaddleLitePredictor(make_config, name, path, options.max_cached_shapes, options.cache_mb)
    pred.check_loads()
    return pred


def arm_graph_on_x86(pb_dir: Path, name: str, max_cached: int = 8) -> PaddleLitePredictor:
    """The ARM-optimised graph (protobuf) executed with x86 kernels: checks ARM graph rewrites without ARM hardware."""
    model, params = pb_dir / "model", pb_dir / "params"
    lite = _lite()

    def make_config():
        cfg = lite.CxxConfig()
        cfg.set_model_file(str(model))
        cfg.set_param_file(str(params))
        cfg.set_valid_places([lite.Place(lite.TargetType.X86, lite.PrecisionType.FP32),
                              lite.Place(lite.TargetType.Host, lite.PrecisionType.FP32)])
        return cfg

    return PaddleLitePredictor(make_config, name, pb_dir, max_cached)


def ignored_options(options: PaddleLiteOptions) -> list[str]:
    """Options this Paddle Lite build cannot honour (the x86 wheel has no set_threads/set_power_mode)."""
    probe = _lite().MobileConfig()
    return [f"this Paddle Lite build has no {setter}(): {opt}={getattr(options, opt)} is ignored"
            for opt, setter in (("threads", "set_threads"), ("power_mode", "set_power_mode"))
            if getattr(options, opt) and not hasattr(probe, setter)]


def _numpy_major() -> int:
    return int(metadata.version("numpy").split(".")[0])


def _numpy_problem() -> list[str]:
    if _numpy_major() < 2:
        return []
    return [f"numpy {metadata.version('numpy')} is installed: Paddle Lite 2.13 reads numpy 2 arrays as garbage without "
            "an error, so it refuses to start. Run it in an environment with numpy<2 (pip install "
            "'edge-ocr[paddlelite]' pins it; `make setup` makes .venv-lite)"]


class PaddleLiteEngine(EnginePlugin):
    key = "paddlelite"
    label = "Paddle Lite"
    module = "paddlelite.lite"
    distribution = "paddlelite"
    install = ("pip install 'edge-ocr[paddlelite]' (x86_64 CPython 3.8/3.10 only, with numpy<2); on ARM boards, the "
               "board's own Paddle Lite build with Python enabled")
    Options = PaddleLiteOptions
    pads_batches = True

    @classmethod
    def verified(cls, options: PaddleLiteOptions, machine: str) -> str:
        if options.nnadapter.device_names:
            return (f"the int8 builds for {', '.join(options.nnadapter.device_names)} ran as Paddle programs in Paddle "
                    "inference on x86_64 (make verify-npu: fidelity in the README's NPU table); no NNAdapter NPU and "
                    "no ARM Paddle Lite kernels were run by edge-ocr's checks")
        if machine != "x86_64":
            return ("the ARM graphs were checked with Paddle Lite's x86 kernels only (make verify); its ARM kernels and "
                    "any NPU were not executed by edge-ocr's checks")
        return super().verified(options, machine)

    @classmethod
    def memory_model(cls, options: PaddleLiteOptions) -> MemoryModel | None:
        if options.target != "x86":  # ARM and NPU builds: measured on a board (or its emulation), set in the profile
            return None
        return MemoryModel(base_mb=1799, page_mb=2095, det_bytes_per_pixel=1251, rec_max_columns=3840, measured=(
            "x86_64, Paddle Lite 2.13rc0 x86 kernels: `edge-ocr bench --memory-model` (pages of 0.9-12.8 MP took "
            "2.3-15.8 GB above the warm idle 1.6 GB: every new shape is a predictor with its own buffers)"))

    def __init__(self, options: PaddleLiteOptions):
        super().__init__(options)
        self.check(options, platform.machine())
        self._served: list[ServedModel] = []
        _lite()
        for warning in ignored_options(options):
            log.warning("%s (the x86 wheel runs on about one core)", warning)

    @classmethod
    def model_kind(cls, options: PaddleLiteOptions) -> str:
        return f"{options.target}.nb"

    @classmethod
    def simulated_options(cls, options: PaddleLiteOptions, tool_python: str,
                          models: list[str] | None = None) -> PaddleLiteOptions:
        npu = options.nnadapter.model_copy(update={"simulator_python": tool_python,
                                                   "models": models or options.nnadapter.models})
        return options.model_copy(update={"nnadapter": npu})

    @classmethod
    def model_kind_for(cls, options: PaddleLiteOptions, model_key: str) -> str:
        npu = options.nnadapter
        if npu.device_names and model_key in npu.models:
            return "int8.pd" if npu.simulator_python else f"nnadapter-{npu.device_names[0]}"
        return "x86.nb" if npu.simulator_python else cls.model_kind(options)

    @classmethod
    def problems(cls, options: PaddleLiteOptions, machine: str) -> list[str]:
        out = []
        npu = options.nnadapter
        if npu.simulator_python:
            if machine not in X86:
                out.append(f"the NNAdapter int8 models are simulated on x86_64 build hosts only, this is {machine}")
            return out + super().problems(options, machine) + _numpy_problem()
        missing = [d for d in npu.device_nodes if not os.path.exists(d)]
        if npu.device_names and missing:
            out.append(f"NPU device node {', '.join(missing)} is missing: the {', '.join(npu.device_names)} driver is "
                       "not loaded (the board vendor's kernel module)")
        if options.target == "arm" and machine not in ARM:
            out.append(f"this profile runs ARM Paddle Lite models, this host is {machine}: use x86-paddlelite (the "
                       "same graphs on x86 kernels) or an x86 profile of another engine here")
        if options.target == "x86" and machine not in X86:
            out.append(f"this profile runs x86 Paddle Lite models, this host is {machine}")
        return out + super().problems(options, machine) + _numpy_problem()

    @classmethod
    def warnings(cls, options: PaddleLiteOptions) -> list[str]:
        return ignored_options(options) if cls.installed() and _numpy_major() < 2 else []

    @classmethod
    def device_nodes(cls, options: PaddleLiteOptions) -> list[str]:
        return list(options.nnadapter.device_nodes)

    @classmethod
    def health(cls, options: PaddleLiteOptions) -> list[Check]:
        checks = super().health(options)
        checks.append(Check("numpy", _numpy_major() < 2, metadata.version("numpy"),
                                  "Paddle Lite 2.13 needs numpy<2: pip install 'numpy<2'"))
        return checks

    def target_entry(self, models: BuiltModels) -> dict:
        """The NNAdapter build's record; an NPU profile without it is a missing model, with the command to build it."""
        entry = models.lock.get("targets", {}).get("nnadapter")
        devices = self.options.nnadapter.device_names
        if entry is None or not set(devices) <= set(entry["devices"]):
            raise ModelError(f"no int8 NNAdapter build for {', '.join(devices)} in {models.dir}: NPUs run fully "
                             "int8-quantised models only",
                             hint="run `edge-ocr models build --target nnadapter` on an x86_64 host (make setup's "
                                  ".venv-lite) and copy models_mobile/build to the board, or use arm-cpu meanwhile")
        return entry

    def load(self, models: BuiltModels, model_key: str):
        npu = self.options.nnadapter
        on_npu = bool(npu.device_names) and model_key in npu.models
        if on_npu:
            entry = self.target_entry(models)
            if model_key not in entry["models"]:
                raise ModelError(f"model {model_key!r} has no int8 NNAdapter build",
                                 hint="add it to models_mobile/npu.toml [nnadapter.models], or remove it from the "
                                      "profile's [engine.nnadapter] models")
        kind = self.model_kind_for(self.options, model_key)
        if on_npu and npu.simulator_python:
            served = ServedModel([npu.simulator_python, PADDLE_TOOL, "serve", models.path(model_key, kind)],
                                 model_key, models.dir / "logs" / f"simulated.{model_key}.log")
            self._served.append(served)
            return served
        options = self.options
        if npu.simulator_python:  # the board's CPU part: the same graphs on Paddle Lite's x86 kernels
            options = options.model_copy(update={"target": "x86", "nnadapter": NNAdapterOptions()})
        elif not on_npu:  # the NPU runs only its models: the others get a plain ARM CPU predictor
            options = options.model_copy(update={"nnadapter": NNAdapterOptions()})
        return mobile_predictor(models.path(model_key, kind), options, model_key)

    def simulated(self) -> dict[str, None]:
        return {s.name: None for s in self._served}  # Paddle inference loads the shipped int8 program itself

    def close(self) -> None:
        for s in self._served:
            s.close()
        self._served.clear()

    def verify_runners(self, models: BuiltModels, model_key: str) -> dict:
        runners = {"lite x86 .nb": self.load(models, model_key)}
        if "arm.pb" in models.lock["models"][model_key]["files"]:
            runners["arm graph, x86 kernels"] = arm_graph_on_x86(models.path(model_key, "arm.pb"), model_key,
                                                                 max_cached=self.options.max_cached_shapes)
        return runners


PLUGIN = PaddleLiteEngine
