"""ONNX Runtime: runs the source ONNX graphs as they are, so its outputs are the reference the other engines are
verified against; the portable engine on x86 and on ARM boards without a faster one."""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..budget import MemoryModel
from ..errors import EngineError
from ..models import BuiltModels
from .base import EngineOptions, EnginePlugin


class OnnxRuntimeOptions(EngineOptions):
    key: Literal["onnxruntime"] = "onnxruntime"
    arena: bool = Field(False, description=(
        "ONNX Runtime's CPU memory arena: ~4% faster on repeated shapes, but it keeps the biggest page's memory "
        "(2.8 GB after one 300-dpi scan) for the life of the process; off, memory returns after each call"))


class OnnxRuntimePredictor:
    def __init__(self, ort, path, options: OnnxRuntimeOptions, name: str):
        self.name = name
        so = ort.SessionOptions()
        if options.threads:
            so.intra_op_num_threads = options.threads
        so.inter_op_num_threads = 1
        so.enable_cpu_mem_arena = options.arena
        so.log_severity_level = 3
        try:
            self._sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise EngineError(f"ONNX Runtime cannot load {path}: {e}", hint="rebuild with `edge-ocr models build --force`") from None
        self._input = self._sess.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._sess.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})[0]

    def release(self) -> None:
        """Without the arena, a call's buffers are freed when it returns; glibc hands them back (trim_heap)."""


class OnnxRuntimeEngine(EnginePlugin):
    key = "onnxruntime"

    label = "ONNX Runtime"
    module = "onnxruntime"
    distribution = "onnxruntime"
    install = "pip install onnxruntime"
    Options = OnnxRuntimeOptions
    is_reference = True
    aarch64_fidelity = "results equal to the official ones on the 13 reference inputs"
    # each session has its own thread pool: detection and recognition at once contend for the same cores (measured:
    # first pass 4.4 s pipelined vs 4.2 s serial on the reference pages), so pages run one after the other
    overlaps_pages = False

    @classmethod
    def memory_model(cls, options: OnnxRuntimeOptions) -> MemoryModel | None:
        if options.arena:  # the arena keeps what it took: no page-by-page model holds
            return None
        return MemoryModel(base_mb=187, page_mb=263, det_bytes_per_pixel=161, measured=(
            "x86_64, ONNX Runtime 1.32, arena off, 2 threads: the larger of each coefficient from two runs of "
            "`edge-ocr bench --memory-model` (pages of 0.9-12.8 MP took 342-1,711 MB above the idle process)"))

    def __init__(self, options: OnnxRuntimeOptions):
        super().__init__(options)
        self._ort = self.library()

    def load(self, models: BuiltModels, model_key: str) -> OnnxRuntimePredictor:
        return OnnxRuntimePredictor(self._ort, models.path(model_key, "onnx"), self.options, model_key)


PLUGIN = OnnxRuntimeEngine
