"""Device profiles (firmware_profiles/*.toml): which engine, target and models a board runs, and how.

A profile is typed and rejects unknown keys. `detect` picks one from the CPU architecture and the device tree,
and falls back loudly to a safe CPU profile on unknown hardware.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import platform
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .engine import EngineOptions
from .errors import ConfigError, EngineError, ModelError
from .tomlfile import describe, read_toml

log = logging.getLogger(__name__)
PROFILES_DIR = Path(__file__).resolve().parent.parent / "firmware_profiles"
X86 = ("x86_64", "amd64", "i686")
ARM = ("aarch64", "arm64", "armv7l", "armv8l")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineSection(_Strict):
    key: Literal["paddlelite", "onnxruntime"] = Field(description="inference engine")
    target: Literal["x86", "arm"] = Field("x86", description="which Paddle Lite build of the models to load")
    threads: int | None = Field(None, ge=1, le=64, description="CPU threads (Paddle Lite ARM, ONNX Runtime)")
    power_mode: Literal["HIGH", "LOW", "FULL", "NO_BIND", "RAND_HIGH", "RAND_LOW"] | None = Field(
        None, description="Paddle Lite ARM big.LITTLE core binding")
    max_cached_shapes: int = Field(24, ge=1, le=256, description="Paddle Lite predictors kept per model (one per input shape)")
    cache_mb: int = Field(1024, ge=64, description="Paddle Lite: memory the cached predictors of one model may hold")


class NNAdapterSection(_Strict):
    device_names: list[str] = Field(default_factory=list, description="e.g. ['verisilicon_timvx']")
    context_properties: str = Field("", description="'KEY=value;KEY2=value' passed to the NPU driver")
    model_cache_dir: str | None = Field(None, description="where the NPU graph compiled at first run is cached")
    requires_quantized_models: bool = Field(False, description="NPUs run fully int8-quantised models only")
    device_nodes: list[str] = Field(default_factory=list, description="device files the NPU driver opens")


class ModelsSection(_Strict):
    textline: Literal["textline_x1_0", "textline_x0_25", "cls_v20"] = Field(
        "textline_x1_0", description="text-line orientation classifier")
    doc_orientation: Literal["doc_ori"] = Field("doc_ori", description="document orientation classifier")


class DetSection(_Strict):
    limit_side_len: int = Field(64, ge=1)
    limit_type: Literal["min", "max", "resize_long"] = "min"
    max_side_limit: int = Field(4000, ge=32)


class BatchSection(_Strict):
    rec: int = Field(6, ge=1, le=64, description="text lines per recognition batch")
    textline: int = Field(6, ge=1, le=64, description="text lines per orientation batch")
    rec_max_columns: int | None = Field(None, ge=320, description=(
        "cap on lines x padded width per recognition run (memory); a wider batch runs in parts padded to the same "
        "width, so the text does not change"))


class MatchSection(_Strict):
    arch: list[str] = Field(default_factory=list, description="platform.machine() values this profile fits")
    compatible: list[str] = Field(default_factory=list, description="/proc/device-tree/compatible entries")


class DeviceProfile(_Strict):
    name: str
    description: str
    engine: EngineSection
    nnadapter: NNAdapterSection = NNAdapterSection()
    models: ModelsSection = ModelsSection()
    det: DetSection = DetSection()
    batch: BatchSection = BatchSection()
    match: MatchSection = MatchSection()
    use_doc_orientation_classify: bool = Field(False, description="turn pages by the document orientation model")
    use_textline_orientation: bool = Field(False, description="turn upside-down text lines before recognition")
    path: Path | None = Field(None, exclude=True)

    def engine_options(self) -> EngineOptions:
        return EngineOptions(target=self.engine.target, threads=self.engine.threads, power_mode=self.engine.power_mode,
                             nnadapter_device_names=tuple(self.nnadapter.device_names),
                             nnadapter_context_properties=self.nnadapter.context_properties,
                             nnadapter_model_cache_dir=self.nnadapter.model_cache_dir,
                             max_cached_shapes=self.engine.max_cached_shapes, cache_mb=self.engine.cache_mb)

    def with_engine(self, key: str) -> "DeviceProfile":
        """The same profile on another engine (`--engine` on the command line)."""
        if key == self.engine.key:
            return self
        return self.model_copy(update={"engine": self.engine.model_copy(update={"key": key})})

    def model_kind(self) -> str:
        """Which built file of each model this profile's engine loads."""
        return "onnx" if self.engine.key == "onnxruntime" else f"{self.engine.target}.nb"

    def model_keys(self, textline: bool | None = None, doc: bool | None = None) -> list[str]:
        """The models a page needs; orientation models when switched on here or by the caller."""
        keys = ["det", "rec"]
        if self.use_textline_orientation or textline:
            keys.append(self.models.textline)
        if self.use_doc_orientation_classify or doc:
            keys.append(self.models.doc_orientation)
        return keys

    def warnings(self) -> list[str]:
        """Settings this host's engine build will ignore: said out loud, not dropped in silence."""
        if self.engine.key != "paddlelite" or importlib.util.find_spec("paddlelite") is None:
            return []
        from .engine.paddlelite import ignored_options

        return ignored_options(self.engine_options())

    def runnable_problems(self, machine: str | None = None) -> list[str]:
        """Why this profile cannot run on this host (empty when it can)."""
        machine = machine or platform.machine()
        problems = []
        if self.nnadapter.requires_quantized_models:
            problems.append(f"profile {self.name} drives an NPU ({', '.join(self.nnadapter.device_names)}), which runs "
                            "only fully int8-quantised models; edge-ocr does not build those yet, so this profile "
                            "refuses to start. Use the board's CPU profile (arm-cpu) meanwhile")
        if self.engine.key == "paddlelite":
            if self.engine.target == "arm" and machine not in ARM:
                problems.append(f"profile {self.name} runs ARM Paddle Lite models, this host is {machine}: use "
                                "x86-paddlelite (the same graphs on x86 kernels) or x86-onnxruntime here")
            if self.engine.target == "x86" and machine not in X86:
                problems.append(f"profile {self.name} runs x86 Paddle Lite models, this host is {machine}")
            if importlib.util.find_spec("paddlelite") is None:
                problems.append("the paddlelite Python package is not installed: build Paddle Lite for this board "
                                "with Python enabled (see the README), or use an onnxruntime profile")
        elif importlib.util.find_spec("onnxruntime") is None:
            problems.append("the onnxruntime Python package is not installed (pip install onnxruntime)")
        return problems

    def ensure_runnable(self) -> None:
        problems = self.runnable_problems()
        if problems:
            cls = ModelError if self.nnadapter.requires_quantized_models else EngineError
            raise cls(problems[0], hint="; ".join(problems[1:]) or None)


def profiles_dir() -> Path:
    return Path(os.environ.get("EDGE_OCR_PROFILES_DIR", PROFILES_DIR))


def load_profile_file(path: Path) -> DeviceProfile:
    data = read_toml(path, "profile")
    try:
        return DeviceProfile.model_validate({**data, "path": path})
    except ValidationError as e:
        raise ConfigError(f"profile {path} is invalid:\n{describe(e)}",
                          hint="fix or remove the named keys (see firmware_profiles/README.md)") from None


def list_profiles() -> list[DeviceProfile]:
    return [load_profile_file(p) for p in sorted(profiles_dir().glob("*.toml"))]


def load_profile(name_or_path: str) -> DeviceProfile:
    p = Path(name_or_path)
    if p.suffix == ".toml" and p.exists():
        return load_profile_file(p)
    candidate = profiles_dir() / f"{name_or_path}.toml"
    if candidate.exists():
        return load_profile_file(candidate)
    names = [q.stem for q in sorted(profiles_dir().glob("*.toml"))]
    raise ConfigError(f"unknown profile {name_or_path!r}", hint=f"choose one of: {', '.join(names)}")


def read_compatible(path: Path = Path("/proc/device-tree/compatible")) -> list[str]:
    try:
        return [s for s in path.read_bytes().decode("ascii", "replace").split("\0") if s]
    except OSError:
        return []


def detect(machine: str | None = None, compatible: list[str] | None = None) -> tuple[DeviceProfile, str]:
    """(profile, reason). Device-tree matches win; otherwise the architecture's safe CPU profile, with a warning."""
    machine = machine or platform.machine()
    compatible = read_compatible() if compatible is None else compatible
    profiles = list_profiles()
    for prof in profiles:
        hit = [c for c in compatible if c in prof.match.compatible]
        if hit and not prof.nnadapter.requires_quantized_models:
            return prof, f"device tree says {hit[0]}"
    if machine in X86:
        return load_profile("x86-onnxruntime"), f"{machine} host"
    if machine in ARM:
        name = "arm-cpu" if importlib.util.find_spec("paddlelite") else "arm-onnxruntime"
    else:
        raise ConfigError(f"no profile for CPU architecture {machine!r}", hint="pass --profile explicitly")
    reason = (f"unknown hardware ({machine}, device tree: {', '.join(compatible) or 'none'}); "
              f"falling back to the safe CPU profile {name}")
    log.warning(reason)
    return load_profile(name), reason
