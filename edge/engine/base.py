"""What every engine plugin provides: an options model (its profile `[engine]` section) and a predictor factory.

An engine module under edge/engine/ defines one `EnginePlugin` subclass named `PLUGIN`. The module must import
its inference library only inside methods, so listing the engines (profiles, CLI choices) costs nothing and a
missing library is a clear error only when that engine is chosen.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from typing import ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..budget import MemoryModel
from ..checks import Check
from ..errors import EngineError
from ..models import BuiltModels


class Predictor(Protocol):
    """Runs one model on one float32 NCHW batch and returns its first output."""

    name: str

    def run(self, x: np.ndarray) -> np.ndarray: ...

    def release(self) -> None:
        """Gives back the working memory the last calls took (buffers sized for the biggest input so far). A predictor
        may also offer reset(): back to a freshly loaded state, for when release() is not enough."""


class EngineOptions(BaseModel):
    """Fields every engine understands; each plugin extends it with its own, documented fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="which engine plugin runs the models")
    threads: int | None = Field(None, ge=1, le=64, description="CPU threads for one model call (unset: the engine's own default)")


class EnginePlugin:
    """Base of the engine plugins. Class-level methods answer questions without importing the library."""

    key: ClassVar[str]
    label: ClassVar[str]  # a person's name for it, e.g. "ONNX Runtime"
    module: ClassVar[str]  # the Python module that must import for the engine to run
    distribution: ClassVar[str]  # the pip distribution that provides it
    install: ClassVar[str]  # what to run to get it
    Options: ClassVar[type[EngineOptions]] = EngineOptions
    pads_batches: ClassVar[bool] = False  # fixed-shape engines want full classifier batches (one shape)
    overlaps_pages: ClassVar[bool] = True  # the next page's detection may run while this page is recognised
    is_reference: ClassVar[bool] = False  # runs the source graph: `models verify` compares the others to it
    # what `make verify-arm64` measured of this engine on emulated aarch64 (None: not run there)
    aarch64_fidelity: ClassVar[str | None] = None

    def __init__(self, options: EngineOptions):
        self.options = options

    # -- questions answered without the library -----------------------------------------------------------
    @classmethod
    def model_kind(cls, options: EngineOptions) -> str:
        """Which built file of each model this engine loads (a key of lock.json's `files`)."""
        return "onnx"

    @classmethod
    def model_kind_for(cls, options: EngineOptions, model_key: str) -> str:
        """The built file one model loads (an NPU profile runs some models on the NPU, the rest on the CPU)."""
        return cls.model_kind(options)

    @classmethod
    def simulated_options(cls, options: EngineOptions, tool_python: str, models: list[str] | None = None) -> EngineOptions:
        """These options with the device build run on this host by its build tool (`models verify --target`);
        `models`: every model with a device build, not only the ones the profile puts on the device."""
        raise EngineError(f"{cls.label} has no device build to simulate")

    @classmethod
    def installed(cls) -> bool:
        return importlib.util.find_spec(cls.module.split(".")[0]) is not None

    @classmethod
    def problems(cls, options: EngineOptions, machine: str) -> list[str]:
        """Why this engine cannot run these options on this host (empty when it can)."""
        if not cls.installed():
            return [f"{cls.label} is not installed in this Python environment: {cls.install}"]
        return []

    @classmethod
    def check(cls, options: EngineOptions, machine: str) -> None:
        """Raises the first problem (the others as the hint)."""
        problems = cls.problems(options, machine)
        if problems:
            raise EngineError(problems[0], hint="; ".join(problems[1:]) or None)

    @classmethod
    def warnings(cls, options: EngineOptions) -> list[str]:
        """Options this engine build will ignore: said out loud, not dropped in silence."""
        return []

    @classmethod
    def memory_model(cls, options: EngineOptions) -> MemoryModel | None:
        """What a page costs on this engine (measured; see edge/budget.py), or None where it was never measured."""
        return None

    @classmethod
    def verified(cls, options: EngineOptions, machine: str) -> str:
        """How edge-ocr's own checks have run this engine on this architecture (doctor says it)."""
        if machine == "x86_64":
            return "executed on x86_64, results equal to the official ones on the reference set (make test)"
        if machine == "aarch64" and cls.aarch64_fidelity:
            return (f"executed on emulated aarch64 (make verify-arm64: qemu-user, {cls.label} at the version pinned in "
                    f"constraints/runtime.txt): {cls.aarch64_fidelity}; speed on a board not measured")
        return f"not executed on {machine} by edge-ocr's checks"

    @classmethod
    def device_nodes(cls, options: EngineOptions) -> list[str]:
        """Device files (an NPU's) the engine opens."""
        return []

    @classmethod
    def version(cls) -> str | None:
        try:
            return importlib.metadata.version(cls.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    @classmethod
    def library(cls):
        """Imports the engine's library, or says which package to install."""
        try:
            return importlib.import_module(cls.module)
        except ImportError as e:
            raise EngineError(f"engine {cls.key!r} is not usable here: {e}",
                              hint=f"{cls.install}, or choose a profile whose engine is installed "
                                   "(`edge-ocr profiles list` shows which run here)") from None

    @classmethod
    def health(cls, options: EngineOptions) -> list[Check]:
        """Doctor's checks: the library imports (and whatever else the engine needs)."""
        try:
            cls.library()
        except EngineError as e:
            return [Check("engine", False, f"{cls.label}: {e.message}", cls.install)]
        except Exception as e:  # a broken native library raises more than ImportError
            return [Check("engine", False, f"{cls.label}: cannot import {cls.module}: {e}", cls.install)]
        return [Check("engine", True, f"{cls.label} {cls.version() or ''} imports ({cls.module})".replace("  ", " "))]

    # -- with the library --------------------------------------------------------------------------------
    def load(self, models: BuiltModels, model_key: str) -> Predictor:
        raise NotImplementedError

    def verify_runners(self, models: BuiltModels, model_key: str) -> dict[str, Predictor]:
        """What `models verify` compares against the reference engine: by default this engine on its file."""
        return {f"{self.label} ({self.model_kind(self.options)})": self.load(models, model_key)}

    def simulated(self) -> dict[str, int | None]:
        """Models run by a build tool in place of the device (see simulated_options), with the bytes in which the
        tool's own rebuild differed from the shipped file (None: the tool loads the shipped file itself)."""
        return {}

    def close(self) -> None:
        """Stops what the engine started outside this process (a build tool's simulator)."""

    def describe(self) -> dict:
        """What `bench` reports about the engine: library version and the settings it applied."""
        return {"engine": self.key, "library": self.distribution, "version": self.version(),
                **self.options.model_dump(exclude={"key"}, exclude_none=True)}
