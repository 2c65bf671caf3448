"""Baichuan-M1 runtime: config, network, cache, checkpoint loading."""

from .cache import Cache
from .config import ConfigError, LayerGeometry, M1Config
from .loading import CheckpointError, load_model
from .network import M1Model

__all__ = ["Cache", "CheckpointError", "ConfigError", "LayerGeometry", "M1Config", "M1Model", "load_model"]
