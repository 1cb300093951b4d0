"""Page results with the PaddleOCR 3.x keys, JSON output, and the official two-panel visualisation."""
from __future__ import annotations

import json
import math
import mimetypes
import random
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .fonts import FontFile, cjk_font, latin_fonts

RESULT_KEYS = ("input_path", "page_index", "model_settings", "doc_preprocessor_res", "dt_polys", "text_det_params",
               "text_type", "textline_orientation_angles", "text_rec_score_thresh", "return_word_box", "rec_texts",
               "rec_scores", "rec_polys", "rec_boxes", "text_word_boxes", "text_word")
EXTRA_KEYS = ("text_word_region",)  # in the result, as in PaddleX's, but not in its JSON
# how PaddleX's print() shows a result: arrays as numpy arrays, elided to their first and last items
ARRAY_DTYPES = {"dt_polys": np.int16, "textline_orientation_angles": np.int64, "rec_scores": np.float64,
                "rec_polys": np.int16, "rec_boxes": np.int16}


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


def _is_type(path: str | Path, prefix: str) -> bool:
    """Whether a path names a file of this MIME type (PaddleX decides file-or-folder this way)."""
    kind = mimetypes.guess_type(str(path))[0]
    return kind is not None and kind.startswith(prefix)


def _write_text(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)


class OCRResult(dict):
    """One page, with PaddleOCR 3.x's keys and its result methods (print, save_to_json, save_to_img, save_all, json,
    img, str). The dict holds what PaddleX's result holds; the page images and the per-stage timings travel beside it
    (attributes), not in it."""

    ok = True

    def __init__(self, data: dict, *, image: np.ndarray | None = None, input_image: np.ndarray | None = None,
                 timings: dict | None = None, warnings: list[str] | None = None):
        super().__init__({k: _plain(data[k]) for k in RESULT_KEYS + EXTRA_KEYS if k in data})
        self.image = image  # the page OCR ran on (after document orientation), BGR
        self.input_image = input_image  # the decoded page before any preprocessing, BGR
        self.timings = timings or {}
        self.warnings = warnings or []  # what the device changed (a page downscaled to fit memory_mb), said aloud
        self._anonymous_stem: str | None = None

    @property
    def json(self) -> dict:
        """As PaddleOCR's `result.json`: the saved JSON under "res"."""
        return {"res": {k: self[k] for k in RESULT_KEYS if k in self}}

    @property
    def str(self) -> dict:
        """As PaddleOCR's `result.str`: the result under "res", its arrays as numpy arrays."""
        data = {k: (np.array(self[k], dtype=ARRAY_DTYPES[k]) if k in ARRAY_DTYPES else self[k])
                for k in RESULT_KEYS if k in self}
        if "text_word_boxes" in data:
            data["text_word_boxes"] = [np.array(b, dtype=np.int16) for b in data["text_word_boxes"]]
        return {"res": data}

    @property
    def img(self) -> dict[str, Image.Image]:
        """As PaddleOCR's `result.img`: "ocr_res_img", and "preprocessed_img" when the page went through document
        preprocessing."""
        return self.to_images()

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

    def to_str(self, json_format: bool = False, indent: int = 4, ensure_ascii: bool = False) -> str:
        if json_format:
            return json.dumps(self.json, indent=indent, ensure_ascii=ensure_ascii)
        with np.printoptions(threshold=1, edgeitems=1):  # PaddleX's short form: a page prints in a few lines
            return repr(self.str)

    def print(self, json_format: bool = False, indent: int = 4, ensure_ascii: bool = False, *,
              format_json: bool | None = None, file=None) -> None:
        """PaddleOCR's print(): the short form, or JSON with json_format (format_json, as PaddleOCR's documentation
        spells it, is the same switch)."""
        fmt = json_format if format_json is None else format_json
        print(self.to_str(fmt, indent, ensure_ascii), file=file or sys.stdout)

    def save_to_json(self, save_path: str | Path, indent: int = 4, ensure_ascii: bool = False) -> Path:
        """A *.json path is the file; anything else is a folder that gets <stem>_res.json (<stem>_<page>_res.json
        for PDF and TIFF pages)."""
        p = Path(save_path)
        if not _is_type(p, "application/json"):
            p = p / f"{self.stem}_res.json"
        _write_text(p, json.dumps(self.json["res"], indent=indent, ensure_ascii=ensure_ascii))
        return p

    def save_to_img(self, save_path: str | Path) -> list[Path]:
        """An image path is the file (the OCR image); anything else is a folder that gets <stem>_ocr_res_img.<ext>
        (and <stem>_preprocessed_img.<ext> after document preprocessing), <ext> the input's if it is an image."""
        p = Path(save_path)
        images = self.to_images()
        if _is_type(p, "image/"):
            targets = {next(iter(images)): p}
        else:
            src = self.get("input_path")
            ext = Path(src).suffix if src and _is_type(src, "image/") else ".png"
            targets = {k: p / f"{self.stem}_{k}{ext}" for k in images}
        for k, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            images[k].save(target)
        return list(targets.values())

    def save_all(self, save_path: str | Path) -> list[Path]:
        """What PaddleOCR's save_all() writes: the JSON and the images, into a folder."""
        return [self.save_to_json(save_path), *self.save_to_img(save_path)]

    def to_images(self) -> dict[str, Image.Image]:
        if self.image is None:
            raise ValueError("this result carries no page image (results loaded from JSON cannot be drawn)")
        if "text_word_region" in self:  # word boxes asked for: each word drawn in its own box
            pairs = [(b, w) for line_b, line_w in zip(self["text_word_region"], self["text_word"])
                     for b, w in zip(line_b, line_w) if math.dist(b[0], b[3]) >= 1 and math.dist(b[0], b[1]) >= 1]
            polys, texts = [b for b, _ in pairs], [w for _, w in pairs]
        else:
            polys, texts = self["rec_polys"], self["rec_texts"]
        out = {"ocr_res_img": draw_ocr(self.image, polys, texts)}
        if self["model_settings"].get("use_doc_preprocessor"):
            out["preprocessed_img"] = draw_preprocessing(self.input_image if self.input_image is not None
                                                         else self.image, self.image, self["doc_preprocessor_res"])
        return out


def _font_path() -> FontFile | None:
    return cjk_font() or next(iter(latin_fonts()), None)


def _fit_font(text: str, w: int, h: int, path: FontFile | None, vertical: bool = False) -> ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default()
    size = max(int((w if vertical else h) * 0.8), 8)
    font = path.at(size)
    if not vertical:
        length = font.getlength(text)
        if length > w and length > 0:
            size = max(int(size * w / length), 8)
            font = path.at(size)
    return font


def _text_tile(box: np.ndarray, text: str, canvas: tuple[int, int], font_path: FontFile | None) -> np.ndarray:
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


def draw_preprocessing(original_bgr: np.ndarray, turned_bgr: np.ndarray, res: dict) -> Image.Image:
    """PaddleX's preprocessing image: the page as read, as turned, as unwarped (never here: the turned page again),
    side by side, each captioned."""
    panels = [original_bgr, turned_bgr, turned_bgr]
    settings = res.get("model_settings", {})
    captions = ["Original Image", f"Rotated Image ({settings.get('use_doc_orientation_classify')}, {res.get('angle')})",
                f"Unwarping Image ({settings.get('use_doc_unwarping')})"]
    h = max(p.shape[0] for p in panels)
    out = Image.new("RGB", (sum(p.shape[1] for p in panels), h + 25), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    x, font_path = 0, _font_path()
    for panel, caption in zip(panels, captions):
        out.paste(Image.fromarray(cv2.cvtColor(panel, cv2.COLOR_BGR2RGB)), (x, 0))
        draw.text((10 + x, h + 2), caption, fill=(0, 0, 0), font=_fit_font(caption, panel.shape[1], 20, font_path))
        x += panel.shape[1]
    return out
