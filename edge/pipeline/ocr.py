"""The OCR pipeline on one page: [doc orientation] -> det -> sort -> crop -> [textline orientation] -> rec -> filter.

Mirrors PaddleX 3.x's OCR pipeline step for step (that is what makes the text equal); owns the predictors.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..budget import MemoryBudget
from ..engine.base import EnginePlugin, Predictor
from ..models import BuiltModels, Manifest
from .cls import doc_angle, doc_input, textline_angles, textline_input
from .det import DetParams, db_boxes, det_resize
from .geometry import crop_quad, quads_to_boxes, rotate, sort_quads
from .normalize import normalize_chw, to_model_colors
from .rec import REC_HEIGHT, REC_MIN_WIDTH, ctc_decode, pad_batch, rec_normalize
from .wordbox import Columns, word_boxes


@dataclass(frozen=True)
class OCRParams:
    """Per-page settings; every field has a construction-time value and may be overridden per call."""

    use_doc_orientation_classify: bool = False
    use_textline_orientation: bool = False
    det: DetParams = DetParams()
    text_rec_score_thresh: float = 0.0
    return_word_box: bool = False

    def override(self, **kw) -> "OCRParams":
        """None means "keep the construction value" (never `or`: 0.0 is a real threshold)."""
        det_kw = {k[len("text_det_"):]: v for k, v in kw.items() if k.startswith("text_det_") and v is not None}
        top = {k: v for k, v in kw.items() if not k.startswith("text_det_") and v is not None}
        return replace(self, det=replace(self.det, **det_kw), **top)


@dataclass
class Front:
    """A page after detection (and orientation), waiting for recognition."""

    data: dict
    image: np.ndarray
    crops: list[np.ndarray]
    polys: list[np.ndarray]
    timings: dict
    warnings: list[str]


@dataclass
class PageOutput:
    data: dict
    image: np.ndarray
    timings: dict
    warnings: list[str] = field(default_factory=list)


class OCRPipeline:
    def __init__(self, engine: EnginePlugin, models: BuiltModels, manifest: Manifest, *, textline_model: str = "textline_x1_0",
                 doc_model: str = "doc_ori", rec_batch: int = 6, textline_batch: int = 6, pad_batches: bool = False,
                 rec_max_columns: int | None = None, budget: MemoryBudget | None = None):
        self.engine = engine
        self.models = models
        self.manifest = manifest
        self.textline_model = textline_model
        self.doc_model = doc_model
        self.rec_batch = rec_batch
        self.textline_batch = textline_batch
        self.pad_batches = pad_batches  # classifiers on Paddle Lite: full batches keep one predictor shape
        self.rec_max_columns = rec_max_columns
        self.budget = budget
        self.chars = models.dictionary("rec")
        self._predictors: dict[str, Predictor] = {}
        self.det = self.predictor("det")
        self.rec = self.predictor("rec")

    def predictor(self, key: str) -> Predictor:
        """Loads a model on first use (optional models cost nothing until a page asks for them)."""
        if key not in self._predictors:
            self._predictors[key] = self.engine.load(self.models, key)
        return self._predictors[key]

    def _classify(self, key: str, xs: list[np.ndarray], batch: int) -> np.ndarray:
        out = []
        for i in range(0, len(xs), batch):
            chunk = xs[i:i + batch]
            x = np.stack(chunk)
            if self.pad_batches and len(chunk) < batch:
                x = np.concatenate([x, np.zeros((batch - len(chunk), *x.shape[1:]), np.float32)])
            out.append(self.predictor(key).run(x)[:len(chunk)])
        return np.concatenate(out)

    def detect(self, img: np.ndarray, p: DetParams) -> list[np.ndarray]:
        spec = self.manifest.model("det").input
        resized, src_hw = det_resize(img, p)
        x = normalize_chw(to_model_colors(resized, spec), spec)[None]
        prob = self.det.run(x)[0, 0]
        boxes, _ = db_boxes(prob, src_hw, p)
        return sort_quads(boxes)

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float, Columns]]:
        """Crops sorted by aspect ratio (stable), batched, each batch padded to its widest crop.

        With rec_max_columns, a batch wider than the cap runs in parts, every part padded to the whole batch's
        width: each line sees exactly the input the official batching gives it, at a fraction of the memory.
        Each line also says where its characters were read (word boxes need it; it costs nothing).
        """
        spec = self.manifest.model("rec").input
        ratio = [c.shape[1] / float(c.shape[0]) for c in crops]
        order = sorted(range(len(crops)), key=lambda i: ratio[i])
        results: list[tuple[str, float, Columns] | None] = [None] * len(crops)
        for start in range(0, len(order), self.rec_batch):
            ids = order[start:start + self.rec_batch]
            items = [rec_normalize(crops[i], spec) for i in ids]
            width = max(it.shape[2] for it in items)
            widest = max([REC_MIN_WIDTH / REC_HEIGHT] + [ratio[i] for i in ids])
            step = max(1, self.rec_max_columns // width) if self.rec_max_columns else len(items)
            for k in range(0, len(items), step):
                probs = self.rec.run(pad_batch(items[k:k + step], width))
                for i, (text, score, cols) in zip(ids[k:k + step], ctc_decode(probs, self.chars)):
                    results[i] = (text, score, Columns(cols, probs.shape[1] * (ratio[i] / widest)))
        return results

    def front(self, img: np.ndarray, p: OCRParams) -> Front:
        """Everything before recognition: [doc orientation] -> memory plan -> det -> crops -> [textline orientation]."""
        t: dict[str, float] = {}
        warnings: list[str] = []
        t0 = time.perf_counter()
        data: dict = {"model_settings": {"use_doc_preprocessor": p.use_doc_orientation_classify,
                                         "use_textline_orientation": p.use_textline_orientation}}
        if p.use_doc_orientation_classify:
            spec = self.manifest.model(self.doc_model)
            probs = self.predictor(self.doc_model).run(doc_input(img, spec.input)[None])
            angle = doc_angle(probs[0:1], spec.labels)
            img = rotate(img, angle)
            data["doc_preprocessor_res"] = {"input_path": None, "page_index": None,
                                            "model_settings": {"use_doc_orientation_classify": True,
                                                               "use_doc_unwarping": False}, "angle": angle}
        t1 = time.perf_counter()
        t["doc_orientation"] = t1 - t0
        det = p.det
        if self.budget is not None:  # decided before det runs: a page over budget never runs at full size
            plan = self.budget.plan(img.shape[:2], det)
            det = plan.det
            if plan.warning:
                warnings.append(plan.warning)
        quads = self.detect(img, det)
        t2 = time.perf_counter()
        t["det"] = t2 - t1
        crops, polys = [], []
        for q in quads:
            c = crop_quad(img, q)
            if c.size > 0 and c.shape[0] > 0 and c.shape[1] > 0:
                crops.append(c)
                polys.append(q)
        data["dt_polys"] = polys
        data["text_det_params"] = det.as_result()
        data["text_type"] = "general"
        if crops:
            if p.use_textline_orientation:
                spec = self.manifest.model(self.textline_model)
                probs = self._classify(self.textline_model, [textline_input(c, spec.input) for c in crops],
                                       self.textline_batch)
                angles = textline_angles(probs, spec.labels)
                crops = [rotate(c, 180) if a == 1 else c for c, a in zip(crops, angles)]
            else:
                angles = [-1] * len(crops)
            data["textline_orientation_angles"] = angles
        t["cls"] = time.perf_counter() - t2
        return Front(data, img, crops, polys, t, warnings)

    def back(self, f: Front, p: OCRParams) -> PageOutput:
        """Recognition and the result: the second half of a page, which may run while the next page's front does."""
        t0 = time.perf_counter()
        recognised = self.recognize(f.crops) if f.crops else []
        t = {**f.timings, "rec": time.perf_counter() - t0}
        data = f.data
        keep = [i for i, r in enumerate(recognised) if r[1] >= p.text_rec_score_thresh]
        data["text_rec_score_thresh"] = p.text_rec_score_thresh
        data["return_word_box"] = p.return_word_box
        data["rec_texts"] = [recognised[i][0] for i in keep]
        data["rec_scores"] = [recognised[i][1] for i in keep]
        data["rec_polys"] = [f.polys[i] for i in keep]
        data["rec_boxes"] = quads_to_boxes(data["rec_polys"])
        if p.return_word_box:
            words = [word_boxes(recognised[i][0], f.polys[i], recognised[i][2]) for i in keep]
            data["text_word"] = [w for w, _ in words]
            data["text_word_region"] = [b for _, b in words]
            data["text_word_boxes"] = [quads_to_boxes(b) for _, b in words]
        return PageOutput(data, f.image, t, f.warnings)

    def run(self, img: np.ndarray, p: OCRParams) -> PageOutput:
        return self.back(self.front(img, p), p)

    def predictors(self) -> list[Predictor]:
        """The loaded models, detection first: its buffers grow with the page and are the biggest. Release them only
        between pages, never while another thread runs a model."""
        return sorted(self._predictors.values(), key=lambda p: p is not self.det)
