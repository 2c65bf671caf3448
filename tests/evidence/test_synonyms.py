"""Clinicians and guidelines name one thing differently; retrieval and the digest must not care."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


# --- the brand-name table (evidence/data/brand_names.tsv) ---------------------------------------


def _corpus_text() -> str:
    """The demo corpus: the open-medicine guideline summaries and data/sources."""
    import open_medicine

    root = Path(open_medicine.__file__).parent / "guidelines" / "content"
    files = sorted(root.glob("*/*.md")) + sorted((Path(__file__).parents[2] / "data" / "sources").glob("*.txt"))
    assert len(files) > 40
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def test_the_brand_table_loads_from_its_data_file():
    from evidence.synonyms import BRAND_NAMES, BRAND_NAMES_FILE, load_brand_names

    assert BRAND_NAMES_FILE.name == "brand_names.tsv" and BRAND_NAMES_FILE.parent.name == "data"
    assert load_brand_names() == BRAND_NAMES and len(BRAND_NAMES) >= 500
    table = dict(BRAND_NAMES)
    assert len(table) == len(BRAND_NAMES)  # one generic per brand
    # the entries that were once written in code are still there
    for brand, generic in [("Praxbind", "idarucizumab"), ("Eliquis", "apixaban"), ("Clexane", "enoxaparin"),
                           ("Symbicort", "budesonide-formoterol"), ("Zosyn", "piperacillin-tazobactam"), ("Tamiflu", "oseltamivir")]:
        assert table[brand] == generic
    # combination products carry their generic names as the corpus writes them
    assert table["Entresto"] == "sacubitril/valsartan"
    assert table["Anoro"] == "umeclidinium/vilanterol"
    assert table["Trelegy"] == "fluticasone/umeclidinium/vilanterol"


# Names of one drug that differ between the US and the UK or the INN list: a generic must not use the
# one the corpus never writes when the corpus writes the other.
_OTHER_NAMES = {
    "salbutamol": "albuterol", "albuterol": "salbutamol", "paracetamol": "acetaminophen", "acetaminophen": "paracetamol",
    "adrenaline": "epinephrine", "noradrenaline": "norepinephrine", "rifampicin": "rifampin", "pethidine": "meperidine",
    "glibenclamide": "glyburide", "ciclosporin": "cyclosporine", "frusemide": "furosemide", "torasemide": "torsemide",
    "lignocaine": "lidocaine", "glycopyrronium": "glycopyrrolate", "cefalexin": "cephalexin", "phytomenadione": "vitamin K",
    "phytonadione": "vitamin K", "glyceryl trinitrate": "nitroglycerin", "co-amoxiclav": "amoxicillin-clavulanate",
    "co-trimoxazole": "trimethoprim-sulfamethoxazole", "benzylpenicillin": "penicillin G", "sodium valproate": "valproate",
    "epoetin alfa": "erythropoietin", "acetylcysteine": "N-acetylcysteine", "indometacin": "indomethacin",
}


def test_each_generic_is_written_as_the_corpus_writes_that_drug():
    """Where the corpus names a drug, the table's generic is the corpus's own wording (or a synonym
    group's), so the brand leads to the passage: a combination part by part, an insulin with or
    without the word "insulin" ("lispro" in the corpus, "insulin lispro" in the table)."""
    from evidence.synonyms import BRAND_NAMES, SYNONYM_GROUPS

    text = _corpus_text()
    synonyms = {n.lower() for group in SYNONYM_GROUPS for n in group}

    def named(name: str) -> bool:
        return re.search(rf"(?<![\w]){re.escape(name)}(?!\w)", text, re.I) is not None

    def written(name: str) -> bool:
        bare = re.sub(r"\s*\binsulin\b\s*", " ", name).strip()
        return name.lower() in synonyms or named(name) or (bare != name and bool(bare) and named(bare))

    def parts(generic: str) -> list[str]:
        return [generic] if written(generic) else re.split(r"/|-(?=[a-z])", generic)

    misnamed = [(brand, part) for brand, generic in BRAND_NAMES for part in parts(generic)
                if not written(part) and part in _OTHER_NAMES and written(_OTHER_NAMES[part])]
    assert not misnamed  # the corpus writes these drugs under their other name
    # most of the table leads to a drug the corpus names
    in_corpus = [generic for _, generic in BRAND_NAMES if all(written(p) for p in parts(generic))]
    assert len(in_corpus) >= 0.75 * len(BRAND_NAMES)
    # a sample of drugs the corpus names, each under the generic it uses
    table = dict(BRAND_NAMES)
    for brand in ("Kerendia", "Mounjaro", "Cleviprex", "Terlivaz", "Demerol", "Trandate", "Apresoline", "Cardene",
                  "Sandostatin", "Lantus", "Tresiba", "Humalog", "Spiriva", "Veltassa", "Lokelma", "BiDil", "Unasyn",
                  "Zerbaxa", "Primaxin", "Rifadin", "Cyanokit", "Seebri", "Acetadote", "Eprex", "Konakion"):
        assert all(written(p) for p in parts(table[brand])), (brand, table[brand])


def test_a_brand_in_a_question_expands_to_its_generic():
    from evidence.synonyms import clinical_wording, mentioned_groups

    assert "finerenone" in expand_query("Should Kerendia be started with an eGFR of 40?")
    assert "tirzepatide" in expand_query("mounjaro before surgery: hold it?")  # any case
    assert "umeclidinium/vilanterol" in expand_query("Step up from Anoro when eosinophils are high?")
    assert clinical_wording("Cleviprex or Cardene after the bleed?") == "clevidipine or nicardipine after the bleed?"
    assert "terlipressin" in [n for group, _ in mentioned_groups("Terlivaz for hepatorenal syndrome?") for n in group]
    # a longer brand is not read as the shorter one inside it ("Toprol-XL" is not "Toprol")
    assert clinical_wording("Switch to Toprol-XL") == "Switch to metoprolol succinate"


def _table(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "brands.tsv"
    path.write_text("# comment\nbrand\tgeneric\tnote\n" + body, encoding="utf-8")
    return path


def test_a_malformed_brand_table_names_its_file_and_line(tmp_path):
    from evidence.synonyms import load_brand_names

    assert load_brand_names(_table(tmp_path, "Eliquis\tapixaban\tUS\n\nLixiana\tedoxaban\t\n")) == (
        ("Eliquis", "apixaban"), ("Lixiana", "edoxaban"))
    for body, line in [
        ("Eliquis\tapixaban\tUS\nXarelto rivaroxaban US\n", 4),  # spaces, not tabs
        ("Eliquis\tapixaban\tUS\tcombination\n", 3),  # four columns
        ("Eliquis\t\tUS\n", 3),  # no generic
        ("Eliquis\tapixaban \tUS\n", 3),  # padded
        ("Eliquis\tapixaban\tUS\neliquis\tapixaban\tUK\n", 4),  # listed twice
    ]:
        path = _table(tmp_path, body)
        with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, line {line}:"):
            load_brand_names(path)
    path = tmp_path / "no_header.tsv"
    path.write_text("Eliquis\tapixaban\tUS\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, line 1: expected the header"):
        load_brand_names(path)


def test_the_brand_table_ships_in_the_package():
    import tomllib

    config = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    assert "data/*.tsv" in config["tool"]["setuptools"]["package-data"]["evidence"]
