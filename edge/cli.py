"""`edge-ocr` command line: subcommands map onto modules; EdgeError becomes a message and an exit code."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .errors import EdgeError


def _models_build(a) -> int:
    from .modelbuild.build import build
    from .models import load_manifest

    dest = build(load_manifest(a.manifest), a.dest, force=a.force)
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

    report = verify(load_manifest(a.manifest), a.dest, reference=a.reference, json_out=a.json)
    print(report.table())
    if not report.ok:
        print(f"\nFAILED: {len(report.failures)} check(s) out of tolerance", file=sys.stderr)
        return 1
    print(f"\nall {len(report.rows)} checks within tolerance")
    return 0


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", type=Path, help="model manifest (default: models_mobile/manifest.toml)")
    p.add_argument("--dest", type=Path, help="build folder (default: models_mobile/build)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="edge-ocr", description="Offline OCR appliance runtime (PP-OCRv5 mobile).")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="build, import and verify the models").add_subparsers(dest="sub", required=True)
    p = models.add_parser("build", help="convert the manifest's models to ONNX and Paddle Lite (cached)")
    _add_model_args(p)
    p.add_argument("--force", action="store_true", help="rebuild even when a cached build matches")
    p.set_defaults(func=_models_build)
    p = models.add_parser("import", help="convert user-supplied official PaddleX files into a model slot")
    p.add_argument("slot", help="manifest model key, e.g. textline_x0_25")
    p.add_argument("folder", type=Path, help="folder with inference.json, inference.pdiparams, inference.yml")
    _add_model_args(p)
    p.set_defaults(func=_models_import)
    p = models.add_parser("verify", help="prove numerical parity of every built model in both engines")
    _add_model_args(p)
    p.add_argument("--reference", type=Path, help="folder of real images (with PaddleOCR JSON results) to test on")
    p.add_argument("--json", type=Path, help="also write the report as JSON")
    p.set_defaults(func=_models_verify)
    return ap


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
