"""Tokenizers and chat templates: the GGUF-built tokenizer.json encodes exactly as transformers'
tokenizer for that GGUF; the SentencePiece path (as Baichuan-M1 ships) with the built-in M1
role-token template; precedence of generation_config.json; the template sandbox."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from model.chat_template import ChatTemplateError
from model.importing import demo_gguf_path
from model.tokenizer import TokenizerError, load_tokenizer

TEXTS = [
    "Hello world",
    "What is the first-line treatment for stage 1 hypertension in adults aged 65+?",
    "  leading spaces, trailing\t tabs \n\nand blank lines\n",
    "Numbers: 3.14159, 2025-01-31, 1000000 mg/dL, x=42;",
    "高血压患者应定期测量血压。推荐使用ACE抑制剂（I级推荐，A级证据）。",
    "Emoji 🎉🩺💊 and combined 👩‍⚕️ plus accents: café naïve Ünïcödé",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "Text with <|endoftext|> inside and a fake <|im_start tag",
    "def f(x):\n    return x ** 2  # code\n",
]

ROLE_TOKENS = ["<B_SYS>", "<B_USYS>", "<C_Q>", "<C_A>", "<B_FUNC>", "<B_CODE>"]


@pytest.fixture(scope="module")
def demo_tokenizer(demo_checkpoint: Path):
    return load_tokenizer(demo_checkpoint)


@pytest.fixture(scope="module")
def transformers_gguf_tokenizer():
    from transformers import AutoTokenizer

    path = demo_gguf_path()
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def test_gguf_tokenizer_matches_transformers(demo_tokenizer, transformers_gguf_tokenizer):
    for text in TEXTS:
        expected = transformers_gguf_tokenizer.encode(text, add_special_tokens=False)
        assert demo_tokenizer.encode(text) == expected, text
        assert demo_tokenizer.decode(expected) == transformers_gguf_tokenizer.decode(expected)


def test_gguf_pre_tokenizer_splits_digits_like_llama_cpp(demo_tokenizer, transformers_gguf_tokenizer):
    """The GGUF says pre-tokenizer 'smollm': llama.cpp isolates every \\p{N} character before the
    GPT-2 regex (as SmolLM2's own tokenizer does). transformers' GGUF conversion skips that step,
    so the two differ only where whitespace or a multi-byte neighbour meets a digit; we follow
    llama.cpp, which is what the model was trained with: its vocabulary has no token that joins a
    digit to anything else."""
    tok = demo_tokenizer
    for i in range(tok.vocab_size):
        piece = tok.decode([i])
        assert len(piece) == 1 or not any(c.isdecimal() for c in piece), piece
    ids = tok.encode("a  1")
    assert [tok.decode([i]) for i in ids] == ["a", "  ", "1"]
    assert transformers_gguf_tokenizer.encode("a  1", add_special_tokens=False) != ids  # the known divergence


def test_gguf_tokenizer_round_trips_and_special_tokens(demo_tokenizer):
    for text in TEXTS:
        assert demo_tokenizer.decode(demo_tokenizer.encode(text)) == text
    ids = demo_tokenizer.encode("<|im_start|>user<|im_end|>")
    assert ids[0] == 1 and ids[-1] == 2 and len(ids) == 3
    assert demo_tokenizer.decode(ids, skip_special_tokens=True) == "user"
    assert demo_tokenizer.eos_ids == [2]
    assert demo_tokenizer.bos_id == 1 and demo_tokenizer.pad_id == 2
    assert demo_tokenizer.context_length == 8192
    assert demo_tokenizer.encode("hi", add_special_tokens=True) == demo_tokenizer.encode("hi")  # SmolLM2 adds no BOS
    assert demo_tokenizer.count(TEXTS[1]) == len(demo_tokenizer.encode(TEXTS[1]))


def test_demo_chat_template(demo_tokenizer, transformers_gguf_tokenizer):
    messages = [{"role": "user", "content": "Is aspirin indicated?"}]
    text = demo_tokenizer.render_chat(messages)
    assert text == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                    "<|im_end|>\n<|im_start|>user\nIs aspirin indicated?<|im_end|>\n<|im_start|>assistant\n")
    assert text == transformers_gguf_tokenizer.apply_chat_template(messages, tokenize=False,
                                                                   add_generation_prompt=True)
    with_system = [{"role": "system", "content": "Be brief."}, *messages]
    assert demo_tokenizer.render_chat(with_system, add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nIs aspirin indicated?<|im_end|>\n")
    assert demo_tokenizer.encode_chat(messages) == demo_tokenizer.encode(text)
    with pytest.raises(ChatTemplateError, match="at least one message"):
        demo_tokenizer.render_chat([])
    with pytest.raises(ChatTemplateError, match="content must be text"):
        demo_tokenizer.render_chat([{"role": "user", "content": None}])


# ------------------------------------------------------------------------------ SentencePiece
def train_sentencepiece(directory: Path, llama_style: bool = False) -> Path:
    """A small BPE model with byte fallback and the M1 role tokens as user-defined pieces.
    By default without a dummy prefix, as the Baichuan tokenizers are trained (no space invented
    at the start); `llama_style`: Llama's settings (dummy prefix, no normalisation, whitespace
    kept as is)."""
    import sentencepiece as spm

    lines = ["The patient has hypertension and takes an ACE inhibitor.",
             "Blood pressure should be measured twice, at rest.",
             "高血压患者应定期测量血压。", "Metformin is first-line therapy for type 2 diabetes.",
             "What is the recommended dose of amlodipine?", "The guideline recommends lifestyle changes first."] * 10
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=400, model_type="bpe",
        user_defined_symbols=ROLE_TOKENS, byte_fallback=True, character_coverage=1.0,
        hard_vocab_limit=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
        add_dummy_prefix=llama_style, remove_extra_whitespaces=not llama_style,
        normalization_rule_name="identity" if llama_style else "nmt_nfkc")
    path = directory / "tokenizer.model"
    path.write_bytes(model.getvalue())
    return path


@pytest.fixture()
def sp_checkpoint(tmp_path: Path) -> Path:
    train_sentencepiece(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "baichuan_m1", "max_position_embeddings": 64,
                                                      "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}))
    return tmp_path


def test_sentencepiece_builtin_m1_template(sp_checkpoint: Path):
    tok = load_tokenizer(sp_checkpoint)
    assert tok.uses_builtin_template
    messages = [{"role": "system", "content": "You are a careful assistant."},
                {"role": "user", "content": "What is the dose?"}]
    text = tok.render_chat(messages)
    assert text == "<B_SYS>You are a careful assistant.<C_Q>What is the dose?<C_A>"
    assert tok.render_chat(messages, add_generation_prompt=False) == \
        "<B_SYS>You are a careful assistant.<C_Q>What is the dose?"
    every_role = [{"role": r, "content": "x"} for r in ("system", "user_system", "user", "assistant",
                                                        "function", "code")]
    assert tok.render_chat(every_role, add_generation_prompt=False) == \
        "<B_SYS>x<B_USYS>x<C_Q>x<C_A>x<B_FUNC>x<B_CODE>x"
    with pytest.raises(ChatTemplateError, match="role 'tool'"):
        tok.render_chat([{"role": "tool", "content": "x"}])

    ids = tok.encode_chat(messages)
    role_ids = {t: tok.token_to_id(t) for t in ROLE_TOKENS}
    assert all(isinstance(i, int) for i in role_ids.values())
    assert ids.count(role_ids["<B_SYS>"]) == 1 and ids.count(role_ids["<C_Q>"]) == 1
    assert ids[0] == role_ids["<B_SYS>"] and ids[-1] == role_ids["<C_A>"]
    assert tok.decode(ids) == text


def test_sentencepiece_round_trips_and_ids(sp_checkpoint: Path):
    tok = load_tokenizer(sp_checkpoint)
    for text in ["The patient has hypertension.", "高血压 🎉 café", "a<C_Q>b<C_A>c", "x</s>y"]:
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode("x</s>y") == [*tok.encode("x"), 2, *tok.encode("y")]  # a control piece in text is its id
    assert tok.eos_ids == [2] and tok.bos_id == 1 and tok.pad_id == 0
    assert tok.context_length == 64
    assert tok.encode("hi", add_special_tokens=True) == [1, *tok.encode("hi")]
    assert tok.decode([1, *tok.encode("hi"), 2], skip_special_tokens=True) == "hi"
    assert tok.decode([1, *tok.encode("hi"), 2]) == "<s>hi</s>"


def test_generation_config_and_template_win(sp_checkpoint: Path):
    (sp_checkpoint / "generation_config.json").write_text(json.dumps({"eos_token_id": [2, 5], "pad_token_id": 3}))
    (sp_checkpoint / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
                         "{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}",
        "eos_token": "</s>"}))
    tok = load_tokenizer(sp_checkpoint)
    assert tok.eos_ids == [2, 5] and tok.pad_id == 3
    assert not tok.uses_builtin_template
    assert tok.render_chat([{"role": "user", "content": "hi"}]) == "[user]hi[assistant]</s>"


def test_template_sandbox_and_errors(sp_checkpoint: Path):
    (sp_checkpoint / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": "{{ messages.__class__.__mro__[1].__subclasses__() }}"}))
    with pytest.raises(ChatTemplateError, match="unsafe"):
        load_tokenizer(sp_checkpoint).render_chat([{"role": "user", "content": "x"}])
    (sp_checkpoint / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": "{% if messages[0].role != 'system' %}{{ raise_exception('system first') }}{% endif %}"}))
    with pytest.raises(ChatTemplateError, match="system first"):
        load_tokenizer(sp_checkpoint).render_chat([{"role": "user", "content": "x"}])
    (sp_checkpoint / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{% for %}"}))
    with pytest.raises(ChatTemplateError, match="does not parse"):
        load_tokenizer(sp_checkpoint).render_chat([{"role": "user", "content": "x"}])


def test_tokenizer_missing_files(tmp_path: Path):
    with pytest.raises(TokenizerError, match="no tokenizer.json or tokenizer.model"):
        load_tokenizer(tmp_path)
    with pytest.raises(TokenizerError, match="not a directory"):
        load_tokenizer(tmp_path / "nope")
    (tmp_path / "tokenizer.model").write_bytes(b"garbage")
    with pytest.raises(TokenizerError, match="tokenizer.model"):
        load_tokenizer(tmp_path)
