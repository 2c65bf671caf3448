"""CPU kernels for decoding (csrc/decode.c), compiled on first use and called via ctypes.

Decoding reads every weight once per token, and PyTorch's BLAS runs those one-row products on a
single core: on the 2-core bench machine a SmolLM2 decode step's matmuls read 16 GB/s through
MKL and 32 GB/s through these kernels, the machine's streaming read bandwidth. Rows of the
weight are split over PyTorch's own OpenMP threads (the library links the libgomp torch loaded).
Weights may be fp32, bf16 or int8 (scales per row or per group); accumulation is fp32. Around the
products, one layer's decode attention (fp32) and each RMSNorm are one call each.

The library is built once per source version with the system C compiler into
`$XDG_CACHE_HOME/m1-evidence/kernels/` (a second process finds it there). Without a compiler,
or switched off (`configure("off")`, which the app's `cpu_kernels` setting calls, or
`M1E_CPU_KERNELS=off`), every product goes through torch: slower decoding, the same results to
rounding. "avx2" or "c" caps the instruction set.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch
from torch import Tensor

log = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "csrc" / "decode.c"
FLAGS = ["-O3", "-fopenmp", "-ffp-contract=off", "-shared", "-fPIC", "-fno-strict-aliasing"]
# Up to this many rows the kernels beat PyTorch's matrix-matrix product (bench/runtime.py decode b8).
MAX_ROWS = 16
ISA_NAMES = ("c", "avx2", "avx512")

_lock = threading.Lock()
_state: dict[str, object] = {}


class KernelLibrary:
    """The compiled library's entry points, typed for ctypes; `isa` is the instruction set in use."""

    def __init__(self, path: Path, isa_limit: int = len(ISA_NAMES) - 1) -> None:
        lib = ctypes.CDLL(str(path))
        i64, ptr, c_int, c_float = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int, ctypes.c_float

        def bind(name: str, *argtypes):  # type: ignore[no-untyped-def]
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = list(argtypes), None
            return fn

        gemv = (ptr, i64, i64, ptr, i64, i64, ptr, i64, c_int, c_int)  # x, M, ldx, w, N, K, y, ldy, threads, isa
        self.f32 = bind("m1_gemv_f32", *gemv)
        self.bf16 = bind("m1_gemv_bf16", *gemv)
        self.q8 = bind("m1_gemv_q8", ptr, i64, i64, ptr, ptr, i64, i64, ptr, i64, c_int, c_int)
        self.q8g = bind("m1_gemv_q8g", ptr, i64, i64, ptr, ptr, i64, i64, i64, ptr, i64, c_int, c_int)
        self.attention = bind("m1_decode_attention", ptr, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr,
                              i64, i64, i64, c_float, ptr, ptr, c_int)
        self.dequant_q8 = bind("m1_dequant_q8", ptr, ptr, i64, i64, i64, i64, ptr, c_int)
        self.rms_norm = bind("m1_rms_norm", ptr, i64, i64, ptr, c_float, ptr)
        lib.m1_isa.argtypes, lib.m1_isa.restype = [c_int], c_int
        self.isa = lib.m1_isa(isa_limit)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "m1-evidence" / "kernels"


def _compiler() -> str | None:
    cc = os.environ.get("CC")
    return cc if cc and shutil.which(cc) else shutil.which("cc") or shutil.which("gcc")


def build() -> Path:
    """Compile the source once per (source, compiler, flags, machine); return the library path."""
    cc = _compiler()
    if cc is None:
        raise RuntimeError("no C compiler found (set CC, or install gcc)")
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join([cc, *FLAGS, platform.machine()]).encode()).hexdigest()[:16]
    name = f"decode-{key}.so"
    error: Exception | None = None
    for folder in (cache_dir(), Path(tempfile.gettempdir()) / f"m1-evidence-kernels-{os.getuid()}"):
        try:  # a read-only cache directory: build in the temporary directory instead
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = folder.stat()
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                raise PermissionError(f"{folder} is not this user's alone: a library there could be anyone's")
            if (folder / name).is_file():
                return folder / name
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".so.tmp")
            break
        except OSError as e:
            error = e
    else:
        raise RuntimeError(f"cannot write the kernel library anywhere: {error}")
    out = folder / name
    os.close(fd)
    try:
        proc = subprocess.run([cc, *FLAGS, str(SOURCE), "-o", tmp], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{cc} failed on {SOURCE.name}: {proc.stderr.strip()[-800:]}")
        os.replace(tmp, out)  # atomic: a concurrent build either finds the whole file or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def kernels() -> KernelLibrary | None:
    """The loaded kernels, or None (then callers use torch). Built and checked once per process."""
    if "kernels" not in _state:
        with _lock:
            if "kernels" not in _state:
                _state["kernels"] = _load()
    return _state["kernels"]  # type: ignore[return-value]


def configure(setting: str) -> None:
    """Choose the kernels for this process: "on" (the best instruction set), "avx2", "c" or "off".
    Overrides M1E_CPU_KERNELS; takes effect at the next load (a changed choice reloads)."""
    setting = setting.strip().lower()
    if setting not in ("on", "off", *ISA_NAMES):
        raise ValueError(f"CPU kernel setting must be on, off, avx2 or c; got {setting!r}")
    with _lock:
        if _state.get("setting") != setting:
            _state.clear()
            _state["setting"] = setting


def _load() -> KernelLibrary | None:
    setting = str(_state.get("setting") or os.environ.get("M1E_CPU_KERNELS", "")).strip().lower()
    if setting in ("0", "off", "false", "no"):
        _state["reason"] = f"off ({'M1E_CPU_KERNELS' if 'setting' not in _state else 'cpu_kernels'}={setting})"
        return None
    limit = ISA_NAMES.index(setting) if setting in ISA_NAMES else len(ISA_NAMES) - 1
    try:
        lib = KernelLibrary(build(), limit)
        self_check(lib)
    except Exception as e:  # noqa: BLE001 - any failure means: fall back to torch, and say why
        _state["reason"] = f"unavailable: {e}"
        log.warning("CPU decode kernels unavailable (%s); using torch matmul, decoding is slower", e)
        return None
    _state["reason"] = f"on ({ISA_NAMES[lib.isa]})"
    return lib


def self_check(k: KernelLibrary) -> None:
    """Refuse a library that computes something else (a miscompile, a wrong ABI)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 37, generator=g)
    w = torch.randn(45, 37, generator=g)
    q = torch.randint(-127, 128, (45, 37), generator=g, dtype=torch.int8)
    s = torch.rand(45, generator=g)
    sg = torch.rand(45, 2, generator=g)  # two groups of 16 over the first 32 columns
    want_f32, want_q8 = x @ w.T, (x @ q.float().T) * s
    want_q8g = x[:, :32] @ (q[:, :32].float() * sg.repeat_interleave(16, dim=1)).T
    got_f32, got_q8, got_q8g = torch.empty(3, 45), torch.empty(3, 45), torch.empty(3, 45)
    k.f32(x.data_ptr(), 3, 37, w.data_ptr(), 45, 37, got_f32.data_ptr(), 45, 2, k.isa)
    k.q8(x.data_ptr(), 3, 37, q.data_ptr(), s.data_ptr(), 45, 37, got_q8.data_ptr(), 45, 2, k.isa)
    q32 = q[:, :32].contiguous()
    k.q8g(x.data_ptr(), 3, 37, q32.data_ptr(), sg.data_ptr(), 4, 45, 32, got_q8g.data_ptr(), 45, 2, k.isa)
    close = [torch.allclose(got_f32, want_f32, atol=1e-4), torch.allclose(got_q8, want_q8, rtol=1e-4, atol=1e-3),
             torch.allclose(got_q8g, want_q8g, rtol=1e-4, atol=1e-3)]
    if not all(close):
        raise RuntimeError("self-check failed: results differ from torch")


def status() -> str:
    """For logs and `m1e info`: "on (avx512)", "off (...)" or "unavailable: <why>"."""
    kernels()
    return str(_state.get("reason", "not loaded"))


_DTYPES = {(torch.float32, torch.float32), (torch.float32, torch.int8), (torch.bfloat16, torch.bfloat16)}


def usable(x: Tensor, weight: Tensor) -> bool:
    """Whether x @ weight.T can go to the kernels: few rows on CPU, a row-major weight, and fp32 x
    with an fp32 or int8 weight, or bf16 x with a bf16 weight."""
    return (
        x.device.type == "cpu"
        and (x.dtype, weight.dtype) in _DTYPES
        and x.numel() <= MAX_ROWS * weight.shape[1]
        and weight.is_contiguous()
        and kernels() is not None
    )


def gemv(x: Tensor, weight: Tensor, scale: Tensor | None = None) -> Tensor:
    """x [..., K] @ weight [N, K].T, accumulated in fp32. An int8 weight takes its fp32 `scale`:
    [N, 1] per row, or [N, K / G] per group of G consecutive weights (G a power of two, K a
    multiple of G and of 8). bf16 in, bf16 out (rounded once, at the end, as torch's matmul)."""
    k = kernels()
    assert k is not None, "call usable() first"
    N, K = weight.shape
    x2 = x if x.ndim == 2 else x.reshape(-1, K)
    if x2.dtype != torch.float32:
        x2 = x2.float()  # exact for bf16
    elif x2.stride(1) != 1:
        x2 = x2.contiguous()
    M = x2.shape[0]
    y = torch.empty(M, N, dtype=torch.float32)
    threads = torch.get_num_threads()
    if scale is None:  # fp32 or bf16 weights
        fn = k.f32 if weight.dtype == torch.float32 else k.bf16
        fn(x2.data_ptr(), M, x2.stride(0), weight.data_ptr(), N, K, y.data_ptr(), N, threads, k.isa)
        if x.dtype != torch.float32:
            y = y.to(x.dtype)
    elif scale.shape[-1] == 1:
        k.q8(x2.data_ptr(), M, x2.stride(0), weight.data_ptr(), scale.data_ptr(), N, K, y.data_ptr(), N,
             threads, k.isa)
    else:
        gshift = (K // scale.shape[-1]).bit_length() - 1
        k.q8g(x2.data_ptr(), M, x2.stride(0), weight.data_ptr(), scale.data_ptr(), gshift, N, K, y.data_ptr(),
              N, threads, k.isa)
    return y if x.ndim == 2 else y.view(*x.shape[:-1], N)


def dequantize_rows(q: Tensor, scale: Tensor, n0: int, n1: int, out: Tensor) -> Tensor | None:
    """fp32 rows n0..n1 of an int8 matrix q [N, K] with scales [N, groups], written into `out`
    (fp32, at least (n1 - n0) * K elements) and returned as [n1 - n0, K]; None without kernels."""
    k = kernels()
    if k is None or q.device.type != "cpu" or not (q.is_contiguous() and scale.is_contiguous()):
        return None
    out = out.view(-1)[: (n1 - n0) * q.shape[1]].view(n1 - n0, q.shape[1])
    k.dequant_q8(q.data_ptr(), scale.data_ptr(), scale.shape[1], q.shape[1], n0, n1, out.data_ptr(),
                 torch.get_num_threads())
    return out


def norm_usable(x: Tensor) -> bool:
    """Whether rms_norm can take x: a few contiguous fp32 rows on CPU (decoding)."""
    return (
        x.dtype == torch.float32
        and x.device.type == "cpu"
        and x.numel() <= MAX_ROWS * x.shape[-1]
        and x.is_contiguous()
        and kernels() is not None
    )


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """RMSNorm of x [..., K] (see norm_usable) with fp32 weight [K]."""
    k = kernels()
    assert k is not None, "call norm_usable() first"
    y = torch.empty_like(x)
    K = x.shape[-1]
    k.rms_norm(x.data_ptr(), x.numel() // K, K, weight.data_ptr(), eps, y.data_ptr())
    return y


MAX_HEAD_DIM = 512  # the attention kernel's per-head scratch


def attention_usable(qkv: Tensor, head_dim: int) -> bool:
    """Whether one layer's decode attention can run as one kernel call (see Cache.decode_attention)."""
    return (
        qkv.dtype == torch.float32
        and qkv.device.type == "cpu"
        and qkv.ndim == 2
        and qkv.is_contiguous()
        and head_dim % 2 == 0
        and head_dim <= MAX_HEAD_DIM
        and kernels() is not None
    )


def decode_attention(qkv: Tensor, n_heads: int, n_kv: int, head_dim: int, taps_k: Tensor, taps_v: Tensor,
                     conv_k: Tensor, conv_v: Tensor, cos: Tensor, sin: Tensor, cache_k: Tensor, cache_v: Tensor,
                     slot: int, n_keys: int) -> Tensor:
    """conv + RoPE + cache write + attention for one new token per sequence; returns [B, n_heads*hd].

    Every tensor must be contiguous fp32 on CPU; conv_k/conv_v and cache_k/cache_v are updated in place.
    """
    k = kernels()
    assert k is not None, "call attention_usable() first"
    B = qkv.shape[0]
    threads = torch.get_num_threads()
    scores = torch.empty(threads * n_keys, dtype=torch.float32)
    out = torch.empty(B, n_heads * head_dim, dtype=torch.float32)
    k.attention(qkv.data_ptr(), B, n_heads, n_kv, head_dim, taps_k.data_ptr(), taps_v.data_ptr(), conv_k.data_ptr(),
                conv_v.data_ptr(), cos.data_ptr(), sin.data_ptr(), cache_k.data_ptr(), cache_v.data_ptr(),
                cache_k.shape[2], slot, n_keys, head_dim ** -0.5, scores.data_ptr(), out.data_ptr(), threads)
    return out
