"""PaddleOCR 3.x's parameters for the general OCR pipeline, declared once, and what each becomes on this box.

The `PaddleOCR` class and the `ocr` command are both derived from this table. A parameter either maps onto
edge-ocr (an OCR option, a model this box has, a batch size, a thread count, a device profile), is accepted with a
one-line note where it only tunes Paddle Inference, or is refused with what this box has instead. Nothing falls
back silently to another model.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, UsageError
from ..options import OcrOptions

# PaddleOCR 3.7's own lists: values it accepts, so a typo gets its wording and a valid value gets ours
PADDLE_OCR_VERSIONS = ("PP-OCRv3", "PP-OCRv4", "PP-OCRv5", "PP-OCRv6")
# PaddleOCR's engine names that are not edge-ocr engines (its fifth, ONNX Runtime, is one: it maps onto it)
PADDLE_ENGINES = ("paddle", "paddle_static", "paddle_dynamic", "transformers")
PADDLE_PRECISIONS = ("fp32", "fp16")
OCR_VERSION = "PP-OCRv5"
LANGS = {"ch": "Simplified Chinese", "chinese_cht": "Traditional Chinese", "en": "English", "japan": "Japanese"}
DET_MODEL, REC_MODEL = "PP-OCRv5_mobile_det", "PP-OCRv5_mobile_rec"
REC_INPUT_SHAPE = (3, 48, 320)

# PaddleOCR 2.x names PaddleOCR 3.x still takes (with a DeprecationWarning), and what they became
DEPRECATED = {
    "det_model_dir": "text_detection_model_dir", "det_limit_side_len": "text_det_limit_side_len",
    "det_limit_type": "text_det_limit_type", "det_db_thresh": "text_det_thresh",
    "det_db_box_thresh": "text_det_box_thresh", "det_db_unclip_ratio": "text_det_unclip_ratio",
    "rec_model_dir": "text_recognition_model_dir", "rec_batch_num": "text_recognition_batch_size",
    "use_angle_cls": "use_textline_orientation", "cls_model_dir": "textline_orientation_model_dir",
    "cls_batch_num": "textline_orientation_batch_size",
}

# Paddle Inference switches: accepted, and why they change nothing here
PADDLE_ONLY = {
    "enable_hpi": "high-performance inference is Paddle's; the device profile already picks the fastest exact engine",
    "use_tensorrt": "TensorRT needs an NVIDIA GPU; this runtime runs on CPUs and NPUs",
    "precision": "it sets TensorRT's precision; the profile's models decide precision here",
    "enable_mkldnn": "MKL-DNN (oneDNN) belongs to Paddle Inference; the profile's engine has its own CPU kernels",
    "mkldnn_cache_capacity": "MKL-DNN (oneDNN) belongs to Paddle Inference",
    "enable_cinn": "the CINN compiler belongs to Paddle Inference",
    "min_subgraph_size": "it tunes TensorRT subgraphs, which do not run here",
    "engine_config": "engine settings come from the device profile's [engine] section here",
}


@dataclass(frozen=True)
class Param:
    """One PaddleOCR parameter beyond the OCR options: its value type for the command line and its help."""

    type: Any
    help: str
    nargs: int | None = None
    choices: tuple | None = None


PARAMS: dict[str, Param] = {
    "doc_orientation_classify_model_name": Param(str, "document orientation model (this box: PP-LCNet_x1_0_doc_ori)"),
    "doc_orientation_classify_model_dir": Param(str, "PaddleX model folder: convert it with `edge-ocr models import`"),
    "doc_unwarping_model_name": Param(str, "unwarping model (UVDoc): not available on this box"),
    "doc_unwarping_model_dir": Param(str, "unwarping model folder: not available on this box"),
    "text_detection_model_name": Param(str, f"text detection model (this box: {DET_MODEL})"),
    "text_detection_model_dir": Param(str, "PaddleX model folder: convert it with `edge-ocr models import`"),
    "textline_orientation_model_name": Param(str, "text-line orientation model (e.g. PP-LCNet_x1_0_textline_ori)"),
    "textline_orientation_model_dir": Param(str, "PaddleX model folder: convert it with `edge-ocr models import`"),
    "textline_orientation_batch_size": Param(int, "text lines per orientation batch"),
    "text_recognition_model_name": Param(str, f"text recognition model (this box: {REC_MODEL})"),
    "text_recognition_model_dir": Param(str, "PaddleX model folder: convert it with `edge-ocr models import`"),
    "text_recognition_batch_size": Param(int, "text lines per recognition batch"),
    "text_det_input_shape": Param(int, "fixed detection input C H W: not available (the size follows the limits)", 3),
    "text_rec_input_shape": Param(int, "recognition input C H W (this box: 3 48 320)", 3),
    "lang": Param(str, "language: ch, chinese_cht, en, japan (what PP-OCRv5 mobile reads)"),
    "ocr_version": Param(str, "PP-OCR version: PP-OCRv5 (mobile) here", choices=PADDLE_OCR_VERSIONS),
    "device": Param(str, "cpu (or npu on a board with a supported NPU); default: this box's device profile"),
    "engine": Param(str, "inference engine (PaddleOCR's names, or an edge-ocr engine); default: the profile's"),
    "enable_hpi": Param(bool, "no effect here (Paddle Inference only)"),
    "use_tensorrt": Param(bool, "no effect here (Paddle Inference only)"),
    "precision": Param(str, "no effect here (TensorRT only)", choices=PADDLE_PRECISIONS),
    "enable_mkldnn": Param(bool, "no effect here (Paddle Inference only)"),
    "mkldnn_cache_capacity": Param(int, "no effect here (Paddle Inference only)"),
    "cpu_threads": Param(int, "CPU threads per model call (the profile's engine threads)"),
    "enable_cinn": Param(bool, "no effect here (Paddle Inference only)"),
    "min_subgraph_size": Param(int, "no effect here (TensorRT only)"),
    "paddlex_config": Param(str, "PaddleX pipeline configuration (YAML): its OCR settings apply"),
}
COMMON = ("device", "engine", "engine_config", "enable_hpi", "use_tensorrt", "precision", "enable_mkldnn",
          "mkldnn_cache_capacity", "cpu_threads", "enable_cinn", "min_subgraph_size", "paddlex_config")
# the keys of PaddleX's OCR pipeline configuration that map onto a parameter
CONFIG_KEYS = {
    ("SubPipelines", "DocPreprocessor", "SubModules", "DocOrientationClassify", "model_name"):
        "doc_orientation_classify_model_name",
    ("SubPipelines", "DocPreprocessor", "SubModules", "DocOrientationClassify", "model_dir"):
        "doc_orientation_classify_model_dir",
    ("SubPipelines", "DocPreprocessor", "SubModules", "DocUnwarping", "model_name"): "doc_unwarping_model_name",
    ("SubPipelines", "DocPreprocessor", "SubModules", "DocUnwarping", "model_dir"): "doc_unwarping_model_dir",
    ("SubPipelines", "DocPreprocessor", "use_doc_orientation_classify"): "use_doc_orientation_classify",
    ("SubPipelines", "DocPreprocessor", "use_doc_unwarping"): "use_doc_unwarping",
    ("use_textline_orientation",): "use_textline_orientation",
    ("SubModules", "TextDetection", "model_name"): "text_detection_model_name",
    ("SubModules", "TextDetection", "model_dir"): "text_detection_model_dir",
    ("SubModules", "TextDetection", "limit_side_len"): "text_det_limit_side_len",
    ("SubModules", "TextDetection", "limit_type"): "text_det_limit_type",
    ("SubModules", "TextDetection", "max_side_limit"): "text_det_max_side_limit",
    ("SubModules", "TextDetection", "thresh"): "text_det_thresh",
    ("SubModules", "TextDetection", "box_thresh"): "text_det_box_thresh",
    ("SubModules", "TextDetection", "unclip_ratio"): "text_det_unclip_ratio",
    ("SubModules", "TextDetection", "input_shape"): "text_det_input_shape",
    ("SubModules", "TextLineOrientation", "model_name"): "textline_orientation_model_name",
    ("SubModules", "TextLineOrientation", "model_dir"): "textline_orientation_model_dir",
    ("SubModules", "TextLineOrientation", "batch_size"): "textline_orientation_batch_size",
    ("SubModules", "TextRecognition", "model_name"): "text_recognition_model_name",
    ("SubModules", "TextRecognition", "model_dir"): "text_recognition_model_dir",
    ("SubModules", "TextRecognition", "batch_size"): "text_recognition_batch_size",
    ("SubModules", "TextRecognition", "score_thresh"): "text_rec_score_thresh",
    ("SubModules", "TextRecognition", "return_word_box"): "return_word_box",
    ("SubModules", "TextRecognition", "input_shape"): "text_rec_input_shape",
}
# PaddleOCR's pipeline defaults (its OCR.yaml): both orientation models on, unwarping on
PADDLE_DEFAULTS = {"use_doc_orientation_classify": True, "use_doc_unwarping": True, "use_textline_orientation": True}


class CompatNote(UserWarning):
    """A PaddleOCR parameter that was accepted but changes nothing here, or was mapped to something else."""


@dataclass
class Setup:
    """What PaddleOCR's parameters come to on this box."""

    options: dict[str, Any] = field(default_factory=dict)  # OcrOptions for every call
    device: str | None = None
    engine: str | None = None
    threads: int | None = None
    textline_model: str | None = None  # manifest key
    rec_batch: int | None = None
    textline_batch: int | None = None


EDGE_DIR = str(Path(__file__).resolve().parent.parent)


def warn(message: str, category: type[Warning] = CompatNote) -> None:
    """A warning attributed to the caller's code (the first frame outside edge-ocr), as PaddleOCR's point at the
    line that passed the parameter."""
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_code.co_filename.startswith(EDGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def note(message: str) -> None:
    warn(message, CompatNote)


def deprecated(name: str, new: str) -> None:
    warn(f"The parameter `{name}` has been deprecated and will be removed in the future. Please use `{new}` instead.",
         DeprecationWarning)


def read_paddlex_config(config: str | Path | dict) -> dict[str, Any]:
    """The parameters a PaddleX OCR pipeline configuration (a YAML file or its dict) sets."""
    if not isinstance(config, dict):
        import yaml

        path = Path(config)
        if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
            raise UsageError(f"paddlex_config {config!r}: no such YAML file",
                             hint="pass the path of a PaddleX OCR pipeline configuration (e.g. one written by "
                                  "export_paddlex_config_to_yaml)")
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise UsageError(f"paddlex_config {config}: cannot read it ({e})") from None
    if config.get("pipeline_name", "OCR") != "OCR":
        raise UsageError(f"paddlex_config is for the {config['pipeline_name']!r} pipeline, not OCR")
    out: dict[str, Any] = {}
    for keys, name in CONFIG_KEYS.items():
        node: Any = config
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if node is not None:
            out[name] = node
    if config.get("use_doc_preprocessor") is False:  # the preprocessing sub-pipeline switched off as a whole
        out["use_doc_orientation_classify"] = out["use_doc_unwarping"] = False
    return out


def _model_names(manifest, task_keys: Callable[[str], bool]) -> dict[str, str]:
    return {spec.name: key for key, spec in manifest.models.items() if task_keys(key)}


def resolve(given: dict[str, Any], manifest) -> Setup:
    """PaddleOCR's parameters (constructor keywords or command-line flags; None = not given) -> a Setup. Deprecated
    names, Paddle-only switches and PaddleX configurations are handled here, so both front ends behave alike."""
    values = {k: v for k, v in given.items() if v is not None}
    for old, new in DEPRECATED.items():
        if old in values:
            deprecated(old, new)
            if new in values:
                raise UsageError(f"`{old}` and `{new}` are mutually exclusive.")
            values[new] = values.pop(old)
    unknown = set(values) - set(PARAMS) - set(OcrOptions.model_fields) - set(COMMON)
    if unknown:
        raise UsageError(f"Unknown argument: {sorted(unknown)[0]}")
    if "paddlex_config" in values:
        values = {**read_paddlex_config(values.pop("paddlex_config")), **values}
    setup = Setup()
    _languages(values)
    _models(values, manifest, setup)
    for name, why in PADDLE_ONLY.items():
        if name in values:
            value = values.pop(name)
            if name == "precision" and value not in PADDLE_PRECISIONS:
                raise UsageError(f"Invalid precision: {value}. Supported values are: {list(PADDLE_PRECISIONS)}.")
            note(f"{name}={value!r} has no effect here: {why}")
    setup.device = values.pop("device", None)
    setup.engine = _engine(values.pop("engine", None))
    setup.threads = values.pop("cpu_threads", None)
    setup.rec_batch = values.pop("text_recognition_batch_size", None)
    setup.textline_batch = values.pop("textline_orientation_batch_size", None)
    options = {**PADDLE_DEFAULTS, **values}
    if options["use_doc_unwarping"]:
        if given.get("use_doc_unwarping"):  # asked for by name, not PaddleOCR's default
            raise UsageError("use_doc_unwarping=True: document unwarping (UVDoc) is not available on this device",
                             hint="scan pages flat, or leave it off (use_doc_unwarping=False)")
        note("document unwarping (UVDoc, on by default in PaddleOCR) is not available on this device: pages are not "
             "unwarped; pass use_doc_unwarping=False to say so")
        options["use_doc_unwarping"] = False
    setup.options = checked_options(**options)
    return setup


def checked_options(**options: Any) -> dict[str, Any]:
    """OCR options checked by OcrOptions (the one validation), refused as a UsageError (a ValueError, as PaddleOCR
    raises one)."""
    try:
        return OcrOptions.checked(**options).model_dump(exclude_none=True)
    except ConfigError as e:
        raise UsageError(e.message, hint=e.hint) from None


def _languages(values: dict[str, Any]) -> None:
    lang, version = values.pop("lang", None), values.pop("ocr_version", None)
    if version is not None and version not in PADDLE_OCR_VERSIONS:
        raise UsageError(f"Invalid OCR version: {version}. Supported values are {list(PADDLE_OCR_VERSIONS)}.")
    if lang is None and version is None:
        return
    if any(k in values for k in ("text_detection_model_name", "text_detection_model_dir",
                                 "text_recognition_model_name", "text_recognition_model_dir")):
        warn("`lang` and `ocr_version` will be ignored when model names or model directories are not `None`.",
             UserWarning)
        return
    have = ", ".join(f"{k} ({v})" for k, v in LANGS.items())
    if version is not None and version != OCR_VERSION:
        raise UsageError(f"No models are available for lang={lang!r} and ocr_version={version!r} on this box: it has "
                         f"{OCR_VERSION} mobile ({DET_MODEL}, {REC_MODEL})",
                         hint=f"leave ocr_version unset or pass {OCR_VERSION}; its recognition model reads {have} "
                              "and pinyin")
    if lang is not None and lang not in LANGS:
        raise UsageError(f"No models are available for lang={lang!r} on this box: {REC_MODEL} reads {have} and pinyin",
                         hint="pass one of those languages, or leave lang unset")
    note(f"lang={lang or 'ch'!r}, ocr_version={version or OCR_VERSION!r}: read by {DET_MODEL} + {REC_MODEL}, the one "
         f"model pair on this box (it covers {', '.join(LANGS)}); PaddleOCR would download a model for this language")


def _models(values: dict[str, Any], manifest, setup: Setup) -> None:
    for name in ("text_detection_model_dir", "text_recognition_model_dir", "textline_orientation_model_dir",
                 "doc_orientation_classify_model_dir", "doc_unwarping_model_dir"):
        if name in values:
            raise UsageError(f"{name}={values[name]!r}: edge-ocr does not load PaddleX model folders at run time; it "
                             "runs models converted and verified at build time",
                             hint="convert the folder once with `edge-ocr models import SLOT DIR` (slots: "
                                  f"{', '.join(manifest.models)}), then pass the model's name")
    wanted = {"text_detection_model_name": (lambda k: k == "det"),
              "text_recognition_model_name": (lambda k: k == "rec"),
              "doc_orientation_classify_model_name": (lambda k: k == "doc_ori"),
              "textline_orientation_model_name": (lambda k: k.startswith(("textline", "cls")))}
    for name, fits in wanted.items():
        if name not in values:
            continue
        have = _model_names(manifest, fits)
        model = values.pop(name)
        if model not in have:
            raise UsageError(f"{name}={model!r}: this box has no such model", hint=f"it has: {', '.join(have)}")
        if name == "textline_orientation_model_name":
            setup.textline_model = have[model]
    if "doc_unwarping_model_name" in values:
        model = values.pop("doc_unwarping_model_name")
        if model != "UVDoc":
            raise UsageError(f"doc_unwarping_model_name={model!r}: this box has no such model",
                             hint="document unwarping is not available here; leave it unset")
    if values.pop("text_det_input_shape", None) is not None:
        raise UsageError("text_det_input_shape: a fixed detection input shape is not available here",
                         hint="the detection size follows text_det_limit_side_len and text_det_limit_type; leave it unset")
    shape = values.pop("text_rec_input_shape", None)
    if shape is not None and tuple(shape) != REC_INPUT_SHAPE:
        raise UsageError(f"text_rec_input_shape={list(shape)}: {REC_MODEL} reads lines at "
                         f"{' x '.join(map(str, REC_INPUT_SHAPE))} here", hint="leave it unset or pass 3 48 320")


def _engine(name: str | None) -> str | None:
    """An edge-ocr engine key for PaddleOCR's `engine` (None: the profile's)."""
    from ..engine import engine_keys

    if name is None or name in engine_keys():
        return name
    if name not in PADDLE_ENGINES:
        raise UsageError(f"Invalid engine: {name}. Supported values are: {list(PADDLE_ENGINES) + engine_keys()}.")
    note(f"engine={name!r}: Paddle Inference and transformers do not run here; the device profile's engine runs the "
         "same models with the same results")
    return None
