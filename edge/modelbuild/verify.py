"""`edge-ocr models verify`: every built model, in every engine installed here, against the reference engine
(ONNX Runtime on the source graph).

Each engine plugin says what it runs (Paddle Lite: the x86 .nb and the ARM-optimised graph with x86 kernels), on
rendered and (optionally) real inputs. Detection at several page sizes, recognition at batch 1 and 6 and widths 160-1200
plus natural widths, classifiers on upright and rotated inputs. Numbers are max abs differences of the raw
outputs; recognition also compares decoded strings, classifiers the argmax.
"""
from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..engine import reference_and_others
from ..models import BuiltModels, Manifest, ModelSpec, build_dir
from ..pipeline.cls import doc_input, textline_input
from ..pipeline.det import DetParams, det_resize
from ..pipeline.normalize import normalize_chw, to_model_colors
from ..pipeline.rec import REC_HEIGHT, ctc_decode, pad_batch, rec_normalize
from .samples import Samples, load_samples

TOLERANCE = {"det": 5e-4, "rec": 1e-3, "textline_cls": 1e-4, "doc_cls": 1e-4}
REC_WIDTHS = (160, 320, 640, 1200)


@dataclass
class Row:
    model: str
    runner: str
    inputs: str
    shapes: str
    max_abs: float
    tolerance: float
    strings: str = ""  # "equal/total" for recognition
    argmax: str = ""  # "equal/total" for classifiers
    note: str = ""
    ok: bool = True


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)  # engines that do not run in this environment

    @property
    def failures(self) -> list:
        return [r for r in self.rows if not r.ok] + self.problems

    @property
    def ok(self) -> bool:
        return not self.failures

    def table(self) -> str:
        head = ("model", "runner", "inputs", "shapes", "max abs diff", "tol", "strings equal", "argmax agree", "ok", "note")
        body = [(r.model, r.runner, r.inputs, r.shapes, f"{r.max_abs:.2e}", f"{r.tolerance:.0e}", r.strings or "-",
                 r.argmax or "-", "ok" if r.ok else "FAIL", r.note) for r in self.rows]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*b) for b in body]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        lines += [f"not checked here: {n}" for n in self.not_checked]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"ok": self.ok, "rows": [asdict(r) for r in self.rows], "problems": self.problems,
                "not_checked": self.not_checked}


def _fixed_width(crop: np.ndarray, spec: ModelSpec, width: int) -> np.ndarray:
    """A crop at height 48 capped to `width`, zero-padded to exactly `width` (a fixed-shape rec input)."""
    h, w = crop.shape[:2]
    rw = max(1, min(width, int(round(REC_HEIGHT * w / h))))
    x = normalize_chw(cv2.resize(crop, (rw, REC_HEIGHT)), spec.input)
    out = np.zeros((3, REC_HEIGHT, width), np.float32)
    out[:, :, :rw] = x
    return out


def _cases(spec: ModelSpec, s: Samples) -> list[tuple[str, list[np.ndarray]]]:
    """(group label, list of model inputs) for one model."""
    if spec.task == "det":
        groups = [(label, [page]) for label, page in s.pages.items()]
        if s.real_pages:
            groups.append((f"{len(s.real_pages)} real pages", list(s.real_pages.values())))
        out = []
        for label, pages in groups:
            xs = [normalize_chw(to_model_colors(det_resize(p, DetParams())[0], spec.input), spec.input)[None]
                  for p in pages]
            out.append((label, xs))
        return out
    if spec.task == "rec":
        crops = list(s.crops.values())
        natural = sorted(crops, key=lambda c: c.shape[1] / c.shape[0])
        out = []
        for width in REC_WIDTHS:
            fit = [c for c in natural if REC_HEIGHT * c.shape[1] / c.shape[0] <= width] or natural[:1]
            pick = (fit[::-1] * 6)[:6]
            out.append((f"b1 w{width}", [_fixed_width(pick[0], spec, width)[None]]))
            out.append((f"b6 w{width}", [np.stack([_fixed_width(c, spec, width) for c in pick])]))
        out.append((f"{len(crops)} lines, own width", [rec_normalize(c, spec.input)[None] for c in crops]))
        real = list(s.real_crops.values())
        if real:
            batches = [pad_batch([rec_normalize(c, spec.input) for c in real[i:i + 6]]) for i in range(0, len(real), 6)]
            out.append((f"{len(real)} real crops, b6", batches))
        return out
    if spec.task == "textline_cls":
        crops = list(s.crops.values()) + list(s.real_crops.values())
        xs = [textline_input(c, spec.input) for c in crops] + [textline_input(c[::-1, ::-1], spec.input) for c in crops]
        return [(f"{len(xs)} lines 0/180, b1", [x[None] for x in xs]),
                (f"{len(xs)} lines 0/180, b6", [np.stack(xs[i:i + 6]) for i in range(0, len(xs) - 5, 6)])]
    pages = list(s.pages.values()) + list(s.real_pages.values())
    rots = [None, cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_CLOCKWISE]
    xs = [doc_input(p if r is None else cv2.rotate(p, r), spec.input) for p in pages for r in rots]
    return [(f"{len(xs)} pages 0/90/180/270, b1", [x[None] for x in xs]),
            (f"{len(xs)} pages 0/90/180/270, b2", [np.stack(xs[i:i + 2]) for i in range(0, len(xs) - 1, 2)])]


def _compare(key: str, spec: ModelSpec, runner: str, label: str, pairs, chars) -> Row:
    tol = TOLERANCE[spec.task]
    worst, same_s, same_a, total = 0.0, 0, 0, 0
    shapes = sorted({tuple(a.shape) for a, _ in pairs}, key=str)
    mask_px = 0
    for a, b in pairs:
        worst = max(worst, float(np.abs(a - b).max()))
        if spec.task == "rec":
            da, db = ctc_decode(a, chars), ctc_decode(b, chars)
            same_s += sum(x[0] == y[0] for x, y in zip(da, db))
            total += len(da)
        elif spec.task == "det":
            mask_px += int(((a > 0.3) != (b > 0.3)).sum())
        else:
            same_a += int((a.argmax(1) == b.argmax(1)).sum())
            total += a.shape[0]
    shape_txt = "x".join(map(str, shapes[0])) if len(shapes) == 1 else f"{len(shapes)} shapes"
    row = Row(key, runner, label, shape_txt, worst, tol)
    row.ok = worst <= tol
    if spec.task == "rec":
        row.strings = f"{same_s}/{total}"
        if same_s != total:
            row.ok, row.note = False, "decoded text differs"
    elif spec.task == "det":
        row.note = f"{mask_px} px differ at 0.3"
    else:
        row.argmax = f"{same_a}/{total}"
        if same_a != total:
            row.ok, row.note = False, "class differs"
    if worst > tol:
        row.note = "; ".join(n for n in (row.note, "diff over tolerance") if n)
    return row


def verify(manifest: Manifest, dest: Path | None = None, *, reference: Path | None = None,
           json_out: Path | None = None, samples: Samples | None = None) -> Report:
    models = BuiltModels(dest or build_dir(manifest.path.parent if manifest.path else None))
    report = Report(problems=models.verify_hashes())
    if report.problems:
        return report
    samples = samples or load_samples(reference)
    ref_engine, engines, missing = reference_and_others(platform.machine(), max_cached_shapes=4)
    report.not_checked = [f"{key}: {why}" for key, why in missing.items()]
    chars = models.dictionary("rec") if models.has("rec") else []
    for key in models.lock["models"]:
        spec = manifest.model(key)
        ref = ref_engine.load(models, key)
        runners = {name: r for e in engines for name, r in e.verify_runners(models, key).items()}
        for label, xs in _cases(spec, samples):
            expected = [ref.run(x) for x in xs]
            for rname, runner in runners.items():
                pairs = [(a, runner.run(x)) for a, x in zip(expected, xs)]
                report.rows.append(_compare(key, spec, rname, label, pairs, chars))
    if json_out:
        Path(json_out).write_text(json.dumps(report.to_json(), indent=1))
    return report
