"""config.json -> M1Config: every spec key read, bad values named."""

from __future__ import annotations

import json

import pytest

from model import ConfigError, LayerGeometry, M1Config
from tests.model.random_checkpoint import make_config

REF_CONFIG = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "m1-reference" / "checkpoint"


def test_reads_the_reference_config():
    cfg = M1Config.from_dir(REF_CONFIG)
    assert (cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers) == (160, 64, 96, 4)
    assert cfg.sliding_window_layers == [1, 3] and cfg.sliding_window == 8
    assert cfg.layer_geometry(0) == LayerGeometry(2, 1, 32, None)
    assert cfg.layer_geometry(1) == LayerGeometry(4, 2, 16, 8)
    assert cfg.lm_head_normalized and not cfg.tie_word_embeddings
    assert (cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id) == (1, 2, 0)
    assert cfg.eos_ids == [2]
    assert cfg.rope_theta == 10000.0 and cfg.rms_norm_eps == 1e-6 and cfg.max_position_embeddings == 256


def test_14b_geometry_from_numbers():
    d = make_config(dict(vocab_size=133120, hidden_size=5120, intermediate_size=17408, num_hidden_layers=40,
                         num_attention_heads=20, num_key_value_heads=2, num_swa_attention_heads=40,
                         num_swa_key_value_heads=8, sliding_window=8192,
                         sliding_window_layers=list(range(1, 40, 2))))
    cfg = M1Config.from_dict(d)
    assert cfg.layer_geometry(0) == LayerGeometry(20, 2, 256, None)
    assert cfg.layer_geometry(39) == LayerGeometry(40, 8, 128, 8192)


def test_round_trip_keeps_unknown_keys():
    d = make_config("m1-mini", eos_token_id=[2, 5], demo_model=True, display_name="x")
    cfg = M1Config.from_dict(d)
    again = M1Config.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert cfg.to_dict()["demo_model"] is True and cfg.eos_ids == [2, 5]


def test_imported_llama_layout():
    cfg = M1Config.from_dict(make_config("llama"))
    assert not cfg.lm_head_normalized and cfg.tie_word_embeddings and cfg.sliding_window_layers == []
    assert all(cfg.layer_geometry(i).window is None for i in range(cfg.num_hidden_layers))


def test_swa_keys_optional_without_swa_layers():
    d = make_config("llama")
    for k in ("num_swa_attention_heads", "num_swa_key_value_heads", "sliding_window"):
        d.pop(k)
    cfg = M1Config.from_dict(d)
    assert cfg.layer_geometry(1).n_heads == 5


@pytest.mark.parametrize("change,key", [
    (dict(num_attention_heads=3), "num_attention_heads"),         # 64 % 3
    (dict(num_key_value_heads=3), "num_key_value_heads"),          # 2 % 3
    (dict(num_swa_attention_heads=5), "num_swa_attention_heads"),
    (dict(num_swa_key_value_heads=3), "num_swa_key_value_heads"),
    (dict(model_type="llama"), "model_type"),
    (dict(sliding_window_layers=[1, 4]), "sliding_window_layers"),
    (dict(sliding_window_layers=[-1]), "sliding_window_layers"),
    (dict(sliding_window_layers="1,3"), "sliding_window_layers"),
    (dict(sliding_window_layers=[1, 1]), "sliding_window_layers"),
    (dict(conv_window=3), "conv_window"),
    (dict(hidden_size="64"), "hidden_size"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(sliding_window=0), "sliding_window"),
    (dict(rms_norm_eps=-1.0), "rms_norm_eps"),
    (dict(hidden_act="gelu"), "hidden_act"),
    (dict(tie_word_embeddings="no"), "tie_word_embeddings"),
    (dict(lm_head_normalized=1), "lm_head_normalized"),
    (dict(eos_token_id="2"), "eos_token_id"),
    (dict(head_dim=16), "head_dim"),
    (dict(num_attention_heads=128, num_key_value_heads=128), "num_attention_heads"),  # odd head dim? 64/128
])
def test_bad_values_name_the_key(change, key):
    d = make_config("m1-mini", **change)
    with pytest.raises(ConfigError, match=f"'{key}'"):
        M1Config.from_dict(d)


@pytest.mark.parametrize("key", ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                 "num_attention_heads", "model_type", "num_swa_attention_heads",
                                 "sliding_window"])
def test_missing_key_is_named(key):
    d = make_config("m1-mini")
    del d[key]
    with pytest.raises(ConfigError, match=f"'{key}'.*missing"):
        M1Config.from_dict(d)


def test_from_dir_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        M1Config.from_dir(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        M1Config.from_dir(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(make_config("m1-mini", num_key_value_heads=3)))
    with pytest.raises(ConfigError, match=r"config\.json.*num_key_value_heads"):
        M1Config.from_dir(tmp_path)


def test_nothing_hard_coded_from_the_14b():
    cfg = M1Config.from_dict(make_config("odd", rope_theta=123.0, rms_norm_eps=1e-5))
    assert cfg.rope_theta == 123.0 and cfg.rms_norm_eps == 1e-5
    assert cfg.layer_geometry(0) == LayerGeometry(6, 2, 8, 5)
    assert cfg.layer_geometry(1) == LayerGeometry(3, 3, 16, None)
