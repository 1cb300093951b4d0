"""The ARM path, executed: edge-ocr installed the board's way into an emulated Debian 12 arm64 root and run there
(scripts/verify_arm64.py, a one-page subset of `make verify-arm64`): doctor, profile detection from a Raspberry Pi
4's and an RK3588's device tree, exact OCR against the official outputs, the daemon on a dropped scan."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.timeout(2400), pytest.mark.slow]


def test_edge_ocr_runs_on_emulated_aarch64_with_the_official_results(reference, tmp_path):
    tools = [Path("/usr/bin/qemu-aarch64"), shutil.which("debootstrap")]
    if os.geteuid() != 0 or not all(t and Path(t).exists() for t in tools):
        message = "needs root, qemu-user >= 9 and debootstrap (scripts/install-system-packages.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI has them: the ARM path must not rot unseen
        pytest.skip(message)
    out = tmp_path / "arm64.json"
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "verify_arm64.py"), "--pages", "rapid_short.png",
                        "--json", str(out)], capture_output=True, text=True, timeout=2400)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    report = json.loads(out.read_text())
    doctor = report["doctor"]
    pins = (ROOT / "constraints" / "runtime.txt").read_text()
    ort = re.search(r'^onnxruntime==([\d.]+); python_version >= "3.11"', pins, re.M).group(1)
    assert doctor["python"].endswith("on aarch64") and doctor["checks"] >= 8
    assert f"ONNX Runtime {ort} imports" in doctor["engine"]  # the board gets the same pins as x86
    assert doctor["verified"].startswith("executed on emulated aarch64")
    assert report["detect"]["Raspberry Pi 4"].startswith("arm-onnxruntime\t")
    assert "rpi4 (raspberrypi,4-model-b) cannot run here" in report["detect"]["Raspberry Pi 4"]
    assert report["detect"]["RK3588 board"].startswith("arm-onnxruntime\t")
    assert [o["profile"] for o in report["ocr"]] == ["arm-onnxruntime", "arm-openvino"]
    for o in report["ocr"]:
        assert (o["pages"], o["missing"], o["det_f1"], o["text_exact"], o["page_cer"], o["exact"]) == (
            1, 0, 1.0, 1.0, 0.0, True), o
    assert report["daemon"]["moved_to_done"] and report["daemon"]["rec_texts"]
