"""Orientation classifiers: text-line 0/180 (PP-LCNet or PP-OCR 2.x cls) and document 0/90/180/270."""
from __future__ import annotations

import math

import numpy as np

from ..models import InputSpec
from . import cvops
from .normalize import normalize_chw, to_model_colors

DOC_RESIZE_SHORT = 256
V20_SCORE_THRESH = 0.9  # the PP-OCR 2.x classifier only turns a line when this sure, as PaddleOCR 2.x did


def textline_input(crop: np.ndarray, spec: InputSpec) -> np.ndarray:
    """BGR crop -> [3, H, W] for a text-line classifier of input shape spec.shape."""
    _, _, h, w = spec.shape
    img = to_model_colors(crop, spec)
    if spec.color == "RGB":  # PP-LCNet (PaddleX image classification): plain resize to W x H
        return normalize_chw(cvops.resize(img, (w, h)), spec)
    # PP-OCR 2.x cls: keep the ratio, pad on the right with zeros
    ratio = crop.shape[1] / float(crop.shape[0])
    rw = min(w, int(math.ceil(h * ratio)))
    x = normalize_chw(cvops.resize(img, (rw, h)), spec)
    out = np.zeros((3, h, w), dtype=np.float32)
    out[:, :, :rw] = x
    return out


def doc_input(page: np.ndarray, spec: InputSpec) -> np.ndarray:
    """BGR page -> [3, 224, 224]: short side to 256, centre crop, normalise."""
    _, _, ch, cw = spec.shape
    img = to_model_colors(page, spec)
    h, w = img.shape[:2]
    scale = DOC_RESIZE_SHORT / min(h, w)
    img = cvops.resize(img, (round(w * scale), round(h * scale)))
    h, w = img.shape[:2]
    x1, y1 = max(0, (w - cw) // 2), max(0, (h - ch) // 2)
    img = img[y1:y1 + ch, x1:x1 + cw]
    return normalize_chw(img, spec)


def textline_angles(probs: np.ndarray, labels: list[str]) -> list[int]:
    """Class index per line (0 upright, 1 upside down); the 2.x classifier needs V20_SCORE_THRESH to say 180."""
    ids = probs.argmax(axis=1)
    if labels == ["0", "180"]:
        ids = np.where(probs.max(axis=1) > V20_SCORE_THRESH, ids, 0)
    return [int(i) for i in ids]


def doc_angle(probs: np.ndarray, labels: list[str]) -> int:
    return int(labels[int(probs.argmax())])
