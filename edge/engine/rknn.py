"""Rockchip RKNPU2 (RK3566/RK3568/RK3576/RK3588) through rknn-toolkit-lite2: the .rknn builds of the models on the
board's NPU; or, on an x86_64 build host, the same builds in rknn-toolkit2's simulator (`models verify --target`).

An RKNN model runs the input shapes it was built for (models_mobile/npu.toml); edge/pipeline/buckets.py fits the
pipeline's shapes into them. On the NPU run the models' networks only: image decoding, resizing, DB post-processing
(contours, unclip), crops and CTC decoding stay on the CPU, as on every engine.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from ..checks import Check
from ..errors import EngineError, ModelError
from ..models import BuiltModels
from ..pipeline.buckets import Bucketed, Output
from .base import EngineOptions, EnginePlugin
from ..modelbuild.npu_tools import RKNN_TOOL
from .served import ServedModel

Soc = Literal["rk3566", "rk3568", "rk3576", "rk3588"]
OUTPUT: dict[str, Output] = {"det": "map", "rec": "sequence", "textline_cls": "vector", "doc_cls": "vector"}
# rknn-toolkit2 2.5.0 writes uninitialised memory into each .rknn: two builds of the same model differ in up to 2.2%
# of their bytes (doc_ori rk3588 1,107 of 3.9 MB; det rk3588 45,310 of 30.9 MB; det rk3576 886,709 of 40.8 MB) while
# the simulator's outputs of the two are bit-identical. A simulator's rebuild may differ from the shipped file by that
# much (with margin) and no more: a model with other weights differs in most of its bytes.
UNINITIALISED_SHARE = 0.05
CORE_MASKS = {"auto": "NPU_CORE_AUTO", "0": "NPU_CORE_0", "1": "NPU_CORE_1", "2": "NPU_CORE_2",
              "0_1": "NPU_CORE_0_1", "0_1_2": "NPU_CORE_0_1_2"}


class RknnOptions(EngineOptions):
    key: Literal["rknn"] = "rknn"
    soc: Soc = Field("rk3588", description="the SoC the .rknn files are built for (`models build --target rknn-<soc>`)")
    runtime: Literal["device", "simulator"] = Field("device", description=(
        "device: the board's NPU through rknn-toolkit-lite2; simulator: rknn-toolkit2's simulator on an x86_64 build "
        "host (what `models verify --target rknn-<soc>` runs)"))
    core_mask: Literal["auto", "0", "1", "2", "0_1", "0_1_2"] = Field("auto", description=(
        "NPU cores a model call may use (RK3588 has three, RK3576 two; the others one: keep auto)"))
    library: str = Field("/usr/lib/librknnrt.so", description="the RKNN runtime library rknn-toolkit-lite2 loads")
    device_nodes: list[str] = Field(default_factory=lambda: ["/dev/dri/renderD129"], description=(
        "the NPU's device files (the rknpu driver's DRM render node on Rockchip's 5.10/6.1 kernels)"))
    simulator_python: str | None = Field(None, description=(
        "runtime = simulator: the python of the rknn-toolkit2 tool environment (set by `models verify`)"))


class RknnEngine(EnginePlugin):
    key = "rknn"
    label = "RKNN (Rockchip NPU)"
    module = "rknnlite.api"
    distribution = "rknn-toolkit-lite2"
    install = ("pip install rknn-toolkit-lite2==2.5.0 on the board (aarch64, Python 3.7-3.12), and Rockchip's "
               "librknnrt.so 2.5.0 in /usr/lib (rknn-toolkit2 repository, rknpu2/runtime/Linux/librknn_api/aarch64)")
    Options = RknnOptions
    pads_batches = False
    overlaps_pages = False  # one NPU: detection and recognition take turns on it

    @classmethod
    def model_kind(cls, options: RknnOptions) -> str:
        return f"rknn-{options.soc}"

    @classmethod
    def simulated_options(cls, options: RknnOptions, tool_python: str, models: list[str] | None = None) -> RknnOptions:
        return options.model_copy(update={"runtime": "simulator", "simulator_python": tool_python})

    @classmethod
    def problems(cls, options: RknnOptions, machine: str) -> list[str]:
        if options.runtime == "simulator":
            if machine not in ("x86_64", "amd64"):
                return [f"the RKNN simulator (rknn-toolkit2) runs on x86_64 build hosts only, this is {machine}"]
            if not options.simulator_python or not Path(options.simulator_python).exists():
                return ["the RKNN simulator needs rknn-toolkit2's tool environment: run `edge-ocr models build "
                        f"--target rknn-{options.soc}` (it creates it), then `edge-ocr models verify --target "
                        f"rknn-{options.soc}`"]
            return []
        out = []
        if machine not in ("aarch64", "arm64"):
            out.append(f"this profile runs a Rockchip NPU ({options.soc}); this host is {machine}. To measure the "
                       f"models here, `edge-ocr models verify --target rknn-{options.soc}` runs them in the simulator")
        if not Path(options.library).exists():
            out.append(f"the RKNN runtime library {options.library} is missing: install librknnrt.so 2.5.0 from "
                       "Rockchip's rknn-toolkit2 repository (rknpu2/runtime/Linux/librknn_api/aarch64) into /usr/lib")
        missing = [d for d in options.device_nodes if not os.path.exists(d)]
        if missing:
            out.append(f"NPU device node {', '.join(missing)} is missing: the rknpu driver is not loaded (a vendor "
                       "kernel with rknpu; `dmesg | grep -i rknpu`)")
        if not cls.installed():
            out.append(f"rknn-toolkit-lite2 is not installed in this Python environment: {cls.install}")
        return out

    @classmethod
    def device_nodes(cls, options: RknnOptions) -> list[str]:
        return list(options.device_nodes) if options.runtime == "device" else []

    @classmethod
    def health(cls, options: RknnOptions) -> list[Check]:
        if options.runtime == "simulator":
            return [Check("engine", bool(options.simulator_python), "rknn-toolkit2 simulator (build host)")]
        checks = super().health(options)
        ok = Path(options.library).exists()
        checks.append(Check("rknn runtime", ok, options.library if ok else f"{options.library} missing",
                            "install librknnrt.so 2.5.0 (rknn-toolkit2 repository, rknpu2/runtime) into /usr/lib"))
        return checks

    @classmethod
    def verified(cls, options: RknnOptions, machine: str) -> str:
        return (f"the {options.soc} builds ran in rknn-toolkit2's simulator on x86_64 (make verify-npu: fidelity in "
                "the README's NPU table); no Rockchip NPU was run by edge-ocr's checks")

    def __init__(self, options: RknnOptions):
        super().__init__(options)
        self.check(options, platform.machine())
        # runtime = simulator: a simulator rebuilds its model when it starts, so one per model, kept
        self._sims: dict[str, tuple[ServedModel, Bucketed]] = {}

    def target_entry(self, models: BuiltModels) -> dict:
        """The build's record of this target: refuses a build made for another SoC."""
        kind = self.model_kind(self.options)
        targets = models.lock.get("targets", {})
        if kind not in targets:
            built = [k for k in targets if k.startswith("rknn-")]
            raise ModelError(f"no RKNN build for {self.options.soc} in {models.dir}" +
                             (f" (it holds {', '.join(built)}: built for another SoC)" if built else ""),
                             hint=f"run `edge-ocr models build --target {kind}` on an x86_64 host and copy "
                                  "models_mobile/build to the board")
        entry = targets[kind]
        if entry.get("soc") != self.options.soc:
            raise ModelError(f"the RKNN models in {models.dir} were built for {entry.get('soc')}, this profile runs "
                             f"{self.options.soc}", hint=f"run `edge-ocr models build --target {kind}`")
        return entry

    def load(self, models: BuiltModels, model_key: str) -> Bucketed:
        entry = self.target_entry(models)
        kind = self.model_kind(self.options)
        spec = entry["models"].get(model_key)
        if spec is None:
            raise ModelError(f"model {model_key!r} has no {kind} build (built: {', '.join(entry['models'])})",
                             hint=f"add it to models_mobile/npu.toml and run `edge-ocr models build --target {kind}`")
        path = models.path(model_key, kind)
        buckets = [(s[2], s[3]) for s in spec["shapes"]]
        output = OUTPUT[spec["task"]]
        if self.options.runtime == "simulator":
            if model_key in self._sims:
                return self._sims[model_key][1]
            job = Path(entry["job"])
            sim = ServedModel([self.options.simulator_python, RKNN_TOOL, "serve", job, model_key], model_key,
                              job.with_name(f"simulator.{model_key}.log"),
                              shipped=path, max_differing_bytes=int(path.stat().st_size * UNINITIALISED_SHARE))
            self._sims[model_key] = sim, Bucketed(sim.run, buckets, output, model_key)
            return self._sims[model_key][1]
        lite = self.library()
        rt = lite.RKNNLite(verbose=False)
        if rt.load_rknn(str(path)) != 0:
            raise ModelError(f"rknn-toolkit-lite2 cannot load {path}", hint=f"rebuild with `edge-ocr models build "
                                                                            f"--target {kind} --force`")
        if rt.init_runtime(core_mask=getattr(lite.RKNNLite, CORE_MASKS[self.options.core_mask])) != 0:
            raise EngineError(f"the RKNN runtime did not start {path} on the {self.options.soc} NPU",
                              hint=f"check `dmesg | grep -i rknpu` and that {self.options.library} is version 2.5.0; "
                                   "a model built for another SoC does not start either")

        def run_one(x: np.ndarray) -> np.ndarray:
            return rt.inference(inputs=[x], data_format="nchw")[0]

        return Bucketed(run_one, buckets, output, model_key)

    def simulated(self) -> dict[str, int | None]:
        """Model -> bytes in which the simulator's rebuild differed from the shipped file (runtime = simulator)."""
        return {key: sim.differing_bytes for key, (sim, _) in self._sims.items()}

    def close(self) -> None:
        for sim, _ in self._sims.values():
            sim.close()
        self._sims.clear()

    def describe(self) -> dict:
        return {**super().describe(), "npu": self.options.soc}


PLUGIN = RknnEngine
