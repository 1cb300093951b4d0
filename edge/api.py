"""`EdgeOCR`: the PaddleOCR-style Python API (predict, predict_iter) over the device profile's engine."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Union

import cv2
import numpy as np

from .budget import Policy
from .engine import EnginePlugin, create_engine
from .errors import EdgeError, InputError, InputTooLargeError
from .io.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, decode_image, frame_count, is_tiff, sniff, tiff_pages
from .io.pdf import DEFAULT_MAX_PAGES, render_pages
from .memory import rss_bytes, trim_heap
from .options import OcrOptions
from .models import BuiltModels, build_dir, load_manifest
from .pipeline.det import DetParams
from .pipeline.ocr import Front, OCRParams, OCRPipeline
from .profiles import DeviceProfile, detect, load_profile
from .results import OCRResult
from .stream import pipelined

log = logging.getLogger(__name__)
Input = Union[str, Path, bytes, np.ndarray]
INPUT_SUFFIXES = IMAGE_SUFFIXES + (".pdf",)
TIFF_SUFFIXES = (".tif", ".tiff")


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
class Ahead:
    """A one-page input whose front half is done (EdgeOCR.ahead); it stands for that input in a predict_iter call
    with the same options."""

    front: "tuple[Page, Front] | InputFailure"


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
    """A list stays a list; a folder becomes the image and PDF files below it (subfolders too, as PaddleX walks
    them), sorted by path."""
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    out: list[Input] = []
    for it in items:
        if isinstance(it, (str, Path)) and not is_url(str(it)) and Path(it).is_dir():
            out.extend(sorted(os.path.join(root, f) for root, _, files in os.walk(it)
                              for f in files if Path(f).suffix.lower() in INPUT_SUFFIXES))
        else:
            out.append(it)
    return out


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def fetch_input(url: str, folder: Path, limit: int = 200_000_000, timeout: float = 30) -> Path:
    """An input given as a URL, saved under its own file name in `folder` (PaddleOCR keeps URL inputs the same way,
    so results are named after the file). A failed fetch is an InputError naming the URL."""
    name = Path(urllib.parse.urlsplit(url).path).name or "input"
    target = folder / name
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            data = r.read(limit + 1)
    except (OSError, ValueError) as e:
        raise InputError(f"{url}: cannot fetch ({e})", hint="check the URL and the network, or pass a local file") from None
    if len(data) > limit:
        raise InputTooLargeError(f"{url}: larger than {limit} bytes")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


class EdgeOCR:
    """PP-OCRv5 mobile OCR with PaddleOCR 3.x's parameters and results.

    Every text_det_* / orientation / threshold argument set here is the default for each call; a call may pass
    its own (None keeps the construction value).
    """

    def __init__(self, profile: str | DeviceProfile | None = None, engine: str | EnginePlugin | None = None, *,
                 models_dir: str | Path | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_pdf_pages: int = DEFAULT_MAX_PAGES, memory_mb: int | None = None,
                 memory_policy: Policy | None = None, pipelined: bool | None = None, **options: Any):
        """`options` are PaddleOCR's pipeline parameters (edge.options.OcrOptions: use_textline_orientation,
        text_det_thresh, ...); an unknown name or a wrong value is a ConfigError naming it. `memory_mb` and
        `memory_policy` override the profile's memory budget; `pipelined` overlaps the next page's detection with
        the current page's recognition (same results; default: where the engine gains from it)."""
        opts = OcrOptions.checked(**options)
        if profile is None:
            prof, reason = detect()
            log.info("profile %s (%s)", prof.name, reason)
        elif isinstance(profile, DeviceProfile):
            prof = profile
        else:
            prof = load_profile(profile)
        ready = engine if isinstance(engine, EnginePlugin) else None  # an engine a caller made (and owns)
        if ready is not None:
            prof = prof.model_copy(update={"engine": ready.options})
        elif engine is not None:
            prof = prof.with_engine(engine)
        prof.ensure_runnable()
        self.profile = prof
        self.budget = prof.memory_budget(memory_mb, memory_policy)
        # a page whose decoded image alone would break the budget is refused before it is decoded
        self.max_pixels, self.pixels_hint = max_pixels, None
        if self.budget and self.budget.max_pixels() < max_pixels:
            self.max_pixels = self.budget.max_pixels()
            self.pixels_hint = (f"this device's memory_mb = {self.budget.limit_mb} leaves room for pages of up to "
                                f"{self.max_pixels / 1e6:.0f} MP: scan at a lower resolution, or raise memory_mb")
        self.max_pdf_pages = max_pdf_pages
        self._downloads: Path | None = None
        root = Path(models_dir) if models_dir else None  # holds manifest.toml and build/, like models_mobile/
        manifest = load_manifest(root / "manifest.toml" if root else None)
        models = BuiltModels(build_dir(root))
        self.engine = ready or create_engine(prof.engine)
        self.pipelined = self.engine.overlaps_pages if pipelined is None else pipelined
        self.pipeline = OCRPipeline(self.engine, models, manifest, textline_model=prof.models.textline,
                                    doc_model=prof.models.doc_orientation, rec_batch=prof.batch.rec,
                                    textline_batch=prof.batch.textline, pad_batches=self.engine.pads_batches,
                                    rec_max_columns=prof.batch.rec_max_columns or (
                                        self.budget.model.rec_max_columns if self.budget else None),
                                    budget=self.budget)
        base = OCRParams(use_doc_orientation_classify=prof.use_doc_orientation_classify,
                         use_textline_orientation=prof.use_textline_orientation,
                         det=DetParams(limit_side_len=prof.det.limit_side_len, limit_type=prof.det.limit_type,
                                       max_side_limit=prof.det.max_side_limit))
        self.params = base.override(**opts.given())
        if self.params.use_textline_orientation:
            self.pipeline.predictor(prof.models.textline)  # fail now, not on the first page
        if self.params.use_doc_orientation_classify:
            self.pipeline.predictor(prof.models.doc_orientation)
        trim_heap()
        self.idle_rss = rss_bytes()  # what release_memory() returns to (warm_up() moves it to the warm size)

    def warm_up(self) -> None:
        """One small page of text lines through every stage, for a service that must be ready when it says so: the
        first real page is not also the slowest, and the process's warm idle size (the runtimes' structures and the
        buffers a small page needs) becomes what release_memory() returns to."""
        page = np.full((640, 480, 3), 255, np.uint8)
        for i, line in enumerate(("EDGE-OCR WARM-UP", "0123456789 abcdef", "The quick brown fox", "jumps over the dog")):
            cv2.putText(page, line, (30, 100 + 70 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
        self.pipeline.run(page, self.params)
        trim_heap()
        self.idle_rss = rss_bytes()

    def _download_dir(self) -> Path:
        """Where inputs given as URLs are kept while this object lives (close() removes them)."""
        if self._downloads is None:
            self._downloads = Path(tempfile.mkdtemp(prefix="edge-ocr-input-"))
        return self._downloads

    def close(self) -> None:
        """Gives back what this object holds beyond its models: fetched inputs, and the memory pages took."""
        if self._downloads is not None:
            shutil.rmtree(self._downloads, ignore_errors=True)
            self._downloads = None
        self.release_memory(force=True)

    # -- inputs -------------------------------------------------------------------------------------------------
    def pages(self, item: Input, page_limit: int | None = None, name: str | None = None,
              input_path: str | None = None, page_start: int = 0) -> Iterator[Page | InputFailure]:
        """Decoded pages of one input; a bad input becomes one InputFailure naming it."""
        if name is None:
            name = str(item) if isinstance(item, (str, Path)) else ("<bytes>" if isinstance(item, bytes) else "<array>")
        path = input_path or (str(item) if isinstance(item, (str, Path)) else None)
        t0 = time.perf_counter()
        try:
            if isinstance(item, str) and is_url(item):
                item = fetch_input(item, self._download_dir())
                path = input_path or str(item)
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
            elif is_tiff(data) and ((n := frame_count(data, name)) > 1
                                    or Path(path or "").suffix.lower() in TIFF_SUFFIXES):
                # every page of a TIFF, each with its page_index (PaddleX: any *.tif file; bytes when multi-page)
                if page_limit is None and n > self.max_pdf_pages:
                    raise InputTooLargeError(f"{name}: the TIFF has {n} pages, more than the limit of "
                                             f"{self.max_pdf_pages}", hint="split it, or raise limits.max_pdf_pages")
                for i, img in enumerate(tiff_pages(data, name, max_pixels=self.max_pixels, page_limit=page_limit,
                                                   start=page_start, limit_hint=self.pixels_hint), page_start):
                    yield Page(path, i, img, time.perf_counter() - t0)
                    t0 = time.perf_counter()
            else:
                yield Page(path, None, decode_image(data, name, max_pixels=self.max_pixels, limit_hint=self.pixels_hint),
                           time.perf_counter() - t0)
        except InputError as e:
            yield InputFailure(path, None, e)

    # -- OCR ----------------------------------------------------------------------------------------------------
    def _fronts(self, inputs: list[Input], params: OCRParams, page_limit: int | None, input_name: str | None,
                input_path: str | None, page_start: int,
                after: Callable[[], None] | None = None) -> Iterator[tuple[Page, Front] | InputFailure]:
        for item in inputs:
            if isinstance(item, Ahead):
                yield item.front
                continue
            for page in self.pages(item, page_limit, input_name, input_path, page_start):
                yield page if isinstance(page, InputFailure) else self._front(page, params)
        if after is not None:  # the last page's recognition is still to come: work that may overlap it starts here
            after()

    def _front(self, page: Page, params: OCRParams) -> tuple[Page, Front] | InputFailure:
        try:
            return page, self.pipeline.front(page.image, params)
        except InputError as e:  # refused by the memory policy: this page fails, the others go on
            return InputFailure(page.input_path, page.page_index, e)

    def ahead(self, data: bytes, *, input_name: str = "file", input_path: str | None = None,
              **options: Any) -> Ahead | None:
        """The front half (decode, detection) of a one-page image, done now so that a later predict_iter(ahead) only
        recognises it: a service computes its next queued scan while this one is recognised. None for a PDF (its
        pages go through predict_iter as usual). Never while another call uses the models' front half."""
        if sniff(data) != "image":
            return None
        params = self.params.override(**OcrOptions.checked(**options).given())
        page = next(self.pages(data, name=input_name, input_path=input_path))
        return Ahead(page if isinstance(page, InputFailure) else self._front(page, params))

    def _back(self, item: tuple[Page, Front] | InputFailure, params: OCRParams) -> OCRResult | InputFailure:
        if isinstance(item, InputFailure):
            return item
        page, front = item
        out = self.pipeline.back(front, params)
        out.timings["decode"] = page.decode_seconds
        out.timings["total"] = sum(out.timings.values())
        data = {"input_path": page.input_path, "page_index": page.page_index, **out.data}
        return OCRResult(data, image=out.image, input_image=page.image, timings=out.timings, warnings=out.warnings)

    def predict_iter(self, input: Input | Iterable[Input], *, page_limit: int | None = None, input_name: str | None = None,
                     input_path: str | None = None, page_start: int = 0, release: bool = True,
                     after_fronts: Callable[[], None] | None = None, **options: Any) -> Iterator[OCRResult | InputFailure]:
        """One result per page, lazily. A bad input yields an InputFailure and the others go on. `options` override
        the construction values for this call (None keeps them). With `release`, memory a big page took is handed
        back when the call ends (release_memory); a caller with more work queued passes False and releases when
        idle. `after_fronts` runs once the last page's front half is done, while its recognition may still run. An
        `Ahead` made with the same options stands for its input."""
        params = self.params.override(**OcrOptions.checked(**options).given())
        inputs = [input] if isinstance(input, Ahead) else expand_inputs(input)
        fronts = self._fronts(inputs, params, page_limit, input_name, input_path, page_start, after_fronts)
        try:
            if self.pipelined:
                yield from pipelined(fronts, lambda f: self._back(f, params))
            else:
                for f in fronts:
                    yield self._back(f, params)
        finally:
            if release:
                self.release_memory()

    def predict(self, input: Input | Iterable[Input], **kw: Any) -> list[OCRResult | InputFailure]:
        return list(self.predict_iter(input, **kw))

    def release_memory(self, force: bool = False, deep: bool = False) -> bool:
        """Gives back memory while the process holds more than the profile's retain_mb above its warm idle size (all
        of it with force): first the freed heap, then the engines' buffers, detection's (the biggest) first, then, with
        deep and where an engine keeps more, freshly loaded models. What is kept need not be faulted in again by the
        next page. Returns whether an engine released."""
        trim_heap()
        released = False
        steps = [p.release for p in self.pipeline.predictors()]
        if deep:  # dearer (the next page prepares its kernels again): for a service with nothing to do
            steps += [p.reset for p in self.pipeline.predictors() if hasattr(p, "reset")]
        for step in steps:
            if not force and rss_bytes() - self.idle_rss <= self.profile.memory.retain_mb * 2**20:
                break
            step()
            trim_heap()
            released = True
        return released
