"""Both engines on the real built models: shape changes, per-shape predictor cache, damaged files."""
import shutil

import numpy as np
import pytest

from edge.engine import EngineOptions, create_engine
from edge.errors import ConfigError, ModelError
from edge.models import BuiltModels
from edge.pipeline.rec import ctc_decode, pad_batch, rec_normalize


def test_unknown_engine_names_the_choices():
    with pytest.raises(ConfigError, match="choose one of: paddlelite, onnxruntime"):
        create_engine("tensorrt")


def _rec_batches(samples, spec):
    crops = sorted(samples.crops.values(), key=lambda c: c.shape[1] / c.shape[0])
    short, mid, long_ = crops[:6], crops[8:14], crops[-6:]
    seq = [short[:1], mid, short[:1], long_, short, mid, long_[:1], short[:1]]  # widths and batch sizes go back and forth
    return [pad_batch([rec_normalize(c, spec) for c in batch]) for batch in seq]


def test_naive_predictor_reuse_corrupts_results(built, manifest, samples):
    """The platform trap the engine exists to avoid: one x86 Lite predictor fed changing shapes returns garbage."""
    from paddlelite import lite

    cfg = lite.MobileConfig()
    cfg.set_model_from_file(str(built.path("rec", "x86.nb")))
    naive = lite.create_paddle_predictor(cfg)
    worst = 0.0
    for x in _rec_batches(samples, manifest.model("rec").input):
        naive.get_input(0).from_numpy(x)
        naive.run()
        fresh = create_engine("paddlelite").load(built, "rec").run(x)
        worst = max(worst, float(np.abs(naive.get_output(0).numpy() - fresh).max()))
    assert worst > 0.1


def test_lite_engine_survives_shape_changes_back_and_forth(built, manifest, samples):
    """One predictor per shape (LRU): every run is bit-identical to a fresh predictor and reads as ONNX Runtime."""
    ort = create_engine("onnxruntime").load(built, "rec")
    lite = create_engine("paddlelite", EngineOptions(target="x86", max_cached_shapes=3)).load(built, "rec")
    chars = built.dictionary()
    shapes = set()
    for x in _rec_batches(samples, manifest.model("rec").input):
        shapes.add(x.shape)
        got = lite.run(x)
        fresh = create_engine("paddlelite").load(built, "rec").run(x)
        assert np.array_equal(got, fresh), x.shape
        expected = ort.run(x)
        assert np.abs(expected - got).max() < 5e-3  # heavily padded batches drift ~1e-3 between engines
        assert [t for t, _ in ctc_decode(expected, chars)] == [t for t, _ in ctc_decode(got, chars)]
    assert len(shapes) >= 5
    assert len(lite.cached_shapes) == 3  # the LRU bound holds


def test_det_shape_changes(built):
    ort = create_engine("onnxruntime").load(built, "det")
    lite = create_engine("paddlelite").load(built, "det")
    rng = np.random.default_rng(1)
    for h, w in [(320, 320), (480, 640), (320, 320), (736, 960), (480, 640)]:
        x = rng.uniform(-2, 2, (1, 3, h, w)).astype(np.float32)
        assert np.abs(ort.run(x) - lite.run(x)).max() < 5e-4


def test_threads_on_x86_lite_warns(caplog):
    with caplog.at_level("WARNING"):
        create_engine("paddlelite", EngineOptions(threads=4))
    assert "threads=4 is ignored" in caplog.text


def test_bad_power_mode_is_rejected():
    with pytest.raises(ConfigError, match="power_mode"):
        create_engine("paddlelite", EngineOptions(power_mode="TURBO"))


@pytest.fixture
def build_copy(built, tmp_path):
    dst = tmp_path / "build"
    shutil.copytree(built.dir, dst, ignore=shutil.ignore_patterns("*.pb", "logs"))
    return dst


@pytest.mark.parametrize("kind", ["x86.nb", "onnx"])
def test_corrupt_model_file_is_an_error_not_a_crash(build_copy, kind):
    """Paddle Lite aborts the process on a damaged buffer; the lock's sha256 stops the file before it gets there."""
    p = build_copy / f"det.{kind}"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    engine = "paddlelite" if kind.endswith("nb") else "onnxruntime"
    with pytest.raises(ModelError, match=rf"det\.{kind.replace('.', '[.]')} is corrupt"):
        create_engine(engine).load(BuiltModels(build_copy), "det")


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
        built.path("textline_x0_25", "x86.nb")
