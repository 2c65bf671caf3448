"""Weight-only int8: symmetric int8 weights with one fp32 scale per group of 64 (or 32) weights
of a row, activations stay float.

Decoding on CPU is bound by reading weights, so a quarter of the bytes is most of the speed-up;
decoding's few-row products run on model/kernels.py, fp32 activations times the int8 weights and
their group scales. Longer inputs (prefill) dequantize a block of rows at a time and use torch's
matmul. Groups rather than one scale per row: on SmolLM2 teacher-forced logits moved by at most
1.1 instead of 1.8 against fp32, and greedy text kept to fp32's for 18 tokens instead of 4.
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import kernels, triton_kernels

GROUP_SIZES = (64, 32)  # the first that divides a row; else one scale for the whole row


def group_size(in_features: int) -> int:
    return next((g for g in GROUP_SIZES if in_features % g == 0), in_features)


def quantize(w: Tensor, block_rows: int = 4096) -> tuple[Tensor, Tensor]:
    """int8 weights [N, K] and fp32 scales [N, K / group] (max |w| of the group / 127), computed
    in fp32 a block of rows at a time so that the 133k-row head needs little extra memory."""
    N, K = w.shape
    G = group_size(K)
    q = torch.empty(w.shape, dtype=torch.int8, device=w.device)
    scale = torch.empty(N, K // G, dtype=torch.float32, device=w.device)
    for start in range(0, N, block_rows):
        wf = w[start:start + block_rows].float().view(-1, K // G, G)
        s = wf.abs().amax(dim=2).clamp_min(1e-12) / 127.0
        q[start:start + block_rows] = torch.clamp(torch.round(wf / s[..., None]), -127, 127).view(-1, K)
        scale[start:start + block_rows] = s
    return q, scale


def dequantize(q: Tensor, scale: Tensor, dtype: torch.dtype) -> Tensor:
    """The float weights [..., K] that int8 rows q [..., K] and their group scales stand for."""
    K, groups = q.shape[-1], scale.shape[-1]
    w = q.to(dtype).view(*q.shape[:-1], groups, K // groups) * scale.to(dtype)[..., None]
    return w.view(q.shape)


DEQUANT_BLOCK_FLOATS = 2**21  # 8 MB of fp32 weights at a time: in L3, and a bounded extra
_scratch = threading.local()  # per thread: the block buffer, reused (a fresh one costs page faults)


def linear_dequantized(x: Tensor, q: Tensor, scale: Tensor) -> Tensor:
    """x @ dequantize(q, scale).T, a block of weight rows at a time, so that the float matrix never
    exists whole (the 14B's fp32 head would be 2.7 GB)."""
    N, K = q.shape
    block = min(N, max(64, DEQUANT_BLOCK_FLOATS // K))
    out = torch.empty(*x.shape[:-1], N, dtype=x.dtype, device=x.device)
    buf = None
    if x.dtype == torch.float32 and x.device.type == "cpu":
        buf = getattr(_scratch, "buf", None)
        if buf is None or buf.numel() < block * K:
            buf = _scratch.buf = torch.empty(block * K, dtype=torch.float32)
    for n0 in range(0, N, block):
        n1 = min(N, n0 + block)
        w = kernels.dequantize_rows(q, scale, n0, n1, buf) if buf is not None else None
        if w is None:
            w = dequantize(q[n0:n1], scale[n0:n1], x.dtype)
        out[..., n0:n1] = F.linear(x, w)
    return out


class Int8Linear(nn.Module):
    """y = x @ dequantize(q, scale)^T: few fp32 rows on CPU (decoding) through the kernels, without
    materialising the float weight; otherwise one matrix is dequantized for torch's matmul."""

    def __init__(self, qweight: Tensor, scale: Tensor, compute_dtype: torch.dtype) -> None:
        super().__init__()
        self.out_features, self.in_features = qweight.shape
        self.compute_dtype = compute_dtype
        self.register_buffer("qweight", qweight)
        self.register_buffer("scale", scale.float().reshape(self.out_features, -1))

    @classmethod
    def from_float(cls, weight: Tensor, compute_dtype: torch.dtype) -> "Int8Linear":
        q, s = quantize(weight)
        return cls(q, s, compute_dtype)

    def forward(self, x: Tensor) -> Tensor:
        if torch.compiler.is_compiling():
            # Inductor fuses the dequantization into the product (model/decoding.py turns on
            # the coordinate-descent tuning that makes one-row products fused reductions).
            return F.linear(x, dequantize(self.qweight, self.scale, x.dtype))
        if kernels.usable(x, self.qweight):
            return kernels.gemv(x, self.qweight, self.scale)
        if x.is_cuda and triton_kernels.usable(x, self.qweight, self.scale):
            return triton_kernels.int8_linear(x, self.qweight, self.scale)
        return linear_dequantized(x, self.qweight, self.scale)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, group={self.in_features // self.scale.shape[1]}"


class Int8Embedding(nn.Module):
    """Row lookup that dequantizes only the rows it returns."""

    def __init__(self, qweight: Tensor, scale: Tensor, compute_dtype: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("qweight", qweight)
        self.register_buffer("scale", scale.float().reshape(qweight.shape[0], -1))
        self.compute_dtype = compute_dtype

    def forward(self, ids: Tensor) -> Tensor:
        return dequantize(F.embedding(ids, self.qweight), self.scale[ids], self.compute_dtype)


def quantize_linears(model: nn.Module, compute_dtype: torch.dtype | None = None) -> nn.Module:
    """Replace every nn.Linear (and the embedding) by its int8 form, one at a time, in place.

    A tied head and embedding share one int8 matrix and its scales.
    """
    from .network import M1Model  # local: quant has no other reason to know the network

    if compute_dtype is None:
        compute_dtype = next(model.parameters()).dtype
    shared: dict[tuple, tuple[Tensor, Tensor]] = {}

    def quantized(weight: Tensor) -> tuple[Tensor, Tensor]:
        key = (weight.data_ptr(), tuple(weight.shape))
        if key not in shared:
            shared[key] = quantize(weight)
        return shared[key]

    if isinstance(model, M1Model):
        emb = model.model.embed_tokens
        q, s = quantized(emb.weight)
        model.model.embed_tokens = Int8Embedding(q, s, compute_dtype)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                if child.bias is not None:
                    raise ValueError(f"int8 linear supports no bias ({name})")
                q, s = quantized(child.weight)
                setattr(parent, name, Int8Linear(q, s, compute_dtype))
    shared.clear()
    return model
