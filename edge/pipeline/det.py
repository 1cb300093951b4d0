"""Text detection: official DetResizeForTest sizing and DB post-processing (pure numpy + OpenCV + pyclipper)."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper

from . import cvops
from .geometry import order_min_area_rect

log = logging.getLogger(__name__)
MAX_CANDIDATES = 1000
MIN_SIZE = 3


@dataclass(frozen=True)
class DetParams:
    limit_side_len: int = 64
    limit_type: str = "min"  # min | max | resize_long
    max_side_limit: int = 4000
    thresh: float = 0.3
    box_thresh: float = 0.6
    unclip_ratio: float = 1.5

    def as_result(self) -> dict:
        """The `text_det_params` block of a PaddleOCR result, in its key order."""
        return {"limit_side_len": self.limit_side_len, "limit_type": self.limit_type, "thresh": self.thresh,
                "max_side_limit": self.max_side_limit, "box_thresh": self.box_thresh,
                "unclip_ratio": self.unclip_ratio}


def det_size(h: int, w: int, p: DetParams) -> tuple[int, int]:
    """Network input size (multiples of 32) for an h x w image."""
    if p.limit_type == "max":
        ratio = p.limit_side_len / (h if h > w else w) if max(h, w) > p.limit_side_len else 1.0
    elif p.limit_type == "min":
        ratio = p.limit_side_len / (h if h < w else w) if min(h, w) < p.limit_side_len else 1.0
    elif p.limit_type == "resize_long":
        ratio = p.limit_side_len / max(h, w)
    else:
        raise ValueError(f"limit_type must be min, max or resize_long, not {p.limit_type!r}")
    rh, rw = int(h * ratio), int(w * ratio)
    if max(rh, rw) > p.max_side_limit:
        log.debug("detection size %dx%d exceeds max_side_limit %d; scaling down", rw, rh, p.max_side_limit)
        ratio = p.max_side_limit / max(rh, rw)
        rh, rw = int(rh * ratio), int(rw * ratio)
    return max(int(round(rh / 32) * 32), 32), max(int(round(rw / 32) * 32), 32)


def det_resize(img: np.ndarray, p: DetParams) -> tuple[np.ndarray, tuple[int, int]]:
    """Returns the network-sized image and the source (h, w) boxes map back to."""
    src_h, src_w = img.shape[:2]
    if src_h + src_w < 64:  # tiny inputs are padded to at least 32x32 first
        pad = np.zeros((max(32, src_h), max(32, src_w), img.shape[2]), np.uint8)
        pad[:src_h, :src_w] = img
        img = pad
    h, w = img.shape[:2]
    rh, rw = det_size(h, w, p)
    if (rh, rw) != (h, w):
        img = cvops.resize(img, (rw, rh))
    return img, (src_h, src_w)


def _box_score_fast(pred: np.ndarray, box: np.ndarray) -> float:
    h, w = pred.shape
    box = box.copy()
    xmin = max(0, min(math.floor(box[:, 0].min()), w - 1))
    xmax = max(0, min(math.ceil(box[:, 0].max()), w - 1))
    ymin = max(0, min(math.floor(box[:, 1].min()), h - 1))
    ymax = max(0, min(math.ceil(box[:, 1].max()), h - 1))
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    box[:, 0] -= xmin
    box[:, 1] -= ymin
    cv2.fillPoly(mask, box.reshape(1, -1, 2).astype(np.int32), 1)
    return cv2.mean(pred[ymin:ymax + 1, xmin:xmax + 1], mask)[0]


def _unclip(box: np.ndarray, ratio: float) -> np.ndarray:
    area = cvops.contour_area(box)
    length = cvops.arc_length(box)
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    paths = offset.Execute(area * ratio / length)
    try:
        return np.array(paths)
    except ValueError:  # several paths of different lengths: PaddleX keeps the first
        return np.array(paths[0])


def _mini_box(contour) -> tuple[np.ndarray, float]:
    rect = cvops.min_area_rect(contour)
    return order_min_area_rect(rect), min(rect[1])


def db_boxes(pred: np.ndarray, src_hw: tuple[int, int], p: DetParams) -> tuple[list[np.ndarray], list[float]]:
    """Quads (int, source pixel coordinates) and scores from a DB probability map [H, W]."""
    bitmap = pred > p.thresh
    height, width = bitmap.shape
    dest_h, dest_w = src_hw
    contours, _ = cv2.findContours((bitmap * 255).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes, scores = [], []
    for contour in contours[:MAX_CANDIDATES]:
        points, sside = _mini_box(contour)
        if sside < MIN_SIZE:
            continue
        score = _box_score_fast(pred, points.reshape(-1, 2))
        if p.box_thresh > score:
            continue
        expanded = _unclip(points, p.unclip_ratio).reshape(-1, 1, 2)
        if expanded.size == 0:
            continue
        box, sside = _mini_box(expanded)
        if sside < MIN_SIZE + 2:
            continue
        box = np.array(box, dtype=np.float64)  # scaled in double precision, as PaddleX's scalar arithmetic is
        box[:, 0] = np.clip(np.round(box[:, 0] * (dest_w / width)), 0, dest_w)
        box[:, 1] = np.clip(np.round(box[:, 1] * (dest_h / height)), 0, dest_h)
        boxes.append(box.astype(np.int16))
        scores.append(score)
    return boxes, scores
