"""Per-sequence decoding state for the M1 network, and the per-call plan all layers share.

Layout (one entry per layer, batch first so that `select` is one index per tensor):
- global layers: K (post-conv, post-RoPE) and V (post-conv) in `[B, n_kv, max_tokens, hd]`,
  slot = the token's position in its own sequence;
- SWA layers: a ring of `min(window, max_tokens)` slots, slot = position % ring size, so memory
  stays flat however long the text;
- conv state: the raw (pre-conv) K and V of each sequence's last real token, `[B, T=1, n_kv, hd]`.
Pads (attention_mask 0) are never written, never attended and never feed the convolution;
positions count real tokens only. Lengths are mirrored on the host so that the common cases
(one sequence, or equal lengths and no pads) take mask-free paths without device syncs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from . import kernels
from .config import M1Config


class CacheFullError(ValueError):
    """More tokens were fed than the cache was allocated for."""


@dataclass
class AttendPlan:
    """How one kind of layer (global, or SWA) attends in this call."""

    mask: Tensor | None  # bool [B, 1, T, S]: True = may attend; None = no mask needed
    causal: bool  # use SDPA's own causal mask (only when keys == queries, no offset)
    n_keys: int  # cache slots to read (global and SWA-decode), or ring slots to prepend (SWA prefill)
    # plan_static_decode with a kernel chosen by model/decoding.py: (q, k, v, scale) -> output,
    # the same attention as `mask` describes, computed without materialising it.
    kernel: Callable[[Tensor, Tensor, Tensor, float], Tensor] | None = None


@dataclass
class Step:
    """Everything about one forward call that every layer shares; built once, read by all layers."""

    batch: int
    T: int
    positions: Tensor  # long [B, T]; pads get the position of the next real token (harmless)
    uniform: bool  # every sequence has the same length and there are no pads in this chunk
    real: Tensor | None  # bool [B, T]; None when every token is real
    prev_index: Tensor | None  # long [B, T] index into cat(state, chunk) of each token's predecessor
    last_index: Tensor | None  # long [B] index into cat(state, chunk) of the new conv state
    start: int  # host length of every sequence before this call (valid when uniform)
    global_plan: AttendPlan | None = None
    swa_plan: AttendPlan | None = None
    # Scatter targets for the non-uniform path: batch and time index of each real token.
    write_b: Tensor | None = None
    write_t: Tensor | None = None
    write_pos: Tensor | None = None
    # Graph-safe decode (plan_static_decode): each sequence's new position [B] on the device;
    # writes go to these slots and attention reads whole buffers under a mask.
    slots: Tensor | None = None


def _window_mask(qpos: Tensor, kpos: Tensor, kvalid: Tensor, window: int | None) -> Tensor:
    """bool [B, T, S]: key is valid, not in the future, and inside the window (keys incl. itself)."""
    diff = qpos[:, :, None] - kpos[:, None, :]
    ok = kvalid[:, None, :] & (diff >= 0)
    if window is not None:
        ok &= diff < window
    return ok


def plan_step(
    config: M1Config,
    batch: int,
    T: int,
    device: torch.device,
    attention_mask: Tensor | None,
    cache: "Cache | None",
) -> Step:
    """Positions, conv predecessor indices, write slots and attention masks for one call."""
    real = _real_tokens(attention_mask, batch, T, device)
    host = cache.host_lengths if cache is not None else [0] * batch
    step, new_lengths = _positions(batch, T, device, real, host, cache)
    window = config.sliding_window if config.sliding_window_layers else None
    has_global = len(config.sliding_window_layers) < config.num_hidden_layers
    has_swa = bool(config.sliding_window_layers)
    if cache is None:
        for kind, win, present in (("global", None, has_global), ("swa", window, has_swa)):
            if present:
                setattr(step, f"{kind}_plan", _fresh_plan(step, win, device))
        return step

    max_after = max(h + T for h in host) if step.uniform else int(new_lengths.max())
    if max_after > cache.max_tokens:
        raise CacheFullError(
            f"cache holds {cache.max_tokens} tokens per sequence; this call would need {max_after}"
        )
    if has_global:
        step.global_plan = _global_plan(step, max_after, new_lengths, device)
    if has_swa:
        step.swa_plan = _swa_plan(step, cache, host, max_after, new_lengths, window, device)
    return step


def _real_tokens(attention_mask: Tensor | None, batch: int, T: int, device: torch.device) -> Tensor | None:
    """bool [B, T] of the real (non-pad) tokens, or None when every token is real."""
    if attention_mask is None:
        return None
    if attention_mask.shape != (batch, T):
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)}; expected {(batch, T)} "
            "(one entry per new token: 1 real, 0 pad)"
        )
    real = attention_mask.to(device=device, dtype=torch.bool)
    return None if bool(real.all()) else real


def _positions(
    batch: int, T: int, device: torch.device, real: Tensor | None, host: list[int], cache: "Cache | None"
) -> tuple[Step, Tensor | None]:
    """The step's positions and conv indices, and each sequence's length after it (None when uniform)."""
    uniform = real is None and all(h == host[0] for h in host)
    start = host[0] if uniform else 0
    arange = torch.arange(T, device=device)
    if uniform:
        return Step(batch, T, (arange + start).expand(batch, T), True, real, None, None, start), None
    base = cache.lengths.to(device) if cache is not None else torch.zeros(batch, dtype=torch.long, device=device)
    r = real if real is not None else torch.ones(batch, T, dtype=torch.bool, device=device)
    n_before = torch.cumsum(r.long(), dim=1) - r.long()  # real tokens before t in this chunk
    positions = base[:, None] + n_before
    # Predecessor of each token in cat(state, chunk): the last real token before it, else state (0).
    idx_real = torch.where(r, arange[None, :] + 1, torch.zeros_like(positions))
    run_max = torch.cummax(idx_real, dim=1).values
    prev_index = torch.cat([torch.zeros_like(run_max[:, :1]), run_max[:, :-1]], dim=1)
    step = Step(batch, T, positions, False, real, prev_index, run_max[:, -1], start)
    if cache is not None:
        step.write_b, step.write_t = torch.nonzero(r, as_tuple=True)
        step.write_pos = positions[step.write_b, step.write_t]
    return step, base + r.long().sum(1)


def _fresh_plan(step: Step, window: int | None, device: torch.device) -> AttendPlan:
    """Attention within the chunk alone (no cache). A pad query attends to itself, to stay finite."""
    T, real = step.T, step.real
    if step.uniform and (window is None or T <= window):
        return AttendPlan(None, T > 1, T)
    kvalid = real if real is not None else torch.ones(step.batch, T, dtype=torch.bool, device=device)
    m = _window_mask(step.positions, step.positions, kvalid, window)
    if real is not None:
        m |= torch.eye(T, dtype=torch.bool, device=device)[None] & ~real[:, :, None]
    return AttendPlan(m[:, None], False, T)


def _global_plan(step: Step, max_after: int, new_lengths: Tensor | None, device: torch.device) -> AttendPlan:
    """Global layers write first (slot = position), then attend over slots [0, n_keys).
    A pad query attends to slot 0, which is finite (zeros) even before any real token."""
    n_keys = max(max_after, 1)
    if step.uniform and step.T == 1:
        return AttendPlan(None, False, n_keys)
    if step.uniform and step.start == 0:
        return AttendPlan(None, True, n_keys)
    kpos = torch.arange(n_keys, device=device).expand(step.batch, n_keys)
    lens = torch.full((step.batch,), max_after, device=device) if step.uniform else new_lengths
    m = _window_mask(step.positions, kpos, kpos < lens[:, None], None)
    if step.real is not None:
        m[:, :, 0] |= ~step.real
    return AttendPlan(m[:, None], False, n_keys)


def _swa_plan(
    step: Step, cache: "Cache", host: list[int], max_after: int, new_lengths: Tensor | None,
    window: int, device: torch.device,
) -> AttendPlan:
    """SWA layers over the ring of the last `R` positions (slot = position % R)."""
    R, T, real = cache.ring_size, step.T, step.real
    if T == 1:
        # Write first: the overwritten slot held position p - R, already outside the window.
        n_keys = max(min(max_after, R), 1)
        if step.uniform:
            return AttendPlan(None, False, n_keys)
        L = new_lengths[:, None]
        kpos = (L - 1) - ((L - 1) - torch.arange(n_keys, device=device)[None]) % R
        m = _window_mask(step.positions, kpos, kpos >= 0, window)
        if real is not None:
            m[:, :, 0] |= ~real
        return AttendPlan(m[:, None], False, n_keys)
    # Attend over [ring as it was, chunk], then write the chunk's last R real tokens.
    n_ring = min(max(host), R)
    if step.uniform and n_ring == 0 and T <= window:
        return AttendPlan(None, True, 0)
    old = torch.tensor(host, device=device) if step.uniform else cache.lengths.to(device)
    L = old[:, None]
    ring_pos = (L - 1) - ((L - 1) - torch.arange(n_ring, device=device)[None]) % R
    kpos = torch.cat([ring_pos, step.positions], dim=1)
    chunk_valid = real if real is not None else torch.ones(step.batch, T, dtype=torch.bool, device=device)
    m = _window_mask(step.positions, kpos, torch.cat([ring_pos >= 0, chunk_valid], dim=1), window)
    if real is not None:
        m[:, :, n_ring:] |= torch.eye(T, dtype=torch.bool, device=device)[None] & ~real[:, :, None]
    return AttendPlan(m[:, None], False, n_ring)


def plan_static_decode(config: M1Config, cache: "Cache", positions: Tensor,
                       kernel: Callable[..., Tensor] | None = None) -> Step:
    """One real token per sequence at device-side `positions` [B] (each sequence's length).

    Unlike plan_step it reads nothing back to the host and its shapes depend only on the cache's
    size, not on how full it is: global layers attend over all `max_tokens` slots and SWA layers
    over the whole ring, masked to the slots written so far (slot s holds position s, or in the
    ring the latest position = s mod R, which is inside the window). The same call can then be
    captured once as a CUDA graph and replayed for every token (model/decoding.py). The price is
    reading the unwritten tail of the global cache: for the 14B at 8k slots, 0.3 GB against the
    27.6 GB of weights each token reads anyway. `kernel(q, k, v, positions, scale)`, if given,
    computes that masked attention itself (model/triton_kernels.py `decode_attention`).
    """
    bound = None if kernel is None else (lambda q, k, v, scale: kernel(q, k, v, positions, scale))
    B = positions.shape[0]
    device = positions.device
    step = Step(B, 1, positions[:, None], False, None, None, None, 0, slots=positions)
    if len(config.sliding_window_layers) < config.num_hidden_layers:
        keys = torch.arange(cache.max_tokens, device=device)
        step.global_plan = AttendPlan((keys[None] <= positions[:, None])[:, None, None], False, cache.max_tokens, bound)
    if config.sliding_window_layers:
        ring = torch.arange(cache.ring_size, device=device)
        step.swa_plan = AttendPlan((ring[None] <= positions[:, None])[:, None, None], False, cache.ring_size, bound)
    return step


class Cache:
    """Decoding state for a batch of sequences; create with `M1Model.new_cache`."""

    def __init__(
        self,
        config: M1Config,
        batch_size: int,
        max_tokens: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self.config = config
        self.max_tokens = max_tokens
        self.dtype = dtype
        self.device = torch.device(device)
        self.ring_size = min(config.sliding_window, max_tokens) if config.sliding_window_layers else 0
        self.k: list[Tensor] = []
        self.v: list[Tensor] = []
        self.conv_k: list[Tensor] = []
        self.conv_v: list[Tensor] = []
        for i in range(config.num_hidden_layers):
            g = config.layer_geometry(i)
            slots = self.ring_size if g.window is not None else max_tokens
            self.k.append(torch.zeros(batch_size, g.n_kv_heads, slots, g.head_dim, dtype=dtype, device=self.device))
            self.v.append(torch.zeros_like(self.k[-1]))
            self.conv_k.append(torch.zeros(batch_size, 1, g.n_kv_heads, g.head_dim, dtype=dtype, device=self.device))
            self.conv_v.append(torch.zeros_like(self.conv_k[-1]))
        self.lengths = torch.zeros(batch_size, dtype=torch.long, device=self.device)
        self.host_lengths: list[int] = [0] * batch_size

    @property
    def batch_size(self) -> int:
        return len(self.host_lengths)

    def nbytes(self) -> int:
        tensors = self.k + self.v + self.conv_k + self.conv_v + [self.lengths]
        return sum(t.numel() * t.element_size() for t in tensors)

    def select(self, indices: Tensor | list[int]) -> "Cache":
        """Keep only the given sequences (in that order), e.g. to drop finished ones. In place."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        if idx.ndim != 1 or idx.numel() == 0:
            raise ValueError("select needs a non-empty 1-D list of sequence indices")
        if int(idx.min()) < 0 or int(idx.max()) >= self.batch_size:
            raise IndexError(f"select indices {idx.tolist()} outside 0..{self.batch_size - 1}")
        dev_idx = idx.to(self.device)
        for store in (self.k, self.v, self.conv_k, self.conv_v):
            for i, t in enumerate(store):
                store[i] = t.index_select(0, dev_idx)
        self.lengths = self.lengths.index_select(0, dev_idx)
        self.host_lengths = [self.host_lengths[j] for j in idx.tolist()]
        return self

    # ------------------------------------------------------------------ per-layer updates
    def convolve(self, layer: int, raw_k: Tensor, raw_v: Tensor, taps: tuple[Tensor, Tensor, Tensor, Tensor],
                 step: Step) -> tuple[Tensor, Tensor]:
        """2-tap causal conv of raw K/V [B, T, n_kv, hd] seeded with the cached last token; updates state.

        taps: (k tap0, k tap1, v tap0, v tap1), each [n_kv, 1].
        """
        k0, k1, v0, v1 = taps
        out_k, new_k = short_conv(raw_k, k0, k1, self.conv_k[layer], step)
        out_v, new_v = short_conv(raw_v, v0, v1, self.conv_v[layer], step)
        # Into the cache's own buffers: a graph replay reads them at fixed addresses, and a view
        # of this call's projection would keep the whole projection alive.
        self.conv_k[layer].copy_(new_k)
        self.conv_v[layer].copy_(new_v)
        return out_k, out_v

    def update(self, layer: int, k: Tensor, v: Tensor, step: Step) -> tuple[Tensor, Tensor]:
        """Store this call's K/V [B, n_kv, T, hd]; return the keys/values the layer attends over."""
        ck, cv = self.k[layer], self.v[layer]
        is_swa = self.config.is_swa(layer)
        T = step.T
        if step.slots is not None:  # plan_static_decode: one token each, whole buffers, masked
            slots = step.slots % self.ring_size if is_swa else step.slots
            b = torch.arange(step.batch, device=ck.device)
            ck[b, :, slots] = k[:, :, 0]
            cv[b, :, slots] = v[:, :, 0]
            return ck, cv
        if not is_swa:
            if step.uniform:
                ck[:, :, step.start:step.start + T] = k
                cv[:, :, step.start:step.start + T] = v
            else:
                _scatter(ck, k, step.write_b, step.write_t, step.write_pos)
                _scatter(cv, v, step.write_b, step.write_t, step.write_pos)
            n = step.global_plan.n_keys
            return ck[:, :, :n], cv[:, :, :n]
        R = self.ring_size
        if T == 1:
            if step.uniform:
                slot = step.start % R
                ck[:, :, slot:slot + 1] = k
                cv[:, :, slot:slot + 1] = v
            else:
                _scatter(ck, k, step.write_b, step.write_t, step.write_pos % R)
                _scatter(cv, v, step.write_b, step.write_t, step.write_pos % R)
            n = step.swa_plan.n_keys
            return ck[:, :, :n], cv[:, :, :n]
        n_ring = step.swa_plan.n_keys
        keys = torch.cat([ck[:, :, :n_ring], k], dim=2) if n_ring else k
        values = torch.cat([cv[:, :, :n_ring], v], dim=2) if n_ring else v
        if step.uniform:
            first = max(0, T - R)  # only the last R tokens survive in the ring
            slots = torch.arange(step.start + first, step.start + T, device=ck.device) % R
            ck.index_copy_(2, slots, k[:, :, first:])
            cv.index_copy_(2, slots, v[:, :, first:])
        else:
            # Among the real tokens, keep those within R of the sequence's new end.
            end = self.lengths.to(ck.device)[step.write_b] + _count_real(step)[step.write_b]
            keep = step.write_pos >= end - R
            b, t, p = step.write_b[keep], step.write_t[keep], step.write_pos[keep]
            _scatter(ck, k, b, t, p % R)
            _scatter(cv, v, b, t, p % R)
        return keys, values

    def decode_attention(self, layer: int, qkv: Tensor, conv_weights: tuple[Tensor, Tensor],
                         rope: tuple[Tensor, Tensor], step: Step, n_heads: int) -> Tensor:
        """The fused form of convolve + RoPE + update + attend for one token per sequence, all at
        one position (step.uniform, T == 1), fp32 on CPU: one kernel call (model/kernels.py)."""
        g = self.config.layer_geometry(layer)
        if g.window is None:
            slot, n_keys = step.start, step.global_plan.n_keys
        else:
            slot, n_keys = step.start % self.ring_size, step.swa_plan.n_keys
        cos, sin = rope
        return kernels.decode_attention(
            qkv, n_heads, g.n_kv_heads, g.head_dim, conv_weights[0], conv_weights[1], self.conv_k[layer],
            self.conv_v[layer], cos[0, 0, 0], sin[0, 0, 0], self.k[layer], self.v[layer], slot, n_keys,
        )

    def advance_each(self, n: int) -> None:
        """Count n more real tokens for every sequence, in place (graphs read `lengths` by address)."""
        self.lengths += n
        self.host_lengths = [h + n for h in self.host_lengths]

    def advance(self, step: Step) -> None:
        """Count this call's real tokens; called once after all layers ran."""
        if step.uniform or step.slots is not None:
            self.advance_each(step.T)
        else:
            self.lengths = self.lengths + _count_real(step).to(self.lengths.device)
            self.host_lengths = self.lengths.tolist()


def _count_real(step: Step) -> Tensor:
    if step.real is None:
        return torch.full((step.batch,), step.T, dtype=torch.long, device=step.positions.device)
    return step.real.long().sum(1)


def _scatter(store: Tensor, new: Tensor, b: Tensor, t: Tensor, slot: Tensor) -> None:
    """store[b, :, slot] = new[b, :, t] for each listed token."""
    store[b, :, slot] = new[b, :, t]


def short_conv(raw: Tensor, w0: Tensor, w1: Tensor, state: Tensor | None, step: Step) -> tuple[Tensor, Tensor]:
    """out_t = w0 * u_prev + w1 * u_t per KV head; u_prev is the previous real token (or the state).

    raw: [B, T, n_kv, hd]; w0/w1: [n_kv, 1] (tap 0 multiplies the previous token); state:
    [B, 1, n_kv, hd] or None (zeros). Two products then one sum, in the run dtype, as the
    official code does.
    """
    B, T = raw.shape[:2]
    if state is None:
        state = raw.new_zeros(B, 1, *raw.shape[2:])
    if step.prev_index is None:
        prev = torch.cat([state, raw[:, :-1]], dim=1) if T > 1 else state
        new_state = raw[:, -1:]
    else:
        seq = torch.cat([state, raw], dim=1)
        prev = torch.gather(seq, 1, step.prev_index[:, :, None, None].expand(-1, -1, *raw.shape[2:]))
        new_state = torch.gather(seq, 1, step.last_index[:, None, None, None].expand(-1, 1, *raw.shape[2:]))
    return prev * w0 + raw * w1, new_state
