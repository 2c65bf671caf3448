"""Follow-up questions: "and in pregnancy?" is answered as a standalone question built from the
conversation, shown to the user ("Answering: ..."), then answered with fresh retrieval.

With a language model (the local or openai generator: `uses_prompt`), the model rewrites the
question: a short fixed prompt with the earlier questions and the new one, temperature 0, at most
`REWRITE_MAX_NEW_TOKENS` tokens. Its reply is used only when it passes `rewrite_problem` (one
line, bounded length, not instruction-like, a question, in the question's language); otherwise,
and always for the extractive digest, the rules below rewrite it. The rules cost nothing:
a question is a follow-up when it opens with a connector ("and ...", "what about ..."), leans on
a pronoun ("is it safe?"), or has at most two content words ("what dose?"). A follow-up that is
a phrase ("and in pregnancy?") is appended to the previous standalone question; a follow-up
that is a question of its own ("what dose?") carries the previous question's subject terms.
Anything else is a new topic and is answered as typed. The generator is passed in by the caller
(`Conversation.standalone(question, generator)`); nothing is kept between calls.

    conversation = Conversation()
    answer = conversation.ask(assistant, "What is the first-line therapy for type 2 diabetes?")
    answer = conversation.ask(assistant, "and in pregnancy?")   # answered as the full question
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from app.generators.base import AnswerGenerator, GenerationError, GenerationRequest
from evidence.instructions import reads_as_instruction
from evidence.schema import Answer
from indexing.text import STOP_WORDS, cjk_count, detect_language, has_cjk

# A standalone clinical question is one sentence: 96 tokens is ~350 English characters (or ~96
# Chinese ones), well past any question the rewrite should produce; a reply cut there is a ramble.
REWRITE_MAX_NEW_TOKENS = 96
# Earlier questions given to the model: the last three carry the subject of a follow-up; more
# only lengthen the prompt (and the local model's prefill) without adding to it.
REWRITE_TURNS = 3
# A rewrite joins the follow-up to the previous question, so it needs at most both plus a few
# connecting words (80 characters); 600 caps it whatever the earlier question's length.
REWRITE_SLACK_CHARS = 80
REWRITE_MAX_CHARS = 600
REWRITE_SYSTEM = (
    "You rewrite a clinician's follow-up question as one standalone question. Use the earlier "
    "questions only to fill in what the follow-up leaves out (the condition, drug or patient group). "
    "Keep the follow-up's language. If the follow-up already stands alone, return it unchanged. "
    "Reply with the question only, on one line, without explanation."
)
_LABEL = re.compile(r"^\s*(?:standalone|rewritten)?\s*question\s*[:：]\s*", re.I)
_QUOTES = ("\"\"", "“”", "''", "「」", "『』")

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_CONNECTORS = re.compile(r"^\s*(and|but|or|also|what about|how about|same|then|and what about)\b[\s,]*", re.I)
_PHRASE_START = re.compile(r"^(in|for|during|with|among|after|before|at|on|without|if|when|while)\b", re.I)
_PRONOUNS = frozenset("it its they them their this that these those there such".split())
# Words that ask *what* about the subject; they are not the subject, so they are not carried.
_QUESTION_WORDS = frozenset(
    """what which who how when where why is are does do should can could would recommended recommend
    recommendation recommendations best preferred usual usually about else more""".split()
)
# First words of a follow-up that is a question of its own ("what dose?", "and is it safe?").
_ASKING = frozenset("what which who how when where why is are does do should can could would was were".split())
_ZH_CONNECTORS = re.compile(r"^(那么|那|如果|还有|而|另外|对于)")
_ZH_TAIL = re.compile(r"[呢吗？?。]+$")


class Turn(BaseModel):
    asked: str  # what the user typed
    standalone: str  # what was answered
    answer_text: str = ""


class Conversation(BaseModel):
    """The turns so far; one per browser session or API caller (never shared state)."""

    conversation_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    turns: list[Turn] = Field(default_factory=list)

    def standalone(self, question: str, generator: AnswerGenerator | None = None) -> str:
        """The question as it will be answered, given the turns so far: the model's rewrite when
        `generator` is a language model and its rewrite is valid, else the rule rewrite."""
        question = question.strip()
        if not self.turns or not question:
            return question
        ruled = standalone_question(question, self.turns[-1].standalone)
        if generator is None or not generator.uses_prompt or generator.is_demo:
            # The bundled 135M demo model answered the follow-up instead of rewriting it in every
            # try (5 of 5 refused, 34-99 s each on 2 cores): it is not asked.
            return ruled
        earlier = [t.standalone for t in self.turns[-REWRITE_TURNS:]]
        return model_standalone(generator, question, earlier) or ruled

    def record(self, asked: str, answer: Answer) -> None:
        self.turns.append(Turn(asked=asked.strip(), standalone=answer.question, answer_text=answer.text))

    def stream(self, assistant: Any, question: str, standalone: str | None = None, **options: Any) -> Iterator[str | Answer]:
        """`Assistant.stream` on the standalone question (`standalone` when the caller has already
        shown it, else rewritten here with the chosen generator); the turn is recorded with the answer."""
        if standalone is None:
            standalone = self.standalone(question, assistant.generator(options.get("generator")))
        for item in assistant.stream(standalone, **options):
            if isinstance(item, Answer):
                self.record(question, item)
            yield item

    def ask(self, assistant: Any, question: str, **options: Any) -> Answer:
        answer = None
        for item in self.stream(assistant, question, **options):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer


def rewrite_messages(question: str, earlier: list[str]) -> list[dict[str, str]]:
    """The fixed rewrite prompt: the earlier questions (oldest first), then the follow-up."""
    lines = "\n".join(f"{i}. {q}" for i, q in enumerate(earlier, 1))
    user = f"Earlier questions:\n{lines}\n\nFollow-up: {question}\n\nStandalone question:"
    return [{"role": "system", "content": REWRITE_SYSTEM}, {"role": "user", "content": user}]


def model_standalone(generator: AnswerGenerator, question: str, earlier: list[str]) -> str | None:
    """The model's standalone question, or None when it fails, is cut off or is invalid."""
    limit = min(len(question) + len(earlier[-1]) + REWRITE_SLACK_CHARS, REWRITE_MAX_CHARS)
    request = GenerationRequest(question=question, mode="plain", evidence=[], messages=rewrite_messages(question, earlier),
                                max_new_tokens=REWRITE_MAX_NEW_TOKENS, temperature=0.0, top_p=1.0)
    cancel = threading.Event()
    pieces: list[str] = []
    written = 0  # characters so far, counted as they come (summing all pieces each time is quadratic)
    stream = generator.stream(request, cancel)
    try:
        for piece in stream:
            pieces.append(piece)
            written += len(piece)
            if written > 2 * limit:  # rambling: stop paying for it
                cancel.set()
                return None
    except GenerationError:
        return None  # server down or model missing: the answer itself will say so
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    if request.finish_reason == "length" or request.problem:
        return None
    rewrite = clean_rewrite("".join(pieces))
    return None if rewrite_problem(rewrite, question, earlier[-1], limit) else rewrite


def clean_rewrite(text: str) -> str:
    """The reply without surrounding space, a "Standalone question:" label or wrapping quotes."""
    text = _LABEL.sub("", text.strip()).strip()
    for pair in _QUOTES:
        if len(text) > 2 and text[0] == pair[0] and text[-1] == pair[-1]:
            text = text[1:-1].strip()
    return text


def rewrite_problem(rewrite: str, question: str, previous: str, limit: int = REWRITE_MAX_CHARS) -> str | None:
    """Why the model's rewrite cannot stand for the question (None when it can)."""
    if not rewrite:
        return "empty"
    if any(c < " " or "\x7f" <= c <= "\x9f" for c in rewrite):
        return "more than one line (or control characters)"
    if len(rewrite) > limit:
        return f"longer than {limit} characters"
    if reads_as_instruction(rewrite):
        return "reads as an instruction"
    if rewrite != question and not rewrite.endswith(("?", "？")):  # a small model may answer instead
        return "not a question (no closing question mark)"
    expected = detect_language(question) or detect_language(previous)
    if expected is not None and detect_language(rewrite) != expected:
        return f"not in the question's language ({expected})"
    return None


def is_follow_up(question: str) -> bool:
    q = question.strip()
    if has_cjk(q):
        return bool(_ZH_CONNECTORS.match(q)) or q.rstrip("？?").endswith("呢") or cjk_count(q) <= 6 or any(
            p in q for p in ("它", "该药", "这个", "这种")
        )
    if _CONNECTORS.match(q):
        return True
    words = [w.lower() for w in _WORD.findall(q)]
    if any(w in _PRONOUNS for w in words):
        return True
    return len(_content(words)) <= 2


def standalone_question(question: str, previous: str) -> str:
    """`question` made standalone using the previous standalone question (see module doc)."""
    q = " ".join(question.split())
    if not q or not previous or not is_follow_up(q):
        return q
    prev = previous.strip().rstrip("?？。 ")
    if has_cjk(q):
        tail = _ZH_TAIL.sub("", _ZH_CONNECTORS.sub("", q)).strip("，, ")
        return f"{prev}，{tail}？" if tail else previous
    rest = _CONNECTORS.sub("", q).rstrip("?. ").strip()
    if not rest:
        return previous
    first = rest.split()[0].lower()
    if first not in _ASKING and (_PHRASE_START.match(rest) or _CONNECTORS.match(q)):
        return f"{prev}, {rest}?"  # "and in pregnancy?" / "what about the HbA1c target?"
    have = {w.lower() for w in _WORD.findall(rest)}
    subject = [w for w in _content(_WORD.findall(prev)) if w.lower() not in have]
    subject = [w for w in subject if w.lower() not in _QUESTION_WORDS]
    if not subject:
        return q
    rest = rest[0].upper() + rest[1:]
    return f"{rest} ({' '.join(dict.fromkeys(subject))})?"


def _content(words: list[str]) -> list[str]:
    return [w for w in words if w.lower() not in STOP_WORDS and w.lower() not in _QUESTION_WORDS]
