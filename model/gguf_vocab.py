"""A GGUF file's vocabulary as checkpoint tokenizer files.

- `tokenizer.ggml.model == "gpt2"` (byte-level BPE): a tokenizer.json for `tokenizers`, with the
  pre-tokenizer llama.cpp applies for the file's `tokenizer.ggml.pre`.
- `tokenizer.ggml.model == "llama"` (SentencePiece BPE): a tokenizer.model, written as the
  SentencePiece model protobuf from the GGUF's pieces, scores and piece types, so that the
  `sentencepiece` library itself does the tokenising.
Plus tokenizer_config.json (special tokens, the chat template) and generation_config.json.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .tokenizer import TokenizerError

TOKEN_TYPE_NORMAL = 1
TOKEN_TYPE_UNKNOWN = 2
TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_USER_DEFINED = 4
TOKEN_TYPE_BYTE = 6
# llama.cpp pre-tokenizer names we reproduce exactly: every digit isolated, then GPT-2's
# byte-level regex ("smollm", as llama.cpp does for it), or GPT-2's regex alone.
GGUF_PRE_TOKENIZERS = {"smollm": "digits+gpt2", "gpt2": "gpt2", "default": "gpt2"}


@dataclass
class GGUFTokenizerFiles:
    """What a GGUF's vocabulary turns into in a checkpoint directory."""

    tokenizer_config: dict[str, Any]
    generation_config: dict[str, Any]
    tokenizer_json: str | None = None
    tokenizer_model: bytes | None = None
    special_ids: dict[str, Any] = field(default_factory=dict)

    def write(self, directory: Path) -> None:
        if self.tokenizer_json is not None:
            (directory / "tokenizer.json").write_text(self.tokenizer_json, encoding="utf-8")
        if self.tokenizer_model is not None:
            (directory / "tokenizer.model").write_bytes(self.tokenizer_model)
        for name, data in (("tokenizer_config.json", self.tokenizer_config),
                           ("generation_config.json", self.generation_config)):
            (directory / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def gguf_tokenizer_files(reader: Any, path: Path, context_length: int) -> GGUFTokenizerFiles:
    def field_(key: str, default: Any = None) -> Any:
        f = reader.fields.get(key)
        return default if f is None else f.contents()

    kind = field_("tokenizer.ggml.model")
    if kind not in ("gpt2", "llama"):
        raise TokenizerError(
            f"{path}: GGUF tokenizer model {kind!r} is not supported (byte-level BPE 'gpt2' or SentencePiece 'llama')")
    tokens: list[str] = field_("tokenizer.ggml.tokens") or []
    if not tokens:
        raise TokenizerError(f"{path}: GGUF has no tokenizer vocabulary")
    types: list[int] = field_("tokenizer.ggml.token_type") or [TOKEN_TYPE_NORMAL] * len(tokens)

    def tid(key: str) -> int | None:
        v = field_(key)
        return int(v) if isinstance(v, int) and 0 <= v < len(tokens) else None

    bos, eos, pad, unk = (tid(f"tokenizer.ggml.{k}_token_id") for k in ("bos", "eos", "padding", "unknown"))
    eos_ids = list(dict.fromkeys(i for i in (eos, tid("tokenizer.ggml.eot_token_id"),
                                             tid("tokenizer.ggml.eom_token_id")) if i is not None))
    default_bos = kind == "llama"  # llama.cpp's defaults: SentencePiece vocabularies add a BOS
    add_bos = bool(field_("tokenizer.ggml.add_bos_token", default_bos)) and bos is not None

    tok_config: dict[str, Any] = {"add_bos_token": add_bos, "add_eos_token": False,
                                  "clean_up_tokenization_spaces": False, "model_max_length": context_length}
    for name, i in (("bos_token", bos), ("eos_token", eos), ("pad_token", pad), ("unk_token", unk)):
        if i is not None:
            tok_config[name] = tokens[i]
    template = field_("tokenizer.chat_template")
    if isinstance(template, str) and template.strip():
        tok_config["chat_template"] = template
    eos_value: Any = eos_ids[0] if len(eos_ids) == 1 else (eos_ids or None)
    gen = {k: v for k, v in (("bos_token_id", bos), ("eos_token_id", eos_value), ("pad_token_id", pad))
           if v is not None}
    files = GGUFTokenizerFiles(tokenizer_config=tok_config, generation_config=gen,
                               special_ids={"bos": bos, "eos": eos_value, "pad": pad})
    if kind == "gpt2":
        tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
        merges = field_("tokenizer.ggml.merges") or []
        if not merges:
            raise TokenizerError(f"{path}: GGUF byte-level BPE vocabulary has no merges")
        pre = field_("tokenizer.ggml.pre", "default")
        if pre not in GGUF_PRE_TOKENIZERS:
            raise TokenizerError(
                f"{path}: GGUF pre-tokenizer {pre!r} is not supported (known: {', '.join(GGUF_PRE_TOKENIZERS)})")
        files.tokenizer_json = _byte_level_bpe_json(tokens, types, merges, GGUF_PRE_TOKENIZERS[pre],
                                                    tokens[bos] if add_bos else None, bos)
    else:
        tok_config["tokenizer_class"] = "LlamaTokenizer"
        scores: list[float] = field_("tokenizer.ggml.scores") or [0.0] * len(tokens)
        if unk is None:
            unk = next((i for i, t in enumerate(types) if t == TOKEN_TYPE_UNKNOWN), None)
        if unk is None:
            raise TokenizerError(f"{path}: SentencePiece vocabulary has no unknown token")
        files.tokenizer_model = sentencepiece_model_proto(
            tokens, scores, types, unk_id=unk, bos_id=bos, eos_id=eos, pad_id=pad,
            add_dummy_prefix=bool(field_("tokenizer.ggml.add_space_prefix", True)))
    return files


def _byte_level_bpe_json(tokens: list[str], types: list[int], merges_raw: list[str], pre: str,
                         bos_text: str | None, bos: int | None) -> str:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(tokens)}
    merges = [tuple(m.split(" ", 1)) for m in merges_raw]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "digits+gpt2":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == TOKEN_TYPE_CONTROL])
    user = [AddedToken(t, special=False, normalized=False)
            for t, ty in zip(tokens, types) if ty == TOKEN_TYPE_USER_DEFINED]
    if user:
        tok.add_tokens(user)
    if bos_text is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos_text} $A", pair=f"{bos_text} $A {bos_text} $B", special_tokens=[(bos_text, bos)])
    return tok.to_str(pretty=True)


# ---------------------------------------------------------------------------------- protobuf
# The SentencePiece ModelProto, only the fields a processor reads (sentencepiece_model.proto):
# ModelProto.pieces = 1 {piece = 1, score = 2, type = 3}, trainer_spec = 2 {model_type = 3,
# vocab_size = 4, byte_fallback = 35, unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43},
# normalizer_spec = 3 {name = 1, add_dummy_prefix = 3, remove_extra_whitespaces = 4,
# escape_whitespaces = 5}.
_BPE = 2


def _varint(n: int) -> bytes:
    if n < 0:
        n &= (1 << 64) - 1  # int32 -1 is written as a 10-byte two's complement varint
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint((number << 3) | wire)


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _bytes(number: int, value: bytes) -> bytes:
    return _key(number, 2) + _varint(len(value)) + value


def _float(number: int, value: float) -> bytes:
    return _key(number, 5) + struct.pack("<f", value)


def sentencepiece_model_proto(pieces: list[str], scores: list[float], types: list[int], *, unk_id: int,
                              bos_id: int | None, eos_id: int | None, pad_id: int | None,
                              add_dummy_prefix: bool) -> bytes:
    """Serialised SentencePiece BPE model with these pieces (llama.cpp's token types are the
    proto's piece types)."""
    body = bytearray()
    for piece, score, kind in zip(pieces, scores, types):
        body += _bytes(1, _bytes(1, piece.encode("utf-8")) + _float(2, float(score)) + _int(3, int(kind)))
    trainer = (_int(3, _BPE) + _int(4, len(pieces))
               + _int(35, int(any(t == TOKEN_TYPE_BYTE for t in types)))
               + _int(40, unk_id) + _int(41, -1 if bos_id is None else bos_id)
               + _int(42, -1 if eos_id is None else eos_id) + _int(43, -1 if pad_id is None else pad_id))
    normalizer = (_bytes(1, b"identity") + _int(3, int(add_dummy_prefix)) + _int(4, 0) + _int(5, 1))
    body += _bytes(2, trainer) + _bytes(3, normalizer)
    return bytes(body)
