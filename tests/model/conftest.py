"""Shared model fixtures (the demo checkpoint itself is in tests/conftest.py): a tiny random
Llama imported through the Hugging Face path, which reuses the demo's tokenizer so that
generation tests see real text at a fraction of the cost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

NO_CUDA = "no CUDA device here: these run where one is (bench/gpu_check.sh on a GPU machine)"


def on_devices(*values: object) -> list:
    """Each value once on cpu and once on cuda: [(value, device)], the cuda ones marked `cuda`
    and skipped with a reason where no GPU is visible."""
    cuda = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)]
    out = []
    for v in values or (None,):
        out.append(pytest.param((v, "cpu"), id=f"{v}-cpu" if v is not None else "cpu"))
        out.append(pytest.param((v, "cuda"), id=f"{v}-cuda" if v is not None else "cuda", marks=cuda))
    return out

TINY_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "generation_config.json")


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """These models are small; on the shared 2-core machine a second intra-op thread only adds
    contention (measured: a 16-token decode went from ~3 s to ~19 s with 2 threads under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def save_tiny_llama(directory: Path, *, vocab_size: int, tied: bool, seed: int = 0, hidden: int = 64,
                    heads: int = 4, kv_heads: int = 2, layers: int = 2, init: float = 0.1):
    """A random transformers LlamaForCausalLM saved as safetensors; returns the model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden + 16,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=512, rope_theta=10000.0, rms_norm_eps=1e-5,
                         tie_word_embeddings=tied, initializer_range=init, bos_token_id=1, eos_token_id=2,
                         pad_token_id=2)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # non-trivial norms, so that a mix-up of norm weights would show
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                p.uniform_(0.5, 1.5)
    model.save_pretrained(directory, safe_serialization=True)
    return model


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, demo_checkpoint: Path) -> Path:
    """A 2-layer random Llama (GQA, untied head) with the SmolLM2 tokenizer, in the M1 layout."""
    from model.importing import import_hf_llama

    src = tmp_path_factory.mktemp("tiny-hf")
    save_tiny_llama(src, vocab_size=49152, tied=False, seed=1)
    for name in TINY_TOKENIZER_FILES:
        shutil.copyfile(demo_checkpoint / name, src / name)
    return import_hf_llama(src, tmp_path_factory.mktemp("tiny") / "tiny-llama")


def load_random_model(request, tmp_path_factory, seed: int, max_position_embeddings: int):
    """The fp32 random checkpoint of `request.param` = (geometry, device), loaded on that device."""
    from model import load_model
    from tests.model.random_checkpoint import random_checkpoint

    geometry, device = request.param
    path = random_checkpoint(tmp_path_factory.mktemp(geometry), geometry, seed=seed, dtype=torch.float32,
                             max_position_embeddings=max_position_embeddings)
    return load_model(path, dtype=torch.float32, device=device)
