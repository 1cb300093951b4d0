"""systemd's notify protocol (sd_notify): READY=1, STATUS=, WATCHDOG=1, STOPPING=1 as datagrams to $NOTIFY_SOCKET.

Implemented here (a few lines) rather than through libsystemd, which devices may not have for Python.
Watchdog pings go out at most every WATCHDOG_USEC/2; the daemon asks for one only while its worker is alive.
"""
from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class SdNotifier:
    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET")
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        self.watchdog_interval = None
        if usec and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1e6 / 2
        self._last_ping = 0.0
        self._sock = None
        if self.address:
            if self.address.startswith("@"):  # abstract namespace
                self.address = "\0" + self.address[1:]
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, message: str) -> None:
        if not self._sock:
            return
        try:
            self._sock.sendto(message.encode(), self.address)
        except OSError as e:  # systemd gone or socket misconfigured: say so, never stop the service for it
            log.warning("sd_notify to %s failed: %s", self.address.lstrip("\0"), e)

    def __call__(self, *, ready: bool = False, status: str | None = None, watchdog: bool = False,
                 stopping: bool = False) -> None:
        lines = []
        if ready:
            lines.append("READY=1")
        if stopping:
            lines.append("STOPPING=1")
        if status:
            lines.append(f"STATUS={status}")
        if watchdog and self.watchdog_interval:
            now = time.monotonic()
            if now - self._last_ping >= self.watchdog_interval:
                self._last_ping = now
                lines.append("WATCHDOG=1")
        if lines:
            self.send("\n".join(lines))
