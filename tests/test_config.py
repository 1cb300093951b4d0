"""Daemon configuration: TOML file, EDGE_OCR_* overrides, unknown keys rejected, secrets masked."""
import json

from conftest import run_cli


def test_config_check_prints_effective_config_with_secrets_masked(tmp_path):
    cfg = tmp_path / "edge.toml"
    cfg.write_text('profile = "x86-onnxruntime"\n[mqtt]\nenabled = true\npassword = "hunter2"\nport = 1884\n'
                   '[folder]\npath = "/srv/scan"\nignore = ["*.xml"]\n')
    r = run_cli("config", "check", "--config", cfg, env={"EDGE_OCR_MQTT__PORT": "8883", "EDGE_OCR_LIMITS__QUEUE_SIZE": "7"})
    assert r.returncode == 0, r.stderr
    eff = json.loads(r.stdout)
    assert eff["mqtt"]["port"] == 8883  # the environment overrides the file
    assert eff["limits"]["queue_size"] == 7 and eff["folder"]["path"] == "/srv/scan"
    assert eff["mqtt"]["password"] == "********" and "hunter2" not in r.stdout
    assert eff["results"]["dir"] == "results" and eff["state_dir"] == "state"  # embedded defaults


def test_defaults_need_no_file_and_no_broker():
    r = run_cli("config", "check")
    eff = json.loads(r.stdout)
    assert eff["folder"]["path"] == "scan" and eff["mqtt"]["enabled"] is False


def test_unknown_keys_are_rejected_by_name(tmp_path):
    cfg = tmp_path / "edge.toml"
    cfg.write_text('[folder]\npath = "scan"\nsettle = 3\n[mqtt]\nprot = 1\n')
    r = run_cli("config", "check", "--config", cfg)
    assert r.returncode == 78
    assert "folder.settle: unknown key" in r.stderr and "mqtt.prot: unknown key" in r.stderr
    r = run_cli("config", "check", env={"EDGE_OCR_FOLDR__PATH": "x"})
    assert r.returncode == 78 and "EDGE_OCR_FOLDR__PATH" in r.stderr
    r = run_cli("config", "check", env={"EDGE_OCR_MQTT__QOS": "5"})
    assert r.returncode == 78 and "mqtt.qos" in r.stderr


def test_run_with_a_bad_config_exits_before_loading_models(tmp_path):
    cfg = tmp_path / "edge.toml"
    cfg.write_text("[limits]\nmax_pixels = -1\n")
    r = run_cli("run", "--config", cfg, timeout=60)
    assert r.returncode == 78 and "limits.max_pixels" in r.stderr
