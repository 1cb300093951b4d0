"""ONNX Runtime engine: the fast path on x86 gateways and the fallback on ARM boards without a Paddle Lite build."""
from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort

from ..errors import EngineError
from ..models import BuiltModels
from .base import EngineOptions

log = logging.getLogger(__name__)


class OnnxRuntimePredictor:
    def __init__(self, path, options: EngineOptions, name: str):
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


class OnnxRuntimeEngine:
    key = "onnxruntime"

    def __init__(self, options: EngineOptions):
        self.options = options
        if options.power_mode or options.nnadapter_device_names:
            log.warning("ONNX Runtime ignores power_mode and NNAdapter settings of the profile")

    def load(self, models: BuiltModels, model_key: str) -> OnnxRuntimePredictor:
        return OnnxRuntimePredictor(models.path(model_key, "onnx"), self.options, model_key)
