"""The set-up the README's two commands rely on: the interpreter finder and the pinned versions."""
import importlib.util
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from conftest import ROOT

FINDER = ROOT / "scripts" / "find-python.sh"
RESULT_PACKAGES = ("numpy", "opencv-python-headless", "onnxruntime", "openvino", "pyclipper", "pypdfium2", "paddlelite")


def test_find_python_explains_what_to_install(tmp_path):
    r = subprocess.run(["/bin/bash", str(FINDER), "EDGE_OCR_PYTHON", "3.13", "3.12"], capture_output=True, text=True,
                       env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert r.returncode == 1
    assert "no CPython 3.13 3.12 found" in r.stderr and "apt-get install python3 python3-venv" in r.stderr
    assert "EDGE_OCR_PYTHON=/path/to/python3.13" in r.stderr
    r = subprocess.run(["/bin/bash", str(FINDER), "EDGE_OCR_PYTHON", "3.13"], capture_output=True, text=True,
                       env={"PATH": str(tmp_path), "EDGE_OCR_PYTHON": "/nonexistent/python"})
    assert r.returncode == 1 and "EDGE_OCR_PYTHON=/nonexistent/python is not CPython 3.13" in r.stderr


def test_find_python_prefers_the_newest_it_is_given():
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    r = subprocess.run(["/bin/bash", str(FINDER), "X", "3.99", here], capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 0, r.stderr
    out = subprocess.run([r.stdout.strip(), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True).stdout.strip()
    assert out == here


def test_results_packages_are_the_pinned_ones():
    """make setup installs with the environment's constraints file: what decides the text is what was proven exact.
    The runtime (.venv) is modern: CPython 3.11+ there, numpy 2 wherever Paddle Lite is not installed."""
    from packaging.requirements import Requirement

    lite = importlib.util.find_spec("paddlelite") is not None
    if not lite:
        assert int(metadata.version("numpy").split(".")[0]) >= 2
        if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
            assert sys.version_info[:2] >= (3, 11)
    checked = 0
    for line in (ROOT / "constraints" / ("paddlelite.txt" if lite else "runtime.txt")).read_text().splitlines():
        line = line.split("  #")[0].strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        if req.name.lower() in RESULT_PACKAGES and (req.marker is None or req.marker.evaluate()):
            assert metadata.version(req.name) in req.specifier, req.name
            checked += 1
    assert checked >= 5
