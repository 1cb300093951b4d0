"""PaddleOCR drop-in, tested from PaddleOCR 3.7.0's documentation and signatures: the quick-start command and script
of the General OCR pipeline page (../shared/seeds/001_*) and the serving client script (../shared/seeds/000_*) run
with only the import, the command name, the URL, the file and `--device cpu` changed; every documented flag and
parameter is accepted; results have PaddleOCR's file names, keys and methods."""
from __future__ import annotations

import base64
import importlib.metadata
import inspect
import io
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from PIL import Image

from conftest import ROOT, run_cli
from realparts import Daemon, free_port, scan_image, serve_files

SEEDS = ROOT.parent / "shared" / "seeds"
pytestmark = pytest.mark.timeout(900)

# PaddleOCR 3.7.0: PaddleOCR.__init__'s named parameters and predict()'s, in order (paddleocr/_pipelines/ocr.py)
INIT = ["doc_orientation_classify_model_name", "doc_orientation_classify_model_dir", "doc_unwarping_model_name",
        "doc_unwarping_model_dir", "text_detection_model_name", "text_detection_model_dir",
        "textline_orientation_model_name", "textline_orientation_model_dir", "textline_orientation_batch_size",
        "text_recognition_model_name", "text_recognition_model_dir", "text_recognition_batch_size",
        "use_doc_orientation_classify", "use_doc_unwarping", "use_textline_orientation", "text_det_limit_side_len",
        "text_det_limit_type", "text_det_thresh", "text_det_box_thresh", "text_det_unclip_ratio",
        "text_det_input_shape", "text_rec_score_thresh", "return_word_box", "text_rec_input_shape", "lang",
        "ocr_version"]
PREDICT = ["use_doc_orientation_classify", "use_doc_unwarping", "use_textline_orientation", "text_det_limit_side_len",
           "text_det_limit_type", "text_det_thresh", "text_det_box_thresh", "text_det_unclip_ratio",
           "text_rec_score_thresh", "return_word_box"]
# the command-line table of the seed's section 2.1, with a value of each flag's type
CLI_TABLE = {
    "input": "x.png", "save_path": "out", "doc_orientation_classify_model_name": "PP-LCNet_x1_0_doc_ori",
    "doc_orientation_classify_model_dir": "d", "doc_unwarping_model_name": "UVDoc", "doc_unwarping_model_dir": "d",
    "text_detection_model_name": "PP-OCRv5_mobile_det", "text_detection_model_dir": "d",
    "textline_orientation_model_name": "PP-LCNet_x1_0_textline_ori", "textline_orientation_model_dir": "d",
    "textline_orientation_batch_size": "6", "text_recognition_model_name": "PP-OCRv5_mobile_rec",
    "text_recognition_model_dir": "d", "text_recognition_batch_size": "6", "use_doc_orientation_classify": "False",
    "use_doc_unwarping": "False", "use_textline_orientation": "True", "text_det_limit_side_len": "64",
    "text_det_limit_type": "min", "text_det_thresh": "0.3", "text_det_box_thresh": "0.6",
    "text_det_unclip_ratio": "1.5", "text_det_input_shape": "3 640 640", "text_rec_score_thresh": "0.0",
    "text_rec_input_shape": "3 48 320", "lang": "ch", "ocr_version": "PP-OCRv5", "det_model_dir": "d",
    "det_limit_side_len": "64", "det_limit_type": "min", "det_db_thresh": "0.3", "det_db_box_thresh": "0.6",
    "det_db_unclip_ratio": "1.5", "rec_model_dir": "d", "rec_batch_num": "6", "use_angle_cls": "True",
    "cls_model_dir": "d", "cls_batch_num": "6", "device": "cpu", "enable_hpi": "False", "use_tensorrt": "False",
    "min_subgraph_size": "3", "precision": "fp32", "enable_mkldnn": "True", "cpu_threads": "8",
    "paddlex_config": "PaddleOCR.yaml",
}
PADDLE_ONLY = ["--enable_hpi", "False", "--use_tensorrt", "False", "--min_subgraph_size", "3", "--precision", "fp32",
               "--enable_mkldnn", "True", "--mkldnn_cache_capacity", "10", "--enable_cinn", "False"]


def _seed(prefix: str) -> str:
    [path] = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def _png(reference: Path, stem: str, folder: Path) -> Path:
    """The reference page as <stem>.png (the documentation's file name), pixel for pixel."""
    target = folder / f"{stem}.png"
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target), cv2.imread(str(reference / "images" / f"{stem}.jpg")))
    return target


def _official(reference: Path, stem: str) -> dict:
    return json.loads((reference / "paddleocr" / f"{stem}_res.json").read_text())


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    """The daemon as a PaddleX serving endpoint on its defaults (no token, images as base64)."""
    port = free_port()
    d = Daemon(tmp_path_factory.mktemp("serving"), folder={"enabled": False},
               http={"enabled": True, "port": port, "max_pages": 2}).start()
    yield f"http://127.0.0.1:{port}"
    assert d.terminate() == 0


# -- Python ------------------------------------------------------------------------------------------------------
def test_constructor_predict_and_methods_are_paddleocrs():
    from edge import PaddleOCR

    init = [n for n, p in inspect.signature(PaddleOCR.__init__).parameters.items()
            if p.kind is p.POSITIONAL_OR_KEYWORD and n != "self"]
    assert init == INIT
    for method in (PaddleOCR.predict, PaddleOCR.predict_iter):
        params = inspect.signature(method).parameters
        assert list(params)[:2] == ["self", "input"]
        assert [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY] == PREDICT
        assert all(params[n].default is None for n in PREDICT)
    for name in ("ocr", "close", "export_paddlex_config_to_yaml"):
        assert callable(getattr(PaddleOCR, name))


def test_quick_start_script_runs_with_one_import_changed(reference, tmp_path):
    """Section 2.2's script, `from paddleocr import` -> `from edge import`: PaddleOCR's files, keys and text."""
    seed = _seed("001")
    end = 'res.save_to_json("output")'
    script = seed[seed.index("from paddleocr import PaddleOCR"):seed.index(end) + len(end)]
    assert script.count("\n") > 5
    (tmp_path / "quick.py").write_text(script.replace("from paddleocr import PaddleOCR", "from edge import PaddleOCR"))
    _png(reference, "general_ocr_002", tmp_path)
    p = subprocess.run([sys.executable, "quick.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.startswith("{'res': {'input_path': './general_ocr_002.png'") and len(p.stdout.splitlines()) < 40
    assert sorted(f.name for f in (tmp_path / "output").iterdir()) == ["general_ocr_002_ocr_res_img.png",
                                                                        "general_ocr_002_res.json"]
    ours = json.loads((tmp_path / "output" / "general_ocr_002_res.json").read_text())
    official = _official(reference, "general_ocr_002")
    assert list(ours) == list(official)
    for key in ("model_settings", "dt_polys", "text_det_params", "rec_texts", "rec_polys", "rec_boxes"):
        assert ours[key] == official[key], key


def test_paddleocr_defaults_turn_pages_and_lines_and_say_unwarping_is_skipped(reference):
    """PaddleOCR turns document and text-line orientation on by default: an upside-down line is read (EdgeOCR, with
    the appliance's defaults, reads none); unwarping, also on there, is skipped with one warning."""
    from edge import EdgeOCR, PaddleOCR
    from edge.compat.params import CompatNote

    image = str(reference / "images" / "rapid_text_cls.jpg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ocr = PaddleOCR()
    notes = [w for w in caught if issubclass(w.category, CompatNote)]
    assert len(notes) == 1 and "unwarping" in str(notes[0].message) and notes[0].filename == __file__
    [res] = ocr.predict(image)
    assert res["rec_texts"] == ["怪我咯"]
    assert res["model_settings"] == {"use_doc_preprocessor": True, "use_textline_orientation": True}
    assert res["doc_preprocessor_res"]["model_settings"] == {"use_doc_orientation_classify": True,
                                                             "use_doc_unwarping": False}
    assert EdgeOCR(profile=ocr.edge.profile).predict(image)[0]["rec_texts"] == [""]
    with pytest.raises(ValueError, match="unwarping"):
        ocr.predict(image, use_doc_unwarping=True)
    with pytest.raises(ValueError, match="unwarping"):
        PaddleOCR(use_doc_unwarping=True)


def test_result_methods_are_paddlexs(reference, tmp_path, capsys):
    from edge import PaddleOCR

    ocr = PaddleOCR(use_doc_orientation_classify=True, use_doc_unwarping=False, use_textline_orientation=False)
    [res] = ocr.predict(str(reference / "images" / "ppocr_11.jpg"))
    res.print()
    short = capsys.readouterr().out
    assert short.startswith("{'res': {") and "..." in short and len(short.splitlines()) < 40
    res.print(format_json=True, indent=2, ensure_ascii=True)
    printed = capsys.readouterr().out
    assert json.loads(printed) == res.json and "\\u" in printed and '\n  "res"' in printed
    res.print(json_format=True)
    assert json.loads(capsys.readouterr().out)["res"]["rec_texts"] == res["rec_texts"]
    assert set(res.json) == {"res"} and set(res.str) == {"res"} and isinstance(res.str["res"]["rec_scores"], np.ndarray)
    assert set(res.img) == {"ocr_res_img", "preprocessed_img"} and all(isinstance(i, Image.Image) for i in res.img.values())
    res.save_to_json(tmp_path / "one.json", indent=2, ensure_ascii=True)
    assert json.loads((tmp_path / "one.json").read_text()) == res.json["res"]
    assert (tmp_path / "one.json").read_text().isascii()
    res.save_to_img(tmp_path / "one.png")
    assert Image.open(tmp_path / "one.png").size == res.img["ocr_res_img"].size
    res.save_all(tmp_path / "all")
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == [
        "ppocr_11_ocr_res_img.jpg", "ppocr_11_preprocessed_img.jpg", "ppocr_11_res.json"]
    with pytest.warns(DeprecationWarning, match="Please use `predict` instead"):
        assert ocr.ocr(str(reference / "images" / "ppocr_11.jpg"))[0]["rec_texts"] == res["rec_texts"]
    with pytest.raises(Exception, match="no such file"):
        ocr.predict(str(tmp_path / "missing.jpg"))  # PaddleOCR raises for a bad input; so does the drop-in
    ocr.close()


def test_parameters_are_mapped_noted_or_refused_with_what_this_box_has(reference, tmp_path):
    from edge import PaddleOCR
    from edge.compat.params import CompatNote

    image = str(reference / "images" / "rapid_en.jpg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ocr = PaddleOCR(use_angle_cls=False, det_db_box_thresh=0.5, rec_batch_num=2, use_doc_orientation_classify=False,
                        use_doc_unwarping=False, lang="en", ocr_version="PP-OCRv5", device="cpu", cpu_threads=1,
                        enable_mkldnn=True, precision="fp32", engine="paddle",
                        text_recognition_model_name="PP-OCRv5_mobile_rec", text_rec_input_shape=[3, 48, 320])
    messages = [str(w.message) for w in caught]
    assert "The parameter `use_angle_cls` has been deprecated and will be removed in the future. Please use " \
           "`use_textline_orientation` instead." in messages
    assert sum(issubclass(w.category, DeprecationWarning) for w in caught) == 3
    assert sum(issubclass(w.category, CompatNote) for w in caught) >= 3  # mkldnn, precision, engine
    assert ocr.edge.profile.batch.rec == 2 and ocr.edge.profile.engine.threads == 1
    [res] = ocr.predict(image)
    assert res["text_det_params"]["box_thresh"] == 0.5 and res["model_settings"]["use_textline_orientation"] is False
    refused = [
        (dict(use_angle_cls=True, use_textline_orientation=True), "mutually exclusive"),
        (dict(device="gpu:0"), "no GPU"), (dict(device="npu:0"), "no NPU"), (dict(device="tpu"), "not a device"),
        (dict(lang="korean"), "ch (Simplified Chinese), chinese_cht"), (dict(ocr_version="PP-OCRv4"), "PP-OCRv5"),
        (dict(ocr_version="PP-OCRv9"), "Invalid OCR version"), (dict(precision="int4"), "Invalid precision"),
        (dict(text_detection_model_name="PP-OCRv5_server_det"), "it has: PP-OCRv5_mobile_det"),
        (dict(text_recognition_model_dir=str(tmp_path)), "models import"),
        (dict(text_det_input_shape=[3, 640, 640]), "fixed detection input"),
        (dict(engine="tensorrt"), "Invalid engine"), (dict(colour="red"), "Unknown argument: colour"),
        (dict(text_det_thresh=7), "text_det_thresh"),
    ]
    for kwargs, words in refused:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ValueError, match=re.escape(words)):
                PaddleOCR(use_doc_unwarping=False, **kwargs)


def test_paddlex_config_round_trip(reference, tmp_path):
    """export_paddlex_config_to_yaml writes PaddleX's OCR pipeline structure; paddlex_config reads one back."""
    from edge import PaddleOCR

    first = PaddleOCR(use_doc_orientation_classify=False, use_doc_unwarping=False, use_textline_orientation=False,
                      text_det_box_thresh=0.55, text_rec_score_thresh=0.5)
    first.export_paddlex_config_to_yaml(tmp_path / "PaddleOCR.yaml")
    text = (tmp_path / "PaddleOCR.yaml").read_text()
    assert "pipeline_name: OCR" in text and "box_thresh: 0.55" in text and "PP-OCRv5_mobile_rec" in text
    second = PaddleOCR(paddlex_config=str(tmp_path / "PaddleOCR.yaml"))
    assert second.edge.params == first.edge.params
    image = str(reference / "images" / "ppocr_00111002.jpg")
    assert second.predict(image)[0].json == first.predict(image)[0].json


def test_word_boxes_equal_paddlexs(reference, tmp_path):
    """return_word_box: the official pipeline (PaddleOCR 3.7.0 in its tool environment, as `bench --peer` runs it)
    and the drop-in give the same words and boxes, Latin, CJK and vertical text."""
    from edge import PaddleOCR
    from edge.peers import peer

    names = ["general_ocr_002.jpg", "rapid_ch_en_num.jpg", "rapid_text_vertical_words.png", "ocrmypdf_c02-22.pdf"]
    python, weights = peer("paddleocr").prepare()
    script = tmp_path / "official.py"
    script.write_text(f'''import sys
from paddleocr import PaddleOCR
w = {str(weights)!r}
ocr = PaddleOCR(text_detection_model_name="PP-OCRv5_mobile_det", text_detection_model_dir=w + "/PP-OCRv5_mobile_det",
                text_recognition_model_name="PP-OCRv5_mobile_rec", text_recognition_model_dir=w + "/PP-OCRv5_mobile_rec",
                use_doc_orientation_classify=False, use_doc_unwarping=False, use_textline_orientation=False,
                device="cpu", cpu_threads=2, return_word_box=True)
for f in sys.argv[1:]:
    for r in ocr.predict(f):
        r.save_to_json({str(tmp_path / "official")!r})
''')
    files = [str(reference / "images" / n) for n in names]
    p = subprocess.run([str(python), str(script), *files], capture_output=True, text=True, timeout=900,
                       env={**os.environ, "PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK": "True"})
    assert p.returncode == 0, p.stderr[-3000:]
    ocr = PaddleOCR(use_doc_orientation_classify=False, use_doc_unwarping=False, use_textline_orientation=False)
    checked = 0
    for res in ocr.predict(files, return_word_box=True):
        official = json.loads((tmp_path / "official" / f"{res.stem}_res.json").read_text())
        ours = res.json["res"]
        assert list(ours)[-2:] == ["text_word_boxes", "text_word"] and ours["return_word_box"] is True
        for key in ("rec_texts", "text_word", "text_word_boxes"):
            assert ours[key] == official[key], (res.stem, key)
        assert len(res["text_word_region"]) == len(res["rec_texts"])
        checked += len(ours["text_word"])
    assert checked > 50


def test_multi_page_tiff_gives_every_page(reference, tmp_path):
    """A TIFF's pages come back one result each, named <stem>_<page>, read as PaddleX reads them."""
    from edge import PaddleOCR

    names = ["rapid_short.png", "rapid_text_vertical_words.png", "rapid_black_font_color_transparent.png"]
    frames = [Image.open(reference / "images" / n).convert("RGB") for n in names]
    tiff = tmp_path / "scans.tiff"
    frames[0].save(tiff, save_all=True, append_images=frames[1:], compression="tiff_lzw")
    ocr = PaddleOCR(use_doc_orientation_classify=False, use_doc_unwarping=False, use_textline_orientation=False)
    pages = ocr.predict(str(tiff))
    assert [p["page_index"] for p in pages] == [0, 1, 2]
    expected = ocr.predict([cv2.cvtColor(np.asarray(f), cv2.COLOR_RGB2BGR) for f in frames])
    assert [p["rec_texts"] for p in pages] == [e["rec_texts"] for e in expected] and pages[1]["rec_texts"]
    assert [p.save_to_json(tmp_path / "out").name for p in pages] == [f"scans_{i}_res.json" for i in range(3)]


# -- command line ------------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_flag_of_the_documented_table_parses():
    from edge.cli import parser

    for flag, value in CLI_TABLE.items():
        args = ["ocr", *(["-i", "x.png"] if flag != "input" else []), f"--{flag}", *value.split()]
        parsed = parser().parse_args(args)
        got = getattr(parsed, flag)
        assert got is not None, flag


def test_quick_start_command_runs_with_device_cpu(reference, tmp_path):
    """Section 2.1's first command, `paddleocr` -> `edge-ocr`, `--device gpu:0` -> `--device cpu`, its URL served
    from this machine: PaddleOCR's printout and files."""
    seed = _seed("001")
    start = seed.index("paddleocr ocr -i https://")
    command = seed[start:seed.index("\n\n", start)].replace("\\\n", " ")
    args = command.split()[1:]  # `ocr -i URL ...`
    assert args[:2] == ["ocr", "-i"] and args[2].endswith("/general_ocr_002.png") and "--device" in args
    _png(reference, "general_ocr_002", tmp_path / "web")
    web = serve_files(tmp_path / "web")
    try:
        args[2] = f"http://127.0.0.1:{web.server_port}/general_ocr_002.png"
        args[args.index("--device") + 1] = "cpu"
        r = run_cli(*args, cwd=tmp_path)
    finally:
        web.shutdown()
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("{'res': {'input_path': ") and "'rec_texts': [" in r.stdout
    assert sorted(p.name for p in (tmp_path / "output").iterdir()) == ["general_ocr_002_ocr_res_img.png",
                                                                        "general_ocr_002_res.json"]
    ours = json.loads((tmp_path / "output" / "general_ocr_002_res.json").read_text())
    assert ours["rec_texts"] == _official(reference, "general_ocr_002")["rec_texts"]
    second = seed[seed.index("paddleocr ocr -i ./general_ocr_002.png --ocr_version"):].split("\n")[0].split()[1:]
    r = run_cli(*second, cwd=tmp_path)
    assert r.returncode == 2 and "PP-OCRv5" in r.stderr and "ocr_version" in r.stderr


def test_command_line_maps_notes_and_deprecations(reference, tmp_path):
    image = reference / "images" / "rapid_text_cls.jpg"
    r = run_cli("ocr", "-i", image, "--use_angle_cls", "True", "--det_db_box_thresh", "0.5", "--use_doc_unwarping",
                "False", "--use_doc_orientation_classify", "True", *PADDLE_ONLY, "--cpu_threads", "2",
                "--text_detection_model_name", "PP-OCRv5_mobile_det", "--text_rec_input_shape", "3", "48", "320",
                "--lang", "ch", "--ocr_version", "PP-OCRv5", "--device", "cpu", "--engine", "paddle",
                "--return_word_box", "True", "--save_path", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "edge-ocr: warning: The option `--use_angle_cls` has been deprecated" in r.stderr
    notes = [line for line in r.stderr.splitlines() if line.startswith("edge-ocr: note: ")]
    for flag in PADDLE_ONLY[::2] + ["--engine"]:
        assert any(line.startswith(f"edge-ocr: note: {flag[2:]}=") for line in notes), flag
    saved = json.loads((tmp_path / "rapid_text_cls_res.json").read_text())
    assert saved["rec_texts"] == ["怪我咯"] and saved["text_det_params"]["box_thresh"] == 0.5
    assert saved["text_word"] == [["怪", "我", "咯"]] and len(saved["text_word_boxes"][0]) == 3
    for bad, words in ((["--use_angle_cls", "True", "--use_textline_orientation", "False"], "mutually exclusive"),
                       (["--device", "gpu:0"], "no GPU"), (["--lang", "korean"], "No models are available"),
                       (["--use_textline_orientation", "maybe"], "expected True or False"),
                       (["--ocr_version", "PP-OCRv9"], "invalid choice")):
        r = run_cli("ocr", "-i", image, *bad)
        assert r.returncode == 2 and words in r.stderr, (bad, r.stderr)


# -- serving API -------------------------------------------------------------------------------------------------
def test_documented_client_script_runs_against_the_service(serving, reference, tmp_path):
    """The pipeline page's Python client (section 3), with its URL and file pointed here."""
    seed = _seed("001")
    start = seed.index("import base64\nimport requests")
    end = 'print(f"Output image saved at {ocr_img_path}")'
    script = seed[start:seed.index(end, start) + len(end)]
    script = script.replace('"http://localhost:8080/ocr"', repr(f"{serving}/ocr")).replace(
        '"./demo.jpg"', repr(str(reference / "images" / "ppocr_11.jpg")))
    (tmp_path / "client.py").write_text(script)
    p = subprocess.run([sys.executable, "client.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "'rec_texts': [" in p.stdout and "Output image saved at ocr_0.jpg" in p.stdout
    assert cv2.imread(str(tmp_path / "ocr_0.jpg")) is not None


def test_aistudio_client_script_runs_against_a_token_service_returning_urls(reference, tmp_path):
    """The AI Studio client script (seed 000), only its placeholders filled: it sends `Authorization: token ...`
    and downloads ocrImage as a URL, which `http.return_urls` gives (PaddleX's Serving.return_urls)."""
    seed = _seed("000")
    start = seed.index("# Please make sure the requests library is installed")
    script = seed[start:seed.index("Main operations provided by the service")]
    port = free_port()
    d = Daemon(tmp_path / "box", folder={"enabled": False},
               http={"enabled": True, "port": port, "token": "t0k3n", "return_urls": True}).start()
    try:
        for file_type, name in ((1, "ppocr_11.jpg"), (0, "ocrmypdf_c02-22.pdf")):
            filled = (script.replace('"<your url>"', repr(f"http://127.0.0.1:{port}/ocr"))
                      .replace('"<access token>"', repr("t0k3n"))
                      .replace('"<local file path>"', repr(str(reference / "images" / name)))
                      .replace("<file type>", str(file_type)))
            (tmp_path / "client.py").write_text(filled)
            p = subprocess.run([sys.executable, "client.py"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=300)
            assert p.returncode == 0, p.stderr[-2000:]
            saved = tmp_path / "output" / f"{Path(name).stem}_0.jpg"
            assert f"Image saved to: output/{saved.name}" in p.stdout and "rec_texts" in p.stdout
            assert cv2.imread(str(saved)) is not None
        answer = requests.post(f"http://127.0.0.1:{port}/ocr", json={"file": "AAAA", "fileType": 1}, timeout=30)
        assert answer.status_code == 403 and answer.json()["errorCode"] == 403 and answer.json()["logId"]
    finally:
        assert d.terminate() == 0


def test_service_accepts_what_paddlex_accepts(serving, reference):
    url = f"{serving}/ocr"
    image = base64.b64encode((reference / "images" / "rapid_en.jpg").read_bytes()).decode()
    lenient = {"file": image, "fileType": "1", "textDetThresh": "0.3", "textDetLimitSideLen": 960.0,
               "textDetLimitType": "resize_long", "useTextlineOrientation": "false", "visualize": "false",
               "clientVersion": "2.1", "returnWordBox": True}
    r = requests.post(url, json=lenient, timeout=120)
    assert r.status_code == 200, r.text
    page = r.json()["result"]["ocrResults"][0]
    assert set(page) == {"prunedResult"}  # not visualised: no image fields at all
    pruned = page["prunedResult"]
    assert pruned["text_det_params"]["limit_side_len"] == 960 and pruned["text_det_params"]["limit_type"] == "resize_long"
    assert pruned["text_word"] and len(pruned["text_word_boxes"]) == len(pruned["rec_texts"])
    bad = requests.post(url, json={"file": image, "textDetThresh": "lots", "logId": "client-7"}, timeout=30)
    assert bad.status_code == 422 and bad.json()["logId"] == "client-7" and bad.json()["errorCode"] == 422
    missing = requests.get(f"{serving}/nope", timeout=10)
    assert missing.status_code == 404 and set(missing.json()) == {"logId", "errorCode", "errorMsg"}
    health = requests.get(f"{serving}/health", timeout=10).json()
    assert health["errorCode"] == 0 and health["errorMsg"] == "Healthy" and health["logId"]


def test_service_images_fit_max_output_img_size_and_tiffs_come_back_page_by_page(serving, reference):
    big = np.full((2400, 1600, 3), 255, np.uint8)
    cv2.putText(big, "LARGE PAGE 2400", (100, 600), cv2.FONT_HERSHEY_SIMPLEX, 4, (0, 0, 0), 8)
    ok, png = cv2.imencode(".png", big)
    page = requests.post(f"{serving}/ocr", json={"file": base64.b64encode(png.tobytes()).decode()},
                         timeout=300).json()["result"]["ocrResults"][0]
    for field in ("ocrImage", "inputImage"):
        h, w = cv2.imdecode(np.frombuffer(base64.b64decode(page[field]), np.uint8), cv2.IMREAD_COLOR).shape[:2]
        assert max(h, w) <= 2000 and (h == 2000 or w == 2000), (field, h, w)
    frames = [Image.open(io.BytesIO(scan_image(text))).convert("RGB") for text in ("PAGE ONE", "PAGE TWO", "PAGE 3")]
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate")
    body = requests.post(f"{serving}/ocr", json={"file": base64.b64encode(buf.getvalue()).decode(), "fileType": 1,
                                                 "visualize": False}, timeout=300).json()
    assert body["errorCode"] == 0, body
    info = body["result"]["dataInfo"]  # the service reads max_pages (2) of them, as PaddleX's max_num_input_imgs
    assert info == {"numPages": 2, "pages": [{"width": f.width, "height": f.height} for f in frames[:2]],
                    "type": "tiff"}
    assert [" ".join(r["prunedResult"]["rec_texts"]) for r in body["result"]["ocrResults"]] == ["PAGE ONE", "PAGE TWO"]


def test_visualisation_font_has_a_stated_licence():
    from edge.fonts import cjk_font

    font = cjk_font()
    assert font is not None and "noto_cjk_sans_otc" in str(font.path)
    meta = importlib.metadata.metadata("noto-cjk-sans-otc")
    assert meta["License-Expression"] == "OFL-1.1"
    licence = [f for f in importlib.metadata.files("noto-cjk-sans-otc") if f.name == "LICENSE"]
    assert licence and "SIL OPEN FONT LICENSE" in licence[0].read_text().upper()
    assert font.at(20).getname() == ("Noto Sans CJK SC", "Regular")
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("cvttf-NotoSansCJK-Regular")  # the unlabelled wheel is gone
