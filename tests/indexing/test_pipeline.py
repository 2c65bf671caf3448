"""The batch pipeline on small real files: outcomes, incremental updates, labels, progress."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from indexing.pipeline import IndexPipeline, IndexReport, collect_files
from indexing.store import IndexStore
from tests.indexing.store_fakes import FakeAnnotator, HashEmbedder

AF = """# Atrial fibrillation

## Anticoagulation

Oral anticoagulation is recommended for patients with atrial fibrillation and a CHA2DS2-VASc
score of 2 or more. Apixaban 5 mg twice daily; 2.5 mg twice daily with two reduction criteria.
"""
DM = "二型糖尿病患者的HbA1c目标一般应低于7%。二甲双胍是首选的一线药物。\n"
HTN = "Hypertension\n\nA blood pressure target below 130/80 mmHg is recommended for most adults.\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "docs"
    write(root / "af.md", AF)
    write(root / "dm.txt", DM)
    write(root / "sub" / "htn.txt", HTN)
    (root / "broken.pdf").write_bytes(b"this is not a pdf at all")
    write(root / ".hidden" / "secret.md", "# hidden\n\nnot to be indexed\n")
    return root


def pipeline(tmp_path, **kw) -> IndexPipeline:
    kw.setdefault("embedder", HashEmbedder())
    return IndexPipeline(tmp_path / "index", chunk_tokens=40, chunk_overlap=8, **kw)


def by_name(outcomes):
    return {Path(o.path).name: o for o in outcomes}


def test_folder_with_a_corrupt_file(tmp_path, corpus):
    annotator = FakeAnnotator()
    events = []
    report = pipeline(tmp_path, annotator=annotator).run([corpus], progress=events.append)
    assert set(by_name(report.indexed)) == {"af.md", "dm.txt", "htn.txt"}
    failed = by_name(report.failed)
    assert set(failed) == {"broken.pdf"} and "PDF" in failed["broken.pdf"].reason
    assert report.totals.indexed == 3 and report.totals.failed == 1 and report.totals.files == 4
    assert report.totals.chunks == sum(o.chunks for o in report.indexed) > 0
    assert report.totals.chunks_in_index == report.totals.chunks
    assert not report.ok
    IndexReport.model_validate_json(report.model_dump_json())  # JSON round trip
    json.loads(report.model_dump_json())

    # progress: counts only grow, stages are named, the last event says done with everything
    assert events[0].stage == "scanning" and events[-1].stage == "done"
    assert events[-1].files_done == events[-1].files_total == 4
    assert {"reading", "embedding", "committing"} <= {e.stage for e in events}
    done = [e.files_done for e in events]
    assert done == sorted(done)

    # labels from the annotator are stored
    store = IndexStore.open(tmp_path / "index")
    assert annotator.documents == 3 and annotator.chunks == report.totals.chunks
    assert all(d.grade is not None and d.grade.origin == "cues" for d in store.documents())
    af = by_name(report.indexed)["af.md"].document_id
    graded = [c for c in store.document_chunks(af) if c.stated_grades]
    assert graded and graded[0].stated_grades[0].quote == "recommended"
    assert store.search_lexical("CHA2DS2-VASc apixaban", 1)[0][0].startswith(af[:16])
    assert store.search_lexical("糖尿病", 1)
    store.close()


def test_non_recursive_and_missing_paths(tmp_path, corpus):
    files, missing = collect_files([corpus, tmp_path / "nope.pdf"], recursive=False)
    assert {f.name for f in files} == {"af.md", "dm.txt", "broken.pdf"}
    assert [m.reason for m in missing] == ["no such file or directory"]
    report = pipeline(tmp_path).run([corpus / "af.md", tmp_path / "nope.pdf"])
    assert [o.status for o in report.indexed + report.failed] == ["indexed", "failed"]


def test_rerun_skips_unchanged_and_replaces_changed(tmp_path, corpus):
    embedder = HashEmbedder()
    p = pipeline(tmp_path, embedder=embedder)
    first = p.run([corpus])
    embedded = embedder.passages_embedded

    again = p.run([corpus])
    assert again.indexed == [] and {o.status for o in again.unchanged} == {"unchanged"}
    assert len(again.unchanged) == 3 and len(again.failed) == 1
    assert embedder.passages_embedded == embedded  # nothing re-embedded

    old_id = by_name(first.indexed)["dm.txt"].document_id
    write(corpus / "dm.txt", DM + "二甲双胍的禁忌症包括严重肾功能不全。\n")
    third = p.run([corpus])
    assert set(by_name(third.indexed)) == {"dm.txt"}
    new_id = third.indexed[0].document_id
    store = IndexStore.open(tmp_path / "index")
    assert new_id != old_id and store.document(old_id) is None and store.document(new_id) is not None
    assert len(store.documents()) == 3
    assert store.search_lexical("肾功能不全", 1)[0][0].startswith(new_id[:16])
    ids = [c.chunk_id for d in store.documents() for c in store.document_chunks(d.document_id)]
    assert len(ids) == len(set(ids)) == store.stats().chunks
    store.close()


def test_same_file_under_two_names_is_stored_once(tmp_path, corpus):
    write(corpus / "copy-of-af.md", AF)
    p = pipeline(tmp_path)
    report = p.run([corpus])
    af = by_name(report.indexed + report.unchanged)
    assert af["af.md"].document_id == af["copy-of-af.md"].document_id
    assert "same content as" in (af["af.md"].reason or af["copy-of-af.md"].reason)
    store = IndexStore.open(tmp_path / "index")
    assert len(store.documents()) == 3
    record = store.document(af["af.md"].document_id)
    assert sorted(Path(p).name for p in record.paths) == ["af.md", "copy-of-af.md"]
    store.close()

    # one name gone: the document stays; both gone: prune removes it
    (corpus / "af.md").unlink()
    assert p.run([corpus], prune=True).removed == []
    (corpus / "copy-of-af.md").unlink()
    pruned = p.run([corpus], prune=True)
    assert [o.document_id for o in pruned.removed] == [af["af.md"].document_id]
    assert pruned.totals.removed == 1
    store = IndexStore.open(tmp_path / "index")
    assert store.document(af["af.md"].document_id) is None and len(store.documents()) == 2
    store.close()


def test_remove_document(tmp_path, corpus):
    report = pipeline(tmp_path).run([corpus])
    store = IndexStore.open(tmp_path / "index")
    doc = by_name(report.indexed)["htn.txt"].document_id
    assert store.remove_document(doc)
    assert store.document(doc) is None and store.search_lexical("hypertension", 3) == []
    store.close()
    # indexing the folder again brings it back (the file is still there)
    assert set(by_name(pipeline(tmp_path).run([corpus]).indexed)) == {"htn.txt"}


def test_sidecar_change_reindexes(tmp_path, corpus):
    p = pipeline(tmp_path)
    p.run([corpus])
    write(corpus / "af.md.meta.json", json.dumps({"year": 2023, "organization": "ACC/AHA"}))
    report = p.run([corpus])
    assert set(by_name(report.indexed)) == {"af.md"}
    store = IndexStore.open(tmp_path / "index")
    record = store.document(report.indexed[0].document_id)
    assert record.meta.year == 2023 and len(store.documents()) == 3
    store.close()


def test_workers_give_the_same_index(tmp_path, corpus):
    one = pipeline(tmp_path / "a", workers=1).run([corpus])
    three = pipeline(tmp_path / "b", workers=3, commit_every=1).run([corpus])
    assert [(o.path, o.chunks) for o in one.indexed] == [(o.path, o.chunks) for o in three.indexed]
    a, b = IndexStore.open(tmp_path / "a" / "index"), IndexStore.open(tmp_path / "b" / "index")
    assert a.search_lexical("apixaban", 3) == b.search_lexical("apixaban", 3)
    assert b.generation >= 3  # committed file by file
    a.close(), b.close()


class _BrokenAnnotator(FakeAnnotator):
    def grade_document(self, document):
        if "Hypertension" in document.pages[0].text:
            raise RuntimeError("grader bug\nsecond line")
        return super().grade_document(document)


def test_an_unexpected_error_fails_one_file_not_the_batch(tmp_path, corpus):
    report = pipeline(tmp_path, annotator=_BrokenAnnotator()).run([corpus])
    failed = by_name(report.failed)
    assert failed["htn.txt"].reason == "unexpected RuntimeError: grader bug"
    assert set(by_name(report.indexed)) == {"af.md", "dm.txt"}


def test_demo_index(demo_index_dir):
    store = IndexStore.open(demo_index_dir)
    stats = store.stats()
    assert stats.documents >= 40 and stats.chunks > stats.documents
    assert stats.embedder_name == "all-MiniLM-L6-v2" and stats.dim == 384
    hits = store.search_lexical("atrial fibrillation anticoagulation", 5)
    titles = {store.document(c.document_id).title for c in store.chunks([h[0] for h in hits])}
    assert any("fibrillation" in t.lower() for t in titles)
    store.close()


def test_pipeline_refuses_another_embedder(tmp_path, corpus):
    from indexing.store import EmbedderMismatchError

    pipeline(tmp_path).run([corpus / "af.md"])
    with pytest.raises(EmbedderMismatchError, match="refusing to mix"):
        pipeline(tmp_path, embedder=HashEmbedder(dim=16, name="another-model")).run([corpus / "dm.txt"])


@pytest.mark.parametrize("new_name", ["a-moved.txt", "z-moved.txt"])  # read before / after the old name
def test_content_moving_to_a_new_name_while_the_old_name_changes(tmp_path, corpus, new_name):
    p = pipeline(tmp_path, commit_every=1)
    p.run([corpus])
    # htn.txt gets new text, and its old text appears under a new name in the same run
    (corpus / "sub" / new_name).write_text(HTN, encoding="utf-8")
    write(corpus / "sub" / "htn.txt", "Hypertension, revised\n\nNew home blood pressure advice.\n")
    report = p.run([corpus])
    store = IndexStore.open(tmp_path / "index")
    names = {Path(path).name for d in store.documents() for path in d.paths}
    assert {new_name, "htn.txt"} <= names
    assert store.search_lexical("130/80 mmHg", 1) and store.search_lexical("home blood pressure advice", 1)
    assert not report.failed or {Path(f.path).name for f in report.failed} == {"broken.pdf"}
    store.close()
