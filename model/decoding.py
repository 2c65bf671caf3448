"""Decode steps replayed as CUDA graphs: the GPU speed path, chosen at load time.

Decoding one token on a GPU reads every weight once, which on an H200 takes 6.4 ms for the 14B
in bf16. Launched op by op from Python the step took 102 ms of CPU time for 9.5 ms of GPU work
(issue 10: 1,645 kernel launches, and cuDNN attention planning anew for every KV length). So,
the gpt-fast way: the step is made static (model/cache.py `plan_static_decode`: one token per
sequence at device-side positions, whole-buffer attention under a mask, cache writes at
device-side slots), captured once per cache as a CUDA graph, and replayed with one launch per
token. The math is the network's own (`M1Model.run`); this module only decides how it is run.

- `StaticDecoder(model, graphs=False)` runs the static step eagerly: the graph-free fallback,
  and what the CPU tests compare with the ordinary path.
- `StaticDecoder(model, compile=True)` also hands the step to `torch.compile` (Inductor fuses
  the norm, RoPE, conv and SwiGLU element-wise ops, and with coordinate-descent tuning turns the
  one-row int8 products into one fused dequantizing reduction) before capturing it.
- `decoder_for(model, mode)` picks one for a loaded model: CUDA gets graphs, CPU gets none (its
  decode runs on model/kernels.py instead).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch
from torch import Tensor

from .cache import Cache, CacheFullError, plan_static_decode

log = logging.getLogger(__name__)

DecodeMode = Literal["auto", "graphs", "compile", "eager", "off"]
MAX_GRAPHS = 4  # captured steps kept (one per live cache; a new generation brings a new cache)
MIN_BUCKET = 512  # smallest compiled cache size: below it the unwritten tail costs nothing to read


@dataclass
class _Captured:
    """One cache's captured step: its static inputs, its output, and the graph."""

    cache: Cache  # held, so that the buffers the graph writes are never freed and reused
    key: tuple
    ids: Tensor  # long [B, 1]
    positions: Tensor  # long [B]
    logits: Tensor  # fp32 [B, V], written by each replay
    graph: Any  # torch.cuda.CUDAGraph


class StaticDecoder:
    """Decodes one token per sequence with the static step; on CUDA, as a replayed CUDA graph.

    Thread-safety is the caller's (model/generate.py takes the model's lock around each step).
    """

    def __init__(self, model: Any, graphs: bool = True, compile: bool = False, max_graphs: int = MAX_GRAPHS) -> None:
        self.model = model
        self.graphs = graphs and model.device.type == "cuda"
        self.compiled = compile
        self.max_graphs = max_graphs
        self._captured: OrderedDict[tuple, _Captured] = OrderedDict()
        self._fn: Callable[[Tensor, Tensor, Cache], Tensor] = self._static_step
        self._kernel: Callable[..., Tensor] | bool | None = None  # decided at the first CUDA step
        if compile:
            for layer in model.model.layers:
                layer.self_attn.identity_conv()  # decided now: the compiled step reads the answer
            if model.device.type == "cuda":
                import torch._inductor.config as inductor_config

                # One-row products as fused reductions: the only way Inductor reads int8 weights
                # once (gpt-fast sets the same).
                inductor_config.coordinate_descent_tuning = True
            self._fn = torch.compile(self._static_step, dynamic=False, fullgraph=True)

    def cache_tokens(self, need: int, limit: int) -> int:
        """How many token slots a generation that needs `need` should allocate (rounded up at
        most to `limit`, the model's context).

        A compiled step is specialised to its cache's shape (`dynamic=False`): sized exactly,
        every question of a new length would compile anew (tens of seconds each, and after
        torch's recompile limit the step silently falls back to eager). Rounded up to a power
        of two from MIN_BUCKET, a whole context of questions uses a handful of shapes. The
        price is reading up to twice the unwritten tail of the global cache, which for the 14B
        at 8k slots is 0.3 GB against 27.6 GB of weights per token (cache.plan_static_decode).
        Graphs and the eager step are captured per cache anyway and keep the exact size."""
        if not self.compiled:
            return need
        return max(need, min(limit, max(MIN_BUCKET, 1 << (need - 1).bit_length())))

    @property
    def mode(self) -> str:
        return ("compiled " if self.compiled else "") + ("CUDA graphs" if self.graphs else "static eager")

    def _static_step(self, ids: Tensor, positions: Tensor, cache: Cache) -> Tensor:
        """Logits [B, V] for one token per sequence; writes the cache, does not advance it."""
        model = self.model
        step = plan_static_decode(model.config, cache, positions, self._attention_kernel(cache))
        ropes = {hd: table.gather(step.positions) for hd, table in model._rope.items()}
        return model.run(ids, step, ropes, cache, last_only=True)[:, -1]

    @torch.inference_mode()
    def step(self, ids: Tensor, cache: Cache) -> Tensor:
        """ids [B, 1] (on the model's device, already checked against the vocabulary) -> fp32
        logits [B, V]; appends the tokens to `cache`."""
        if ids.shape != (cache.batch_size, 1):
            raise ValueError(f"a decode step takes one token for each of the cache's {cache.batch_size} "
                             f"sequences, got shape {tuple(ids.shape)}")
        if max(cache.host_lengths) + 1 > cache.max_tokens:
            raise CacheFullError(f"cache holds {cache.max_tokens} tokens per sequence; this step would need "
                                 f"{max(cache.host_lengths) + 1}")
        for table in self.model._rope.values():
            table.ensure(cache.max_tokens, ids.device)
        if not self.graphs:
            logits = self._fn(ids, cache.lengths.clone(), cache)
        else:
            entry = self._captured.get(self._key(cache))
            if entry is None:
                return self._capture(ids, cache)  # its warm-up was this step
            entry.ids.copy_(ids)
            entry.positions.copy_(cache.lengths)
            entry.graph.replay()
            logits = entry.logits.clone()
        cache.advance_each(1)
        return logits

    def _attention_kernel(self, cache: Cache) -> Callable[..., Tensor] | None:
        """Flash-decoding (model/triton_kernels.py) where it applies and passed its check here;
        None keeps SDPA over the masked buffer. Not inside torch.compile (Inductor plans its own)."""
        if self.compiled or cache.device.type != "cuda":
            return None
        if self._kernel is None:
            from . import triton_kernels

            dims = {self.model.config.layer_geometry(i).head_dim for i in range(self.model.config.num_hidden_layers)}
            usable = triton_kernels.attention_usable(cache.device, dims, cache.dtype)
            self._kernel = triton_kernels.decode_attention if usable else False
        return self._kernel or None

    @staticmethod
    def _key(cache: Cache) -> tuple:
        return (id(cache), cache.batch_size, cache.max_tokens, cache.k[0].data_ptr(), cache.conv_k[0].data_ptr())

    def _capture(self, ids: Tensor, cache: Cache) -> Tensor:
        """Run this step eagerly on a side stream (the warm-up CUDA graphs need, and this token's
        real result), then record the same step into a graph for the tokens after it."""
        static_ids = ids.clone()
        positions = cache.lengths.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            logits = self._fn(static_ids, positions, cache).clone()
        torch.cuda.current_stream().wait_stream(side)
        # Recording launches nothing: the cache is not written twice.
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self._fn(static_ids, positions, cache)
        while len(self._captured) >= self.max_graphs:
            self._captured.popitem(last=False)
        key = self._key(cache)
        self._captured[key] = _Captured(cache, key, static_ids, positions, out, graph)
        cache.advance_each(1)
        return logits

    def release(self) -> None:
        """Drop every captured graph (and the caches they hold)."""
        self._captured.clear()


def decoder_for(model: Any, mode: DecodeMode = "auto") -> StaticDecoder | None:
    """The decode path for a loaded model: `auto` = CUDA graphs on CUDA, none on CPU (whose
    decode runs on the C kernels); `graphs`, `compile` (torch.compile, then graphs), `eager`
    (the static step without graphs) or `off`."""
    if mode == "off" or (mode == "auto" and model.device.type != "cuda"):
        return None
    if mode == "eager":
        return StaticDecoder(model, graphs=False)
    return StaticDecoder(model, graphs=True, compile=mode == "compile")
