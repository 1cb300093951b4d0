"""Text recognition: official per-crop resize at height 48, batch padding, and greedy CTC decoding."""
from __future__ import annotations

import math

import numpy as np

from ..models import InputSpec
from . import cvops

REC_HEIGHT = 48
REC_MIN_WIDTH = 320  # the model's nominal 3x48x320 input: narrower crops are padded to it
REC_MAX_WIDTH = 3200


def rec_width(h: int, w: int) -> int:
    """Padded input width of one crop."""
    return min(int(REC_HEIGHT * max(REC_MIN_WIDTH / REC_HEIGHT, w / float(h))), REC_MAX_WIDTH)


def rec_normalize(crop: np.ndarray, spec: InputSpec) -> np.ndarray:
    """One BGR crop -> [3, 48, W]: resized to height 48 keeping its ratio, zero-padded on the right to W."""
    h, w = crop.shape[:2]
    target_w = int(REC_HEIGHT * max(REC_MIN_WIDTH / REC_HEIGHT, w / float(h)))
    if target_w > REC_MAX_WIDTH:
        resized = cvops.resize(crop, (REC_MAX_WIDTH, REC_HEIGHT))
        resized_w = target_w = REC_MAX_WIDTH
    else:
        resized_w = min(int(math.ceil(REC_HEIGHT * w / float(h))), target_w)
        resized = cvops.resize(crop, (resized_w, REC_HEIGHT))
    x = resized.astype(np.float32).transpose(2, 0, 1)
    mean = np.array(spec.mean, np.float32)[:, None, None]
    std = np.array(spec.std, np.float32)[:, None, None]
    x = (x * np.float32(spec.scale) - mean) / std
    out = np.zeros((3, REC_HEIGHT, target_w), dtype=np.float32)
    out[:, :, :resized_w] = x
    return out


def pad_batch(items: list[np.ndarray], width: int | None = None) -> np.ndarray:
    """Stacks [3, H, W_i] padded with zeros on the right to `width` (default: the widest item)."""
    width = width or max(i.shape[2] for i in items)
    out = np.zeros((len(items), items[0].shape[0], items[0].shape[1], width), dtype=np.float32)
    for k, it in enumerate(items):
        out[k, :, :, :it.shape[2]] = it
    return out


def ctc_decode(probs: np.ndarray, chars: list[str]) -> list[tuple[str, float, np.ndarray]]:
    """Greedy CTC: collapse repeats, drop blanks (index 0); score is the mean max-probability of kept steps. The
    third item is the columns each character was read at (for word boxes)."""
    idx = probs.argmax(axis=-1)
    conf = probs.max(axis=-1)
    out = []
    for i, c in zip(idx, conf):
        keep = np.ones(len(i), dtype=bool)
        keep[1:] = i[1:] != i[:-1]
        keep &= i != 0
        text = "".join(chars[k] for k in i[keep])
        out.append((text, float(np.mean(c[keep])) if keep.any() else 0.0, np.flatnonzero(keep)))
    return out
