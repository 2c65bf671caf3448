"""The extractive digest: no language model, every sentence taken from the evidence and cited.

An ordinary generator: the assistant plans, streams and checks its answer exactly like a
language model's (evidence.pipeline); it simply needs no prompt.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

from app.generators.base import AnswerGenerator, GenerationRequest
from evidence.schema import Answer


class ExtractiveGenerator(AnswerGenerator):
    name = "extractive"
    uses_prompt = False

    @property
    def label(self) -> str:
        return "extractive digest (sentences quoted from the evidence, no language model)"

    @property
    def context_tokens(self) -> int:
        return 1_000_000  # no prompt: every retrieved passage can be used

    def digest(self, request: GenerationRequest) -> Answer:
        """The whole digest at once as a checked `Answer` (kept for callers of the old API)."""
        from evidence.digest import extractive_answer

        return extractive_answer(request.question, request.evidence, request.conflicts or None, embedder=request.embedder)

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[str]:
        """The digest's text, word by word, so it streams like the other generators."""
        from evidence.digest import compose_digest

        text = compose_digest(request.question, request.evidence, request.conflicts or None, embedder=request.embedder).text
        for piece in re.split(r"(\s+)", text):
            if cancel is not None and cancel.is_set():
                request.finish_reason = "cancelled"
                return
            if piece:
                yield piece
        request.finish_reason = "stop"
