"""The bundled M1 runtime as a generator: one model per process, shared by every request.

The checkpoint is `settings.checkpoint`, or the demo SmolLM2-135M-Instruct imported once into
the models directory. The demo model is labelled as such wherever its answers appear.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.generators.base import AnswerGenerator, GenerationError, GenerationRequest


@dataclass
class LocalRuntime:
    checkpoint: Path
    model: Any
    tokenizer: Any
    generator: Any
    display_name: str
    is_demo: bool
    context_length: int


_RUNTIMES: dict[tuple[str, str, str], LocalRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def checkpoint_facts(checkpoint: Path) -> tuple[str, bool]:
    """(display name, is demo) from the checkpoint's config.json, without loading weights."""
    try:
        config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return checkpoint.name, False
    name = str(config.get("display_name") or checkpoint.name)
    return name, bool(config.get("demo_model", False))


def resolve_checkpoint(settings) -> Path:  # type: ignore[no-untyped-def]
    if settings.checkpoint is not None:
        path = Path(settings.checkpoint).expanduser()
        if not (path / "config.json").is_file():
            raise GenerationError(f"checkpoint {path}: no config.json there (M1E_CHECKPOINT / checkpoint setting)")
        return path
    try:
        from model import ensure_demo_checkpoint
    except ImportError as exc:  # the runtime is not installed / not built yet
        raise GenerationError(f"the local model runtime is unavailable: {exc}") from exc
    try:
        return Path(ensure_demo_checkpoint(settings.resolved_models_dir))
    except Exception as exc:  # noqa: BLE001 - report why the demo model could not be prepared
        raise GenerationError(f"cannot prepare the demo model in {settings.resolved_models_dir}: {exc}") from exc


def shared_runtime(settings) -> LocalRuntime:  # type: ignore[no-untyped-def]
    """Load (once per process) the model, tokenizer and generator for these settings."""
    checkpoint = resolve_checkpoint(settings)
    key = (str(checkpoint.resolve()), settings.dtype, settings.device, settings.decode)
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is not None:
            return runtime
        try:
            import torch

            from model import Generator, kernels, load_model, load_tokenizer

            if settings.threads:
                torch.set_num_threads(settings.threads)
            kernels.configure(settings.cpu_kernels)
            model = load_model(checkpoint, dtype=settings.dtype, device=settings.device)
            tokenizer = load_tokenizer(checkpoint)
        except GenerationError:
            raise
        except Exception as exc:  # noqa: BLE001 - one clear line naming the checkpoint
            raise GenerationError(f"cannot load the checkpoint {checkpoint}: {exc}") from exc
        name, demo = checkpoint_facts(checkpoint)
        from model.decoding import decoder_for

        generator = Generator(model, tokenizer, decoder=decoder_for(model, settings.decode))
        runtime = LocalRuntime(
            checkpoint=checkpoint,
            model=model,
            tokenizer=tokenizer,
            generator=generator,
            display_name=name,
            is_demo=demo,
            context_length=int(generator.context_length),
        )
        _RUNTIMES[key] = runtime
        return runtime


def demo_label(display_name: str, is_demo: bool) -> str:
    """The name shown for a checkpoint; a demo model always says it is one."""
    if is_demo and "demo" not in display_name.lower():
        return f"{display_name} (demo model, not a clinical model)"
    return display_name


def loaded_runtimes() -> list[LocalRuntime]:
    with _RUNTIMES_LOCK:
        return list(_RUNTIMES.values())


class LocalGenerator(AnswerGenerator):
    name = "local"

    def __init__(self, settings) -> None:  # type: ignore[no-untyped-def]
        self.settings = settings
        self._runtime: LocalRuntime | None = None

    @property
    def runtime(self) -> LocalRuntime:
        if self._runtime is None:
            self._runtime = shared_runtime(self.settings)
        return self._runtime

    @property
    def label(self) -> str:
        return demo_label(self.runtime.display_name, self.runtime.is_demo)

    @property
    def is_demo(self) -> bool:
        return self.runtime.is_demo

    @property
    def context_tokens(self) -> int:
        limit = self.runtime.context_length
        if self.settings.context_tokens:
            limit = min(limit, int(self.settings.context_tokens))
        return limit

    def count_tokens(self, text: str) -> int:
        return int(self.runtime.tokenizer.count(text))

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return str(self.runtime.tokenizer.render_chat(messages, add_generation_prompt=True))

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[str]:
        from model import GenerationParams

        runtime = self.runtime
        prompt_ids = list(runtime.tokenizer.encode_chat(request.messages))
        # The checkpoint's own generation defaults (e.g. repetition penalty), then ours on top.
        params = GenerationParams.from_checkpoint(
            runtime.checkpoint,
            max_new_tokens=request.max_new_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
        )
        stream = runtime.generator.stream(prompt_ids, params, cancel)
        yield from stream
        if stream.result is not None:
            request.finish_reason = stream.result.finish_reason


DEMO_DIR_NAME = "smollm2-135m-instruct"


def describe_local(settings) -> "GeneratorStatus":  # type: ignore[no-untyped-def]
    """The local generator's status from files alone: nothing is imported or loaded."""
    from app.schema import GeneratorStatus

    if settings.checkpoint is not None:
        checkpoint = Path(settings.checkpoint).expanduser()
        name, demo = checkpoint_facts(checkpoint)
    else:
        checkpoint = settings.resolved_models_dir / DEMO_DIR_NAME
        if (checkpoint / "config.json").is_file():
            name, demo = checkpoint_facts(checkpoint)
        else:
            name, demo = "SmolLM2-135M-Instruct (demo model, imported on first use)", True
    loaded = any(r.checkpoint.resolve() == checkpoint.resolve() for r in loaded_runtimes())
    detail = str(checkpoint)
    kernels = sys.modules.get("model.kernels")  # only once a model ran: never imports torch here
    if loaded and kernels is not None and settings.device == "cpu":
        detail += f"; CPU decode kernels {kernels.status()}"
    for r in loaded_runtimes() if loaded else ():
        decoder = getattr(r.generator, "decoder", None)
        if decoder is not None and r.checkpoint.resolve() == checkpoint.resolve():
            detail += f"; decoding with {decoder.mode}"
    return GeneratorStatus(name="local", label=demo_label(name, demo), is_demo=demo, loaded=loaded, detail=detail)
