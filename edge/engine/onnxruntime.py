"""ONNX Runtime: runs the source ONNX graphs as they are, so its outputs are the reference the other engines are
verified against; the portable engine on x86 and on ARM boards without a faster one."""
from __future__ import annotations

from typing import Literal

import numpy as np

from ..errors import EngineError
from ..models import BuiltModels
from .base import EngineOptions, EnginePlugin


class OnnxRuntimeOptions(EngineOptions):
    key: Literal["onnxruntime"] = "onnxruntime"


class OnnxRuntimePredictor:
    def __init__(self, ort, path, options: OnnxRuntimeOptions, name: str):
        self.name = name
        so = ort.SessionOptions()
        if options.threads:
            so.intra_op_num_threads = options.threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        try:
            self._sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise EngineError(f"ONNX Runtime cannot load {path}: {e}", hint="rebuild with `edge-ocr models build --force`") from None
        self._input = self._sess.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._sess.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})[0]


class OnnxRuntimeEngine(EnginePlugin):
    key = "onnxruntime"
    label = "ONNX Runtime"
    module = "onnxruntime"
    distribution = "onnxruntime"
    install = "pip install onnxruntime"
    Options = OnnxRuntimeOptions
    is_reference = True

    def __init__(self, options: OnnxRuntimeOptions):
        super().__init__(options)
        self._ort = self.library()

    def load(self, models: BuiltModels, model_key: str) -> OnnxRuntimePredictor:
        return OnnxRuntimePredictor(self._ort, models.path(model_key, "onnx"), self.options, model_key)


PLUGIN = OnnxRuntimeEngine
