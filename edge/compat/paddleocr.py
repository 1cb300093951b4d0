"""`PaddleOCR`: PaddleOCR 3.x's class, its constructor, methods and defaults, over this box's models and engine.

Code written against `from paddleocr import PaddleOCR` runs by changing the import to `from edge import PaddleOCR`.
Its defaults are PaddleOCR's (both orientation models on; unwarping, on by default there, is skipped with one
warning), unlike `EdgeOCR`, which keeps the appliance's. Bad inputs raise, as PaddleOCR's do.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..api import EdgeOCR, InputFailure
from ..budget import Policy
from ..errors import UsageError
from ..models import load_manifest
from ..profiles import DeviceProfile, detect, load_profile
from ..results import OCRResult
from .params import Setup, checked_options, note, resolve, warn

GPU_LIKE = ("gpu", "xpu", "mlu", "dcu", "npu", "gcu", "sdaa", "iluvatar_gpu", "metax_gpu", "intel_gpu")


def profile_for_device(device: str | None, profile: str | DeviceProfile | None) -> DeviceProfile:
    """PaddleOCR's `device` -> a device profile that runs here: cpu picks a CPU profile, npu this board's NPU
    profile; anything this box does not have is refused naming what it has."""
    prof = profile if isinstance(profile, DeviceProfile) else load_profile(profile) if profile else detect()[0]
    if device is None:
        return prof
    kind = device.split(":", 1)[0].lower()
    what = f"{prof.name}: {'NPU' if prof.is_npu() else 'CPU'}, engine {prof.engine.key}"
    if kind == "cpu":
        if prof.is_npu():  # the board's NPU profile, but the CPU was asked for: the architecture's CPU profile
            prof = detect(compatible=[])[0]
        return prof
    if kind == "npu" and prof.is_npu():
        if device.lower() not in ("npu", "npu:0"):
            note(f"device={device!r}: this board has one NPU; {prof.name} uses it")
        return prof
    if kind not in GPU_LIKE:
        raise UsageError(f"device={device!r}: not a device name PaddleOCR knows",
                         hint="pass cpu, npu or npu:0 (this box's profile: " + what + ")")
    raise UsageError(f"device={device!r}: this box has no {kind.upper()} that edge-ocr can use (profile {what})",
                     hint="pass device='cpu' (`--device cpu`); NPU profiles need a board with one (a311d-npu, "
                          "rv1126-npu)")


class PaddleOCR:
    """PaddleOCR 3.x's general OCR pipeline (PP-OCRv5 mobile on this box's device profile)."""

    def __init__(self, doc_orientation_classify_model_name=None, doc_orientation_classify_model_dir=None,
                 doc_unwarping_model_name=None, doc_unwarping_model_dir=None, text_detection_model_name=None,
                 text_detection_model_dir=None, textline_orientation_model_name=None,
                 textline_orientation_model_dir=None, textline_orientation_batch_size=None,
                 text_recognition_model_name=None, text_recognition_model_dir=None, text_recognition_batch_size=None,
                 use_doc_orientation_classify=None, use_doc_unwarping=None, use_textline_orientation=None,
                 text_det_limit_side_len=None, text_det_limit_type=None, text_det_thresh=None,
                 text_det_box_thresh=None, text_det_unclip_ratio=None, text_det_input_shape=None,
                 text_rec_score_thresh=None, return_word_box=None, text_rec_input_shape=None, lang=None,
                 ocr_version=None, *, profile: str | DeviceProfile | None = None,
                 models_dir: str | Path | None = None, memory_mb: int | None = None,
                 memory_policy: Policy | None = None, **kwargs):
        """PaddleOCR's parameters. `kwargs` takes PaddleOCR's common arguments (device, engine, cpu_threads,
        enable_mkldnn, ..., paddlex_config) and its deprecated 2.x names (use_angle_cls, det_db_thresh, ...). The
        keyword-only ones are edge-ocr's: device profile, model build, memory budget."""
        given = {k: v for k, v in locals().items()
                 if k not in ("self", "kwargs", "profile", "models_dir", "memory_mb", "memory_policy")}
        given.update(kwargs)
        manifest = load_manifest(Path(models_dir) / "manifest.toml" if models_dir else None)
        self._setup: Setup = resolve(given, manifest)
        prof = profile_for_device(self._setup.device, profile).adjusted(
            textline=self._setup.textline_model, rec_batch=self._setup.rec_batch,
            textline_batch=self._setup.textline_batch, threads=self._setup.threads)
        self._ocr = EdgeOCR(profile=prof, engine=self._setup.engine, models_dir=models_dir, memory_mb=memory_mb,
                            memory_policy=memory_policy, **self._setup.options)

    @property
    def edge(self) -> EdgeOCR:
        """The EdgeOCR underneath (its profile, memory release, look-ahead)."""
        return self._ocr

    def predict_iter(self, input, *, use_doc_orientation_classify=None, use_doc_unwarping=None,
                     use_textline_orientation=None, text_det_limit_side_len=None, text_det_limit_type=None,
                     text_det_thresh=None, text_det_box_thresh=None, text_det_unclip_ratio=None,
                     text_rec_score_thresh=None, return_word_box=None) -> Iterator[OCRResult]:
        """One result per image or page, lazily; a bad input raises its EdgeError (as PaddleOCR raises)."""
        options = {k: v for k, v in locals().items() if k not in ("self", "input")}
        for r in self.results(input, **options):
            if isinstance(r, InputFailure):
                raise r.exception
            yield r

    def results(self, input, page_limit: int | None = None, **options: Any) -> Iterator[OCRResult | InputFailure]:
        """As predict_iter, but a bad input is yielded as an InputFailure and the others go on (the `ocr`
        command's way); `page_limit` reads only the first pages of a PDF or TIFF."""
        return self._ocr.predict_iter(input, page_limit=page_limit, **checked_options(**options))

    def predict(self, input, *, use_doc_orientation_classify=None, use_doc_unwarping=None,
                use_textline_orientation=None, text_det_limit_side_len=None, text_det_limit_type=None,
                text_det_thresh=None, text_det_box_thresh=None, text_det_unclip_ratio=None,
                text_rec_score_thresh=None, return_word_box=None) -> list[OCRResult]:
        options = {k: v for k, v in locals().items() if k not in ("self", "input")}
        return list(self.predict_iter(input, **options))

    def ocr(self, img, **kwargs) -> list[OCRResult]:
        """PaddleOCR 2.x's entry point, kept by PaddleOCR 3.x as a deprecated alias of predict."""
        warn("Please use `predict` instead.", DeprecationWarning)
        return self.predict(img, **kwargs)

    def close(self) -> None:
        self._ocr.close()

    def export_paddlex_config_to_yaml(self, yaml_path: str | Path) -> None:
        """The effective settings as a PaddleX OCR pipeline configuration (readable back through paddlex_config)."""
        import yaml

        prof, p = self._ocr.profile, self._ocr.params
        manifest = self._ocr.pipeline.manifest
        config = {
            "pipeline_name": "OCR", "text_type": "general",
            "use_doc_preprocessor": p.use_doc_orientation_classify,
            "use_textline_orientation": p.use_textline_orientation,
            "SubPipelines": {"DocPreprocessor": {
                "pipeline_name": "doc_preprocessor", "use_doc_orientation_classify": p.use_doc_orientation_classify,
                "use_doc_unwarping": False,
                "SubModules": {"DocOrientationClassify": {"module_name": "doc_text_orientation",
                                                          "model_name": manifest.model(prof.models.doc_orientation).name,
                                                          "model_dir": None}}}},
            "SubModules": {
                "TextDetection": {"module_name": "text_detection", "model_name": manifest.model("det").name,
                                  "model_dir": None, "limit_side_len": p.det.limit_side_len,
                                  "limit_type": p.det.limit_type, "max_side_limit": p.det.max_side_limit,
                                  "thresh": p.det.thresh, "box_thresh": p.det.box_thresh,
                                  "unclip_ratio": p.det.unclip_ratio},
                "TextLineOrientation": {"module_name": "textline_orientation",
                                        "model_name": manifest.model(prof.models.textline).name, "model_dir": None,
                                        "batch_size": prof.batch.textline},
                "TextRecognition": {"module_name": "text_recognition", "model_name": manifest.model("rec").name,
                                    "model_dir": None, "batch_size": prof.batch.rec,
                                    "score_thresh": p.text_rec_score_thresh, "return_word_box": p.return_word_box}}}
        Path(yaml_path).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def constructor_parameters() -> list[str]:
    """PaddleOCR's constructor parameters, in order (for the command line and the tests)."""
    import inspect

    return [n for n, p in inspect.signature(PaddleOCR.__init__).parameters.items()
            if p.kind is p.POSITIONAL_OR_KEYWORD and n != "self"]


