"""Next-token choice: repetition penalty, temperature, top-k, top-p, then a seeded draw.

The order and the meaning of each knob follow Hugging Face `generate`, so that a checkpoint's
generation_config.json means here what it meant where it was tuned.
"""

from __future__ import annotations

import torch
from torch import Tensor


def apply_repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """CTRL-style penalty on every token already in the sequence (prompt included):
    a positive logit is divided by `penalty`, a negative one multiplied by it.
    logits [B, V] float, seen [B, V] bool."""
    if penalty == 1.0:
        return logits
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def filter_top_k(logits: Tensor, k: int) -> Tensor:
    """Keep the k largest logits of each row (ties at the k-th value kept); k <= 0 keeps all."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def filter_top_p(logits: Tensor, p: float) -> Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches p (at least one)."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs
    drop_sorted = mass_before >= p
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sampling_distribution(logits: Tensor, temperature: float, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Probabilities [B, V] that a draw uses (temperature > 0), after top-k and top-p."""
    if temperature <= 0:
        raise ValueError("sampling needs temperature > 0 (temperature 0 is greedy)")
    scaled = logits.float() / temperature
    scaled = filter_top_p(filter_top_k(scaled, top_k), top_p)
    return torch.softmax(scaled, dim=-1)


def choose_tokens(logits: Tensor, *, temperature: float, top_k: int, top_p: float,
                  repetition_penalty: float, seen: Tensor | None, generators: list[torch.Generator]) -> Tensor:
    """One token per row [B] from logits [B, V]; greedy (argmax) when temperature == 0.

    Each row draws from its own generator so that a row's choices do not depend on its batch.
    """
    logits = logits.float()
    if seen is not None:
        logits = apply_repetition_penalty(logits, seen, repetition_penalty)
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    probs = sampling_distribution(logits, temperature, top_k, top_p).cpu()  # generators live on the CPU
    return torch.stack([torch.multinomial(probs[b], 1, generator=generators[b])[0] for b in range(probs.shape[0])])
