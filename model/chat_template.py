"""Chat prompts: the checkpoint's own Jinja template when it has one, else the M1 role tokens.

Checkpoint templates are untrusted text, so they run in Jinja's immutable sandbox.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Mapping

# Baichuan-M1 role tokens: a message is its role token followed directly by its content, with no
# separators and no end-of-turn token; a generation prompt is a trailing assistant token.
M1_ROLE_TOKENS = {
    "system": "<B_SYS>",
    "user_system": "<B_USYS>",
    "user": "<C_Q>",
    "assistant": "<C_A>",
    "function": "<B_FUNC>",
    "code": "<B_CODE>",
}
M1_GENERATION_PROMPT = M1_ROLE_TOKENS["assistant"]


class ChatTemplateError(ValueError):
    """A message list or a template that cannot be rendered; the message says which part."""


def normalize_messages(messages: Iterable[Any]) -> list[dict[str, str]]:
    """Accept dicts or objects with role/content attributes; return plain dicts, checked."""
    out: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        if isinstance(m, Mapping):
            role, content = m.get("role"), m.get("content")
        else:
            role, content = getattr(m, "role", None), getattr(m, "content", None)
        if not isinstance(role, str) or not role:
            raise ChatTemplateError(f"message {i} has no role")
        if not isinstance(content, str):
            raise ChatTemplateError(f"message {i} ({role}) content must be text, got {type(content).__name__}")
        out.append({"role": role, "content": content})
    return out


def render_m1(messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The built-in Baichuan-M1 template: `<B_SYS>system<C_Q>user<C_A>`."""
    parts = []
    for i, m in enumerate(messages):
        token = M1_ROLE_TOKENS.get(m["role"])
        if token is None:
            raise ChatTemplateError(
                f"message {i} has role {m['role']!r}; the M1 template knows {', '.join(M1_ROLE_TOKENS)}")
        parts.append(token + m["content"])
    if add_generation_prompt:
        parts.append(M1_GENERATION_PROMPT)
    return "".join(parts)


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(f"chat template refused the messages: {message}")


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=16)
def _compile(template: str) -> Any:
    from jinja2 import TemplateSyntaxError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    try:
        return env.from_string(template)
    except TemplateSyntaxError as e:
        raise ChatTemplateError(f"chat template does not parse (line {e.lineno}): {e.message}") from None


def render_jinja(template: str, messages: list[dict[str, str]], add_generation_prompt: bool = True,
                 special_tokens: Mapping[str, str] | None = None) -> str:
    """Render a Hugging Face style chat template (the variables transformers passes)."""
    from jinja2.exceptions import SecurityError, TemplateError

    compiled = _compile(template)
    try:
        return compiled.render(messages=messages, add_generation_prompt=add_generation_prompt,
                               tools=None, documents=None, **dict(special_tokens or {}))
    except ChatTemplateError:
        raise
    except SecurityError as e:
        raise ChatTemplateError(f"chat template tried an unsafe operation: {e}") from None
    except TemplateError as e:
        raise ChatTemplateError(f"chat template failed: {e}") from None
