"""Device profiles (firmware_profiles/*.toml): which engine, target and models a board runs, and how.

A profile is typed and rejects unknown keys. `detect` picks one from the CPU architecture and the device tree,
and falls back loudly to a safe CPU profile on unknown hardware.
"""
from __future__ import annotations

import logging
import os
import platform
from pathlib import Path
from typing import Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .budget import MemoryBudget, MemoryModel, Policy
from .engine import EnginePlugin, options_for, options_type, plugin, plugins
from .errors import ConfigError, EdgeError, UsageError
from .tomlfile import describe, read_toml

log = logging.getLogger(__name__)
PROFILES_DIR = Path(__file__).resolve().parent.parent / "firmware_profiles"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelsSection(_Strict):
    textline: Literal["textline_x1_0", "textline_x0_25", "cls_v20"] = Field(
        "textline_x1_0", description="text-line orientation classifier")
    doc_orientation: Literal["doc_ori"] = Field("doc_ori", description="document orientation classifier")


class DetSection(_Strict):
    limit_side_len: int = Field(64, ge=1, description="detection size limit (PaddleOCR's text_det_limit_side_len)")
    limit_type: Literal["min", "max", "resize_long"] = Field("min", description="how limit_side_len applies")
    max_side_limit: int = Field(4000, ge=32, description="largest detection side; larger pages are scaled down")


class BatchSection(_Strict):
    rec: int = Field(6, ge=1, le=64, description="text lines per recognition batch")
    textline: int = Field(6, ge=1, le=64, description="text lines per orientation batch")
    rec_max_columns: int | None = Field(None, ge=320, description=(
        "cap on lines x padded width per recognition run (memory); a wider batch runs in parts padded to the same "
        "width, so the text does not change"))


class MemorySection(_Strict):
    memory_mb: int | None = Field(None, ge=64, description=(
        "memory (RSS, MB) the OCR process may use; a page predicted to need more is handled by `policy`. Unset: no "
        "budget, every page runs at the asked detection size"))
    policy: Policy = Field("downscale", description=(
        "a page over memory_mb: downscale (detection size lowered until it fits; the result says so) or refuse "
        "(a 413-style error, nothing run, the input kept)"))
    retain_mb: int = Field(256, ge=0, description=(
        "working memory kept between jobs: when the process holds more than this above its idle size after a job, "
        "the engine's buffers are released"))
    model: MemoryModel | None = Field(None, description=(
        "what a page costs on this board (base_mb, page_mb, det_bytes_per_pixel, image_bytes_per_pixel); unset: "
        "the engine's model measured on x86_64"))


class MatchSection(_Strict):
    arch: list[str] = Field(default_factory=list, description="platform.machine() values this profile fits")
    compatible: list[str] = Field(default_factory=list, description="/proc/device-tree/compatible entries")
    priority: int = Field(0, description=(
        "among the generic profiles (no `compatible`) of an architecture, detection picks the runnable one with the "
        "highest priority: the fastest exact engine measured for that architecture"))


EngineSection = options_type()


class DeviceProfile(_Strict):
    name: str = Field(description="the profile's name (its file name without .toml)")
    description: str = Field(description="which board and engine, for `profiles list`")
    engine: EngineSection = Field(description="the engine plugin (by `key`) and its own options")
    models: ModelsSection = ModelsSection()
    det: DetSection = DetSection()
    batch: BatchSection = BatchSection()
    memory: MemorySection = MemorySection()
    match: MatchSection = MatchSection()
    use_doc_orientation_classify: bool = Field(False, description="turn pages by the document orientation model")
    use_textline_orientation: bool = Field(False, description="turn upside-down text lines before recognition")
    fallback: str | None = Field(None, description=(
        "the profile to run on this board when this one cannot (an NPU without its driver or runtime): detection "
        "picks it, doctor names it"))
    path: Path | None = Field(None, exclude=True)

    @property
    def plugin(self) -> type[EnginePlugin]:
        return plugin(self.engine.key)

    def with_engine(self, key: str) -> "DeviceProfile":
        """The same profile on another engine (`--engine`), keeping the options both engines understand."""
        if key == self.engine.key:
            return self
        # the profile's measured memory model belongs to its own engine: the new engine brings its own
        return self.model_copy(update={"engine": options_for(key, **self.engine.model_dump(exclude={"key"})),
                                       "memory": self.memory.model_copy(update={"model": None})})

    def adjusted(self, *, textline: str | None = None, rec_batch: int | None = None, textline_batch: int | None = None,
                 threads: int | None = None) -> "DeviceProfile":
        """The same profile with a caller's choices (PaddleOCR's model name, batch sizes, cpu_threads); None keeps
        the profile's value, and each value is checked like the profile's own."""
        data = self.model_dump()
        if textline is not None:
            data["models"]["textline"] = textline
        if rec_batch is not None:
            data["batch"]["rec"] = rec_batch
        if textline_batch is not None:
            data["batch"]["textline"] = textline_batch
        if threads is not None:
            data["engine"]["threads"] = threads
        try:
            return DeviceProfile.model_validate({**data, "path": self.path})
        except ValidationError as e:
            raise UsageError(f"profile {self.name}: {describe(e)}") from None

    def is_npu(self) -> bool:
        return bool(self.device_nodes())

    def model_kind(self) -> str:
        """Which built file of the detector this profile's engine loads (an NPU profile runs the detector on the
        NPU; some other models may run on the CPU)."""
        return self.plugin.model_kind_for(self.engine, "det")

    def model_keys(self, textline: bool | None = None, doc: bool | None = None) -> list[str]:
        """The models a page needs; orientation models when switched on here or by the caller."""
        keys = ["det", "rec"]
        if self.use_textline_orientation or textline:
            keys.append(self.models.textline)
        if self.use_doc_orientation_classify or doc:
            keys.append(self.models.doc_orientation)
        return keys

    def memory_budget(self, memory_mb: int | None = None, policy: Policy | None = None) -> MemoryBudget | None:
        """The budget pages are planned against (memory_mb/policy override the profile's), checked to be feasible."""
        limit = memory_mb or self.memory.memory_mb
        if not limit:
            return None
        model = self.memory.model or self.plugin.memory_model(self.engine)
        if model is None:
            raise ConfigError(f"memory_mb is set, but profile {self.name}'s engine settings have no measured memory "
                              "model", hint="add a [memory.model] section to the profile (`edge-ocr bench "
                                            "--memory-model` measures one), or unset memory_mb")
        budget = MemoryBudget(limit, policy or self.memory.policy, model)
        budget.check()
        return budget

    def warnings(self) -> list[str]:
        return self.plugin.warnings(self.engine)

    def device_nodes(self) -> list[str]:
        return self.plugin.device_nodes(self.engine)

    def runnable_problems(self, machine: str | None = None) -> list[str]:
        """Why this profile cannot run on this host (empty when it can)."""
        return self.plugin.problems(self.engine, machine or platform.machine())

    def ensure_runnable(self) -> None:
        try:
            self.plugin.check(self.engine, platform.machine())
        except EdgeError as e:
            here = runnable_profiles()
            fallback = f"this board's CPU profile is {self.fallback}" if self.fallback else None
            raise type(e)(e.message, hint="; ".join(
                filter(None, [e.hint, fallback, f"profiles that run here: {', '.join(here) or 'none'}"]))) from None


def _type_text(ann) -> str:
    args = [a for a in get_args(ann) if a is not type(None)]
    if get_origin(ann) is Literal:
        return "|".join(map(str, args))
    if args and get_origin(ann) is not list:  # X | None
        return " or ".join(_type_text(a) for a in args) + (" (optional)" if type(None) in get_args(ann) else "")
    return "list" if get_origin(ann) is list else getattr(ann, "__name__", str(ann))


def documented_keys() -> list[tuple[str, str, str]]:
    """(section.key, type, description) of every profile key, each engine's options under `engine` with its key."""
    def walk(model: type[BaseModel], prefix: str):
        for name, f in model.model_fields.items():
            if f.exclude or name == "engine":
                continue
            ann = f.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                yield from walk(ann, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", _type_text(ann), f.description or ""

    rows = list(walk(DeviceProfile, ""))
    for key, p in plugins().items():
        rows += [(f"engine.{k} ({key})", t, d) for k, t, d in walk(p.Options, "")]
    return rows


def profiles_dir() -> Path:
    return Path(os.environ.get("EDGE_OCR_PROFILES_DIR", PROFILES_DIR))


def load_profile_file(path: Path) -> DeviceProfile:
    data = read_toml(path, "profile")
    try:
        return DeviceProfile.model_validate({**data, "path": path})
    except ValidationError as e:
        raise ConfigError(f"profile {path} is invalid:\n{describe(e)}",
                          hint="fix or remove the named keys (`edge-ocr profiles keys` lists every key)") from None


def list_profiles() -> list[DeviceProfile]:
    return [load_profile_file(p) for p in sorted(profiles_dir().glob("*.toml"))]


def profile_for_engine(key: str, machine: str) -> DeviceProfile:
    """This architecture's generic profile for an engine (highest priority), e.g. for `bench --engine`."""
    fits = sorted((p for p in list_profiles() if p.engine.key == key and machine in p.match.arch
                   and not p.match.compatible), key=lambda p: -p.match.priority)
    if not fits:
        raise ConfigError(f"no {machine} profile uses engine {key!r}", hint="pass --profile explicitly")
    return fits[0]


def profile_for_model_kind(kind: str) -> DeviceProfile:
    """The profile that runs a build target (e.g. rknn-rk3588): `models verify --target` runs it as the board would."""
    fits = [p for p in list_profiles() if p.model_kind() == kind]
    if not fits:
        raise ConfigError(f"no profile runs {kind} models", hint="add one to firmware_profiles/")
    return fits[0]


def runnable_profiles(machine: str | None = None) -> list[str]:
    return [p.name for p in list_profiles() if not p.runnable_problems(machine)]


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
    """(profile, reason). A runnable device-tree match wins; otherwise the architecture's runnable generic profile
    of highest priority, with a warning. A match that cannot run here is named in the reason."""
    machine = machine or platform.machine()
    compatible = read_compatible() if compatible is None else compatible
    profiles = list_profiles()
    skipped = []
    for prof in profiles:
        hit = [c for c in compatible if c in prof.match.compatible]
        if hit:
            problems = prof.runnable_problems(machine)
            if not problems:
                return prof, f"device tree says {hit[0]}"
            skipped.append(f"{prof.name} ({hit[0]}) cannot run here: {problems[0]}")
            fallback = next((p for p in profiles if p.name == prof.fallback), None)
            if fallback is not None and not fallback.runnable_problems(machine):
                reason = f"{skipped[-1]}; falling back to its CPU profile {fallback.name}"
                log.warning(reason)
                return fallback, reason
    generic = sorted((p for p in profiles if machine in p.match.arch and not p.match.compatible),
                     key=lambda p: -p.match.priority)
    if not generic:
        raise ConfigError(f"no profile for CPU architecture {machine!r}", hint="pass --profile explicitly")
    chosen = next((p for p in generic if not p.runnable_problems(machine)), generic[0])
    if skipped:
        reason = "; ".join(skipped) + f"; falling back to the CPU profile {chosen.name}"
    elif compatible:
        reason = (f"unknown hardware ({machine}, device tree: {', '.join(compatible)}); "
                  f"falling back to the safe CPU profile {chosen.name}")
    else:
        return chosen, f"{machine} host, fastest runnable engine: {chosen.engine.key}"
    log.warning(reason)
    return chosen, reason
