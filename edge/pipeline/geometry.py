"""Quadrilateral geometry shared by detection and cropping, matching the official PaddleX operators."""
from __future__ import annotations

import numpy as np

from . import cvops


def order_min_area_rect(rect) -> np.ndarray:
    """Corners of a minAreaRect as top-left, top-right, bottom-right, bottom-left (PaddleX's ordering)."""
    pts = sorted(list(cvops.box_points(rect)), key=lambda p: p[0])
    a, d = (0, 1) if pts[1][1] > pts[0][1] else (1, 0)
    b, c = (2, 3) if pts[3][1] > pts[2][1] else (3, 2)
    return np.array([pts[a], pts[b], pts[c], pts[d]], dtype=np.float32)


def sort_quads(quads: list[np.ndarray]) -> list[np.ndarray]:
    """Reading order: top to bottom, then left to right within 10 px rows (a bubble pass, as PaddleX does)."""
    boxes = sorted((np.asarray(q) for q in quads), key=lambda q: (q[0][1], q[0][0]))
    for i in range(len(boxes) - 1):
        for j in range(i, -1, -1):
            if abs(boxes[j + 1][0][1] - boxes[j][0][1]) < 10 and boxes[j + 1][0][0] < boxes[j][0][0]:
                boxes[j], boxes[j + 1] = boxes[j + 1], boxes[j]
            else:
                break
    return boxes


def crop_quad(img: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Perspective crop of the minimum-area rectangle around a quad; tall crops (h/w >= 1.5) are turned 90 degrees.

    Re-fitting the rectangle before warping is what the official pipeline does: warping the raw four points
    changes most crops and so the recognised text. cvops makes ARM boards crop as x86 does.
    """
    pts = order_min_area_rect(cvops.min_area_rect(np.asarray(quad).astype(np.int32)))
    w = int(max(cvops.side_length(pts[0], pts[1]), cvops.side_length(pts[2], pts[3])))
    h = int(max(cvops.side_length(pts[0], pts[3]), cvops.side_length(pts[1], pts[2])))
    crop = cvops.perspective_crop(img, pts, (w, h))
    if crop.shape[0] * 1.0 / max(crop.shape[1], 1) >= 1.5:
        crop = np.rot90(crop)
    return crop


def rotate(img: np.ndarray, angle: float) -> np.ndarray:
    """Counter-clockwise rotation by angle degrees onto an enlarged canvas (cubic), as PaddleX's rotate_image."""
    if angle < 1e-7:
        return img
    h, w = img.shape[:2]
    mat = cvops.rotation_matrix((w / 2, h / 2), angle)
    cos, sin = abs(mat[0, 0]), abs(mat[0, 1])
    new_w, new_h = int(h * sin + w * cos), int(h * cos + w * sin)
    mat[0, 2] += (new_w - w) / 2
    mat[1, 2] += (new_h - h) / 2
    return cvops.warp_affine(img, mat, (new_w, new_h))


def quads_to_boxes(quads) -> np.ndarray:
    """[x_min, y_min, x_max, y_max] per quad."""
    if len(quads) == 0:
        return np.zeros((0, 4), dtype=np.int64)
    q = np.asarray(quads)
    return np.stack([q[:, :, 0].min(1), q[:, :, 1].min(1), q[:, :, 0].max(1), q[:, :, 1].max(1)], axis=1)
