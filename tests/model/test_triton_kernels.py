"""The Triton decode kernels (model/triton_kernels.py) against plain PyTorch, on CUDA.

Where Triton is installed but no GPU is (TRITON_INTERPRET=1), the same checks run in Triton's
interpreter in fp16 (the interpreter has no bf16); elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os

import pytest
import torch

from model.quant import dequantize, quantize

tk = pytest.importorskip("model.triton_kernels")
if tk.triton is None:
    pytest.skip("Triton is not installed here (it ships with PyTorch's CUDA builds)", allow_module_level=True)
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
if not torch.cuda.is_available() and not INTERPRET:
    pytest.skip("no CUDA device (and TRITON_INTERPRET is not set)", allow_module_level=True)
DEVICE = "cuda" if torch.cuda.is_available() and not INTERPRET else "cpu"
DTYPE = torch.bfloat16 if DEVICE == "cuda" else torch.float16
pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("rows,n,k", [(1, 300, 512), (1, 70, 96), (3, 70, 384), (8, 129, 256), (32, 33, 192),
                                      (64, 40, 128)])
def test_int8_products_equal_the_dequantized_product(rows, n, k):
    g = torch.Generator(device=DEVICE).manual_seed(rows * n)
    q, s = quantize(torch.randn(n, k, device=DEVICE, generator=g))
    x = torch.randn(rows, k, device=DEVICE, generator=g).to(DTYPE)
    want = x.float() @ dequantize(q, s, torch.float32).T
    got = tk.int8_linear(x, q, s)
    assert got.dtype == DTYPE and got.shape == (rows, n)
    assert tk._rel(got, want) < 1e-2


@pytest.mark.parametrize("B,nh,nkv,S,hd", [(1, 20, 2, 700, 256), (1, 40, 8, 513, 128), (3, 8, 2, 300, 64),
                                           (2, 5, 5, 70, 16), (32, 32, 8, 96, 64)])
def test_decode_attention_equals_masked_softmax(B, nh, nkv, S, hd):
    """The 14B's two head layouts (10 and 5 query heads per KV head), MHA, a batch, and
    positions anywhere in the buffer: slots past a sequence's position are never read."""
    g = torch.Generator(device=DEVICE).manual_seed(B * S)
    q = torch.randn(B, nh, 1, hd, device=DEVICE, generator=g).to(DTYPE)
    k = torch.randn(B, nkv, S, hd, device=DEVICE, generator=g).to(DTYPE)
    v = torch.randn(B, nkv, S, hd, device=DEVICE, generator=g).to(DTYPE)
    pos = torch.randint(0, S, (B,), device=DEVICE, generator=g)
    pos[0] = S - 1
    k[0, :, -1] = 0  # ...and a valid last slot is read
    mask = (torch.arange(S, device=DEVICE)[None] <= pos[:, None])[:, None, None]
    kk, vv = (t.float().repeat_interleave(nh // nkv, 1) for t in (k, v))
    scores = (q.float() @ kk.transpose(-1, -2)) * hd ** -0.5
    want = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1) @ vv
    if B > 1:  # garbage past the position must not leak in
        k[1, :, int(pos[1]) + 1:] = float("nan")
        v[1, :, int(pos[1]) + 1:] = float("nan")
    got = tk.decode_attention(q, k, v, pos, hd ** -0.5)
    assert got.shape == (B, nh, 1, hd) and got.dtype == DTYPE
    assert tk._rel(got, want) < 2e-2
