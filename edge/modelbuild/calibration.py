"""Calibration data for int8 NPU builds, owned by the project: rendered pages and text lines (Chinese, English,
Japanese, in the fonts edge-ocr installs) plus a fixed part of the public reference set, never the part the builds
are scored on.

Inputs are made exactly as the pipeline makes them (official resize and normalisation) and packed into the model's
largest shape bucket as the engine packs them at run time, so the ranges int8 is calibrated on are the ranges it
will see. Deterministic: the same files give the same calibration set.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np

from ..models import ModelSpec
from ..pipeline.buckets import choose, pack
from ..pipeline.cls import doc_input, textline_input
from ..pipeline.det import DetParams, det_resize
from ..pipeline.geometry import crop_quad
from ..pipeline.normalize import normalize_chw, to_model_colors
from ..pipeline.rec import rec_normalize
from .samples import JA_LINES, LINES, render_line, render_page

#: Reference inputs (file stems) that calibrate; every other reference input is held out and only scored.
CALIBRATION_REFERENCE = ("general_ocr_002", "ppocr_11", "rapid_en", "rapid_japan")
PAGE_SIZES = [(960, 720), (1280, 960), (1654, 2339), (2480, 1748)]  # rendered pages, incl. A4 at 200 dpi


def is_calibration(stem: str) -> bool:
    return stem in CALIBRATION_REFERENCE


def _reference(ref: Path | None) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]]]:
    """(pages, text-line crops) of the calibration part of the reference set (crops cut at the official boxes)."""
    if ref is None:
        return [], []
    pages, crops = [], []
    for stem in CALIBRATION_REFERENCE:
        imgs = sorted((ref / "images").glob(f"{stem}.*"))
        if not imgs:
            continue
        img = cv2.imdecode(np.fromfile(str(imgs[0]), np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            continue
        pages.append((stem, img))
        res = ref / "paddleocr" / f"{stem}_res.json"
        if res.exists():
            data = json.loads(res.read_text(encoding="utf-8"))
            for k, poly in enumerate(data.get("res", data).get("rec_polys", [])):
                c = crop_quad(img, np.array(poly))
                if c.size and min(c.shape[:2]) > 1:
                    crops.append((f"{stem}#{k}", c))
    return pages, crops


def _rendered_pages(n: int) -> list[tuple[str, np.ndarray]]:
    return [(f"rendered page {w}x{h} #{i}", render_page(w, h, seed=1000 + i))
            for i, (w, h) in enumerate((PAGE_SIZES * n)[:n])]


def _rendered_lines() -> list[tuple[str, np.ndarray]]:
    return [(f"rendered line {i}", render_line(text, size=24 + 8 * (i % 4), i=i))
            for i, text in enumerate(LINES + JA_LINES)]


def model_inputs(spec: ModelSpec, count: int, reference: Path | None,
                 shape: list[int] | None = None) -> list[tuple[str, np.ndarray]]:
    """(label, 1xCxHxW input) for `count` inputs, reference ones first: packed into `shape` (a fixed-shape
    toolkit calibrates at the model's largest bucket), or at their natural sizes."""
    ref_pages, ref_crops = _reference(reference)
    task = spec.task
    pages = ref_pages + _rendered_pages(max(2, count - len(ref_pages))) if task in ("det", "doc_cls") else []
    crops = ref_crops + _rendered_lines() if task in ("rec", "textline_cls") else []
    random.Random(0).shuffle(crops)
    if task == "det":
        def det(img):
            resized, _ = det_resize(img, DetParams())
            return normalize_chw(to_model_colors(resized, spec.input), spec.input)
        items = [(label, det(p)) for label, p in pages]
    elif task == "rec":
        items = [(label, rec_normalize(c, spec.input)) for label, c in crops]
    elif task == "textline_cls":
        items = [(f"{label} {turn}", textline_input(c if turn == 0 else c[::-1, ::-1], spec.input))
                 for label, c in crops for turn in (0, 180)]
    else:
        rots = [None, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE]
        items = [(f"{label} r{k}", doc_input(p if r is None else cv2.rotate(p, r), spec.input))
                 for label, p in pages for k, r in enumerate(rots)]
    items = items[:count]
    if shape is None:
        return [(label, x[None]) for label, x in items]
    bucket = [(shape[2], shape[3])]
    return [(label, pack(x, choose(tuple(x.shape[1:]), bucket, keep_aspect=task != "rec"))) for label, x in items]


def write_dataset(spec: ModelSpec, count: int, reference: Path | None, folder: Path,
                  shape: list[int] | None = None) -> tuple[list[Path], list[str]]:
    """The calibration inputs as .npy files, and the labels of what they hold."""
    folder.mkdir(parents=True, exist_ok=True)
    labels, paths = [], []
    for i, (label, x) in enumerate(model_inputs(spec, count, reference, shape)):
        p = folder / f"{i:03d}.npy"
        np.save(p, x)
        paths.append(p)
        labels.append(label)
    return paths, labels
