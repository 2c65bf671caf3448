"""Importing Llama checkpoints into the M1 layout: the runtime must compute what transformers
computes on the same weights, from a Hugging Face directory and from GGUF files."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from model.generate import GenerationParams, Generator
from model.importing import (
    DEMO_DISPLAY_NAME,
    CheckpointImportError,
    count_parameters,
    demo_gguf_path,
    ensure_demo_checkpoint,
    import_gguf,
    import_hf_llama,
    unpermute_rope_rows,
)
from model.loading import load_model
from model.tokenizer import load_tokenizer

from .conftest import save_tiny_llama

CHAT = [{"role": "system", "content": "You are a careful clinical assistant."},
        {"role": "user", "content": "Explain in detail how ACE inhibitors lower blood pressure."}]


# ------------------------------------------------------------------------------ reference models
@pytest.fixture(scope="module")
def transformers_demo():
    """transformers' own LlamaForCausalLM on the GGUF, dequantised and un-permuted by transformers'
    GGUF loader (not ours), so a mistake in our importer cannot hide on both sides."""
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    import gguf

    path = str(demo_gguf_path())
    meta = gguf.GGUFReader(path).fields
    value = lambda key: meta[key].contents()  # noqa: E731
    config = LlamaConfig(
        vocab_size=value("llama.vocab_size"), hidden_size=value("llama.embedding_length"),
        intermediate_size=value("llama.feed_forward_length"), num_hidden_layers=value("llama.block_count"),
        num_attention_heads=value("llama.attention.head_count"),
        num_key_value_heads=value("llama.attention.head_count_kv"), rope_theta=value("llama.rope.freq_base"),
        rms_norm_eps=value("llama.attention.layer_norm_rms_epsilon"),
        max_position_embeddings=value("llama.context_length"), tie_word_embeddings=True)
    with torch.device("meta"):
        ref = LlamaForCausalLM(config)
    # transformers rebuilds gguf's tensor-name table once per submodule (~400 times); the table is
    # read-only, so memoising it only saves time.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gguf, "get_tensor_name_map", functools.lru_cache(maxsize=None)(gguf.get_tensor_name_map))
        tensors = load_gguf_checkpoint(path, return_tensors=True, model_to_load=ref)["tensors"]
    ref.load_state_dict(tensors, strict=False, assign=True)
    ref.tie_weights()
    ref.model.rotary_emb = LlamaRotaryEmbedding(config)  # its buffer was made on the meta device
    ref.eval()
    assert not any(p.is_meta for p in ref.parameters())
    return ref


def test_demo_checkpoint_layout(demo_checkpoint: Path):
    config = json.loads((demo_checkpoint / "config.json").read_text())
    assert config["demo_model"] is True
    assert config["display_name"] == DEMO_DISPLAY_NAME
    assert config["model_type"] == "baichuan_m1"
    assert config["lm_head_normalized"] is False
    assert config["sliding_window_layers"] == []
    assert config["num_swa_attention_heads"] == config["num_attention_heads"] == 9
    assert config["num_swa_key_value_heads"] == config["num_key_value_heads"] == 3
    assert config["tie_word_embeddings"] is True
    assert config["eos_token_id"] == 2
    files = {p.name for p in demo_checkpoint.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "generation_config.json"} <= files
    assert not any(name.startswith(".") for name in os.listdir(demo_checkpoint.parent)), "temp dir left behind"
    tok_config = json.loads((demo_checkpoint / "tokenizer_config.json").read_text())
    assert "<|im_start|>" in tok_config["chat_template"]
    with safe_open(str(demo_checkpoint / "model.safetensors"), framework="pt") as fh:
        names = set(fh.keys())
        assert "lm_head.weight" not in names  # tied: the loader shares the embedding
        taps = fh.get_tensor("model.layers.0.self_attn.conv_k")
        assert taps.shape == (1, 1, 3, 1, 2)
        assert torch.equal(taps, torch.tensor([0.0, 1.0]).expand(1, 1, 3, 1, 2))
        assert fh.get_tensor("model.layers.0.self_attn.W_pack.weight").shape == (576 + 2 * 192, 576)
    assert count_parameters(demo_checkpoint) == 134_515_368  # SmolLM2-135M, head tied


def test_demo_import_is_idempotent(demo_checkpoint: Path):
    before = (demo_checkpoint / "model.safetensors").stat().st_mtime_ns
    assert ensure_demo_checkpoint(demo_checkpoint.parent) == demo_checkpoint
    assert (demo_checkpoint / "model.safetensors").stat().st_mtime_ns == before


def test_demo_matches_transformers(demo_checkpoint: Path, transformers_demo):
    """fp32 logits on a real chat prompt, and 32 greedy tokens, against transformers' Llama."""
    model = load_model(demo_checkpoint, dtype="float32")
    tok = load_tokenizer(demo_checkpoint)
    ids = tok.encode_chat(CHAT)
    x = torch.tensor([ids])
    with torch.no_grad():
        expected = transformers_demo(x).logits.float()
    got = model(x)
    assert (got - expected).abs().max().item() <= 1e-3

    ours = Generator(model, tok).generate(ids, GenerationParams(max_new_tokens=32))
    with torch.no_grad():
        hf = transformers_demo.generate(x, max_new_tokens=32, do_sample=False, eos_token_id=tok.eos_ids,
                                        pad_token_id=tok.pad_id, attention_mask=torch.ones_like(x))
    hf_new = hf[0, len(ids):].tolist()
    assert ours.completion_tokens == 32 and ours.finish_reason == "length"
    assert ours.token_ids == hf_new


# ------------------------------------------------------------------------------ Hugging Face dirs
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_hf_llama_import_matches_transformers(tmp_path: Path, tied: bool):
    src = tmp_path / "hf"
    ref = save_tiny_llama(src, vocab_size=300, tied=tied, seed=3, heads=6, kv_heads=2, hidden=48)
    out = import_hf_llama(src, tmp_path / "m1", shard_bytes=40_000)  # small shards: exercise the index
    config = json.loads((out / "config.json").read_text())
    assert config["tie_word_embeddings"] is tied
    assert config["lm_head_normalized"] is False
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    assert ("lm_head.weight" in index["weight_map"]) is (not tied)
    assert (out / "generation_config.json").is_file()

    model = load_model(out, dtype="float32")
    torch.manual_seed(0)
    x = torch.randint(0, 300, (2, 23))
    with torch.no_grad():
        expected = ref(x).logits
    assert (model(x) - expected).abs().max().item() <= 1e-4


def test_hf_import_refuses_what_it_cannot_run(tmp_path: Path):
    src = tmp_path / "hf"
    save_tiny_llama(src, vocab_size=64, tied=True)
    config = json.loads((src / "config.json").read_text())

    with pytest.raises(CheckpointImportError, match="unsupported architecture 'qwen2'"):
        (src / "config.json").write_text(json.dumps({**config, "model_type": "qwen2"}))
        import_hf_llama(src, tmp_path / "a")
    with pytest.raises(CheckpointImportError, match="RoPE scaling"):
        (src / "config.json").write_text(json.dumps({**config, "rope_scaling": {"rope_type": "llama3", "factor": 8}}))
        import_hf_llama(src, tmp_path / "b")
    with pytest.raises(CheckpointImportError, match="not a directory"):
        import_hf_llama(tmp_path / "missing", tmp_path / "c")
    (src / "config.json").write_text(json.dumps(config))
    import_hf_llama(src, tmp_path / "d")
    with pytest.raises(FileExistsError, match="already exists"):
        import_hf_llama(src, tmp_path / "d")
    assert import_hf_llama(src, tmp_path / "d", force=True) == tmp_path / "d"
    import_hf_llama(src, tmp_path / "e", dtype="float16")
    assert json.loads((tmp_path / "e" / "config.json").read_text())["torch_dtype"] == "float16"
    with pytest.raises(CheckpointImportError, match="storage dtype 'int4'"):
        import_hf_llama(src, tmp_path / "f", dtype="int4")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp dirs left behind"


# ------------------------------------------------------------------------------ GGUF
def llama_cpp_permute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """convert_hf_to_gguf's Q/K row order, written out here independently of model.importing."""
    out = np.empty_like(w)
    head_dim = w.shape[0] // n_heads
    half = head_dim // 2
    for h in range(n_heads):
        for j in range(half):
            out[h * head_dim + 2 * j] = w[h * head_dim + j]
            out[h * head_dim + 2 * j + 1] = w[h * head_dim + half + j]
    return out


def byte_level_alphabet() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


# A small byte-level BPE vocabulary: 3 control tokens, the 256 bytes, and a few merges.
SMALL_MERGES = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a"]
SMALL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *byte_level_alphabet(),
                *("".join(m.split(" ")) for m in SMALL_MERGES)]
SMALL_TYPES = [3, 3, 3] + [1] * (len(SMALL_TOKENS) - 3)
SMALL_TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"


def write_llama_gguf(path: Path, ref, quantize_ffn: bool = False, vocab=None) -> None:
    """A GGUF of a transformers Llama (Q/K rows in llama.cpp order) with the small byte-level
    vocabulary, or with `vocab(writer)` writing another one."""
    import gguf

    cfg = ref.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    if vocab is not None:
        vocab(w)
    else:
        assert cfg.vocab_size == len(SMALL_TOKENS)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("smollm")
        w.add_token_list(SMALL_TOKENS)
        w.add_token_types(SMALL_TYPES)
        w.add_token_merges(SMALL_MERGES)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_add_bos_token(True)
        w.add_chat_template(SMALL_TEMPLATE)
    sd = {k: v.detach().float().numpy() for k, v in ref.state_dict().items()}
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(cfg.num_hidden_layers):
        for hf, gg in names.items():
            t = sd[f"model.layers.{i}.{hf}.weight"]
            if gg == "attn_q":
                t = llama_cpp_permute(t, cfg.num_attention_heads)
            elif gg == "attn_k":
                t = llama_cpp_permute(t, cfg.num_key_value_heads)
            if quantize_ffn and gg in ("ffn_gate", "ffn_up"):
                w.add_tensor(f"blk.{i}.{gg}.weight", gguf.quants.quantize(t, gguf.GGMLQuantizationType.Q8_0),
                             raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            else:
                w.add_tensor(f"blk.{i}.{gg}.weight", t)
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    if not cfg.tie_word_embeddings:
        w.add_tensor("output.weight", sd["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_unpermute_inverts_llama_cpp_permutation():
    w = np.arange(6 * 8 * 3, dtype=np.float32).reshape(6 * 8, 3)
    for heads in (1, 2, 6):
        assert np.array_equal(unpermute_rope_rows(llama_cpp_permute(w, heads), heads), w)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory):
    """(gguf path, transformers reference) for a random untied GQA Llama with a Q8_0 FFN."""
    d = tmp_path_factory.mktemp("gguf")
    ref = save_tiny_llama(d / "hf", vocab_size=len(SMALL_TOKENS), tied=False, seed=5, heads=4, kv_heads=2,
                          hidden=64)
    path = d / "tiny.gguf"
    write_llama_gguf(path, ref, quantize_ffn=True)
    # transformers computes on the values the GGUF holds (Q8_0 rounds the FFN), dequantised by gguf.
    import gguf

    reader = gguf.GGUFReader(str(path))
    with torch.no_grad():
        for t in reader.tensors:
            if t.tensor_type == gguf.GGMLQuantizationType.Q8_0:
                i, kind = t.name.split(".")[1], t.name.split(".")[2]
                proj = {"ffn_gate": "gate_proj", "ffn_up": "up_proj"}[kind]
                deq = gguf.quants.dequantize(t.data, t.tensor_type).reshape(tuple(reversed(t.shape.tolist())))
                getattr(ref.model.layers[int(i)].mlp, proj).weight.copy_(torch.from_numpy(np.array(deq)))
    return path, ref


def test_gguf_import_matches_transformers(tiny_gguf, tmp_path: Path):
    path, ref = tiny_gguf
    out = import_gguf(path, tmp_path / "m1")
    model = load_model(out, dtype="float32")
    torch.manual_seed(1)
    x = torch.randint(0, len(SMALL_TOKENS), (1, 19))
    with torch.no_grad():
        expected = ref(x).logits
    assert (model(x) - expected).abs().max().item() <= 1e-4
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is False
    tok = load_tokenizer(out)
    assert tok.eos_ids == [2] and tok.bos_id == 1
    assert tok.encode("the cat") == [SMALL_TOKENS.index(t) for t in ("t", "he", "Ġ", "c", "a", "t")]
    assert tok.encode(" the<|im_end|>") == [SMALL_TOKENS.index("Ġthe"), 2]
    assert tok.render_chat([{"role": "user", "content": "hi"}]) == "<|im_start|>user\nhi<|im_end|>\n"
    assert tok.encode(" the", add_special_tokens=True) == [1, SMALL_TOKENS.index("Ġthe")]  # GGUF asks for BOS

    from transformers import AutoTokenizer  # the written files work for transformers too

    hf_tok = AutoTokenizer.from_pretrained(str(out))
    for text in ("the cat", " the<|im_end|> in a tin", "数字 12 🎉"):
        assert hf_tok.encode(text) == tok.encode(text, add_special_tokens=True)


def test_gguf_without_unpermute_would_fail(tiny_gguf, tmp_path: Path, monkeypatch):
    """The comparison above can fail: with the Q/K rows left in llama.cpp order it does."""
    path, ref = tiny_gguf
    monkeypatch.setattr("model.importing.unpermute_rope_rows", lambda w, n: w)
    out = import_gguf(path, tmp_path / "m1")
    model = load_model(out, dtype="float32")
    x = torch.randint(0, len(SMALL_TOKENS), (1, 19), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref(x).logits
    assert (model(x) - expected).abs().max().item() > 1e-2


SP_TEXTS = ["The patient has hypertension.", "  two  spaces and\ttabs\n", "高血压 🎉 café 123", "<C_Q>dose?<C_A>"]


def test_gguf_sentencepiece_vocabulary(tmp_path: Path):
    """A GGUF with a SentencePiece ('llama') vocabulary, as Llama-2-era files have: the importer
    writes tokenizer.model from the GGUF's pieces/scores/types; it must tokenise exactly as the
    SentencePiece model the GGUF was made from."""
    import gguf
    import sentencepiece as spm

    from .test_tokenizer import ROLE_TOKENS, train_sentencepiece

    original = spm.SentencePieceProcessor(model_file=str(train_sentencepiece(tmp_path, llama_style=True)))
    n = original.get_piece_size()

    def piece_type(i: int) -> int:
        if original.is_unknown(i):
            return 2
        if original.is_control(i):
            return 3
        if original.is_byte(i):
            return 6
        return 4 if original.id_to_piece(i) in ROLE_TOKENS else 1

    def vocab(w) -> None:
        w.add_tokenizer_model("llama")
        w.add_token_list([original.id_to_piece(i) for i in range(n)])
        w.add_token_scores([original.get_score(i) for i in range(n)])
        w.add_token_types([piece_type(i) for i in range(n)])
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)

    ref = save_tiny_llama(tmp_path / "hf", vocab_size=n, tied=True, seed=9)
    write_llama_gguf(tmp_path / "sp.gguf", ref, vocab=vocab)
    out = import_gguf(tmp_path / "sp.gguf", tmp_path / "m1")
    assert (out / "tokenizer.model").is_file() and not (out / "tokenizer.json").exists()
    tok = load_tokenizer(out)
    for text in SP_TEXTS:
        assert tok.encode(text) == original.encode(text), text
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode("hi", add_special_tokens=True) == [1, *original.encode("hi")]  # llama.cpp default: BOS
    assert tok.eos_ids == [2] and tok.bos_id == 1
    x = torch.tensor([tok.encode(SP_TEXTS[0], add_special_tokens=True)])
    with torch.no_grad():
        assert (load_model(out)(x) - ref(x).logits).abs().max().item() <= 1e-4


def test_gguf_errors(tmp_path: Path):
    with pytest.raises(CheckpointImportError, match="no such file"):
        import_gguf(tmp_path / "nope.gguf", tmp_path / "out")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(CheckpointImportError, match="not a readable GGUF"):
        import_gguf(bad, tmp_path / "out")

    import gguf

    other = tmp_path / "qwen.gguf"
    w = gguf.GGUFWriter(str(other), "qwen2")
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(CheckpointImportError, match="unsupported architecture 'qwen2'"):
        import_gguf(other, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ CLI
def test_cli_model_import(tmp_path: Path, tiny_gguf, demo_checkpoint: Path, capsys, monkeypatch):
    from app.cli import main

    path, _ = tiny_gguf
    out = tmp_path / "cli-model"
    assert main(["model", "import", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "parameters" in printed
    assert main(["model", "import", str(path), "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["model", "import", str(path), "--out", str(out), "--force", "--dtype", "bfloat16"]) == 0
    capsys.readouterr()
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "bfloat16"
    with safe_open(str(out / "model.safetensors"), framework="pt") as fh:
        assert fh.get_tensor("model.norm.weight").dtype == torch.bfloat16
    assert load_model(out, dtype="bfloat16").lm_head.weight.dtype == torch.bfloat16

    assert main(["model", "import", str(tmp_path / "missing.gguf")]) == 1
    err = capsys.readouterr().err
    assert "missing.gguf" in err and len(err.strip().splitlines()) == 1

    not_model = tmp_path / "empty-dir"
    not_model.mkdir()
    assert main(["model", "import", str(not_model)]) == 1
    assert "no config.json" in capsys.readouterr().err

    # No SRC: the demo model, into the models dir (already imported there: found, not redone).
    monkeypatch.setenv("M1E_MODELS_DIR", str(demo_checkpoint.parent))
    assert main(["model", "import"]) == 0
    printed = capsys.readouterr().out
    assert str(demo_checkpoint) in printed and "demo" in printed.lower()
