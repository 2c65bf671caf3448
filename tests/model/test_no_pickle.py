"""No code from checkpoints: a checkpoint that only has pickle weights is refused without being
unpickled (a pickle can run any code when loaded)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from model.importing import CheckpointImportError, import_hf_llama

LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 256,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 128,
}


class _Payload:
    """Unpickling this creates `marker`: the proof that a load ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_only_checkpoint_is_refused_unread(tmp_path):
    src = tmp_path / "hf"
    src.mkdir()
    (src / "config.json").write_text(json.dumps(LLAMA_CONFIG), encoding="utf-8")
    marker = tmp_path / "code-ran"
    (src / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointImportError, match=r"only pickle weights \(\*\.bin/\*\.pt\) found"):
        import_hf_llama(src, tmp_path / "out")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()
