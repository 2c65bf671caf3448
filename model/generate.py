"""Text generation on an M1Model: prefill, decode with a per-call cache, stop, stream, cancel.

One loop serves a single prompt and a left-padded batch. Each call owns its cache, so several
threads can share one model; forward steps take a per-model lock, so concurrent calls
interleave step by step instead of racing inside the network.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .sampling import choose_tokens
from .tokenizer import ChatTokenizer

FinishReason = Literal["stop", "length", "cancelled"]
DEFAULT_PREFILL_CHUNK = 512


class GenerationParams(BaseModel):
    """How to continue a prompt. temperature 0 = greedy; top_k 0 and top_p 1 = no filtering."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_k: int = Field(default=0, ge=0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    repetition_penalty: float = Field(default=1.0, gt=0.0)
    seed: int | None = None
    stop_strings: list[str] = Field(default_factory=list)
    stop_token_ids: list[int] = Field(default_factory=list)

    @field_validator("stop_strings")
    @classmethod
    def _no_empty_stop(cls, v: list[str]) -> list[str]:
        if any(not s for s in v):
            raise ValueError("stop_strings must not contain an empty string")
        return v

    @classmethod
    def from_checkpoint(cls, checkpoint_dir: str | Path, **overrides: Any) -> "GenerationParams":
        """Defaults from the checkpoint's generation_config.json (Hugging Face meaning: without
        `do_sample: true` it decodes greedily), then `overrides` (None values ignored)."""
        values: dict[str, Any] = {}
        path = Path(checkpoint_dir) / "generation_config.json"
        if path.is_file():
            try:
                gen = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from None
            if gen.get("do_sample"):
                values["temperature"] = float(gen.get("temperature", 1.0))
                values["top_k"] = int(gen.get("top_k", 50) or 0)
                values["top_p"] = float(gen.get("top_p", 1.0))
            else:
                values["temperature"] = 0.0
            if gen.get("repetition_penalty") is not None:
                values["repetition_penalty"] = float(gen["repetition_penalty"])
            if isinstance(gen.get("max_new_tokens"), int):
                values["max_new_tokens"] = gen["max_new_tokens"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class GenerationResult(BaseModel):
    """`token_ids` are the tokens the model produced, up to and including the one that ended the
    answer (a stop token, or the token that completed a stop string); `text` excludes the stop
    token and any stop string."""

    text: str
    token_ids: list[int]
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


# ---------------------------------------------------------------------------------- text assembly
class IncrementalText:
    """Turns a growing list of token ids into safe text pieces.

    Never emits a partial UTF-8 character (the decoder shows one as U+FFFD at the end) nor text
    that could be the start of a stop string; finds stop strings across token boundaries.
    """

    def __init__(self, tokenizer: ChatTokenizer, stop_strings: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.stop_strings = list(stop_strings)
        self.ids: list[int] = []
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Add a token; return the text that is now safe to show ('' if none)."""
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        cut = self._find_stop(text)
        if cut is not None:
            self.text = text[:max(cut, self.emitted)]
            self.stopped = True
            return self._take(len(self.text))
        self.text = text
        end = len(text)
        while end > self.emitted and text[end - 1] == "\ufffd":
            end -= 1
        end -= self._stop_prefix_len(text[self.emitted:end])
        return self._take(end)

    def flush(self) -> str:
        """Everything not yet shown (the answer is over, nothing more can complete it)."""
        return self._take(len(self.text))

    def _take(self, end: int) -> str:
        if end <= self.emitted:
            return ""
        piece = self.text[self.emitted:end]
        self.emitted = end
        return piece

    def _find_stop(self, text: str) -> int | None:
        best = None
        for s in self.stop_strings:
            i = text.find(s, max(0, self.emitted - len(s) + 1))
            if i >= 0 and (best is None or i < best):
                best = i
        return best

    def _stop_prefix_len(self, tail: str) -> int:
        """Length of the longest suffix of `tail` that begins some stop string."""
        for k in range(min(len(tail), max((len(s) for s in self.stop_strings), default=0) - 1), 0, -1):
            suffix = tail[-k:]
            if any(s.startswith(suffix) for s in self.stop_strings):
                return k
        return 0


@dataclass
class _Row:
    """One sequence's decoding state."""

    prompt_len: int
    max_new: int
    text: IncrementalText
    generator: torch.Generator
    generated: list[int] = field(default_factory=list)
    finish: FinishReason | None = None

    def result(self) -> GenerationResult:
        return GenerationResult(text=self.text.text, token_ids=list(self.generated),
                                finish_reason=self.finish or "length", prompt_tokens=self.prompt_len,
                                completion_tokens=len(self.generated))


class GenerationStream(Iterator[str]):
    """Text pieces as they are decoded; `result` is set once the iteration has finished."""

    def __init__(self, pieces: Iterator[tuple[int, str]], rows: list[_Row]) -> None:
        self._pieces = pieces
        self._rows = rows
        self.result: GenerationResult | None = None

    def __iter__(self) -> "GenerationStream":
        return self

    def __next__(self) -> str:
        try:
            return next(self._pieces)[1]
        except StopIteration:
            self.result = self._rows[0].result()
            raise

    def close(self) -> None:
        """Stop early (e.g. the reader went away); frees the cache."""
        self._pieces.close()


# ---------------------------------------------------------------------------------- the generator
_MODEL_LOCKS: "weakref.WeakKeyDictionary[torch.nn.Module, threading.Lock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _model_lock(model: torch.nn.Module) -> threading.Lock:
    with _LOCKS_GUARD:
        lock = _MODEL_LOCKS.get(model)
        if lock is None:
            lock = _MODEL_LOCKS[model] = threading.Lock()
        return lock


Prompt = str | list[int] | list[dict[str, str]]


class Generator:
    """Generates text with one model and its tokenizer; safe to share between threads."""

    def __init__(self, model: Any, tokenizer: ChatTokenizer, *, defaults: GenerationParams | None = None,
                 prefill_chunk: int = DEFAULT_PREFILL_CHUNK, decoder: Any = None) -> None:
        """`decoder`: how decode steps run (model/decoding.py `decoder_for`: CUDA graphs on a GPU);
        None runs them through the model's ordinary forward."""
        if prefill_chunk < 1:
            raise ValueError("prefill_chunk must be >= 1")
        self.model = model
        self.tokenizer = tokenizer
        if defaults is None:  # the checkpoint's generation_config.json, when the tokenizer came from one
            source = Path(getattr(tokenizer, "source", "") or "")
            defaults = GenerationParams.from_checkpoint(source) if source.is_dir() else GenerationParams()
        self.defaults = defaults
        self.prefill_chunk = prefill_chunk
        self.decoder = decoder
        self._lock = _model_lock(model)
        self.context_length = min(tokenizer.context_length, model.config.max_position_embeddings)

    @classmethod
    def from_checkpoint(cls, checkpoint_dir: str | Path, dtype: Any = torch.float32, device: str = "cpu",
                        decode: str = "auto", **kwargs: Any) -> "Generator":
        from .decoding import decoder_for
        from .loading import load_model
        from .tokenizer import load_tokenizer

        model = load_model(checkpoint_dir, dtype=dtype, device=device)
        return cls(model, load_tokenizer(checkpoint_dir), decoder=decoder_for(model, decode), **kwargs)

    # ------------------------------------------------------------------ public API
    def stream(self, prompt: Prompt, params: GenerationParams | None = None,
               cancel: threading.Event | None = None) -> GenerationStream:
        """Text pieces of the answer; after the loop, `.result` holds the GenerationResult."""
        params = params or self.defaults
        ids = [self._prompt_ids(prompt)]
        rows = self._rows(ids, params)
        return GenerationStream(self._run(ids, rows, params, cancel), rows)

    def generate(self, prompt: Prompt, params: GenerationParams | None = None,
                 cancel: threading.Event | None = None) -> GenerationResult:
        stream = self.stream(prompt, params, cancel)
        for _ in stream:
            pass
        assert stream.result is not None
        return stream.result

    def generate_batch(self, prompts: Sequence[Prompt], params: GenerationParams | None = None,
                       cancel: threading.Event | None = None) -> list[GenerationResult]:
        """All prompts in one left-padded batch; finished sequences leave the batch as they end."""
        if not prompts:
            return []
        params = params or self.defaults
        ids = [self._prompt_ids(p) for p in prompts]
        rows = self._rows(ids, params)
        for _ in self._run(ids, rows, params, cancel):
            pass
        return [r.result() for r in rows]

    # ------------------------------------------------------------------ internals
    def _prompt_ids(self, prompt: Prompt) -> list[int]:
        if isinstance(prompt, str):
            ids = self.tokenizer.encode(prompt, add_special_tokens=False)
        elif isinstance(prompt, list) and prompt and all(isinstance(m, dict) for m in prompt):
            ids = self.tokenizer.encode_chat(prompt)  # type: ignore[arg-type]
        elif isinstance(prompt, (list, tuple)) and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
            ids = list(prompt)  # type: ignore[arg-type]
        else:
            raise TypeError("prompt must be text, a list of token ids, or a list of chat messages")
        if not ids:
            raise ValueError("the prompt is empty")
        vocab = self.model.config.vocab_size
        bad = next((t for t in ids if not 0 <= t < vocab), None)
        if bad is not None:
            raise ValueError(f"prompt token id {bad} is outside the vocabulary (0..{vocab - 1})")
        return ids

    def _rows(self, prompts: list[list[int]], params: GenerationParams) -> list[_Row]:
        rows = []
        for ids in prompts:
            room = self.context_length - len(ids)
            if room < 1:
                raise ValueError(f"the prompt has {len(ids)} tokens; the model's context is {self.context_length}")
            seed = params.seed if params.seed is not None else int.from_bytes(os.urandom(8), "little") >> 1
            rows.append(_Row(prompt_len=len(ids), max_new=min(params.max_new_tokens, room),
                             text=IncrementalText(self.tokenizer, params.stop_strings),
                             generator=torch.Generator().manual_seed(seed)))
        return rows

    def _forward(self, ids: torch.Tensor, cache: Any, mask: torch.Tensor | None) -> torch.Tensor:
        with self._lock:
            if self.decoder is not None and ids.shape[1] == 1 and mask is None:
                return self.decoder.step(ids, cache)
            return self.model(ids, cache=cache, attention_mask=mask, last_only=True)[:, -1]

    def _run(self, prompts: list[list[int]], rows: list[_Row], params: GenerationParams,
             cancel: threading.Event | None) -> Iterator[tuple[int, str]]:
        """Yields (row index, text piece); fills in each row's tokens and finish reason."""
        device = self.model.device
        stop_ids = set(params.stop_token_ids) | set(self.tokenizer.eos_ids)
        cancelled = cancel.is_set if cancel is not None else (lambda: False)
        seen = self._seen(prompts) if params.repetition_penalty != 1.0 else None
        prefilled = None if cancelled() else self._prefill(prompts, max(r.max_new for r in rows), cancelled)
        if prefilled is None:
            for r in rows:
                r.finish = "cancelled"
            return
        logits, cache = prefilled
        active = list(range(len(prompts)))  # row index of each cache slot
        while True:
            if cancelled():
                for i in active:
                    rows[i].finish = "cancelled"
                break
            chosen = choose_tokens(
                logits, temperature=params.temperature, top_k=params.top_k, top_p=params.top_p,
                repetition_penalty=params.repetition_penalty, seen=seen,
                generators=[rows[i].generator for i in active]).tolist()
            for slot, i in enumerate(active):
                piece = _accept(rows[i], int(chosen[slot]), stop_ids)
                if piece:
                    yield i, piece
            keep = [slot for slot, i in enumerate(active) if rows[i].finish is None]
            if not keep:
                break
            next_ids = torch.tensor([[chosen[s]] for s in keep], dtype=torch.long, device=device)
            if len(keep) < len(active):  # finished sequences leave the batch
                cache = cache.select(keep)
                if seen is not None:
                    seen = seen[torch.tensor(keep, device=device)]
                active = [active[s] for s in keep]
            if seen is not None:
                seen.scatter_(1, next_ids, True)
            logits = self._forward(next_ids, cache, None)

        for i, row in enumerate(rows):
            piece = row.text.flush()
            if piece:
                yield i, piece

    def _prefill(self, prompts: list[list[int]], max_new: int, cancelled: Callable[[], bool]) -> tuple[torch.Tensor, Any] | None:
        """The left-padded prompts fed in chunks of `prefill_chunk`: the last logits and the
        cache, or None when cancelled between chunks."""
        B, width = len(prompts), max(len(p) for p in prompts)
        pad = self.tokenizer.pad_id if self.tokenizer.pad_id is not None else 0
        ids = torch.full((B, width), pad, dtype=torch.long)
        mask = torch.zeros((B, width), dtype=torch.long)
        for b, p in enumerate(prompts):
            ids[b, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[b, width - len(p):] = 1
        padded = bool((mask == 0).any())
        need = width + max_new
        if self.decoder is not None:
            need = self.decoder.cache_tokens(need, self.context_length)
        cache = self.model.new_cache(B, need)
        ids, mask = ids.to(self.model.device), mask.to(self.model.device)
        logits = None
        for start in range(0, width, self.prefill_chunk):
            if cancelled():
                return None
            end = min(width, start + self.prefill_chunk)
            logits = self._forward(ids[:, start:end], cache, mask[:, start:end] if padded else None)
        return logits, cache

    def _seen(self, prompts: list[list[int]]) -> torch.Tensor:
        """bool [B, vocab]: the tokens each prompt holds (for the repetition penalty). Real tokens
        only: the pad id may also occur in a prompt."""
        device = self.model.device
        seen = torch.zeros((len(prompts), self.model.config.vocab_size), dtype=torch.bool, device=device)
        for b, p in enumerate(prompts):
            seen[b, torch.tensor(p, dtype=torch.long, device=device)] = True
        return seen


def _accept(row: _Row, token: int, stop_ids: set[int]) -> str:
    """Append one chosen token to a row; the text it completes, and the row's finish if it ends."""
    row.generated.append(token)
    if token in stop_ids:
        row.finish = "stop"
        return ""
    piece = row.text.push(token)
    if row.text.stopped:
        row.finish = "stop"
    elif len(row.generated) >= row.max_new:
        row.finish = "length"
    return piece


__all__ = ["GenerationParams", "GenerationResult", "GenerationStream", "Generator", "IncrementalText"]
