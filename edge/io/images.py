"""Image decoding as the official pipeline does it (cv2.imdecode IMREAD_COLOR: EXIF applied, alpha dropped,
grey/palette to BGR), with the checks a service needs first: empty, not an image, truncated, too many pixels."""
from __future__ import annotations

import io
import warnings
from typing import Iterator

import cv2
import numpy as np
from PIL import Image

from ..errors import InputError, InputTooLargeError

DEFAULT_MAX_PIXELS = 100_000_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pbm", ".pgm", ".ppm")


IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*", b"GIF8", b"P1", b"P2", b"P3", b"P4",
               b"P5", b"P6", b"\x00\x00\x00\x0cjP  ")
PNG_IEND = b"IEND\xaeB`\x82"  # the IEND chunk with its (constant) CRC


def sniff(data: bytes) -> str | None:
    """'pdf', 'image' or None, by the file's structure: an image's magic number at the start wins (a JPEG comment
    may well hold "%PDF-"); a PDF header may follow up to 1 KiB of leading junk, as PDF readers accept."""
    head = data[:16]
    if head.startswith(IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    return None


def _truncated(data: bytes) -> bool:
    """A JPEG whose last scan has no end marker after it, or a PNG without its IEND chunk, was cut off (a scanner
    still writing, a failed upload). Bytes after the end marker are allowed, as the official decoder allows them."""
    if data.startswith(b"\xff\xd8"):
        last_scan = data.rfind(b"\xff\xda")  # entropy-coded data never holds FF D9 (FF bytes are stuffed)
        return last_scan < 0 or data.find(b"\xff\xd9", last_scan) < 0
    if data.startswith(b"\x89PNG"):
        return PNG_IEND not in data
    return False


def image_size(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) from the header, without decoding the pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError as e:
        raise InputTooLargeError(f"{name}: image is far too large to decode safely ({e})",
                         hint="scan at a lower resolution") from None
    except Exception as e:  # PIL raises many types for unreadable headers
        raise InputError(f"{name}: not a readable image ({type(e).__name__}: {e})",
                         hint="send a JPEG, PNG, BMP, TIFF or WebP image, or a PDF") from None


def decode_image(data: bytes, name: str = "input", *, max_pixels: int = DEFAULT_MAX_PIXELS,
                 limit_hint: str | None = None) -> np.ndarray:
    """Bytes -> BGR uint8 HxWx3. `limit_hint` says where max_pixels comes from when it is not limits.max_pixels."""
    if not data:
        raise InputError(f"{name}: empty input (0 bytes)", hint="the file may still be being written; send it again")
    if sniff(data) != "image":
        raise InputError(f"{name}: not an image or PDF (starts with {data[:8]!r})",
                         hint="send a JPEG, PNG, BMP, TIFF or WebP image, or a PDF")
    w, h = image_size(data, name)
    if w * h > max_pixels:
        raise InputTooLargeError(f"{name}: image is {w}x{h} = {w * h / 1e6:.0f} MP, over the limit of {max_pixels / 1e6:.0f} MP",
                         hint=limit_hint or "scan at a lower resolution or raise limits.max_pixels if the device has "
                                                       "the memory")
    if _truncated(data):
        raise InputError(f"{name}: image data is truncated", hint="the file is incomplete; copy or upload it again")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise InputError(f"{name}: image could not be decoded", hint="the file is damaged; re-scan or re-export it")
    return img


def is_tiff(data: bytes) -> bool:
    return data[:4] in (b"II*\x00", b"MM\x00*")


def frame_count(data: bytes, name: str = "input") -> int:
    """Pages (frames) of an image: more than one only for a multi-page TIFF."""
    if not is_tiff(data):
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return int(getattr(im, "n_frames", 1))
    except Exception as e:
        raise InputError(f"{name}: not a readable TIFF ({type(e).__name__}: {e})",
                         hint="re-export the scan as TIFF, PNG or JPEG") from None


def tiff_pages(data: bytes, name: str = "input", *, max_pixels: int = DEFAULT_MAX_PIXELS, page_limit: int | None = None,
               start: int = 0, limit_hint: str | None = None) -> Iterator[np.ndarray]:
    """The pages of a TIFF as BGR arrays, read as PaddleX reads them (Pillow, each frame converted to RGB), one at a
    time: pages before `start` are skipped, at most `page_limit` are read; each page is checked against max_pixels
    before it is decoded."""
    if not data:
        raise InputError(f"{name}: empty input (0 bytes)", hint="the file may still be being written; send it again")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                n = int(getattr(im, "n_frames", 1))
                stop = n if page_limit is None else min(n, page_limit)
                for i in range(start, stop):
                    im.seek(i)
                    w, h = im.size
                    if w * h > max_pixels:
                        raise InputTooLargeError(
                            f"{name}: page {i + 1} is {w}x{h} = {w * h / 1e6:.0f} MP, over the limit of "
                            f"{max_pixels / 1e6:.0f} MP", hint=limit_hint or "scan at a lower resolution")
                    yield cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2BGR)
    except InputError:
        raise
    except Exception as e:  # Pillow raises many types for damaged frames
        raise InputError(f"{name}: TIFF page could not be decoded ({type(e).__name__}: {e})",
                         hint="the file is damaged; re-scan or re-export it") from None
