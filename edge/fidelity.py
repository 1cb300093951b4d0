"""How close one system's page results are to another's: box matching, line text and page text.

Metrics as OCR comparisons usually report them: boxes matched one-to-one greedily by IoU (>= 0.5) give detection
precision/recall/F1; matched pairs give the exact-text rate; each page's text in reading order (rows by vertical
overlap, left to right) gives the page character error rate (edit distance / reference length, summed over pages).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

IOU = 0.5


def _boxes(page: dict) -> np.ndarray:
    boxes = page.get("rec_boxes")
    if boxes is None or len(boxes) == 0:
        polys = page.get("rec_polys") or []
        boxes = [[min(p[0] for p in q), min(p[1] for p in q), max(p[0] for p in q), max(p[1] for p in q)] for q in polys]
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _match(cand: np.ndarray, ref: np.ndarray) -> list[tuple[int, int]]:
    if not len(cand) or not len(ref):
        return []
    iou = _iou(cand, ref)
    pairs, used_c, used_r = [], set(), set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        c, r = divmod(int(flat), iou.shape[1])
        if iou[c, r] < IOU:
            break
        if c not in used_c and r not in used_r:
            pairs.append((c, r))
            used_c.add(c)
            used_r.add(r)
    return pairs


def reading_order_text(page: dict) -> str:
    """Lines grouped into rows (a line joins a row it overlaps vertically by half its height), rows top to bottom,
    lines left to right; whitespace dropped."""
    boxes, texts = _boxes(page), list(page.get("rec_texts") or [])
    rows: list[list[int]] = []
    for i in sorted(range(len(texts)), key=lambda i: boxes[i][1]):
        y1, y2 = boxes[i][1], boxes[i][3]
        for row in rows:
            ry1, ry2 = min(boxes[j][1] for j in row), max(boxes[j][3] for j in row)
            if min(y2, ry2) - max(y1, ry1) >= 0.5 * max(1.0, y2 - y1):
                row.append(i)
                break
        else:
            rows.append([i])
    ordered = [texts[j] for row in rows for j in sorted(row, key=lambda j: boxes[j][0])]
    return "".join("".join(ordered).split())


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@dataclass
class Fidelity:
    pages: int
    missing: list[str]
    det_precision: float
    det_recall: float
    det_f1: float
    text_exact: float
    page_cer: float

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def compare(candidate: dict[str, dict], reference: dict[str, dict]) -> Fidelity:
    """Both map a page key (e.g. "scan_0") to a PaddleOCR page result."""
    tp = n_cand = n_ref = exact = 0
    dist = length = 0
    missing = sorted(set(reference) - set(candidate))
    for key, ref in reference.items():
        cand = candidate.get(key, {})
        cb, rb = _boxes(cand), _boxes(ref)
        pairs = _match(cb, rb)
        tp += len(pairs)
        n_cand += len(cb)
        n_ref += len(rb)
        exact += sum(cand["rec_texts"][c] == ref["rec_texts"][r] for c, r in pairs)
        rt = reading_order_text(ref)
        dist += edit_distance(reading_order_text(cand), rt) if cand else len(rt)
        length += len(rt)
    p = tp / n_cand if n_cand else 1.0
    r = tp / n_ref if n_ref else 1.0
    return Fidelity(len(reference), missing, p, r, 2 * p * r / (p + r) if p + r else 0.0,
                    exact / tp if tp else (1.0 if not n_ref else 0.0), dist / length if length else 0.0)


def load_results(folder: str | Path) -> dict[str, dict]:
    """<key>_res.json files of a folder (as save_to_json writes them), by key."""
    out = {}
    for f in sorted(Path(folder).glob("*_res.json")):
        data = json.loads(f.read_text(encoding="utf-8"))
        out[f.name[:-len("_res.json")]] = data.get("res", data)
    return out
