#!/usr/bin/env python3
"""Installs edge-ocr into a board's venv and says what to do when the board cannot have it.

Run by the venv's own Python (standard library only; pip runs in this process, so it also works where no
subprocess may start, as under qemu-user without binfmt_misc):

    python3 -m venv --system-site-packages --without-pip /opt/edge-ocr/.venv     # Debian's pip serves the venv
    /opt/edge-ocr/.venv/bin/python /opt/edge-ocr/install_board.py /opt/edge-ocr/edge_ocr-*.whl --extras openvino

It checks the CPU and the Python, installs the wheel with the pins in constraints/runtime.txt beside this script
(the versions `make verify-arm64` runs on emulated aarch64; the same as x86's), then imports each engine and says
which one does not and what to use instead. Exit status: 0 installed, 2 the board cannot have it, 1 pip failed.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import platform
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHEEL_MACHINES = {"x86_64", "amd64", "aarch64", "arm64"}  # PyPI has ONNX Runtime and OpenVINO wheels for these
ENGINES = {"onnxruntime": ("ONNX Runtime", "arm-onnxruntime"), "openvino": ("OpenVINO", "arm-openvino")}


def board_problem(machine: str, version: tuple[int, int]) -> str | None:
    """Why pip cannot give this board edge-ocr's engines, with what to do instead (None when it can)."""
    if machine.lower() not in WHEEL_MACHINES:
        return (f"this is {machine} (a 32-bit or unsupported CPU mode): PyPI has no ONNX Runtime or OpenVINO wheels "
                "for it. Install the board's 64-bit OS (aarch64: Raspberry Pi OS 64-bit, Debian or Ubuntu arm64), or "
                "use a Paddle Lite build for this CPU (README, 'Deployment to an ARM device', step 3)")
    if version < (3, 10):
        return (f"this is CPython {version[0]}.{version[1]}: edge-ocr needs 3.10 or newer (3.11-3.13 recommended). "
                "Install the distribution's python3 (Debian 12 and Raspberry Pi OS have 3.11) and make the venv with it")
    if not (HERE / "constraints" / "runtime.txt").exists() and not (HERE.parent / "constraints" / "runtime.txt").exists():
        return "constraints/runtime.txt is missing: copy the constraints/ folder beside this script"
    return None


def constraints_file() -> Path:
    for base in (HERE, HERE.parent):
        if (base / "constraints" / "runtime.txt").exists():
            return base / "constraints" / "runtime.txt"
    raise FileNotFoundError("constraints/runtime.txt")


def missing_wheel(pip_output: str) -> str | None:
    """The distribution pip found no installable file of, if that is why it failed: pip says it plainly, or, when a
    pin (constraint) has no file for this platform, as a conflict with that pin."""
    m = (re.search(r"No matching distribution found for ([A-Za-z0-9_.\-]+)", pip_output)
         or re.search(r"The user requested \(constraint\) ([A-Za-z0-9_.\-]+)==", pip_output))
    return m.group(1) if m else None


def explain_pip_failure(pip_output: str, machine: str, version: tuple[int, int], source: str) -> str:
    name = missing_wheel(pip_output)
    if name is None:
        return "pip failed (its messages are above); the system Python was not touched"
    py = f"CPython {version[0]}.{version[1]} on {machine}"
    advice = {"openvino": "OpenVINO's aarch64 wheels need glibc 2.35 or newer (Debian 12, Ubuntu 22.04 and later): "
                          "install without `--extras openvino` and use the arm-onnxruntime profile",
              "onnxruntime": "use CPython 3.11-3.13 on a 64-bit OS (ONNX Runtime publishes aarch64 wheels for those), "
                             "or the arm-openvino profile (`--extras openvino`)"}
    return (f"{source} has no {name} wheel for {py} at the pinned version: "
            + advice.get(name.lower(), "use CPython 3.11-3.13 on a 64-bit OS (x86_64 or aarch64), where every "
                                       "dependency has wheels"))


def run_pip(args: list[str]) -> tuple[int, str]:
    """pip in this process (no subprocess), its output shown and kept."""
    from pip._internal.cli.main import main as pip_main

    out = io.StringIO()

    class Tee(io.TextIOBase):
        def __init__(self, stream):
            self.stream = stream

        def write(self, s):
            out.write(s)
            return self.stream.write(s)

        def flush(self):
            self.stream.flush()

    with contextlib.redirect_stdout(Tee(sys.stdout)), contextlib.redirect_stderr(Tee(sys.stderr)):
        code = pip_main(args)
    return code, out.getvalue()


def engine_report(extras: list[str]) -> list[tuple[str, bool, str]]:
    """Each installed engine: does it import here, and what to use if not."""
    report = []
    for module in ["onnxruntime", *[e for e in extras if e in ENGINES and e != "onnxruntime"]]:
        label, profile = ENGINES[module]
        try:
            lib = importlib.import_module(module)
            report.append((label, True, f"{label} {getattr(lib, '__version__', '')} imports: profile {profile}"))
        except Exception as e:  # a wheel for the wrong glibc or CPU features raises more than ImportError
            other = [p for m, (_, p) in ENGINES.items() if m != module]
            report.append((label, False, f"{label} does not import on this board ({e}); use {', '.join(other)} "
                                         "instead, or a Paddle Lite build (README step 3)"))
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheel", help="edge_ocr-*.whl built on the build host (`pip wheel --no-deps -w dist .`)")
    ap.add_argument("--extras", default="", help="comma-separated extras, e.g. openvino")
    ap.add_argument("--find-links", help="install from this folder of wheels only (offline boards)")
    a = ap.parse_args(argv)
    machine, version = platform.machine(), sys.version_info[:2]
    problem = board_problem(machine, version)
    if problem:
        print(f"edge-ocr cannot be installed here: {problem}", file=sys.stderr)
        return 2
    if sys.prefix == sys.base_prefix:
        print("run this with the venv's Python (python3 -m venv --system-site-packages --without-pip DIR, then "
              "DIR/bin/python install_board.py ...): it installs into the Python that runs it", file=sys.stderr)
        return 2
    if importlib.util.find_spec("pip") is None:
        print("pip is missing: apt-get install python3-pip (the venv uses the system's pip: "
              "--system-site-packages)", file=sys.stderr)
        return 2
    extras = [e for e in a.extras.split(",") if e]
    target = f"{a.wheel}[{','.join(extras)}]" if extras else a.wheel
    args = ["install", "--disable-pip-version-check", "-c", str(constraints_file()), target]
    if a.find_links:
        args[1:1] = ["--no-index", "--find-links", a.find_links]
    code, output = run_pip(args)
    if code != 0:
        source = a.find_links or "the package index"
        print(f"edge-ocr was not installed: {explain_pip_failure(output, machine, version, source)}", file=sys.stderr)
        return 1
    importlib.invalidate_caches()  # pip just added packages to this interpreter's site-packages
    report = engine_report(extras)
    for _, ok, text in report:
        print(("ok    " if ok else "FAIL  ") + text)
    print("next: edge-ocr doctor --config /etc/edge-ocr/edge-ocr.toml (README, 'Deployment to an ARM device')")
    return 0 if any(ok for _, ok, _ in report) else 1


if __name__ == "__main__":
    sys.exit(main())
