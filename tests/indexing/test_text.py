"""The shared text module: sentences, scripts, language and stop words of English and Chinese."""

from __future__ import annotations

import pytest

from indexing.text import (
    ABBREVIATIONS,
    CONTENT_STOP_WORDS,
    STOP_WORDS,
    cjk_count,
    detect_language,
    display_width,
    has_cjk,
    has_full_width,
    is_cjk_char,
    join_lines,
    normalize_space,
    passage_sentences,
    sentence_spans,
    split_sentences,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # abbreviations, initials and decimals end no sentence
        ("See Smith et al. for details. Next one.", ["See Smith et al. for details.", "Next one."]),
        ("Use e.g. Amlodipine here. Then stop.", ["Use e.g. Amlodipine here.", "Then stop."]),
        ("Take 500 mg b.i.d. Review in 2 weeks.", ["Take 500 mg b.i.d. Review in 2 weeks."]),
        ("Compare ACEI vs. ARB therapy. Dr. Li agreed.", ["Compare ACEI vs. ARB therapy.", "Dr. Li agreed."]),
        ("Reported by Middaugh K. Development followed.", ["Reported by Middaugh K. Development followed."]),
        ("The dose was 2.5 mg. It worked.", ["The dose was 2.5 mg.", "It worked."]),
        ("Target INR 2.0-3.0 (e.g. in AF). Next sentence.", ["Target INR 2.0-3.0 (e.g. in AF).", "Next sentence."]),
        # a capital letter after a grade word or a unit is no initial
        ("Evidence: LOE A. Statins follow.", ["Evidence: LOE A.", "Statins follow."]),
        ("Fibrinogen in g/L. Normal is 2 to 4.", ["Fibrinogen in g/L.", "Normal is 2 to 4."]),
        # list labels start the sentence they label
        ("3. Offer a statin. Review yearly.", ["3. Offer a statin.", "Review yearly."]),
        ("I B-R 2. In adults with HFrEF, ARNI is recommended. Next.", ["I B-R 2. In adults with HFrEF, ARNI is recommended.", "Next."]),
        # annotations and references stay with their sentence; enumerators start one
        ("Aspirin is recommended. (Class I, LOE A) Statins too.", ["Aspirin is recommended. (Class I, LOE A)", "Statins too."]),
        ("Use a DOAC. [E1] Then review [E2].", ["Use a DOAC. [E1]", "Then review [E2]."]),
        ("Use DOACs. (1) First item. (2) Second.", ["Use DOACs.", "(1) First item.", "(2) Second."]),
        # Chinese: full-width marks end a sentence without a following space
        ("血压应控制。（I级推荐，A级证据）随访观察！", ["血压应控制。（I级推荐，A级证据）", "随访观察！"]),
        ("对于房颤，推荐抗凝。[E1]不推荐阿司匹林。", ["对于房颤，推荐抗凝。[E1]", "不推荐阿司匹林。"]),
        ("是否安全?是的。", ["是否安全?", "是的。"]),
        ("首先；其次？最后。", ["首先；其次？", "最后。"]),
        # mixed languages
        ("HbA1c目标<7%（A）。Metformin is first line. 二甲双胍为首选！", ["HbA1c目标<7%（A）。", "Metformin is first line.", "二甲双胍为首选！"]),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_semicolons_end_sentences_only_when_asked() -> None:
    text = "Amoxicillin 1 g three times daily; OR doxycycline. 首先；其次。"
    assert split_sentences(text) == ["Amoxicillin 1 g three times daily; OR doxycycline.", "首先；其次。"]
    assert split_sentences(text, semicolons="full-width") == ["Amoxicillin 1 g three times daily; OR doxycycline.", "首先；", "其次。"]
    assert split_sentences(text, semicolons="all") == ["Amoxicillin 1 g three times daily;", "OR doxycycline.", "首先；", "其次。"]


def test_spans_are_offsets_into_the_text() -> None:
    text = "  First one.  Second (Class I)\nthird line\n\nFourth."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == ["First one.", "Second (Class I)\nthird line", "Fourth."]
    assert spans[0] == (2, 12)
    assert [text[s:e] for s, e in sentence_spans(text, line_breaks=True)] == ["First one.", "Second (Class I)", "third line", "Fourth."]


def test_passage_sentences_keep_bullets_headings_and_wrapped_lines() -> None:
    text = ("## Heading\nTarget INR is 2.0–3.0 (e.g. in AF). Next sentence\nwraps here.\n- Bullet one.\n"
            "1. Numbered item.\n对于房颤，推荐抗凝。不推荐阿司匹林。\n（I级推荐，A级证据）")
    assert passage_sentences(text) == [
        "## Heading", "Target INR is 2.0–3.0 (e.g. in AF).", "Next sentence wraps here.", "- Bullet one.",
        "1. Numbered item.", "对于房颤，推荐抗凝。", "不推荐阿司匹林。（I级推荐，A级证据）",
    ]
    assert passage_sentences("Management\nGive oxygen.", headings=["Management"]) == ["Management", "Give oxygen."]


def test_a_citation_wrapped_onto_the_next_line_stays_with_its_sentence() -> None:
    assert passage_sentences("Use a DOAC.\n[E1] Review yearly.") == ["Use a DOAC. [E1]", "Review yearly."]


def test_scripts_and_language() -> None:
    assert has_cjk("HbA1c 控制") and not has_cjk("HbA1c，；（）") and not has_cjk("plain")
    assert has_cjk("𠀀") and cjk_count("二甲双胍 metformin") == 4
    assert has_cjk("aspirin 药", at_least=1) and not has_cjk("aspirin 药", at_least=2)
    assert is_cjk_char("，") and is_cjk_char("药") and is_cjk_char("ア") and not is_cjk_char("a") and not is_cjk_char("\u3000")
    assert detect_language("Which anticoagulant is preferred in AF?") == "en"
    assert detect_language("2型糖尿病患者HbA1c控制目标是多少？") == "zh"
    assert detect_language("12345 ！？") is None


def test_full_width_characters_are_exactly_the_listed_ranges() -> None:
    """The compiled class behind `is_cjk_char`/`display_width` holds exactly the code points of
    the ranges (every code point up to the supplementary ideographs checked), and a range's ends
    and their neighbours land on the right side."""
    from indexing.text import _CJK_RANGES

    def listed(code: int) -> bool:
        return any(lo <= code <= hi for lo, hi in _CJK_RANGES)

    codes = [c for c in range(0x30000) if not 0xD800 <= c <= 0xDFFF]
    assert [c for c in codes if is_cjk_char(chr(c)) != listed(c)] == []
    assert not is_cjk_char("\u3000") and is_cjk_char("\u3001") and is_cjk_char("\U0002fa1f") and not is_cjk_char("\U0002fa20")
    assert display_width("药物ア，abc\u3000 x") == 14 and display_width("") == 0
    assert has_full_width("dose （mg）") and not has_full_width("dose (mg)\u3000")
    with pytest.raises(TypeError):
        is_cjk_char("ab")


def test_whitespace_and_joining() -> None:
    assert normalize_space("  推荐 使用\u3000ACEI  and   ARB ") == "推荐使用 ACEI and ARB"
    assert join_lines("使用", "ACEI") == "使用ACEI" and join_lines("use", "ACEI") == "use ACEI" and join_lines("", "x") == "x"


def test_stop_words_keep_negations_for_search_but_not_for_content() -> None:
    assert {"not", "no", "against"}.isdisjoint(STOP_WORDS)
    assert STOP_WORDS < CONTENT_STOP_WORDS and "not" in CONTENT_STOP_WORDS and "the" in STOP_WORDS
    assert {"e.g", "et", "al"} & ABBREVIATIONS == {"e.g", "al"}


def test_one_table_row_parser_for_the_digest_and_the_ui():
    """indexing.text holds the only pipe-table parser: the digest quotes a row from its cells and
    the UI draws the passage's table from the same cells."""
    from app.ui.text import passage_markdown
    from evidence.digest import _candidates
    from evidence.schema import Evidence
    from indexing.text import is_table_row, is_table_rule, table_cells

    assert table_cells("| **Sertraline** | SSRI | Preferred |") == ["**Sertraline**", "SSRI", "Preferred"]
    assert is_table_row("  | a | b |") and is_table_row("Atorvastatin | 80 mg once daily")  # the stored form: no outer bars
    assert not is_table_row("a|b") and not is_table_row("Use aspirin or clopidogrel.")
    assert is_table_rule("|---|:---:|") and is_table_rule("| --- | --- |") and not is_table_rule("| a | b |")
    text = "Choice\n| Drug | Class |\n|---|---|\n| **Sertraline** | SSRI |"
    e = Evidence(evidence_id="E1", chunk_id="c", document_id="d", text=text, page_start=1, page_end=1, title="t", heading_path=["Choice"])
    rows = [s for s in _candidates(e) if s.row]
    assert [(s.text, s.label) for s in rows] == [("Sertraline | SSRI", "Drug | Class")]
    assert "| \\*\\*Sertraline\\*\\* | SSRI |" in passage_markdown(text)  # a real table, its words escaped


def test_normalize_space_can_join_lines():
    from indexing.text import normalize_space

    assert normalize_space("a  b\n  c") == "a b\n c"
    assert normalize_space("a  b\n  c", keep_lines=False) == "a b c"
    assert normalize_space("中 文\n字", keep_lines=False) == "中文字"


@pytest.mark.parametrize(
    ("british", "american"),
    [("haemorrhage", "hemorrhage"), ("hypertriglyceridaemia", "hypertriglyceridemia"), ("oedema", "edema"),
     ("anaesthesia", "anesthesia"), ("paediatric", "pediatric"), ("oestrogen", "estrogen"), ("diarrhoea", "diarrhea"),
     ("randomised", "randomized"), ("hospitalisation", "hospitalization"), ("tumour", "tumor"), ("centre", "center"),
     ("sulphonylurea", "sulfonylurea"), ("oesophageal", "esophageal"), ("ischaemic", "ischemic"), ("revascularise", "revascularize")],
)
def test_british_and_american_spellings_stem_alike(british: str, american: str) -> None:
    """A British question meets an American guideline: `stem` folds the spelling first, so search,
    the digest and the citation check all compare the same term."""
    from indexing.text import fold_spelling, stem

    assert fold_spelling(british) == american and stem(british) == stem(american)


def test_spelling_folds_leave_other_words_alone() -> None:
    from indexing.text import fold_spelling

    for word in ("promise", "exercise", "revise", "precise", "otherwise", "compromise", "hour", "four", "noise", "rise", "diameter"):
        assert fold_spelling(word) == word, word
    from evidence.sentences import content_terms

    assert content_terms("Hypertriglyceridemia (>= 500 mg/dL)") == content_terms("hypertriglyceridaemia (>= 500 mg/dL)")
