"""`edge-ocr` command line: subcommands map onto modules; EdgeError becomes a message and an exit code."""
from __future__ import annotations

import argparse
import faulthandler
import logging
import signal
import sys
import warnings
from pathlib import Path

from .errors import EdgeError


def _models_build(a) -> int:
    import os

    from .modelbuild.build import build
    from .modelbuild.targets import build_target
    from .models import load_manifest

    manifest = load_manifest(a.manifest)
    dest = build(manifest, a.dest, force=a.force and not a.target)
    if a.target:
        target = build_target(a.target, manifest, dest, a.reference, force=a.force,
                              tool_python=os.environ.get("EDGE_OCR_TOOL_PYTHON"))
        print(f"{a.target}: " + ", ".join(f"{k} ({m['precision']})" for k, m in target["models"].items()))
    print(f"models ready in {dest}")
    return 0


def _models_import(a) -> int:
    from .modelbuild.build import import_model
    from .models import load_manifest

    entry = import_model(load_manifest(a.manifest), a.slot, a.folder, a.dest)
    print(f"imported {entry['name']} as {a.slot}: " + ", ".join(sorted(entry["files"])))
    return 0


def _models_verify(a) -> int:
    from .modelbuild.verify import verify
    from .models import load_manifest

    if a.target:
        return _verify_target(a)
    report = verify(load_manifest(a.manifest), a.dest, reference=a.reference, json_out=a.json)
    print(report.table())
    if not report.ok:
        print(f"\nFAILED: {len(report.failures)} check(s) out of tolerance", file=sys.stderr)
        return 1
    print(f"\nall {len(report.rows)} checks within tolerance")
    return 0


def _verify_target(a) -> int:
    import os

    from .errors import UsageError
    from .modelbuild.npu_verify import table
    from .modelbuild.targets import verify_target
    from .models import load_manifest

    if not a.reference:
        raise UsageError("--target needs --reference DIR (inputs with the official PaddleOCR results)")
    report = verify_target(a.target, load_manifest(a.manifest), a.reference, a.dest.parent if a.dest else None,
                           a.json, tool_python=os.environ.get("EDGE_OCR_TOOL_PYTHON"))
    print(table(report))
    return 0


TRUE, FALSE = ("true", "t", "yes", "y", "1", "on"), ("false", "f", "no", "n", "0", "off")


def _bool(v: str) -> bool:
    """PaddleOCR's spellings of a boolean flag's value; anything else is refused (PaddleOCR would read a typo as
    False)."""
    if v.lower() in TRUE:
        return True
    if v.lower() in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, not {v!r}")


class _Deprecated(argparse.Action):
    """PaddleOCR 2.x flags PaddleOCR 3.x still takes, with its warning."""

    def __call__(self, parser, namespace, values, option_string=None):
        warnings.warn(f"The option `{option_string}` has been deprecated and will be removed in the future. Please "
                      "refer to the documentation for more details.", DeprecationWarning)
        setattr(namespace, self.dest, values)


def _add_ocr_flags(p: argparse.ArgumentParser) -> None:
    """Every flag of `paddleocr ocr`, same names, values and meaning: the OCR options (edge.options.OcrOptions),
    PaddleOCR's other parameters (edge.compat.params.PARAMS) and its deprecated 2.x names."""
    from .compat.params import DEPRECATED, PARAMS
    from .options import OcrOptions, value_kind

    kinds = {}
    for name, field in OcrOptions.model_fields.items():
        kind, choices = value_kind(name)
        kinds[name] = (kind, choices)
        if kind is bool:
            p.add_argument(f"--{name}", type=_bool, nargs="?", const=True, default=None, help=field.description)
        else:
            p.add_argument(f"--{name}", type=kind, choices=choices, default=None, help=field.description)
    for name, prm in PARAMS.items():
        kinds[name] = (prm.type, prm.choices)
        p.add_argument(f"--{name}", type=_bool if prm.type is bool else prm.type, nargs=prm.nargs,
                       choices=prm.choices, metavar=("C", "H", "W") if prm.nargs == 3 else None, default=None,
                       help=prm.help)
    for old, new in DEPRECATED.items():
        kind, choices = kinds[new]
        p.add_argument(f"--{old}", type=_bool if kind is bool else kind, choices=choices, action=_Deprecated,
                       default=None, help=f"[Deprecated] Please use `--{new}` instead.")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from .compat.params import CompatNote

    print(f"edge-ocr: {'note' if issubclass(category, CompatNote) else 'warning'}: {message}", file=sys.stderr)


def _ocr(a) -> int:
    """`paddleocr ocr`: PaddleOCR's class with the flags given, every result printed in its short form and saved
    with save_all(); unlike PaddleOCR, a bad input is reported and the others go on (exit 65 at the end)."""
    from .api import expand_inputs
    from .compat.params import COMMON, DEPRECATED, PARAMS
    from .compat.paddleocr import PaddleOCR
    from .options import OcrOptions
    from .progress import Progress

    names = {*OcrOptions.model_fields, *PARAMS, *DEPRECATED, *COMMON}
    given = {n: getattr(a, n, None) for n in names if getattr(a, n, None) is not None}
    ocr = PaddleOCR(**given, profile=a.profile, models_dir=a.models_dir, memory_mb=a.memory_mb,
                    memory_policy=a.memory_policy)
    inputs = expand_inputs(a.input)
    if not inputs:
        print(f"edge-ocr: error: no image or PDF files in {a.input}", file=sys.stderr)
        return 66
    failed = 0
    progress = Progress(len(inputs), enabled=len(inputs) > 1)
    current = None
    try:
        # one call over every input: the next page's detection overlaps this page's recognition (same results)
        for r in ocr.results(inputs, page_limit=a.page_limit):
            if r["input_path"] != current:
                if current is not None:
                    progress.step(str(current))
                current = r["input_path"]
            if not r.ok:
                failed += 1
                progress.write(f"edge-ocr: error: {r['error']}" + (f"\n  what to do: {r['hint']}" if r["hint"] else ""))
                continue
            for w in r.warnings:
                progress.write(f"edge-ocr: warning: {r['input_path']}: {w}")
            if a.save_path:
                r.save_all(a.save_path)
            if not a.quiet:
                progress.clear()
                r.print()
    finally:
        ocr.close()
    if current is not None:
        progress.step(str(current))
    progress.done()
    if failed:
        print(f"edge-ocr: {failed} input(s) failed, see above", file=sys.stderr)
        return 65
    return 0


def _profiles(a) -> int:
    import json as _json

    from .profiles import detect, list_profiles, load_profile

    if a.action == "list":
        for p in list_profiles():
            problems = p.runnable_problems()
            print(f"{p.name:18s} {p.engine.key:12s} {p.model_kind():7s} {'runs here' if not problems else 'not here':10s} "
                  f"{p.description}")
        return 0
    if a.action == "keys":
        from .profiles import documented_keys

        rows = documented_keys()
        wk, wt = (max(len(r[i]) for r in rows) for i in (0, 1))
        for key, typ, text in rows:
            print(f"{key:{wk}s}  {typ:{wt}s}  {text}")
        return 0
    if a.action == "detect":
        from .profiles import read_compatible

        prof, reason = detect(compatible=read_compatible(a.device_tree) if a.device_tree else None)
        print(f"{prof.name}\t({reason})")
        return 0
    if not a.name:
        print(f"edge-ocr: error: profiles {a.action} needs a profile name", file=sys.stderr)
        return 64
    prof = load_profile(a.name)
    if a.action == "show":
        print(_json.dumps(prof.model_dump(mode="json"), indent=2))
        return 0
    from .doctor import model_checks

    problems = prof.runnable_problems() + [f"{c.detail} ({c.hint})" if c.hint else c.detail
                                           for c in model_checks(None, prof) if not c.ok]
    for dev in prof.device_nodes():
        if not Path(dev).exists():
            problems.append(f"NPU device node {dev} is missing (is the NPU driver loaded?)")
    for w in prof.warnings():
        print(f"warning: {w}", file=sys.stderr)
    if problems:
        print(f"profile {prof.name}: NOT usable here")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"profile {prof.name}: ok ({prof.engine.key}, {prof.model_kind()} models)")
    return 0


def _bench(a) -> int:
    import json
    from .bench import (bench_det_sizes, bench_engines, bench_memory_model, bench_one, bench_peer, det_sizes_table,
                        memory_probe, peer_table, table)

    if a.memory_probe:
        h, w = (int(v) for v in a.memory_probe.split("x"))
        print(json.dumps(memory_probe(h, w, a.profile, a.engine[0] if a.engine else None)))
        return 0
    if a.memory_model:
        report = bench_memory_model(a.profile, a.engine[0] if a.engine else None)
        _write_json(report, a.json)
        for pt in report["points"]:
            print(f"page {pt['image_pixels'] / 1e6:5.1f} MP, detection {pt['det_pixels'] / 1e6:5.1f} MP: "
                  f"{pt['extra_mb']:7.0f} MB above {pt['idle_mb']:.0f} MB idle")
        print("\n[memory.model]")
        for k, v in report["model"].items():
            print(f"{k} = {json.dumps(v)}")
        return 0
    if not a.inputs:
        print("edge-ocr: error: bench needs images, PDFs or folders to measure", file=sys.stderr)
        return 64
    if a.det_sizes:
        report = bench_det_sizes(a.inputs, a.det_sizes, a.profile, a.engine[0] if a.engine else None, a.reference,
                                 a.repeat)
        _write_json(report, a.json)
        print(f"{report['profile']} ({report['engine']}), fidelity against {report['against']}:")
        print(det_sizes_table(report))
        return 0
    if a.peer:
        report = bench_peer(a.inputs, a.peer, a.profile, a.engine[0] if a.engine else None, a.runs,
                            a.repeat, cold=not a.no_cold)
        _write_json(report, a.json)
        print(peer_table(report))
        return 0
    if a.in_process:
        report = bench_one(a.inputs, a.profile, a.engine[0] if a.engine else None, a.repeat)
    else:
        pythons = dict(a.engine_python)
        report = bench_engines(a.inputs, a.engine, a.profile, a.repeat, pythons)
    _write_json(report, a.json)
    if not a.in_process:
        print(table(report))
    return 0


def _write_json(report: dict, dest: str | None) -> None:
    import json

    if dest:
        text = json.dumps(report, indent=1)
        (sys.stdout.write(text + "\n") if str(dest) == "-" else Path(dest).write_text(text))


def _engine_python(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"expected ENGINE=PYTHON, not {text!r}")
    return key, value


def _run(a) -> int:
    from .config import load_settings
    from .daemon import run_daemon
    from .service.sdnotify import SdNotifier

    settings = load_settings(a.config)
    logging.getLogger().setLevel(settings.log_level if not a.verbose else "DEBUG")
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1` prints every thread's stack to the log
    return run_daemon(settings, SdNotifier())


def _config_check(a) -> int:
    import json as _json

    from .config import load_settings

    settings = load_settings(a.config)
    print(_json.dumps(settings.masked(), indent=2))
    return 0


def _doctor(a) -> int:
    from .doctor import report, run_checks

    checks = run_checks(config=a.config)
    print(report(checks))
    return 0 if all(c.ok for c in checks) else 1


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", type=Path, help="model manifest (default: models_mobile/manifest.toml)")
    p.add_argument("--dest", type=Path, help="build folder (default: models_mobile/build)")


def parser() -> argparse.ArgumentParser:
    from .engine import engine_keys
    from .peers import PEERS

    ap = argparse.ArgumentParser(prog="edge-ocr", description="Offline OCR appliance runtime (PP-OCRv5 mobile).")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="build, import and verify the models").add_subparsers(dest="sub", required=True)
    p = models.add_parser("build", help="convert the manifest's models to ONNX and Paddle Lite (cached)")
    _add_model_args(p)
    p.add_argument("--force", action="store_true", help="rebuild even when a cached build matches")
    p.add_argument("--target", help="also build for an NPU: nnadapter (int8, Paddle Lite), rknn-rk3566, rknn-rk3568, "
                                    "rknn-rk3576, rknn-rk3588 (models_mobile/npu.toml; x86_64 build host)")
    p.add_argument("--reference", type=Path, help="--target: reference folder whose calibration part (see "
                                                  "edge/modelbuild/calibration.py) joins the rendered calibration data")
    p.set_defaults(func=_models_build)
    p = models.add_parser("import", help="convert user-supplied official PaddleX files into a model slot")
    p.add_argument("slot", help="manifest model key, e.g. textline_x0_25")
    p.add_argument("folder", type=Path, help="folder with inference.json, inference.pdiparams, inference.yml")
    _add_model_args(p)
    p.set_defaults(func=_models_import)
    p = models.add_parser("verify", help="prove numerical parity of every built model in every engine installed here")
    _add_model_args(p)
    p.add_argument("--reference", type=Path, help="folder of real images (with PaddleOCR JSON results) to test on")
    p.add_argument("--json", type=Path, help="also write the report as JSON")
    p.add_argument("--target", help="an NPU build (nnadapter, rknn-<soc>) run on this host the most faithful way it "
                                    "has, scored against the official outputs and fp32 ONNX (needs --reference)")
    p.set_defaults(func=_models_verify)

    p = sub.add_parser("ocr", help="PaddleOCR's `ocr` command: OCR images, folders, PDFs and TIFFs; print results, "
                                   "optionally save JSON and images (every `paddleocr ocr` flag is accepted)")
    p.add_argument("-i", "--input", required=True, help="image, PDF, TIFF, folder, or http(s) URL")
    p.add_argument("--save_path", type=Path, help="folder for <stem>_res.json and <stem>_ocr_res_img.<ext>")
    p.add_argument("--profile", help="device profile (default: detected; --device may choose another)")
    p.add_argument("--models_dir", type=Path, help="folder with manifest.toml and build/ (default: models_mobile)")
    p.add_argument("--page_limit", type=int, help="read only the first N pages of a PDF or TIFF")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print results")
    p.add_argument("--memory_mb", type=int, help="memory budget (MB); pages over it are downscaled or refused")
    p.add_argument("--memory_policy", choices=("downscale", "refuse"), help="what a page over --memory_mb gets")
    _add_ocr_flags(p)
    p.set_defaults(func=_ocr)

    p = sub.add_parser("run", help="the appliance daemon: scan folder and MQTT in, results out")
    p.add_argument("--config", type=Path, help="TOML configuration (default: $EDGE_OCR_CONFIG, else built-in defaults)")
    p.set_defaults(func=_run)

    p = sub.add_parser("config", help="configuration").add_subparsers(dest="sub", required=True)
    c = p.add_parser("check", help="print the effective configuration (secrets masked); non-zero exit on errors")
    c.add_argument("--config", type=Path)
    c.set_defaults(func=_config_check)

    p = sub.add_parser("doctor", help="check Python, engine, profile, models, devices, folders, broker")
    p.add_argument("--config", type=Path)
    p.set_defaults(func=_doctor)

    p = sub.add_parser("profiles", help="device profiles: list, show NAME, detect, check NAME, keys")
    p.add_argument("action", choices=["list", "show", "detect", "check", "keys"])
    p.add_argument("name", nargs="?")
    p.add_argument("--device-tree", type=Path, help=(
        "with detect: read this file instead of /proc/device-tree/compatible (what a given board would get)"))
    p.set_defaults(func=_profiles)

    p = sub.add_parser("bench", help="per-stage latency, pages/s, load time and peak RSS of every engine, with ratios")
    p.add_argument("inputs", nargs="*", help="images, PDFs or folders (not with --memory-model)")
    p.add_argument("--engine", action="append", choices=engine_keys(),
                   help="measure this engine (repeatable; default: every engine that runs here); the first is the "
                        "baseline of the ratios")
    p.add_argument("--engine-python", action="append", default=[], type=_engine_python, metavar="ENGINE=PYTHON",
                   help="run this engine's measurement with another interpreter (e.g. the Paddle Lite environment)")
    p.add_argument("--profile", help="device profile (default: this host's highest-priority profile of each engine)")
    p.add_argument("--repeat", type=int, default=3, help="timed (warm) passes after the first pass")
    p.add_argument("--json", help="write the report as JSON to this file (- for stdout)")
    p.add_argument("--peer", choices=sorted(PEERS), help=(
        "run this OCR system too, in its own tool environment under the cache, on the same inputs in the same run: "
        "first-pass/warm totals, per-file medians, cold and process peak RSS, import+init, ratios and edge-ocr's "
        "fidelity to its outputs (edge-ocr on --profile/--engine, default: the detected profile)"))
    p.add_argument("--det-sizes", type=lambda t: [int(x) for x in t.split(",")], metavar="N,N,...", help=(
        "measure each detection max side (e.g. 1280,1600,2048,4000): fidelity, warm time and peak RSS, for choosing "
        "an edge profile's [det] max_side_limit"))
    p.add_argument("--memory-model", action="store_true", help=(
        "measure the profile's memory model (a fresh process per page size) and print it as a [memory.model] section"))
    p.add_argument("--memory-probe", help=argparse.SUPPRESS)
    p.add_argument("--reference", help="with --det-sizes: folder of the official <stem>_res.json outputs")
    p.add_argument("--runs", type=int, default=3, help="with --peer: processes per system over all files (medians)")
    p.add_argument("--no-cold", action="store_true", help="with --peer: skip the fresh process per file")
    p.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=_bench)
    return ap


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings():  # warnings (PaddleOCR's deprecations, compatibility notes) as one line each
        warnings.simplefilter("default", DeprecationWarning)
        warnings.showwarning = _show_warning
        a = parser().parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        try:
            return a.func(a)
        except EdgeError as e:
            print(f"edge-ocr: error: {e.message}", file=sys.stderr)
            if e.hint:
                print(f"  what to do: {e.hint}", file=sys.stderr)
            return e.exit_code
        except KeyboardInterrupt:
            return 130
        except Exception:  # an internal failure, not the user's input: distinct exit code, full traceback
            logging.getLogger("edge").exception("internal error")
            return 70


if __name__ == "__main__":
    sys.exit(main())
