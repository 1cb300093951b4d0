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
        ratio["first_pass_seconds"] = _ratio(lite["first_pass_seconds"], ort["first_pass_seconds"])
        report["paddlelite_over_onnxruntime"] = ratio
    return report


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def table(report: dict) -> str:
    runs = report["runs"] if "runs" in report else {report["engine"]: report}
    ratio = report.get("paddlelite_over_onnxruntime")
    names = list(runs)
    rows = [("", *names, *(["lite/ort"] if ratio else []))]

    def row(label, values, ratio_key=None):
        rows.append((label, *values, *([str(ratio.get(ratio_key, ""))] if ratio else [])))

    for s in STAGES:
        row(f"{s} ms/page", [f"{runs[n]['stage_mean_seconds'][s] * 1000:.1f}" for n in names], f"{s}_seconds")
    for key, label in (("pages_per_second", "pages/s"), ("model_load_seconds", "model load s"),
                       ("first_pass_seconds", "first pass s"), ("peak_rss_mb", "peak RSS MB")):
        row(label, [str(runs[n][key]) for n in names], key)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)
