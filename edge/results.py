"""Page results with the PaddleOCR 3.x keys, JSON output, and the official two-panel visualisation."""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .fonts import cjk_font, latin_fonts

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
RESULT_KEYS = ("input_path", "page_index", "model_settings", "doc_preprocessor_res", "dt_polys", "text_det_params",
               "text_type", "textline_orientation_angles", "text_rec_score_thresh", "return_word_box", "rec_texts",
               "rec_scores", "rec_polys", "rec_boxes")


def _plain(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


class OCRResult(dict):
    """One page. The dict holds exactly what PaddleOCR's save_to_json writes; the page image and the per-stage
    timings travel beside it (attributes), not in it."""

    ok = True

    def __init__(self, data: dict, *, image: np.ndarray | None = None, input_image: np.ndarray | None = None,
                 timings: dict | None = None, warnings: list[str] | None = None):
        super().__init__({k: _plain(data[k]) for k in RESULT_KEYS if k in data})
        self.image = image  # the page OCR ran on (after document orientation), BGR
        self.input_image = input_image  # the decoded page before any preprocessing, BGR
        self.timings = timings or {}
        self.warnings = warnings or []  # what the device changed (a page downscaled to fit memory_mb), said aloud
        self._anonymous_stem: str | None = None

    @property
    def json(self) -> dict:
        """As PaddleOCR's `result.json`: the result under "res"."""
        return {"res": dict(self)}

    @property
    def stem(self) -> str:
        """The input file's stem; an input without a file (an array, bytes) gets PaddleX's `<unix time>_<4 random
        digits>`, fixed for this result, so results of several such inputs do not overwrite each other."""
        p = self.get("input_path")
        if p:
            stem = Path(p).stem
        else:
            if self._anonymous_stem is None:
                self._anonymous_stem = f"{int(time.time())}_{random.randint(1000, 9999)}"
            stem = self._anonymous_stem
        return stem if self.get("page_index") is None else f"{stem}_{self['page_index']}"

    def print(self, file=None) -> None:
        print(json.dumps(self.json, ensure_ascii=False, indent=4), file=file)

    def save_to_json(self, save_path: str | Path) -> Path:
        """A folder gets <stem>_res.json (<stem>_<page>_res.json for PDF pages); a *.json path is used as is."""
        p = Path(save_path)
        if p.suffix.lower() != ".json":
            p.mkdir(parents=True, exist_ok=True)
            p = p / f"{self.stem}_res.json"
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(dict(self), ensure_ascii=False, indent=4), encoding="utf-8")
        tmp.replace(p)
        return p

    def save_to_img(self, save_path: str | Path) -> list[Path]:
        """A folder gets <stem>_ocr_res_img.<ext> (and <stem>_doc_preprocessor_res.<ext> when the page was turned)."""
        p = Path(save_path)
        src = self.get("input_path")
        ext = Path(src).suffix.lower() if src and Path(src).suffix.lower() in IMAGE_EXTS else ".png"
        images = self.to_images()
        if p.suffix.lower() in IMAGE_EXTS and len(images) == 1:
            targets = {next(iter(images)): p}
        else:
            p.mkdir(parents=True, exist_ok=True)
            targets = {k: p / f"{self.stem}_{k}{ext}" for k in images}
        written = []
        for k, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            images[k].save(target)
            written.append(target)
        return written

    def to_images(self) -> dict[str, Image.Image]:
        if self.image is None:
            raise ValueError("this result carries no page image (results loaded from JSON cannot be drawn)")
        out = {"ocr_res_img": draw_ocr(self.image, self["rec_polys"], self["rec_texts"])}
        if self["model_settings"].get("use_doc_preprocessor"):
            out["doc_preprocessor_res"] = Image.fromarray(cv2.cvtColor(self.image, cv2.COLOR_BGR2RGB))
        return out


def _font_path() -> str | None:
    p = cjk_font() or next(iter(latin_fonts()), None)
    return str(p) if p else None


def _fit_font(text: str, w: int, h: int, path: str | None, vertical: bool = False) -> ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default()
    size = max(int((w if vertical else h) * 0.8), 8)
    font = ImageFont.truetype(path, size)
    if not vertical:
        length = font.getlength(text)
        if length > w and length > 0:
            size = max(int(size * w / length), 8)
            font = ImageFont.truetype(path, size)
    return font


def _text_tile(box: np.ndarray, text: str, canvas: tuple[int, int], font_path: str | None) -> np.ndarray:
    """The text drawn in its box's own frame, warped onto a white canvas of the page size."""
    bh = int(math.dist(box[0], box[3]))
    bw = int(math.dist(box[0], box[1]))
    tile = Image.new("RGB", (max(bw, 1), max(bh, 1)), (255, 255, 255))
    draw = ImageDraw.Draw(tile)
    if text:
        if bh > 2 * bw and bh > 30:
            font = _fit_font(text, bw, bh, font_path, vertical=True)
            y = 0
            for ch in text:
                draw.text((0, y), ch, font=font, fill=(0, 0, 0))
                left, top, right, bottom = font.getbbox(ch)
                y += bottom - top + 2
        else:
            draw.text((0, 0), text, font=_fit_font(text, bw, bh, font_path), fill=(0, 0, 0))
    src = np.float32([[0, 0], [bw, 0], [bw, bh], [0, bh]])
    m = cv2.getPerspectiveTransform(src, np.asarray(box, dtype=np.float32))
    return cv2.warpPerspective(np.asarray(tile), m, canvas, flags=cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))


def draw_ocr(page_bgr: np.ndarray, polys: list, texts: list[str]) -> Image.Image:
    """Left: the page with each text box filled in a colour, blended; right: the recognised text in place."""
    h, w = page_bgr.shape[:2]
    rgb = cv2.cvtColor(page_bgr, cv2.COLOR_BGR2RGB)
    left = Image.fromarray(rgb)
    draw = ImageDraw.Draw(left)
    right = np.full((h, w, 3), 255, dtype=np.uint8)
    rnd = random.Random(0)
    font_path = _font_path()
    for poly, text in zip(polys, texts):
        color = (rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(0, 255))
        box = np.asarray(poly, dtype=np.float32)
        draw.polygon([(int(x), int(y)) for x, y in box.tolist()], fill=color)
        tile = _text_tile(box, text, (w, h), font_path)
        cv2.polylines(tile, [box.astype(np.int32).reshape(-1, 1, 2)], True, color, 1)
        right = cv2.bitwise_and(right, tile)
    blended = Image.blend(Image.fromarray(rgb), left, 0.5)
    out = Image.new("RGB", (w * 2, h), (255, 255, 255))
    out.paste(blended, (0, 0))
    out.paste(Image.fromarray(right), (w, 0))
    return out
