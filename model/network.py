"""The Baichuan-M1 network, top to bottom (see M1-ARCHITECTURE.md).

Embedding -> N x [x += attn(norm(x)); x += mlp(norm(x))] -> norm -> head.
Attention: fused W_pack [Q|K|V] -> 2-tap causal conv on raw K and V per KV head -> RoPE
(rotate-half, fp32) -> causal SDPA with GQA; sliding-window layers have their own head geometry.
All state lives in a `Cache`; the module itself is stateless between calls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import kernels
from .cache import Cache, Step, plan_step, short_conv
from .config import M1Config


class Linear(nn.Linear):
    """nn.Linear whose few-row products on CPU (decoding) run on model/kernels.py's GEMV."""

    def forward(self, x: Tensor) -> Tensor:
        if self.bias is None and kernels.usable(x, self.weight):
            return kernels.gemv(x, self.weight)
        return F.linear(x, self.weight, self.bias)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.float32 and self.weight.dtype == torch.float32:
            if kernels.norm_usable(x):
                return kernels.rms_norm(x, self.weight, self.eps)  # decoding: one call, not six ops
            return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)  # one op, the same products
        # fp32 normalisation (one fused op), cast to the weight dtype, then scale: the Llama form.
        normed = F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps)
        return self.weight * normed.to(self.weight.dtype)


class RotaryTable:
    """cos and signed sin of rotate-half RoPE in fp32 for one head dim, grown on demand.

    `sin` is stored as [-sin, +sin] over the two halves so that rotate_half(x) * sin becomes
    roll(x, hd/2) * signed_sin: the same products bit for bit, two fewer ops per call.
    """

    def __init__(self, head_dim: int, theta: float) -> None:
        self.head_dim = head_dim
        self.theta = theta
        self.tables: tuple[Tensor, Tensor] | None = None  # replaced whole, so threads never see a mix

    def lookup(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """cos, signed sin as [B, 1, T, hd] fp32 for positions [B, T]."""
        self.ensure(int(positions.max()) + 1 if positions.numel() else 1, positions.device)
        return self.gather(positions)

    def ensure(self, need: int, device: torch.device) -> None:
        """Grow the tables to at least `need` positions on `device` (reads nothing back from it)."""
        tables = self.tables
        if tables is None or tables[0].shape[0] < need or tables[0].device != device:
            size = max(need, 2 * (tables[0].shape[0] if tables is not None else 1024))
            inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, device=device).float() / self.head_dim))
            freqs = torch.outer(torch.arange(size, device=device, dtype=torch.float32), inv_freq)
            self.tables = (torch.cat([freqs, freqs], dim=-1).cos(), torch.cat([-freqs.sin(), freqs.sin()], dim=-1))

    def gather(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """The rows for `positions` of tables already grown by `ensure`: no host sync, so a CUDA
        graph can capture it."""
        cos, sin = self.tables
        return cos[positions].unsqueeze(1), sin[positions].unsqueeze(1)


def apply_rope(x: Tensor, cos: Tensor, signed_sin: Tensor) -> Tensor:
    """x [B, h, T, hd] in any dtype; math in fp32 (x*cos + rotate_half(x)*sin), cast back."""
    xf = x.float()
    return (xf * cos + torch.roll(xf, xf.shape[-1] // 2, dims=-1) * signed_sin).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, config: M1Config, layer: int) -> None:
        super().__init__()
        g = config.layer_geometry(layer)
        self.layer = layer
        self.n_heads, self.n_kv_heads, self.head_dim, self.window = g
        self.q_size = self.n_heads * self.head_dim
        self.kv_size = self.n_kv_heads * self.head_dim
        self.W_pack = Linear(config.hidden_size, self.q_size + 2 * self.kv_size, bias=False)
        self.o_proj = Linear(self.q_size, config.hidden_size, bias=False)
        self.conv_k = nn.Parameter(torch.zeros(1, 1, self.n_kv_heads, 1, config.conv_window))
        self.conv_v = nn.Parameter(torch.zeros(1, 1, self.n_kv_heads, 1, config.conv_window))

    def taps(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(k tap0, k tap1, v tap0, v tap1) as [n_kv, 1] views of the weights, built once per weight
        tensor (views: in-place edits show through; a replaced weight rebuilds them)."""
        ck, cv = self.conv_k[0, 0, :, :], self.conv_v[0, 0, :, :]  # [n_kv, 1, 2]
        if torch.compiler.is_compiling():  # traced once: no host-side memo (data_ptr) to consult
            return ck[..., 0], ck[..., 1], cv[..., 0], cv[..., 1]
        key = (self.conv_k.data_ptr(), self.conv_v.data_ptr())
        if getattr(self, "_taps_key", None) != key:
            taps = (ck[..., 0], ck[..., 1], cv[..., 0], cv[..., 1])
            self._taps = taps
            self._taps_key = key
            return taps
        return self._taps

    def identity_conv(self) -> bool:
        """Whether both convolutions are the identity (taps [0, 1], as in every imported Llama model).
        Then the torch path skips them: prev * 0 + raw * 1 is raw. Re-checked after any edit."""
        if torch.compiler.is_compiling() and hasattr(self, "_identity"):
            return self._identity  # model/decoding.py asks once before compiling
        ck, cv = self.conv_k, self.conv_v
        key = (ck.data_ptr(), ck._version, cv.data_ptr(), cv._version)
        if getattr(self, "_identity_key", None) != key:
            taps = torch.cat([ck.detach().reshape(-1, 2), cv.detach().reshape(-1, 2)])
            self._identity = bool((taps[:, 0] == 0).all() and (taps[:, 1] == 1).all())
            self._identity_key = key
        return self._identity

    def forward(self, x: Tensor, step: Step, rope: tuple[Tensor, Tensor], cache: Cache | None) -> Tensor:
        """x: [B*T, H] -> [B*T, H]."""
        B, T = step.batch, step.T
        qkv = self.W_pack(x)
        if (cache is not None and T == 1 and step.uniform and cache.dtype == torch.float32
                and kernels.attention_usable(qkv, self.head_dim) and self.conv_k.is_contiguous()):
            # Decoding on CPU: the same computation as below in one kernel call.
            out = cache.decode_attention(self.layer, qkv, (self.conv_k, self.conv_v), rope, step, self.n_heads)
            return self.o_proj(out)
        q = qkv[:, : self.q_size].view(B, T, self.n_heads, self.head_dim)
        k = qkv[:, self.q_size : self.q_size + self.kv_size].view(B, T, self.n_kv_heads, self.head_dim)
        v = qkv[:, self.q_size + self.kv_size :].view(B, T, self.n_kv_heads, self.head_dim)
        if self.identity_conv():
            pass  # the cached conv state is only ever multiplied by tap 0 = 0
        elif cache is None:
            k0, k1, v0, v1 = self.taps()
            k, _ = short_conv(k, k0, k1, None, step)
            v, _ = short_conv(v, v0, v1, None, step)
        else:
            k, v = cache.convolve(self.layer, k, v, self.taps(), step)
        cos, sin = rope
        q = apply_rope(q.transpose(1, 2), cos, sin)
        k = apply_rope(k.transpose(1, 2), cos, sin)
        v = v.transpose(1, 2)
        plan = step.swa_plan if self.window is not None else step.global_plan
        if cache is not None:
            k, v = cache.update(self.layer, k, v, step)
        if plan.kernel is not None:  # a decode kernel chosen at load time (model/decoding.py)
            out = plan.kernel(q, k, v, self.head_dim ** -0.5)
        else:
            out = attend(q, k, v, plan.mask, plan.causal, self.head_dim)
        return self.o_proj(out.transpose(1, 2).reshape(B * T, self.q_size))


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool, head_dim: int) -> Tensor:
    """SDPA with contiguous GQA groups. q [B, nh, T, hd], k/v [B, nkv, S, hd] -> [B, nh, T, hd].

    On CPU, bf16/fp16 attention runs in fp32 and casts back: that is what the official code
    computes there (the reference vectors match bit for bit), and CPU SDPA gains nothing from bf16.
    """
    if q.dtype != torch.float32 and q.device.type == "cpu":
        return attend(q.float(), k.float(), v.float(), mask, causal, head_dim).to(q.dtype)
    B, nh, T, hd = q.shape
    nkv = k.shape[1]
    group = nh // nkv
    scale = head_dim ** -0.5
    if T == 1 and group > 1:
        # Decode: fold each group's query heads into rows of one KV head; no K/V expansion.
        # reshape, not view: CUDA's SDPA may return the rows strided (it did for head dim 256).
        out = F.scaled_dot_product_attention(q.reshape(B, nkv, group, hd), k, v, attn_mask=mask, scale=scale)
        return out.reshape(B, nh, 1, hd)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=causal and mask is None, scale=scale, enable_gqa=group > 1
    )


class MLP(nn.Module):
    def __init__(self, config: M1Config) -> None:
        super().__init__()
        self.gate_proj = Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.gate_up: nn.Module | None = None  # set by fuse(): one matmul for gate and up

    def fuse(self) -> None:
        """Put gate and up in one [2I, H] matrix; gate_proj/up_proj become views into it."""
        from .quant import Int8Linear

        g, u = self.gate_proj, self.up_proj
        if isinstance(g, Int8Linear) and isinstance(u, Int8Linear):
            fused = Int8Linear(torch.cat([g.qweight, u.qweight]), torch.cat([g.scale, u.scale]), g.compute_dtype)
            I = g.out_features
            for name in ("qweight", "scale"):
                whole = getattr(fused, name)
                setattr(g, name, whole[:I])
                setattr(u, name, whole[I:])
        elif isinstance(g, nn.Linear) and isinstance(u, nn.Linear):
            fused = Linear(g.in_features, 2 * g.out_features, bias=False, device="meta")
            I = g.out_features
            # Keep the parts' memory layout (load_model may store matrices column-major).
            column_major = g.weight.t().is_contiguous()
            shape = (g.in_features, 2 * I) if column_major else (2 * I, g.in_features)
            buf = torch.empty(shape, dtype=g.weight.dtype, device=g.weight.device)
            buf = buf.t() if column_major else buf
            buf[:I].copy_(g.weight)
            buf[I:].copy_(u.weight)
            fused.weight = nn.Parameter(buf, requires_grad=False)
            g.weight = nn.Parameter(fused.weight[:I], requires_grad=False)
            u.weight = nn.Parameter(fused.weight[I:], requires_grad=False)
        else:
            return
        self.gate_up = fused

    def forward(self, x: Tensor) -> Tensor:
        if self.gate_up is not None and x.shape[0] <= kernels.MAX_ROWS:
            # Decoding: one pass over both matrices. Longer inputs take the two products apart,
            # so that silu and the product read contiguous rows (prefill 3% faster).
            gate, up = self.gate_up(x).chunk(2, dim=-1)
            return self.down_proj(F.silu(gate) * up)
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, config: M1Config, layer: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config, layer)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, step: Step, rope: tuple[Tensor, Tensor], cache: Cache | None) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x), step, rope, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    """Named `model` inside M1Model so that parameter names match the released state dict."""

    def __init__(self, config: M1Config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class M1Model(nn.Module):
    """Baichuan-M1 causal LM. `lm_head.weight` holds the head as applied (already L2-normalised
    when `config.lm_head_normalized`; `load_model` does that once)."""

    def __init__(self, config: M1Config) -> None:
        super().__init__()
        self.config = config
        self.model = Backbone(config)
        self.lm_head = Linear(config.hidden_size, config.vocab_size, bias=False)
        dims = sorted({config.layer_geometry(i).head_dim for i in range(config.num_hidden_layers)})
        self._rope = {hd: RotaryTable(hd, config.rope_theta) for hd in dims}

    @property
    def dtype(self) -> torch.dtype:
        return self.model.norm.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.model.norm.weight.device

    def new_cache(self, batch_size: int, max_tokens: int, dtype: torch.dtype | None = None,
                  device: torch.device | str | None = None) -> Cache:
        return Cache(self.config, batch_size, max_tokens,
                     dtype=dtype or self.model.layers[0].input_layernorm.weight.dtype,
                     device=device or self.device)

    @torch.inference_mode()
    def forward(self, input_ids: Tensor, cache: Cache | None = None, attention_mask: Tensor | None = None,
                last_only: bool = False) -> Tensor:
        """Logits [B, T, V] (fp32) for the T new tokens; with a cache, appends them to it.

        `last_only=True` returns only the last position's logits [B, 1, V] (prefill for generation).
        """
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be [batch, tokens], got shape {tuple(input_ids.shape)}")
        B, T = input_ids.shape
        if T == 0:
            raise ValueError("input_ids has no tokens")
        V = self.config.vocab_size
        if cache is not None and cache.batch_size != B:
            raise ValueError(f"cache holds {cache.batch_size} sequences but input_ids has {B}")
        device = self.device
        ids = input_ids.to(device)
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi > V:
            raise ValueError(f"token id out of range 0..{V}: got {lo if lo < 0 else hi}")
        ids = torch.where(ids == V, 0, ids)  # the official code maps id == vocab_size to 0

        step = plan_step(self.config, B, T, device, attention_mask, cache)
        ropes = {hd: table.lookup(step.positions) for hd, table in self._rope.items()}
        logits = self.run(ids, step, ropes, cache, last_only)
        if cache is not None:
            cache.advance(step)
        return logits

    def run(self, ids: Tensor, step: Step, ropes: dict[int, tuple[Tensor, Tensor]], cache: Cache | None,
            last_only: bool) -> Tensor:
        """The layer stack on planned input: ids [B, T] already checked and on the device, `step`
        and the RoPE rows made by the caller. Reads nothing back to the host, so that
        model/decoding.py can capture it in a CUDA graph; the caller advances the cache."""
        B, T = step.batch, step.T
        x = self.model.embed_tokens(ids.reshape(-1))  # hidden states stay [B*T, H] throughout
        for layer in self.model.layers:
            x = layer(x, step, ropes[layer.self_attn.head_dim], cache)
        x = x.view(B, T, -1)
        if last_only:
            x = x[:, -1]
        return self.lm_head(self.model.norm(x)).float().view(B, 1 if last_only else T, -1)
