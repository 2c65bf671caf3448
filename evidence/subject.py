"""Is the question's subject in the sentences quoted, and is the population they speak of the one asked about?

The digest quotes the sentences that best cover the question's concepts (evidence.digest). A
related-but-different question ("tranexamic acid after traumatic brain injury", "magnesium for
rate control in AF", "teriparatide in men") then finds sentences that cover most of it, the
common words, and misses exactly the word that makes it a different question. Two checks stop
that before neighbours are quoted as if they answered:

- `SubjectCheck`: every rare content word of the question (rarity from `wordfreq`'s English word
  frequencies, shipped offline in its wheel) must be named by the answering sentence or its
  context (section, title, label, passage): as a term, through a synonym or drug class folded into
  the concept's names (evidence.focus), or, for a different wording, by the embedding of the word
  lying close to the sentence's (cosine >= MIN_COSINE, with the retriever's embedder passed in).
  A common word ("patient", "cancer", "drive") is left to retrieval: a guideline says it many ways.
- `out_of_scope`: a sentence whose scope is explicitly another sex or age group than the
  question's ("postmenopausal women" for a question on men, "adults" for a 10-year-old).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from evidence.focus import Concept, Focus
from evidence.sentences import content_terms

# Zipf frequency (log10 of occurrences per billion words) below which a question word is rare
# enough to name the subject. Read off the question set's wording: subject words the corpus lacks
# sit below it ("magnesium" 3.5, "mortality" 3.9, "traumatic" 3.8, "preserved" 4.1), words a
# guideline says in many ways above it ("drive" 5.1, "cancer" 4.9, "normal" 5.0, "fourth" 4.8).
RARE_ZIPF = 4.2
# Cosine of all-MiniLM-L6-v2 embeddings between a question word and a word of the sentence (or its
# label, section, title) above which the sentence says it in other words. Measured on the tuning
# questions: "weighs"/"weight" 0.89, "advised"/"recommended" 0.74, "paused"/"interruption" 0.65,
# "favoured"/"preferred" 0.64, while a neighbour's nearest word stays below: "magnesium"/"calcium"
# 0.55, "preserved"/"stable" 0.50, "tranexamic"/"valproate" 0.39, "mortality"/"risk" 0.39. A word
# against a whole sentence separates nothing (answers and neighbours alike score -0.05..0.25).
MIN_COSINE = 0.60
# Words that say what kind of statement is asked ("regimen", "definition"), not what it is about:
# a guideline answers them with a dose or criteria, never with the word.
ASKING_WORDS = frozenset("regimen regimens define defines defined definition qualify qualifies criteria onset endorse endorses".split())
# Degree and setting qualifiers ("mild asthma", "elective cardioversion"): a guideline often states
# them as a grade or a category ("Step 1", "nonsevere", "planned") rather than as the word.
QUALIFIER_WORDS = frozenset("mild moderate severe elective stable acute chronic".split())
# A verb form (-ed, -ing) is the question's phrasing ("lasted", "draining") unless it is rarer than this
# ("anticoagulated" is the drug's action, met by the stem "anticoagul").
VERB_FORM_ZIPF = 2.5
_VERB_FORM = re.compile(r"(?:ed|ing)$")
# An -s form of a common word is phrasing too ("triggers", "inputs", "reaches": their base is
# above this); a plural of a rare one is a subject ("inhibitors", "flares", "opioids").
COMMON_BASE_ZIPF = 4.0

Tokenize = Callable[[str], Iterable[str]]


@lru_cache(maxsize=20_000)
def zipf(word: str) -> float:
    """English word frequency on the Zipf scale (0 for a word wordfreq has never seen)."""
    from wordfreq import zipf_frequency  # imported on first use: its tables load lazily

    return zipf_frequency(word, "en")


def concept_rarity(concept: Concept) -> float:
    """The Zipf frequency of a concept's rarest written word ("beta blocker" -> "blocker")."""
    words = [w for w in re.findall(r"[A-Za-z]+", concept.word) if len(w) > 1]
    return min((zipf(w.lower()) for w in words), default=99.0)


@dataclass
class SubjectCheck:
    """The rare-word check of one question. `embedder` (optional) has `embed_queries(list[str])`
    returning L2-normalised rows, as `indexing.embedding.Embedder` does; without it only terms count."""

    focus: Focus
    embedder: Any | None = None
    rare_zipf: float = RARE_ZIPF
    min_cosine: float = MIN_COSINE
    _vectors: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def rare(self) -> list[Concept]:
        """The question's rare Latin-script concepts that name its subject (populations and sexes
        have their own check; purpose words, asking words and verb forms are its phrasing)."""
        return [c for c in self.focus.concepts if not (c.partial or c.population or c.sex is not None or c.soft)
                and concept_rarity(c) < self.rare_zipf and not _phrasing(c.word)]

    def missing(self, context: str, terms: set[str] | frozenset[str]) -> list[Concept]:
        """The rare concepts that neither `terms` (of the sentence with its context) name nor a word
        of `context` (the sentence, its label and section) says in other words."""
        words = sorted({w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9]{2,}", context)})
        absent = [c for c in self.rare if not self._named(c, terms, words)]
        if not absent or self.embedder is None or not words:
            return absent
        rows = self._embed(words)
        return [c for c in absent if float((rows @ self._embed([c.word])[0]).max()) < self.min_cosine]

    def _named(self, concept: Concept, terms: set[str] | frozenset[str], words: Sequence[str]) -> bool:
        """One of the concept's names is there whole, or every rare word of it as the question wrote
        it ("atrial" and "fibrillation"; "diabetes" of "type 2 diabetes", whose "type" a passage on
        "adults with diabetes" need not repeat), as a term or by its root ("cirrhotic"/"cirrhosis")."""
        if concept.found_in(terms) >= 1.0:
            return True
        rare = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", concept.word)
                if len(w) > 1 and w.lower() not in QUALIFIER_WORDS and zipf(w.lower()) < self.rare_zipf]
        return bool(rare) and all(content_terms(w) <= terms or _same_root(w, words) for w in rare)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in texts if t not in self._vectors]
        if todo:
            for text, vector in zip(todo, self.embedder.embed_queries(list(todo))):
                self._vectors[text] = np.asarray(vector, dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])


def _phrasing(word: str) -> bool:
    """A word of the question's phrasing rather than its subject (ASKING_WORDS, QUALIFIER_WORDS, a
    common verb form), or a short abbreviation no synonym group resolves ("PE", "RA": physical
    examination or pulmonary embolism, right atrium or rheumatoid arthritis)."""
    lower = word.lower()
    if lower in ASKING_WORDS or lower in QUALIFIER_WORDS or (word.isupper() and len(word) <= 3) or "-" in lower:
        return True  # a hyphenated compound ("door-to-balloon") is said many ways ("first-medical-contact-to-device")
    if " " in lower:
        return False
    if _VERB_FORM.search(lower) and zipf(lower) >= VERB_FORM_ZIPF:
        return True
    base = re.sub(r"(?:(?<=[sxz])es|(?<=ch|sh)es|(?<![su])s)$", "", lower)  # "reaches" -> "reach", "inputs" -> "input"
    return base != lower and zipf(base) >= COMMON_BASE_ZIPF


ROOT_CHARS = 6  # "cirrhotic"/"cirrhosis", "hospitalised"/"hospital": a shared root of this many letters
_NEGATING_PREFIX = re.compile(r"^(?:non|un|in|a|anti)-?$")


def _uninflected(word: str) -> str:
    return re.sub(r"(?:ed|ing|s)$", "", word)


def _same_root(word: str, words: Iterable[str]) -> bool:
    """A context word with the question word's root: both begin with the same ROOT_CHARS letters,
    or one ends with the other ("steroids" in "corticosteroids"), unless what precedes it negates
    it ("nontraumatic" is not "traumatic")."""
    lower = _uninflected(word.lower())  # "rechecked" has the root of "check"
    if " " in lower or len(lower) < 5:
        return False
    for w in map(_uninflected, words):  # "steroids" is in "corticosteroids"
        if len(w) >= ROOT_CHARS and len(lower) >= ROOT_CHARS and w[:ROOT_CHARS] == lower[:ROOT_CHARS]:
            return True
        longer, shorter = (w, lower) if len(w) > len(lower) else (lower, w)
        if len(shorter) >= 5 and longer.endswith(shorter) and not _NEGATING_PREFIX.match(longer[: -len(shorter)]):
            return True
    return False


# ---- scope: sex and age group --------------------------------------------------------------------

_FEMALE = re.compile(r"\b(?:wom[ae]n|female|females|postmenopausal|pregnan\w*|girls?)\b|女性|妇女|绝经后|孕妇", re.I)
_MALE = re.compile(r"\b(?:m[ae]n|male|males|boys?)\b|男性", re.I)
_CHILD = re.compile(r"\b(?:child|children|childhood|paediatric|pediatric|infants?|neonat\w*|newborns?|bab(?:y|ies)|adolescents?|boys?|girls?)\b"
                    r"|儿童|小儿|青少年|新生儿", re.I)
_ADULT = re.compile(r"\badults?\b|成人|成年", re.I)
_OLDER = re.compile(r"\b(?:elderly|older|geriatric)\b|老年", re.I)
_YOUNGER = re.compile(r"\byoung(?:er)?\s+(?:adults?|patients?|people|women|men)\b", re.I)
_YEARS_OLD = re.compile(r"\b(\d{1,3})[- ](?:years?|yrs?)[- ]old\b|\baged\s+(\d{1,3})\b|(\d{1,3})\s*岁", re.I)
_CHILD_PUGH = re.compile(r"\bChild[- ]Pugh\b|\bChild[- ]Turcotte\b", re.I)  # a liver score, not an age group

ADULT_AGE = 18
OLDER_AGE = 65  # the age most guidelines and trials start "older adults" at


_NOT_PREGNANT = re.compile(r"\bnon-?pregnant\b|非妊娠|未妊娠", re.I)
_PREGNANT = re.compile(r"\bpregnan\w*|\bgestational\b|妊娠|孕", re.I)


@dataclass(frozen=True)
class Scope:
    """The population a question asks about: sex ("female"/"male"), age group ("child"/"older"),
    pregnancy; None/False where it names none."""

    sex: str | None = None
    age: str | None = None
    pregnant: bool = False


def question_scope(question: str) -> Scope:
    """The sex, age group and pregnancy the question asks about (an age in years counts: under 18 a
    child, 65 or more older)."""
    text = _CHILD_PUGH.sub(" ", question)
    pregnant = bool(_PREGNANT.search(_NOT_PREGNANT.sub(" ", text)))
    female, male = bool(_FEMALE.search(text)), bool(_MALE.search(text))
    sex = "female" if female and not male else "male" if male and not female else None
    ages = [int(next(g for g in m.groups() if g)) for m in _YEARS_OLD.finditer(text)]
    if _CHILD.search(text) or any(a < ADULT_AGE for a in ages):
        age = "child"
    elif _OLDER.search(text) or any(a >= OLDER_AGE for a in ages):
        age = "older"
    else:
        age = None
    return Scope(sex, age, pregnant)


def out_of_scope(scope: Scope, context: str) -> str | None:
    """Why a sentence read with its context (label, section, title, passage) is about another
    population than the question's, or None. A sex, an older age or pregnancy counts only when the
    context names another explicitly (a sentence naming none speaks to everyone); children are
    asked about apart: adult guidelines rarely say "adults", so the context must name children."""
    text = _CHILD_PUGH.sub(" ", context)
    if scope.sex == "male" and _FEMALE.search(text) and not _MALE.search(text):
        return "it speaks of women"
    if scope.sex == "female" and _MALE.search(text) and not _FEMALE.search(text):
        return "it speaks of men"
    if scope.age == "child" and not _CHILD.search(text):
        return "it does not speak of children" if not _ADULT.search(text) else "it speaks of adults"
    if scope.age == "older" and _YOUNGER.search(text) and not _OLDER.search(text):
        return "it speaks of younger patients"
    if scope.pregnant and _NOT_PREGNANT.search(text) and not _PREGNANT.search(_NOT_PREGNANT.sub(" ", text)):
        return "it speaks of nonpregnant patients"
    return None
