"""One model through the proven chain: source -> ONNX -> surgery -> x2paddle -> conv-bias fold -> paddle_lite_opt.

paddle_lite_opt 2.13 cannot read PaddleX PIR (inference.json) and Paddle 3 cannot write the legacy format,
hence the detour through ONNX. The ONNX Runtime engine uses the exported ONNX as it is (the source numerics).
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BuildError, ModelError
from ..models import ModelSpec
from .toolenv import ToolEnv, run

log = logging.getLogger(__name__)
PADDLEX_FILES = ("inference.json", "inference.pdiparams", "inference.yml")


@dataclass
class Tooling:
    p2o: ToolEnv
    x2p: ToolEnv
    opset: int
    targets: list[str]

    @property
    def lite_opt(self) -> Path:
        p = Path(sys.executable).parent / "paddle_lite_opt"
        if not p.exists():
            raise BuildError("paddle_lite_opt not found next to " + sys.executable,
                             hint="models are built on an x86_64 host with the paddlelite==2.13rc0 wheel installed "
                                  "(make setup); ARM devices receive the built .nb files")
        return p


@dataclass
class Converted:
    files: dict[str, Path] = field(default_factory=dict)  # kind -> path (onnx, x86.nb, arm.nb, arm.pb, dict)
    steps: dict = field(default_factory=dict)


def check_paddlex_dir(d: Path) -> None:
    missing = [f for f in PADDLEX_FILES if not (d / f).is_file()]
    if missing:
        raise ModelError(f"{d} is not a PaddleX model folder: {', '.join(missing)} missing",
                         hint="copy the official model folder with inference.json, inference.pdiparams and inference.yml")
    if (d / "inference.pdiparams").stat().st_size == 0:
        raise ModelError(f"{d / 'inference.pdiparams'} is empty", hint="copy the weights file again")


def paddlex_meta(tools: Tooling, d: Path) -> dict:
    out = tools.p2o.script("paddlex_meta.py", d, what=f"reading {d / 'inference.yml'}")
    return json.loads(out)


def check_meta(spec: ModelSpec, meta: dict, d: Path) -> None:
    """The manifest's preprocessing and dictionary must be the ones the model was exported with."""
    if meta["model_name"] != spec.name:
        raise ModelError(f"{d} holds {meta['model_name']!r}, expected {spec.name!r}",
                         hint=f"copy the official {spec.name} files")
    norm = meta.get("normalize")
    if norm:
        for k in ("mean", "std"):
            if norm.get(k) is not None and [round(v, 6) for v in norm[k]] != [round(v, 6) for v in getattr(spec.input, k)]:
                raise BuildError(f"{spec.name}: inference.yml {k} {norm[k]} differs from the manifest "
                                 f"{getattr(spec.input, k)}", hint="fix models_mobile/manifest.toml")
    if spec.labels and meta.get("label_list") and list(meta["label_list"]) != spec.labels:
        raise BuildError(f"{spec.name}: labels {meta['label_list']} differ from the manifest {spec.labels}")
    if spec.dictionary:
        chars = meta.get("character_dict") or []
        if len(chars) != spec.dictionary.entries:
            raise BuildError(f"{spec.name}: dictionary has {len(chars)} entries, the manifest expects "
                             f"{spec.dictionary.entries}", hint="the source is not the expected model")


def export_paddlex(tools: Tooling, d: Path, out: Path, logs: Path, key: str) -> None:
    run([tools.p2o.bin("paddle2onnx"), "--model_dir", d, "--model_filename", "inference.json",
         "--params_filename", "inference.pdiparams", "--save_file", out, "--opset_version", str(tools.opset)],
        what=f"{key}: paddle2onnx", log_file=logs / f"{key}.paddle2onnx.log")
    if not out.exists():
        raise BuildError(f"{key}: paddle2onnx wrote no {out}", hint=f"see {logs / f'{key}.paddle2onnx.log'}")


def to_paddle(spec: ModelSpec, key: str, onnx_path: Path, work: Path, logs: Path, conv: Converted,
              x2p: ToolEnv) -> Path:
    """ONNX -> surgery -> x2paddle -> conv-bias fold: the legacy Paddle program (folder with model.pdmodel and
    model.pdiparams) that paddle_lite_opt and Paddle's post-training quantisation read."""
    surg = work / f"{key}.surgery.onnx"
    probes = [a for s in spec.probe_shapes for a in ("--probe", "x".join(map(str, s)))]
    conv.steps["surgery"] = json.loads(x2p.script(
        "surgery.py", onnx_path, surg, *probes, what=f"{key}: ONNX surgery",
        log_file=logs / f"{key}.surgery.log").strip().splitlines()[-1])
    pd = work / f"{key}.paddle"
    shutil.rmtree(pd, ignore_errors=True)
    run([x2p.bin("x2paddle"), "--framework=onnx", f"--model={surg}", f"--save_dir={pd}"],
        what=f"{key}: x2paddle", log_file=logs / f"{key}.x2paddle.log")
    if not (pd / "inference_model" / "model.pdmodel").exists():
        raise BuildError(f"{key}: x2paddle produced no inference model", hint=f"see {logs / f'{key}.x2paddle.log'}")
    folded = work / f"{key}.folded"
    conv.steps["pdfold"] = json.loads(x2p.script(
        "pdfold.py", pd / "inference_model" / "model", folded / "model", what=f"{key}: conv-bias fold",
        log_file=logs / f"{key}.pdfold.log").strip().splitlines()[-1])
    return folded


def to_lite(spec: ModelSpec, key: str, onnx_path: Path, work: Path, out: Path, tools: Tooling) -> Converted:
    """ONNX -> Paddle Lite naive buffers for every target (+ the ARM graph as protobuf for the x86 check)."""
    logs = out / "logs"
    conv = Converted()
    folded = to_paddle(spec, key, onnx_path, work, logs, conv, tools.x2p)
    common = [f"--model_file={folded / 'model.pdmodel'}", f"--param_file={folded / 'model.pdiparams'}"]
    for target in tools.targets:
        dst = out / f"{key}.{target}"
        run([tools.lite_opt, *common, f"--optimize_out={dst}", f"--valid_targets={target}",
             "--optimize_out_type=naive_buffer"], what=f"{key}: paddle_lite_opt {target}",
            log_file=logs / f"{key}.opt.{target}.log")
        nb = dst.with_name(dst.name + ".nb")
        if not nb.exists() or nb.stat().st_size == 0:
            raise BuildError(f"{key}: paddle_lite_opt wrote no {nb}", hint=f"see {logs}")
        conv.files[f"{target}.nb"] = nb
    if "arm" in tools.targets:
        pb = out / f"{key}.arm.pb"
        shutil.rmtree(pb, ignore_errors=True)
        run([tools.lite_opt, *common, f"--optimize_out={pb}", "--valid_targets=arm", "--optimize_out_type=protobuf"],
            what=f"{key}: paddle_lite_opt arm (protobuf)", log_file=logs / f"{key}.opt.arm.pb.log")
        if not pb.is_dir():
            raise BuildError(f"{key}: paddle_lite_opt wrote no {pb}", hint=f"see {logs}")
        conv.files["arm.pb"] = pb
    return conv


def convert(spec: ModelSpec, key: str, source: Path, work: Path, out: Path, tools: Tooling) -> Converted:
    """source is a PaddleX folder or an .onnx file; outputs go to out/<key>.*"""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    onnx_out = out / f"{key}.onnx"
    meta = None
    if source.is_dir():
        check_paddlex_dir(source)
        meta = paddlex_meta(tools, source)
        check_meta(spec, meta, source)
        export_paddlex(tools, source, onnx_out, logs, key)
    else:
        shutil.copyfile(source, onnx_out)
    conv = to_lite(spec, key, onnx_out, work, out, tools)
    conv.files["onnx"] = onnx_out
    if spec.dictionary:
        d = out / f"{key}.dict.txt"
        d.write_text("\n".join(meta["character_dict"]) + "\n", encoding="utf-8")
        conv.files["dict"] = d
    return conv
