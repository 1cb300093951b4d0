"""`edge-ocr bench`: per-stage latency, throughput, load time and peak memory of every engine, side by side.

Each engine is measured in its own child process so that load time and peak RSS are its own (an engine that needs
another Python environment runs under that interpreter). Ratios are each engine over the first one, measured in
the same run on the same inputs.
"""
from __future__ import annotations

import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import ConfigError, EdgeError

STAGES = ("decode", "doc_orientation", "det", "cls", "rec", "total")
RATIO_KEYS = ("first_pass_seconds", "pages_per_second", "peak_rss_mb", "model_load_seconds")


def _stage_means(results) -> dict[str, float]:
    ok = [r for r in results if r.ok]
    return {s: round(statistics.fmean(r.timings.get(s, 0.0) for r in ok), 5) if ok else 0.0 for s in STAGES}


def bench_one(inputs: list[str], profile: str | None, engine: str | None, repeat: int, **ocr_kw) -> dict:
    """Measures in this process: a first pass (first use of every shape), then `repeat` timed passes."""
    from .api import EdgeOCR
    from .profiles import profile_for_engine

    if profile is None and engine is not None:
        profile = profile_for_engine(engine, platform.machine()).name
    t0 = time.perf_counter()
    ocr = EdgeOCR(profile=profile, engine=engine, **ocr_kw)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = ocr.predict(inputs)
    first_pass = time.perf_counter() - t0
    warm, wall = [], 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        warm += [r for r in ocr.predict_iter(inputs) if r.ok]
        wall += time.perf_counter() - t0
    return {
        "engine": ocr.profile.engine.key, "profile": ocr.profile.name, "engine_info": ocr.engine.describe(),
        "python": platform.python_version(), "inputs": len(inputs),
        "pages_per_pass": len([r for r in first if r.ok]), "failed_inputs": [dict(r) for r in first if not r.ok],
        "repeat": repeat, "model_load_seconds": round(load, 4), "first_pass_seconds": round(first_pass, 4),
        "first_pass_stage_mean_seconds": _stage_means(first),
        "stage_mean_seconds": _stage_means(warm),
        "pages_per_second": round(len(warm) / wall, 4) if wall else 0.0,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def bench_engines(inputs: list[str], engines: list[str] | None, profile: str | None, repeat: int,
                  pythons: dict[str, str] | None = None) -> dict:
    """Each engine in a child process; `pythons` maps an engine to the interpreter of its environment."""
    from .engine import engine_keys, options_for, plugin

    pythons = pythons or {}
    unknown = sorted(set(pythons) - set(engine_keys()))
    if unknown:
        raise ConfigError(f"--engine-python names unknown engines: {', '.join(unknown)}",
                          hint=f"engines: {', '.join(engine_keys())}")
    if not engines:  # asked of the plugins only: this parent process loads no engine library
        engines = [k for k in engine_keys()
                   if k in pythons or not plugin(k).problems(options_for(k), platform.machine())]
    runs = {}
    for engine in engines:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            cmd = [pythons.get(engine, sys.executable), "-m", "edge", "bench", *inputs, "--engine", engine,
                   "--repeat", str(repeat), "--json", out.name, "--in-process"]
            if profile:
                cmd += ["--profile", profile]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise EdgeError(f"benchmark of {engine} failed:\n{p.stderr.strip()[-1500:]}")
            runs[engine] = json.loads(Path(out.name).read_text())
    report = {"inputs": inputs, "repeat": repeat, "baseline": engines[0], "runs": runs, "ratios": {}}
    base = runs[engines[0]]
    for name in engines[1:]:
        run = runs[name]
        ratio = {f"{s}_seconds": _ratio(run["stage_mean_seconds"][s], base["stage_mean_seconds"][s]) for s in STAGES}
        ratio.update({k: _ratio(run[k], base[k]) for k in RATIO_KEYS})
        report["ratios"][name] = ratio
    return report


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def table(report: dict) -> str:
    runs = report["runs"] if "runs" in report else {report["engine"]: report}
    ratios = report.get("ratios", {})
    names = list(runs)
    base = report.get("baseline")
    rows = [("", *names, *(f"{n}/{base}" for n in ratios))]

    def row(label, values, ratio_key):
        rows.append((label, *values, *(str(r.get(ratio_key, "")) for r in ratios.values())))

    for s in STAGES:
        row(f"{s} ms/page", [f"{runs[n]['stage_mean_seconds'][s] * 1000:.1f}" for n in names], f"{s}_seconds")
    for key, label in (("first_pass_seconds", "first pass s"), ("pages_per_second", "pages/s"),
                       ("model_load_seconds", "model load s"), ("peak_rss_mb", "peak RSS MB")):
        row(label, [str(runs[n][key]) for n in names], key)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)
