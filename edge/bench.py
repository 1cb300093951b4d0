"""`edge-ocr bench`: per-stage latency, throughput, load time and peak memory of every engine, side by side.

Each engine is measured in its own child process so that load time and peak RSS are its own (an engine that needs
another Python environment runs under that interpreter). Ratios are each engine over the first one, measured in
the same run on the same inputs.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import ConfigError, EdgeError

log = logging.getLogger(__name__)

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


# -- edge-ocr against a peer (the official pipeline) ---------------------------------------------------------------
TARGETS = {"first_pass_seconds": 0.5, "warm_seconds": 0.5, "cold_peak_rss_max_mb": 0.6, "cold_peak_rss_median_mb": 0.5}


def _runner(python: str | Path, system: str, files: list[str], out_dir: Path, tag: str, passes: int, threads: int,
            extra: list[str], env: dict[str, str], results: bool) -> dict:
    from .peers import RUNNER

    out = out_dir / f"{tag}.json"
    cmd = [str(python), str(RUNNER), system, *files, "--out", str(out), "--passes", str(passes),
           "--threads", str(threads), *extra]
    if results:
        (out_dir / tag).mkdir()
        cmd += ["--results", str(out_dir / tag)]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    if p.returncode != 0:
        raise EdgeError(f"benchmark run of {system} failed (exit {p.returncode}):\n{p.stderr.strip()[-2000:]}")
    return json.loads(out.read_text())


def _files_and_profile(inputs: list[str], profile: str | None, engine: str | None):
    """The files a run measures (as named, not resolved) and the edge-ocr profile it measures them on."""
    from .api import expand_inputs
    from .profiles import detect, load_profile

    files = [str(Path(f).absolute()) for f in expand_inputs(inputs) if isinstance(f, (str, Path))]
    if not files:
        raise ConfigError(f"no image or PDF files in {' '.join(map(str, inputs))}")
    prof = load_profile(profile) if profile else detect()[0]
    return files, prof.with_engine(engine) if engine else prof


def _summary(processes: list[dict], cold: dict[str, float]) -> dict:
    """Medians over the process runs: first pass (one per run), warm passes (all runs'), per file."""
    files = list(processes[0]["first_pass"])
    firsts = [sum(p["first_pass"].values()) for p in processes]
    warm_passes = [w for p in processes for w in p["warm_passes"]]
    warm_totals = [sum(w.values()) for w in warm_passes]
    median = statistics.median
    return {
        "about": processes[0]["about"], "python": processes[0]["python"],
        "import_seconds": round(median(p["import_seconds"] for p in processes), 3),
        "init_seconds": round(median(p["init_seconds"] for p in processes), 3),
        "import_init_seconds": round(median(p["import_seconds"] + p["init_seconds"] for p in processes), 3),
        "first_pass_seconds": round(median(firsts), 3), "first_pass_runs": [round(t, 3) for t in firsts],
        "warm_seconds": round(median(warm_totals), 3) if warm_totals else None,
        "warm_pass_seconds": [round(t, 3) for t in warm_totals],
        "per_file_first_median_seconds": {f: round(median(p["first_pass"][f] for p in processes), 3) for f in files},
        "per_file_warm_median_seconds": {f: round(median(w[f] for w in warm_passes), 3)
                                         for f in files} if warm_passes else {},
        "process_peak_rss_mb": round(median(p["peak_rss_mb"] for p in processes), 1),
        "cold_peak_rss_mb": {f: round(v, 1) for f, v in cold.items()},
        "cold_peak_rss_median_mb": round(median(cold.values()), 1) if cold else None,
        "cold_peak_rss_max_mb": round(max(cold.values()), 1) if cold else None,
    }


def bench_peer(inputs: list[str], peer_name: str, profile: str | None, engine: str | None, runs: int = 3,
               passes: int = 2, cold: bool = True, threads: int | None = None) -> dict:
    """edge-ocr and a peer on the same files in one run, each in processes of its own: `runs` processes over all
    files (alternating between the systems, so a noisy minute hits both), and with `cold` a fresh process per file;
    then the ratios edge/peer and edge-ocr's fidelity to the peer's own outputs."""
    from .fidelity import compare, load_results
    from .peers import peer

    files, prof = _files_and_profile(inputs, profile, engine)
    threads = threads or prof.engine.threads or 2
    other = peer(peer_name)
    peer_python, weights = other.prepare()
    systems = {
        other.name: (peer_python, other.name, ["--weights", str(weights)], dict(other.env)),
        "edge-ocr": (sys.executable, "edge-ocr", ["--profile", prof.name, *(["--engine", engine] if engine else [])], {}),
    }
    processes: dict[str, list[dict]] = {tag: [] for tag in systems}
    cold_peaks: dict[str, dict[str, float]] = {tag: {} for tag in systems}
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        out_dir = Path(tmp)
        for r in range(runs):
            for tag, (python, system, extra, env) in systems.items():
                log.info("bench: %s over %d file(s), run %d of %d", tag, len(files), r + 1, runs)
                processes[tag].append(_runner(python, system, files, out_dir, f"{tag}-{r}", passes, threads, extra,
                                              env, results=r == 0))
        for i, f in enumerate(files if cold else []):
            for tag, (python, system, extra, env) in systems.items():
                run = _runner(python, system, [f], out_dir, f"{tag}-cold-{i}", 1, threads, extra, env, results=False)
                cold_peaks[tag][f] = run["peak_rss_mb"]
        outputs = {tag: load_results(out_dir / f"{tag}-0") for tag in systems}
    summaries = {tag: _summary(processes[tag], cold_peaks[tag]) for tag in systems}
    fidelity = compare(outputs["edge-ocr"], outputs[other.name]).as_dict()
    ours, theirs = summaries["edge-ocr"], summaries[other.name]
    keys = ("first_pass_seconds", "warm_seconds", "cold_peak_rss_max_mb", "cold_peak_rss_median_mb",
            "process_peak_rss_mb", "import_init_seconds")
    ratios = {k: _ratio(ours[k], theirs[k]) if ours[k] is not None and theirs[k] else None for k in keys}
    return {"inputs": files, "files": len(files), "runs": runs, "passes": passes, "threads": threads,
            "peer": other.name, "peer_label": other.label, "machine": platform.machine(), "systems": summaries,
            "ratios_to_peer": ratios,
            "targets": {k: {"ratio_at_most": v, "met": ratios[k] is not None and ratios[k] <= v}
                        for k, v in TARGETS.items()},
            "fidelity_to_peer": fidelity}


def peer_table(report: dict) -> str:
    names = list(report["systems"])
    rows = [("", *names, f"edge-ocr/{report['peer']}")]
    for key, label in (("first_pass_seconds", "first pass s"), ("warm_seconds", "warm s (median)"),
                       ("import_init_seconds", "import+init s"), ("process_peak_rss_mb", "process peak RSS MB"),
                       ("cold_peak_rss_median_mb", "cold peak RSS median MB"),
                       ("cold_peak_rss_max_mb", "cold peak RSS max MB")):
        rows.append((label, *(str(report["systems"][n][key]) for n in names), str(report["ratios_to_peer"][key])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    f = report["fidelity_to_peer"]
    lines.append(f"fidelity of edge-ocr to {report['peer']}'s own outputs ({f['pages']} pages): det F1 {f['det_f1']}, "
                 f"exact text {f['text_exact']}, page CER {f['page_cer']}")
    met = [f"{k} {'met' if v['met'] else 'missed'} (<= {v['ratio_at_most']}x)" for k, v in report["targets"].items()]
    lines.append("targets: " + ", ".join(met))
    return "\n".join(lines)


# -- what a lower detection size costs and saves (edge profiles' defaults) -------------------------------------
def bench_det_sizes(inputs: list[str], sides: list[int], profile: str | None, engine: str | None,
                    reference: str | Path | None, passes: int = 2) -> dict:
    """edge-ocr at each detection max side (text_det_max_side_limit), a fresh process each: fidelity against the
    `reference` results folder (the official outputs), or against edge-ocr at the largest side when none is given;
    warm seconds and the process's peak RSS."""
    from .fidelity import compare, load_results

    files, prof = _files_and_profile(inputs, profile, engine)
    threads = prof.engine.threads or 2
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        out_dir = Path(tmp)
        for side in sorted(set(sides), reverse=True):
            extra = ["--profile", prof.name, "--det-max-side", str(side), *(["--engine", engine] if engine else [])]
            run = _runner(sys.executable, "edge-ocr", files, out_dir, f"side-{side}", passes, threads, extra, {},
                          results=True)
            outputs[side] = load_results(out_dir / f"side-{side}")
            warm = [sum(w.values()) for w in run["warm_passes"]]
            rows.append({"det_max_side": side, "warm_seconds": round(statistics.median(warm), 3),
                         "first_pass_seconds": round(sum(run["first_pass"].values()), 3),
                         "peak_rss_mb": round(run["peak_rss_mb"], 1)})
    ref = load_results(reference) if reference else outputs[max(outputs)]
    wanted = {k: v for k, v in ref.items() if any(Path(f).stem == k or k.startswith(Path(f).stem + "_") for f in files)}
    for row in rows:
        row.update(compare(outputs[row["det_max_side"]], wanted).as_dict())
    return {"inputs": files, "profile": prof.name, "engine": prof.engine.key,
            "against": str(reference) if reference else f"edge-ocr at det max side {max(outputs)}", "rows": rows}


def det_sizes_table(report: dict) -> str:
    head = ("det max side", "det F1", "exact text", "page CER", "warm s", "peak RSS MB")
    rows = [head] + [(str(r["det_max_side"]), f"{r['det_f1']:.3f}", f"{r['text_exact']:.3f}", f"{r['page_cer']:.4f}",
                      str(r["warm_seconds"]), str(r["peak_rss_mb"])) for r in report["rows"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join(["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows[:1]]
                     + ["|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows[1:]])


# -- measuring a memory model (a profile's [memory.model]) -----------------------------------------------------
PROBE_SIZES = ((1056, 816), (2200, 1700), (3300, 2550), (4000, 3200))  # letter page at 96, 200, 300 dpi; a big photo


def memory_probe(height: int, width: int, profile: str | None, engine: str | None) -> dict:
    """In this process: idle RSS with the models loaded, then the peak of one page of text lines of height x width."""
    import cv2
    import numpy as np

    from .api import EdgeOCR
    from .memory import peak_rss_bytes, reset_peak, rss_bytes
    from .pipeline.det import det_size

    ocr = EdgeOCR(profile=profile, engine=engine)
    page = np.full((height, width, 3), 255, np.uint8)
    scale = width / 816
    for i in range(int(height / (60 * scale))):
        cv2.putText(page, f"Line {i} of a page measured for edge-ocr's memory model 0123456789",
                    (int(40 * scale), int((60 + 60 * i) * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, (0, 0, 0),
                    max(1, int(2 * scale)))
    idle = rss_bytes()
    if not reset_peak():
        raise EdgeError("this kernel does not let a process reset its peak RSS (/proc/self/clear_refs)")
    ocr.predict(page, release=False)
    dh, dw = det_size(height, width, ocr.params.det)
    return {"idle_mb": idle / 2**20, "extra_mb": (peak_rss_bytes() - idle) / 2**20, "det_pixels": dh * dw,
            "image_pixels": height * width}


def bench_memory_model(profile: str | None, engine: str | None) -> dict:
    """Fresh process per page size; the model's line bounds every measured point from above (rounded up by 10%)."""
    points = []
    for h, w in PROBE_SIZES:
        cmd = [sys.executable, "-m", "edge", "bench", "--memory-probe", f"{h}x{w}"]
        cmd += ["--profile", profile] if profile else []
        cmd += ["--engine", engine] if engine else []
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise EdgeError(f"memory probe at {w}x{h} failed:\n{p.stderr.strip()[-1500:]}")
        points.append(json.loads(p.stdout.strip().splitlines()[-1]))
    image_bpp = 12.0
    # the two largest pages fix the slope; the intercept lifts the line over every point
    a, b = points[-2], points[-1]
    slope = max(0.0, (b["extra_mb"] - a["extra_mb"]) / (b["det_pixels"] - a["det_pixels"])) if b["det_pixels"] != a["det_pixels"] else 0.0
    page = max(pt["extra_mb"] - slope * pt["det_pixels"] for pt in points)
    model = {"base_mb": round(max(pt["idle_mb"] for pt in points) * 1.1),
             "page_mb": round(page * 1.1),
             "det_bytes_per_pixel": round(slope * 2**20 * 1.1),
             "image_bytes_per_pixel": image_bpp,
             "measured": f"{platform.machine()}, edge-ocr bench --memory-model, pages {', '.join(f'{w}x{h}' for h, w in PROBE_SIZES)}"}
    return {"points": points, "model": model}
