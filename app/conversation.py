"""Follow-up questions: "and in pregnancy?" is answered as a standalone question built from the
conversation, shown to the user ("Answering: ..."), then answered with fresh retrieval.

The rewrite is by rules (no model), so it is the same for every generator and costs nothing:
a question is a follow-up when it opens with a connector ("and ...", "what about ..."), leans on
a pronoun ("is it safe?"), or has at most two content words ("what dose?"). A follow-up that is
a phrase ("and in pregnancy?") is appended to the previous standalone question; a follow-up
that is a question of its own ("what dose?") carries the previous question's subject terms.
Anything else is a new topic and is answered as typed. A model-based rewrite for the local and
openai generators can replace `standalone_question` later without changing callers.

    conversation = Conversation()
    answer = conversation.ask(assistant, "What is the first-line therapy for type 2 diabetes?")
    answer = conversation.ask(assistant, "and in pregnancy?")   # answered as the full question
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from evidence.schema import Answer
from indexing.text import STOP_WORDS

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_CJK = re.compile(r"[\u3400-\u9fff]")
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

    def standalone(self, question: str) -> str:
        """The question as it will be answered, given the turns so far."""
        if not self.turns:
            return question.strip()
        return standalone_question(question, self.turns[-1].standalone)

    def record(self, asked: str, answer: Answer) -> None:
        self.turns.append(Turn(asked=asked.strip(), standalone=answer.question, answer_text=answer.text))

    def stream(self, assistant: Any, question: str, **options: Any) -> Iterator[str | Answer]:
        """`Assistant.stream` on the standalone question; the turn is recorded with the answer."""
        standalone = self.standalone(question)
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


def is_follow_up(question: str) -> bool:
    q = question.strip()
    if _CJK.search(q):
        return bool(_ZH_CONNECTORS.match(q)) or q.rstrip("？?").endswith("呢") or len(_CJK.findall(q)) <= 6 or any(
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
    if _CJK.search(q):
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
