"""Shared fixtures: the real built models (make setup builds them), the reference set, and rendered samples."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.models import BuiltModels, build_dir, load_manifest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(os.environ.get("EDGE_OCR_REFERENCE", ROOT.parent / "shared" / "reference"))
EDGE_OCR = [sys.executable, "-m", "edge"]


@pytest.fixture(scope="session")
def manifest():
    return load_manifest()


def pytest_collection_modifyitems(config, items):
    """Paddle Lite tests run in the Paddle Lite environment (.venv-lite; `make test` runs both). Elsewhere they are
    skipped with that reason; in CI, where `make test` selects them by marker, they run (and fail) wherever asked."""
    if importlib.util.find_spec("paddlelite") is not None or os.environ.get("CI"):
        return
    for item in items:
        if "paddlelite" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs Paddle Lite: run in .venv-lite (make test does)"))


@pytest.fixture(scope="session")
def built(manifest) -> BuiltModels:
    """The project's real build (make setup builds it in the Paddle Lite environment, which has paddle_lite_opt)."""
    if not (build_dir() / "lock.json").exists():
        if importlib.util.find_spec("paddlelite") is None:
            pytest.fail("no built models: run `make setup` (it builds them in .venv-lite)")
        subprocess.run([*EDGE_OCR, "models", "build"], check=True)
    return BuiltModels(build_dir())


@pytest.fixture(scope="session")
def reference() -> Path:
    if not (REFERENCE / "manifest.json").exists():
        message = f"reference set not found at {REFERENCE} (set EDGE_OCR_REFERENCE)"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI shared/ sits beside the checkout: its absence is an error, not a skip
        pytest.skip(message)
    return REFERENCE


@pytest.fixture(scope="session")
def samples():
    from edge.modelbuild.samples import load_samples

    return load_samples()


def run_cli(*args, env=None, timeout=1800, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGE_OCR, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)
