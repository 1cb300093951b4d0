"""Fonts for drawing recognised text: a CJK-capable font installed with the package, never fetched at run time.

The packaged font is Noto Sans CJK from the `noto-cjk-sans-otc` wheel, which states its licence (SIL Open Font
License 1.1, the licence text in its dist-info). Its collection holds each region's cut; Simplified Chinese (SC)
draws PP-OCR's text as PaddleOCR's Chinese fonts do.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import NamedTuple

from PIL import ImageFont

PACKAGED = ("noto_cjk_sans_otc", "NotoSansCJK-Regular.ttc", 2)  # module, file, face: 2 = Noto Sans CJK SC
SYSTEM_CJK = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)
SYSTEM_LATIN = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
)


class FontFile(NamedTuple):
    path: Path
    index: int = 0  # the face within a collection (.ttc)

    def at(self, size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(self.path), size, index=self.index)


def cjk_font() -> FontFile | None:
    """The packaged Noto Sans CJK SC, else a common system CJK font, else None."""
    module, name, index = PACKAGED
    spec = importlib.util.find_spec(module)
    if spec and spec.submodule_search_locations:
        for d in spec.submodule_search_locations:
            if (Path(d) / name).exists():
                return FontFile(Path(d) / name, index)
    return next((FontFile(Path(p), i) for p, i in SYSTEM_CJK if Path(p).exists()), None)


def latin_fonts() -> list[FontFile]:
    found = [FontFile(Path(p)) for p in SYSTEM_LATIN if Path(p).exists()]
    cjk = cjk_font()
    return found or ([cjk] if cjk else [])
