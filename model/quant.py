"""Weight-only int8: per-output-channel symmetric int8 weights, activations stay float.

Decode on CPU is bound by reading weights, so a quarter of the bytes is most of the speed-up;
decoding's few-row products run on model/kernels.py with fp32 activations. For prefill,
`torch._weight_int8pack_mm` is the fused kernel (int8 weights x float activations, scales applied
in the kernel). On CPU (torch 2.13) its bf16-activation path is vectorised and its fp32 path is
not (tens of times slower), so the int8 layers take bf16 inputs and hand fp32 back: the
residual stream, norms and attention stay in the model's dtype. Where the kernel is missing or
refuses a dtype we dequantize on the fly instead: slower, same function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import kernels

KERNEL_K_MULTIPLE = 16
_KERNEL_OK: dict[tuple[str, torch.dtype], bool] = {}


def quantize_rows(w: Tensor, block_rows: int = 4096) -> tuple[Tensor, Tensor]:
    """int8 rows and one scale per row (max |w| / 127), computed in fp32 a block of rows at a time
    so that quantizing a large matrix (the 133k-row head) needs little extra memory."""
    q = torch.empty(w.shape, dtype=torch.int8, device=w.device)
    scale = torch.empty(w.shape[0], dtype=torch.float32, device=w.device)
    for start in range(0, w.shape[0], block_rows):
        wf = w[start:start + block_rows].float()
        s = wf.abs().amax(dim=1).clamp_min(1e-12) / 127.0
        q[start:start + block_rows] = torch.clamp(torch.round(wf / s[:, None]), -127, 127)
        scale[start:start + block_rows] = s
    return q, scale


def _kernel_available(device: torch.device, dtype: torch.dtype) -> bool:
    """Probe `_weight_int8pack_mm` once per device type and dtype against the dequantized product."""
    key = (device.type, dtype)
    if key not in _KERNEL_OK:
        ok = False
        fn = getattr(torch, "_weight_int8pack_mm", None)
        if fn is not None:
            try:
                g = torch.Generator().manual_seed(0)
                x = torch.randn(3, 64, generator=g).to(device, dtype)
                q = torch.randint(-127, 128, (48, 64), generator=g, dtype=torch.int8).to(device)
                s = (torch.rand(48, generator=g) / 100).to(device, dtype)
                got = fn(x, q, s).float()
                want = x.float() @ (q.float() * s.float()[:, None]).T
                ok = bool(torch.allclose(got, want, rtol=2e-2, atol=2e-2))
            except (RuntimeError, TypeError, NotImplementedError):
                ok = False
        _KERNEL_OK[key] = ok
    return _KERNEL_OK[key]


def kernel_dtype(device: torch.device, compute_dtype: torch.dtype) -> torch.dtype | None:
    """Activation dtype for `_weight_int8pack_mm` on this device, or None to dequantize instead."""
    for dt in (torch.bfloat16, compute_dtype) if device.type == "cpu" else (compute_dtype, torch.bfloat16):
        if _kernel_available(device, dt):
            return dt
    return None


class Int8Linear(nn.Module):
    """y = x @ (q * scale)^T without materialising the float weight.

    Few rows of fp32 x on CPU (decoding) go to model/kernels.py (fp32 activations); more rows to
    `_weight_int8pack_mm` where it works (bf16 activations on CPU), else dequantize on the fly.
    """

    def __init__(self, qweight: Tensor, scale: Tensor, compute_dtype: torch.dtype) -> None:
        super().__init__()
        self.out_features, self.in_features = qweight.shape
        self.compute_dtype = compute_dtype
        # The CPU kernel crashes or returns garbage unless in_features is a multiple of 16.
        aligned = self.in_features % KERNEL_K_MULTIPLE == 0
        self.kernel_dtype = kernel_dtype(qweight.device, compute_dtype) if aligned else None
        self.use_kernel = self.kernel_dtype is not None
        self.register_buffer("qweight", qweight)
        self.register_buffer("scale", scale.float())  # fp32: what the decode kernels take
        self.register_buffer("kernel_scale", scale.to(self.kernel_dtype or compute_dtype), persistent=False)

    @classmethod
    def from_float(cls, weight: Tensor, compute_dtype: torch.dtype) -> "Int8Linear":
        q, s = quantize_rows(weight)
        return cls(q, s, compute_dtype)

    def forward(self, x: Tensor) -> Tensor:
        if kernels.usable(x, self.qweight):
            return kernels.gemv(x, self.qweight, self.scale)
        if self.use_kernel:
            shape = x.shape
            x2 = x.reshape(-1, self.in_features).to(self.kernel_dtype).contiguous()
            y = torch._weight_int8pack_mm(x2, self.qweight, self.kernel_scale)
            return y.view(*shape[:-1], self.out_features).to(x.dtype)
        return F.linear(x, self.qweight.to(x.dtype)) * self.scale.to(x.dtype)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, kernel_dtype={self.kernel_dtype}"


class Int8Embedding(nn.Module):
    """Row lookup that dequantizes only the rows it returns."""

    def __init__(self, qweight: Tensor, scale: Tensor, compute_dtype: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("qweight", qweight)
        self.register_buffer("scale", scale.to(compute_dtype))
        self.compute_dtype = compute_dtype

    def forward(self, ids: Tensor) -> Tensor:
        return F.embedding(ids, self.qweight).to(self.compute_dtype) * self.scale[ids][..., None]


def quantize_linears(model: nn.Module, compute_dtype: torch.dtype | None = None) -> nn.Module:
    """Replace every nn.Linear (and the embedding) by its int8 form, one at a time, in place.

    A tied head and embedding share one int8 matrix (their per-row scales coincide).
    """
    from .network import M1Model  # local: quant has no other reason to know the network

    if compute_dtype is None:
        compute_dtype = next(model.parameters()).dtype
    shared: dict[tuple, tuple[Tensor, Tensor]] = {}

    def quantized(weight: Tensor) -> tuple[Tensor, Tensor]:
        key = (weight.data_ptr(), tuple(weight.shape))
        if key not in shared:
            shared[key] = quantize_rows(weight)
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
