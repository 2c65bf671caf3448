"""Tokenizers for M1-layout checkpoints, with their chat template and stop tokens.

A checkpoint holds either a SentencePiece `tokenizer.model` (as the Baichuan-M1 release ships)
or a `tokenizer.json` (Hugging Face `tokenizers`); `load_tokenizer` takes whichever is there.
Ids and chat rules come from the checkpoint's own files, in this order of precedence:
generation_config.json, then config.json, then tokenizer_config.json, then built-in defaults.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Protocol

from .chat_template import (
    M1_ROLE_TOKENS,
    ChatTemplateError,
    normalize_messages,
    render_jinja,
    render_m1,
)

DEFAULT_CONTEXT_LENGTH = 4096


class TokenizerError(ValueError):
    """A checkpoint's tokenizer files are missing or unusable; the message names the file."""


class _Backend(Protocol):
    def encode(self, text: str, add_special_tokens: bool) -> list[int]: ...
    def decode(self, ids: list[int], skip_special_tokens: bool) -> str: ...
    def token_to_id(self, token: str) -> int | None: ...
    def id_to_token(self, token_id: int) -> str | None: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def special_ids(self) -> set[int]: ...


class _TokenizersBackend:
    """tokenizer.json through the `tokenizers` library."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        try:
            self.tok = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception on malformed JSON
            raise TokenizerError(f"{path}: cannot load tokenizer ({e})") from None
        self._special = {i for i, t in self.tok.get_added_tokens_decoder().items() if t.special}

    def encode(self, text: str, add_special_tokens: bool) -> list[int]:
        # The file's own post-processor decides what "special tokens" means (e.g. a BOS).
        return self.tok.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        return self.tok.decode(ids, skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int | None:
        return self.tok.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self.tok.id_to_token(token_id)

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)

    @property
    def special_ids(self) -> set[int]:
        return self._special


class _SentencePieceBackend:
    """tokenizer.model through `sentencepiece`, plus the added tokens tokenizer_config.json lists.

    Text is split on the added tokens first (longest match wins) and each plain segment is
    encoded on its own, as the slow Hugging Face tokenizers do; control pieces of the model
    (`<s>`, `</s>`) are matched the same way so that a template's literal `</s>` becomes its id.
    User-defined pieces (e.g. role tokens trained in) are matched by sentencepiece itself.
    """

    def __init__(self, path: Path, added: dict[int, tuple[str, bool]], bos_id: int | None) -> None:
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.Load(str(path))
        except Exception as e:  # sentencepiece raises OSError/RuntimeError with a C++ message
            raise TokenizerError(f"{path}: cannot load SentencePiece model ({e})") from None
        n = self.sp.get_piece_size()
        self.added: dict[str, int] = {}
        self._special: set[int] = set()
        self._extra_pieces: dict[int, str] = {}
        for i in range(n):  # user-defined pieces need nothing here: sentencepiece matches them itself
            if self.sp.is_control(i):
                self.added[self.sp.id_to_piece(i)] = i
                self._special.add(i)
        for i, (content, special) in added.items():
            self.added[content] = i
            if i >= n:
                self._extra_pieces[i] = content
            if special:
                self._special.add(i)
        names = sorted((t for t in self.added if t), key=len, reverse=True)
        self._split = re.compile("(" + "|".join(re.escape(t) for t in names) + ")") if names else None
        self.bos_id = bos_id

    def encode(self, text: str, add_special_tokens: bool) -> list[int]:
        ids: list[int] = [self.bos_id] if add_special_tokens and self.bos_id is not None else []
        if self._split is None:
            return ids + list(self.sp.encode(text))
        for k, part in enumerate(self._split.split(text)):
            if k % 2:
                ids.append(self.added[part])
            elif part:
                ids.extend(self.sp.encode(part))
        return ids

    def decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        n = self.sp.get_piece_size()
        out: list[str] = []
        run: list[int] = []
        for i in ids:
            if i in self._special or i >= n:
                if run:
                    out.append(self.sp.decode(run))
                    run = []
                if not skip_special_tokens or i not in self._special:
                    out.append(self._extra_pieces.get(i) or (self.sp.id_to_piece(i) if i < n else ""))
            else:
                run.append(i)
        if run:
            out.append(self.sp.decode(run))
        return "".join(out)

    def token_to_id(self, token: str) -> int | None:
        if token in self.added:
            return self.added[token]
        i = self.sp.piece_to_id(token)
        return None if i == self.sp.unk_id() and token != self.sp.id_to_piece(i) else i

    def id_to_token(self, token_id: int) -> str | None:
        if token_id in self._extra_pieces:
            return self._extra_pieces[token_id]
        return self.sp.id_to_piece(token_id) if 0 <= token_id < self.sp.get_piece_size() else None

    @property
    def vocab_size(self) -> int:
        return max([self.sp.get_piece_size(), *(i + 1 for i in self._extra_pieces)])

    @property
    def special_ids(self) -> set[int]:
        return self._special


class ChatTokenizer:
    """Encode/decode text, render chats, and know the stop ids of one checkpoint."""

    def __init__(self, backend: _Backend, *, chat_template: str | None, eos_ids: list[int],
                 bos_id: int | None, pad_id: int | None, context_length: int,
                 special_tokens: dict[str, str], source: str) -> None:
        self._backend = backend
        self.chat_template = chat_template
        self.eos_ids = eos_ids
        self.bos_id = bos_id
        self.pad_id = pad_id if pad_id is not None else (eos_ids[0] if eos_ids else 0)
        self.context_length = context_length
        self.special_tokens = special_tokens
        self.source = source

    @property
    def uses_builtin_template(self) -> bool:
        return self.chat_template is None

    @property
    def vocab_size(self) -> int:
        return self._backend.vocab_size

    @property
    def special_ids(self) -> set[int]:
        return set(self._backend.special_ids) | set(self.eos_ids)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode needs text, got {type(text).__name__}")
        return self._backend.encode(text, add_special_tokens)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        return self._backend.decode([int(i) for i in ids], skip_special_tokens)

    def count(self, text: str) -> int:
        return len(self._backend.encode(text, False))

    def token_to_id(self, token: str) -> int | None:
        return self._backend.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self._backend.id_to_token(token_id)

    def render_chat(self, messages: Iterable[Any], add_generation_prompt: bool = True) -> str:
        msgs = normalize_messages(messages)
        if not msgs:
            raise ChatTemplateError("a chat needs at least one message")
        if self.chat_template is None:
            return render_m1(msgs, add_generation_prompt)
        return render_jinja(self.chat_template, msgs, add_generation_prompt, self.special_tokens)

    def encode_chat(self, messages: Iterable[Any], add_generation_prompt: bool = True) -> list[int]:
        # Templates write their own BOS where the model wants one, so no special tokens are added.
        return self.encode(self.render_chat(messages, add_generation_prompt), add_special_tokens=False)


# ---------------------------------------------------------------------------------- loading
def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TokenizerError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise TokenizerError(f"{path}: expected a JSON object")
    return data


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _id_list(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


def _chat_template(directory: Path, tok_config: dict[str, Any]) -> str | None:
    tpl = tok_config.get("chat_template")
    if isinstance(tpl, list):  # [{"name": ..., "template": ...}]
        named = {t.get("name"): t.get("template") for t in tpl if isinstance(t, dict)}
        tpl = named.get("default") or next(iter(named.values()), None)
    if isinstance(tpl, str) and tpl.strip():
        return tpl
    jinja = directory / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    return None


def load_tokenizer(checkpoint_dir: str | Path) -> ChatTokenizer:
    """The tokenizer, chat template and stop ids of a checkpoint directory."""
    directory = Path(checkpoint_dir)
    if not directory.is_dir():
        raise TokenizerError(f"{directory}: not a directory")
    tok_config = _read_json(directory / "tokenizer_config.json")
    model_config = _read_json(directory / "config.json")
    gen_config = _read_json(directory / "generation_config.json")

    added: dict[int, tuple[str, bool]] = {}
    for key, entry in (tok_config.get("added_tokens_decoder") or {}).items():
        content = _token_text(entry)
        if content is not None and str(key).isdigit():
            added[int(key)] = (content, bool(entry.get("special", True)) if isinstance(entry, dict) else True)

    if (directory / "tokenizer.json").is_file():
        backend: _Backend = _TokenizersBackend(directory / "tokenizer.json")
    elif (directory / "tokenizer.model").is_file():
        backend = _SentencePieceBackend(directory / "tokenizer.model", added, bos_id=None)
    else:
        raise TokenizerError(f"{directory}: no tokenizer.json or tokenizer.model")

    special_tokens = {k: t for k in ("bos_token", "eos_token", "pad_token", "unk_token")
                      if (t := _token_text(tok_config.get(k))) is not None}

    def token_id(name: str) -> int | None:
        text = special_tokens.get(name)
        return backend.token_to_id(text) if text is not None else None

    eos_ids = (_id_list(gen_config.get("eos_token_id")) or _id_list(model_config.get("eos_token_id"))
               or _id_list(token_id("eos_token")) or [])
    bos_id = next((v for v in (gen_config.get("bos_token_id"), model_config.get("bos_token_id"), token_id("bos_token"))
                   if isinstance(v, int)), None)
    pad_id = next((v for v in (gen_config.get("pad_token_id"), model_config.get("pad_token_id"), token_id("pad_token"))
                   if isinstance(v, int)), None)
    context = model_config.get("max_position_embeddings")
    if not isinstance(context, int) or context <= 0:
        mml = tok_config.get("model_max_length")
        context = mml if isinstance(mml, int) and 0 < mml < 10_000_000 else DEFAULT_CONTEXT_LENGTH
    if isinstance(backend, _SentencePieceBackend):
        # A sentencepiece model adds no BOS by itself; like the slow HF tokenizers, add one unless
        # tokenizer_config.json says not to. (A tokenizer.json carries its own post-processor.)
        if tok_config.get("add_bos_token", True) is not False:
            backend.bos_id = bos_id
    return ChatTokenizer(backend, chat_template=_chat_template(directory, tok_config), eos_ids=eos_ids,
                         bos_id=bos_id, pad_id=pad_id, context_length=context,
                         special_tokens=special_tokens, source=str(directory))


__all__ = ["ChatTokenizer", "TokenizerError", "M1_ROLE_TOKENS", "load_tokenizer"]
