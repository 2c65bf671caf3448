"""Document grading: quality on labelled passages, and the rules a user relies on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evidence import cues as C
from evidence.annotator import EvidenceAnnotator
from evidence.grading import grade_document
from indexing.labels import EvidenceLevel, SourceType
from indexing.schema import Chunk, Document, Page, SourceMeta

DATA = Path(__file__).parent / "data"
S = SourceType


def _rows() -> list[dict]:
    rows = []
    for path in sorted(DATA.glob("grading_*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


ROWS = _rows()


def test_labelled_set_covers_every_source_type_in_both_languages():
    assert len(ROWS) >= 60
    by_type = Counter(r["source_type"] for r in ROWS)
    assert set(by_type) == {t.value for t in SourceType}
    assert min(by_type.values()) >= 4
    for lang in ("en", "zh"):
        assert {r["source_type"] for r in ROWS if r["lang"] == lang} == {t.value for t in SourceType}, lang
    assert sum(r["lang"] == "zh" for r in ROWS) >= 25


def test_quality_floors_on_labelled_passages():
    confusion: Counter[tuple[str, str]] = Counter()
    level_ok = 0
    for row in ROWS:
        g = grade_document(row["title"], row["text"], SourceMeta(**row.get("meta", {})))
        confusion[(row["source_type"], g.source_type.value)] += 1
        level_ok += int(g.level) == row["level"]
        assert g.reasons, row["id"]
        assert 0.0 <= g.confidence <= 1.0
    f1s, table = [], []
    for t in SourceType:
        c = t.value
        tp = confusion[(c, c)]
        pred = sum(v for (_, got), v in confusion.items() if got == c)
        actual = sum(v for (want, _), v in confusion.items() if want == c)
        p = tp / pred if pred else 0.0
        r = tp / actual if actual else 0.0
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
        table.append(f"{c:<20} P={p:.2f} R={r:.2f} n={actual}")
        assert p >= 0.75 and r >= 0.75, f"{c}: precision {p:.2f} recall {r:.2f}"
    print("\n".join(table))
    print("confused:", {f"{w}->{g}": v for (w, g), v in confusion.items() if w != g})
    macro_f1 = sum(f1s) / len(f1s)
    level_accuracy = level_ok / len(ROWS)
    print(f"macro-F1 {macro_f1:.3f} level accuracy {level_accuracy:.3f} over {len(ROWS)} passages")
    assert macro_f1 >= 0.85
    assert level_accuracy >= 0.85


# ---- rules --------------------------------------------------------------------------------


def test_rct_from_title_and_design_sentence_names_its_cues():
    g = grade_document("Drug X for sepsis: a randomised, double-blind, placebo-controlled trial",
                       "Methods: we randomly assigned 500 adults to drug X or placebo.")
    assert (g.source_type, g.level, g.origin) == (S.RCT, EvidenceLevel.RANDOMISED, "cues")
    assert any(r.startswith("title:") and "randomised" in r for r in g.reasons)
    assert g.confidence >= 0.7


def test_incidental_randomised_mention_does_not_make_a_cohort_an_rct():
    g = grade_document("Outcomes after bariatric surgery",
                       "Previous randomised trials were small. In this population-based cohort study we followed "
                       "12,000 adults for a median of 8 years.")
    assert g.source_type == S.COHORT and g.level == EvidenceLevel.COHORT


def test_negated_randomisation_is_a_non_randomised_comparison():
    g = grade_document("A non-randomised controlled study of nurse-led clinics", "Patients were not randomized.")
    assert g.source_type == S.COHORT and g.level == EvidenceLevel.COHORT
    assert any("non-randomised" in r for r in g.reasons)


def test_systematic_review_level_follows_the_pooled_design():
    of_trials = grade_document("Statins: a meta-analysis of randomised controlled trials",
                               "We included 27 randomised trials.")
    of_cohorts = grade_document("Shift work and diabetes: systematic review and meta-analysis",
                                "We included 21 prospective cohort studies identified in four databases.")
    assert of_trials.level == EvidenceLevel.SYSTEMATIC
    assert of_cohorts.source_type == S.SYSTEMATIC_REVIEW and of_cohorts.level == EvidenceLevel.COHORT
    assert any("CEBM" in r for r in of_cohorts.reasons)


def test_guideline_is_level_1_only_with_graded_recommendations():
    graded = grade_document("Guideline for the management of atrial fibrillation",
                            "Anticoagulation is recommended (Class I, LOE A). Aspirin alone is not recommended "
                            "(Class III: No Benefit, LOE B-R). Meta-analyses of trials support this.")
    ungraded = grade_document("Ward guideline: management of hypokalaemia",
                              "Check potassium daily. Give oral potassium below 3.5 mmol/L.")
    assert (graded.source_type, graded.level) == (S.GUIDELINE, EvidenceLevel.SYSTEMATIC)
    assert any("graded recommendations found" in r and "Class I, LOE A" in r for r in graded.reasons)
    assert (ungraded.source_type, ungraded.level) == (S.GUIDELINE, EvidenceLevel.OPINION)
    assert any("consensus-like" in r for r in ungraded.reasons)


def test_chinese_consensus_versus_guideline():
    consensus = grade_document("中国老年高血压管理专家共识", "本共识由专家组讨论形成。")
    guideline = grade_document("中国急性缺血性脑卒中诊治指南", "推荐静脉溶栓治疗（I级推荐，A级证据）。不推荐常规使用神经保护剂（II级推荐，B级证据）。")
    interpretation = grade_document("《急性胰腺炎诊治指南》解读", "本文对新版指南的更新内容进行解读。")
    assert (consensus.source_type, consensus.level) == (S.CONSENSUS, EvidenceLevel.OPINION)
    assert (guideline.source_type, guideline.level) == (S.GUIDELINE, EvidenceLevel.SYSTEMATIC)
    assert interpretation.source_type == S.NARRATIVE_REVIEW


def test_post_hoc_analysis_protocol_and_animal_work():
    post_hoc = grade_document("Sex differences in the DAPA-HF trial: a post hoc analysis",
                              "DAPA-HF was a randomised, placebo-controlled trial. In this post hoc analysis we compared sexes.")
    protocol = grade_document("Study protocol for a randomised controlled trial of early mobilisation",
                              "Participants will be randomised to early or usual mobilisation.")
    animal = grade_document("Metformin reduces cardiac fibrosis in mice", "Mice were treated with metformin.")
    assert (post_hoc.source_type, post_hoc.level) == (S.RCT, EvidenceLevel.COHORT)
    assert (protocol.source_type, protocol.level) == (S.OTHER, EvidenceLevel.OPINION)
    assert any("protocol" in r for r in protocol.reasons)
    assert (animal.source_type, animal.level) == (S.OTHER, EvidenceLevel.OPINION)


def test_nothing_to_go_on_is_other_level_5_with_low_confidence():
    g = grade_document("", "")
    assert (g.source_type, g.level) == (S.OTHER, EvidenceLevel.OPINION)
    assert g.confidence <= 0.3 and g.reasons


def test_publication_type_gives_metadata_origin_and_as_topic_mesh_is_ignored():
    g = grade_document("Effects of drug X", "Adults were studied.",
                       SourceMeta(publication_types=["Randomized Controlled Trial", "Comparative Study"]))
    assert (g.source_type, g.origin) == (S.RCT, "metadata")
    assert any(r.startswith("publication type 'Randomized Controlled Trial' decides") for r in g.reasons)
    assert not any("no study design" in r for r in g.reasons)
    assert any("Comparative Study" in r and "ignored" in r for r in g.reasons)
    topic_only = grade_document("Serum urate and kidney disease", "Adults were studied.",
                                SourceMeta(mesh_terms=["Randomized Controlled Trials as Topic", "Cohort Studies"]))
    assert topic_only.source_type == S.COHORT


def test_sidecar_overrides_win_with_origin_override():
    both = grade_document("A randomized trial of X", "We randomly assigned patients.",
                          SourceMeta(source_type=S.COHORT, evidence_level=4))
    assert (both.source_type, both.level, both.origin, both.confidence) == (S.COHORT, EvidenceLevel.OBSERVATIONAL, "override", 1.0)
    assert both.reasons[0].startswith("source type set by sidecar")
    only_level = grade_document("A randomized trial of X", "We randomly assigned patients.", SourceMeta(evidence_level=3))
    assert (only_level.source_type, only_level.level, only_level.origin) == (S.RCT, EvidenceLevel.COHORT, "override")
    only_type = grade_document("Notes", "Give aspirin (Class I, LOE A). Avoid NSAIDs (Class III: Harm, LOE B-R).",
                               SourceMeta(source_type=S.GUIDELINE))
    assert (only_type.source_type, only_type.level, only_type.origin) == (S.GUIDELINE, EvidenceLevel.SYSTEMATIC, "override")


def test_unnamed_document_printing_graded_recommendations_is_guideline_like():
    g = grade_document("Infective endocarditis in adults: diagnosis and management",
                       "Blood cultures should be drawn (Class I; Level of Evidence A). Echocardiography is "
                       "recommended (Class I, LOE B). Surgery is reasonable (Class IIa, LOE B).")
    assert (g.source_type, g.level) == (S.GUIDELINE, EvidenceLevel.SYSTEMATIC)


# ---- the annotator ----------------------------------------------------------------------------


def _doc(pages: list[str], title: str, meta: SourceMeta | None = None) -> Document:
    return Document(document_id="d" * 64, path="x.md", format="markdown", title=title,
                    pages=[Page(number=i + 1, text=t) for i, t in enumerate(pages)], meta=meta or SourceMeta())


def test_annotator_reads_grades_on_later_pages_for_the_guideline_level():
    front = ["Writing committee members. Table of contents."] * 4
    doc = _doc(front + ["Warfarin is recommended (Class I, LOE A). Aspirin is not recommended (Class III: Harm, LOE B-R)."],
               "2023 Guideline for atrial fibrillation")
    g = EvidenceAnnotator().grade_document(doc)
    assert (g.source_type, g.level) == (S.GUIDELINE, EvidenceLevel.SYSTEMATIC)


def test_annotator_uses_sidecar_meta_and_organisation_hint():
    doc = _doc(["1.1.1 Offer statins. 1.1.2 Consider ezetimibe. 1.1.3 Do not offer fibrates."],
               "Lipid modification", SourceMeta(organization="NICE", source_type=S.GUIDELINE))
    g = EvidenceAnnotator().grade_document(doc)
    assert g.origin == "override" and g.level == EvidenceLevel.SYSTEMATIC


def test_annotator_grades_chunk_with_the_page_each_grade_sits_on():
    pages = ["Aspirin is recommended after MI (Class I, LOE A).", "Routine nitrates are not recommended (Class III: No Benefit, LOE B-R)."]
    doc = _doc(pages, "Guideline")
    chunk = Chunk(chunk_id="c:0", document_id=doc.document_id, ordinal=0, text="\n".join(pages), page_start=1, page_end=2)
    grades = EvidenceAnnotator().grade_chunk(chunk, doc)
    assert [(g.quote, g.page) for g in grades] == [("Class I, LOE A", 1), ("Class III: No Benefit, LOE B-R", 2)]
    single = Chunk(chunk_id="c:1", document_id=doc.document_id, ordinal=1, text=pages[1], page_start=2, page_end=2)
    assert [g.page for g in EvidenceAnnotator().grade_chunk(single, doc)] == [2]


def test_demo_corpus_guidelines_are_graded_as_guidelines():
    from indexing.readers.demo import open_medicine_documents

    annotator = EvidenceAnnotator()
    grades = {d.title: annotator.grade_document(d) for d in open_medicine_documents()}
    assert len(grades) >= 40
    guideline_level_1 = sum(g.source_type == S.GUIDELINE and g.level == EvidenceLevel.SYSTEMATIC for g in grades.values())
    assert guideline_level_1 >= 30
    acc = next(g for t, g in grades.items() if "Atrial Fibrillation" in t)
    assert (acc.source_type, acc.level) == (S.GUIDELINE, EvidenceLevel.SYSTEMATIC)
    sepsis3 = next(g for t, g in grades.items() if "Sepsis-3" in t)
    assert sepsis3.source_type == S.CONSENSUS


@pytest.mark.parametrize("title", ["", "   "])
def test_blank_title_is_accepted(title):
    assert grade_document(title, "We conducted a case-control study.").source_type == S.CASE_CONTROL


def test_guideline_abstract_stating_an_evidence_based_method_is_level_1_with_lower_confidence():
    g = grade_document("Management of X: clinical practice guideline",
                       "The panel conducted a systematic review and used the GRADE approach to rate the certainty "
                       "of evidence and the strength of recommendations.")
    assert (g.source_type, g.level) == (S.GUIDELINE, EvidenceLevel.SYSTEMATIC)
    assert g.confidence <= 0.7
    mentioned_only = grade_document("中国成人社区获得性肺炎诊断和治疗指南摘要", "本摘要未收录原指南的推荐等级。")
    assert mentioned_only.level == EvidenceLevel.OPINION


def test_passing_mentions_alone_never_name_a_design():
    g = grade_document("", "Earlier reports suggested that the recent randomised trial was underpowered.")
    assert (g.source_type, g.level) == (S.OTHER, EvidenceLevel.OPINION)
    assert any("passing mention" in r for r in g.reasons)


# ---- real PubMed abstracts (bench/data/grading, labelled by reading; tune half only) ----------

REAL = Path(__file__).resolve().parents[2] / "bench" / "data" / "grading" / "pubmed_dev.jsonl"
REAL_ROWS = [json.loads(line) for line in REAL.read_text(encoding="utf-8").splitlines() if line.strip()]
DESIGNS = ("systematic_review", "rct", "cohort", "case_control", "cross_sectional", "case_series")


def _f1(pairs: list[tuple[str, str]], label: str) -> float:
    tp = sum(w == g == label for w, g in pairs)
    predicted = sum(g == label for _, g in pairs)
    actual = sum(w == label for w, _ in pairs)
    return 2 * tp / (predicted + actual) if predicted + actual else 0.0


def test_real_dev_set_is_split_and_carries_sources():
    """Session 3's set was split stratified by label; its held-back half, scored once, has since moved
    to tuning (`was_heldback_session3`), as have session 4's held set (`was_heldback_session4`) and
    session 5's (`was_held_session5`), session 6's (`was_held_session6`), session 7's
    (`was_held_session7`) and session 8's (`was_held_session8`). The held-back set now is session 9's
    batch (`added: session9`, from a data set no session used before): records never in the set
    before, every class present, no record, PMID or text shared with the tuning half."""
    assert len(REAL_ROWS) >= 1700
    first = [r for r in REAL_ROWS if r.get("added") not in ("session4", "session5", "session6", "session7", "session8",
                                                             "session9")]
    counts = Counter((r["label"], bool(r.get("was_heldback_session3"))) for r in first)
    for label in {r["label"] for r in first}:
        assert abs(counts[(label, False)] - counts[(label, True)]) <= 1, label
    tune = [r for r in REAL_ROWS if r["split"] == "tune"]
    assert all(r.get("added") != "session9" for r in tune)
    assert all(r.get("was_heldback_session4") for r in tune if r.get("added") == "session4")
    assert all(r.get("was_held_session5") for r in tune if r.get("added") == "session5")
    assert all(r.get("was_held_session6") for r in tune if r.get("added") == "session6")
    assert all(r.get("was_held_session7") for r in tune if r.get("added") == "session7")
    assert all(r.get("was_held_session8") for r in tune if r.get("added") == "session8")
    held = [r for r in REAL_ROWS if r["split"] == "held"]
    assert len(held) >= 300 and all(r.get("added") == "session9" for r in held)
    assert {r["label"] for r in held} == set(DESIGNS) | {"guideline", "consensus_statement", "narrative_review",
                                                        "expert_opinion", "other"}
    assert not {r["id"] for r in held} & {r["id"] for r in tune}
    assert not {r["pmid"] for r in held if r["pmid"]} & {r.get("pmid") for r in tune}
    assert not {r["title"].lower() for r in held} & {r["title"].lower() for r in tune if r["title"]}
    assert not {r["abstract"][:200] for r in held} & {r["abstract"][:200] for r in tune}
    assert all(r["reason"] and r["source"]["repo"] and r["source"]["licence"] and r["source"]["commit"]
               for r in REAL_ROWS)


def test_quality_on_real_abstracts_tuning_half_text_only():
    """Floors a little under what the tuning half measured (bench/grading_quality.py prints the
    full table); the held-back set is scored only by the bench, once. The learned reading was
    trained on this half, so its numbers here are optimistic: its honest estimate is the 5-fold
    cross-validation in design_model.json (session 7, 1,733 abstracts: design macro-F1 0.803 vs 0.752
    for the rules alone)."""
    tune = [r for r in REAL_ROWS if r["split"] == "tune"]
    for model, floor, rct_sr in ((False, 0.73, 0.78), (True, 0.85, 0.88)):
        pairs = [(r["label"], grade_document(r["title"], r["abstract"], model=model).source_type.value) for r in tune]
        macro = sum(_f1(pairs, c) for c in DESIGNS) / len(DESIGNS)
        print("model" if model else "rules", {c: round(_f1(pairs, c), 2) for c in DESIGNS}, "macro", round(macro, 3))
        # measured on the 1,733 tuning abstracts: rules alone 0.752 (RCT 0.80, SR 0.85); with the model 0.889 (0.95, 0.91)
        assert macro >= floor
        assert _f1(pairs, "rct") >= rct_sr and _f1(pairs, "systematic_review") >= rct_sr


def test_publication_type_decides_the_source_type_for_every_real_record_carrying_one():
    decides = dict(C.PUBLICATION_TYPE_DECIDES)
    checked = 0
    for row in REAL_ROWS:
        carried = [p.lower() for p in row["publication_types"]]
        first = next((key for key, _ in C.PUBLICATION_TYPE_DECIDES if key in carried), None)
        if first is None:
            continue
        g = grade_document(row["title"], row["abstract"],
                           SourceMeta(publication_types=row["publication_types"], mesh_terms=row["mesh_terms"]))
        assert g.source_type in decides[first], (row["id"], first, g.source_type)
        assert g.origin == "metadata" and any("publication type" in r for r in g.reasons)
        checked += 1
    assert checked >= 30


@pytest.mark.parametrize("pub_type, allowed", C.PUBLICATION_TYPE_DECIDES)
def test_every_decisive_publication_type_wins_over_contrary_text(pub_type, allowed):
    text = "We conducted a retrospective cohort study of 300 patients followed for five years."
    g = grade_document("Outcomes after surgery", text, SourceMeta(publication_types=["Journal Article", pub_type.title()]))
    assert g.source_type in allowed
    if S.COHORT not in allowed:
        assert any("decides" in r and "cohort" in r for r in g.reasons)


def test_clinical_trial_without_randomisation_is_a_non_randomised_trial():
    single_arm = grade_document("Drug X in refractory myeloma", "Forty patients received drug X in this phase II study.",
                                SourceMeta(publication_types=["Clinical Trial, Phase II"]))
    randomised = grade_document("Drug X in refractory myeloma", "Patients were randomly assigned to drug X or placebo.",
                                SourceMeta(publication_types=["Clinical Trial, Phase II"]))
    assert single_arm.source_type == S.COHORT and randomised.source_type == S.RCT


def test_animals_only_mesh_marks_preclinical_work():
    g = grade_document("Drug X lowers glucose", "Animals were randomly assigned to drug X or saline.",
                       SourceMeta(mesh_terms=["Animals", "Rats", "Blood Glucose"]))
    assert (g.source_type, g.level) == (S.OTHER, EvidenceLevel.OPINION)
    human = grade_document("Drug X lowers glucose", "Patients were randomly assigned to drug X or saline.",
                           SourceMeta(mesh_terms=["Animals", "Humans"]))
    assert human.source_type == S.RCT


def test_where_the_design_is_stated_decides():
    background_trials = grade_document(
        "Glioblastoma treatment and survival in a rural practice",
        "The efficacy of temozolomide was demonstrated in a clinical trial in 2005. Randomized trials later reported on "
        "bevacizumab. We performed a retrospective review of medical records of 120 patients treated since 2009.")
    assert background_trials.source_type == S.COHORT
    rct_citing_reviews = grade_document(
        "Tranexamic acid in hip arthroplasty",
        "Methods: 200 patients were randomly assigned to tranexamic acid or placebo. Results: Blood loss fell. "
        "Conclusions: Our results agree with a systematic review of randomised trials. Further large trials are needed.")
    assert rct_citing_reviews.source_type == S.RCT
    animal_randomised = grade_document("Lutein in ovarian ischaemia",
                                       "Wistar rats were randomly divided into three groups. Lutein reduced injury (p < 0.05).")
    assert animal_randomised.source_type == S.OTHER
    assert any("animal" in r for r in animal_randomised.reasons)


def test_retrospective_chart_review_is_never_other():
    g = grade_document("Ivabradine in cancer therapy-related dysfunction",
                       "The medical records of 30 patients were reviewed retrospectively. LVEF rose from 45% to 53%.")
    assert g.source_type == S.COHORT and g.level == EvidenceLevel.COHORT


def test_no_stated_design_gets_low_confidence_and_says_so():
    study = grade_document("Bone density in older men",
                           "Bone density was measured in 420 men. Smokers had lower density (p = 0.01).")
    assert study.source_type == S.OTHER and study.confidence <= 0.3
    assert any("states no study design" in r for r in study.reasons)
    text = "Kisspeptins are peptides encoded by the KISS1 gene. " * 10
    overview = grade_document("Kisspeptin signalling", text, model=False)
    assert overview.source_type == S.NARRATIVE_REVIEW and overview.confidence <= 0.45
    assert any("low confidence" in r for r in overview.reasons)
    # The learned reading may read such a text otherwise (session 6's weights: other, p 0.51), never firmly.
    assert grade_document("Kisspeptin signalling", text).confidence <= 0.6


def test_pubmed_record_is_graded_with_its_publication_types(tmp_path):
    from evidence.annotator import grade_pubmed_record
    from indexing.readers.pubmed import iter_pubmed

    xml = ('<?xml version="1.0"?><PubmedArticleSet><PubmedArticle><MedlineCitation><PMID Version="1">123</PMID>'
           "<Article><Journal><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue><Title>J Test</Title>"
           "</Journal><ArticleTitle>Outcomes of drug X</ArticleTitle><Abstract><AbstractText Label=\"METHODS\">"
           "We reviewed the records of 80 patients.</AbstractText></Abstract><PublicationTypeList>"
           "<PublicationType>Journal Article</PublicationType><PublicationType>Meta-Analysis</PublicationType>"
           "</PublicationTypeList></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>")
    path = tmp_path / "one.xml"
    path.write_text(xml)
    [record] = iter_pubmed(path)
    g = grade_pubmed_record(record)
    assert (g.source_type, g.origin) == (S.SYSTEMATIC_REVIEW, "metadata")
    assert any("'Meta-Analysis' decides" in r for r in g.reasons)
