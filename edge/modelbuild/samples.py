"""Real inputs for parity checks: rendered text pages and lines (Latin and CJK), and optional real images.

Rendered with PIL from fonts on this machine, deterministic for a seed, so a check can be repeated exactly.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..fonts import cjk_font, latin_fonts
from ..pipeline.geometry import crop_quad

LINES = [
    "Invoice No. 2024-00871", "Total amount: 1,284.50 EUR", "PaddleOCR PP-OCRv5 mobile", "识别文字的准确率很高",
    "深度学习文字检测", "The quick brown fox jumps over the lazy dog", "Tel: +49 30 1234567", "2025年11月21日 星期五",
    "Serial: A7X-993-QZ", "Lieferadresse: Hauptstr. 12", "价格：￥268.00元", "OCR edge appliance test line",
    "Hello World 123", "数量 12 件", "www.example.com/path?id=42",
    "Batch 6 width 1200 test: the quick brown fox jumps over the lazy dog again and again",
    "ID 42", "OK", "2025", "价格", "No. 7", "A1B2", "中文", "Zoll 3.5", "Fax", "合计 99",
]
JA_LINES = ["東京都千代田区丸の内1-1", "ありがとうございます", "お問い合わせ番号 0120-123-456", "カタカナ テスト"]
PAGE_SIZES = [(640, 480), (960, 736), (1280, 960)]


def _font(text: str, size: int, i: int) -> ImageFont.FreeTypeFont:
    cjk = cjk_font()
    if any(ord(c) > 0x2E80 for c in text) and cjk:
        return cjk.at(size)
    latin = latin_fonts()
    if not latin:
        return ImageFont.load_default()
    return latin[i % len(latin)].at(size)


def render_line(text: str, size: int = 40, i: int = 0, pad: int = 6) -> np.ndarray:
    """One text line on white, as a BGR crop."""
    f = _font(text, size, i)
    left, top, right, bottom = f.getbbox(text)
    im = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), (255, 255, 255))
    ImageDraw.Draw(im).text((pad - left, pad - top), text, font=f, fill=(20, 20, 20))
    return cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2BGR)


def render_page(w: int, h: int, seed: int) -> np.ndarray:
    """A noisy page of random lines at random sizes, as BGR."""
    rnd = random.Random(seed)
    im = Image.new("RGB", (w, h), (245, 243, 238))
    d = ImageDraw.Draw(im)
    y = 10
    while y < h - 40:
        text = rnd.choice(LINES)
        size = rnd.randint(max(14, h // 40), max(18, h // 16))
        d.text((rnd.randint(5, w // 4), y), text, font=_font(text, size, rnd.randint(0, 2)), fill=(rnd.randint(0, 60),) * 3)
        y += int(size * 1.6) + rnd.randint(0, 20)
    noisy = np.asarray(im).astype(np.float32) + np.random.RandomState(seed).normal(0, 4, (h, w, 3))
    return cv2.cvtColor(np.clip(noisy, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


@dataclass
class Samples:
    pages: dict[str, np.ndarray] = field(default_factory=dict)  # label -> BGR page
    crops: dict[str, np.ndarray] = field(default_factory=dict)  # label -> BGR text-line crop
    real_pages: dict[str, np.ndarray] = field(default_factory=dict)
    real_crops: dict[str, np.ndarray] = field(default_factory=dict)


def load_samples(reference: Path | None = None, max_real_crops: int = 60) -> Samples:
    s = Samples()
    for w, h in PAGE_SIZES:
        s.pages[f"page {w}x{h}"] = render_page(w, h, seed=w)
    for i, text in enumerate(LINES):
        s.crops[f"line {i:02d}"] = render_line(text, i=i)
    if reference is not None:
        _add_reference(s, Path(reference), max_real_crops)
    return s


def _add_reference(s: Samples, ref: Path, max_real_crops: int) -> None:
    """Images of a reference folder (images/ + paddleocr/<stem>_res.json); crops come from the official boxes."""
    images = ref / "images" if (ref / "images").is_dir() else ref
    results = ref / "paddleocr"
    rng = random.Random(0)
    crops = []
    for img_path in sorted(images.iterdir()):
        if img_path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp"):
            continue
        img = cv2.imdecode(np.fromfile(str(img_path), np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            continue
        s.real_pages[img_path.name] = img
        res = results / f"{img_path.stem}_res.json"
        if res.exists():
            for k, poly in enumerate(json.loads(res.read_text()).get("rec_polys", [])):
                c = crop_quad(img, np.array(poly))
                if c.size and min(c.shape[:2]) > 1:
                    crops.append((f"{img_path.stem}#{k}", c))
    for label, c in rng.sample(crops, min(max_real_crops, len(crops))):
        s.real_crops[label] = c
