"""A small learned reading of study design, for abstracts whose text never names one.

Why: the rules in `evidence.grading` read what a text says about itself ("we randomly assigned",
"a retrospective cohort"). Many real abstracts, old drug-trial reports above all, never say it:
"patients received 20 mg or placebo for 12 weeks" is a trial, "records of 212 patients treated
with X were reviewed" a cohort. A multinomial logistic regression over word unigrams and
bigrams, trained on the tuning half of the real set (`bench/data/grading/pubmed_dev.jsonl`,
labels given by reading), learns such wording. `evidence.grading` decides when to ask it and how
far to trust it (`_learned_reading`): only where the text states no design, and with the rules'
reading given a small head start (`rule_bonus`). Giving the model the rules' reading as input
features instead was tried and dropped: it learned to copy the rules (5-fold CV, see
bench/train_design_model.py).

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
from dataclasses import dataclass
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
    coef: np.ndarray  # classes x columns
    intercept: np.ndarray  # classes
    settings: dict  # how it was trained (C, folds, thresholds chosen by cross-validation)

    def vector(self, title: str, text: str) -> np.ndarray:
        x = np.zeros(len(self.vocabulary))
        for gram, count in text_features(title, text).items():
            column = self.vocabulary.get(gram)
            if column is not None:
                x[column] = (1.0 + math.log(count)) * self.idf[column]
        norm = np.linalg.norm(x)
        return x / norm if norm > 0 else x

    def probabilities(self, title: str, text: str) -> dict[str, float]:
        z = self.coef @ self.vector(title, text) + self.intercept
        p = np.exp(z - z.max())
        p /= p.sum()
        return dict(zip(self.classes, (float(v) for v in p), strict=True))

    @staticmethod
    def applies_to(title: str, text: str) -> bool:
        """English text of abstract length: what the model was trained on."""
        return len(text.strip()) >= MIN_CHARS and not has_cjk(f"{title} {text[:TEXT_CHARS]}")

    def to_json(self) -> dict:
        return {"classes": list(self.classes), "vocabulary": sorted(self.vocabulary, key=self.vocabulary.get),
                "idf": [round(float(v), 4) for v in self.idf],
                "coef": [[round(float(v), 4) for v in row] for row in self.coef],
                "intercept": [round(float(v), 4) for v in self.intercept], "settings": self.settings}

    @classmethod
    def from_json(cls, data: dict) -> DesignModel:
        vocabulary = {g: i for i, g in enumerate(data["vocabulary"])}
        coef = np.asarray(data["coef"], dtype=float)
        if coef.shape != (len(data["classes"]), len(vocabulary)) or len(data["idf"]) != len(vocabulary):
            raise ValueError(f"design model weights are inconsistent: coef {coef.shape}, "
                             f"{len(data['classes'])} classes, {len(vocabulary)} n-grams, {len(data['idf'])} idf")
        return cls(tuple(data["classes"]), vocabulary, np.asarray(data["idf"], dtype=float), coef,
                   np.asarray(data["intercept"], dtype=float), dict(data.get("settings", {})))


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
