"""`edge-ocr models build --target nnadapter`: fully int8 Paddle Lite models for NNAdapter NPUs (TIM-VX on the
A311D, rockchip_npu on the RV1109/RV1126), cached by content and added to the installed build.

Each model of npu.toml's [nnadapter] goes ONNX -> legacy Paddle program (the CPU build's chain) -> Paddle's
post-training quantisation -> paddle_lite_opt per device. The quantised Paddle program is kept too (`int8.pd`): it is
what `models verify --target nnadapter` runs in Paddle inference, the most faithful execution of the int8 graph this
host has. paddle_lite_opt's log says which operators it put into NPU subgraphs; the rest run on the ARM CPU.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import shutil
from collections import Counter
from pathlib import Path

from ..errors import BuildError
from ..models import BuiltModels, Manifest, NpuManifest
from . import calibration, chain
from .build import _lite_version, add_target, cached_target, require_models
from .npu_tools import PADDLE_TOOL
from .toolenv import cache_dir, run

log = logging.getLogger(__name__)
TARGET = "nnadapter"


def placement(opt_log: str) -> dict:
    """Where paddle_lite_opt put the operators: NPU subgraphs, and the operator types left on the CPU."""
    clusters = re.search(r"subgraph clusters: (\d+)", opt_log)
    npu = len(set(re.findall(r'label="(\w+)_op_subgraph_\d+"', opt_log)))
    cpu = Counter(m.group(1) for m in re.finditer(r'label="([a-z_0-9]+?)_\d+_op"', opt_log)
                  if m.group(1) not in ("feed", "fetch"))
    return {"npu_subgraphs": int(clusters.group(1)) if clusters else 0, "npu_ops": npu, "cpu_ops": dict(cpu)}


def _key(npu: NpuManifest, models: BuiltModels, reference: Path | None) -> str:
    h = hashlib.sha256(npu.nnadapter.model_dump_json().encode())
    for f in (PADDLE_TOOL, Path(calibration.__file__), Path(chain.__file__)):
        h.update(f.read_bytes())
    h.update(_lite_version().encode())
    h.update(str(reference is not None).encode())
    for key in npu.nnadapter.models:
        h.update(models.lock["models"][key]["files"]["onnx"]["sha256"].encode())
    return h.hexdigest()[:16]


def build_nnadapter(manifest: Manifest, npu: NpuManifest, dest: Path, tools: chain.Tooling,
                    reference: Path | None = None, *, force: bool = False) -> dict:
    """Quantises and converts npu.toml's [nnadapter] models (cached) and adds them to the build in dest."""
    models = BuiltModels(dest)
    require_models(models, list(npu.nnadapter.models))
    cached = cache_dir() / "npu" / f"{TARGET}-{_key(npu, models, reference)}"

    def convert(work: Path) -> None:
        tools.x2p.ensure()
        _convert(manifest, npu, models, work, tools, reference)

    target = cached_target(cached, convert, force=force)
    add_target(dest, TARGET, target, {
        mkey: {"int8.pd": cached / f"{mkey}.int8.pd", **{f"{TARGET}-{d}": cached / f"{mkey}.{d}.nb"
                                                         for d in target["devices"]}}
        for mkey in target["models"]})
    return target


def _convert(manifest: Manifest, npu: NpuManifest, models: BuiltModels, work: Path, tools: chain.Tooling,
             reference: Path | None) -> None:
    spec_nna = npu.nnadapter
    logs = work / "logs"
    logs.mkdir(parents=True)
    (work / "tmp").mkdir()
    job_models, entry = [], {}
    for mkey, m in spec_nna.models.items():
        spec = manifest.model(mkey)
        folded = chain.to_paddle(spec, mkey, models.path(mkey, "onnx"), work / "tmp", logs, chain.Converted(),
                                 tools.x2p)
        log.info("%s: writing %d calibration inputs", mkey, m.calibration)
        files, labels = calibration.write_dataset(spec, m.calibration, reference, work / "tmp" / "calibration" / mkey)
        job_models.append({"key": mkey, "folded": str(folded), "dataset": [str(f) for f in files],
                           "out": str(work / f"{mkey}.int8.pd")})
        entry[mkey] = {"task": spec.task, "precision": "int8", "calibration": labels, "devices": {}}
    job = {"algo": spec_nna.algo, "op_types": spec_nna.op_types, "models": job_models,
           "report": str(work / "tmp" / "report.json")}
    (work / "tmp" / "quantize.json").write_text(json.dumps(job, indent=1))
    log.info("quantising %s to int8 (Paddle post-training quantisation, %s)", ", ".join(entry), spec_nna.algo)
    run([tools.x2p.python, PADDLE_TOOL, "quantize", work / "tmp" / "quantize.json"], what="int8 quantisation",
        log_file=logs / "quantize.log", timeout=7200)
    for r in json.loads((work / "tmp" / "report.json").read_text()):
        entry[r["key"]]["quantize_seconds"] = r["seconds"]
    for mkey in entry:
        pd = work / f"{mkey}.int8.pd"
        for device in spec_nna.devices:
            out = work / f"{mkey}.{device}"
            log_file = logs / f"{mkey}.opt.{device}.log"
            run([tools.lite_opt, f"--model_file={pd / 'model.pdmodel'}", f"--param_file={pd / 'model.pdiparams'}",
                 f"--optimize_out={out}", f"--valid_targets={device},arm", "--optimize_out_type=naive_buffer"],
                what=f"{mkey}: paddle_lite_opt {device}", log_file=log_file)
            if not out.with_name(out.name + ".nb").exists():
                raise BuildError(f"{mkey}: paddle_lite_opt wrote no {out}.nb", hint=f"see {log_file}")
            entry[mkey]["devices"][device] = placement(log_file.read_text())
    shutil.rmtree(work / "tmp")
    target = {"devices": spec_nna.devices, "algo": spec_nna.algo, "paddlelite": _lite_version(),
              "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "calibration_reference": list(calibration.CALIBRATION_REFERENCE) if reference else [],
              "models": entry}
    (work / "target.json").write_text(json.dumps(target, indent=1, ensure_ascii=False))
