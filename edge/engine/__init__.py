"""Inference engines behind one small protocol; each imports its library only when chosen."""
from .base import ENGINES, EngineOptions, Predictor, create_engine

__all__ = ["ENGINES", "EngineOptions", "Predictor", "create_engine"]
