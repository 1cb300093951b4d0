"""The engine plugins: every module of edge/engine/ that defines `PLUGIN` registers under `PLUGIN.key`.

Adding an engine is adding one module (and profiles that name it). Discovery imports the plugin modules, not
their inference libraries.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Annotated, Union

from pydantic import Field

from ..errors import ConfigError, EngineError
from .base import EngineOptions, EnginePlugin

_NOT_PLUGINS = {"base", "registry"}


@functools.cache
def plugins() -> dict[str, type[EnginePlugin]]:
    """key -> plugin class, in a stable order (by key)."""
    found: dict[str, type[EnginePlugin]] = {}
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in _NOT_PLUGINS:
            continue
        plugin = getattr(importlib.import_module(f"{__package__}.{info.name}"), "PLUGIN", None)
        if plugin is not None:
            found[plugin.key] = plugin
    return dict(sorted(found.items()))


def engine_keys() -> list[str]:
    return list(plugins())


def plugin(key: str) -> type[EnginePlugin]:
    try:
        return plugins()[key]
    except KeyError:
        raise ConfigError(f"unknown engine {key!r}", hint=f"choose one of: {', '.join(plugins())}") from None


@functools.cache
def options_type():
    """The type of a profile's `[engine]` section: the chosen plugin's options model, selected by `key`."""
    models = tuple(p.Options for p in plugins().values())
    return Annotated[Union[models], Field(discriminator="key")] if len(models) > 1 else models[0]


def options_for(key: str, **values) -> EngineOptions:
    """Options of engine `key` from whichever of `values` it understands (the rest belong to other engines)."""
    model = plugin(key).Options
    return model.model_validate({k: v for k, v in values.items() if k in model.model_fields} | {"key": key})


def create_engine(options: EngineOptions | str) -> EnginePlugin:
    """The engine for these options (a bare key means its defaults); imports the engine's library."""
    if isinstance(options, str):
        options = options_for(options)
    return plugin(options.key)(options)


def runnable_here(machine: str, **values) -> tuple[dict[str, EnginePlugin], dict[str, str]]:
    """({key: engine} for every engine that runs here with `values` as options, {key: why not} for the rest)."""
    ready, missing = {}, {}
    for key, p in plugins().items():
        options = options_for(key, **values)
        problems = p.problems(options, machine)
        if problems:
            missing[key] = problems[0]
        else:
            ready[key] = p(options)
    return ready, missing


def reference_and_others(machine: str, **values) -> tuple[EnginePlugin, list[EnginePlugin], dict[str, str]]:
    """The reference engine (source numerics), the other engines that run here, and why the rest do not."""
    ready, missing = runnable_here(machine, **values)
    ref = next((e for e in ready.values() if e.is_reference), None)
    if ref is None:
        names = [p.label for p in plugins().values() if p.is_reference]
        raise EngineError(f"the reference engine ({', '.join(names)}) does not run here: built models cannot be checked",
                          hint="; ".join(missing.values()))
    return ref, [e for e in ready.values() if e is not ref], missing
