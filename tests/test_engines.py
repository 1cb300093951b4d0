"""Every engine on the real built models: shape changes, the plugin registry, damaged files, clear refusals."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from edge.engine import create_engine, engine_keys, options_for, plugin
from edge.errors import ConfigError, EngineError, ModelError
from edge.models import BuiltModels
from edge.pipeline.rec import ctc_decode, pad_batch, rec_normalize
from edge.profiles import load_profile, load_profile_file

lite = pytest.mark.paddlelite


def test_registry_finds_every_engine_module_and_names_them_when_unknown():
    assert engine_keys() == ["onnxruntime", "openvino", "paddlelite", "rknn"]
    with pytest.raises(ConfigError, match="choose one of: onnxruntime, openvino, paddlelite, rknn"):
        create_engine("tensorrt")


def test_listing_engines_imports_no_inference_library():
    code = ("import sys; from edge.engine import plugins; from edge.profiles import list_profiles; plugins(); "
            "list_profiles(); print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('onnxruntime', 'openvino', 'paddlelite', 'rknnlite', 'rknn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_engine_name_outside_the_engine_package_and_profiles():
    """Adding an engine means adding its module and profiles: no other product code selects, imports or branches on
    an engine by name (prose may mention them)."""
    uses = [u for k in engine_keys() for u in (f'"{k}"', f"'{k}'", f"import {k}", f"from {k}", f"{k}.")]
    offenders = []
    for path in (ROOT / "edge").rglob("*.py"):
        rel = path.relative_to(ROOT / "edge")
        if rel.parts[0] in ("engine", "modelbuild"):  # the build chain runs paddle_lite_opt as a converter tool
            continue
        text = path.read_text()
        offenders += [f"{rel}: {u}" for u in uses if u in text]
    assert offenders == []


def _rec_batches(samples, spec):
    crops = sorted(samples.crops.values(), key=lambda c: c.shape[1] / c.shape[0])
    short, mid, long_ = crops[:6], crops[8:14], crops[-6:]
    seq = [short[:1], mid, short[:1], long_, short, mid, long_[:1], short[:1]]  # widths and batch sizes go back and forth
    return [pad_batch([rec_normalize(c, spec) for c in batch]) for batch in seq]


def test_openvino_follows_shape_changes_on_one_compiled_model(built, manifest, samples):
    """One compiled model per network serves every batch size and width, and reads what ONNX Runtime reads."""
    ort = create_engine("onnxruntime").load(built, "rec")
    ov = create_engine("openvino").load(built, "rec")
    chars = built.dictionary()
    shapes = set()
    for x in _rec_batches(samples, manifest.model("rec").input):
        shapes.add(x.shape)
        expected, got = ort.run(x), ov.run(x)
        assert np.abs(expected - got).max() < 1e-3, x.shape  # the verify tolerance for recognition
        assert [d[0] for d in ctc_decode(expected, chars)] == [d[0] for d in ctc_decode(got, chars)]
    assert len(shapes) >= 5
    det_ort, det_ov = create_engine("onnxruntime").load(built, "det"), create_engine("openvino").load(built, "det")
    rng = np.random.default_rng(1)
    for h, w in [(320, 320), (480, 640), (320, 320), (736, 960)]:
        x = rng.uniform(-2, 2, (1, 3, h, w)).astype(np.float32)
        assert np.abs(det_ort.run(x) - det_ov.run(x)).max() < 5e-4  # and for detection


def test_openvino_is_exact_by_default_and_lossy_only_on_request():
    engine = create_engine("openvino")
    assert engine.config()["INFERENCE_PRECISION_HINT"] == "f32"
    assert create_engine(options_for("openvino", precision="bf16")).config()["INFERENCE_PRECISION_HINT"] == "bf16"
    assert engine.describe()["precision"] == "f32" and engine.describe()["version"]


def test_engine_option_of_wrong_type_or_unknown_names_key_and_file(tmp_path):
    p = tmp_path / "board.toml"
    p.write_text('name = "b"\ndescription = "d"\n[engine]\nkey = "openvino"\nprecision = "int4"\n')
    with pytest.raises(ConfigError, match=r"(?s)board\.toml.*engine\.openvino\.precision"):
        load_profile_file(p)
    p.write_text('name = "b"\ndescription = "d"\n[engine]\nkey = "onnxruntime"\ntarget = "arm"\n')
    with pytest.raises(ConfigError, match=r"(?s)board\.toml.*engine\.onnxruntime\.target: unknown key"):
        load_profile_file(p)
    p.write_text('name = "b"\ndescription = "d"\n[engine]\nkey = "onnxruntime"\nthreads = "four"\n')
    with pytest.raises(ConfigError, match=r"engine\.onnxruntime\.threads"):
        load_profile_file(p)


def test_paddle_lite_without_its_environment_says_what_to_install():
    """In the runtime environment (numpy 2, no paddlelite): both reasons, the pip command and what runs instead."""
    if plugin("paddlelite").installed():
        pytest.skip("Paddle Lite is installed in this environment")
    with pytest.raises(EngineError) as e:
        load_profile("x86-paddlelite").ensure_runnable()
    text = f"{e.value.message} {e.value.hint}"
    assert "pip install 'edge-ocr[paddlelite]'" in text
    assert "numpy 2" in text and "garbage" in text
    assert "profiles that run here:" in text and "x86-onnxruntime" in text


@lite
def test_naive_predictor_reuse_corrupts_results(built, manifest, samples):
    """The platform trap the engine exists to avoid: one x86 Lite predictor fed changing shapes returns garbage."""
    from paddlelite import lite as pl

    cfg = pl.MobileConfig()
    cfg.set_model_from_file(str(built.path("rec", "x86.nb")))
    naive = pl.create_paddle_predictor(cfg)
    worst = 0.0
    for x in _rec_batches(samples, manifest.model("rec").input):
        naive.get_input(0).from_numpy(x)
        naive.run()
        fresh = create_engine("paddlelite").load(built, "rec").run(x)
        worst = max(worst, float(np.abs(naive.get_output(0).numpy() - fresh).max()))
    assert worst > 0.1


@lite
def test_lite_engine_survives_shape_changes_back_and_forth(built, manifest, samples):
    """One predictor per shape (LRU): every run is bit-identical to a fresh predictor and reads as ONNX Runtime."""
    ort = create_engine("onnxruntime").load(built, "rec")
    engine = create_engine(options_for("paddlelite", max_cached_shapes=3)).load(built, "rec")
    chars = built.dictionary()
    shapes = set()
    for x in _rec_batches(samples, manifest.model("rec").input):
        shapes.add(x.shape)
        got = engine.run(x)
        fresh = create_engine("paddlelite").load(built, "rec").run(x)
        assert np.array_equal(got, fresh), x.shape
        expected = ort.run(x)
        assert np.abs(expected - got).max() < 5e-3  # heavily padded batches drift ~1e-3 between engines
        assert [d[0] for d in ctc_decode(expected, chars)] == [d[0] for d in ctc_decode(got, chars)]
    assert len(shapes) >= 5
    assert len(engine.cached_shapes) == 3  # the LRU bound holds


@lite
def test_det_shape_changes(built):
    ort = create_engine("onnxruntime").load(built, "det")
    engine = create_engine("paddlelite").load(built, "det")
    rng = np.random.default_rng(1)
    for h, w in [(320, 320), (480, 640), (320, 320), (736, 960), (480, 640)]:
        x = rng.uniform(-2, 2, (1, 3, h, w)).astype(np.float32)
        assert np.abs(ort.run(x) - engine.run(x)).max() < 5e-4


@lite
def test_threads_on_x86_lite_warns(caplog):
    with caplog.at_level("WARNING"):
        create_engine(options_for("paddlelite", threads=4))
    assert "threads=4 is ignored" in caplog.text


def test_bad_power_mode_is_rejected():
    with pytest.raises(ValueError, match="power_mode"):
        options_for("paddlelite", power_mode="TURBO")


@pytest.fixture
def build_copy(built, tmp_path):
    dst = tmp_path / "build"
    shutil.copytree(built.dir, dst, ignore=shutil.ignore_patterns("*.pb", "logs"))
    return dst


@pytest.mark.parametrize("engine,kind", [pytest.param("paddlelite", "x86.nb", marks=lite), ("onnxruntime", "onnx"),
                                         ("openvino", "onnx")])
def test_corrupt_model_file_is_an_error_not_a_crash(build_copy, engine, kind):
    """Paddle Lite aborts the process on a damaged buffer; the lock's sha256 stops the file before it gets there."""
    p = build_copy / f"det.{kind}"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=rf"det\.{kind.replace('.', '[.]')} is corrupt"):
        create_engine(engine).load(BuiltModels(build_copy), "det")


@lite
def test_missing_model_file_and_lock(build_copy):
    (build_copy / "rec.x86.nb").unlink()
    with pytest.raises(ModelError, match=r"rec\.x86\.nb is missing"):
        create_engine("paddlelite").load(BuiltModels(build_copy), "rec")
    (build_copy / "lock.json").unlink()
    with pytest.raises(ModelError, match="run `edge-ocr models build`"):
        BuiltModels(build_copy)


def test_x0_25_slot_explains_how_to_import(built):
    if built.has("textline_x0_25"):
        pytest.skip("a PP-LCNet_x0_25_textline_ori has been imported into this build")
    with pytest.raises(ModelError, match="models import textline_x0_25 DIR"):
        built.path("textline_x0_25", "onnx")


def test_openvino_never_phones_home(built, tmp_path):
    """OpenVINO's converter sends usage telemetry on import unless opted out: with the engine loaded and run, no
    telemetry module is live and nothing was written to the user's home (where its client id would go)."""
    code = ("import sys, numpy as np; from edge.engine import create_engine; from edge.models import BuiltModels; "
            f"p = create_engine('openvino').load(BuiltModels({str(built.dir)!r}), 'det'); "
            "p.run(np.zeros((1, 3, 64, 64), np.float32)); "
            "print(sys.modules.get('openvino_telemetry'), 'openvino' in sys.modules)")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code], capture_output=True, text=True,
                       env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["None", "True"]
    assert list(tmp_path.iterdir()) == []
