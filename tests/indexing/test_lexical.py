"""Lexical tokens for the one BM25 index holding English and Chinese."""

from __future__ import annotations

from indexing.lexical import lexical_tokens


def test_english_is_lowercased_stemmed_and_stop_words_dropped():
    tokens = lexical_tokens("The Patients were Recommended anticoagulation")
    assert tokens == ["patient", "recommend", "anticoagul"]
    assert lexical_tokens("recommendation") == lexical_tokens("recommended")


def test_negation_is_not_a_stop_word():
    assert "not" in lexical_tokens("Aspirin is not recommended")


def test_clinical_tokens_survive_whole():
    tokens = lexical_tokens("CHA2DS2-VASc score; HbA1c < 7%; apixaban 2.5 mg; COVID-19")
    for token in ("cha2ds2-vasc", "hba1c", "2.5 mg", "7 %", "covid-19"):
        assert token in tokens, token
    # parts are there too, so "CHA2DS2 VASc" written without the hyphen still matches
    assert {"cha2ds2", "vasc"} <= set(tokens)
    assert "2.5 mg" in lexical_tokens("2.5mg") and "2.5 mg" in lexical_tokens("2.5  MG")
    assert "beta" in lexical_tokens("beta-blockers") and "blocker" in lexical_tokens("beta-blockers")


def test_chinese_words_and_bigrams():
    tokens = lexical_tokens("房颤患者推荐口服抗凝治疗")
    assert {"房颤", "患者", "抗凝", "治疗"} <= set(tokens)
    # bigrams make recall independent of segmentation: a query segmented differently still overlaps
    assert "凝治" in tokens
    query = lexical_tokens("抗凝治疗")
    assert set(query) & set(tokens) >= {"抗凝", "治疗"}
    assert "的" not in lexical_tokens("患者的治疗")


def test_mixed_english_chinese_and_full_width():
    tokens = lexical_tokens("2型糖尿病患者HbA1c目标＜7％")  # full-width digits/percent normalised
    assert "hba1c" in tokens and "糖尿病" in tokens and "7 %" in tokens


def test_empty_and_punctuation():
    assert lexical_tokens("") == [] and lexical_tokens("... ,;") == []
