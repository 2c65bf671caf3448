"""Baichuan-M1 runtime: config, network, cache, checkpoint loading and import, tokenizer, generation."""

from .cache import Cache
from .config import ConfigError, LayerGeometry, M1Config
from .generate import GenerationParams, GenerationResult, Generator
from .importing import ensure_demo_checkpoint, import_gguf, import_hf_llama
from .loading import CheckpointError, load_model
from .network import M1Model
from .tokenizer import load_tokenizer

__all__ = [
    "Cache", "CheckpointError", "ConfigError", "GenerationParams", "GenerationResult", "Generator",
    "LayerGeometry", "M1Config", "M1Model", "ensure_demo_checkpoint", "import_gguf", "import_hf_llama",
    "load_model", "load_tokenizer",
]
