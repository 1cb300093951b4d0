"""`edge-ocr models build --target rknn-<soc>`: the built ONNX models converted for a Rockchip NPU, cached by
content, and added to the installed build (lock.json `targets` and each model's `files`).

The toolkit lives in its own tool environment (CPython 3.11, numpy 1.26, torch CPU), built on demand.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
from pathlib import Path

from ..errors import ConfigError
from ..models import BuiltModels, Manifest, NpuManifest
from . import calibration
from .build import add_target, cached_target, require_models
from .npu_tools import RKNN_TOOL
from .toolenv import ToolEnv, cache_dir

log = logging.getLogger(__name__)


def parse_target(target: str, npu: NpuManifest) -> str:
    """The SoC of 'rknn-<soc>', checked against npu.toml."""
    prefix, _, soc = target.partition("-")
    if prefix != "rknn" or soc not in npu.rknn.socs:
        known = ", ".join(["nnadapter", *(f"rknn-{s}" for s in npu.rknn.socs)])
        raise ConfigError(f"unknown build target {target!r}", hint=f"choose one of: {known}")
    return soc


def rknn_toolenv(npu: NpuManifest, base_python: Path) -> ToolEnv:
    return ToolEnv("rknn", npu.rknn.tools, base=base_python, no_deps=[npu.rknn.toolkit])


def _key(npu: NpuManifest, soc: str, models: BuiltModels, reference: Path | None) -> str:
    h = hashlib.sha256(npu.rknn.model_dump_json().encode())  # the settings, not the file's comments
    h.update(soc.encode())
    h.update(RKNN_TOOL.read_bytes())
    h.update(Path(calibration.__file__).read_bytes())
    h.update(str(reference is not None).encode())
    for key in npu.rknn.models:
        h.update(models.lock["models"][key]["files"]["onnx"]["sha256"].encode())
    return h.hexdigest()[:16]


def build_rknn(manifest: Manifest, npu: NpuManifest, soc: str, dest: Path, tool: ToolEnv,
               reference: Path | None = None, *, force: bool = False) -> dict:
    """Converts npu.toml's models for `soc` (cached) and adds them to the build in dest; returns the target's entry."""
    models = BuiltModels(dest)
    require_models(models, list(npu.rknn.models))
    cached = cache_dir() / "npu" / f"rknn-{soc}-{_key(npu, soc, models, reference)}"

    def convert(work: Path) -> None:
        tool.ensure()
        _convert(manifest, npu, soc, models, work, cached, tool, reference)

    target = cached_target(cached, convert, force=force)
    kind = f"rknn-{soc}"
    add_target(dest, kind, target, {mkey: {kind: cached / f"{mkey}.{soc}.rknn"} for mkey in target["models"]})
    return target


def _convert(manifest: Manifest, npu: NpuManifest, soc: str, models: BuiltModels, work: Path, final: Path,
             tool: ToolEnv, reference: Path | None) -> None:
    """Writes the .rknn files, the job (which the simulator repeats) and target.json into work; paths in the job
    point at `final`, where work is moved when everything succeeded."""
    job_models, entry = [], {}
    for mkey, spec_npu in npu.rknn.models.items():
        spec = manifest.model(mkey)
        onnx = work / f"{mkey}.onnx"
        shutil.copyfile(models.path(mkey, "onnx"), onnx)
        job = {"key": mkey, "onnx": str(final / onnx.name), "precision": spec_npu.precision,
               "algorithm": spec_npu.algorithm,
               "shapes": spec_npu.shapes, "out": str(final / f"{mkey}.{soc}.rknn")}
        labels: list[str] = []
        if spec_npu.precision == "int8":
            log.info("%s: writing %d calibration inputs at %s", mkey, spec_npu.calibration, spec_npu.max_shape)
            folder = work / "calibration" / mkey
            files, labels = calibration.write_dataset(spec, spec_npu.calibration, reference, folder,
                                                      spec_npu.max_shape)
            # the toolkit's dataset file, one .npy a line: the conversion reads work's, the simulator later final's
            (folder / "dataset.txt").write_text("".join(f"{f}\n" for f in files))
            (folder / "dataset.final.txt").write_text("".join(f"{final / f.relative_to(work)}\n" for f in files))
            job["dataset"] = str(final / "calibration" / mkey / "dataset.final.txt")
        job_models.append(job)
        entry[mkey] = {"task": spec.task, "precision": spec_npu.precision, "algorithm": spec_npu.algorithm,
                       "shapes": spec_npu.shapes,
                       "calibration": labels}
    job = {"soc": soc, "models": job_models, "report": str(work / "report.json")}
    # the conversion runs on work's paths; the job kept for the simulator names the final ones
    run_job = json.loads(json.dumps(job).replace(str(final), str(work)).replace("dataset.final.txt", "dataset.txt"))
    (work / "convert.json").write_text(json.dumps(run_job, indent=1))
    (work / "job.json").write_text(json.dumps(job, indent=1))
    (work / "logs").mkdir(exist_ok=True)
    log.info("converting %s for %s with %s (a few minutes)", ", ".join(entry), soc, npu.rknn.toolkit)
    tool.script(RKNN_TOOL, "convert", work / "convert.json", what=f"rknn-toolkit2 conversion for {soc}",
                log_file=work / "logs" / "convert.log", timeout=7200)
    report = {r["key"]: r for r in json.loads((work / "report.json").read_text())}
    for mkey, e in entry.items():
        e.update({k: report[mkey][k] for k in ("build_seconds", "identities_removed")})
    target = {"soc": soc, "toolkit": npu.rknn.toolkit, "tools": tool.freeze(), "job": str(final / "job.json"),
              "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "calibration_reference": list(calibration.CALIBRATION_REFERENCE) if reference else [],
              "models": entry}
    (work / "target.json").write_text(json.dumps(target, indent=1, ensure_ascii=False))
