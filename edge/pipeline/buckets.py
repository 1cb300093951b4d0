"""Fixed-shape models (NPUs) behind the pipeline's variable shapes: each input is zero-padded into a shape bucket and
the output cropped back, so the pipeline sees the output the model would give at the input's own size.

Zero is what the pipeline already pads with (the normalised mean), as the official batching does for recognition.
An input larger than every bucket is scaled down into the bucket that keeps most of it: a detection map is scaled
back up to the input's size; a text line is squeezed in width only, and its sequence stretched back to its length by
repeating columns (CTC decoding collapses repeats, so the text is what the model read at the narrower size).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import cv2
import numpy as np

Output = Literal["map", "sequence", "vector"]


@dataclass(frozen=True)
class Fit:
    bucket: tuple[int, int]  # (H, W) the model runs
    valid: tuple[int, int]  # (h, w) of the input inside it, after scaling
    scale: float  # 1.0: padded only


def choose(hw: tuple[int, int], buckets: list[tuple[int, int]], keep_aspect: bool = True) -> Fit:
    """The smallest bucket (by area) holding hw; else the bucket that keeps the largest scale. Without keep_aspect
    (a text line, whose height is the model's) only the width is squeezed."""
    h, w = hw
    holding = [b for b in buckets if b[0] >= h and b[1] >= w]
    if holding:
        return Fit(min(holding, key=lambda b: (b[0] * b[1], b)), (h, w), 1.0)
    if not keep_aspect:
        best = max((b for b in buckets if b[0] >= h), key=lambda b: b[1], default=None) or max(buckets)
        s = min(1.0, best[1] / w)
        return Fit(best, (min(h, best[0]), max(1, min(best[1], int(w * s)))), s)
    best = max(buckets, key=lambda b: (min(b[0] / h, b[1] / w), -b[0] * b[1]))
    s = min(best[0] / h, best[1] / w)
    return Fit(best, (max(1, min(best[0], int(h * s))), max(1, min(best[1], int(w * s)))), s)


def _resize_chw(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a CHW float32 array to (h, w)."""
    if x.shape[1:] == hw:
        return x
    return cv2.resize(np.ascontiguousarray(x.transpose(1, 2, 0)), (hw[1], hw[0]),
                      interpolation=cv2.INTER_LINEAR).reshape(hw[0], hw[1], -1).transpose(2, 0, 1)


def pack(x: np.ndarray, fit: Fit) -> np.ndarray:
    """One CHW input as the bucket's 1xCxHxW batch."""
    x = _resize_chw(x, fit.valid) if fit.scale != 1.0 else x
    out = np.zeros((1, x.shape[0], *fit.bucket), np.float32)
    out[0, :, :fit.valid[0], :fit.valid[1]] = x
    return out


def unpack(y: np.ndarray, fit: Fit, hw: tuple[int, int], kind: Output) -> np.ndarray:
    """The bucket's output (batch 1) cut back to what the model gives for an input of size hw."""
    y = y[0]
    if kind == "vector":
        return y
    if kind == "map":  # [C, H, W], same size as the input
        y = y[:, :fit.valid[0], :fit.valid[1]]
        return _resize_chw(np.ascontiguousarray(y), hw) if fit.scale != 1.0 else y
    stride = fit.bucket[1] / y.shape[0]  # [T, classes], one step per `stride` input columns
    steps = lambda w: max(1, int((w + stride / 2 - 1) // stride))  # noqa: E731  the model's own rounding
    y = y[:steps(fit.valid[1])]
    if fit.scale != 1.0:
        want = steps(hw[1])
        y = y[np.minimum((np.arange(want) * len(y)) // want, len(y) - 1)]
    return y


class Bucketed:
    """A Predictor over a batch-1 fixed-shape runner: splits the batch, fits each item, reassembles the output."""

    def __init__(self, run_one: Callable[[np.ndarray], np.ndarray], buckets: list[tuple[int, int]], kind: Output,
                 name: str, release: Callable[[], None] | None = None):
        self.name = name
        self.buckets = list(buckets)
        self.kind = kind
        self._run_one = run_one
        self._release = release
        self.fits: list[Fit] = []  # of the last call, for callers that report downscaling

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        hw = tuple(x.shape[2:])
        fit = choose(hw, self.buckets, keep_aspect=self.kind != "sequence")
        outs = [unpack(self._run_one(pack(item, fit)), fit, hw, self.kind) for item in x]
        self.fits = [fit] * len(x)
        return np.stack(outs)

    def release(self) -> None:
        if self._release:
            self._release()
