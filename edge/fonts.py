"""Fonts for drawing recognised text: a CJK-capable font installed with the package, never fetched at run time."""
from __future__ import annotations

import importlib.util
from pathlib import Path

SYSTEM_CJK = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
SYSTEM_LATIN = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
)


def cjk_font() -> Path | None:
    """The packaged Noto Sans CJK, else a common system CJK font, else None."""
    spec = importlib.util.find_spec("cvttf_NotoSansCJK_Regular")
    if spec and spec.submodule_search_locations:
        for d in spec.submodule_search_locations:
            p = Path(d) / "NotoSansCJKtc-Regular.otf"
            if p.exists():
                return p
    return next((Path(p) for p in SYSTEM_CJK if Path(p).exists()), None)


def latin_fonts() -> list[Path]:
    found = [Path(p) for p in SYSTEM_LATIN if Path(p).exists()]
    cjk = cjk_font()
    return found or ([cjk] if cjk else [])
