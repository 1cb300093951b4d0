"""Per-channel normalisation x * (scale / std) + (-mean / std), in the model's colour order, to NCHW float32."""
from __future__ import annotations

import cv2
import numpy as np

from ..models import InputSpec


def to_model_colors(bgr: np.ndarray, spec: InputSpec) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if spec.color == "RGB" else bgr


def normalize_chw(img: np.ndarray, spec: InputSpec) -> np.ndarray:
    """HWC uint8 (already in the model's colour order) -> CHW float32. Same arithmetic order as PaddleX."""
    alpha = np.array([spec.scale / s for s in spec.std], dtype=np.float32)
    beta = np.array([-m / s for m, s in zip(spec.mean, spec.std)], dtype=np.float32)
    out = img.astype(np.float32) * alpha + beta
    return np.ascontiguousarray(out.transpose(2, 0, 1))
