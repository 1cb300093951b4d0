"""A one-line progress bar on a terminal's stderr; silent when stderr is not a terminal."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, enabled: bool = True, stream=None):
        self.total = total
        self.n = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.t0 = time.monotonic()

    def _draw(self, label: str = "") -> None:
        width = 30
        filled = int(width * self.n / max(self.total, 1))
        rate = self.n / max(time.monotonic() - self.t0, 1e-9)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.n}/{self.total} "
                          f"{rate:.2f}/s {label[-40:]:40s}")
        self.stream.flush()

    def step(self, label: str = "") -> None:
        self.n += 1
        if self.enabled:
            self._draw(label)

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()

    def write(self, line: str) -> None:
        self.clear()
        print(line, file=self.stream)
        if self.enabled:
            self._draw()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\n")
