"""systemd integration: the notify protocol against a real unix datagram socket as NOTIFY_SOCKET, the watchdog,
the unit files (systemd-analyze verify), and `edge-ocr doctor`."""
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from realparts import Daemon, drop, scan_image

pytestmark = pytest.mark.timeout(600)


class NotifySocket:
    """What systemd listens on: collects (monotonic time, message) pairs."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def lines(self) -> list[str]:
        return [m for _, m in self.messages]

    def wait_for(self, line: str, timeout: float) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for t, m in list(self.messages):
                if m == line:
                    return t
            time.sleep(0.05)
        raise AssertionError(f"no {line!r} within {timeout}s; got {self.lines()[-10:]}")

    def close(self):
        self._stop = True
        self.sock.close()


def _daemon_with_notify(tmp_path, watchdog_usec: int, **sections) -> tuple[Daemon, NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    d = Daemon(tmp_path / "box", **sections)
    env = {"NOTIFY_SOCKET": sock.path, "WATCHDOG_USEC": str(watchdog_usec)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        d.start(wait_ready=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return d, sock


def test_ready_only_after_models_load_then_watchdog_at_half_interval(tmp_path):
    d, sock = _daemon_with_notify(tmp_path, 2_000_000)
    try:
        t_ready = sock.wait_for("READY=1", 120)
        lines = sock.lines()
        assert "STATUS=loading models" in lines and "STATUS=warming up" in lines
        assert lines.index("STATUS=loading models") < lines.index("READY=1")
        assert "ready:" in d.log.read_text()  # READY came after the models were loaded and warmed up
        time.sleep(4.5)
        pings = [t for t, m in sock.messages if m == "WATCHDOG=1" and t > t_ready]
        assert len(pings) >= 3
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.8 <= g <= 1.6 for g in gaps), gaps  # WATCHDOG_USEC / 2 = 1 s
        assert d.terminate() == 0
        assert "STOPPING=1" in sock.lines()
    finally:
        sock.close()


def test_watchdog_pings_stop_while_the_worker_is_stuck(tmp_path):
    """A job running past limits.job_timeout_seconds counts as a stuck worker: pings stop until it is free again."""
    d, sock = _daemon_with_notify(tmp_path, 1_000_000, limits={"job_timeout_seconds": 0.5},
                                  folder={"settle_seconds": 0.1})
    try:
        sock.wait_for("READY=1", 120)
        time.sleep(1.5)
        big = scan_image("A LONG PAGE OF TEXT " * 6, w=6000, h=4000)
        drop(d.scan, "big.jpg", big)
        d.wait_results(1, 120)
        time.sleep(1.5)
        pings = [t for t, m in sock.messages if m == "WATCHDOG=1"]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert max(gaps) > 1.5, gaps  # silence while the job outlived its limit (half-interval is 0.5 s)
        assert pings[-1] > time.monotonic() - 1.5  # and pings again once the worker is free
        assert d.terminate() == 0
    finally:
        sock.close()


def test_status_says_why_start_failed(tmp_path):
    sock = NotifySocket(tmp_path / "n.sock")
    try:
        cfg = tmp_path / "c.toml"
        cfg.write_text('profile = "a311d-npu"\n[folder]\nenabled = false\n')
        r = run_cli("run", "--config", cfg, env={"NOTIFY_SOCKET": sock.path}, timeout=120)
        assert r.returncode == 69 and "/dev/galcore is missing" in r.stderr
        time.sleep(0.3)
        assert any(m.startswith("STATUS=failed to start") and "/dev/galcore" in m for m in sock.lines())
        assert "READY=1" not in sock.lines()
    finally:
        sock.close()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_files_verify(tmp_path):
    """systemd-analyze checks ExecStart exists, so the units are verified with /opt/edge-ocr pointing here."""
    units = []
    for unit in sorted((ROOT / "systemd").glob("*.service")):
        text = unit.read_text()
        for key in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "StateDirectory=", "ProtectSystem=strict",
                    "NoNewPrivileges=yes", "ProtectHome=yes", "PrivateTmp=yes", "TimeoutStartSec="):
            assert key in text, (unit.name, key)
        target = tmp_path / unit.name
        target.write_text(text.replace("/opt/edge-ocr", str(ROOT)))
        units.append(str(target))
    npu = [ln for ln in (ROOT / "systemd" / "edge-ocr-npu.service").read_text().splitlines() if not ln.startswith("#")]
    assert any(ln.startswith("DeviceAllow=") for ln in npu) and "PrivateDevices=yes" not in npu
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    for unit in units:  # hardened: "OK" or better in systemd's own exposure rating (it was 5.8 MEDIUM)
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit], capture_output=True,
                           text=True)
        level = float(r.stdout.strip().splitlines()[-1].split("exposure level for")[1].split(":")[1].split()[0])
        assert level <= 2.5, r.stdout[-3000:]
        text = Path(unit).read_text()
        assert "LimitNOFILE=" in text and "MemoryMax=" in text and "SystemCallFilter=@system-service" in text


def test_doctor_reports_each_link(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'profile = "x86-onnxruntime"\nstate_dir = "{tmp_path}/state"\n[folder]\npath = "{tmp_path}/scan"\n'
                   f'[results]\ndir = "{tmp_path}/results"\n')
    r = run_cli("doctor", "--config", cfg)
    assert r.returncode == 0, r.stdout
    for name in ("python", "config", "profile", "engine", "model det", "model rec", "folder.path"):
        assert any(line.startswith("ok") and name in line for line in r.stdout.splitlines()), name
    cfg.write_text('profile = "rv1126-npu"\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = 9\n')
    r = run_cli("doctor", "--config", cfg)
    assert r.returncode == 1
    assert "FAIL  profile" in r.stdout and "driver is not loaded" in r.stdout
    assert "FAIL  broker" in r.stdout and "FAIL  device /dev/galcore" in r.stdout
