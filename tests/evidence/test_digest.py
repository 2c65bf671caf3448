"""The extractive digest: quoted, cited, graded, strongest first, short, honest when empty."""

from __future__ import annotations

import re

from evidence.citations import check_citations
from evidence.digest import INSUFFICIENT_EN, INSUFFICIENT_ZH, MAX_SENTENCES, extractive_answer
from evidence.schema import Conflict, Evidence, RetrievalScores
from evidence.sentences import strip_markup
from indexing.text import passage_sentences
from indexing.labels import DocumentGrade, EvidenceLevel, SourceType, StatedGrade

GUIDELINE = """## Choice of Anticoagulant
- Direct oral anticoagulants (DOACs: apixaban, dabigatran, edoxaban, rivaroxaban) are recommended over warfarin in DOAC-eligible patients with AF (Class I).
- Warfarin is recommended only when DOACs are contraindicated (e.g., moderate-to-severe mitral stenosis, mechanical heart valves).
- When warfarin is used, target INR is 2.0–3.0 with time in therapeutic range (TTR) ≥ 70%.
The net clinical benefit of OAC generally favors treatment even in patients at elevated
bleeding risk."""
OPINION = "In my experience aspirin is a reasonable alternative to anticoagulation in frail patients with AF. Stroke prevention in AF is often neglected."
GOUT = "Allopurinol is the preferred first-line urate-lowering therapy for gout."
ZH = "对于非瓣膜性房颤患者，推荐使用新型口服抗凝药预防卒中（I级推荐，A级证据）。不推荐单独使用阿司匹林预防房颤患者卒中。"


def grade(level: int, source: SourceType) -> DocumentGrade:
    return DocumentGrade(source_type=source, level=EvidenceLevel(level), confidence=0.9)


def corpus() -> list[Evidence]:
    rec = "Direct oral anticoagulants (DOACs: apixaban, dabigatran, edoxaban, rivaroxaban) are recommended over warfarin in DOAC-eligible patients with AF (Class I)."
    return [
        Evidence(chunk_id="op:0", document_id="op", text=OPINION, page_start=1, page_end=1, title="Editorial on AF",
                 year=2019, grade=grade(5, SourceType.EXPERT_OPINION), scores=RetrievalScores(fused=0.033)),
        Evidence(chunk_id="af:3", document_id="af", text=GUIDELINE, page_start=4, page_end=5, title="2023 ACC/AHA AF Guideline",
                 organization="ACC/AHA", year=2023, heading_path=["Anticoagulation", "Choice of Anticoagulant"],
                 grade=grade(1, SourceType.GUIDELINE), scores=RetrievalScores(fused=0.02),
                 stated_grades=[StatedGrade(scheme="acc_aha", quote="Class I", strength="I", recommendation=rec, page=4)]),
        Evidence(chunk_id="gout:0", document_id="gout", text=GOUT, page_start=1, page_end=1, title="ACR Gout",
                 grade=grade(1, SourceType.GUIDELINE), scores=RetrievalScores(fused=0.01)),
    ]


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", strip_markup(text)).strip()


def bullets(answer_text: str) -> list[str]:
    return [line for line in answer_text.splitlines() if line.startswith("- ")]


def test_every_sentence_is_quoted_verbatim_and_cited_and_passes_the_citation_check():
    answer = extractive_answer("Should I use a DOAC or warfarin for stroke prevention in atrial fibrillation (AF)?", corpus())
    assert answer.generator == "extractive" and not answer.insufficient_evidence
    by_id = {e.evidence_id: e for e in answer.evidence}
    assert set(by_id) == {"E1", "E2", "E3"}
    lines = bullets(answer.text)
    assert 1 <= len(lines) <= MAX_SENTENCES
    for line in lines:
        ids = re.findall(r"\[(E\d+)\]", line)
        assert len(ids) == 1 and ids[0] in by_id
        quoted = line[2: line.index(f"[{ids[0]}]")].strip()
        assert flat(quoted) in flat(by_id[ids[0]].text), line
    report = check_citations(answer.text, answer.evidence)
    assert report.unknown_ids == [] and report.unsupported_sentences == [] and report.uncited_claims == []
    assert report.support_ratio == 1.0 and answer.checks == report
    assert [c.evidence_id for c in answer.citations] == [re.findall(r"\[(E\d+)\]", l)[0] for l in lines]
    assert "Allopurinol" not in answer.text  # the off-topic passage says nothing about the question


def test_strongest_evidence_comes_first_and_grades_are_shown():
    answer = extractive_answer("Should I use a DOAC or warfarin for stroke prevention in atrial fibrillation (AF)?", corpus())
    text = answer.text
    guideline_at = text.index("Direct oral anticoagulants")
    assert "aspirin" not in text.lower() or guideline_at < text.lower().index("aspirin")
    assert "(guideline, level 1; pp. 4-5)" in text and "ACC/AHA 2023" in text
    assert "(Class I)" in text  # the stated grade is printed with its recommendation
    words = len(re.sub(r"\[E\d+\]", "", text).split())
    assert words <= 180, words  # readable in about twenty seconds


def test_stated_grade_is_appended_when_the_sentence_does_not_print_it():
    items = corpus()
    items[1] = items[1].model_copy(update={"stated_grades": [StatedGrade(
        scheme="acc_aha", quote="Class I, LOE B-R", strength="I", certainty="B-R",
        recommendation="Warfarin is recommended only when DOACs are contraindicated.")]})
    answer = extractive_answer("When is warfarin still recommended over a DOAC in AF with mitral stenosis?", items)
    line = next(l for l in bullets(answer.text) if "Warfarin is recommended only" in l)
    assert line.endswith("(Class I, LOE B-R)")
    assert check_citations(answer.text, answer.evidence).unsupported_sentences == []


def test_conflicts_are_listed_with_both_citations():
    items = corpus()
    from evidence.prompt import number_evidence

    numbered = number_evidence(items + [Evidence(chunk_id="zh:0", document_id="zh", text="Aspirin alone is not recommended for stroke prevention in AF (Class III: Harm).",
                                                  page_start=2, page_end=2, title="Other guideline", grade=grade(1, SourceType.GUIDELINE),
                                                  stated_grades=[StatedGrade(scheme="acc_aha", quote="Class III: Harm", strength="III", direction="against",
                                                                             recommendation="Aspirin alone is not recommended for stroke prevention in AF (Class III: Harm).")])])
    aspirin_for = next(e.evidence_id for e in numbered if e.document_id == "op")
    aspirin_against = next(e.evidence_id for e in numbered if e.document_id == "zh")
    conflict = Conflict(topic="aspirin", for_ids=[aspirin_for], against_ids=[aspirin_against])  # find_conflicts names the intervention
    answer = extractive_answer("Is aspirin enough for stroke prevention in AF?", numbered, conflicts=[conflict])
    assert "**Conflicting recommendations: aspirin**" in answer.text
    assert f"- For: In my experience aspirin is a reasonable alternative to anticoagulation in frail patients with AF. [{aspirin_for}]" in answer.text
    assert f"- Against: Aspirin alone is not recommended for stroke prevention in AF (Class III: Harm). [{aspirin_against}]" in answer.text
    assert answer.conflicts == [conflict]
    assert any(w.code == "conflicting_evidence" for w in answer.warnings)
    assert check_citations(answer.text, answer.evidence).unsupported_sentences == []


def test_nothing_retrieved_gives_an_explicit_insufficient_evidence_answer():
    answer = extractive_answer("How do I bake sourdough bread?", [])
    assert answer.insufficient_evidence and answer.text == INSUFFICIENT_EN
    assert [w.code for w in answer.warnings] == ["insufficient_evidence"] and answer.citations == []
    zh = extractive_answer("如何烤面包？", [])
    assert zh.insufficient_evidence and zh.text == INSUFFICIENT_ZH


def test_passages_that_do_not_answer_the_question_give_insufficient_evidence():
    answer = extractive_answer("How do I bake sourdough bread?", corpus())
    assert answer.insufficient_evidence and "Insufficient evidence" in answer.text
    assert answer.citations == [] and len(answer.evidence) == 3


def test_chinese_question_is_answered_from_chinese_evidence():
    zh = Evidence(chunk_id="zh:0", document_id="zh", text=ZH, page_start=3, page_end=3, title="房颤抗凝中国专家共识",
                  grade=grade(1, SourceType.GUIDELINE), stated_grades=[StatedGrade(scheme="chinese", quote="I级推荐，A级证据", strength="I")])
    answer = extractive_answer("房颤患者预防卒中应该用什么抗凝药？", [zh] + corpus())
    assert answer.text.startswith("证据摘要")
    zh_id = next(e.evidence_id for e in answer.evidence if e.document_id == "zh")
    assert f"对于非瓣膜性房颤患者，推荐使用新型口服抗凝药预防卒中（I级推荐，A级证据）。 [{zh_id}]" in answer.text
    assert check_citations(answer.text, answer.evidence).support_ratio == 1.0


def test_existing_evidence_ids_are_kept():
    items = [e.model_copy(update={"evidence_id": f"E{9 - i}"}) for i, e in enumerate(corpus())]
    answer = extractive_answer("DOAC or warfarin in AF?", items)
    assert {e.evidence_id for e in answer.evidence} == {"E9", "E8", "E7"}
    assert set(re.findall(r"\[(E\d+)\]", answer.text)) <= {"E9", "E8", "E7"}


def test_sentence_splitting_handles_abbreviations_bullets_wraps_and_chinese():
    text = "## Heading\nTarget INR is 2.0–3.0 (e.g. in AF). Next sentence\nwraps here.\n- Bullet one.\n对于房颤，推荐抗凝。不推荐阿司匹林。"
    assert passage_sentences(text) == [
        "## Heading", "Target INR is 2.0–3.0 (e.g. in AF).", "Next sentence wraps here.", "- Bullet one.", "对于房颤，推荐抗凝。", "不推荐阿司匹林。",
    ]


def test_a_guideline_saying_evidence_is_insufficient_is_quoted_not_dropped():
    text = "There is insufficient evidence to recommend for or against routine aspirin for stroke prevention in AF."
    e = Evidence(chunk_id="u:0", document_id="u", text=text, page_start=1, page_end=1, title="USPSTF",
                 grade=grade(1, SourceType.GUIDELINE))
    answer = extractive_answer("Should aspirin be used for stroke prevention in AF?", [e])
    assert not answer.insufficient_evidence and f"- {text} [E1]" in answer.text


def test_digest_over_the_whole_question_set_quotes_cites_and_abstains_correctly(demo_index_dir):
    """Every digest sentence is verbatim, every citation passes the checker, the answer says
    "insufficient evidence" for every off-topic question, and at least 95% of the on-topic ones are
    answered (a few are declined as "does not address" when the question names what no passage
    says, e.g. "door-to-balloon")."""
    import json
    from pathlib import Path

    from evidence.prompt import number_evidence
    from evidence.retrieval import Retriever
    from indexing.embedding import load_embedder
    from indexing.store import IndexStore

    embedder = load_embedder()
    retriever = Retriever(IndexStore.open(demo_index_dir), embedder)
    path = Path(__file__).parent / "data" / "questions.jsonl"
    questions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    declined = []
    for q in questions:
        evidence = number_evidence(retriever.search(q["question"], k=8))
        answer = extractive_answer(q["question"], evidence, embedder=embedder)  # as the Assistant passes it
        if q["off_topic"]:
            assert answer.insufficient_evidence, q["id"]
        elif answer.insufficient_evidence:
            declined.append(q["id"])
        by_id = {e.evidence_id: e for e in evidence}
        for line in bullets(answer.text):
            ids = re.findall(r"\[(E\d+)\]", line)
            assert ids and set(ids) <= set(by_id), (q["id"], line)
            quoted = re.sub(r"^(For|Against): ", "", line[2: line.index("[")].strip()).replace("\\|", "|")  # a table row's bars
            assert any(flat(quoted) in flat(by_id[i].text) for i in ids), (q["id"], line)
        checks = answer.checks
        assert not checks.unknown_ids and not checks.unsupported_sentences and not checks.uncited_claims, (q["id"], checks)
    on_topic = sum(not q["off_topic"] for q in questions)
    assert len(declined) <= 0.05 * on_topic, declined


def test_a_bullet_keeps_the_label_that_scopes_it():
    """"OAC is recommended" under "Women:" must not reach a reader as a rule for everyone."""
    from indexing.labels import DocumentGrade, EvidenceLevel, SourceType

    text = (
        "### Recommendations for oral anticoagulation\n"
        "**Men:**\n"
        "- CHA2DS2-VASc ≥ 2: OAC is recommended to reduce thromboembolic stroke risk (Class I).\n"
        "**Women:**\n"
        "- CHA2DS2-VASc ≥ 3: OAC is recommended to reduce thromboembolic stroke risk (Class I).\n"
        "### Choice of anticoagulant\n"
        "- DOACs are recommended over warfarin in eligible patients with atrial fibrillation (Class I).\n"
    )
    e = Evidence(
        evidence_id="E1", chunk_id="c:0", document_id="d", text=text, page_start=2, page_end=2,
        title="AF guideline", year=2023, organization="ACC/AHA",
        grade=DocumentGrade(source_type=SourceType.GUIDELINE, level=EvidenceLevel(1), confidence=0.9),
    )
    scoped = bullets(extractive_answer("When is OAC recommended to reduce thromboembolic stroke risk?", [e]).text)
    assert any("≥ 3" in line for line in scoped) and any("≥ 2" in line for line in scoped)
    for line in scoped:
        if "≥ 3" in line:
            assert line.endswith("(under “Women”)"), line
        if "≥ 2" in line:
            assert line.endswith("(under “Men”)"), line
    answer = extractive_answer("Are DOACs preferred over warfarin in atrial fibrillation?", [e])
    doac = [line for line in bullets(answer.text) if "DOACs" in line]
    assert doac and "under" not in doac[0]  # a heading ends the label's scope
    assert answer.checks.uncited_claims == [] and answer.checks.unsupported_sentences == []


def test_digest_heading_labels_a_markdown_section_file_by_section_not_page():
    """A guideline read from markdown section files has no pages: the heading says where as the app does."""
    items = [e.model_copy(update={"path": "/guidelines/af/02-anticoagulation.md", "page_start": 2, "page_end": 2}) for e in corpus()]
    text = extractive_answer("Should I use a DOAC or warfarin for stroke prevention in atrial fibrillation (AF)?", items).text
    headings = [l for l in text.splitlines() if l.startswith("**") and "level" in l]
    assert headings and all("section 2)" in h and "p. " not in h for h in headings), headings


def test_one_recommending_word_list_serves_the_digest_and_the_stated_grade_reader():
    """The digest's 'states a recommendation' and the stated-grade reader once used two lists that
    disagreed ('indicated'/'首选' vs 'offer'/'withhold'); both now read indexing.text.RECOMMENDING."""
    from evidence import digest, stated_grades
    from indexing.text import states_recommendation

    for text in ("Apixaban is indicated in AF.", "Offer a statin.", "Withhold metformin before contrast.",
                 "It is reasonable to start a DOAC.", "首选二甲双胍。", "建议尽早启动。"):
        assert states_recommendation(text), text
    for text in ("Because the trial was small, the effect was uncertain.", "Mortality was 12% at one year."):
        assert not states_recommendation(text), text
    assert stated_grades.RECOMMENDING is digest.states_recommendation.__globals__["RECOMMENDING"]


NEWS2_TABLE = """Clinical Response by Score
NEWS2 Score | Clinical Risk | Response
0-4 | Low | Ward-based response; monitoring every 4-12 hours by a registered nurse.
5-6 | Medium | Urgent ward-based response: assessment within 60 minutes by a clinician with acute illness competencies.
≥ 7 | High | Emergency response: assessment within 30 minutes by a team with critical care competencies."""


def test_a_score_question_quotes_the_row_whose_condition_its_value_meets():
    e = Evidence(chunk_id="news:2", document_id="news", text=NEWS2_TABLE, page_start=3, page_end=3, title="NEWS2 (RCP 2017)",
                 year=2017, heading_path=["National Early Warning Score 2", "Clinical Response by Score"],
                 grade=grade(1, SourceType.GUIDELINE), scores=RetrievalScores(fused=0.03))
    answer = extractive_answer("A ward patient has a NEWS2 of 7: how fast must a clinician assess them?", [e])
    quoted = bullets(answer.text)
    assert any("30 minutes" in line for line in quoted)
    assert not any("60 minutes" in line or "4-12 hours" in line for line in quoted)  # the rows for other scores


def test_common_words_no_passage_uses_are_the_questions_phrasing_not_a_gap_in_the_answer():
    """A bedside question ("my friend got pulled from a house fire") is answered by a sentence on
    "patients with smoke inhalation"; its common words found in no passage weigh little, so the
    answer is quoted outright rather than flagged as covering only part of the question."""
    smoke = ("Patients with suspected smoke inhalation injury should be observed for at least 24 hours, because airway "
             "oedema can progress. Bronchoscopy confirms the diagnosis.")
    e = Evidence(chunk_id="burn:4", document_id="burn", text=smoke, page_start=5, page_end=5, title="ABA burn care",
                 year=2016, heading_path=["Inhalation injury"], grade=grade(1, SourceType.GUIDELINE), scores=RetrievalScores(fused=0.03))
    answer = extractive_answer("My friend got pulled from a house fire with smoke inhalation: how long should someone like that be observed?", [e])
    assert "observed for at least 24 hours" in answer.text
    assert "partly" not in answer.text
