"""The model manifest is typed: every model is named, unknown keys and missing pins are rejected by name."""
from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.models import load_manifest


def test_manifest_names_every_model(manifest):
    names = {k: m.name for k, m in manifest.models.items()}
    assert names == {
        "det": "PP-OCRv5_mobile_det", "rec": "PP-OCRv5_mobile_rec", "textline_x1_0": "PP-LCNet_x1_0_textline_ori",
        "textline_x0_25": "PP-LCNet_x0_25_textline_ori", "cls_v20": "ch_ppocr_mobile_v2.0_cls",
        "doc_ori": "PP-LCNet_x1_0_doc_ori"}
    assert manifest.model("rec").dictionary.entries == 18383
    for key, m in manifest.models.items():
        if m.source.format != "import":
            assert "==" in m.source.wheel and len(m.source.sha256) == 64, key
    assert manifest.models["textline_x0_25"].source.format == "import"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "manifest.toml"
    p.write_text(text)
    return p


def test_unknown_key_is_rejected_by_name(manifest, tmp_path):
    text = manifest.path.read_text().replace('task = "det"', 'task = "det"\nthreshold = 0.3', 1)
    with pytest.raises(ConfigError) as e:
        load_manifest(_write(tmp_path, text))
    assert "models.det.threshold: unknown key" in str(e.value)


def test_unpinned_wheel_is_rejected(manifest, tmp_path):
    text = manifest.path.read_text().replace('wheel = "rapidocr==3.10.0"', 'wheel = "rapidocr"')
    with pytest.raises(ConfigError) as e:
        load_manifest(_write(tmp_path, text))
    assert "rapidocr" in str(e.value) and "pinned" in str(e.value)


def test_broken_toml_and_missing_file_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_manifest(_write(tmp_path, "schema = [\n"))
    with pytest.raises(ConfigError, match="cannot read model manifest .*nope.toml"):
        load_manifest(tmp_path / "nope.toml")


def test_unknown_model_key_lists_the_known_ones(manifest):
    with pytest.raises(ConfigError, match="known models: det, rec"):
        manifest.model("detector")
