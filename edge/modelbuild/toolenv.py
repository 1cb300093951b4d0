"""Build-time tool venvs (paddle 2.6 + x2paddle, paddle 3.0 + paddle2onnx), cached under the user's cache dir."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import BuildError

log = logging.getLogger(__name__)
TOOLS_DIR = Path(__file__).resolve().parent / "tools"


def cache_dir() -> Path:
    base = os.environ.get("EDGE_OCR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edge-ocr")
    p = Path(base)
    p.mkdir(parents=True, exist_ok=True)
    return p


def run(cmd: list[str], *, what: str, log_file: Path | None = None, env: dict | None = None,
        timeout: float = 1800) -> str:
    """Runs a build step; on failure raises BuildError with the step's last output lines."""
    log.debug("run: %s", " ".join(map(str, cmd)))
    full_env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    full_env.pop("PYTHONPATH", None)
    try:
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=full_env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what}: timed out after {timeout:.0f}s") from None
    except OSError as e:
        raise BuildError(f"{what}: cannot run {cmd[0]}: {e.strerror}") from None
    out = p.stdout + p.stderr
    if log_file:
        log_file.write_text(" ".join(map(str, cmd)) + "\n\n" + out)
    if p.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise BuildError(f"{what} failed (exit {p.returncode}):\n{tail}",
                         hint=f"full log: {log_file}" if log_file else None)
    return p.stdout


class ToolEnv:
    """A venv with pinned build tools, created once per pin set and Python version.

    `base` is the interpreter the venv is made from (default: this one); `no_deps` are installed after the pins
    without their own dependency pins (a wheel that asks for more than it needs)."""

    def __init__(self, name: str, pins: list[str], *, base: Path | None = None, no_deps: list[str] = ()):
        self.base = Path(base) if base else Path(sys.executable)
        version = sys.version if base is None else str(self.base)
        key = hashlib.sha256(("\n".join([*pins, *no_deps]) + version).encode()).hexdigest()[:12]
        self.name = name
        self.pins = pins
        self.no_deps = list(no_deps)
        self.dir = cache_dir() / "tools" / f"{name}-{key}"

    @property
    def python(self) -> Path:
        return self.dir / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.dir / "bin" / name

    def ensure(self) -> "ToolEnv":
        if (self.dir / ".ok").exists():
            return self
        log.info("creating build tool venv %s (%s); this happens once per pin set", self.name, " ".join(self.pins))
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp_log = self.dir.parent / f"{self.dir.name}.install.log"
        run([self.base, "-m", "venv", self.dir], what=f"creating tool venv {self.name}")
        pip = [self.python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        run([*pip, *self.pins], what=f"installing {self.name} tools ({' '.join(self.pins)})", log_file=tmp_log,
            timeout=3600)
        if self.no_deps:
            run([*pip, "--no-deps", *self.no_deps], what=f"installing {' '.join(self.no_deps)}", log_file=tmp_log,
                timeout=3600)
        (self.dir / ".ok").write_text("\n".join([*self.pins, *self.no_deps]) + "\n")
        return self

    def script(self, script: str | Path, *args, what: str, log_file: Path | None = None, timeout: float = 1800) -> str:
        """Runs a tool script (a bare name: one of edge/modelbuild/tools/)."""
        return run([self.python, TOOLS_DIR / script, *args], what=what, log_file=log_file, timeout=timeout)

    @property
    def ready(self) -> bool:
        return (self.dir / ".ok").exists()

    def freeze(self) -> list[str]:
        out = run([self.python, "-m", "pip", "freeze", "--disable-pip-version-check"], what=f"listing {self.name}")
        return sorted(line for line in out.splitlines() if line and not line.startswith("#"))


def find_python(version: str, override: str | None = None) -> Path:
    """A CPython `version` interpreter for a tool venv: `override`, else pyenv's installed ones (selected or not),
    else pythonX.Y on PATH."""
    def fits(p: str | Path | None) -> bool:
        if not p or not Path(p).exists():
            return False
        try:
            out = subprocess.run([str(p), "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out == version

    if override:
        if fits(override):
            return Path(override)
        raise BuildError(f"{override} is not CPython {version} with venv", hint=f"point it at a python{version}")
    candidates: list[str | None] = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        bare = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True).stdout.split()
        for full in sorted((v for v in bare if v == version or v.startswith(version + ".")), reverse=True):
            prefix = subprocess.run([pyenv, "prefix", full], capture_output=True, text=True).stdout.strip()
            candidates.append(f"{prefix}/bin/python" if prefix else None)
    candidates += [shutil.which(f"python{version}"), f"/usr/bin/python{version}"]
    for c in candidates:
        if fits(c):
            return Path(c)
    raise BuildError(f"no CPython {version} found for the tool environment",
                     hint=f"install it (`pyenv install {version}`, or apt-get install python{version} "
                          f"python{version}-venv), or name one with EDGE_OCR_TOOL_PYTHON")
