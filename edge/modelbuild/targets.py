"""The device build targets of `models build --target` and `models verify --target`: each target's tool
environment, build and check (nnadapter: Paddle Lite NNAdapter int8; rknn-<soc>: Rockchip RKNN)."""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..models import Manifest, load_npu_manifest
from ..profiles import profile_for_model_kind
from .build import tooling
from .toolenv import ToolEnv, find_python

NNADAPTER = "nnadapter"


def _tool(target: str, manifest: Manifest, tool_python: str | None) -> ToolEnv:
    from .npu import parse_target, rknn_toolenv

    npu = load_npu_manifest(manifest.path.with_name("npu.toml") if manifest.path else None)
    if target == NNADAPTER:
        return tooling(manifest).x2p
    parse_target(target, npu)
    return rknn_toolenv(npu, find_python(npu.rknn.python, tool_python))


def build_target(target: str, manifest: Manifest, dest: Path, reference: Path | None, *, force: bool = False,
                 tool_python: str | None = None) -> dict:
    """Builds `target` into the build at dest (cached); returns what lock.json records of it."""
    npu = load_npu_manifest(manifest.path.with_name("npu.toml") if manifest.path else None)
    if target == NNADAPTER:
        from .nnadapter import build_nnadapter

        return build_nnadapter(manifest, npu, dest, tooling(manifest), reference, force=force)
    from .npu import build_rknn, parse_target

    return build_rknn(manifest, npu, parse_target(target, npu), dest, _tool(target, manifest, tool_python),
                      reference, force=force)


def verify_target(target: str, manifest: Manifest, reference: Path, models_root: Path | None,
                  json_out: Path | None, tool_python: str | None = None) -> dict:
    """Runs the build of `target` the most faithful way this host can, in the profile that uses it."""
    from .npu_verify import verify_build

    tool = _tool(target, manifest, tool_python)
    if not tool.ready:
        raise UsageError(f"the tool environment of {target} is not built: run `edge-ocr models build --target "
                         f"{target} --reference DIR` first")
    # every NNAdapter device runs the same int8 graphs (what differs is which operators its NPU takes: lock.json)
    kind = f"{NNADAPTER}-verisilicon_timvx" if target == NNADAPTER else target
    return verify_build(manifest, profile_for_model_kind(kind), str(tool.python), reference, models_root, json_out)
