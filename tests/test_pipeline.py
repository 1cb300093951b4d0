"""The OCR pipeline against the official PaddleOCR 3.x outputs (same weights), on every engine."""
import json
import subprocess
import sys

import cv2
import pytest

from edge import EdgeOCR
from edge.errors import ConfigError

PROFILES = {"onnxruntime": "x86-onnxruntime", "openvino": "x86-openvino", "paddlelite": "x86-paddlelite"}


@pytest.fixture(scope="module", params=["onnxruntime", "openvino", pytest.param("paddlelite", marks=pytest.mark.paddlelite)])
def engine_ocr(request):
    return request.param, EdgeOCR(profile=PROFILES[request.param])


@pytest.fixture(scope="module")
def ort_ocr():
    return EdgeOCR(profile="x86-onnxruntime")


def test_fidelity_against_official_outputs(engine_ocr, reference, tmp_path):
    """Default parameters, orientation models off: score.py against the official PaddleOCR results. Exact: every
    box and every line (this also guards the pinned libraries: OpenCV 5.0 changes 3 of the 145 lines)."""
    name, ocr = engine_ocr
    results = ocr.predict(str(reference / "images"))
    assert all(r.ok for r in results), [dict(r) for r in results if not r.ok]
    for r in results:
        r.save_to_json(tmp_path / "out")
    out = tmp_path / "score.json"
    subprocess.run([sys.executable, str(reference / "score.py"), str(tmp_path / "out"), "--json", str(out), "--quiet"],
                   check=True, capture_output=True)
    overall = json.loads(out.read_text())["overall"]
    print(name, {k: overall[k] for k in ("det_f1", "text_exact", "page_cer", "pages", "missing")})
    assert overall["missing"] == 0 and overall["pages"] == 13
    assert overall["det_f1"] == 1.0
    assert overall["text_exact"] == 1.0
    assert overall["page_cer"] == 0.0


def test_official_quirks_are_kept(ort_ocr, reference):
    """Zero boxes on the transparent PNG (alpha dropped, not composited); a tiny image is padded, not refused."""
    transparent = ort_ocr.predict(str(reference / "images" / "rapid_black_font_color_transparent.png"))[0]
    assert transparent["dt_polys"] == [] and transparent["rec_texts"] == []
    assert "textline_orientation_angles" not in transparent  # absent when nothing was detected, as upstream
    tiny = ort_ocr.predict(str(reference / "images" / "rapid_short.png"))[0]
    official = json.loads((reference / "paddleocr" / "rapid_short_res.json").read_text())
    assert tiny["rec_texts"] == official["rec_texts"] and tiny["rec_boxes"] == official["rec_boxes"]


def test_result_keys_match_paddleocr(ort_ocr, reference):
    r = ort_ocr.predict(str(reference / "images" / "rapid_text_cls.jpg"))[0]
    official = json.loads((reference / "paddleocr" / "rapid_text_cls_res.json").read_text())
    assert list(r.keys()) == list(official.keys())
    assert r["text_det_params"] == official["text_det_params"]
    assert r["model_settings"] == official["model_settings"]


def _truth_lines(reference, key):
    return json.loads((reference / "truth" / f"{key}.json").read_text())["lines"]


@pytest.mark.parametrize("key", ["rapid_text_cls", "rapid_img_exif_orientation"])
def test_upside_down_inputs_read_with_orientation_models(engine_ocr, reference, key):
    _, ocr = engine_ocr
    path = str(reference / "images" / f"{key}.jpg")
    r = ocr.predict(path, use_textline_orientation=True, use_doc_orientation_classify=True)[0]
    assert "".join(r["rec_texts"]).replace(" ", "") == "".join(_truth_lines(reference, key))
    assert r["model_settings"] == {"use_doc_preprocessor": True, "use_textline_orientation": True}
    assert "angle" in r["doc_preprocessor_res"]


@pytest.mark.parametrize("rotation,angle", [(cv2.ROTATE_90_COUNTERCLOCKWISE, 270), (cv2.ROTATE_180, 180),
                                            (cv2.ROTATE_90_CLOCKWISE, 90)])
def test_rotated_pages_are_turned_back(ort_ocr, reference, rotation, angle):
    page = cv2.imread(str(reference / "images" / "ppocr_11.jpg"))
    upright = ort_ocr.predict(page)[0]
    r = ort_ocr.predict(cv2.rotate(page, rotation), use_doc_orientation_classify=True)[0]
    assert r["doc_preprocessor_res"]["angle"] == angle
    shared = set(r["rec_texts"]) & set(upright["rec_texts"])
    assert len(shared) >= 0.8 * len(upright["rec_texts"])


def test_textline_classifier_variants(reference):
    """The PP-OCR 2.x classifier is selectable by profile and also turns the upside-down line."""
    from edge.profiles import load_profile

    prof = load_profile("x86-onnxruntime")
    prof = prof.model_copy(update={"models": prof.models.model_copy(update={"textline": "cls_v20"})})
    r = EdgeOCR(profile=prof, use_textline_orientation=True).predict(str(reference / "images" / "rapid_text_cls.jpg"))[0]
    assert r["rec_texts"] == _truth_lines(reference, "rapid_text_cls")


def test_per_call_parameters_override_and_none_keeps(reference):
    ocr = EdgeOCR(profile="x86-onnxruntime", text_det_box_thresh=0.9, text_rec_score_thresh=0.0)
    path = str(reference / "images" / "general_ocr_002.jpg")
    strict = ocr.predict(path)[0]
    assert strict["text_det_params"]["box_thresh"] == 0.9
    default = ocr.predict(path, text_det_box_thresh=0.6)[0]
    assert len(default["dt_polys"]) > len(strict["dt_polys"])
    kept = ocr.predict(path, text_det_box_thresh=None)[0]  # None keeps the construction value
    assert kept["text_det_params"]["box_thresh"] == 0.9
    thresh = ocr.predict(path, text_det_box_thresh=0.6, text_rec_score_thresh=0.99)[0]
    assert all(s >= 0.99 for s in thresh["rec_scores"]) and len(thresh["rec_texts"]) < len(default["rec_texts"])
    maxed = ocr.predict(path, text_det_limit_type="max", text_det_limit_side_len=320)[0]
    assert maxed["text_det_params"]["limit_type"] == "max" and maxed["text_det_params"]["limit_side_len"] == 320


def test_bad_parameters_are_rejected():
    with pytest.raises(ConfigError, match="text_det_limit_type"):
        EdgeOCR(profile="x86-onnxruntime", text_det_limit_type="median")
    with pytest.raises(ConfigError, match="unwarping"):
        EdgeOCR(profile="x86-onnxruntime", use_doc_unwarping=True)
    with pytest.raises(ConfigError, match="unknown profile 'pi9'"):
        EdgeOCR(profile="pi9")
    with pytest.raises(ConfigError, match="unknown engine|choose one of"):
        EdgeOCR(profile="x86-onnxruntime", engine="tensorrt")


def test_inputs_of_every_kind_give_the_same_text(ort_ocr, reference):
    path = reference / "images" / "rapid_en.jpg"
    by_path = ort_ocr.predict(str(path))[0]
    by_bytes = ort_ocr.predict(path.read_bytes())[0]
    by_array = ort_ocr.predict(cv2.imread(str(path)))[0]
    by_list = ort_ocr.predict([str(path), path])
    assert by_path["rec_texts"] == by_bytes["rec_texts"] == by_array["rec_texts"] == by_list[1]["rec_texts"]
    assert by_path["input_path"] == str(path) and by_array["input_path"] is None
    gray = ort_ocr.predict(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))[0]
    assert gray.ok and gray["rec_texts"]


def test_results_of_inputs_without_a_file_are_saved_under_names_of_their_own(ort_ocr, reference, tmp_path):
    """As PaddleX: `<unix time>_<4 random digits>_res.json`, fixed per result; never one `input_res.json` for all."""
    import re

    image = cv2.imread(str(reference / "images" / "rapid_en.jpg"))
    results = ort_ocr.predict([image, image.copy(), (reference / "images" / "ppocr_11.jpg").read_bytes()])
    names = [r.save_to_json(tmp_path).name for r in results]
    assert len(set(names)) == 3 and all(re.fullmatch(r"\d{10}_\d{4}_res\.json", n) for n in names), names
    assert results[0].save_to_json(tmp_path).name == names[0]  # the same result, the same file
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_pdf_pages_and_page_limit(ort_ocr, reference, tmp_path):
    pdf = reference / "images" / "ocrmypdf_c02-22.pdf"
    pages = ort_ocr.predict(str(pdf), page_limit=1)
    assert len(pages) == 1 and pages[0]["page_index"] == 0
    saved = pages[0].save_to_json(tmp_path)
    assert saved.name == "ocrmypdf_c02-22_0_res.json"


def test_predict_iter_is_lazy(ort_ocr, reference):
    it = ort_ocr.predict_iter(str(reference / "images"))
    first = next(it)
    assert first.ok and first["input_path"].endswith("general_ocr_002.jpg")


def test_save_to_img_draws_text(ort_ocr, reference, tmp_path):
    r = ort_ocr.predict(str(reference / "images" / "ppocr_11.jpg"))[0]
    files = r.save_to_img(tmp_path)
    assert [f.name for f in files] == ["ppocr_11_ocr_res_img.jpg"]
    img = cv2.imread(str(files[0]))
    h, w = r.image.shape[:2]
    assert img.shape[:2] == (h, 2 * w)
    right = img[:, w:]
    assert (right < 128).any(axis=2).mean() > 0.01  # recognised text was drawn on the white half
    rotated = EdgeOCR(profile="x86-onnxruntime", use_doc_orientation_classify=True).predict(
        cv2.rotate(cv2.imread(str(reference / "images" / "ppocr_11.jpg")), cv2.ROTATE_180))[0]
    names = sorted(f.name for f in rotated.save_to_img(tmp_path / "rot"))
    stem = rotated.stem  # an array has no file name: PaddleX's <unix time>_<4 digits>
    assert names == [f"{stem}_ocr_res_img.png", f"{stem}_preprocessed_img.png"]  # PaddleX's image names
    pre = rotated.img["preprocessed_img"]  # as read, as turned, as unwarped (the turned page): captioned below
    assert pre.size == (3 * rotated.image.shape[1], rotated.image.shape[0] + 25)


def test_print_and_json(ort_ocr, reference, capsys):
    r = ort_ocr.predict(str(reference / "images" / "rapid_short.png"))[0]
    r.print(json_format=True)
    printed = json.loads(capsys.readouterr().out)
    assert printed == r.json and printed["res"]["rec_texts"] == r["rec_texts"]
