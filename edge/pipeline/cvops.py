"""The OpenCV operations whose exact arithmetic the results depend on, chosen once for this CPU.

On x86_64 they are OpenCV's own: the official pipeline runs there, so they are the reference and the fastest. On
any other CPU (ARM boards) they are bitexact's re-computation of the x86_64 arithmetic, because OpenCV's builds for
those CPUs fuse multiply-adds and vectorise differently and so move crops and resized pixels (tests/test_bitexact.py
holds the two equal on x86_64; `make verify-arm64` runs the pipeline on emulated aarch64).
"""
from __future__ import annotations

import platform

import cv2
import numpy as np

from . import bitexact

#: OpenCV itself is the reference on this CPU (the official pipeline's)
NATIVE = platform.machine().lower() in ("x86_64", "amd64")
#: what this module provides; bitexact has each under the same name
OPERATIONS = ("min_area_rect", "box_points", "perspective_crop", "rotation_matrix", "warp_affine", "resize",
              "contour_area", "arc_length", "side_length")

if NATIVE:
    def min_area_rect(points: np.ndarray):
        return cv2.minAreaRect(points)

    def box_points(rect) -> np.ndarray:
        return cv2.boxPoints(rect)

    def perspective_crop(img: np.ndarray, src: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        w, h = size
        m = cv2.getPerspectiveTransform(src, np.float32([[0, 0], [w, 0], [w, h], [0, h]]))
        return cv2.warpPerspective(img, m, size, borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)

    def rotation_matrix(center: tuple[float, float], angle: float) -> np.ndarray:
        return cv2.getRotationMatrix2D(center, angle, 1.0)

    def warp_affine(img: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return cv2.warpAffine(img, m, size, flags=cv2.INTER_CUBIC)

    def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return cv2.resize(img, size)

    def contour_area(pts: np.ndarray) -> float:
        return cv2.contourArea(pts)

    def arc_length(pts: np.ndarray) -> float:
        return cv2.arcLength(pts, True)

    def side_length(p: np.ndarray, q: np.ndarray) -> float:
        return np.linalg.norm(p - q)
else:
    min_area_rect = bitexact.min_area_rect
    box_points = bitexact.box_points
    perspective_crop = bitexact.perspective_crop
    rotation_matrix = bitexact.rotation_matrix
    warp_affine = bitexact.warp_affine
    resize = bitexact.resize
    contour_area = bitexact.contour_area
    arc_length = bitexact.arc_length
    side_length = bitexact.side_length
