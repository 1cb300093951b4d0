"""A page's memory, known before detection runs: the measured model of an engine and the profile's budget policy.

Detection dominates a page's memory and grows with the detection input (not the text), so a linear model in its
pixels, measured per engine, predicts the peak of a page closely enough to decide before anything runs: run it as
asked, lower the detection size until it fits (`downscale`), or refuse it (`refuse`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigError, InputTooLargeError
from .pipeline.det import DetParams, det_size

Policy = Literal["downscale", "refuse"]
MB = 2 ** 20
FLOOR_SIDE = 640  # below this detection side, text on a page is no longer found: refuse rather than shrink further


class MemoryModel(BaseModel):
    """Peak RSS of one page = base + page + det_bytes_per_pixel x detection input pixels + image_bytes_per_pixel x
    page pixels. Measured in a fresh process per size (`edge-ocr bench --memory-model`); rounded up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_mb: float = Field(ge=0, description="the process with the detection and recognition models loaded, idle")
    page_mb: float = Field(ge=0, description="a page's fixed working memory (recognition batches, post-processing)")
    det_bytes_per_pixel: float = Field(ge=0, description="detection working memory per detection input pixel")
    image_bytes_per_pixel: float = Field(12, ge=0, description=(
        "decoded page and its copies, two pages alive at once when pages are pipelined"))
    measured: str = Field("", description="where and how the coefficients were measured")
    rec_max_columns: int | None = Field(None, ge=320, description=(
        "the recognition batch cap the model was measured with (batch.rec_max_columns); a budget applies it where the "
        "profile sets none, since wider batches would break the model (the text does not change)"))

    def page_peak_mb(self, image_hw: tuple[int, int], det_hw: tuple[int, int]) -> float:
        return (self.base_mb + self.page_mb + self.det_bytes_per_pixel * det_hw[0] * det_hw[1] / MB
                + self.image_bytes_per_pixel * image_hw[0] * image_hw[1] / MB)


class OverMemoryBudget(InputTooLargeError):
    """A page that would not fit the device's memory budget (refused by policy, or too big to shrink)."""


@dataclass(frozen=True)
class Plan:
    det: DetParams
    peak_mb: float
    warning: str | None = None


@dataclass(frozen=True)
class MemoryBudget:
    limit_mb: int
    policy: Policy
    model: MemoryModel

    def minimum_mb(self) -> float:
        """The models and the smallest page worth running: a limit below this cannot serve anything."""
        return self.model.page_peak_mb((FLOOR_SIDE, FLOOR_SIDE), (FLOOR_SIDE, FLOOR_SIDE))

    def check(self) -> None:
        need = self.minimum_mb()
        if self.limit_mb < need:
            raise ConfigError(
                f"memory_mb = {self.limit_mb} is less than the models and one small page take on this engine "
                f"({need:.0f} MB: {self.model.base_mb:.0f} MB loaded, {need - self.model.base_mb:.0f} MB for a page)",
                hint=f"set memory_mb to at least {int(need) + 1} (the profile's [memory] section, [limits] memory_mb, or --memory_mb), "
                     "or choose a profile with a smaller engine")

    def max_pixels(self) -> int:
        """The largest page (pixels) whose decoded image leaves room for a page at the floor detection size."""
        room = self.limit_mb - self.minimum_mb()
        return max(FLOOR_SIDE * FLOOR_SIDE, int(room * MB / self.model.image_bytes_per_pixel)) \
            if self.model.image_bytes_per_pixel else 1 << 62

    def plan(self, image_hw: tuple[int, int], det: DetParams) -> Plan:
        """The detection settings this page runs with: as asked when it fits, else per the policy."""
        h, w = image_hw
        peak = self.model.page_peak_mb(image_hw, det_size(h, w, det))
        if peak <= self.limit_mb:
            return Plan(det, peak)
        what = (f"a {w}x{h} page at detection size {'x'.join(map(str, det_size(h, w, det)[::-1]))} needs about "
                f"{peak:.0f} MB, over this device's memory_mb = {self.limit_mb}")
        if self.policy == "refuse":
            raise OverMemoryBudget(what + "; refused by the memory policy (nothing was run)",
                                   hint="send a smaller or lower-resolution page, or set the profile's memory policy "
                                        "to downscale (slightly different text, much less memory)")
        side = min(det.max_side_limit, max(det_size(h, w, det)))
        while side > FLOOR_SIDE:
            side -= 32
            smaller = replace(det, max_side_limit=side)
            peak = self.model.page_peak_mb(image_hw, det_size(h, w, smaller))
            if peak <= self.limit_mb:
                return Plan(smaller, peak, f"{what}; detection ran at max side {side} instead "
                                           "(text_det_params.max_side_limit): results may differ from a full-size run")
        raise OverMemoryBudget(what + f"; even at detection side {FLOOR_SIDE} it would not fit",
                               hint="send a smaller page, or raise memory_mb")
