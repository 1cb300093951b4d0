"""Inference engines as plugins: one module each, registered under its key, importing its library only when chosen."""
from .base import EngineOptions, EnginePlugin, Predictor
from .registry import (create_engine, engine_keys, options_for, options_type, plugin, plugins, reference_and_others,
                       runnable_here)

__all__ = ["EngineOptions", "EnginePlugin", "Predictor", "create_engine", "engine_keys", "options_for", "options_type",
           "plugin", "plugins", "reference_and_others", "runnable_here"]
