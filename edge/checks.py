"""One line of `edge-ocr doctor`: shared by the doctor and the engine plugins' health checks."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""
