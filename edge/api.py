"""`EdgeOCR`: the PaddleOCR-style Python API (predict, predict_iter) over the device profile's engine."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Union

import numpy as np

from .engine import create_engine
from .errors import EdgeError, InputError
from .io.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, decode_image, sniff
from .io.pdf import DEFAULT_MAX_PAGES, render_pages
from .options import OcrOptions
from .models import BuiltModels, build_dir, load_manifest
from .pipeline.det import DetParams
from .pipeline.ocr import OCRParams, OCRPipeline
from .profiles import DeviceProfile, detect, load_profile
from .results import OCRResult

log = logging.getLogger(__name__)
Input = Union[str, Path, bytes, np.ndarray]
INPUT_SUFFIXES = IMAGE_SUFFIXES + (".pdf",)


class InputFailure(dict):
    """An input (or page) that could not be read. It names the input and the cause; reading any OCR key from it
    raises the original error, so a failure can never pass for a page without text."""

    ok = False

    def __init__(self, input_path: str | None, page_index: int | None, error: EdgeError):
        super().__init__(input_path=input_path, page_index=page_index, error=error.message, hint=error.hint,
                         error_type=type(error).__name__)
        self.exception = error

    def __getitem__(self, key):
        if key in ("input_path", "page_index", "error", "hint", "error_type"):
            return super().__getitem__(key)
        raise self.exception


@dataclass
class Page:
    """One decoded page, before OCR."""

    input_path: str | None
    page_index: int | None
    image: np.ndarray
    decode_seconds: float


def _as_bgr(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype != np.uint8:
        raise InputError(f"{name}: array of dtype {a.dtype}, expected uint8", hint="pass an 8-bit BGR image")
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        return np.ascontiguousarray(a[:, :, :3])
    raise InputError(f"{name}: array of shape {a.shape} is not an image", hint="pass HxW, HxWx3 (BGR) or HxWx4")


def expand_inputs(inputs: Input | Iterable[Input]) -> list[Input]:
    """A list stays a list; a folder becomes its image and PDF files in name order."""
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    out: list[Input] = []
    for it in items:
        if isinstance(it, (str, Path)) and Path(it).is_dir():
            out.extend(sorted(str(p) for p in Path(it).iterdir()
                              if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES))
        else:
            out.append(it)
    return out


class EdgeOCR:
    """PP-OCRv5 mobile OCR with PaddleOCR 3.x's parameters and results.

    Every text_det_* / orientation / threshold argument set here is the default for each call; a call may pass
    its own (None keeps the construction value).
    """

    def __init__(self, profile: str | DeviceProfile | None = None, engine: str | None = None, *,
                 models_dir: str | Path | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_pdf_pages: int = DEFAULT_MAX_PAGES, **options: Any):
        """`options` are PaddleOCR's pipeline parameters (edge.options.OcrOptions: use_textline_orientation,
        text_det_thresh, ...); an unknown name or a wrong value is a ConfigError naming it."""
        opts = OcrOptions.checked(**options)
        if profile is None:
            prof, reason = detect()
            log.info("profile %s (%s)", prof.name, reason)
        elif isinstance(profile, DeviceProfile):
            prof = profile
        else:
            prof = load_profile(profile)
        if engine is not None:
            prof = prof.with_engine(engine)
        prof.ensure_runnable()
        self.profile = prof
        self.max_pixels = max_pixels
        self.max_pdf_pages = max_pdf_pages
        root = Path(models_dir) if models_dir else None  # holds manifest.toml and build/, like models_mobile/
        manifest = load_manifest(root / "manifest.toml" if root else None)
        models = BuiltModels(build_dir(root))
        self.engine = create_engine(prof.engine)
        self.pipeline = OCRPipeline(self.engine, models, manifest, textline_model=prof.models.textline,
                                    doc_model=prof.models.doc_orientation, rec_batch=prof.batch.rec,
                                    textline_batch=prof.batch.textline, pad_batches=self.engine.pads_batches,
                                    rec_max_columns=prof.batch.rec_max_columns)
        base = OCRParams(use_doc_orientation_classify=prof.use_doc_orientation_classify,
                         use_textline_orientation=prof.use_textline_orientation,
                         det=DetParams(limit_side_len=prof.det.limit_side_len, limit_type=prof.det.limit_type,
                                       max_side_limit=prof.det.max_side_limit))
        self.params = base.override(**opts.given())
        if self.params.use_textline_orientation:
            self.pipeline.predictor(prof.models.textline)  # fail now, not on the first page
        if self.params.use_doc_orientation_classify:
            self.pipeline.predictor(prof.models.doc_orientation)

    # -- inputs -------------------------------------------------------------------------------------------------
    def pages(self, item: Input, page_limit: int | None = None, name: str | None = None,
              input_path: str | None = None, page_start: int = 0) -> Iterator[Page | InputFailure]:
        """Decoded pages of one input; a bad input becomes one InputFailure naming it."""
        if name is None:
            name = str(item) if isinstance(item, (str, Path)) else ("<bytes>" if isinstance(item, bytes) else "<array>")
        path = input_path or (str(item) if isinstance(item, (str, Path)) else None)
        t0 = time.perf_counter()
        try:
            if isinstance(item, np.ndarray):
                yield Page(None, None, _as_bgr(item, name), time.perf_counter() - t0)
                return
            if isinstance(item, (str, Path)):
                try:
                    data = Path(item).read_bytes()
                except FileNotFoundError:
                    raise InputError(f"{name}: no such file") from None
                except OSError as e:
                    raise InputError(f"{name}: cannot read ({e.strerror})") from None
            elif isinstance(item, (bytes, bytearray, memoryview)):
                data = bytes(item)
            else:
                raise InputError(f"unsupported input type {type(item).__name__}",
                                 hint="pass a path, a folder, bytes, a numpy image or a list of them")
            if sniff(data) == "pdf":
                for i, img in enumerate(render_pages(data, name, page_limit=page_limit, max_pages=self.max_pdf_pages,
                                                     max_pixels=self.max_pixels, start=page_start), page_start):
                    yield Page(path, i, img, time.perf_counter() - t0)
                    t0 = time.perf_counter()
            else:
                yield Page(path, None, decode_image(data, name, max_pixels=self.max_pixels), time.perf_counter() - t0)
        except InputError as e:
            yield InputFailure(path, None, e)

    # -- OCR ----------------------------------------------------------------------------------------------------
    def ocr_page(self, page: Page, params: OCRParams) -> OCRResult:
        out = self.pipeline.run(page.image, params)
        out.timings["decode"] = page.decode_seconds
        out.timings["total"] = sum(out.timings.values())
        data = {"input_path": page.input_path, "page_index": page.page_index, **out.data}
        return OCRResult(data, image=out.image, input_image=page.image, timings=out.timings)

    def predict_iter(self, input: Input | Iterable[Input], *, page_limit: int | None = None, input_name: str | None = None,
                     input_path: str | None = None, page_start: int = 0,
                     **options: Any) -> Iterator[OCRResult | InputFailure]:
        """One result per page, lazily. A bad input yields an InputFailure and the others go on. `options` override
        the construction values for this call (None keeps them)."""
        params = self.params.override(**OcrOptions.checked(**options).given())
        for item in expand_inputs(input):
            for page in self.pages(item, page_limit, input_name, input_path, page_start):
                yield page if isinstance(page, InputFailure) else self.ocr_page(page, params)

    def predict(self, input: Input | Iterable[Input], **kw: Any) -> list[OCRResult | InputFailure]:
        return list(self.predict_iter(input, **kw))
