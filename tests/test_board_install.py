"""scripts/install_board.py, the board's install step (README, 'Deployment to an ARM device'): it installs on
emulated aarch64 in test_arm64; here, what it says when a board cannot have edge-ocr, with a real venv and pip."""
import importlib.util
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "install_board.py"


@pytest.fixture(scope="module")
def installer():
    spec = importlib.util.spec_from_file_location("install_board", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_board_pip_cannot_serve_is_told_what_to_install_instead(installer):
    assert installer.board_problem("aarch64", (3, 11)) is None
    assert installer.board_problem("x86_64", (3, 13)) is None
    armv7 = installer.board_problem("armv7l", (3, 11))
    assert "armv7l" in armv7 and "64-bit OS" in armv7 and "Paddle Lite" in armv7
    assert "3.10 or newer" in installer.board_problem("aarch64", (3, 9))
    out = "ERROR: No matching distribution found for openvino==2026.4.1"
    assert installer.missing_wheel(out) == "openvino"
    assert installer.missing_wheel("The conflict is caused by:\n    edge-ocr 0.1.0 depends on onnxruntime>=1.17\n"
                                   "    The user requested (constraint) onnxruntime==1.32.0") == "onnxruntime"
    assert installer.missing_wheel("ERROR: some other failure") is None
    said = installer.explain_pip_failure(out, "aarch64", (3, 11), "the package index")
    assert "no openvino wheel for CPython 3.11 on aarch64" in said and "glibc 2.35" in said and "arm-onnxruntime" in said


@pytest.fixture(scope="module")
def edge_wheel(tmp_path_factory):
    """edge-ocr's wheel, built as verify-arm64 builds it for the board."""
    spec = importlib.util.spec_from_file_location("verify_arm64", ROOT / "scripts" / "verify_arm64.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_wheel(tmp_path_factory.mktemp("wheel"))


def test_a_missing_dependency_wheel_stops_the_install_and_is_named(edge_wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    shutil.copy2(edge_wheel, wheels)  # edge-ocr itself, none of its dependencies: an offline board's folder
    p = subprocess.run([str(venv / "bin" / "python"), str(SCRIPT), str(wheels / edge_wheel.name), "--find-links",
                        str(wheels)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"edge-ocr was not installed: {wheels} has no " in p.stderr and " wheel for CPython" in p.stderr
    assert not list((venv / "lib").glob("python*/site-packages/edge"))


def test_it_refuses_to_install_into_the_system_python(tmp_path):
    p = subprocess.run([sys.executable, str(SCRIPT), "edge_ocr-0-py3-none-any.whl"], capture_output=True, text=True)
    if sys.prefix != sys.base_prefix:  # the tests run in .venv: the script sees a venv and goes on to pip
        p = subprocess.run([sys.base_prefix + "/bin/python3", str(SCRIPT), "x.whl"], capture_output=True, text=True)
    assert p.returncode == 2 and "run this with the venv's Python" in p.stderr
