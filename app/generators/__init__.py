"""Answer generators: `extractive` (no model), `local` (the M1 runtime), `openai` (a server)."""

from __future__ import annotations

from app.generators.base import AnswerGenerator, GenerationError, GenerationRequest

GENERATOR_NAMES = ("extractive", "local", "openai")


def make_generator(name: str, settings) -> AnswerGenerator:  # type: ignore[no-untyped-def]
    """Build the named generator from settings; heavy state (models) is loaded lazily and shared."""
    if name == "extractive":
        from app.generators.extractive import ExtractiveGenerator

        return ExtractiveGenerator()
    if name == "local":
        from app.generators.local import LocalGenerator

        return LocalGenerator(settings)
    if name == "openai":
        from app.generators.openai import OpenAIGenerator

        return OpenAIGenerator(settings)
    raise ValueError(f"unknown generator {name!r}: choose one of {', '.join(GENERATOR_NAMES)}")


__all__ = ["AnswerGenerator", "GenerationError", "GenerationRequest", "GENERATOR_NAMES", "make_generator"]
