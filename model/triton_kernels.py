"""Triton kernels for decoding on CUDA: weight-only int8 products, and decode attention.

**int8.** Decoding reads every weight once per token, so int8 weights should decode about twice
as fast as bf16, but only if they are read as int8: dequantizing a matrix to bf16 first (what
model/quant.py does elsewhere) writes and reads it again and ends up slower than bf16. These
kernels load int8 tiles and apply each group's fp32 scale to the group's partial dot product
(sum_k q*x*s = s * sum_k q*x over a group), in fp32: one row (`_int8_gemv`, plain reductions)
or a few (`_int8_mm`, tensor cores). Prefill keeps dequantize-then-matmul, where each weight
serves many rows anyway.

**Decode attention.** One new token per sequence attends over a whole cache buffer of S slots
(model/cache.py `plan_static_decode`). SDPA runs that as one block per KV head: for the 14B's
global layers 2 blocks of 8,192 keys on a 132-SM GPU (decoding after 8k tokens ran at half the
speed of after 512). Flash-decoding instead splits the slots into chunks, one program each,
keeps an online softmax per chunk (scores and sums in fp32, probabilities rounded to the value
dtype for the product with V, as flash attention does), and combines the chunks by their
log-sum-exp in a second kernel.

Triton ships with PyTorch's CUDA builds. Each kernel is checked once per process against the
plain computation on first use (`available`); where Triton is missing or a check fails, the
callers keep their PyTorch path and the log says why once.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

import torch
from torch import Tensor

log = logging.getLogger(__name__)

MAX_ROWS = 64  # decoding batches; larger inputs reuse each weight enough to dequantize first

try:  # pragma: no cover - exercised on CUDA machines (and in TRITON_INTERPRET=1 tests)
    import triton
    import triton.language as tl
except Exception:  # noqa: BLE001 - any import failure means: no Triton path
    triton = None

_checked: dict[tuple[str, str], bool] = {}
_lock = threading.Lock()

if triton is not None:

    @triton.jit
    def _int8_gemv(x_ptr, q_ptr, s_ptr, y_ptr, N, K,
                   G: tl.constexpr, R: tl.constexpr, BLOCK_N: tl.constexpr):
        """y[n] = sum over groups of s[n, g] * sum_{k in g} q[n, k] * x[k]; R groups per step."""
        pid = tl.program_id(0)
        rn = pid * BLOCK_N + tl.arange(0, BLOCK_N)
        rr = tl.arange(0, R)
        rg = tl.arange(0, G)
        nmask = rn < N
        groups = K // G
        acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
        for g0 in range(0, groups, R):
            gg = g0 + rr  # [R]
            gmask = gg < groups
            kk = gg[:, None] * G + rg[None, :]  # [R, G]
            x = tl.load(x_ptr + kk, mask=gmask[:, None], other=0.0).to(tl.float32)
            w = tl.load(q_ptr + rn[:, None, None] * K + kk[None, :, :],
                        mask=nmask[:, None, None] & gmask[None, :, None], other=0).to(tl.float32)
            part = tl.sum(w * x[None, :, :], axis=2)  # [BLOCK_N, R]
            s = tl.load(s_ptr + rn[:, None] * groups + gg[None, :], mask=nmask[:, None] & gmask[None, :], other=0.0)
            acc += tl.sum(part * s, axis=1)
        tl.store(y_ptr + rn, acc.to(y_ptr.dtype.element_ty), mask=nmask)

    @triton.jit
    def _int8_mm(x_ptr, q_ptr, s_ptr, y_ptr, M, N, K, stride_xm, stride_ym,
                 G: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
        """y[m, n] for a few rows m: per group, (q tile [N, G]) @ (x tile^T [G, M]) on the tensor
        cores (int8 -> x's dtype is exact), scaled in fp32."""
        pid_n = tl.program_id(0)
        pid_m = tl.program_id(1)
        rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        rg = tl.arange(0, G)
        groups = K // G
        acc = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
        for g in range(0, groups):
            kk = g * G + rg
            xt = tl.load(x_ptr + rm[None, :] * stride_xm + kk[:, None], mask=rm[None, :] < M, other=0.0)
            w = tl.load(q_ptr + rn[:, None] * K + kk[None, :], mask=rn[:, None] < N, other=0)
            s = tl.load(s_ptr + rn * groups + g, mask=rn < N, other=0.0)
            acc += tl.dot(w.to(xt.dtype), xt) * s[:, None]
        ymask = (rn[:, None] < N) & (rm[None, :] < M)
        tl.store(y_ptr + rm[None, :] * stride_ym + rn[:, None], acc.to(y_ptr.dtype.element_ty), mask=ymask)

    @triton.jit
    def _decode_split(q_ptr, k_ptr, v_ptr, pos_ptr, acc_ptr, ml_ptr, S, CHUNK, scale,
                      NKV: tl.constexpr, GROUP: tl.constexpr, GP: tl.constexpr, HD: tl.constexpr,
                      BLOCK_S: tl.constexpr):
        """One (sequence, KV head, chunk of slots): online softmax of its GROUP query heads over
        the chunk's valid slots (slot <= position). Writes unnormalised acc [GP, HD] and (m, l)."""
        bh = tl.program_id(0)  # b * NKV + h
        c = tl.program_id(1)
        b = bh // NKV
        pos = tl.load(pos_ptr + b)
        rg = tl.arange(0, GP)
        rd = tl.arange(0, HD)
        q = tl.load(q_ptr + (bh * GROUP + rg[:, None]) * HD + rd[None, :], mask=rg[:, None] < GROUP, other=0.0)
        m = tl.full((GP,), -1e30, dtype=tl.float32)
        l = tl.zeros((GP,), dtype=tl.float32)
        acc = tl.zeros((GP, HD), dtype=tl.float32)
        start = c * CHUNK
        for s0 in range(start, start + CHUNK, BLOCK_S):
            rs = s0 + tl.arange(0, BLOCK_S)
            valid = (rs <= pos) & (rs < S) & (rs < start + CHUNK)
            kv_off = (bh * S + rs[:, None]) * HD + rd[None, :]
            k = tl.load(k_ptr + kv_off, mask=valid[:, None], other=0.0)
            scores = tl.dot(q, tl.trans(k)) * scale  # [GP, BLOCK_S] fp32
            scores = tl.where(valid[None, :], scores, float("-inf"))
            m_new = tl.maximum(m, tl.max(scores, axis=1))
            p = tl.exp(scores - m_new[:, None])
            alpha = tl.exp(m - m_new)
            l = l * alpha + tl.sum(p, axis=1)
            v = tl.load(v_ptr + kv_off, mask=valid[:, None], other=0.0)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
            m = m_new
        n_chunks = tl.num_programs(1)
        out = (bh * n_chunks + c) * GP + rg
        tl.store(acc_ptr + out[:, None] * HD + rd[None, :], acc)
        tl.store(ml_ptr + out * 2, m)
        tl.store(ml_ptr + out * 2 + 1, l)

    @triton.jit
    def _decode_combine(acc_ptr, ml_ptr, o_ptr, n_chunks,
                        GROUP: tl.constexpr, GP: tl.constexpr, HD: tl.constexpr):
        """Merge the chunks of one (sequence, KV head) by their maxima and sums."""
        bh = tl.program_id(0)
        rg = tl.arange(0, GP)
        rd = tl.arange(0, HD)
        m_all = tl.full((GP,), -1e30, dtype=tl.float32)
        for c in range(0, n_chunks):
            m_all = tl.maximum(m_all, tl.load(ml_ptr + ((bh * n_chunks + c) * GP + rg) * 2))
        total = tl.zeros((GP,), dtype=tl.float32)
        out = tl.zeros((GP, HD), dtype=tl.float32)
        for c in range(0, n_chunks):
            row = (bh * n_chunks + c) * GP + rg
            w = tl.exp(tl.load(ml_ptr + row * 2) - m_all)
            total += w * tl.load(ml_ptr + row * 2 + 1)
            out += w[:, None] * tl.load(acc_ptr + row[:, None] * HD + rd[None, :])
        out = out / total[:, None]
        tl.store(o_ptr + (bh * GROUP + rg[:, None]) * HD + rd[None, :], out.to(o_ptr.dtype.element_ty),
                 mask=rg[:, None] < GROUP)


# ------------------------------------------------------------------------------------- int8
def _int8_launch(x: Tensor, q: Tensor, scale: Tensor) -> Tensor:
    M, K = x.shape
    N = q.shape[0]
    G = K // scale.shape[1]
    y = torch.empty(M, N, dtype=x.dtype, device=x.device)
    if M == 1:
        block_n = 16
        _int8_gemv[(triton.cdiv(N, block_n),)](x, q, scale, y, N, K, G=G, R=max(1, 256 // G), BLOCK_N=block_n,
                                               num_warps=4)
    else:
        block_m = 16 if M <= 16 else 32 if M <= 32 else 64  # tl.dot needs 16 or more
        block_n = 64
        _int8_mm[(triton.cdiv(N, block_n), triton.cdiv(M, block_m))](
            x, q, scale, y, M, N, K, x.stride(0), y.stride(0), G=G, BLOCK_M=block_m, BLOCK_N=block_n,
            num_warps=4, num_stages=4)
    return y


def usable(x: Tensor, q: Tensor, scale: Tensor | None = None) -> bool:
    """Whether x @ int8 weight can take the kernels: CUDA, few rows, bf16/fp16, groups of 32 or
    64, and kernels that compiled and passed their check on this machine."""
    if triton is None or not x.is_cuda or x.dtype not in (torch.bfloat16, torch.float16):
        return False
    rows = x.numel() // x.shape[-1]
    groups_ok = scale is None or (q.shape[1] // scale.shape[1]) in (32, 64)
    return 0 < rows <= MAX_ROWS and groups_ok and q.is_contiguous() and available("int8", x.device)


def int8_linear(x: Tensor, q: Tensor, scale: Tensor) -> Tensor:
    """x [..., K] (bf16/fp16, CUDA) @ dequantize(q [N, K], scale [N, K/G])^T -> [..., N]."""
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    return _int8_launch(x2, q, scale).view(*lead, q.shape[0])


# ------------------------------------------------------------------------------ attention
SPLIT_TARGET = 264  # programs to aim for: two per SM of an H100/H200 (132 SMs)
BLOCK_S = 32


def decode_attention(q: Tensor, k: Tensor, v: Tensor, positions: Tensor, scale: float) -> Tensor:
    """q [B, nh, 1, hd]; k, v [B, nkv, S, hd] (whole buffers); slot s of sequence b is attended
    iff s <= positions[b]. -> [B, nh, 1, hd]. GQA with contiguous groups."""
    B, nh, _, hd = q.shape
    nkv, S = k.shape[1], k.shape[2]
    group = nh // nkv
    gp = max(16, triton.next_power_of_2(group))
    splits = max(1, min(triton.cdiv(S, BLOCK_S), triton.cdiv(SPLIT_TARGET, B * nkv)))
    chunk = triton.cdiv(triton.cdiv(S, splits), BLOCK_S) * BLOCK_S
    splits = triton.cdiv(S, chunk)
    qc = q.reshape(B * nh, hd).contiguous()
    acc = torch.empty(B * nkv * splits * gp, hd, dtype=torch.float32, device=q.device)
    ml = torch.empty(B * nkv * splits * gp, 2, dtype=torch.float32, device=q.device)
    out = torch.empty(B, nh, 1, hd, dtype=q.dtype, device=q.device)
    _decode_split[(B * nkv, splits)](qc, k, v, positions, acc, ml, S, chunk, scale, NKV=nkv, GROUP=group, GP=gp,
                                     HD=hd, BLOCK_S=BLOCK_S, num_warps=4)
    _decode_combine[(B * nkv,)](acc, ml, out, splits, GROUP=group, GP=gp, HD=hd, num_warps=4)
    return out


def attention_usable(device: torch.device, head_dims: set[int], dtype: torch.dtype) -> bool:
    """Whether decode attention can take the kernel: CUDA, 16-bit, power-of-two head dims >= 16
    (tl.dot and tl.arange shapes), and a kernel that passed its check here."""
    return (triton is not None and device.type == "cuda" and dtype in (torch.bfloat16, torch.float16)
            and all(hd >= 16 and hd & (hd - 1) == 0 for hd in head_dims) and available("attention", device))


def bind_decode_attention(positions: Tensor, scale: float) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    return lambda q, k, v: decode_attention(q, k, v, positions, scale)


# ---------------------------------------------------------------------------------- checks
def available(kind: str, device: torch.device | str) -> bool:
    """Compile `kind` ("int8" or "attention") and check it against PyTorch once per process."""
    if triton is None:
        return False
    key = (kind, str(device))
    with _lock:
        if key not in _checked:
            check = _check_int8 if kind == "int8" else _check_attention
            try:
                err = check(torch.device(device))
                _checked[key] = err <= 2e-2
                if err > 2e-2:
                    log.warning("Triton %s kernel disagrees with PyTorch (relative error %.3g); not used", kind, err)
            except Exception as exc:  # noqa: BLE001 - any failure: fall back, say why once
                log.warning("Triton %s kernel unavailable on %s (%s); using PyTorch", kind, device, exc)
                _checked[key] = False
        return _checked[key]


def _rel(got: Tensor, want: Tensor) -> float:
    return ((got.float() - want.float()).abs().max() / want.float().abs().max().clamp_min(1e-6)).item()


def _check_int8(device: torch.device, dtype: torch.dtype = torch.bfloat16) -> float:
    from .quant import dequantize, quantize

    g = torch.Generator(device=device).manual_seed(0)
    w = torch.randn(300, 512, device=device, generator=g)
    q, s = quantize(w)
    worst = 0.0
    for rows in (1, 3, 40):
        x = torch.randn(rows, 512, device=device, generator=g).to(dtype)
        want = x.float() @ dequantize(q, s, torch.float32).T
        worst = max(worst, _rel(_int8_launch(x, q, s), want))
    return worst


def _check_attention(device: torch.device, dtype: torch.dtype = torch.bfloat16) -> float:
    g = torch.Generator(device=device).manual_seed(0)
    worst = 0.0
    for B, nh, nkv, S, hd in ((2, 8, 2, 300, 64), (1, 5, 5, 70, 16)):
        q = torch.randn(B, nh, 1, hd, device=device, generator=g).to(dtype)
        k = torch.randn(B, nkv, S, hd, device=device, generator=g).to(dtype)
        v = torch.randn(B, nkv, S, hd, device=device, generator=g).to(dtype)
        pos = torch.tensor([S - 1, S // 3][:B], device=device)
        mask = (torch.arange(S, device=device)[None] <= pos[:, None])[:, None, None]
        kk = k.float().repeat_interleave(nh // nkv, 1)
        vv = v.float().repeat_interleave(nh // nkv, 1)
        want = torch.softmax((q.float() @ kk.transpose(-1, -2)) * hd ** -0.5 + torch.where(mask, 0.0, float("-inf")), -1) @ vv
        worst = max(worst, _rel(decode_attention(q, k, v, pos, hd ** -0.5), want))
    return worst
