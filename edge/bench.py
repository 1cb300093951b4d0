"""`edge-ocr bench`: per-stage latency, throughput, load time and peak memory, for one engine or both side by side.

Each engine is measured in its own child process so that load time and peak RSS are its own. With both
engines, the report gives Paddle Lite / ONNX Runtime ratios measured in the same run on the same inputs.
"""
from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import EdgeError

STAGES = ("decode", "doc_orientation", "det", "cls", "rec", "total")
DEFAULT_PROFILES = {"onnxruntime": "x86-onnxruntime", "paddlelite": "x86-paddlelite"}


def bench_one(inputs: list[str], profile: str | None, engine: str | None, repeat: int, **ocr_kw) -> dict:
    """Measures in this process: a warm-up pass (first use of every shape), then `repeat` timed passes."""
    from .api import EdgeOCR

    t0 = time.perf_counter()
    ocr = EdgeOCR(profile=profile or DEFAULT_PROFILES.get(engine or "", None), engine=engine, **ocr_kw)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm = [r for r in ocr.predict(inputs)]
    first_pass = time.perf_counter() - t0
    failures = [dict(r) for r in warm if not r.ok]
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    wall = 0.0
    pages = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        for r in ocr.predict_iter(inputs):
            if r.ok:
                pages += 1
                for s in STAGES:
                    per_stage[s].append(r.timings.get(s, 0.0))
        wall += time.perf_counter() - t0
    return {
        "engine": ocr.profile.engine.key, "profile": ocr.profile.name, "inputs": len(inputs),
        "pages_per_pass": len([r for r in warm if r.ok]), "failed_inputs": failures, "repeat": repeat,
        "model_load_seconds": round(load, 4), "first_pass_seconds": round(first_pass, 4),
        "stage_mean_seconds": {s: round(statistics.fmean(v), 5) if v else 0.0 for s, v in per_stage.items()},
        "pages_per_second": round(pages / wall, 4) if wall else 0.0,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def bench_engines(inputs: list[str], engines: list[str], profile: str | None, repeat: int) -> dict:
    """Each engine in a child process (own load time, own peak RSS); ratios are Paddle Lite over ONNX Runtime."""
    runs = {}
    for engine in engines:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            cmd = [sys.executable, "-m", "edge", "bench", *inputs, "--engine", engine, "--repeat", str(repeat),
                   "--json", out.name, "--in-process"]
            if profile:
                cmd += ["--profile", profile]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise EdgeError(f"benchmark of {engine} failed:\n{p.stderr.strip()[-1500:]}")
            runs[engine] = json.loads(Path(out.name).read_text())
    report = {"inputs": inputs, "repeat": repeat, "runs": runs}
    if {"paddlelite", "onnxruntime"} <= set(runs):
        lite, ort = runs["paddlelite"], runs["onnxruntime"]
        ratio = {f"{s}_seconds": _ratio(lite["stage_mean_seconds"][s], ort["stage_mean_seconds"][s]) for s in STAGES}
        ratio["pages_per_second"] = _ratio(lite["pages_per_second"], ort["pages_per_second"])
        ratio["peak_rss_mb"] = _ratio(lite["peak_rss_mb"], ort["peak_rss_mb"])
        ratio["model_load_seconds"] = _ratio(lite["model_load_seconds"], ort["model_load_seconds"])
        report["paddlelite_over_onnxruntime"] = ratio
    return report


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def table(report: dict) -> str:
    runs = report["runs"] if "runs" in report else {report["engine"]: report}
    names = list(runs)
    rows = [("", *names)]
    for s in STAGES:
        rows.append((f"{s} ms/page", *(f"{runs[n]['stage_mean_seconds'][s] * 1000:.1f}" for n in names)))
    for key, label in (("pages_per_second", "pages/s"), ("model_load_seconds", "model load s"),
                       ("first_pass_seconds", "first pass s"), ("peak_rss_mb", "peak RSS MB")):
        rows.append((label, *(str(runs[n][key]) for n in names)))
    if "paddlelite_over_onnxruntime" in report:
        r = report["paddlelite_over_onnxruntime"]
        rows[0] = (*rows[0], "lite/ort")
        for i, s in enumerate(STAGES, start=1):
            rows[i] = (*rows[i], str(r[f"{s}_seconds"]))
        extra = {"pages/s": "pages_per_second", "model load s": "model_load_seconds", "peak RSS MB": "peak_rss_mb"}
        rows = [(*row, str(r[extra[row[0]]])) if row[0] in extra else (row if len(row) == len(rows[0]) else (*row, ""))
                for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)
