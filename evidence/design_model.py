"""A small learned reading of study design, for abstracts whose text never names one.

Why: the rules in `evidence.grading` read what a text says about itself ("we randomly assigned",
"a retrospective cohort"). Many real abstracts, old drug-trial reports above all, never say it:
"patients received 20 mg or placebo for 12 weeks" is a trial, "records of 212 patients treated
with X were reviewed" a cohort. A multinomial logistic regression over word unigrams and
bigrams, trained on the tuning half of the real set (`bench/data/grading/pubmed_dev.jsonl`,
labels given by reading), learns such wording. `evidence.grading` decides when to ask it and how
far to trust it (`_learned_reading`): only where the text states no design, and with the rules'
reading given a small head start (`rule_bonus`). Since session 6 the model also sees the rules'
cues themselves (`cue_features`, computed by `evidence.grading.cue_features`: how strongly, and in
which part of the text, each kind of document or design is named, e.g. "we argue" in a design
sentence, "healthy controls" in the methods), as a second block of features beside the n-grams,
scaled by `cue_scale`; the rules' final verdict is not a feature (session 5: the model then learned
to copy the rules). How the rules' verdict and the model's probabilities are combined is one policy,
`combine`, used both by the grader and by the training script's cross-validation.

The weights ship as JSON beside this module (`design_model.json`: vocabulary, idf, one weight
row per class, intercepts; never a pickle). `bench/train_design_model.py` regenerates them from
the tuning half, seeded, and reports the cross-validated numbers that chose its settings.
Inference is numpy only: tokens -> sublinear tf-idf over the n-grams (L2-normalised) -> softmax. English text only: the training abstracts are English, so a
Chinese document, or a snippet shorter than any training abstract, is left to the rules
(`applies_to`).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from indexing.text import has_cjk

WEIGHTS = Path(__file__).with_name("design_model.json")
TEXT_CHARS = 3000  # an abstract; later text (a full paper's methods) was not in the training data
MIN_CHARS = 250  # the shortest tuning abstract has 260 characters: a shorter snippet is out of its range
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_TOKEN = re.compile(r"[a-z]+|#|%|<|>|=|±")


def tokens(text: str) -> list[str]:
    """Lower-case words; every number is one token "#" (how many numbers an abstract prints says
    more about its design than which numbers)."""
    return _TOKEN.findall(_NUMBER.sub(" # ", text.lower()))


def text_features(title: str, text: str) -> Counter[str]:
    """Word unigrams and bigrams of title + opening text, and title words again as `t:<word>`
    (a title names the design more often than any sentence does). `no_title` marks an abstract
    seen without its title."""
    body = tokens(f"{title}. {text[:TEXT_CHARS]}")
    grams: Counter[str] = Counter(body)
    grams.update(f"{a} {b}" for a, b in zip(body, body[1:]))
    title_words = tokens(title)
    grams.update(f"t:{w}" for w in title_words)
    if not title_words:
        grams["no_title"] += 1
    return grams


@dataclass(frozen=True)
class DesignModel:
    classes: tuple[str, ...]
    vocabulary: dict[str, int]  # text n-gram -> column
    idf: np.ndarray  # one per column
    coef: np.ndarray  # classes x (n-gram columns + cue columns)
    intercept: np.ndarray  # classes
    settings: dict  # how it was trained (C, folds, thresholds chosen by cross-validation)
    cue_names: tuple[str, ...] = ()  # the rule-cue features, in column order after the n-grams
    cue_scale: float = 0.0  # weight of the cue block against the unit-length n-gram block

    def vector(self, title: str, text: str, cues: Mapping[str, float] | None = None) -> np.ndarray:
        """Sublinear tf-idf over the n-grams (L2-normalised), then the cue block times `cue_scale`."""
        x = np.zeros(len(self.vocabulary))
        for gram, count in text_features(title, text).items():
            column = self.vocabulary.get(gram)
            if column is not None:
                x[column] = (1.0 + math.log(count)) * self.idf[column]
        norm = np.linalg.norm(x)
        x = x / norm if norm > 0 else x
        if not self.cue_names:
            return x
        cues = cues or {}
        return np.concatenate([x, self.cue_scale * np.array([float(cues.get(n, 0.0)) for n in self.cue_names])])

    def probabilities(self, title: str, text: str, cues: Mapping[str, float] | None = None) -> dict[str, float]:
        z = self.coef @ self.vector(title, text, cues) + self.intercept
        p = np.exp(z - z.max())
        p /= p.sum()
        return dict(zip(self.classes, (float(v) for v in p), strict=True))

    @staticmethod
    def applies_to(title: str, text: str) -> bool:
        """English text of abstract length: what the model was trained on."""
        return len(text.strip()) >= MIN_CHARS and not has_cjk(f"{title} {text[:TEXT_CHARS]}")

    def to_json(self) -> dict:
        return {"classes": list(self.classes), "vocabulary": sorted(self.vocabulary, key=self.vocabulary.get),
                "idf": [round(float(v), 4) for v in self.idf], "cue_features": list(self.cue_names),
                "cue_scale": self.cue_scale, "coef": [[round(float(v), 4) for v in row] for row in self.coef],
                "intercept": [round(float(v), 4) for v in self.intercept], "settings": self.settings}

    @classmethod
    def from_json(cls, data: dict) -> DesignModel:
        vocabulary = {g: i for i, g in enumerate(data["vocabulary"])}
        cue_names = tuple(data.get("cue_features", ()))
        coef = np.asarray(data["coef"], dtype=float)
        if coef.shape != (len(data["classes"]), len(vocabulary) + len(cue_names)) or len(data["idf"]) != len(vocabulary):
            raise ValueError(f"design model weights are inconsistent: coef {coef.shape}, {len(data['classes'])} "
                             f"classes, {len(vocabulary)} n-grams + {len(cue_names)} cue features, {len(data['idf'])} idf")
        return cls(tuple(data["classes"]), vocabulary, np.asarray(data["idf"], dtype=float), coef,
                   np.asarray(data["intercept"], dtype=float), dict(data.get("settings", {})), cue_names,
                   float(data.get("cue_scale", 0.0)))


@dataclass(frozen=True)
class Decision:
    """What `combine` decided: the type, the model's probability for it, whether the model's reading
    was adopted, and the model's best guess (named in the reasons when it was not adopted)."""

    kind: str
    probability: float
    adopted: bool
    guess: str
    guess_probability: float
    low_confidence: bool = field(default=False)


def combine(rule_kind: str, explicit: bool, probs: Mapping[str, float], settings: Mapping) -> Decision:
    """The one policy for rules + model, used by `evidence.grading` and by the training script's
    cross-validation (so what is measured is what ships). An explicit statement keeps the rules'
    answer. Otherwise the rules' reading gets a head start of `rule_bonus` in probability and the
    best class wins; if the model's probability for it is under `min_probability` the text gives no
    clear design: the rules' reading stands, at low confidence, rather than a guess."""
    if explicit:
        return Decision(rule_kind, float(probs.get(rule_kind, 0.0)), False, rule_kind, float(probs.get(rule_kind, 0.0)))
    boosted = dict(probs)
    if rule_kind in boosted:
        boosted[rule_kind] += float(settings.get("rule_bonus", 0.0))
    guess = max(boosted, key=boosted.get)
    p = float(probs[guess])
    if p < float(settings.get("min_probability", 0.0)):
        return Decision(rule_kind, float(probs.get(rule_kind, 0.0)), False, guess, p, low_confidence=True)
    return Decision(guess, p, True, guess, p)


@lru_cache(maxsize=2)
def load(path: Path = WEIGHTS) -> DesignModel | None:
    """The shipped weights, read once per path (a read-only file: caching it hides no state that
    could change). None when the file is absent, so the rules alone still grade."""
    if not path.exists():
        return None
    try:
        return DesignModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(f"cannot read design model weights {path}: {err}") from err
