"""The command line as a person runs it: real subprocesses, real files."""
import json
import os

import pytest

from conftest import ROOT, run_cli
from edge.engine import plugin


def test_ocr_folder_writes_json_and_images_for_every_page(reference, tmp_path):
    r = run_cli("ocr", "-i", reference / "images", "--save_path", tmp_path, "--profile", "x86-onnxruntime", "-q")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((reference / "manifest.json").read_text())
    keys = [p["key"] for e in manifest for p in e["pages"]]
    for key in keys:
        data = json.loads((tmp_path / f"{key}_res.json").read_text())
        assert "rec_texts" in data
        assert list(tmp_path.glob(f"{key}_ocr_res_img.*")), key


def test_ocr_prints_results_with_paddleocr_flags(reference):
    """PaddleOCR's print(): the result in its short form, arrays elided (a page is a few lines, not hundreds)."""
    r = run_cli("ocr", "-i", reference / "images" / "rapid_text_cls.jpg", "--profile", "x86-onnxruntime",
                "--use_textline_orientation", "True", "--use_doc_orientation_classify", "--text_det_thresh", "0.3",
                "--use_doc_unwarping", "False")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("{'res': {'input_path': ") and "'rec_texts': ['怪我咯']" in r.stdout
    assert "'use_textline_orientation': True" in r.stdout and "..." in r.stdout and len(r.stdout.splitlines()) < 20


def test_exit_codes_tell_bad_input_from_bad_config(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    r = run_cli("ocr", "-i", bad, "--profile", "x86-onnxruntime")
    assert r.returncode == 65 and "bad.jpg: not an image or PDF" in r.stderr
    r = run_cli("ocr", "-i", bad, "--profile", "no-such-board")
    assert r.returncode == 78 and "unknown profile 'no-such-board'" in r.stderr
    r = run_cli("ocr", "-i", bad, "--profile", "a311d-npu")
    assert r.returncode == 69 and "/dev/galcore is missing" in r.stderr
    r = run_cli("ocr", "-i", bad, "--profile", "x86-onnxruntime", "--use_doc_unwarping")
    assert r.returncode == 2 and "unwarping" in r.stderr


def test_profiles_commands():
    r = run_cli("profiles", "list")
    assert r.returncode == 0
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert {"x86-onnxruntime", "x86-openvino", "x86-paddlelite", "arm-cpu", "rpi4", "rpi5", "a311d-npu",
            "rv1126-npu"} <= set(names)
    r = run_cli("profiles", "show", "rpi4")
    assert json.loads(r.stdout)["engine"]["key"] == "paddlelite"
    r = run_cli("profiles", "check", "x86-openvino")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("profiles", "check", "rv1126-npu")
    assert r.returncode == 1 and "/dev/galcore" in r.stdout
    r = run_cli("profiles", "detect")
    assert r.returncode == 0 and r.stdout.startswith("x86-openvino")


@pytest.mark.paddlelite
def test_paddle_lite_profile_checks_in_its_environment():
    r = run_cli("profiles", "check", "x86-paddlelite")
    assert r.returncode == 0, r.stdout + r.stderr


def test_paddle_lite_profile_outside_its_environment_says_what_to_do(tmp_path):
    if plugin("paddlelite").installed():
        pytest.skip("Paddle Lite is installed in this environment")
    img = tmp_path / "a.png"
    img.write_bytes(b"x")
    r = run_cli("ocr", "-i", img, "--profile", "x86-paddlelite")
    assert r.returncode == 69
    assert "pip install 'edge-ocr[paddlelite]'" in r.stderr and "numpy 2" in r.stderr
    assert "profiles that run here:" in r.stderr


def test_bench_reports_every_engine_with_ratios_in_one_run(reference, tmp_path):
    """The runtime's engines here, Paddle Lite through its own environment's interpreter, ratios over the first."""
    lite_python = ROOT / ".venv-lite" / "bin" / "python"
    if not lite_python.exists() and not os.environ.get("CI"):
        pytest.skip("no .venv-lite (make setup creates it)")
    out = tmp_path / "bench.json"
    r = run_cli("bench", reference / "images" / "rapid_en.jpg", reference / "images" / "ppocr_11.jpg",
                "--repeat", "1", "--json", out, "--engine", "onnxruntime", "--engine", "openvino",
                "--engine", "paddlelite", "--engine-python", f"paddlelite={lite_python}")
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["baseline"] == "onnxruntime" and list(report["runs"]) == ["onnxruntime", "openvino", "paddlelite"]
    for engine, run in report["runs"].items():
        assert run["engine"] == engine and run["engine_info"]["version"]
        assert run["pages_per_pass"] == 2 and run["pages_per_second"] > 0 and run["peak_rss_mb"] > 0
        assert set(run["stage_mean_seconds"]) == {"decode", "doc_orientation", "det", "cls", "rec", "total"}
        assert run["first_pass_seconds"] > 0 and run["first_pass_stage_mean_seconds"]["det"] > 0
    assert report["runs"]["paddlelite"]["python"].startswith("3.10")
    assert report["runs"]["openvino"]["engine_info"]["precision"] == "f32"
    assert set(report["ratios"]) == {"openvino", "paddlelite"}
    assert report["ratios"]["openvino"]["first_pass_seconds"] > 0
    assert "openvino/onnxruntime" in r.stdout and "paddlelite/onnxruntime" in r.stdout
