"""Weight-only int8 products on CUDA in one Triton kernel: y = x @ dequantize(q, scale)^T.

Decoding reads every weight once per token, so int8 weights should decode about twice as fast
as bf16 ones, but only if they are read as int8: dequantizing a matrix to bf16 first (what
model/quant.py does elsewhere) writes and reads it again and ends up slower than bf16. This
kernel loads int8 tiles, scales them by their group's fp32 scale in registers, and multiplies on
the tensor cores with fp32 accumulation, for the few rows of decoding (M <= MAX_ROWS); prefill
keeps the dequantize-then-matmul path, where the weights are reused across many rows anyway.

Triton ships with PyTorch's CUDA builds; where it is missing, or the kernel fails its check
against the dequantized product on first use, `available()` is False and quant.py falls back.
"""

from __future__ import annotations

import logging
import threading

import torch
from torch import Tensor

log = logging.getLogger(__name__)

MAX_ROWS = 64  # decoding batches; larger inputs reuse each weight enough to dequantize first

try:  # pragma: no cover - only on CUDA machines
    import triton
    import triton.language as tl
except Exception:  # noqa: BLE001 - any import failure means: no Triton path
    triton = None

_state: dict[str, bool] = {}
_lock = threading.Lock()

if triton is not None:  # pragma: no cover - compiled and run only on a GPU

    @triton.autotune(
        configs=[triton.Config({"BLOCK_N": bn, "BLOCK_K": bk}, num_warps=w, num_stages=s)
                 for bn, bk, w, s in ((32, 256, 4, 4), (64, 128, 4, 4), (64, 256, 4, 3),
                                      (128, 128, 8, 3), (16, 512, 4, 4))],
        key=["M", "N", "K"],
    )
    @triton.jit
    def _int8_matmul(x_ptr, q_ptr, s_ptr, y_ptr, M, N, K, G, stride_xm, stride_ym,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
        pid_n = tl.program_id(0)
        pid_m = tl.program_id(1)
        rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        rk = tl.arange(0, BLOCK_K)
        groups = K // G
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k0 in range(0, K, BLOCK_K):
            kk = k0 + rk
            kmask = kk[None, :] < K
            x = tl.load(x_ptr + rm[:, None] * stride_xm + kk[None, :], mask=(rm[:, None] < M) & kmask, other=0.0)
            wmask = (rn[:, None] < N) & kmask
            w = tl.load(q_ptr + rn[:, None] * K + kk[None, :], mask=wmask, other=0)
            s = tl.load(s_ptr + rn[:, None] * groups + kk[None, :] // G, mask=wmask, other=0.0)
            wf = (w.to(tl.float32) * s).to(x_ptr.dtype.element_ty)
            acc += tl.dot(x, tl.trans(wf))
        ymask = (rm[:, None] < M) & (rn[None, :] < N)
        tl.store(y_ptr + rm[:, None] * stride_ym + rn[None, :], acc.to(y_ptr.dtype.element_ty), mask=ymask)


def _launch(x: Tensor, q: Tensor, scale: Tensor) -> Tensor:
    M, K = x.shape
    N = q.shape[0]
    y = torch.empty(M, N, dtype=x.dtype, device=x.device)
    block_m = 16  # the smallest tile tl.dot takes; a decode row pads it
    grid = lambda meta: (triton.cdiv(N, meta["BLOCK_N"]), triton.cdiv(M, block_m))  # noqa: E731
    _int8_matmul[grid](x, q, scale, y, M, N, K, K // scale.shape[1], x.stride(0), y.stride(0), BLOCK_M=block_m)
    return y


def usable(x: Tensor, q: Tensor) -> bool:
    """Whether this product can take the kernel: CUDA, few rows, bf16/fp16, and a kernel that
    compiled and passed its check on this machine."""
    if triton is None or not x.is_cuda or x.dtype not in (torch.bfloat16, torch.float16):
        return False
    rows = x.numel() // x.shape[-1]
    return 0 < rows <= MAX_ROWS and q.is_contiguous() and available(x.device)


def available(device: torch.device) -> bool:
    """Compile the kernel and check it against dequantize-then-matmul once per process."""
    if triton is None:
        return False
    key = str(device)
    with _lock:
        if key not in _state:
            _state[key] = _self_check(device)
        return _state[key]


def _self_check(device: torch.device) -> bool:
    from .quant import dequantize, quantize

    try:
        g = torch.Generator(device=device).manual_seed(0)
        w = torch.randn(300, 512, device=device, generator=g)
        q, s = quantize(w)
        x = torch.randn(3, 512, device=device, generator=g).to(torch.bfloat16)
        want = x.float() @ dequantize(q, s, torch.float32).T
        got = _launch(x, q, s).float()
        err = (got - want).abs().max().item() / want.abs().max().item()
        if err > 2e-2:
            log.warning("Triton int8 kernel disagrees with the dequantized product (rel. error %.3g); not used", err)
            return False
        return True
    except Exception as exc:  # noqa: BLE001 - any failure: fall back, say why once
        log.warning("Triton int8 kernel unavailable on %s (%s); int8 products dequantize first", device, exc)
        return False


def int8_linear(x: Tensor, q: Tensor, scale: Tensor) -> Tensor:
    """x [..., K] (bf16/fp16, CUDA) @ dequantize(q [N, K], scale [N, K/G])^T -> [..., N]."""
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    return _launch(x2, q, scale).view(*lead, q.shape[0])
