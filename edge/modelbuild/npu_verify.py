"""`edge-ocr models verify --target rknn-<soc>`: an NPU build run in its toolkit's simulator on the reference set,
against the official outputs and against the fp32 ONNX path, per model and end to end.

Reference inputs that calibrated int8 (calibration.CALIBRATION_REFERENCE) are scored apart from the held-out ones,
which are the figures that count. Per model (held-out inputs): detection as the agreement of the 0.3-thresholded
probability maps (IoU) with fp32, recognition as lines read exactly like fp32 and like the official pipeline (crops
cut at the official boxes), classifiers as the share of equal classes. End to end: the whole pipeline on the NPU
models against the official outputs (det F1, exact text, page CER) and against fp32 ONNX Runtime.
"""
from __future__ import annotations

import json
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..engine import create_engine, options_for
from ..errors import ParityError as VerifyError
from ..fidelity import compare, load_results
from ..models import BuiltModels, Manifest, build_dir
from ..pipeline.cls import doc_input, textline_input
from ..pipeline.det import DetParams, det_resize
from ..pipeline.geometry import crop_quad
from ..pipeline.normalize import normalize_chw, to_model_colors
from ..pipeline.rec import ctc_decode, rec_normalize
from ..profiles import DeviceProfile
from .calibration import is_calibration

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class Held:
    """The held-out reference inputs, as the per-model checks use them."""

    pages: dict[str, np.ndarray] = field(default_factory=dict)
    crops: list[tuple[str, np.ndarray, str]] = field(default_factory=list)  # (label, crop, official text)


def held_out(reference: Path) -> Held:
    h = Held()
    for img_path in sorted((reference / "images").iterdir()):
        if img_path.suffix.lower() not in IMAGE_SUFFIXES or is_calibration(img_path.stem):
            continue
        img = cv2.imdecode(np.fromfile(str(img_path), np.uint8), cv2.IMREAD_COLOR)
        h.pages[img_path.stem] = img
        res = reference / "paddleocr" / f"{img_path.stem}_res.json"
        data = json.loads(res.read_text(encoding="utf-8"))
        data = data.get("res", data)
        for k, (poly, text) in enumerate(zip(data.get("rec_polys", []), data.get("rec_texts", []))):
            c = crop_quad(img, np.array(poly))
            if c.size and min(c.shape[:2]) > 1:
                h.crops.append((f"{img_path.stem}#{k}", c, text))
    return h


def _model_rows(manifest: Manifest, models: BuiltModels, npu_engine, fp32_engine, target: dict, held: Held,
                chars) -> list[dict]:
    rows = []
    for key, built in target["models"].items():
        spec = manifest.model(key).input
        npu, ref = npu_engine.load(models, key), fp32_engine.load(models, key)
        row = {"model": key, "precision": built["precision"], "inputs": "held-out"}
        if built["task"] == "det":
            ious, worst, scaled = [], 0.0, 0
            for img in held.pages.values():
                resized, _ = det_resize(img, DetParams())
                x = normalize_chw(to_model_colors(resized, spec), spec)[None]
                a, b = ref.run(x), npu.run(x)
                scaled += any(f.scale != 1.0 for f in getattr(npu, "fits", []))  # fixed-shape builds only
                ma, mb = a > 0.3, b > 0.3
                union = (ma | mb).sum()
                ious.append(float((ma & mb).sum() / union) if union else 1.0)
                worst = max(worst, float(np.abs(a - b).max()))
            row.update(pages=len(ious), mask_iou_mean=round(float(np.mean(ious)), 4),
                       mask_iou_min=round(float(np.min(ious)), 4), max_abs_diff=round(worst, 4),
                       pages_downscaled=scaled)
        elif built["task"] == "rec":
            same_fp32 = same_official = 0
            for _, crop, text in held.crops:
                x = rec_normalize(crop, spec)[None]
                ta = ctc_decode(ref.run(x), chars)[0][0]
                tb = ctc_decode(npu.run(x), chars)[0][0]
                same_fp32 += ta == tb
                same_official += tb == text
            n = len(held.crops)
            row.update(lines=n, text_equal_fp32=round(same_fp32 / n, 4), text_equal_official=round(same_official / n, 4))
        elif built["task"] == "textline_cls":
            xs = [textline_input(c if t == 0 else c[::-1, ::-1], spec) for _, c, _ in held.crops for t in (0, 180)]
            row.update(_agreement(ref, npu, xs))
        else:
            rots = [None, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE]
            xs = [doc_input(p if r is None else cv2.rotate(p, r), spec) for p in held.pages.values() for r in rots]
            row.update(_agreement(ref, npu, xs))
        rows.append(row)
    return rows


def _agreement(ref, npu, xs: list[np.ndarray]) -> dict:
    same = sum(int(ref.run(x[None]).argmax(1)[0] == npu.run(x[None]).argmax(1)[0]) for x in xs)
    return {"inputs_n": len(xs), "class_equal_fp32": round(same / len(xs), 4)}


def _pipeline_results(profile: DeviceProfile, engine, models_root: Path | None, images: Path, out: Path) -> None:
    from ..api import EdgeOCR

    ocr = EdgeOCR(profile, engine, models_dir=models_root)
    try:
        for r in ocr.predict(str(images)):
            if not r.ok:
                raise VerifyError(f"{profile.name} failed on {r['input_path']}: {r['error']}")
            r.save_to_json(out)
    finally:
        ocr.close()


def _split(results: dict[str, dict]) -> tuple[dict, dict]:
    held = {k: v for k, v in results.items() if not is_calibration(k)}
    cal = {k: v for k, v in results.items() if is_calibration(k)}
    return held, cal


def verify_build(manifest: Manifest, profile: DeviceProfile, tool_python: str, reference: Path,
                 models_root: Path | None = None, json_out: Path | None = None) -> dict:
    """Runs the profile's device build the way its build tool can on this host; returns (and writes) the report."""
    models = BuiltModels(build_dir(models_root))
    plugin = profile.plugin
    sim_options = plugin.simulated_options(profile.engine, tool_python)
    sim_profile = profile.model_copy(update={"engine": sim_options})
    npu_engine = create_engine(sim_options)
    target = npu_engine.target_entry(models)
    every = plugin.simulated_options(profile.engine, tool_python, models=list(target["models"]))
    model_engine = npu_engine if every == sim_options else create_engine(every)
    fp32_profile = profile.with_engine("onnxruntime")
    fp32_engine = create_engine(options_for("onnxruntime"))
    chars = models.dictionary("rec")
    official = load_results(reference / "paddleocr")
    with tempfile.TemporaryDirectory(prefix="edge-npu-verify-") as tmp:
        runs = {}
        try:
            per_model = _model_rows(manifest, models, model_engine, fp32_engine, target, held_out(reference), chars)
            for name, prof, engine in (("npu", sim_profile, npu_engine), ("fp32", fp32_profile, fp32_engine)):
                out = Path(tmp) / name
                _pipeline_results(prof, engine, models_root, reference / "images", out)
                runs[name] = load_results(out)
            rebuilt = npu_engine.simulated()
        finally:
            for e in {npu_engine, model_engine}:
                e.close()
        if json_out:
            keep = Path(json_out).with_suffix("")
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(Path(tmp) / "npu", keep / "npu-results")
    off_held, off_cal = _split(official)
    end_to_end = {}
    for name, results in runs.items():
        held, cal = _split(results)
        end_to_end[name] = {"held_out_vs_official": compare(held, off_held).as_dict(),
                            "calibration_vs_official": compare(cal, off_cal).as_dict()}
    npu_held, _ = _split(runs["npu"])
    fp32_held, _ = _split(runs["fp32"])
    end_to_end["npu_vs_fp32_held_out"] = compare(npu_held, fp32_held).as_dict()
    # the detector runs on the device in every NPU profile; a model whose file is of the same kind does too
    on_device = [k for k in target["models"] if plugin.model_kind_for(profile.engine, k) == profile.model_kind()]
    report = {"target": profile.model_kind(), "profile": profile.name, "host": platform.machine(),
              "executed": target_execution(target), "models_on_device": on_device,
              "simulated_rebuild_differing_bytes": rebuilt,
              "held_out": sorted(off_held), "calibration_reference": sorted(off_cal),
              "per_model": per_model, "end_to_end": end_to_end, "build": {k: v for k, v in target.items() if k != "models"},
              "placement": {k: v["devices"] for k, v in target["models"].items() if "devices" in v}}
    if json_out:
        Path(json_out).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return report


def target_execution(target: dict) -> str:
    if "soc" in target:
        return "rknn-toolkit2's simulator on x86_64 (no Rockchip NPU was run)"
    return ("the int8 Paddle programs in Paddle inference on x86_64 (fake-quantised: int8 rounding computed in "
            "float), the CPU models on Paddle Lite's x86 kernels; no NNAdapter device was run")


def table(report: dict) -> str:
    lines = [f"{report['target']} ({report['executed']}); held-out reference inputs: {len(report['held_out'])}, "
             f"calibration reference inputs: {len(report['calibration_reference'])}", "", "per model (held-out):"]
    for row in report["per_model"]:
        rest = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("model", "precision", "inputs"))
        lines.append(f"  {row['model']:15s} {row['precision']:5s} {rest}")
    lines.append(f"on the device in profile {report['profile']}: {', '.join(report['models_on_device'])}")
    for key, devices in report.get("placement", {}).items():
        for device, p in devices.items():
            cpu = ", ".join(f"{op} x{n}" for op, n in p["cpu_ops"].items()) or "none"
            lines.append(f"  {key} on {device}: {p['npu_subgraphs']} NPU subgraph(s), {p['npu_ops']} ops; on the CPU: {cpu}")
    lines.append("")
    lines.append("end to end:                       det F1   text exact   page CER")
    e = report["end_to_end"]
    for label, f in ((f"{report['target']} vs official (held-out)", e["npu"]["held_out_vs_official"]),
                     ("fp32 ONNX vs official (held-out)", e["fp32"]["held_out_vs_official"]),
                     (f"{report['target']} vs fp32 ONNX (held-out)", e["npu_vs_fp32_held_out"]),
                     (f"{report['target']} vs official (calibration)", e["npu"]["calibration_vs_official"])):
        lines.append(f"  {label:32s} {f['det_f1']:.4f}   {f['text_exact']:.4f}       {f['page_cer']:.4f}")
    return "\n".join(lines)
