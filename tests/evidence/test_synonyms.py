"""Clinicians and guidelines name one thing differently; retrieval and the digest must not care."""

from __future__ import annotations

from evidence.citations import check_citations
from evidence.digest import extractive_answer
from evidence.prompt import number_evidence
from evidence.sentences import content_terms
from evidence.synonyms import expand_query


def test_a_question_is_expanded_with_the_other_names_of_what_it_mentions():
    expanded = expand_query("Is a DOAC preferred in AF?")
    assert "atrial fibrillation" in expanded and "NOAC" in expanded and "direct oral anticoagulant" in expanded
    assert "HbA1c" in expand_query("What glycated haemoglobin goal applies?")


def test_short_abbreviations_match_only_as_whole_upper_case_words():
    assert expand_query("The staff were afraid of the hf noise") == "The staff were afraid of the hf noise"
    assert expand_query("Patients with CKD-MBD") == "Patients with CKD-MBD"  # a different entity


def test_single_word_synonyms_share_one_term_and_multi_word_names_do_not_conflate_words():
    assert content_terms("HbA1c target") == content_terms("A1C target")
    assert content_terms("haemoglobin") == content_terms("hemoglobin")
    assert {"heart", "failur"} <= content_terms("heart failure")  # each word stays its own term
    assert content_terms("heart") != content_terms("HF")


def test_a_claim_naming_hba1c_is_supported_by_a_passage_saying_a1c():
    from evidence.schema import Evidence

    e = Evidence(
        evidence_id="E1", chunk_id="c:0", document_id="d", page_start=1, page_end=1, title="Diabetes care",
        text="An A1C goal of < 7% without significant hypoglycemia is appropriate for many nonpregnant adults.",
    )
    report = check_citations("An HbA1c goal of < 7% is appropriate for many nonpregnant adults [E1].", [e])
    assert report.unsupported_sentences == [] and report.citations[0].supported


def test_hba1c_question_retrieves_and_quotes_the_a1c_goal(demo_index_dir):
    from evidence.retrieval import Retriever
    from indexing.embedding import load_embedder
    from indexing.store import IndexStore

    retriever = Retriever(IndexStore.open(demo_index_dir), load_embedder())
    question = "What HbA1c target is recommended for adults with type 2 diabetes?"
    evidence = number_evidence(retriever.search(question, k=8))
    assert any("A1C goal of" in e.text for e in evidence[:3])
    answer = extractive_answer(question, evidence)
    first = next(line for line in answer.text.splitlines() if line.startswith("- "))
    assert "A1C goal of < 7%" in first


def test_a_drug_class_meets_its_members_and_a_member_its_class_without_folding_siblings():
    """"DOAC" finds a passage naming apixaban and "atorvastatin" one recommending "a statin"; but
    atorvastatin is never simvastatin (a class is not a synonym)."""
    from evidence.focus import question_focus
    from evidence.synonyms import related_names

    assert {"apixaban", "rivaroxaban", "edoxaban", "dabigatran"} <= set(expand_query("Which DOAC for AF?").split("\n")[1].split(" ; "))
    assert "statin" in expand_query("How soon after starting atorvastatin?")
    assert related_names("atorvastatin") == ["statin", "statins"] and "simvastatin" not in related_names("atorvastatin")
    assert content_terms("atorvastatin") != content_terms("simvastatin") != content_terms("statin")
    (concept,) = [c for c in question_focus("Is ibuprofen safe after STEMI?", content_terms).concepts if c.word == "ibuprofen"]
    assert concept.found_in(content_terms("NSAIDs (except aspirin) should be discontinued")) == 1.0


def test_a_question_on_a_drug_is_answered_by_the_class_recommendation():
    from evidence.schema import Evidence

    text = "Monitoring\n- Check fasting lipid panel 4 to 12 weeks after statin initiation or dose adjustment."
    e = Evidence(evidence_id="E1", chunk_id="c:0", document_id="c", text=text, page_start=1, page_end=1,
                 title="2018 AHA/ACC Guideline on the Management of Blood Cholesterol", heading_path=["Monitoring"])
    answer = extractive_answer("How soon after starting atorvastatin should cholesterol be rechecked?", [e])
    assert not answer.insufficient_evidence
    assert "- Check fasting lipid panel 4 to 12 weeks after statin initiation or dose adjustment. [E1]" in answer.text


def test_lay_names_meet_the_guideline_terms():
    """"heart attack", "high blood pressure", "ST-elevation MI": how patients and notes say what
    guidelines call MI, hypertension and STEMI."""
    assert "myocardial infarction" in expand_query("What statin intensity after a heart attack?")
    assert "hypertension" in expand_query("How many drinks for a woman with high blood pressure?")
    assert "STEMI" in expand_query("Below what saturation is oxygen indicated in ST-elevation MI?")
    assert "SpO2" in expand_query("Which patients qualify for the oxygen saturation Scale 2?")


def test_lay_and_brand_words_meet_the_clinical_names_a_guideline_uses():
    """A clinician says "Praxbind", "brain bleed", "a pulse of 115"; the guideline says idarucizumab,
    intracerebral hemorrhage, heart rate (evidence.synonyms.LAY_TERMS, BRAND_NAMES)."""
    from evidence.synonyms import clinical_wording, mentioned_groups

    assert "idarucizumab" in expand_query("How is Praxbind given to reverse dabigatran?")
    assert "statin" in expand_query("Lipitor dose after a stroke?")  # brand -> generic -> its class
    assert clinical_wording("Brain bleed with falling consciousness") == "intracerebral hemorrhage with falling consciousness"
    assert "heart rate" in expand_query("Wells score: points for a pulse of 115?")
    assert "ICH" in [n for group, _ in mentioned_groups("DVT prevention after a brain bleed") for n in group]
    # a compound or another word keeps its own meaning
    assert clinical_wording("Where does the pulse oximeter go?") == "Where does the pulse oximeter go?"
    assert "infusion" not in expand_query("Clear fluid dripping from the nose")
    assert "newborn" not in expand_query("Babysitting advice")
