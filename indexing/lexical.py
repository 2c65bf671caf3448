"""Tokens for the one lexical (BM25) index that holds English and Chinese text.

English words are lowercased, stop words dropped and the rest Snowball-stemmed; tokens that
carry digits (HbA1c, CHA2DS2-VASc, 2.5 mg) are kept whole because stemming or splitting them
loses the clinical meaning. Chinese runs are segmented by jieba and also cut into character
bigrams, so a match does not depend on the segmenter agreeing between passage and query.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata

from indexing.text import CHINESE_STOP_WORDS, HAN, KANA, STOP_WORDS, stem

# The version of `lexical_tokens`: raise it whenever the tokens of some text change (stop words,
# stemming, spelling folding, units). Postings are stored per index, so an index written under
# another version would meet queries with tokens it never stored ("anaemia" folded in the query,
# unfolded in the postings); the store re-tokenises its stored text when it sees an older version
# (indexing/store/reanalyse.py). 1: indexes with no version recorded; 2: British spellings folded
# to American inside `indexing.text.stem` (session 7).
ANALYZER_VERSION = 2

_CJK = KANA + HAN
_WORD_CHAR = rf"[^\W_{_CJK}]"
# Units that turn a number into a dose or measurement ("2.5 mg", "140 mmhg", "7%").
_UNITS = (
    r"mg/kg|mg/dl|mg/l|mmol/l|mmol/mol|ng/ml|µg/kg|mcg/kg|ml/min|mg|mcg|µg|μg|ug|ng|kg|g|ml|dl|l|"
    r"mmol|mmhg|meq|iu|units?|%|bpm|mm|cm|hours?|hrs?|h|days?|weeks?|months?|years?|min"
)
_TOKEN = re.compile(
    rf"(?P<num>\d+(?:\.\d+)?)[ \t]*(?P<unit>{_UNITS})(?!{_WORD_CHAR})"
    rf"|(?P<word>{_WORD_CHAR}+(?:(?:-|(?<=\d)\.(?=\d)){_WORD_CHAR}+)*)"
    rf"|(?P<cjk>[{_CJK}]+)"
)
_DIGIT = re.compile(r"\d")

_PARTICLES = frozenset("的了和与及或之其")

_jieba_lock = threading.Lock()
_jieba = None


def _segmenter():
    """jieba, imported and initialised once per process, with its chatter silenced."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                logging.getLogger("jieba").setLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def _plain_word(word: str, out: list[str]) -> None:
    if word in STOP_WORDS:
        return
    out.append(word if _DIGIT.search(word) else stem(word))


def _chinese_run(run: str, out: list[str]) -> None:
    if len(run) == 1:
        if run not in CHINESE_STOP_WORDS:
            out.append(run)
        return
    for word in _segmenter().lcut(run, HMM=True):
        # two-character words are exactly the bigrams below; add only the other lengths
        if len(word) >= 3:
            out.append(word)
    for i in range(len(run) - 1):
        pair = run[i : i + 2]
        if pair[0] in _PARTICLES or pair[1] in _PARTICLES:
            continue
        out.append(pair)


def lexical_tokens(text: str) -> list[str]:
    """The index terms of `text`; the same function tokenises passages and queries."""
    if not text:
        return []
    text = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        if match.group("num") is not None:
            out.append(f"{match.group('num')} {match.group('unit')}")
        elif match.group("word") is not None:
            word = match.group("word")
            if "-" in word:
                parts = [p for p in word.split("-") if p]
                if _DIGIT.search(word):  # a clinical compound: CHA2DS2-VASc, COVID-19
                    out.append(word)
                for part in parts:
                    _plain_word(part, out)
            else:
                _plain_word(word, out)
        else:
            _chinese_run(match.group("cjk"), out)
    return out
