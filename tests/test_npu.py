"""NPU builds (issue 13) without the heavy tools: the RKNN profiles and what they say when they cannot run, the rknn
plugin's refusals, the calibration split, and the shape buckets through the real models on ONNX Runtime.

No Rockchip NPU and no rknn-toolkit-lite2 exist on this host: the refusals are what a board without them gets.
`make verify-npu` runs the built .rknn models in rknn-toolkit2's simulator on the reference set.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys

import numpy as np
import pytest

from edge.engine import create_engine, options_for, plugin
from edge.errors import EngineError, ModelError
from edge.fidelity import edit_distance
from edge.modelbuild import calibration
from edge.models import BuiltModels, load_npu_manifest
from edge.pipeline.buckets import Bucketed, choose
from edge.pipeline.det import DetParams, det_resize
from edge.pipeline.normalize import normalize_chw, to_model_colors
from edge.pipeline.rec import ctc_decode, rec_normalize
from edge.profiles import detect, list_profiles, load_profile
from tests.conftest import run_cli

RKNN_PROFILES = ["rk3566-npu", "rk3568-npu", "rk3576-npu", "rk3588-npu"]


def test_rknn_profiles_match_the_npu_build_manifest(manifest):
    npu = load_npu_manifest()
    socs = set()
    for name in RKNN_PROFILES:
        prof = load_profile(name)
        assert prof.engine.key == "rknn" and prof.model_kind() == f"rknn-{prof.engine.soc}"
        assert load_profile(prof.fallback).engine.key != "rknn"  # the fallback is a CPU profile that exists
        assert "simulator" in prof.description and "not run" in prof.description
        socs.add(prof.engine.soc)
    assert socs == set(npu.rknn.socs)
    assert {p.engine.soc for p in list_profiles() if p.engine.key == "rknn"} == socs
    for key, model in npu.rknn.models.items():
        spec = manifest.model(key)  # every NPU model is a manifest model, at the manifest's fixed sizes
        for shape in model.shapes:
            assert all(fixed in (-1, have) for fixed, have in zip(spec.input.shape[1:], shape[1:])), (key, shape)
    assert npu.rknn.models["det"].precision == "int8"


def test_npu_profile_off_its_board_refuses_and_names_what_is_missing():
    prof = load_profile("rk3588-npu")
    problems = prof.runnable_problems("aarch64")  # an RK3588 board without the vendor NPU stack
    text = " ".join(problems)
    assert "/usr/lib/librknnrt.so" in text and "/dev/dri/renderD129" in text and "rknn-toolkit-lite2" in text
    assert any("this host is x86_64" in p for p in prof.runnable_problems("x86_64"))
    with pytest.raises(EngineError) as e:
        prof.ensure_runnable()
    assert "arm-onnxruntime" in e.value.hint  # the board's CPU profile
    # detection on such a board: the device tree matches the NPU profile, which cannot run, so its fallback runs
    chosen, reason = detect("aarch64", ["radxa,rock-5b", "rockchip,rk3588"])
    assert chosen.name == "arm-onnxruntime"
    assert "rk3588-npu" in reason and "librknnrt.so" in reason and "falling back" in reason


def test_doctor_names_the_missing_npu_parts_and_the_fallback(tmp_path):
    cfg = tmp_path / "edge-ocr.toml"
    cfg.write_text(f'profile = "rk3568-npu"\nstate_dir = "{tmp_path / "state"}"\n'
                   f'[results]\ndir = "{tmp_path / "results"}"\n[folder]\nenabled = false\n')
    r = run_cli("doctor", "--config", cfg)
    assert r.returncode == 1
    assert "rk3568-npu (rknn, rknn-rk3568 models)" in r.stdout
    assert "librknnrt.so" in r.stdout and "renderD129" in r.stdout and 'profile = "arm-onnxruntime"' in r.stdout
    assert "simulator" in r.stdout  # how it was verified


def test_rknn_plugin_without_its_runtime_is_a_clear_error():
    """rknn-toolkit-lite2 is not installed here (it exists for aarch64 only): the import error says what to install."""
    assert importlib.util.find_spec("rknnlite") is None
    rknn = plugin("rknn")
    assert not rknn.installed()
    with pytest.raises(EngineError, match="rknn-toolkit-lite2"):
        rknn.library()
    with pytest.raises(EngineError, match="x86_64"):
        create_engine(options_for("rknn", soc="rk3588"))


def test_a_build_for_another_soc_is_refused_with_both_names(built, tmp_path):
    dest = tmp_path / "build"
    shutil.copytree(built.dir, dest, ignore=shutil.ignore_patterns("*.nb", "*.pb", "*.rknn", "logs"))
    lock = json.loads((dest / "lock.json").read_text())
    lock["targets"] = {"rknn-rk3568": {"soc": "rk3568", "models": {}, "job": "unused"}}
    (dest / "lock.json").write_text(json.dumps(lock))
    # the simulator runtime is the one that starts on x86_64; the refusal comes before any simulator is started
    engine = create_engine(options_for("rknn", soc="rk3588", runtime="simulator", simulator_python=sys.executable))
    with pytest.raises(ModelError) as e:
        engine.load(BuiltModels(dest), "det")
    assert "rk3588" in e.value.message and "rk3568" in e.value.message
    lock["targets"] = {"rknn-rk3588": {"soc": "rk3568", "models": {}, "job": "unused"}}  # a renamed copy
    (dest / "lock.json").write_text(json.dumps(lock))
    with pytest.raises(ModelError, match="built for rk3568, this profile runs rk3588"):
        engine.load(BuiltModels(dest), "det")


def test_calibration_never_uses_the_held_out_reference_inputs(manifest, reference):
    stems = {p.stem for p in (reference / "images").iterdir()}
    assert set(calibration.CALIBRATION_REFERENCE) < stems  # a renamed reference file breaks the split loudly
    npu = load_npu_manifest()
    for key in ("det", "rec", "textline_x1_0"):
        model = npu.rknn.models[key]
        inputs = calibration.model_inputs(manifest.model(key), model.calibration, reference, model.max_shape)
        assert len(inputs) == model.calibration
        assert all(x.shape == tuple(model.max_shape) for _, x in inputs)  # the toolkit calibrates at the largest
        from_reference = {label.split("#")[0].split()[0] for label, _ in inputs if not label.startswith("rendered")}
        assert from_reference and from_reference <= set(calibration.CALIBRATION_REFERENCE), from_reference
    natural = calibration.model_inputs(manifest.model("det"), 6, reference)  # NNAdapter: Paddle takes any size
    assert len({x.shape for _, x in natural}) > 1 and any("rendered" in label for label, _ in natural)


def test_bucket_choice():
    buckets = [(640, 640), (960, 960), (1920, 2560)]
    assert choose((500, 600), buckets).bucket == (640, 640)
    assert choose((700, 600), buckets).bucket == (960, 960)
    fit = choose((1000, 2000), buckets)
    assert fit.bucket == (1920, 2560) and fit.scale == 1.0
    big = choose((4000, 3000), buckets)  # larger than every bucket: scaled into the one that keeps the most
    assert big.bucket == (1920, 2560) and big.scale == pytest.approx(0.48) and big.valid == (1920, 1440)


def _ort(built, key):
    return create_engine("onnxruntime").load(built, key)


def test_detection_in_buckets_matches_its_own_size_and_never_crashes(built, manifest, samples):
    """The real detector on ONNX Runtime behind 640/960 buckets: a padded page reads like the page at its own size;
    a page over every bucket is scaled into one and its map comes back at the page's size."""
    det = _ort(built, "det")
    spec = manifest.model("det").input
    page = samples.pages["page 960x736"]
    x = normalize_chw(to_model_colors(det_resize(page, DetParams())[0], spec), spec)[None]
    bucketed = Bucketed(det.run, [(640, 640), (960, 960)], "map", "det")
    own, padded = det.run(x), bucketed.run(x)
    assert padded.shape == own.shape and bucketed.fits[0].bucket == (960, 960)
    agree = ((own > 0.3) == (padded > 0.3)).mean()
    assert agree > 0.995, agree
    small = Bucketed(det.run, [(320, 320)], "map", "det")
    out = small.run(x)
    assert out.shape == own.shape and small.fits[0].scale < 1
    assert ((out > 0.3) & (own > 0.3)).sum() > 0.5 * (own > 0.3).sum()  # still finds most of the text


def test_recognition_in_buckets(built, manifest, samples):
    """A bucket of the input's own width gives the model's own output (the crop back is exact); a wider bucket gives
    the model's step count and mostly the same text: the attention sees the padding, which is why npu.toml's widths
    step by at most 25%. A batch wider than every bucket is read at a smaller size and stretched back."""
    rec = _ort(built, "rec")
    spec = manifest.model("rec").input
    chars = built.dictionary("rec")
    same = 0
    lines = list(samples.crops.items())[:12]
    for label, crop in lines:
        x = rec_normalize(crop, spec)[None]
        own = rec.run(x)
        exact = Bucketed(rec.run, [(48, x.shape[3]), (48, 2 * x.shape[3])], "sequence", "rec").run(x)
        assert np.array_equal(exact, own), label
        padded = Bucketed(rec.run, [(48, 320), (48, 640), (48, 1280)], "sequence", "rec").run(x)
        assert padded.shape == own.shape, label  # the model's own step count for this width
        same += ctc_decode(padded, chars)[0][0] == ctc_decode(own, chars)[0][0]
    assert same >= len(lines) - 2, same
    wide = rec_normalize(samples.crops["line 15"], spec)[None]  # the 84-character line, about 1,500 columns
    narrow = Bucketed(rec.run, [(48, 320), (48, 1280)], "sequence", "rec")
    out = narrow.run(wide)
    fit = narrow.fits[0]
    assert fit.bucket == (48, 1280) and fit.valid[0] == 48 and fit.scale < 1  # squeezed in width only
    assert out.shape == rec.run(wide).shape
    text, own = ctc_decode(out, chars)[0][0], ctc_decode(rec.run(wide), chars)[0][0]
    assert 1 - edit_distance(text, own) / len(own) > 0.8, (text, own)


def test_opt_log_placement_names_what_stays_on_the_cpu():
    """paddle_lite_opt's graph dump: ops inside NPU subgraphs are labelled *_op_subgraph_N, the rest run on the CPU."""
    from edge.modelbuild.nnadapter import placement

    log = ("subgraph clusters: 2\n"
           'node_1[label="conv2d_0_op_subgraph_0"]\nnode_2[label="conv2d_1_op_subgraph_1"]\n'
           'node_3[label="nearest_interp_v2_0_op"]\nnode_4[label="clip_3_op"]\nnode_5[label="clip_4_op"]\n'
           'node_6[label="feed_0_op"]\nnode_7[label="conv2d_0.tmp_0"]\n')
    assert placement(log) == {"npu_subgraphs": 2, "npu_ops": 2, "cpu_ops": {"nearest_interp_v2": 1, "clip": 2}}


@pytest.mark.paddlelite
def test_nnadapter_profile_without_its_int8_build_says_how_to_build_it(built, tmp_path):
    dest = tmp_path / "build"
    shutil.copytree(built.dir, dest, ignore=shutil.ignore_patterns("*.pb", "*.rknn", "*.int8.pd", "logs"))
    lock = json.loads((dest / "lock.json").read_text())
    lock.pop("targets", None)
    (dest / "lock.json").write_text(json.dumps(lock))
    prof = load_profile("a311d-npu")
    engine = create_engine(prof.plugin.simulated_options(prof.engine, sys.executable))
    with pytest.raises(ModelError, match="int8") as e:
        engine.load(BuiltModels(dest), "det")
    assert "--target nnadapter" in e.value.hint
    assert engine.load(BuiltModels(dest), "rec") is not None  # recognition stays on the CPU: no int8 build needed
