"""The real MiniLM embedder, on a handful of sentences."""

from __future__ import annotations

import numpy as np
import pytest

from indexing.embedding import DEFAULT_MODEL_NAME, EmbedderError, default_model_dir, load_embedder
from indexing.store import EmbedderMismatchError, IndexStore


@pytest.fixture(scope="module")
def embedder():
    return load_embedder()


def test_default_model_is_local_minilm(embedder):
    assert embedder.name == DEFAULT_MODEL_NAME and embedder.dim == 384
    assert default_model_dir().is_dir()
    assert load_embedder() is embedder  # loaded once per process
    assert load_embedder(str(default_model_dir())) is embedder  # the same directory is the same model


def test_vectors_are_normalised_float32_and_meaningful(embedder):
    passages = [
        "Oral anticoagulation reduces stroke in atrial fibrillation.",
        "Metformin is first-line therapy for type 2 diabetes.",
        "",
    ]
    vectors = embedder.embed_passages(passages)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)
    query = embedder.embed_queries(["blood thinners for AF stroke prevention"])[0]
    assert query @ vectors[0] > query @ vectors[1] + 0.1
    again = embedder.embed_passages(passages[:1])
    assert np.allclose(again[0], vectors[0], atol=1e-5)  # batching does not change a vector
    assert embedder.embed_passages([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.embed_passages("one string")


def test_count_uses_the_model_tokenizer(embedder):
    assert embedder.count("") == 0
    short = embedder.count("atrial fibrillation")
    assert short >= 2
    long_text = "anticoagulation " * 1000  # far over the model's 256-token window: counted, not truncated
    assert embedder.count(long_text) >= 1000
    ids = embedder._model.tokenizer("HbA1c below 7%", add_special_tokens=False)["input_ids"]
    assert embedder.count("HbA1c below 7%") == len(ids)


def test_missing_model_directory_is_named(tmp_path):
    with pytest.raises(EmbedderError, match="never downloaded"):
        load_embedder(str(tmp_path / "no-such-model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbedderError, match="not a sentence-transformers model"):
        load_embedder(str(tmp_path / "empty"))


def test_index_refuses_another_model(embedder, tmp_path):
    IndexStore.open(tmp_path / "i", create=True, embedder_name=embedder.name, dim=embedder.dim).close()
    with pytest.raises(EmbedderMismatchError) as err:
        IndexStore.open(tmp_path / "i", create=True, embedder_name="bge-small-zh", dim=512)
    message = str(err.value)
    assert "all-MiniLM-L6-v2 (384-d)" in message and "refusing to mix with bge-small-zh (512-d)" in message
