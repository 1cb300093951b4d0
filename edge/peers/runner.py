"""Times one OCR system over files and writes what bench compares. The same code measures the peer (in its own
tool environment: its Python and packages, none of edge-ocr's) and edge-ocr (in the runtime's). Standard library
only, besides the system itself.

    python runner.py SYSTEM --out OUT.json [--results DIR] [--passes N] [--threads T] [--weights DIR]
                     [--profile P] [--engine E] [--det-max-side N] FILE...

A first pass over every file (shapes never seen), then N timed passes over them again, as one stream; seconds per
file; peak RSS (VmHWM); the first pass's results as PaddleOCR JSON (<stem>_res.json, <stem>_<page>_res.json) in DIR
for the fidelity check. Each system handles the stream as its API handles a folder: PaddleOCR one predict() per
file, edge-ocr one predict_iter() over all of them (its next page's detection overlaps this page's recognition).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

Stream = Callable[[list[str]], Iterator[tuple[str, list[dict]]]]


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _version(dist: str) -> str:
    from importlib.metadata import version
    return version(dist)


def paddleocr_system(a) -> tuple[Stream, dict]:
    """The official PaddleOCR 3.x pipeline on the PaddleX model folders in --weights, orientation and unwarping off."""
    from paddleocr import PaddleOCR

    weights = Path(a.weights)
    ocr = PaddleOCR(text_detection_model_name="PP-OCRv5_mobile_det",
                    text_detection_model_dir=str(weights / "PP-OCRv5_mobile_det"),
                    text_recognition_model_name="PP-OCRv5_mobile_rec",
                    text_recognition_model_dir=str(weights / "PP-OCRv5_mobile_rec"),
                    use_doc_orientation_classify=False, use_doc_unwarping=False, use_textline_orientation=False,
                    device="cpu", cpu_threads=a.threads)

    def stream(files: list[str]) -> Iterator[tuple[str, list[dict]]]:
        for f in files:
            yield f, [dict(r.json["res"]) for r in ocr.predict(f)]
    return stream, {"paddleocr": _version("paddleocr"), "paddlex": _version("paddlex"),
                    "paddlepaddle": _version("paddlepaddle"), "cpu_threads": a.threads}


def edge_system(a) -> tuple[Stream, dict]:
    """edge-ocr as a user runs it: its Python API on the device profile (the detected one unless named)."""
    from edge.api import EdgeOCR

    options = {"text_det_max_side_limit": a.det_max_side} if a.det_max_side else {}
    ocr = EdgeOCR(profile=a.profile, engine=a.engine, **options)

    def stream(files: list[str]) -> Iterator[tuple[str, list[dict]]]:
        pages: list[dict] = []
        for r in ocr.predict_iter(files):  # one call: a stream of documents, as a service or a folder run has it
            if not r.ok:
                raise SystemExit(f"edge-ocr failed on {r['input_path']}: {r['error']}")
            if r["page_index"] in (None, 0) and pages:  # an image, or a PDF's first page, starts the next input
                yield pages[0]["input_path"], pages
                pages = []
            pages.append(dict(r))
        if pages:
            yield pages[0]["input_path"], pages
    return stream, {"profile": ocr.profile.name, "engine": ocr.engine.describe(), "pipelined": ocr.pipelined}


SYSTEMS = {"paddleocr": ("paddleocr", paddleocr_system), "edge-ocr": ("edge.api", edge_system)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("system", choices=sorted(SYSTEMS))
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--results", help="folder for the first pass's results")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights", help="paddleocr: folder holding the PaddleX model folders")
    ap.add_argument("--profile")
    ap.add_argument("--engine")
    ap.add_argument("--det-max-side", type=int, help="edge-ocr: text_det_max_side_limit")
    a = ap.parse_args()
    module, factory = SYSTEMS[a.system]
    t0 = time.perf_counter()
    __import__(module)
    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    stream, about = factory(a)
    init = time.perf_counter() - t0

    # The first pass and the timed passes are one stream of files (what a service sees): the first pass meets every
    # shape for the first time, the later ones find the system warm.
    passes: list[dict[str, float]] = [{} for _ in range(a.passes + 1)]
    t = time.perf_counter()
    for i, (f, pages) in enumerate(stream(a.files * (a.passes + 1))):
        now = time.perf_counter()
        passes[i // len(a.files)][f] = now - t
        for page in pages if i < len(a.files) and a.results else ():
            stem = Path(f).stem
            name = f"{stem}_res.json" if page.get("page_index") is None else f"{stem}_{page['page_index']}_res.json"
            (Path(a.results) / name).write_text(json.dumps(page, ensure_ascii=False), encoding="utf-8")
        t = time.perf_counter()  # writing results is not the system's time
    first, warm = passes[0], passes[1:]
    Path(a.out).write_text(json.dumps({
        "system": a.system, "about": about, "python": sys.version.split()[0], "import_seconds": imported,
        "init_seconds": init, "first_pass": first, "warm_passes": warm, "peak_rss_mb": peak_rss_mb(),
        "pid": os.getpid()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
