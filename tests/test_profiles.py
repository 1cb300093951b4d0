"""Device profiles: typed, strict, detected from the device tree with a loud fallback."""
import pytest

from edge.engine import plugin
from edge.errors import ConfigError
from edge.profiles import detect, list_profiles, load_profile, load_profile_file, read_compatible


def test_every_shipped_profile_loads():
    names = {p.name for p in list_profiles()}
    assert {"x86-onnxruntime", "x86-openvino", "x86-paddlelite", "arm-cpu", "arm-onnxruntime", "arm-openvino", "rpi4",
            "rpi5", "a311d-npu", "rv1126-npu"} <= names


def test_unknown_key_in_profile_is_rejected(tmp_path):
    p = tmp_path / "board.toml"
    p.write_text('name = "b"\ndescription = "d"\n[engine]\nkey = "onnxruntime"\nthread = 4\n')
    with pytest.raises(ConfigError, match="engine.onnxruntime.thread: unknown key"):
        load_profile_file(p)


def test_nnadapter_profiles_put_det_and_the_classifier_on_the_npu():
    for name, device, node in (("a311d-npu", "verisilicon_timvx", "/dev/galcore"),
                               ("rv1126-npu", "rockchip_npu", "/dev/galcore")):
        prof = load_profile(name)
        kind = prof.plugin.model_kind_for
        assert prof.model_kind() == kind(prof.engine, "textline_x1_0") == f"nnadapter-{device}"
        assert kind(prof.engine, "rec") == "arm.nb"  # int8 changes recognition's text: it stays on the CPU
        assert any(node in m and "missing" in m for m in prof.runnable_problems("aarch64"))


def test_detect_from_device_tree(tmp_path):
    """A board's own profile when its engine runs here; otherwise the reason names the board and what was missing."""
    compat = tmp_path / "compatible"
    compat.write_bytes(b"raspberrypi,5-model-b\0brcm,bcm2712\0")
    prof, reason = detect("aarch64", read_compatible(compat))
    if plugin("paddlelite").installed() and not load_profile("rpi5").runnable_problems("aarch64"):
        assert prof.name == "rpi5" and reason == "device tree says raspberrypi,5-model-b"
    else:
        assert prof.name == "arm-onnxruntime"
        assert "rpi5 (raspberrypi,5-model-b) cannot run here" in reason and "falling back" in reason


def test_x86_detection_picks_the_fastest_runnable_engine():
    """Priority orders the generic profiles; an engine that is not installed is passed over."""
    prof, reason = detect("x86_64", [])
    runnable = [p for p in list_profiles() if "x86_64" in p.match.arch and not p.runnable_problems("x86_64")]
    assert prof.name == max(runnable, key=lambda p: p.match.priority).name
    if plugin("openvino").installed():
        assert prof.name == "x86-openvino" and "openvino" in reason


def test_unknown_arm_board_falls_back_loudly(caplog):
    with caplog.at_level("WARNING"):
        prof, reason = detect("aarch64", ["vendor,unknown-board"])
    assert prof.name in ("arm-cpu", "arm-onnxruntime") and "falling back" in caplog.text


def test_npu_board_gets_its_cpu_profile_until_int8_models_exist():
    prof, _ = detect("aarch64", ["khadas,vim3", "amlogic,a311d"])
    assert not prof.runnable_problems("aarch64") or not prof.engine.key == "paddlelite"
    assert prof.name in ("arm-cpu", "arm-onnxruntime")


def test_arm_profile_on_x86_explains_what_to_use():
    problems = load_profile("rpi4").runnable_problems("x86_64")
    assert any("x86-paddlelite" in p for p in problems)


def test_fake_npu_engine_options_reach_paddle_lite_config():
    """No NPU exists here, so this checks only that the profile's NNAdapter settings are handed to the engine."""
    prof = load_profile("a311d-npu")
    assert prof.engine.nnadapter.device_names == ["verisilicon_timvx"] and prof.engine.nnadapter.model_cache_dir
    assert prof.device_nodes() == ["/dev/galcore"]


def test_switching_engine_keeps_shared_options_only():
    prof = load_profile("rpi4").with_engine("openvino")
    assert prof.engine.key == "openvino" and prof.engine.threads == 4 and prof.engine.precision == "f32"
    assert prof.model_kind() == "onnx" and prof.det.max_side_limit == 4000
    # the board's memory budget stays; its memory model was Paddle Lite's, so OpenVINO's measured one applies
    assert prof.memory.memory_mb == 1536 and prof.memory.model is None
    assert load_profile("rpi4").memory.model.page_mb == 812
    assert prof.memory_budget().model == plugin("openvino").memory_model(prof.engine)
    assert load_profile("x86-openvino").with_engine("paddlelite").model_kind() == "x86.nb"


def test_doctor_says_what_a_board_without_engine_wheels_needs():
    """A 32-bit ARM OS or an old Python cannot get the engines from PyPI: doctor names the problem and the fix."""
    from edge.doctor import python_check

    assert python_check("aarch64", (3, 11), "3.11.2").ok
    assert python_check("x86_64", (3, 13), "3.13.0").ok
    armv7 = python_check("armv7l", (3, 11), "3.11.2")
    assert not armv7.ok and "32-bit armv7l" in armv7.detail and "64-bit OS" in armv7.hint
    old = python_check("aarch64", (3, 9), "3.9.2")
    assert not old.ok and "3.10 or newer" in old.hint
