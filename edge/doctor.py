"""`edge-ocr doctor`: checks every link from a fresh board to a running service and says what to fix."""
from __future__ import annotations

import os
import platform
import socket
import sys
from pathlib import Path

from .checks import Check
from .config import Settings, load_settings
from .errors import EdgeError


def _writable(p: Path) -> tuple[bool, str]:
    p = Path(p)
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        return False, f"{probe} is not writable by uid {os.getuid()}"
    return True, f"{p}{'' if p.exists() else ' (will be created)'}"


#: CPUs PyPI has wheels of the engines for (ONNX Runtime, OpenVINO); other boards need a 64-bit OS first.
#: scripts/install_board.py keeps its own copy: it runs before edge-ocr is installed.
WHEEL_MACHINES = {"x86_64", "amd64", "aarch64", "arm64"}


def python_check(machine: str, version: tuple[int, int], version_text: str) -> Check:
    """The interpreter and CPU: what pip can install engines for, and what to do when it cannot."""
    if machine.lower() not in WHEEL_MACHINES:
        bits = "a 32-bit " if machine.lower().startswith(("armv6", "armv7", "armv8l", "i386", "i686")) else ""
        return Check("python", False, f"{version_text} on {bits}{machine}",
                     f"PyPI has no ONNX Runtime or OpenVINO wheels for {machine}: install the board's 64-bit OS "
                     "(aarch64: Raspberry Pi OS 64-bit, Debian/Ubuntu arm64), or a Paddle Lite build for this CPU")
    if version < (3, 10):
        return Check("python", False, f"{version_text} on {machine}",
                     "edge-ocr needs CPython 3.10 or newer (3.11+ recommended): install the distribution's python3 "
                     "(Debian 12 and Raspberry Pi OS have 3.11)")
    return Check("python", True, f"{version_text} on {machine}")


def run_checks(settings: Settings | None = None, config: Path | None = None) -> list[Check]:
    checks: list[Check] = [python_check(platform.machine(), sys.version_info[:2], platform.python_version())]
    try:
        settings = settings or load_settings(config)
        checks.append(Check("config", True, str(config or os.environ.get("EDGE_OCR_CONFIG") or "built-in defaults")))
    except EdgeError as e:
        checks.append(Check("config", False, e.message, e.hint or ""))
        return checks
    from .profiles import detect, load_profile, runnable_profiles

    try:
        prof = load_profile(settings.profile) if settings.profile else detect()[0]
    except EdgeError as e:
        checks.append(Check("profile", False, e.message, e.hint or ""))
        return checks
    problems = prof.runnable_problems()
    if problems:
        if prof.fallback:
            problems.append(f"until that is fixed, run this board's CPU profile: profile = \"{prof.fallback}\"")
        problems.append(f"profiles that run here: {', '.join(runnable_profiles()) or 'none'}")
    checks.append(Check("profile", not problems, f"{prof.name} ({prof.engine.key}, {prof.model_kind()} models)",
                        "; ".join(problems)))
    checks.extend(prof.plugin.health(prof.engine))
    checks.append(Check("verified", True, prof.plugin.verified(prof.engine, platform.machine())))
    checks.extend(model_checks(settings, prof))
    for w in prof.warnings():
        checks.append(Check("profile option", True, f"warning: {w}"))
    for dev in prof.device_nodes():
        ok = os.path.exists(dev) and os.access(dev, os.R_OK | os.W_OK)
        checks.append(Check(f"device {dev}", ok, "present and accessible" if ok else "missing or not accessible",
                            "load the NPU driver; in systemd use DeviceAllow= and SupplementaryGroups= (edge-ocr-npu.service)"))
    f = settings.folder
    dirs = {"state_dir": settings.state_dir, "results.dir": settings.results.dir}
    if f.enabled:
        dirs.update({"folder.path": f.path, "folder.done_dir": f.done_dir, "folder.failed_dir": f.failed_dir})
    for name, d in dirs.items():
        ok, detail = _writable(Path(d))
        checks.append(Check(name, ok, detail, "fix ownership, or add the folder to ReadWritePaths= in the unit"))
    if settings.mqtt.enabled:
        try:
            socket.create_connection((settings.mqtt.host, settings.mqtt.port), timeout=3).close()
            checks.append(Check("broker", True, f"{settings.mqtt.host}:{settings.mqtt.port} reachable"))
        except OSError as e:
            checks.append(Check("broker", False, f"{settings.mqtt.host}:{settings.mqtt.port}: {e.strerror or e}",
                                "check mqtt.host/port and the network; results wait in the journal meanwhile"))
    if settings.http.enabled:
        try:
            with socket.socket() as s:
                s.bind((settings.http.host, settings.http.port))
            checks.append(Check("http", True, f"{settings.http.host}:{settings.http.port} free"))
        except OSError as e:
            checks.append(Check("http", False, f"cannot listen on {settings.http.host}:{settings.http.port}: {e.strerror}",
                                "another process uses the port (is the service already running?)"))
    return checks


def model_checks(settings: Settings | None, prof) -> list[Check]:
    """Every model file the profile (and the config's orientation switches) will load, against lock.json."""
    from .models import BuiltModels, build_dir

    root = Path(settings.models_dir) if settings and settings.models_dir else None
    try:
        models = BuiltModels(build_dir(root))
    except EdgeError as e:
        return [Check("models", False, e.message, e.hint or "")]
    ocr = settings.ocr if settings else None
    keys = prof.model_keys(textline=ocr and ocr.use_textline_orientation, doc=ocr and ocr.use_doc_orientation_classify)
    out = []
    for key in keys:
        try:
            p = models.path(key, prof.plugin.model_kind_for(prof.engine, key))  # sha256 checked against lock.json
            out.append(Check(f"model {key}", True, f"{p} (sha256 matches the lock)"))
        except EdgeError as e:
            out.append(Check(f"model {key}", False, e.message, e.hint or ""))
    return out


def report(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:18s} {c.detail}")
        if not c.ok and c.hint:
            lines.append(f"      {'':18s} -> {c.hint}")
    bad = sum(not c.ok for c in checks)
    lines.append(f"\n{len(checks) - bad} ok, {bad} failed")
    return "\n".join(lines)
