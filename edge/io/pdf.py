"""PDF pages rendered by pdfium at scale 2.0 (144 dpi), as the official pipeline does; pdfium is not thread-safe,
so every call into it holds one process-wide lock."""
from __future__ import annotations

import threading
from typing import Iterator

import numpy as np
import pypdfium2 as pdfium

from ..errors import InputError, InputTooLargeError

PDF_SCALE = 2.0
MIN_SCALE = 0.25  # 18 dpi: below this a page is refused, not rendered smaller
DEFAULT_MAX_PAGES = 1000
_PDFIUM_LOCK = threading.Lock()  # pdfium itself is process-global; this lock guards it, it holds no data


def _open(data: bytes, name: str) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        msg = str(e)
        if "password" in msg.lower():
            raise InputError(f"{name}: the PDF is encrypted (password required)",
                             hint="remove the password protection before sending it") from None
        raise InputError(f"{name}: damaged or unreadable PDF ({msg})", hint="re-export or re-scan the document") from None


def page_count(data: bytes, name: str = "input") -> int:
    with _PDFIUM_LOCK:
        doc = _open(data, name)
        try:
            return len(doc)
        finally:
            doc.close()


def render_pages(data: bytes, name: str = "input", *, page_limit: int | None = None,
                 max_pages: int = DEFAULT_MAX_PAGES, max_pixels: int | None = None,
                 start: int = 0) -> Iterator[np.ndarray]:
    """Yields BGR pages from page `start` (0-based). page_limit reads only the first N pages; without it, a PDF over
    max_pages is refused whole."""
    with _PDFIUM_LOCK:
        doc = _open(data, name)
        try:
            n = len(doc)
        except Exception:
            doc.close()
            raise
    try:
        if n == 0:
            raise InputError(f"{name}: the PDF has no pages")
        if page_limit is None and n > max_pages:
            raise InputTooLargeError(f"{name}: the PDF has {n} pages, more than the limit of {max_pages}",
                             hint="split the document, pass page_limit to read only the first pages, "
                                  "or raise limits.max_pdf_pages")
        for i in range(start, min(n, page_limit) if page_limit else n):
            with _PDFIUM_LOCK:
                page = doc[i]
                try:
                    scale = PDF_SCALE
                    if max_pixels:
                        w, h = page.get_size()
                        while w * h * scale * scale > max_pixels and scale > MIN_SCALE:
                            scale /= 1.25  # a huge page is rendered smaller rather than refused
                        if w * h * scale * scale > max_pixels:
                            raise InputTooLargeError(
                                f"{name}: page {i + 1} is {w:.0f}x{h:.0f} pt, over {max_pixels / 1e6:.0f} MP even at "
                                f"{scale * 72:.0f} dpi", hint="export the page at a normal paper size")
                    img = page.render(scale=scale).to_numpy()
                except pdfium.PdfiumError as e:
                    raise InputError(f"{name}: page {i + 1} cannot be rendered ({e})") from None
                except MemoryError:
                    raise InputTooLargeError(f"{name}: page {i + 1} needs more memory to render than this device has",
                                             hint="export the page at a normal paper size or lower resolution") from None
                finally:
                    page.close()
            if img.ndim == 3 and img.shape[2] == 4:
                img = np.ascontiguousarray(img[:, :, :3])
            yield img
    finally:
        with _PDFIUM_LOCK:
            doc.close()
