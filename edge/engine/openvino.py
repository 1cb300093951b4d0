"""OpenVINO on the CPU: the same .onnx files as ONNX Runtime, compiled once with their dynamic dimensions.

Inference precision is pinned to f32 by default: on CPUs with bf16 or AMX, OpenVINO's default is bf16, which
changes the text. A new page size costs a shape inference, not a recompile, so a stream of odd-sized scans runs
on one compiled model per network.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from pydantic import Field

from ..budget import MemoryModel
from ..errors import EngineError
from ..models import BuiltModels
from .base import EngineOptions, EnginePlugin


class OpenVINOOptions(EngineOptions):
    key: Literal["openvino"] = "openvino"
    device: Literal["CPU"] = Field("CPU", description="OpenVINO device; only the CPU plugin is tested")
    performance_hint: Literal["LATENCY", "THROUGHPUT"] = Field(
        "LATENCY", description="LATENCY: one page at a time as fast as possible; THROUGHPUT: parallel streams")
    precision: Literal["f32", "bf16"] = Field(
        "f32", description="inference precision; anything but f32 is lossy (measure it with `models verify`)")
    cache_dir: str | None = Field(None, description="OpenVINO model cache: later starts skip compilation")


class OpenVINOPredictor:
    def __init__(self, compile_model: Callable[[], object], name: str):
        self.name = name
        self._compile_model = compile_model
        self._compiled = compile_model()
        self._request = self._compiled.create_infer_request()

    def run(self, x: np.ndarray) -> np.ndarray:
        self._request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return self._request.get_output_tensor(0).data.copy()

    def release(self) -> None:
        """OpenVINO keeps intermediate buffers sized for the biggest input seen (1.6 GB after one 300-dpi scan)
        until told to let go; the next call allocates what it needs again."""
        self._compiled.release_memory()

    def reset(self) -> None:
        """A freshly compiled model: what release() leaves behind (kernels and executors prepared for every shape
        seen, ~250 MB after a few big pages) goes too. Costs a compile (~0.2 s), so only when the service is idle."""
        fresh = self._compile_model()  # first, so a failure leaves the working model in place
        self._request = None
        self._compiled = fresh
        self._request = fresh.create_infer_request()


class OpenVINOEngine(EnginePlugin):
    key = "openvino"

    label = "OpenVINO"
    module = "openvino"
    distribution = "openvino"
    install = "pip install openvino (or pip install 'edge-ocr[openvino]')"
    Options = OpenVINOOptions
    # its ARM kernels round differently in f32 (EXECUTION_MODE_HINT=ACCURACY changes nothing): an opt-in on ARM
    aarch64_fidelity = ("LOSSY there: 144 of the 145 reference lines read as the official ones, one gains a space "
                        "(det F1 1.000, text 0.993, page CER 0.0004); arm-onnxruntime is exact")

    @classmethod
    def library(cls):
        """OpenVINO with its usage telemetry off. `import openvino` loads its model converter, which, unless the user
        opted out, sends usage data to Google Analytics from a background process: an offline appliance never phones
        home, so the telemetry package is made unimportable and the converter falls back to its own stub."""
        if "openvino" not in sys.modules:
            sys.modules.setdefault("openvino_telemetry", None)
        return super().library()

    @classmethod
    def memory_model(cls, options: OpenVINOOptions) -> MemoryModel | None:
        return MemoryModel(base_mb=300, page_mb=369, det_bytes_per_pixel=207, measured=(
            "x86_64, OpenVINO 2026.4 f32, LATENCY, 2 threads: `edge-ocr bench --memory-model` (pages of 0.9-12.8 MP "
            "took 409-2,398 MB above the idle process); base_mb is the daemon's warm idle size (its warm-up page "
            "keeps a small page's buffers), det_bytes_per_pixel the larger of two runs"))

    def __init__(self, options: OpenVINOOptions):
        super().__init__(options)
        self._ov = self.library()
        self._core = self._ov.Core()
        if options.cache_dir:
            Path(options.cache_dir).mkdir(parents=True, exist_ok=True)
            self._core.set_property({"CACHE_DIR": options.cache_dir})

    def config(self) -> dict:
        cfg = {"PERFORMANCE_HINT": self.options.performance_hint,
               "INFERENCE_PRECISION_HINT": self.options.precision}
        if self.options.threads:
            cfg["INFERENCE_NUM_THREADS"] = self.options.threads
        return cfg

    def load(self, models: BuiltModels, model_key: str) -> OpenVINOPredictor:
        path = models.path(model_key, "onnx")

        def compile_model():
            try:
                return self._core.compile_model(str(path), self.options.device, self.config())
            except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
                raise EngineError(f"OpenVINO cannot compile {path}: {e}", hint="rebuild with `edge-ocr models build "
                                  "--force`, or use another engine's profile") from None
        return OpenVINOPredictor(compile_model, model_key)

    def describe(self) -> dict:
        return {**super().describe(), "runtime": self._ov.get_version()}


PLUGIN = OpenVINOEngine
