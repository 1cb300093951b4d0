"""The OCR options are declared once (edge.options.OcrOptions): config, CLI, serving request and API all take the
same names and refuse the same values."""
import pytest

from conftest import run_cli
from edge.cli import parser
from edge.config import Settings
from edge.errors import ConfigError
from edge.options import OcrOptions, camel
from edge.service import protocol


def test_every_option_is_a_flag_a_request_field_and_a_config_key():
    flags = {a.dest for a in parser()._subparsers._group_actions[0].choices["ocr"]._actions}
    fields = set(protocol.OCRRequest.model_fields)
    for name in OcrOptions.model_fields:
        assert name in flags and camel(name) in fields and name in Settings.model_fields["ocr"].annotation.model_fields


@pytest.mark.parametrize("name,value", [("text_det_limit_type", "median"), ("text_det_thresh", 1.5),
                                        ("text_det_unclip_ratio", float("inf")), ("text_det_max_side_limit", 8)])
def test_one_validation_refuses_the_same_values_everywhere(name, value, tmp_path):
    with pytest.raises(ConfigError, match=name):
        OcrOptions.checked(**{name: value})
    with pytest.raises(protocol.RequestError, match=camel(name)):
        protocol.parse_request({"file": "eA==", camel(name): value}).options()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[ocr]\n{name} = {value!r}\n'.replace("'", '"'))
    r = run_cli("config", "check", "--config", cfg)
    assert r.returncode == 78 and f"ocr.{name}" in r.stderr, r.stderr


def test_resize_long_is_accepted_everywhere_the_pipeline_takes_it():
    assert OcrOptions.checked(text_det_limit_type="resize_long").given() == {"text_det_limit_type": "resize_long"}
    req = protocol.parse_request({"file": "eA==", "textDetLimitType": "resize_long"})
    assert req.options().text_det_limit_type == "resize_long"
    args = parser().parse_args(["ocr", "-i", "x", "--text_det_limit_type", "resize_long"])
    assert args.text_det_limit_type == "resize_long"
