"""What a question is about, and what kind of statement answers it.

A question names concepts (a condition, a population, an intervention) and often asks for one
kind of statement: a time ("when", "how soon"), a dose, a target, an age group. Evidence is on
the question's subject when its title, sections and text name those concepts; a sentence answers
the question when it (with the section it sits in) names them and states the kind of thing asked.
Retrieval ranks by the first (evidence.retrieval); the digest quotes by the second and says "does
not address" when no sentence does (evidence.digest).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from evidence.synonyms import DRUG_CLASSES, mentioned_groups, related_names
from indexing.text import HAN, has_cjk

Tokenize = Callable[[str], Iterable[str]]
_CJK_RUN = re.compile(f"[{HAN}]{{2,}}")

# Words that frame a clinical question without naming its subject ("which first-line treatment
# is recommended for X"): they never decide what a passage is about.
FRAME_WORDS = (
    "which what when how why who whose whom where is are does do can could should would may might must "
    "first line first-line treatment treatments treat treating therapy therapies therapeutic manage management "
    "recommend recommended recommendation recommendations prefer preferred best option options choice choose "
    "initial indicated indication use used using give given need needed patient patients adult adults people "
    "person guideline guidelines evidence approach drug drugs medication medications agent agents safe "
    "dose doses dosing much many long soon often early start started starting target targets goal goals "
    "time timing recommend drug type value level levels done receive received get take taken taking "
    "perform performed practice suggested suggest suspected suspect method methods"
).split()
FRAME_WORDS_ZH = ("多长时间", "多少", "什么", "哪些", "哪种", "如何", "是否", "怎样", "怎么", "患者", "推荐", "治疗", "首选", "应该", "目标", "剂量", "何时",
                  "多久", "给予", "使用", "还是",
                  "的", "是", "吗", "呢", "了", "和", "与", "在", "对", "应", "用", "及")
# Function words a lexical tokenizer keeps (it does not drop stop words); they name nothing.
FUNCTION_WORDS = ("a an the of in on at by for to from with without into over under after before than and or "
                  "not no vs versus about between during within per it its this that these those there their "
                  "one two three four five less more guide").split()

# Purpose words: guidelines say the same purpose many ways ("to reduce thromboembolic stroke risk"
# for "stroke prevention"), so a sentence missing the question's wording of it loses little.
SOFT_WORDS = ("prevention", "prevent", "preventing", "prophylaxis", "reduce", "reducing", "reduction", "risk", "improve",
              "control", "lower", "lowering", "outcome", "outcomes")
SOFT_WEIGHT = 0.3

# Special populations: when the question names one, an answer must speak of it.
POPULATIONS = (
    ("child", "children", "childhood", "pediatric", "paediatric", "youth", "儿童", "小儿"),
    ("adolescent", "adolescents", "teenager", "teenagers", "youth", "青少年"),
    ("pregnancy", "pregnant", "pregnancies", "妊娠", "孕妇", "孕期"),
    ("breastfeeding", "breastfed", "breast-feeding", "lactation", "lactating", "哺乳"),
    ("infant", "infants", "neonate", "neonates", "neonatal", "newborn", "newborns", "新生儿"),
    ("elderly", "older", "geriatric", "老年"),
    ("dialysis", "haemodialysis", "hemodialysis", "透析"),
    ("hiv",),
)
# Sexes: guidelines scope a list by sex ("Women:" above the CHA2DS2-VASc thresholds), so a question
# about "a woman" is answered under that label and never under "Men:". Not a population above: a
# perinatal guideline speaks of "patients" and still answers a question about women.
SEXES = (
    ("woman", "women", "female", "females", "女性", "妇女"),
    ("man", "men", "male", "males", "男性"),
)

# "When should the dose be reduced?" asks a condition; "when to start statins?" asks a time.
_TIMING_Q = re.compile(r"\bhow\s+(?:soon|long|early|quickly|fast)\b|\bhow\s+many\s+(?:hours|days|weeks|months)\b|\btiming\b|\bwhen\b(?=.*\b(?:start|begin|initiat|restart|resum|stop|discontinu|give|administer|switch))"
                       r"|何时|什么时候|多久|多长时间", re.I)
_CONDITION_Q = re.compile(r"\bwhen\b|\bin\s+whom\b|\bwhich\s+patients\b", re.I)
_DOSE_Q = re.compile(r"(?<![-\w])dos(?:e|es|ing|age)\b|\bhow\s+much\b|\bmg\b|剂量|用量", re.I)  # "low-dose aspirin" names a drug, asks no dose
_TARGET_Q = re.compile(r"\btargets?\b|\bgoals?\b|\bthresholds?\b|\bhow\s+(?:low|far|high)\b|目标|控制在", re.I)
_AGE_Q = re.compile(r"\b(?:over|above|older\s+than|aged?|under|younger\s+than)\s+\d+|\b\d+\s*(?:years?|yrs?)\b|岁", re.I)

_TIME = re.compile(
    r"\d+\s*(?:-|–|to)?\s*\d*\s*(?:h|hr|hrs|hours?|min|minutes?|days?|d|weeks?|months?|seconds?|secs?)\b|\bwithin\b|\bimmediately\b"
    r"|\b(?:after|for|every|within|over)\s+\d+\s*(?:(?:-|–|to)\s*\d+\s*)?years?\b"  # "after 5 years" (not "age <= 75 years")
    r"|\bas\s+(?:soon|early)\s+as\b|\bearly\b|\bdelay|\bprior\s+to\b|\bat\s+(?:discharge|admission|diagnosis)\b|\bday\s+of\b"
    r"|\d+\s*(?:个)?(?:小时|天|周|月|年)|\d+\s*[hd]\b|尽早|立即|尽快",
    re.I,
)
_TIME_OR_CONDITION = re.compile(_TIME.pattern + r"|\bif\b|\bunless\b|\bwhen\b|\bonce\b|\buntil\b|≥|≤|>=|<=|[<>]\s*\d|\bat\s+least\b|\bcriteria\b|如果|时", re.I)
_DOSE = re.compile(r"\d+(?:[.,]\d+)?\s*(?:-|–|to|--)?\s*\d*(?:[.,]\d+)?\s*(?:mg|g|mcg|µg|μg|units?|IU|mL|mmol|meq|%)\b|\d\s*(?:mg|g)/", re.I)
_QUANTITY = re.compile(r"(?:target|goal|threshold|目标)[^.;。；]{0,25}?\d|[<>≤≥]|(?<![A-Za-z0-9])\d+(?:[.,]\d+)?\s*(?:%|mm|mg|mmol|µmol|g|kg|bpm|mL|units?|IU|°|ng|pg|mcg)", re.I)
_AGE = re.compile(r"\bage[ds]?\b|\byears?\b|\bolder\b|\belderly\b|岁|老年", re.I)

FACETS = {"timing": _TIME, "condition": _TIME_OR_CONDITION, "dose": _DOSE, "target": _QUANTITY, "age": _AGE}
FACET_WORDS = {"timing": "when", "condition": "when (in which patients)", "dose": "a dose", "target": "a target", "age": "the age group"}


@dataclass
class Concept:
    """One thing the question names: alternative spellings, each a set of tokens."""

    word: str  # as the question wrote it (for messages)
    names: list[frozenset[str]]
    population: bool = False
    partial: bool = False  # a Chinese run: its character bigrams count one by one
    soft: bool = False  # a purpose word ("prevention", "reduce"): says why, not what; weighs SOFT_WEIGHT
    sex: int | None = None  # index in SEXES when the concept names a sex

    def found_in(self, terms: set[str] | frozenset[str]) -> float:
        """1.0 when some name is there; else the largest share of one name's words that is ("diabetes"
        for "type 2 diabetes"; for a Chinese run, the share of its bigrams)."""
        return max((len(n & terms) / len(n) for n in self.names if n), default=0.0)


@dataclass
class Focus:
    concepts: list[Concept] = field(default_factory=list)
    facets: list[str] = field(default_factory=list)  # "timing", "dose", "target", "age"

    def tokens(self) -> set[str]:
        return {t for c in self.concepts for name in c.names for t in name}


def focus_facets(question: str) -> list[str]:
    """The kinds of statement the question asks for: "timing", "condition", "dose", "target", "age"."""
    facets = [name for name, pattern in (("timing", _TIMING_Q), ("dose", _DOSE_Q), ("target", _TARGET_Q), ("age", _AGE_Q))
              if pattern.search(question)]
    if "timing" not in facets and _CONDITION_Q.search(question):
        facets.append("condition")
    return facets


def question_focus(question: str, tokenize: Tokenize) -> Focus:
    """The concepts (synonym groups and remaining content words) and facets of a question."""
    frame = {t for w in FRAME_WORDS + FUNCTION_WORDS for t in tokenize(w)} | set(FUNCTION_WORDS)
    focus = Focus(facets=focus_facets(question))
    rest = question
    for names, used in sorted(mentioned_groups(question), key=lambda g: -len(g[1])):
        if not re.search(re.escape(used), rest, flags=re.I):
            continue  # part of a longer name already taken ("hemorrhage" in "intracerebral hemorrhage")
        focus.concepts.append(Concept(used, [frozenset(tokenize(n)) for n in _with_relatives(names)]))
        rest = _cut(rest, names)
    for names, members in DRUG_CLASSES:  # a class or drug the synonym groups do not name ("beta-blocker", "atorvastatin")
        for name in sorted(names + members, key=len, reverse=True):
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", rest, flags=0 if name.isupper() and len(name) <= 5 else re.I):
                own = names if name in names else (name,)
                focus.concepts.append(Concept(name, [frozenset(tokenize(n)) for n in _with_relatives(own)]))
                rest = _cut(rest, own)
    for word in FRAME_WORDS_ZH:  # Chinese has no spaces: cut the frame out before taking bigrams
        rest = rest.replace(word, " ")
    populations = {t: group for group in POPULATIONS for w in group for t in tokenize(w)}
    sexes = {t: i for i, group in enumerate(SEXES) for w in group for t in tokenize(w)}
    for group in POPULATIONS + SEXES:  # "儿童" inside a Chinese run is a population all the same
        for name in (w for w in group if has_cjk(w) and w in rest):
            rest = rest.replace(name, " ")
            sex = SEXES.index(group) if group in SEXES else None
            focus.concepts.append(Concept(name, [frozenset(tokenize(w)) for w in group], population=sex is None, sex=sex))
    soft = {t for w in SOFT_WORDS for t in tokenize(w)}
    seen = set().union(*(name for c in focus.concepts for name in c.names)) if focus.concepts else set()
    for run in _CJK_RUN.findall(rest):  # a Chinese phrase is one concept, matched bigram by bigram
        grams = frozenset(t for t in tokenize(run) if len(t) == 2 and t not in seen)
        if grams:
            focus.concepts.append(Concept(run, [grams], partial=True))
            seen |= grams
    for word in re.findall(r"[\w\-]+", _CJK_RUN.sub(" ", rest)):
        for t in tokenize(word):
            if t in frame or t in seen or t.isdigit() or has_cjk(t):  # a lone Han character left by the frame names nothing
                continue
            seen.add(t)
            group = populations.get(t)
            sex = sexes.get(t)
            if sex is not None:
                group = SEXES[sex]
            names = [frozenset(tokenize(w)) for w in group] if group else [frozenset([t])]
            focus.concepts.append(Concept(word, names, population=group is not None and sex is None, soft=t in soft, sex=sex))
    return focus


def _with_relatives(names: Iterable[str]) -> list[str]:
    """A concept's names and the drug-class names they meet (`evidence.synonyms.related_names`):
    "atorvastatin" is named by a passage that recommends "a statin", "DOAC" by one naming apixaban."""
    names = list(names)
    return list(dict.fromkeys(names + [r for n in names for r in related_names(n)]))


def _cut(text: str, names: Iterable[str]) -> str:
    """`text` with every spelling of a concept blanked out, longest first ("atrial fibrillation (AF)")."""
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])" if name.isascii() else re.escape(name), " ", text,
                      flags=0 if name.isupper() and len(name) <= 5 else re.I)
    return text


def other_sex_label(focus: Focus, label_terms: set[str] | frozenset[str], tokenize: Tokenize) -> bool:
    """The label a sentence sits under names only the sex the question does not ask about
    ("Men:" for a question about a woman)."""
    asked = {c.sex for c in focus.concepts if c.sex is not None}
    if len(asked) != 1 or not label_terms:
        return False
    named = {i for i, group in enumerate(SEXES) if any(t in label_terms for w in group for t in tokenize(w))}
    return bool(named) and not named & asked


def states_facet(facet: str, sentence: str) -> bool:
    return bool(FACETS[facet].search(sentence))


def weighted_coverage(focus: Focus, weights: dict[str, float], strong: set[str] | frozenset[str],
                      weak: set[str] | frozenset[str] = frozenset(), weak_share: float = 0.6) -> float:
    """IDF-weighted share of the question's concepts found in `strong` terms (full credit) or only
    in `weak` terms (`weak_share` credit), 0..1."""
    total = found = 0.0
    for c in focus.concepts:
        w = concept_weight(c, weights)
        total += w
        found += w * max(c.found_in(strong), weak_share * c.found_in(weak) if weak else 0.0)
    return found / total if total else 0.0


def concept_weight(concept: Concept, weights: dict[str, float]) -> float:
    """How rare a concept is: the rarity of its most common spelling ("AF" is as common as the
    passages that write "AF", whatever the rarity of its Chinese name); a name weighs its rarest
    word. A Chinese run weighs its mean bigram."""
    names = [name for name in concept.names if name]
    if not names:
        return 0.0
    if concept.partial:
        values = [weights.get(t, 0.0) for name in names for t in name]
        return sum(values) / len(values)
    weight = min(max(weights.get(t, 0.0) for t in name) for name in names)
    return weight * SOFT_WEIGHT if concept.soft else weight
