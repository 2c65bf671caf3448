"""What every answer generator offers the assistant: a chat prompt in, text pieces out.

The assistant composes the prompt (with the generator's own token counter and chat template),
then streams. Generators never see the store; they only see the request.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from evidence.schema import Conflict, Evidence
from indexing.text import full_width_count


class GenerationError(RuntimeError):
    """Generation failed for a reason the user can act on (server down, checkpoint missing)."""


@dataclass
class GenerationRequest:
    question: str
    mode: str  # "evidence" or "plain"
    evidence: list[Evidence]
    conflicts: list[Conflict] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)  # the fitted chat prompt
    max_new_tokens: int = 384
    temperature: float = 0.0
    top_p: float = 1.0
    finish_reason: str | None = None  # set by the generator: "stop", "length", "cancelled", "incomplete", "deadline"
    problem: str | None = None  # set by the generator when the answer may be incomplete: a warning, in words
    # the retriever's embedder (indexing.embedding.Embedder), for a generator that compares words by
    # meaning (the extractive digest's subject check, evidence.subject); None: words only
    embedder: Any = None


class AnswerGenerator(ABC):
    """One way of writing an answer. Subclasses are cheap to build; heavy state is shared."""

    name: str = ""
    #: True when the generator answers from the evidence alone and needs no chat prompt.
    uses_prompt: bool = True

    @property
    def label(self) -> str:
        """What wrote the answer, as shown to the user (a demo model says so)."""
        return self.name

    @property
    def is_demo(self) -> bool:
        return False

    @property
    def context_tokens(self) -> int:
        """Tokens the prompt plus the answer may use."""
        return 4096

    def count_tokens(self, text: str) -> int:
        return approximate_token_count(text)

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)

    @abstractmethod
    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[str]:
        """Yield text pieces; stop early (without error) once `cancel` is set."""


def approximate_token_count(text: str) -> int:
    """A deliberately generous estimate for tokenizers we cannot load: every CJK character is a
    token and other text is ~3 characters a token, so a prompt fitted with it never overflows."""
    cjk = full_width_count(text)
    return cjk + (len(text) - cjk + 2) // 3
