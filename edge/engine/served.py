"""A model run by a build tool's own Python (an NPU toolkit's simulator, Paddle inference on a quantised graph),
behind a pipe: how `models verify --target` runs NPU builds on an x86_64 host inside the real pipeline.

Protocol: the tool process answers on its stdout, reads on its stdin; every message is an 8-byte little-endian
length and a payload. Its first message is JSON ({"ready": true, "sha256": ...}); then each request is an .npy
array and each answer the model's first output as an .npy array. The tool's own output goes to a log file.
"""
from __future__ import annotations

import io
import json
import struct
import subprocess
from pathlib import Path

import numpy as np

from ..errors import EngineError, ModelError


def _differing_bytes(a: Path, b: Path) -> int:
    x, y = np.fromfile(a, np.uint8), np.fromfile(b, np.uint8)
    if x.size != y.size:
        return max(x.size, y.size)
    return int((x != y).sum())


class ServedModel:
    def __init__(self, cmd: list[str], name: str, log_path: Path, shipped: Path | None = None,
                 max_differing_bytes: int = 0):
        """With `shipped`, the tool names the file it rebuilt to run (a simulator that cannot load a built file):
        it must equal the shipped one but for at most max_differing_bytes (self.differing_bytes says how many)."""
        self.name = name
        self.differing_bytes: int | None = None
        self._log = open(log_path, "ab")
        self._p = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=self._log)
        hello = json.loads(self._recv())
        if shipped is not None:
            self.differing_bytes = _differing_bytes(Path(hello["rebuilt"]), shipped)
            if self.differing_bytes > max_differing_bytes:
                self.close()
                raise ModelError(f"the tool's rebuild of {name} differs from {shipped} in {self.differing_bytes} "
                                 "bytes: the simulation would not be of the shipped model",
                                 hint="rebuild the target with `edge-ocr models build --target ... --force`")

    def _recv(self) -> bytes:
        head = self._p.stdout.read(8)
        if len(head) < 8:
            raise EngineError(f"the tool process running {self.name} stopped (exit {self._p.poll()})",
                              hint=f"its log: {self._log.name}")
        (n,) = struct.unpack("<Q", head)
        return self._p.stdout.read(n)

    def run(self, x: np.ndarray) -> np.ndarray:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(x, dtype=np.float32))
        data = buf.getvalue()
        self._p.stdin.write(struct.pack("<Q", len(data)) + data)
        self._p.stdin.flush()
        return np.load(io.BytesIO(self._recv()))

    def release(self) -> None:
        """The tool process keeps its own memory; nothing to give back on this side."""

    def close(self) -> None:
        if self._p.poll() is None:
            self._p.stdin.close()
            try:
                self._p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._p.kill()
        self._log.close()
