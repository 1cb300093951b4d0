"""Device profiles: typed, strict, detected from the device tree with a loud fallback."""
import pytest

from edge.errors import ConfigError
from edge.profiles import detect, list_profiles, load_profile, load_profile_file, read_compatible


def test_every_shipped_profile_loads():
    names = {p.name for p in list_profiles()}
    assert {"x86-onnxruntime", "x86-paddlelite", "arm-cpu", "arm-onnxruntime", "rpi4", "rpi5", "a311d-npu",
            "rv1126-npu"} <= names


def test_unknown_key_in_profile_is_rejected(tmp_path):
    p = tmp_path / "board.toml"
    p.write_text('name = "b"\ndescription = "d"\n[engine]\nkey = "onnxruntime"\nthread = 4\n')
    with pytest.raises(ConfigError, match="engine.thread: unknown key"):
        load_profile_file(p)


def test_npu_profiles_say_they_need_int8_models():
    for name in ("a311d-npu", "rv1126-npu"):
        prof = load_profile(name)
        assert prof.nnadapter.requires_quantized_models and prof.nnadapter.device_names
        assert any("int8" in m for m in prof.runnable_problems("aarch64"))


def test_detect_from_device_tree(tmp_path):
    compat = tmp_path / "compatible"
    compat.write_bytes(b"raspberrypi,5-model-b\0brcm,bcm2712\0")
    prof, reason = detect("aarch64", read_compatible(compat))
    assert prof.name == "rpi5" and "raspberrypi,5-model-b" in reason


def test_unknown_arm_board_falls_back_loudly(caplog):
    with caplog.at_level("WARNING"):
        prof, reason = detect("aarch64", ["vendor,unknown-board"])
    assert prof.name in ("arm-cpu", "arm-onnxruntime") and "falling back" in caplog.text


def test_npu_board_gets_its_cpu_profile_until_int8_models_exist():
    prof, _ = detect("aarch64", ["khadas,vim3", "amlogic,a311d"])
    assert not prof.nnadapter.requires_quantized_models


def test_arm_profile_on_x86_explains_what_to_use():
    problems = load_profile("rpi4").runnable_problems("x86_64")
    assert any("x86-paddlelite" in p for p in problems)


def test_fake_npu_engine_options_reach_paddle_lite_config():
    """No NPU exists here, so this checks only that the profile's NNAdapter settings are handed to the engine."""
    opts = load_profile("a311d-npu").engine_options()
    assert opts.nnadapter_device_names == ("verisilicon_timvx",) and opts.nnadapter_model_cache_dir
