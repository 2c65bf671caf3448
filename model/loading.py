"""Load an M1-layout checkpoint (config.json + safetensors, one file or shards with an index).

The module is built on the meta device and each tensor is read, cast and put in place one at a
time, so a checkpoint never needs two copies in memory. Tensors are read with plain file reads
into their final buffers rather than through a memory map: a mapped file's touched pages count
as the process's resident memory until it is closed, which doubled the measured peak. The head
is L2-normalised here, once, in the run dtype.
"""

from __future__ import annotations

import ctypes
import json
import math
import sys
from pathlib import Path
from typing import BinaryIO, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import kernels
from .config import M1Config
from .network import M1Model
from .quant import Int8Linear, quantize_linears

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)
DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


class CheckpointError(ValueError):
    """The checkpoint directory does not hold what config.json says; the message names the file/tensor."""


SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
MAX_HEADER_BYTES = 100 * 2**20


class SafetensorsFile:
    """The header of one .safetensors file, and reads of single tensors from it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < n <= min(size - 8, MAX_HEADER_BYTES):
                raise CheckpointError(f"{path.name} is not a safetensors file (bad header length)")
            try:
                header = json.loads(f.read(n))
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise CheckpointError(f"{path.name} is not a safetensors file (header is not JSON)") from None
        if not isinstance(header, dict):
            raise CheckpointError(f"{path.name} is not a safetensors file (header is not an object)")
        self.data_start = 8 + n
        self.entries: dict[str, dict] = {}
        for name, e in header.items():
            if name == "__metadata__":
                continue
            try:
                shape = [int(d) for d in e["shape"]]
                begin, end = (int(o) for o in e["data_offsets"])
                dtype = str(e["dtype"])
            except (KeyError, TypeError, ValueError):
                raise CheckpointError(f"{path.name}: malformed header entry for tensor '{name}'") from None
            if self.data_start + end > size or begin < 0 or end < begin:
                raise CheckpointError(f"{path.name}: tensor '{name}' lies beyond the end of the file (truncated?)")
            self.entries[name] = {"shape": shape, "begin": begin, "end": end, "dtype": dtype}

    def keys(self) -> list[str]:
        return list(self.entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.entries[name]["shape"])

    def read(self, name: str, f: BinaryIO) -> torch.Tensor:
        e = self.entries[name]
        dtype = SAFETENSORS_DTYPES.get(e["dtype"])
        if dtype is None:
            raise CheckpointError(f"tensor '{name}' in {self.path.name} has dtype {e['dtype']}; expected a float type")
        t = torch.empty(e["shape"], dtype=dtype)
        nbytes = t.numel() * t.element_size()
        if nbytes != e["end"] - e["begin"] or math.prod(e["shape"]) != t.numel():
            raise CheckpointError(f"tensor '{name}' in {self.path.name}: size does not match its shape and dtype")
        if nbytes:
            f.seek(self.data_start + e["begin"])
            view = memoryview(t.view(-1).view(torch.uint8).numpy())
            got = f.readinto(view)
            if got != nbytes:
                raise CheckpointError(f"tensor '{name}' in {self.path.name}: file ended early (truncated?)")
        return t


def resolve_dtype(dtype: torch.dtype | str) -> tuple[torch.dtype, bool]:
    """(compute dtype, int8 weights?)"""
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"unsupported dtype {dtype}; use float32, bfloat16, float16 or 'int8'")
        return dtype, False
    name = str(dtype).lower().removeprefix("torch.")
    if name == "int8":
        return torch.float32, True
    if name not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; use float32, bfloat16, float16 or 'int8'")
    return DTYPES[name], False


def weight_files(path: Path) -> dict[str, Path]:
    """tensor name -> file, from the index's weight_map (never guessed) or the single file."""
    index = path / INDEX_FILE
    if index.is_file():
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{index} is not valid JSON: {e}") from None
        wmap = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(wmap, dict) or not wmap or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in wmap.items()
        ):
            raise CheckpointError(f"{index} has no usable 'weight_map' (tensor name -> shard file)")
        files = {}
        for name, shard in wmap.items():
            f = path / shard
            if Path(shard).is_absolute() or ".." in Path(shard).parts:
                raise CheckpointError(f"{index}: shard name {shard!r} for '{name}' leaves the checkpoint directory")
            if not f.is_file():
                raise CheckpointError(f"{index}: shard {shard!r} (holding '{name}') is missing from {path}")
            files[name] = f
        return files
    single = path / SINGLE_FILE
    if single.is_file():
        return {name: single for name in SafetensorsFile(single).keys()}
    raise CheckpointError(f"{path} has neither {INDEX_FILE} nor {SINGLE_FILE}")


def _set_tensor(module: nn.Module, name: str, value: torch.Tensor) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    setattr(parent, attr, nn.Parameter(value, requires_grad=False))


def _find_malloc_trim():
    try:
        return getattr(ctypes.CDLL("libc.so.6"), "malloc_trim", None) if sys.platform.startswith("linux") else None
    except OSError:  # not glibc
        return None


_MALLOC_TRIM = _find_malloc_trim()


def release_freed_memory() -> None:
    """Give memory freed by load-time copies back to the OS.

    glibc keeps freed heap blocks for reuse; after the layout copies of a load that showed as
    100-300 MB of extra, run-to-run varying resident memory for SmolLM2 (measured peak after
    load: 841-1039 MB without this, 826 MB with it, every run)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def column_major(weight: torch.Tensor) -> torch.Tensor:
    """The same [out, in] matrix, stored column-major ([in, out] contiguous underneath).

    Decoding multiplies every matrix by one token's vector, and on CPU MKL's matrix-vector
    product reads a matrix twice as fast in this layout (measured, 2 threads: SmolLM2's 49152x576
    head 9.9 ms -> 5.2 ms; a whole decode step's matmuls 44 ms -> 31 ms). Prefill's
    matrix-matrix products take the same time either way; values and shapes are unchanged.
    """
    if weight.ndim != 2 or weight.t().is_contiguous():
        return weight
    return weight.t().contiguous().t()


def load_model(path: str | Path, dtype: torch.dtype | str = torch.float32, device: str | torch.device = "cpu") -> M1Model:
    """Read config.json and the weights; return the network in eval mode on `device`.

    dtype: float32 / bfloat16 / float16, or "int8" for weight-only int8 linear layers and
    embedding (the rest in float32 on CPU, bfloat16 on CUDA; see model/quant.py).
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    config = M1Config.from_dir(path)
    compute_dtype, int8 = resolve_dtype(dtype)
    device = torch.device(device)
    if int8 and device.type == "cuda":
        compute_dtype = torch.bfloat16
    files = weight_files(path)

    with torch.device("meta"):
        model = M1Model(config)
    expected = {name: tuple(p.shape) for name, p in model.named_parameters()}
    tied = config.tie_word_embeddings and "lm_head.weight" not in files
    if tied:
        expected.pop("lm_head.weight")
    names = [n for n in files if not n.endswith(IGNORED_SUFFIXES)]
    _check_names(path, files, names, expected)

    # int8: quantize each linear weight as it arrives, so the float copy never accumulates.
    linear_weights = {f"{n}.weight": n for n, m in model.named_modules()
                      if isinstance(m, nn.Linear) and n != "lm_head"} if int8 else {}
    # Float on CPU without the decode kernels (model/kernels.py; they take fp32 and bf16): store
    # each matrix column-major as it arrives (see column_major); the embedding too when it
    # doubles as the head. The kernels read the checkpoint's row-major layout.
    column_major_names = set()
    with_kernels = compute_dtype in (torch.float32, torch.bfloat16) and kernels.kernels() is not None
    if not int8 and device.type == "cpu" and not with_kernels:
        column_major_names = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        if tied and not config.lm_head_normalized:
            column_major_names.add("model.embed_tokens.weight")
    by_file: dict[Path, list[str]] = {}
    for n in names:
        by_file.setdefault(files[n], []).append(n)
    for file, tensor_names in by_file.items():
        for n, t in _read_file(file, tensor_names, expected, device, compute_dtype):
            if n in column_major_names:
                t = column_major(t)
                release_freed_memory()  # the row-major read buffer
            if n in linear_weights:
                parent, _, attr = linear_weights[n].rpartition(".")
                setattr(model.get_submodule(parent), attr, Int8Linear.from_float(t, compute_dtype))
                del t
                # The float read buffer: without this, int8 loads of SmolLM2 peaked at 575 MB
                # in some runs and 1110 MB in others.
                release_freed_memory()
            else:
                _set_tensor(model, n, t)
                del t
    _finish(model, config, tied, int8, compute_dtype, head_column_major=bool(column_major_names))
    return model


def _check_names(path: Path, files: dict[str, Path], names: list[str], expected: dict[str, tuple]) -> None:
    """Every tensor the network needs is in the checkpoint, and nothing else is."""
    unexpected = sorted(set(names) - set(expected))
    if unexpected:
        raise CheckpointError(
            f"{path}: unexpected tensor '{unexpected[0]}' in {files[unexpected[0]].name}"
            + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else "")
            + " - not part of the M1 network described by config.json"
        )
    missing = sorted(set(expected) - set(names))
    if missing:
        hint = " (config says tie_word_embeddings=false)" if missing[0] == "lm_head.weight" else ""
        raise CheckpointError(
            f"{path}: tensor '{missing[0]}' is missing{hint}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )


def _read_file(file: Path, tensor_names: list[str], expected: dict[str, tuple], device: torch.device,
               dtype: torch.dtype) -> Iterator[tuple[str, Tensor]]:
    """The named tensors of one safetensors file, one at a time, shape-checked, on `device`."""
    st = SafetensorsFile(file)
    with open(file, "rb") as fh:
        for n in tensor_names:
            if n not in st.entries:
                raise CheckpointError(f"tensor '{n}' is listed in the index for {file.name} but is not in that file")
            shape = st.shape(n)
            if shape != expected[n]:
                raise CheckpointError(
                    f"tensor '{n}' in {file.name} has shape {list(shape)}; config.json implies {list(expected[n])}"
                )
            yield n, st.read(n, fh).to(device=device, dtype=dtype)


def _finish(model: M1Model, config: M1Config, tied: bool, int8: bool, dtype: torch.dtype, head_column_major: bool) -> None:
    """The head (normalised per row when the config says so), int8 head/embedding, fused MLPs."""
    head = model.model.embed_tokens.weight if tied else model.lm_head.weight
    if config.lm_head_normalized:
        # A fresh tensor, so the embedding stays raw; laid out like the other matrices.
        out = column_major(torch.empty_like(head)) if head_column_major else None
        head = F.normalize(head, p=2.0, dim=-1, eps=1e-12, out=out)
    model.lm_head.weight = nn.Parameter(head, requires_grad=False)
    if int8:
        quantize_linears(model, dtype)  # the head and the embedding
    for layer in model.model.layers:
        layer.mlp.fuse()
        release_freed_memory()  # the separate gate and up matrices
    model.eval()
