"""load_model: shards by the index, dtype casting, and clear errors naming the tensor or file."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from model import CheckpointError, ConfigError, M1Model, load_model
from tests.model.random_checkpoint import make_config, random_state_dict, write_checkpoint

INDEX = "model.safetensors.index.json"


@pytest.fixture()
def ckpt(tmp_path):
    config = make_config("m1-mini")
    return write_checkpoint(tmp_path / "ck", config, random_state_dict(config, seed=2), dtype=torch.bfloat16, shards=3)


@pytest.mark.parametrize("dtype", [torch.float32, "float32", "bfloat16", torch.bfloat16])
def test_every_tensor_in_run_dtype(ckpt, dtype):
    model = load_model(ckpt, dtype=dtype)
    want = torch.float32 if "32" in str(dtype) else torch.bfloat16
    assert isinstance(model, M1Model) and not model.training
    for name, p in model.named_parameters():
        assert p.dtype == want, name
        assert p.device.type == "cpu", name
    assert model.model.layers[1].self_attn.conv_k.dtype == want


def test_shards_and_single_file_agree(tmp_path):
    config = make_config("odd")
    sd = random_state_dict(config, seed=4)
    a = load_model(write_checkpoint(tmp_path / "a", config, sd, dtype=torch.float32, shards=4))
    b = load_model(write_checkpoint(tmp_path / "b", config, sd, dtype=torch.float32, shards=1))
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    assert torch.equal(a(ids), b(ids))
    params = dict(b.named_parameters(remove_duplicate=False))
    for name, t in sd.items():
        want = t / t.norm(dim=-1, keepdim=True) if name == "lm_head.weight" else t
        assert torch.allclose(params[name], want, atol=1e-6), name


def _shards(path):
    return json.loads((path / INDEX).read_text())["weight_map"]


def _rewrite(path, fn):
    """Apply fn(tensors dict) to the shard holding 'model.norm.weight'; return that shard's name."""
    shard = _shards(path)["model.norm.weight"]
    tensors = load_file(path / shard)
    fn(tensors)
    save_file(tensors, path / shard)
    return shard


def test_missing_tensor_is_named(ckpt):
    wmap = _shards(ckpt)
    wmap.pop("model.layers.2.mlp.up_proj.weight")
    (ckpt / INDEX).write_text(json.dumps({"weight_map": wmap}))
    with pytest.raises(CheckpointError, match=r"'model\.layers\.2\.mlp\.up_proj\.weight' is missing"):
        load_model(ckpt)


def test_missing_untied_head_is_named(ckpt):
    wmap = _shards(ckpt)
    wmap.pop("lm_head.weight")
    (ckpt / INDEX).write_text(json.dumps({"weight_map": wmap}))
    with pytest.raises(CheckpointError, match=r"'lm_head\.weight' is missing.*tie_word_embeddings"):
        load_model(ckpt)


def test_extra_tensor_is_named_with_its_file(ckpt):
    shard = _rewrite(ckpt, lambda t: t.__setitem__("model.layers.0.self_attn.q_bias", torch.zeros(3)))
    wmap = _shards(ckpt)
    wmap["model.layers.0.self_attn.q_bias"] = shard
    (ckpt / INDEX).write_text(json.dumps({"weight_map": wmap}))
    with pytest.raises(CheckpointError, match=rf"unexpected tensor 'model\.layers\.0\.self_attn\.q_bias' in {shard}"):
        load_model(ckpt)


def test_rotary_inv_freq_is_ignored(ckpt):
    name = "model.layers.0.self_attn.rotary_emb.inv_freq"
    shard = _rewrite(ckpt, lambda t: t.__setitem__(name, torch.ones(16)))
    wmap = _shards(ckpt)
    wmap[name] = shard
    (ckpt / INDEX).write_text(json.dumps({"weight_map": wmap}))
    load_model(ckpt)


def test_wrong_shape_names_tensor_file_and_shapes(ckpt):
    shard = _rewrite(ckpt, lambda t: t.__setitem__("model.norm.weight", torch.ones(65, dtype=torch.bfloat16)))
    with pytest.raises(CheckpointError, match=rf"'model\.norm\.weight' in {shard} has shape \[65\].*\[64\]"):
        load_model(ckpt)


def test_wrong_conv_shape(ckpt):
    name = "model.layers.1.self_attn.conv_v"
    shard = _shards(ckpt)[name]
    tensors = load_file(ckpt / shard)
    tensors[name] = torch.zeros(1, 1, 2, 1, 3, dtype=torch.bfloat16)
    save_file(tensors, ckpt / shard)
    with pytest.raises(CheckpointError, match=r"conv_v.*\[1, 1, 2, 1, 3\]"):
        load_model(ckpt)


def test_missing_shard_is_named(ckpt):
    shard = _shards(ckpt)["model.norm.weight"]
    (ckpt / shard).unlink()
    with pytest.raises(CheckpointError, match=rf"shard '{shard}'.*missing"):
        load_model(ckpt)


def test_index_pointing_to_wrong_shard(ckpt):
    wmap = _shards(ckpt)
    shards = sorted(set(wmap.values()))
    owner = wmap["model.norm.weight"]
    wmap["model.norm.weight"] = next(s for s in shards if s != owner)
    (ckpt / INDEX).write_text(json.dumps({"weight_map": wmap}))
    with pytest.raises(CheckpointError, match=r"'model\.norm\.weight' is listed in the index"):
        load_model(ckpt)


@pytest.mark.parametrize("content", ["{broken", json.dumps({"metadata": {}}), json.dumps({"weight_map": []}),
                                     json.dumps({"weight_map": {"a": 3}})])
def test_malformed_index_is_named(ckpt, content):
    (ckpt / INDEX).write_text(content)
    with pytest.raises(CheckpointError, match=INDEX.replace(".", r"\.")):
        load_model(ckpt)


def test_no_weights_and_no_dir(tmp_path, ckpt):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope")
    (ckpt / INDEX).unlink()
    with pytest.raises(CheckpointError, match="neither"):
        load_model(ckpt)


def test_config_error_surfaces(ckpt):
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["num_swa_key_value_heads"] = 3
    (ckpt / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="num_swa_key_value_heads"):
        load_model(ckpt)


def test_bad_dtype_is_named(ckpt):
    with pytest.raises(ValueError, match="'float8'"):
        load_model(ckpt, dtype="float8")


def test_tied_and_normalised_head_keeps_embedding_raw(tmp_path):
    config = make_config("m1-mini", tie_word_embeddings=True)
    sd = random_state_dict(config, seed=9)
    assert "lm_head.weight" not in sd
    model = load_model(write_checkpoint(tmp_path, config, sd, dtype=torch.float32, shards=1))
    emb = sd["model.embed_tokens.weight"]
    assert torch.equal(model.model.embed_tokens.weight, emb)
    assert torch.allclose(model.lm_head.weight, emb / emb.norm(dim=-1, keepdim=True), atol=1e-6)


def test_no_parameter_left_on_meta(ckpt):
    model = load_model(ckpt)
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert torch.isfinite(model(torch.tensor([[3, 4, 5]]))).all()


def test_truncated_or_corrupt_shard_is_named(ckpt):
    shard = _shards(ckpt)["model.norm.weight"]
    data = (ckpt / shard).read_bytes()
    (ckpt / shard).write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match=rf"{shard}.*truncated"):
        load_model(ckpt)
    (ckpt / shard).write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    with pytest.raises(CheckpointError, match=rf"{shard} is not a safetensors file"):
        load_model(ckpt)


def test_integer_tensor_is_refused(ckpt):
    _rewrite(ckpt, lambda t: t.__setitem__("model.norm.weight", torch.ones(64, dtype=torch.int32)))
    with pytest.raises(CheckpointError, match=r"'model\.norm\.weight'.*dtype I32"):
        load_model(ckpt)
